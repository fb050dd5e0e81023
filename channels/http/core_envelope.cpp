#include "channels/http/core_envelope.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <ctime>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

namespace sb::channels::core {
namespace {

constexpr std::array<std::string_view, 3> kVersions = {"2.2.0", "3.0.0", "4.0.0"};

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

std::string sha1Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &length, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA-1 failed");
  }
  return hex(md.data(), length);
}

template <std::size_t N>
std::array<unsigned char, N> randomBytes() {
  std::array<unsigned char, N> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1) {
    throw std::runtime_error("CORE envelope: the random generator failed");
  }
  return bytes;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A decimal number equal to `size` (leading zeros allowed, no overflow on long input).
bool equalsSize(std::string_view digits, std::size_t size) {
  if (!allDigits(digits)) return false;
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  return digits == std::to_string(size);
}

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A peer's value for an error message: short, printable, so a hostile value can neither flood a
// log line nor smuggle control characters into the ErrorMessage we send back.
std::string shown(std::string_view value) {
  constexpr std::size_t kMax = 40;
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? static_cast<char>(c) : '?');
  }
  if (value.size() > kMax) out += "...";
  out.push_back('"');
  return out;
}

// 8-4-4-4-12 hex digits. Any version: the rule asks for a time-and-MAC (version 1) UUID, while
// most senders use random ones.
bool isUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isHex(s[i])) return false;
  }
  return true;
}

// xs:dateTime: [-]YYYY-MM-DDThh:mm:ss[.fraction][Z|(+|-)hh:mm], with real calendar dates.
bool isDateTime(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& value) {
    if (i + n > s.size()) return false;
    value = 0;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      value = value * 10 + (s[i] - '0');
    }
    return true;
  };
  auto literal = [&](char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  };
  if (i < s.size() && s[i] == '-') ++i;
  // Years of more than four digits are allowed, without leading zeros (nine digits at most here).
  const std::size_t yearStart = i;
  long long year = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') year = year * 10 + (s[i++] - '0');
  const std::size_t yearDigits = i - yearStart;
  if (yearDigits < 4 || yearDigits > 9 || (yearDigits > 4 && s[yearStart] == '0')) return false;
  int month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!literal('-') || !digits(2, month) || !literal('-') || !digits(2, day) || !literal('T') ||
      !digits(2, hour) || !literal(':') || !digits(2, minute) || !literal(':') ||
      !digits(2, second)) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i < s.size()) {
    if (s[i] == 'Z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      ++i;
      int tzHour = 0, tzMinute = 0;
      if (!digits(2, tzHour) || !literal(':') || !digits(2, tzMinute)) return false;
      if (tzHour > 14 || tzMinute > 59 || (tzHour == 14 && tzMinute != 0)) return false;
    } else {
      return false;
    }
  }
  if (i != s.size()) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || year == 0) return false;
  const int maxDay = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > maxDay) return false;
  // xs:dateTime allows 24:00:00 for the end of a day; seconds stop at 59.
  if (hour == 24) return minute == 0 && second == 0;
  return hour < 24 && minute < 60 && second < 60;
}

