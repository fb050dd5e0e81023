#include "channels/http/http_sender.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

#include "channels/common/placeholders.h"
#include "channels/common/tls_config.h"
#include "channels/http/core_envelope.h"
#include "parsers/x12/x12.h"

namespace sb::channels::http {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kKeys = {
    KeySpec{"url", ValueType::kString, true, "",
            "http:// or https:// URL; placeholders {id} {control_id} {patient_id} {type} "
            "{trigger} {channel} are URL-encoded"},
    KeySpec{"method", ValueType::kString, false, "POST", "\"POST\", \"PUT\" or \"PATCH\""},
    KeySpec{"headers", ValueType::kTable, false, "", "extra request headers, { Name = \"value\" }"},
    KeySpec{"content_type", ValueType::kString, false, "application/json",
            "Content-Type of the request body"},
    KeySpec{"bearer_token", ValueType::kString, false, "", "sent as \"Authorization: Bearer ...\""},
    KeySpec{"basic_auth", ValueType::kTable, false, "", "{ user = \"...\", password = \"...\" }"},
    KeySpec{"tls", ValueType::kTable, false, "system CAs",
            "CA, client certificate and verification for https, see TLS"},
    KeySpec{"connect_timeout", ValueType::kNumber, false, "10", "seconds"},
    KeySpec{"timeout", ValueType::kNumber, false, "30",
            "seconds for the whole request; a timeout is retried"},
    KeySpec{"max_response_bytes", ValueType::kInteger, false,
            "65536 (4194304 with envelope = \"core\")",
            "the response body kept with the attempt is cut at this size"},
    KeySpec{"idempotency_header", ValueType::kString, false, "Idempotency-Key",
            "header carrying a key stable across retries of one delivery; \"\" sends none"},
    KeySpec{"envelope", ValueType::kString, false, "none",
            "\"core\": each message (X12) goes in a CAQH CORE multipart request and the CORE "
            "response decides; its Payload is kept as the response (channels/http/README.md)"},
    KeySpec{"core_sender_id", ValueType::kString, false, "",
            "CORE SenderID (required with envelope = \"core\")"},
    KeySpec{"core_receiver_id", ValueType::kString, false, "",
            "CORE ReceiverID (required with envelope = \"core\")"},
    KeySpec{"core_rule_version", ValueType::kString, false, "2.2.0",
            "CORE CORERuleVersion: \"2.2.0\", \"3.0.0\" or \"4.0.0\""},
    KeySpec{"processing_mode", ValueType::kString, false, "RealTime",
            "CORE ProcessingMode: \"RealTime\" or \"Batch\""},
    KeySpec{"payload_type", ValueType::kString, false, "from ST01/ST03",
            "CORE PayloadType; by default X12_<ST01>_Request_<ST03> (_Response_ for 271, 277, "
            "999) of each message"},
};

constexpr std::array<std::string_view, 3> kCoreVersions = {"2.2.0", "3.0.0", "4.0.0"};
constexpr std::size_t kCoreMaxResponseBytes = 4 << 20;

constexpr std::array kBasicAuthKeys = {
    KeySpec{"user", ValueType::kString, true, "", "user name"},
    KeySpec{"password", ValueType::kString, true, "", "password"},
};

constexpr std::array<std::string_view, 6> kPlaceholders = {"id",   "control_id", "patient_id",
                                                           "type", "trigger",    "channel"};

constexpr std::int64_t kMaxRetryAfterMillis = 3'600'000;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// RFC 3986: everything but the unreserved characters is percent-encoded, so a value can never
// add a path segment, a query parameter or a fragment.
std::string urlEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// RFC 9110 token characters: what a header name may contain.
bool isToken(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return std::string(text);
}

// curl_global_init is not thread-safe and must run before any other curl call; a function-local
// static runs it exactly once even when several destinations are built concurrently. It is never
// undone: senders may live until exit.
void globalInit() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw std::runtime_error(fmt::format("curl_global_init: {}", curl_easy_strerror(rc)));
  }
}

