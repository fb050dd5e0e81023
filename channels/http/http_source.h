// HTTP(S) listener on Boost.Beast: `channel "name" { type = "http", ... }`.
//
// mode = "message": each POST body is one message (HL7 v2, X12 or canonical JSON, by its first
// bytes), committed and only then answered: the HL7 ACK, the X12 TA1/999, or 202 with the id.
//
// mode = "core": each POST body is a CAQH CORE multipart envelope (channels/http/core_envelope.h)
// carrying X12. Batch requests are answered with the 999 once committed; RealTime requests wait
// (asynchronously) until the route has delivered the message to the `reply_from` destination and
// answer with that destination's response (the payer's 271/277), so a route can call a payer and
// return its answer to the caller that asked.
//
// Threading: the engine's io_context threads run everything; each connection lives on its own
// strand. Commits finish on the store's thread and are handed back to the connection's strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "channels/common/connector.h"
#include "channels/http/core_envelope.h"
#include "channels/mllp/mllp.h"

namespace sb::channels::http {

enum class SourceMode { kMessage, kCore };

// How a client proves who it is. There is no default without credentials: a listener that takes
// anyone's messages must say so (auth = "none").
enum class SourceAuth { kNone, kBasic, kBearer, kClientCert };

struct HttpSourceOptions {
  std::string name;  // the channel name: messages are stored under it
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = pick a free port (see HttpSource::port())
  mllp::TlsOptions tls;    // the same `tls` table as the MLLP listener
  std::string path = "/";  // the one path served; others get 404
  SourceMode mode = SourceMode::kMessage;
  std::size_t maxBodyBytes = 16 * 1024 * 1024;
  std::size_t maxHeaderBytes = 16 * 1024;  // request line and headers together
  std::chrono::milliseconds headerTimeout{std::chrono::seconds(10)};  // first byte to headers' end
  std::chrono::milliseconds readTimeout{std::chrono::seconds(30)};    // the body; also each write
  std::chrono::milliseconds idleTimeout{std::chrono::seconds(60)};    // waiting for a request
  std::size_t maxConnections = 256;
  SourceAuth auth = SourceAuth::kBasic;
  std::string user, password;  // kBasic (core mode: also the envelope's UserName/Password)
  std::string bearerToken;     // kBearer
  // Core mode, RealTime: the destination whose delivered response answers the request, and how
  // long to wait for it.
  std::string replyFrom;
  std::chrono::milliseconds replyTimeout{20'000};
};

// CORE ErrorCode values this listener answers with besides the codec's (error::): the rule has
// no code for a receiver that forwards the request and waits for another system.
namespace core_error {
inline constexpr std::string_view kReceiverTimeout = "ReceiverTimeout";  // 504: no reply in time
inline constexpr std::string_view kReceiverError = "ReceiverError";      // 502: it will never come
inline constexpr std::string_view kReceiverBusy = "ReceiverBusy";        // 503: could not store it
}  // namespace core_error

// How a CORE RealTime request is answered once what became of its reply_from delivery is known.
// The listener asks with what the store's delivery events say, `switchboard test` with a mocked
// sender's outcome: one table, so a route test shows what a client would really get.
enum class ReplyOutcome {
  kDelivered,  // the destination's response is the Payload
  kDead,       // the delivery failed for good
  kRetrying,   // still being retried when reply_timeout_ms ran out
  kNotSent,    // the routes never sent the request to reply_from (filtered, elsewhere, error)
};
struct RealTimeAnswer {
  unsigned status;
  std::string_view errorCode;
};
constexpr RealTimeAnswer realTimeAnswer(ReplyOutcome outcome) {
  switch (outcome) {
    case ReplyOutcome::kDelivered:
      return {200, core::error::kSuccess};
    case ReplyOutcome::kRetrying:
      return {504, core_error::kReceiverTimeout};
    case ReplyOutcome::kDead:
    case ReplyOutcome::kNotSent:
      break;
  }
  return {502, core_error::kReceiverError};
}

class HttpSource final : public Source {
 public:
  HttpSource(HttpSourceOptions options, IngestSink& sink, boost::asio::io_context& io);
  ~HttpSource() override;
  HttpSource(const HttpSource&) = delete;
  HttpSource& operator=(const HttpSource&) = delete;

  void start() override;  // binds and accepts; throws std::runtime_error with the reason
  void stop() override;   // stops accepting, closes connections, abandons waiting replies
  std::string describe() const override;
  std::uint16_t port() const;  // the bound port once started
  std::size_t connectionCount() const;

  struct Core;  // shared with connections and pending commits, so they may outlive this object

 private:
  std::shared_ptr<Core> core_;
};

SourceFactory httpSourceFactory();

}  // namespace sb::channels::http