// The rule's payload types are names of letters, digits and underscores
// (X12_270_Request_005010X279A1); whether a type is supported is the listener's decision.
bool isPayloadType(std::string_view s) {
  for (char c : s) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// ---- header parameters (Content-Type, Content-Disposition) ----

struct Param {
  std::string name;  // lower case
  std::string value;
};

// Splits `type; a=b; c="d;e"` into the type and its parameters; nullopt when malformed.
struct HeaderValue {
  std::string type;  // lower case
  std::vector<Param> params;
  const Param* find(std::string_view name) const {
    for (const auto& p : params) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
};

std::optional<HeaderValue> parseHeaderValue(std::string_view text) {
  HeaderValue out;
  std::size_t i = text.find(';');
  for (char c : trim(text.substr(0, i))) {
    out.type.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  while (i != std::string_view::npos && i < text.size()) {
    ++i;  // past ';'
    while (i < text.size() && isSpace(text[i])) ++i;
    if (i >= text.size()) break;  // a trailing ';'
    const std::size_t eq = text.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    Param p;
    for (char c : trim(text.substr(i, eq - i))) {
      p.name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (p.name.empty()) return std::nullopt;
    i = eq + 1;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char c = text[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < text.size()) {
          p.value.push_back(text[i++]);
        } else {
          p.value.push_back(c);
        }
      }
      if (!closed) return std::nullopt;
      while (i < text.size() && isSpace(text[i])) ++i;
      if (i < text.size() && text[i] != ';') return std::nullopt;
    } else {
      const std::size_t end = text.find(';', i);
      p.value = std::string(trim(text.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end;
    }
    out.params.push_back(std::move(p));
    if (i == std::string_view::npos) break;
  }
  return out;
}

// ---- the multipart body ----

enum class Field {
  kPayloadType,
  kProcessingMode,
  kPayloadId,
  kTimeStamp,
  kUserName,
  kPassword,
  kSenderId,
  kReceiverId,
  kCoreRuleVersion,
  kErrorCode,
  kErrorMessage,
  kPayloadLength,
  kCheckSum,
  kPayload,
  kCount,
};

// Field names as the rule spells them, in Field order.
constexpr std::array<std::string_view, static_cast<std::size_t>(Field::kCount)> kFieldNames = {
    "PayloadType",  "ProcessingMode", "PayloadID",  "TimeStamp",       "UserName",
    "Password",     "SenderID",       "ReceiverID", "CORERuleVersion", "ErrorCode",
    "ErrorMessage", "PayloadLength",  "CheckSum",   "Payload"};

std::string_view nameOf(Field f) {
  return kFieldNames[static_cast<std::size_t>(f)];
}

std::optional<Field> fieldNamed(std::string_view name) {
  for (std::size_t i = 0; i < kFieldNames.size(); ++i) {
    if (iequals(kFieldNames[i], name)) return static_cast<Field>(i);
  }
  return std::nullopt;
}

struct Failure {
  std::string_view code;
  std::string message;
};

ParseResult fail(std::string_view code, std::string message) {
  ParseResult r;
  r.errorCode = std::string(code);
  r.errorMessage = std::move(message);
  return r;
}

// A delimiter line found in the body.
struct Delimiter {
  std::size_t dataEnd = 0;    // where the preceding part's data ends (its CRLF/LF excluded)
  std::size_t nextStart = 0;  // where the next part's headers begin
  bool close = false;         // "--boundary--": no part follows
};

// Finds the first delimiter line at or after `from`: "--boundary" at the start of a line (the
// line break before it belongs to the delimiter, RFC 2046 5.1.1), followed by "--", or by
// optional blanks and the line end. A line that merely starts with the boundary text followed by
// something else is data, so a payload holding boundary-like text is kept as it is.
//
// `lineBoundary` is "\n--boundary": searching for the line break first keeps the search linear
// even for a hostile boundary and body (say, both all dashes), since no other byte of the
// needle is a line break.
std::optional<Delimiter> findDelimiter(std::string_view body, std::string_view lineBoundary,
                                       std::size_t from, bool atStart) {
  const std::string_view dashBoundary = lineBoundary.substr(1);
  std::size_t at = from;
  while (true) {
    std::size_t lineStart = 0;
    std::size_t dataEnd = 0;
    if (atStart && at == 0 && body.substr(0, dashBoundary.size()) == dashBoundary) {
      lineStart = 0;
      dataEnd = 0;
    } else {
      const std::size_t nl = body.find(lineBoundary, at);
      if (nl == std::string_view::npos) return std::nullopt;
      lineStart = nl + 1;
      dataEnd = nl;
      if (dataEnd > from && body[dataEnd - 1] == '\r') --dataEnd;
    }
    std::size_t i = lineStart + dashBoundary.size();
    if (body.substr(i, 2) == "--") return Delimiter{dataEnd, body.size(), true};
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    if (i < body.size() && body[i] == '\n') return Delimiter{dataEnd, i + 1, false};
    if (i + 1 < body.size() && body[i] == '\r' && body[i + 1] == '\n') {
      return Delimiter{dataEnd, i + 2, false};
    }
    at = lineStart;  // past this line break: the next candidate needs another one
    atStart = false;
  }
}

struct Part {
  std::string name;
  std::string_view data;
};

// Splits one part into its headers and data. Returns the failure instead when malformed.
std::variant<Part, Failure> parsePart(std::string_view part, const Limits& limits,
                                      std::size_t index) {
  Part out;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t i = 0;
  bool ended = false;
  while (i < part.size()) {
    std::size_t nl = part.find('\n', i);
    const bool last = nl == std::string_view::npos;
    std::string_view line = part.substr(i, last ? std::string_view::npos : nl - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    i = last ? part.size() : nl + 1;
    if (i > limits.maxHeaderBytes) {
      return Failure{error::kEnvelopeError,
                     fmt::format("the headers of part {} pass the limit of {} bytes", index,
                                 limits.maxHeaderBytes)};
    }
    if (line.empty()) {
      if (last) break;  // no line break after the blank line: not a header block end
      ended = true;
      break;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
      headers.back().second += ' ';  // an obsolete folded continuation line
      headers.back().second += trim(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Failure{error::kEnvelopeError,
                     fmt::format("part {} has a malformed header line", index)};
    }
    headers.emplace_back(std::string(trim(line.substr(0, colon))),
                         std::string(trim(line.substr(colon + 1))));
    if (!last && i == part.size()) {
      // The part ends right after a header line: an empty value whose blank line doubled as
      // the line break before the boundary. Nothing else can be meant.
      ended = true;
      break;
    }
  }
  if (!ended) {
    return Failure{error::kEnvelopeError,
                   fmt::format("part {} has no blank line after its headers", index)};
  }
  bool disposition = false;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "Content-Disposition")) {
      if (disposition) {
        return Failure{error::kEnvelopeError,
                       fmt::format("part {} has two Content-Disposition headers", index)};
      }
      disposition = true;
      const auto parsed = parseHeaderValue(value);
      if (!parsed || parsed->type != "form-data") {
        return Failure{
            error::kEnvelopeError,
            fmt::format("part {} is not form-data (Content-Disposition {})", index, shown(value))};
      }
      const Param* p = parsed->find("name");
      if (!p || p->value.empty()) {
        return Failure{error::kEnvelopeError, fmt::format("part {} has no field name", index)};
      }
      out.name = p->value;
    } else if (iequals(name, "Content-Transfer-Encoding")) {
      // RFC 7578 4.7: form-data parts are sent as they are. Decoding anything else would be
      // guesswork about what the sender's checksum and length cover.
      const std::string_view v = trim(value);
      if (!iequals(v, "binary") && !iequals(v, "8bit") && !iequals(v, "7bit")) {
        return Failure{error::kEnvelopeError,
                       fmt::format("part {} uses Content-Transfer-Encoding {}, which is not "
                                   "supported (send the bytes as they are)",
                                   index, shown(v))};
      }
    }
  }
  if (!disposition) {
    return Failure{error::kEnvelopeError,
                   fmt::format("part {} has no Content-Disposition header", index)};
  }
  out.data = part.substr(i);
  return out;
}

}  // namespace

Encoded encodeMultipart(const Envelope& e) {
  const bool batch = e.processingMode == kBatch && !e.payload.empty();
  std::vector<std::pair<Field, std::string_view>> fields;
  auto add = [&](Field f, std::string_view value) { fields.emplace_back(f, value); };
  add(Field::kPayloadType, e.payloadType);
  add(Field::kProcessingMode, e.processingMode);
  add(Field::kPayloadId, e.payloadId);
  add(Field::kTimeStamp, e.timeStamp);
  if (!e.userName.empty() || !e.password.empty()) {
    add(Field::kUserName, e.userName);
    add(Field::kPassword, e.password);
  }
  add(Field::kSenderId, e.senderId);
  add(Field::kReceiverId, e.receiverId);
  add(Field::kCoreRuleVersion, e.coreRuleVersion);
  if (!e.errorCode.empty()) {
    add(Field::kErrorCode, e.errorCode);
    add(Field::kErrorMessage, e.errorMessage);
  }
  std::string length, checksum;
  if (batch) {
    length = std::to_string(e.payload.size());
    checksum = sha1Hex(e.payload);
    add(Field::kPayloadLength, length);
    add(Field::kCheckSum, checksum);
  }
  if (!e.payload.empty()) add(Field::kPayload, e.payload);

  // 128 random bits make a collision with the data all but impossible; checking costs one scan
  // and makes it impossible.
  std::string boundary;
  bool clash = true;
  while (clash) {
    const auto bytes = randomBytes<16>();
    boundary = "sb-core-" + hex(bytes.data(), bytes.size());
    clash = false;
    for (const auto& [f, value] : fields) {
      if (value.find(boundary) != std::string_view::npos) clash = true;
    }
  }

  Encoded out;
  out.contentType = "multipart/form-data; boundary=" + boundary;
  std::size_t size = boundary.size() + 8;
  for (const auto& [f, value] : fields) size += boundary.size() + value.size() + 64;
  out.body.reserve(size);
  for (const auto& [f, value] : fields) {
    out.body += "--";
    out.body += boundary;
    out.body += "\r\nContent-Disposition: form-data; name=\"";
    out.body += nameOf(f);
    out.body += "\"\r\n\r\n";
    out.body += value;
    out.body += "\r\n";
  }
  out.body += "--";
  out.body += boundary;
  out.body += "--\r\n";
  return out;
}

ParseResult parseMultipart(std::string_view contentType, std::string_view body,
                           const Limits& limits) {
  if (body.size() > limits.maxBodyBytes) {
    return fail(error::kEnvelopeError,
                fmt::format("the body of {} bytes passes the limit of {} bytes", body.size(),
                            limits.maxBodyBytes));
  }
  const auto type = parseHeaderValue(contentType);
  if (!type || type->type != "multipart/form-data") {
    return fail(error::kEnvelopeError,
                fmt::format("Content-Type {} is not multipart/form-data", shown(contentType)));
  }
  const Param* boundaryParam = type->find("boundary");
  // RFC 2046 5.1.1: 1 to 70 characters, not ending in a space; printable ASCII here (a wider
  // set than the RFC's, but never a line break, which the delimiter search relies on).
  const auto usable = [](const std::string& b) {
    if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
    for (char c : b) {
      if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
  };
  if (!boundaryParam || !usable(boundaryParam->value)) {
    return fail(error::kEnvelopeError, "Content-Type has no usable multipart boundary");
  }
  const std::string lineBoundary = "\n--" + boundaryParam->value;

  std::array<std::optional<std::string_view>, static_cast<std::size_t>(Field::kCount)> values;
  auto first = findDelimiter(body, lineBoundary, 0, true);
  if (!first) return fail(error::kEnvelopeError, "the body has no multipart boundary line");
  Delimiter d = *first;
  std::size_t parts = 0;
  while (!d.close) {
    if (parts == limits.maxParts) {
      return fail(error::kEnvelopeError,
                  fmt::format("the body has more than {} parts", limits.maxParts));
    }
    ++parts;
    const std::size_t start = d.nextStart;
    const auto next = findDelimiter(body, lineBoundary, start, false);
    if (!next) {
      return fail(error::kEnvelopeError,
                  fmt::format("part {} is not closed by a boundary line (truncated body?)", parts));
    }
    auto parsed = parsePart(body.substr(start, next->dataEnd - start), limits, parts);
    if (auto* f = std::get_if<Failure>(&parsed)) return fail(f->code, std::move(f->message));
    const Part& part = std::get<Part>(parsed);
    if (const auto field = fieldNamed(part.name)) {
      auto& slot = values[static_cast<std::size_t>(*field)];
      if (slot) {
        return fail(error::kEnvelopeError,
                    fmt::format("field {} appears more than once", nameOf(*field)));
      }
      if (*field != Field::kPayload && part.data.size() > limits.maxFieldBytes) {
        return fail(error::kEnvelopeError,
                    fmt::format("field {} is {} bytes, more than the limit of {}", nameOf(*field),
                                part.data.size(), limits.maxFieldBytes));
      }
      // Senders differ in the line breaks around short values; the payload is kept exactly.
      slot = *field == Field::kPayload ? part.data : trim(part.data);
    }
    d = *next;
  }

  auto value = [&](Field f) { return values[static_cast<std::size_t>(f)].value_or(""); };
  auto required = [&](Field f, std::string_view code) -> std::optional<ParseResult> {
    if (value(f).empty()) return fail(code, fmt::format("the {} field is missing", nameOf(f)));
    return std::nullopt;
  };
  if (auto r = required(Field::kPayloadType, error::kPayloadTypeRequired)) return *r;
  if (!isPayloadType(value(Field::kPayloadType))) {
    return fail(error::kPayloadTypeIllegal, fmt::format("PayloadType {} is not a payload type name",
                                                        shown(value(Field::kPayloadType))));
  }
  if (auto r = required(Field::kProcessingMode, error::kProcessingModeRequired)) return *r;
  const std::string_view mode = value(Field::kProcessingMode);
  if (mode != kRealTime && mode != kBatch) {
    return fail(error::kProcessingModeIllegal,
                fmt::format("ProcessingMode {} is neither RealTime nor Batch", shown(mode)));
  }
  if (auto r = required(Field::kPayloadId, error::kPayloadIdRequired)) return *r;
  if (!isUuid(value(Field::kPayloadId))) {
    return fail(error::kPayloadIdIllegal,
                fmt::format("PayloadID {} is not a UUID", shown(value(Field::kPayloadId))));
  }
  if (auto r = required(Field::kTimeStamp, error::kTimeStampRequired)) return *r;
  if (!isDateTime(value(Field::kTimeStamp))) {
    return fail(error::kTimeStampIllegal,
                fmt::format("TimeStamp {} is not an xs:dateTime (2007-08-30T10:20:34Z)",
                            shown(value(Field::kTimeStamp))));
  }
  if (auto r = required(Field::kSenderId, error::kSenderIdRequired)) return *r;
  if (auto r = required(Field::kReceiverId, error::kReceiverIdRequired)) return *r;
  if (auto r = required(Field::kCoreRuleVersion, error::kCoreRuleVersionRequired)) return *r;
  const std::string_view version = value(Field::kCoreRuleVersion);
  bool known = false;
  for (auto v : kVersions) known = known || v == version;
  if (!known) {
    return fail(
        error::kVersionMismatch,
        fmt::format("CORERuleVersion {} is not supported (2.2.0, 3.0.0 or 4.0.0)", shown(version)));
  }
  const std::string_view payload = value(Field::kPayload);
  // Batch payloads carry their length and SHA-1 so a truncated or altered upload is caught; a
  // real-time sender may send them too, and then they must be right as well.
  const bool batch = mode == kBatch && !payload.empty();
  const auto length = values[static_cast<std::size_t>(Field::kPayloadLength)];
  const auto checksum = values[static_cast<std::size_t>(Field::kCheckSum)];
  if (batch && (!length || length->empty())) {
    return fail(error::kPayloadLengthRequired, "the PayloadLength field is missing (batch mode)");
  }
  if (length && !length->empty() && !equalsSize(*length, payload.size())) {
    return fail(error::kPayloadLengthIllegal,
                fmt::format("PayloadLength {} is not the payload's {} bytes", shown(*length),
                            payload.size()));
  }
  if (batch && (!checksum || checksum->empty())) {
    return fail(error::kCheckSumRequired, "the CheckSum field is missing (batch mode)");
  }
  if (checksum && !checksum->empty() && !iequals(*checksum, sha1Hex(payload))) {
    return fail(error::kCheckSumIllegal,
                fmt::format("CheckSum {} is not the SHA-1 of the payload", shown(*checksum)));
  }

  Envelope e;
  e.payloadType = std::string(value(Field::kPayloadType));
  e.processingMode = std::string(mode);
  e.payloadId = std::string(value(Field::kPayloadId));
  e.timeStamp = std::string(value(Field::kTimeStamp));
  e.senderId = std::string(value(Field::kSenderId));
  e.receiverId = std::string(value(Field::kReceiverId));
  e.coreRuleVersion = std::string(version);
  e.payload = std::string(payload);
  e.errorCode = std::string(value(Field::kErrorCode));
  e.errorMessage = std::string(value(Field::kErrorMessage));
  e.userName = std::string(value(Field::kUserName));
  e.password = std::string(value(Field::kPassword));
  ParseResult r;
  r.envelope = std::move(e);
  return r;
}

std::string newPayloadId() {
  auto b = randomBytes<16>();
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4: random
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // the RFC 4122 variant
  const std::string h = hex(b.data(), b.size());
  return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' + h.substr(16, 4) +
         '-' + h.substr(20);
}

std::string nowTimeStamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buf, n);
}

}  // namespace sb::channels::core
