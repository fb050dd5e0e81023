// HTTP destination: POST/PUT/PATCH of each message to a URL built from the message's search keys,
// on libcurl with one reused handle per destination so the connection is kept alive between
// messages. The status code decides OK / RETRY / dead-letter (see channels/http/README.md).
//
// With envelope = "core" each message (an X12 interchange) travels in a CAQH CORE multipart
// request, and the CORE response envelope decides: its Payload (the payer's 271/277) becomes the
// delivery's response, which a `reply_from` listener hands back to its caller.
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

// The CORE envelope around each request (envelope = "core").
struct CoreSenderOptions {
  std::string senderId;
  std::string receiverId;
  std::string ruleVersion = "2.2.0";
  std::string processingMode = "RealTime";  // or "Batch"
  std::string payloadType;                  // empty: corePayloadType() of each payload
};

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
  std::optional<CoreSenderOptions> core;              // set: envelope = "core"
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

// The CORE PayloadType of an X12 interchange, from its first transaction set's ST01 and ST03 (or
// GS08): "X12_<ST01>_Request_<ST03>", or "_Response_" for the answering sets (271, 277, 999, and
// a 278 whose BHT02 is 11); a TA1-only interchange is "X12_TA1_Response_00501X231A1". nullopt
// when the payload is not X12 with a transaction set.
std::optional<std::string> corePayloadType(std::string_view x12);

// What a CORE response means for the delivery: OK with the envelope's Payload as the response,
// RETRY for transient answers (HTTP 408/429/5xx, an ErrorCode naming a busy or timed-out
// receiver), ERROR for the rest (envelope errors, UnAuthorized, a response that is not CORE).
// `body` is the response as received; `complete` is false when it was cut at max_response_bytes.
SendResult coreOutcome(long status, std::string_view contentType, std::string body, bool complete,
                       std::size_t limit);

// One answer as the sender received it.
struct HttpResponse {
  long status = 0;
  std::string contentType;                // the Content-Type header; empty when absent
  std::string body;                       // as kept: cut at max_response_bytes
  bool complete = true;                   // false: the body passed max_response_bytes and was cut
  std::optional<std::string> retryAfter;  // the Retry-After header as sent, when present
};

// What an answer means for the delivery (channels/http/README.md). envelope = "none": 2xx OK with
// the body as the response; 408, 429 and 5xx RETRY after Retry-After (read against `now`) when
// given; 3xx ERROR (redirects are not followed); other statuses ERROR. The body is kept with the
// attempt either way. envelope = "core": coreOutcome, with Retry-After on RETRY. Pure: the sender
// calls it on each answer and `switchboard test` on mocked ones.
SendResult classifyResponse(const HttpSenderOptions& options, HttpResponse response,
                            std::time_t now);

class HttpSender final : public Sender {
 public:
  explicit HttpSender(HttpSenderOptions options);
  ~HttpSender() override;
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  SendResult send(const store::QueueItem& item) override;
  const HttpSenderOptions& options() const { return options_; }

 private:
  struct Handle;
  HttpSenderOptions options_;
  std::unique_ptr<Handle> handle_;
};

SenderFactory httpSenderFactory();

}  // namespace sb::channels::http
