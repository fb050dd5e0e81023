// Acknowledgements: choosing the code, building ACK messages (also for unparseable input), and
// reading a peer's ACK.
#include <atomic>
#include <cctype>
#include <cstdio>

#include "parsers/hl7v2/detail.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7 {

namespace {

std::string_view table0357Text(int code) {
  switch (code) {
    case 0:
      return "Message accepted";
    case 100:
      return "Segment sequence error";
    case 101:
      return "Required field missing";
    case 102:
      return "Data type error";
    case 103:
      return "Table value not found";
    case 200:
      return "Unsupported message type";
    case 201:
      return "Unsupported event code";
    case 202:
      return "Unsupported processing id";
    case 203:
      return "Unsupported version id";
    case 204:
      return "Unknown key identifier";
    case 205:
      return "Duplicate key identifier";
    case 206:
      return "Application record locked";
    default:
      return "Application internal error";
  }
}

std::string generatedControlId(const std::string& timestamp) {
  static std::atomic<unsigned> counter{0};
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06u", counter.fetch_add(1) % 1000000U);
  return timestamp + suffix;
}

// Joins components, leaving out trailing empty ones as HL7 asks.
std::string joinTrimmed(const std::vector<std::string>& parts, char delim) {
  std::size_t n = parts.size();
  while (n > 0 && parts[n - 1].empty()) --n;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += delim;
    out += parts[i];
  }
  return out;
}

std::string number(int v) {
  return v > 0 ? std::to_string(v) : std::string();
}

// One ERR segment. From 2.5 on: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user text.
// Before 2.5 only ERR-1 (ELD) exists: segment^sequence^field^code&text&HL70357.
std::string errSegment(const Finding& f, const Delimiters& d, int version) {
  const int code = errorInfo(f.code).hl7ErrorCode;
  const std::string codeText = encodeEscapes(table0357Text(code), d);
  const std::string segment = encodeEscapes(f.location.segment, d);
  std::string out = "ERR";
  out += d.field;
  if (version > 0 && version < 25) {
    std::string ce = std::to_string(code);
    ce += d.subcomponent;
    ce += codeText;
    ce += d.subcomponent;
    ce += "HL70357";
    out += joinTrimmed({segment, number(f.location.segmentSequence), number(f.location.field), ce},
                       d.component);
    return out;
  }
  out += d.field;
  out += joinTrimmed({segment, number(f.location.segmentSequence), number(f.location.field),
                      number(f.location.repetition), number(f.location.component),
                      number(f.location.subcomponent)},
                     d.component);
  out += d.field;
  out += std::to_string(code);
  out += d.component;
  out += codeText;
  out += d.component;
  out += "HL70357";
  out += d.field;
  out += f.severity == Severity::kWarning ? 'W' : 'E';
  if (!f.text.empty()) {
    out.append(4, d.field);
    out += encodeEscapes(f.text, d);
  }
  return out;
}

struct AckParts {
  Delimiters d;
  std::string sendingApp, sendingFacility, receivingApp, receivingFacility;  // of the inbound
  std::string trigger, controlId, processingId, version;
};

std::string assemble(const AckParts& p, std::string_view code,
                     const std::vector<const Finding*>& findings, const AckOptions& options) {
  const Delimiters& d = p.d;
  const char fs = d.field;
  const std::string ts =
      options.timestamp.empty() ? detail::nowTimestamp() : encodeEscapes(options.timestamp, d);
  const std::string controlId =
      options.controlId.empty() ? generatedControlId(ts) : encodeEscapes(options.controlId, d);
  std::string out = "MSH";
  out += fs;
  out += encodingCharacters(d);
  for (const std::string* v :
       {&p.receivingApp, &p.receivingFacility, &p.sendingApp, &p.sendingFacility, &ts}) {
    out += fs;
    out += *v;
  }
  out += fs;
  out += fs;
  out += "ACK";
  out += d.component;
  out += p.trigger;
  out += d.component;
  out += "ACK";
  out += fs;
  out += controlId;
  out += fs;
  out += p.processingId;
  out += fs;
  out += p.version;
  out += '\r';
  out += "MSA";
  out += fs;
  out += code;
  out += fs;
  out += p.controlId;
  if (!options.textMessage.empty()) {
    out += fs;
    out += encodeEscapes(options.textMessage, d);
  }
  out += '\r';
  const int version = detail::versionNumber(detail::piece(p.version, d.component, 0));
  for (const Finding* f : findings) {
    out += errSegment(*f, d, version);
    out += '\r';
  }
  return out;
}

}  // namespace