// A curl_slist owned for the duration of one request.
struct StringList {
  curl_slist* list = nullptr;
  StringList() = default;
  StringList(const StringList&) = delete;
  StringList& operator=(const StringList&) = delete;
  ~StringList() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) throw std::bad_alloc();
    list = next;
  }
};

struct Body {
  std::string kept;
  std::size_t limit = 0;
  std::size_t total = 0;  // bytes received, kept or not
};

// Bytes beyond the limit are read and dropped rather than refused: refusing aborts the transfer
// and closes the connection, and the status code still decides the outcome.
std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const std::size_t n = size * count;
  body->total += n;
  if (body->kept.size() < body->limit) {
    body->kept.append(data, std::min(n, body->limit - body->kept.size()));
  }
  return n;
}

// A peer's text in an error: printable and short, so it can neither flood the message's history
// nor smuggle control characters into it.
std::string printable(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (text.size() > max) out += "...";
  return out;
}

bool isTransientStatus(long status) {
  return status == 408 || status == 429 || (status >= 500 && status < 600);
}

// The rule names transient conditions in words (a busy server, a timeout); everything else an
// ErrorCode reports (a field missing or illegal, UnAuthorized, VersionMismatch) would be refused
// again.
bool isTransientCoreCode(std::string_view code) {
  const std::string c = lower(code);
  return c.find("busy") != std::string::npos || c.find("timeout") != std::string::npos ||
         c.find("unavailable") != std::string::npos;
}

}  // namespace

std::optional<std::string> corePayloadType(std::string_view x12) {
  const x12::Document doc = x12::Document::parse(x12);
  for (const auto& ic : doc.interchanges()) {
    for (const auto& g : ic.groups) {
      for (const auto& t : g.transactions) {
        if (t.setId.empty() || t.convention.empty()) return std::nullopt;
        bool response = t.setId == "271" || t.setId == "277" || t.setId == "999";
        // A 278 is a request or a response by BHT02 (13 request, 11 response).
        if (t.setId == "278" && t.st + 1 < doc.segments().size()) {
          const auto& bht = doc.segments()[t.st + 1];
          response = bht.id() == "BHT" && bht.element(2) == "11";
        }
        return fmt::format("X12_{}_{}_{}", t.setId, response ? "Response" : "Request",
                           t.convention);
      }
    }
    if (ic.groups.empty() && !ic.ta1.empty()) return std::string("X12_TA1_Response_00501X231A1");
  }
  return std::nullopt;
}

SendResult coreOutcome(long status, std::string_view contentType, std::string body, bool complete,
                       std::size_t limit) {
  const bool success = status >= 200 && status < 300;
  const bool transient = isTransientStatus(status);
  const auto result = [&](bool retry, std::string error) {
    return retry ? SendResult::retry(std::move(error), std::move(body))
                 : SendResult::fail(std::move(error), std::move(body));
  };
  if (!complete) {
    return result(transient, fmt::format("HTTP {}: the response passes max_response_bytes ({}), "
                                         "so its CORE envelope cannot be read",
                                         status, limit));
  }
  if (lower(contentType).rfind("multipart/form-data", 0) != 0) {
    if (success) {
      return result(false,
                    fmt::format("HTTP {}: the response is not a CORE envelope (Content-Type {})",
                                status, contentType.empty() ? "none" : printable(contentType, 80)));
    }
    const bool redirect = status >= 300 && status < 400;
    return result(transient,
                  fmt::format("HTTP {}{}", status, redirect ? ": redirect not followed" : ""));
  }
  core::Limits limits;
  limits.maxBodyBytes = std::max(limit, body.size());
  core::ParseResult parsed = core::parseMultipart(contentType, body, limits);
  if (!parsed.ok()) {
    return result(!success && transient,
                  fmt::format("HTTP {}: the CORE response envelope is invalid: {}: {}", status,
                              parsed.errorCode, parsed.errorMessage));
  }
  core::Envelope& e = *parsed.envelope;
  // ErrorCode is required in a response; a 2xx without one is taken as the success it claims.
  if (success && (e.errorCode.empty() || e.errorCode == core::error::kSuccess)) {
    return SendResult::ok(std::move(e.payload));
  }
  return result(
      transient || isTransientCoreCode(e.errorCode),
      fmt::format("HTTP {}: CORE {}{}{}", status,
                  e.errorCode.empty() ? "response without ErrorCode" : printable(e.errorCode, 80),
                  e.errorMessage.empty() ? "" : ": ", printable(e.errorMessage)));
}

