// HTTP destination: POST/PUT/PATCH of each message to a URL built from the message's search keys,
// on libcurl with one reused handle per destination so the connection is kept alive between
// messages. The status code decides OK / RETRY / dead-letter (see channels/http/README.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "channels/common/connector.h"
#include "channels/mllp/mllp.h"

namespace sb::channels::http {

struct HttpSenderOptions {
  std::string destination;  // the config section name; part of the Idempotency-Key
  // Placeholders: {id} {control_id} {patient_id} {type} {trigger} {channel}, URL-encoded.
  std::string urlTemplate;
  std::string method = "POST";  // POST, PUT or PATCH
  std::vector<std::pair<std::string, std::string>> headers;
  std::string contentType = "application/json";
  std::string bearerToken;
  std::optional<std::pair<std::string, std::string>> basicAuth;  // user, password
  mllp::TlsOptions tls;  // files, verification and server name; TLS itself follows the scheme
  std::chrono::milliseconds connectTimeout{10'000};
  std::chrono::milliseconds timeout{30'000};
  std::size_t maxResponseBytes = 64 * 1024;
  std::string idempotencyHeader = "Idempotency-Key";  // empty: no such header
};

// Expands the URL template for one item; substituted values are percent-encoded (RFC 3986
// unreserved characters stay). Unknown placeholders are left as they are.
std::string expandUrl(const std::string& pattern, const store::QueueItem& item);
// The placeholders in `pattern` that expandUrl does not know, for config validation.
std::vector<std::string> unknownPlaceholders(const std::string& pattern);

// A UUID-shaped key (RFC 9562 version 8 layout) from SHA-256 of
// "<destination>:<message id>:<generation>[:<part>]" (the part only for the second and later
// outputs of a split): the same for every attempt of one delivery, even
// after a restart, so the receiver can drop duplicates of a request whose answer we lost.
std::string idempotencyKey(std::string_view destination, const store::QueueItem& item);

// Retry-After (delta-seconds or an HTTP-date) as milliseconds from `now`, between 0 and one
// hour; nullopt when unparseable.
std::optional<std::int64_t> parseRetryAfter(std::string_view value, std::time_t now);

class HttpSender final : public Sender {
 public:
  explicit HttpSender(HttpSenderOptions options);
  ~HttpSender() override;
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  SendResult send(const store::QueueItem& item) override;

 private:
  struct Handle;
  HttpSenderOptions options_;
  std::unique_ptr<Handle> handle_;
};

SenderFactory httpSenderFactory();

}  // namespace sb::channels::http