std::string_view toString(AckCode code) {
  switch (code) {
    case AckCode::kAA:
      return "AA";
    case AckCode::kAE:
      return "AE";
    case AckCode::kAR:
      return "AR";
    case AckCode::kCA:
      return "CA";
    case AckCode::kCE:
      return "CE";
    case AckCode::kCR:
      return "CR";
  }
  return "AR";
}

std::optional<AckCode> chooseAck(const Header& header, Outcome outcome) {
  // HL7 uses original mode only when both MSH-15 and MSH-16 are empty; with only MSH-16 given
  // the accept acknowledgement defaults to "always".
  if (header.acceptAckType.empty() && header.applicationAckType.empty()) {
    switch (outcome) {
      case Outcome::kAccepted:
        return AckCode::kAA;
      case Outcome::kError:
        return AckCode::kAE;
      case Outcome::kRejected:
        return AckCode::kAR;
    }
  }
  const AckCode code = outcome == Outcome::kAccepted ? AckCode::kCA
                       : outcome == Outcome::kError  ? AckCode::kCE
                                                     : AckCode::kCR;
  const std::string& mode = header.acceptAckType;
  if (mode == "NE") return std::nullopt;
  if (mode == "ER") return outcome == Outcome::kAccepted ? std::nullopt : std::optional(code);
  if (mode == "SU") return outcome == Outcome::kAccepted ? std::optional(code) : std::nullopt;
  return code;  // AL, empty, or a value outside table 0155: acknowledging is the safe answer
}

std::string buildAck(const Message& inbound, AckCode code, const std::vector<Finding>& findings,
                     const AckOptions& options) {
  AckParts p;
  p.d = inbound.delimiters();
  auto field = [&](int f) { return std::string(inbound.fieldRaw(0, f).value_or("")); };
  p.sendingApp = field(3);
  p.sendingFacility = field(4);
  p.receivingApp = field(5);
  p.receivingFacility = field(6);
  p.trigger = std::string(detail::piece(
      detail::piece(inbound.fieldRaw(0, 9).value_or(""), p.d.repetition, 0), p.d.component, 1));
  p.controlId = field(10);
  p.processingId = field(11);
  p.version = field(12);
  std::vector<const Finding*> list;
  for (const Finding& f : findings) list.push_back(&f);
  return assemble(p, toString(code), list, options);
}

std::string buildRejectAck(std::string_view raw, const Finding& finding,
                           const AckOptions& options) {
  AckParts p;
  p.processingId = "P";
  p.version = "2.5";
  if (raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);
  const bool salvage = raw.size() > 4 && raw.starts_with("MSH") && raw[3] != '\r' &&
                       raw[3] != '\n' && !std::isalnum(static_cast<unsigned char>(raw[3]));
  if (salvage) {
    const char fs = raw[3];
    const std::string_view line = raw.substr(0, raw.find_first_of("\r\n"));
    // MSH-n is piece n-1 when splitting on MSH-1.
    auto field = [&](int f) {
      const std::string_view v = detail::piece(line, fs, static_cast<std::size_t>(f - 1));
      // With the standard separator the bytes can be copied; otherwise they are re-escaped as text
      // since the inbound's delimiters cannot be trusted.
      return fs == '|' ? std::string(v) : encodeEscapes(v, p.d);
    };
    p.sendingApp = field(3);
    p.sendingFacility = field(4);
    p.receivingApp = field(5);
    p.receivingFacility = field(6);
    p.controlId = field(10);
    if (fs == '|') {
      p.trigger = std::string(detail::piece(detail::piece(line, fs, 8), '^', 1));
      const std::string processing = field(11);
      if (!processing.empty()) p.processingId = processing;
    }
  }
  return assemble(p, "AR", {&finding}, options);
}

std::optional<AckSummary> readAck(std::string_view raw) {
  const ParseResult r = Message::parse(raw);
  if (!r.ok()) return std::nullopt;
  const Message& m = *r.message;
  if (!m.findSegment("MSA")) return std::nullopt;
  AckSummary s;
  s.code = m.get("MSA-1").value_or("");
  s.controlId = m.get("MSA-2").value_or("");
  s.text = m.get("MSA-3").value_or("");
  return s;
}

}  // namespace sb::hl7