std::string expandUrl(const std::string& pattern, const store::QueueItem& item) {
  const auto& s = item.summary;
  return expandPlaceholders(pattern, [&](std::string_view key) -> std::optional<std::string> {
    if (key == "id") return fmt::format("{}", item.messageId);
    if (key == "control_id") return urlEncode(s.controlId);
    if (key == "patient_id") return urlEncode(s.patientId);
    if (key == "type") return urlEncode(s.messageType);
    if (key == "trigger") return urlEncode(s.triggerEvent);
    if (key == "channel") return urlEncode(s.channel);
    return std::nullopt;
  });
}

std::vector<std::string> unknownPlaceholders(const std::string& pattern) {
  std::vector<std::string> out;
  for (auto open = pattern.find('{'); open != std::string::npos;
       open = pattern.find('{', open + 1)) {
    const auto close = pattern.find('}', open);
    if (close == std::string::npos) break;
    const std::string key = pattern.substr(open + 1, close - open - 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), key) == kPlaceholders.end()) {
      out.push_back(key);
    }
  }
  return out;
}

std::string idempotencyKey(std::string_view destination, const store::QueueItem& item) {
  // Split outputs of one message are different deliveries: the part joins the key (the first
  // part keeps the plain form, so keys of unsplit messages do not depend on splitting).
  const std::string input =
      item.part == 0 ? fmt::format("{}:{}:{}", destination, item.messageId, item.summary.generation)
                     : fmt::format("{}:{}:{}:{}", destination, item.messageId,
                                   item.summary.generation, item.part);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  // Version 8 (custom) and the RFC variant bits, so UUID parsers on the receiving side accept it.
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x80);
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", md[i]);
  }
  return out;
}

std::optional<std::int64_t> parseRetryAfter(std::string_view value, std::time_t now) {
  const std::string text = trim(value);
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    // Past 12 digits the milliseconds could overflow; such a value is beyond the cap anyway.
    if (text.size() > 12) return kMaxRetryAfterMillis;
    return std::min<std::int64_t>(std::stoll(text) * 1000, kMaxRetryAfterMillis);
  }
  // curl_getdate reads all three HTTP-date forms (IMF-fixdate, RFC 850, asctime).
  const std::time_t at = curl_getdate(text.c_str(), nullptr);
  if (at == -1) return std::nullopt;
  const std::int64_t millis = (static_cast<std::int64_t>(at) - now) * 1000;
  return std::clamp<std::int64_t>(millis, 0, kMaxRetryAfterMillis);
}

struct HttpSender::Handle {
  CURL* easy = nullptr;
  std::array<char, CURL_ERROR_SIZE> error{};
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
  }
};

HttpSender::HttpSender(HttpSenderOptions options)
    : options_(std::move(options)), handle_(std::make_unique<Handle>()) {
  globalInit();
  handle_->easy = curl_easy_init();
  if (!handle_->easy) throw std::runtime_error("curl_easy_init failed");
  CURL* c = handle_->easy;
  const auto& o = options_;
  // Worker threads: no SIGALRM for resolver timeouts.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, handle_->error.data());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Redirects are never followed: the body is PHI, and re-posting it to wherever a Location
  // header points (possibly another host, possibly plain http) must be an operator's decision.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connectTimeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "switchboard");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  if (o.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o.method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!o.tls.caFile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.tls.caFile.c_str());
  if (!o.tls.certFile.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, o.tls.certFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!o.tls.keyFile.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLKEY, o.tls.keyFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o.tls.verifyPeer ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o.tls.verifyPeer ? 2L : 0L);
  if (o.basicAuth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, o.basicAuth->first.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.basicAuth->second.c_str());
  }
}

HttpSender::~HttpSender() = default;

SendResult HttpSender::send(const store::QueueItem& item) {
  CURL* c = handle_->easy;
  const auto& o = options_;
  std::string url = expandUrl(o.urlTemplate, item);

  // server_name: curl takes SNI, the certificate name and Host from the URL, so the URL names
  // the server and CONNECT_TO sends the connection to the configured address.
  StringList connectTo;
  if (!o.tls.serverName.empty()) {
    CURLU* u = curl_url();
    char* host = nullptr;
    char* port = nullptr;
    char* rewritten = nullptr;
    if (u && curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_HOST, o.tls.serverName.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &rewritten, 0) == CURLUE_OK) {
      connectTo.add(fmt::format("{}:{}:{}:{}", o.tls.serverName, port, host, port));
      url = rewritten;
    }
    curl_free(host);
    curl_free(port);
    curl_free(rewritten);
    curl_url_cleanup(u);
  }
  curl_easy_setopt(c, CURLOPT_CONNECT_TO, connectTo.list);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());

  // envelope = "core": the message travels as the Payload of a CORE request. Its PayloadID is the
  // idempotency key, the same for every attempt of one delivery.
  const std::string* requestBody = &item.payload;
  std::string contentType = o.contentType;
  core::Encoded encoded;
  if (o.core) {
    core::Envelope e;
    if (!o.core->payloadType.empty()) {
      e.payloadType = o.core->payloadType;
    } else if (auto derived = corePayloadType(item.payload)) {
      e.payloadType = std::move(*derived);
    } else {
      return SendResult::fail(
          "envelope = \"core\": the message is not X12 with a transaction set, so it has no "
          "PayloadType; set payload_type");
    }
    e.processingMode = o.core->processingMode;
    e.payloadId = idempotencyKey(o.destination, item);
    e.timeStamp = core::nowTimeStamp();
    e.senderId = o.core->senderId;
    e.receiverId = o.core->receiverId;
    e.coreRuleVersion = o.core->ruleVersion;
    e.payload = item.payload;
    try {
      encoded = core::encodeMultipart(e);
    } catch (const std::exception& ex) {
      return SendResult::retry(fmt::format("CORE envelope: {}", ex.what()));
    }
    requestBody = &encoded.body;
    contentType = encoded.contentType;
  }

  StringList headers;
  headers.add("Content-Type: " + contentType);
  // No "Expect: 100-continue": many servers never answer it and curl would wait a second per
  // large message before sending the body anyway.
  headers.add("Expect:");
  if (!o.bearerToken.empty()) headers.add("Authorization: Bearer " + o.bearerToken);
  if (!o.idempotencyHeader.empty()) {
    headers.add(fmt::format("{}: {}", o.idempotencyHeader, idempotencyKey(o.destination, item)));
  }
  for (const auto& [name, value] : o.headers) {
    // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
    headers.add(value.empty() ? name + ";" : fmt::format("{}: {}", name, value));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, requestBody->data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(requestBody->size()));
  Body body;
  body.limit = o.maxResponseBytes;
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  handle_->error[0] = '\0';

  const CURLcode rc = curl_easy_perform(c);

  // The handle outlives these locals; it must not keep pointers to them.
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_CONNECT_TO, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);

  if (rc != CURLE_OK) {
    const char* detail = handle_->error[0] ? handle_->error.data() : curl_easy_strerror(rc);
    return SendResult::retry(fmt::format("HTTP transport error: {}", detail));
  }
  HttpResponse response;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* responseType = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &responseType);
  if (responseType) response.contentType = responseType;
  curl_header* retryAfter = nullptr;
  if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &retryAfter) == CURLHE_OK) {
    response.retryAfter = retryAfter->value;
  }
  response.complete = body.total <= body.kept.size();
  response.body = std::move(body.kept);
  return classifyResponse(o, std::move(response), std::time(nullptr));
}

SendResult classifyResponse(const HttpSenderOptions& options, HttpResponse response,
                            std::time_t now) {
  const long status = response.status;
  const auto retryAfter = [&]() -> std::optional<std::int64_t> {
    if (!response.retryAfter) return std::nullopt;
    return parseRetryAfter(*response.retryAfter, now);
  };
  if (options.core) {
    SendResult result = coreOutcome(status, response.contentType, std::move(response.body),
                                    response.complete, options.maxResponseBytes);
    if (result.status == SendStatus::kRetry) result.retryAfterMillis = retryAfter();
    return result;
  }
  if (status >= 200 && status < 300) return SendResult::ok(std::move(response.body));
  if (isTransientStatus(status)) {
    SendResult result = SendResult::retry(fmt::format("HTTP {}", status), std::move(response.body));
    result.retryAfterMillis = retryAfter();
    return result;
  }
  if (status >= 300 && status < 400) {
    return SendResult::fail(fmt::format("HTTP {}: redirect not followed", status),
                            std::move(response.body));
  }
  return SendResult::fail(fmt::format("HTTP {}", status), std::move(response.body));
}

namespace {

// The envelope = "core" keys. Values go into envelope fields verbatim, so they must be short
// printable text.
void readCore(const config::Reader& r, HttpSenderOptions& o) {
  CoreSenderOptions c;
  const auto field = [&](std::string_view key, std::string fallback, bool required) {
    std::string value = r.string(key, std::move(fallback));
    if (required && !r.has(key)) {
      r.fail(key, "is required with envelope = \"core\"");
    } else if (value.empty() || value.size() > 256 ||
               !std::all_of(value.begin(), value.end(),
                            [](unsigned char ch) { return ch >= 0x20 && ch < 0x7f; })) {
      r.fail(key, "must be 1 to 256 printable ASCII characters");
    }
    return value;
  };
  c.senderId = field("core_sender_id", "", true);
  c.receiverId = field("core_receiver_id", "", true);
  c.ruleVersion = field("core_rule_version", c.ruleVersion, false);
  if (std::find(kCoreVersions.begin(), kCoreVersions.end(), c.ruleVersion) == kCoreVersions.end()) {
    r.fail("core_rule_version",
           fmt::format("must be \"2.2.0\", \"3.0.0\" or \"4.0.0\", got \"{}\"", c.ruleVersion));
  }
  c.processingMode = field("processing_mode", c.processingMode, false);
  if (c.processingMode != core::kRealTime && c.processingMode != core::kBatch) {
    r.fail("processing_mode",
           fmt::format("must be \"RealTime\" or \"Batch\", got \"{}\"", c.processingMode));
  }
  if (r.has("payload_type")) {
    c.payloadType = field("payload_type", "", false);
    if (!std::all_of(c.payloadType.begin(), c.payloadType.end(),
                     [](unsigned char ch) { return std::isalnum(ch) || ch == '_'; })) {
      r.fail("payload_type", "must hold letters, digits and '_' only");
    }
  }
  if (r.has("method") && o.method != "POST") {
    r.fail("method", "must be POST with envelope = \"core\"");
  }
  if (r.has("content_type")) {
    r.fail("content_type", "is set by envelope = \"core\" (multipart/form-data)");
  }
  o.core = std::move(c);
}

}  // namespace

SenderFactory httpSenderFactory() {
  return SenderFactory{
      "http", kKeys, "HTTP(S) POST/PUT/PATCH of each message; the status decides",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Sender> {
        HttpSenderOptions o;
        o.destination = r.section().name;
        o.urlTemplate = r.string("url");
        const std::string scheme = lower(o.urlTemplate.substr(0, o.urlTemplate.find("://")));
        if (r.has("url") && scheme != "http" && scheme != "https") {
          r.fail("url", "must start with http:// or https://");
        }
        for (const auto& key : unknownPlaceholders(o.urlTemplate)) {
          r.fail("url", fmt::format("unknown placeholder {{{}}}", key));
        }

        o.method = r.string("method", o.method);
        if (o.method != "POST" && o.method != "PUT" && o.method != "PATCH") {
          r.fail("method",
                 fmt::format("must be \"POST\", \"PUT\" or \"PATCH\", got \"{}\"", o.method));
        }
        o.contentType = r.string("content_type", o.contentType);
        o.idempotencyHeader = r.string("idempotency_header", o.idempotencyHeader);
        if (!o.idempotencyHeader.empty() && !isToken(o.idempotencyHeader)) {
          r.fail("idempotency_header", "is not a valid header name");
        }

        // Headers the sender sets from its own keys cannot also come from `headers`: two
        // sources for one header would leave the receiver to pick.
        std::vector<std::string> reserved = {"content-type",      "content-length", "authorization",
                                             "transfer-encoding", "host",           "expect"};
        if (!o.idempotencyHeader.empty()) reserved.push_back(lower(o.idempotencyHeader));
        if (const config::Node* h = r.node("headers")) {
          if (h->kind == config::Node::Kind::kList && !h->list.empty()) {
            r.fail("headers", "must be a table of Name = \"value\"");
          }
          for (const auto& [name, value] : h->map) {
            const std::string key = "headers." + name;
            if (value.kind != config::Node::Kind::kString) {
              r.fail(key, "must be a string");
            } else if (!isToken(name)) {
              r.fail(key, "is not a valid header name");
            } else if (value.text.find_first_of("\r\n") != std::string::npos) {
              r.fail(key, "must not contain line breaks");
            } else if (std::find(reserved.begin(), reserved.end(), lower(name)) != reserved.end()) {
              r.fail(key,
                     "is set by the sender (content_type, bearer_token, basic_auth, "
                     "idempotency_header)");
            } else {
              o.headers.emplace_back(name, value.text);
            }
          }
        }

        o.bearerToken = r.string("bearer_token");
        if (r.has("basic_auth")) {
          const config::Reader auth = r.child("basic_auth", kBasicAuthKeys);
          o.basicAuth.emplace(auth.string("user"), auth.string("password"));
          if (!o.bearerToken.empty()) {
            r.fail("basic_auth", "cannot be used together with bearer_token");
          }
        }
        for (const auto& [key, value] :
             {std::pair<std::string_view, const std::string*>{"bearer_token", &o.bearerToken},
              {"content_type", &o.contentType}}) {
          if (value->find_first_of("\r\n") != std::string::npos) {
            r.fail(key, "must not contain line breaks");
          }
        }

        o.tls = readTls(r, ctx.configDir, false);
        if (o.tls.enabled && scheme != "https") r.fail("tls", "needs an https:// url");
        if (o.tls.certFile.empty() != o.tls.keyFile.empty()) {
          r.fail("tls", "'cert' and 'key' go together");
        }
        if (o.tls.requireClientCert) r.fail("tls", "require_client_cert is for listeners");

        o.connectTimeout = std::chrono::milliseconds(
            static_cast<std::int64_t>(r.number("connect_timeout", 10, 0.01, 600) * 1000));
        o.timeout = std::chrono::milliseconds(
            static_cast<std::int64_t>(r.number("timeout", 30, 0.01, 3600) * 1000));
        const std::string envelope = r.string("envelope", "none");
        if (envelope == "core") {
          readCore(r, o);
        } else if (envelope != "none") {
          r.fail("envelope", fmt::format("must be \"none\" or \"core\", got \"{}\"", envelope));
        } else {
          for (const std::string_view key :
               {"core_sender_id", "core_receiver_id", "core_rule_version", "processing_mode",
                "payload_type"}) {
            if (r.has(key)) r.fail(key, "is for envelope = \"core\"");
          }
        }
        // A CORE response carries the payer's whole answer, which a 64 KiB cut would break.
        const std::size_t responseBytes = o.core ? kCoreMaxResponseBytes : o.maxResponseBytes;
        o.maxResponseBytes = static_cast<std::size_t>(
            r.integer("max_response_bytes", static_cast<std::int64_t>(responseBytes), 0, 1 << 30));
        return std::make_unique<HttpSender>(std::move(o));
      }};
}

}  // namespace sb::channels::http
