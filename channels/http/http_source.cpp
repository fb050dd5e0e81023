#include "channels/http/http_source.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "channels/common/hl7_ingest.h"
#include "channels/common/inbound.h"
#include "channels/common/tls_config.h"
#include "channels/common/x12_ingest.h"
#include "channels/http/core_envelope.h"
#include "channels/mllp/tls.h"
#include "common/error_catalog.h"
#include "common/log.h"

namespace sb::channels::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using config::KeySpec;
using config::ValueType;
using log::Level;

constexpr std::array kSourceKeys = {
    KeySpec{"listen", ValueType::kString, true, "", "address to listen on, \"host:port\""},
    KeySpec{"tls", ValueType::kTable, false, "off", "TLS / mutual TLS (https), see TLS"},
    KeySpec{"path", ValueType::kString, false, "/",
            "the request path served (the query is ignored); any other path is answered 404"},
    KeySpec{"mode", ValueType::kString, false, "message",
            "\"message\": each body is one HL7 v2, X12 or JSON message; \"core\": each body is a "
            "CAQH CORE multipart envelope carrying X12 (see channels/http/README.md)"},
    KeySpec{"max_body_bytes", ValueType::kInteger, false, "16777216",
            "larger bodies are answered 413 and not read"},
    KeySpec{"header_timeout", ValueType::kNumber, false, "10",
            "seconds from a request's first byte to the end of its headers"},
    KeySpec{"read_timeout", ValueType::kNumber, false, "30",
            "seconds to receive the body, and to write the response"},
    KeySpec{"idle_timeout", ValueType::kNumber, false, "60",
            "seconds a kept-alive connection may wait for its next request"},
    KeySpec{"max_connections", ValueType::kInteger, false, "256",
            "connections beyond this are closed at once"},
    KeySpec{"auth", ValueType::kString, false, "from the credentials",
            "\"basic\", \"bearer\", \"client_cert\" (needs tls.require_client_cert) or \"none\"; "
            "a listener without credentials must say auth = \"none\""},
    KeySpec{"basic_auth", ValueType::kTable, false, "",
            "{ user = \"...\", password = \"...\" }: HTTP Basic; in core mode the envelope's "
            "UserName/Password are accepted too"},
    KeySpec{"bearer_token", ValueType::kString, false, "",
            "clients send \"Authorization: Bearer <token>\"; use env(\"NAME\")"},
    KeySpec{"reply_from", ValueType::kString, false, "",
            "core mode: the destination whose response answers a RealTime request"},
    KeySpec{"reply_timeout_ms", ValueType::kInteger, false, "20000",
            "core mode: how long a RealTime request waits for reply_from (504 after)"},
};

constexpr std::array kBasicAuthKeys = {
    KeySpec{"user", ValueType::kString, true, "", "user name"},
    KeySpec{"password", ValueType::kString, true, "", "password"},
};

constexpr std::string_view kLog = "http";
constexpr std::size_t kReadChunk = 16 * 1024;
// Accept failures such as EMFILE repeat immediately; pause before retrying instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// After an answer with `Connection: close` the rest of the request may still be on its way;
// closing at once would reset the connection and could destroy the answer in flight, so the
// socket is half-closed and drained for a while (what nginx calls lingering close).
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1 << 20;
// A RealTime request polls the store for its reply: quickly at first (a local payer answers in
// milliseconds), then every kMaxPoll.
constexpr auto kFirstPoll = std::chrono::milliseconds(5);
constexpr auto kMaxPoll = std::chrono::milliseconds(20);
// What a client is told to wait after a failed commit (the store is the problem, not the client).
constexpr std::string_view kRetryAfterSeconds = "5";

constexpr std::string_view kHl7ContentType = "x-application/hl7-v2+er7";
constexpr std::string_view kX12ContentType = "application/edi-x12";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
constexpr std::string_view k999Type = "X12_999_Response_005010X231A1";
constexpr std::string_view kTa1Type = "X12_TA1_Response_00501X231A1";

// Boost 1.74's Beast has its own string_view.
std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string endpointText(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Constant-time comparison of a secret: digests of equal length, so neither the position of the
// first difference nor the secret's length shows in the timing.
bool sameSecret(std::string_view given, std::string_view expected) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> a{}, b{};
  unsigned int na = 0, nb = 0;
  if (EVP_Digest(given.data(), given.size(), a.data(), &na, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(expected.data(), expected.size(), b.data(), &nb, EVP_sha256(), nullptr) != 1) {
    return false;
  }
  return na == nb && CRYPTO_memcmp(a.data(), b.data(), na) == 0;
}

std::optional<std::string> base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    const int v = value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  for (; i < in.size(); ++i) {
    if (in[i] != '=') return std::nullopt;
  }
  return out;
}

// A peer's value or a config name inside a header or a message: printable and short.
std::string printable(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (text.size() > max) out += "...";
  return out;
}

// ---- what the X12 in a payload is, for the CORE PayloadType of an answer ----

struct X12Kind {
  std::string setId;       // ST01 of the first transaction set ("" when none)
  std::string convention;  // its ST03 (or GS08)
  bool ta1Only = false;    // interchanges with TA1 acknowledgements and no groups
};

X12Kind x12Kind(std::string_view payload) {
  X12Kind kind;
  const x12::Document doc = x12::Document::parse(payload);
  for (const auto& ic : doc.interchanges()) {
    for (const auto& g : ic.groups) {
      for (const auto& t : g.transactions) {
        if (t.setId == "999" || kind.setId.empty()) {
          kind.setId = t.setId;
          kind.convention = t.convention;
        }
      }
    }
    if (!ic.ta1.empty() && ic.groups.empty() && kind.setId.empty()) kind.ta1Only = true;
  }
  if (!kind.setId.empty()) kind.ta1Only = false;
  return kind;
}

std::string ackPayloadType(std::string_view acks) {
  return std::string(x12Kind(acks).setId == "999" ? k999Type : kTa1Type);
}

// The PayloadType of the answer to a RealTime request: the payer's 999 or TA1 says what it is;
// otherwise the rule's pairs (270 -> 271, 276 -> 277), or the answer's own ST01/ST03.
std::string realTimeResponseType(const std::string& requestType, std::string_view reply) {
  const X12Kind kind = x12Kind(reply);
  if (kind.setId == "999") return std::string(k999Type);
  if (kind.ta1Only) return std::string(kTa1Type);
  if (requestType == "X12_270_Request_005010X279A1") return "X12_271_Response_005010X279A1";
  if (requestType == "X12_276_Request_005010X212") return "X12_277_Response_005010X212";
  if (!kind.setId.empty() && !kind.convention.empty()) {
    return fmt::format("X12_{}_Response_{}", kind.setId, kind.convention);
  }
  std::string out = requestType;
  if (const auto at = out.find("_Request_"); at != std::string::npos) {
    out.replace(at, 9, "_Response_");
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

// ---- answers ----

struct Reply {
  unsigned status = 200;
  std::string contentType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // answer with `Connection: close` (the request was not read to its end)
};
// Called once, from any thread, with the answer to one request.
using Respond = std::function<void(Reply)>;

Reply textReply(unsigned status, std::string_view text) {
  Reply r;
  r.status = status;
  r.contentType = std::string(kTextContentType);
  r.body = std::string(text);
  r.body.push_back('\n');
  return r;
}

Reply withRetryAfter(Reply r) {
  r.headers.emplace_back("Retry-After", std::string(kRetryAfterSeconds));
  return r;
}

struct Request {
  std::string peer;
  std::string contentType;
  std::string body;
  // Core mode with basic auth and no Authorization header: the envelope's UserName/Password
  // decide, once the body is read.
  bool authPending = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Everything connections and pending commits share. Owned by shared_ptr so a commit that
// finishes after stop() (the store flushes on close) still finds what its callback needs.

namespace {
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void start() = 0;
  virtual void requestClose() = 0;
};
class Waiter;
}  // namespace

struct HttpSource::Core : std::enable_shared_from_this<HttpSource::Core> {
  Core(HttpSourceOptions o, IngestSink& s, asio::io_context& i)
      : options(std::move(o)),
        sink(s),
        io(i),
        hl7(options.name, s),
        x12(options.name, s),
        sslContext(ssl::context::tls_server),
        acceptor(asio::make_strand(i)),
        retryTimer(acceptor.get_executor()) {}

  const HttpSourceOptions options;
  IngestSink& sink;
  asio::io_context& io;
  Hl7Ingest hl7;  // HL7 batches (FHS/BHS): one batch ACK once every message is committed
  X12Ingest x12;
  ssl::context sslContext;

  std::mutex acceptorMutex;  // the acceptor and retryTimer: stop() closes them from any thread
  tcp::acceptor acceptor;
  asio::steady_timer retryTimer;
  std::atomic<std::uint16_t> boundPort{0};

  mutable std::mutex mutex;  // stopped, started, sessions, waiters
  bool stopped = false;
  bool started = false;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;
  std::unordered_map<std::uint64_t, std::weak_ptr<Waiter>> waiters;
  std::atomic<std::uint64_t> nextId{1};

  void bind();
  void accept();
  void onAccept(const boost::system::error_code& ec, tcp::socket socket);
  void stop();
  void removeSession(std::uint64_t id) {
    std::lock_guard lock(mutex);
    sessions.erase(id);
  }
  void removeWaiter(std::uint64_t id) {
    std::lock_guard lock(mutex);
    waiters.erase(id);
  }

  // ---- requests ----
  // Decides from the request line and headers alone; a value is the answer (the body is not
  // read). Sets authPending when the envelope's credentials are to decide.
  std::optional<Reply> checkHeader(const bhttp::request<bhttp::string_body>& req,
                                   std::optional<std::uint64_t> contentLength,
                                   const std::string& peer, bool& authPending) const;
  void handle(Request req, Respond respond);

  // Message mode.
  void handleMessage(Request req, Respond respond);
  void ingestHl7(Request req, Respond respond);
  void ingestJson(Request req, Respond respond);
  void ingestX12(Request req, Respond respond);

  // Core mode.
  void handleCore(Request req, Respond respond);
  void afterCoreCommit(std::shared_ptr<const core::Envelope> request, X12Ingest::Result result,
                       Respond respond);
  // Stores the body of a request that is refused (broken envelope and the like) as a rejected
  // message, then answers with the CORE error envelope.
  void rejectEnvelope(Request req, std::string_view code, const std::string& message,
                      const core::Envelope* request, Respond respond);

  // Answers in the request's mode: text in message mode, a CORE error envelope in core mode.
  Reply failure(unsigned status, std::string_view coreCode, const std::string& message,
                const core::Envelope* request = nullptr) const;
  Reply coreReply(unsigned status, core::Envelope envelope) const;
  Reply coreError(unsigned status, std::string_view code, const std::string& message,
                  const core::Envelope* request) const;
  Reply unauthorized() const;
  core::Envelope answerTo(const core::Envelope* request) const;
  std::optional<store::MessageStatus> statusOf(store::MessageId id) const;

  // Runs `work` on an I/O or commit thread: what it throws (a failed store read, the random
  // generator) is answered 503 instead of ending the thread.
  template <typename F>
  void guarded(const Respond& respond, F&& work) const {
    try {
      work();
    } catch (const std::exception& e) {
      log::at(Level::kError, kLog, "[{}] answering a request failed: {}", options.name, e.what());
      const std::string message = "the request could not be handled; resend later";
      try {
        respond(failure(503, core_error::kReceiverBusy, message));
      } catch (const std::exception&) {
        respond(withRetryAfter(textReply(503, message)));  // the CORE envelope failed too
      }
    }
  }
};

namespace {

// ---------------------------------------------------------------------------------------------
// A RealTime request waiting for its reply: polls the store on a timer of its own (never blocking
// an I/O thread for longer than one read) until the route has delivered the message to
// `reply_from`, the message ends without such a delivery, or the time is up.
class Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  Waiter(std::shared_ptr<HttpSource::Core> core, std::uint64_t key, store::MessageId id,
         std::shared_ptr<const core::Envelope> request, std::vector<std::string> acks,
         Respond respond)
      : core_(std::move(core)),
        key_(key),
        id_(id),
        request_(std::move(request)),
        acks_(std::move(acks)),
        respond_(std::move(respond)),
        timer_(asio::make_strand(core_->io)),
        deadline_(Clock::now() + core_->options.replyTimeout) {}

  void start() {
    asio::dispatch(timer_.get_executor(), [self = shared_from_this()] { self->tick(); });
  }
  // stop(): nobody will read the answer; dropping the callback releases the connection.
  void abandon() {
    asio::post(timer_.get_executor(), [self = shared_from_this()] {
      if (self->done_) return;
      self->done_ = true;
      self->timer_.cancel();
      self->respond_ = nullptr;
      self->core_->removeWaiter(self->key_);
    });
  }

 private:
  void tick() {
    if (done_) return;
    std::optional<store::MessageDetail> detail;
    try {
      detail = core_->sink.store().get(id_);
    } catch (const std::exception& e) {
      // A read can fail while the store is busy; the next poll tries again until the deadline.
      if (!readFailed_) {
        log::at(Level::kWarn, kLog, "[{}] reading message {} failed: {}", core_->options.name, id_,
                e.what());
      }
      readFailed_ = true;
    }
    if (detail) {
      bool answered = false;
      Respond respond = [&](Reply r) {
        answered = true;
        finish(std::move(r));
      };
      core_->guarded(respond, [&] {
        if (auto reply = decide(*detail)) respond(std::move(*reply));
      });
      if (answered) return;
    }
    const auto now = Clock::now();
    if (now >= deadline_) {
      log::at(Level::kWarn, kLog, "[{}] no reply from '{}' for message {} within {} ms",
              core_->options.name, core_->options.replyFrom, id_,
              core_->options.replyTimeout.count());
      Respond respond = [self = shared_from_this()](Reply r) { self->finish(std::move(r)); };
      const RealTimeAnswer answer = realTimeAnswer(ReplyOutcome::kRetrying);
      core_->guarded(respond, [&] {
        respond(core_->coreError(
            answer.status, answer.errorCode,
            fmt::format("no reply from '{}' within {} ms; the request is kept as message {} and "
                        "stays queued",
                        core_->options.replyFrom, core_->options.replyTimeout.count(), id_),
            request_.get()));
      });
      return;
    }
    timer_.expires_at(std::min(deadline_, now + interval_));
    interval_ = std::min(interval_ * 2, std::chrono::milliseconds(kMaxPoll));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->tick();
    });
  }

  // The answer once the message's history says what it will be; nullopt while it is on its way.
  std::optional<Reply> decide(const store::MessageDetail& d) const {
    const std::string& target = core_->options.replyFrom;
    const auto status = d.message.summary.status;
    if (status == store::MessageStatus::kRejected) {
      // The payer never sees a rejected interchange: the TA1/999 is the answer.
      if (acks_.empty()) {
        return core_->coreError(400, core::error::kEnvelopeError,
                                fmt::format("the Payload is not a usable X12 interchange; it is "
                                            "kept as message {}",
                                            id_),
                                request_.get());
      }
      core::Envelope e = core_->answerTo(request_.get());
      e.payload = joined(acks_);
      e.payloadType = ackPayloadType(e.payload);
      e.errorCode = std::string(core::error::kSuccess);
      return core_->coreReply(200, std::move(e));
    }
    for (const auto& event : d.events) {
      if (event.step != "deliver" || event.subject != target) continue;
      if (event.outcome == "delivered") {
        const RealTimeAnswer answer = realTimeAnswer(ReplyOutcome::kDelivered);
        core::Envelope e = core_->answerTo(request_.get());
        e.payloadType = realTimeResponseType(request_->payloadType, event.detail);
        e.errorCode = std::string(answer.errorCode);
        e.payload = event.detail;
        log::at(Level::kDebug, kLog, "[{}] message {}: reply from '{}' ({} bytes)",
                core_->options.name, id_, target, e.payload.size());
        return core_->coreReply(answer.status, std::move(e));
      }
      if (event.outcome == "dead") {
        // The detail is "<error> | <response>": only the sender's error goes back.
        const std::string error = event.detail.substr(0, event.detail.find(" | "));
        const RealTimeAnswer answer = realTimeAnswer(ReplyOutcome::kDead);
        return core_->coreError(
            answer.status, answer.errorCode,
            fmt::format("'{}' did not answer: {} (message {})", target, printable(error), id_),
            request_.get());
      }
    }
    const RealTimeAnswer notSent = realTimeAnswer(ReplyOutcome::kNotSent);
    switch (status) {
      case store::MessageStatus::kError:
        return core_->coreError(notSent.status, notSent.errorCode,
                                fmt::format("the request ended in error: {} (message {})",
                                            printable(d.message.summary.error), id_),
                                request_.get());
      case store::MessageStatus::kFiltered:
        return core_->coreError(
            notSent.status, notSent.errorCode,
            fmt::format("no route took the request (message {} is filtered)", id_), request_.get());
      case store::MessageStatus::kDelivered:
        return core_->coreError(
            notSent.status, notSent.errorCode,
            fmt::format("the request (message {}) was delivered, but not to '{}'", id_, target),
            request_.get());
      case store::MessageStatus::kRouted: {
        const bool queued = std::any_of(d.queue.begin(), d.queue.end(),
                                        [&](const auto& q) { return q.destination == target; });
        if (!queued) {
          return core_->coreError(
              notSent.status, notSent.errorCode,
              fmt::format("the routes did not send the request (message {}) to '{}'", id_, target),
              request_.get());
        }
        return std::nullopt;
      }
      default:
        return std::nullopt;
    }
  }

  void finish(Reply reply) {
    done_ = true;
    core_->removeWaiter(key_);
    if (respond_) respond_(std::move(reply));
    respond_ = nullptr;
  }

  std::shared_ptr<HttpSource::Core> core_;
  const std::uint64_t key_;
  const store::MessageId id_;
  const std::shared_ptr<const core::Envelope> request_;
  const std::vector<std::string> acks_;
  Respond respond_;
  asio::steady_timer timer_;
  const Clock::time_point deadline_;
  std::chrono::milliseconds interval_{kFirstPoll};
  bool done_ = false;
  bool readFailed_ = false;
};

// ---------------------------------------------------------------------------------------------
// One connection: plain (beast::tcp_stream) or TLS (beast::ssl_stream over it). Everything runs
// on the connection's strand; the stream's timer bounds every read and write. One request at a
// time: the next is not read before the answer to this one is written, so a client cannot make
// us hold more than one request per connection.
template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(std::shared_ptr<HttpSource::Core> core, tcp::socket socket, std::uint64_t id,
          std::string peer)
      : core_(std::move(core)),
        stream_(makeStream(std::move(socket), core_->sslContext)),
        id_(id),
        peer_(std::move(peer)) {}

  ~Session() override { core_->removeSession(id_); }

  void start() override {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

  void requestClose() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }

 private:
  static Stream makeStream(tcp::socket&& socket, ssl::context& context) {
    if constexpr (kTls) {
      return Stream(std::move(socket), context);
    } else {
      (void)context;
      return Stream(std::move(socket));
    }
  }

  const HttpSourceOptions& opt() const { return core_->options; }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void begin() {
    log::at(Level::kDebug, kLog, "[{}] connection {} from {} accepted", opt().name, id_, peer_);
    if constexpr (kTls) {
      lowest().expires_after(opt().headerTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](const beast::error_code& ec) {
                                self->onHandshake(ec);
                              });
    } else {
      awaitRequest();
    }
  }

  void onHandshake(const beast::error_code& ec) {
    if (closed_) return;
    if (ec) {
      log::at(Level::kWarn, kLog, "[{}] connection {} from {}: {} TLS handshake failed: {}",
              opt().name, id_, peer_, errorInfo(ErrorCode::kTransportTls).id,
              mllp::detail::describe(ec));
      close();
      return;
    }
    if constexpr (kTls) {
      const std::string subject = mllp::detail::peerCertificateSubject(stream_.native_handle());
      if (!subject.empty()) {
        log::at(Level::kDebug, kLog, "[{}] connection {}: client certificate '{}'", opt().name, id_,
                subject);
      }
    }
    awaitRequest();
  }

  // Between requests: wait for the first byte under the idle timeout, then give the whole
  // header block the (shorter) header timeout, so a slow client cannot hold a connection by
  // trickling a header.
  void awaitRequest() {
    if (closed_) return;
    if (buffer_.size() > 0) {
      readHeader();
      return;
    }
    lowest().expires_after(opt().idleTimeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](const beast::error_code& ec, std::size_t n) {
          self->onFirstBytes(ec, n);
        });
  }

  void onFirstBytes(const beast::error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      close();  // the client closed, or stayed idle: nothing to answer
      return;
    }
    buffer_.commit(n);
    readHeader();
  }

  void readHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opt().maxHeaderBytes));
    // The body limit is set once the headers are checked: a Content-Length over it is answered
    // by checkHeader (with the length), not as a header parse error. Not boost::none: Beast 1.74
    // compares a Content-Length with a disabled limit as if it were over it.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest().expires_after(opt().headerTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](
                                 const beast::error_code& ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(const beast::error_code& ec) {
    if (closed_) return;
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        write(textReply(431, fmt::format("the request headers pass the limit of {} bytes",
                                         opt().maxHeaderBytes)),
              true);
      } else if (ec == beast::error::timeout) {
        log::at(Level::kInfo, kLog, "[{}] connection {} from {}: headers not complete within {} ms",
                opt().name, id_, peer_, opt().headerTimeout.count());
        close();
      } else if (&ec.category() == &bhttp::make_error_code(bhttp::error::bad_method).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        write(textReply(400, fmt::format("malformed HTTP request: {}", ec.message())), true);
      } else {
        close();
      }
      return;
    }
    auto& req = parser_->get();
    bool authPending = false;
    std::optional<std::uint64_t> contentLength;
    if (const auto length = parser_->content_length()) contentLength = *length;
    if (auto early = core_->checkHeader(req, contentLength, peer_, authPending)) {
      write(std::move(*early), true);
      return;
    }
    authPending_ = authPending;
    if (iequals(view(req[bhttp::field::expect]), "100-continue")) {
      // The client waits for this before sending the body (curl does for large bodies).
      continue_.emplace(bhttp::status::continue_, 11);
      lowest().expires_after(opt().readTimeout);
      bhttp::async_write(
          stream_, *continue_,
          [self = this->shared_from_this()](const beast::error_code& wec, std::size_t) {
            if (self->closed_) return;
            if (wec) {
              self->close();
            } else {
              self->readBody();
            }
          });
      return;
    }
    readBody();
  }

  void readBody() {
    parser_->body_limit(opt().maxBodyBytes);
    lowest().expires_after(opt().readTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                        self->onBody(ec);
                      });
  }

  void onBody(const beast::error_code& ec) {
    if (closed_) return;
    if (ec == bhttp::error::body_limit) {
      write(core_->failure(413, core::error::kEnvelopeError,
                           fmt::format("the body passes the limit of {} bytes (max_body_bytes)",
                                       opt().maxBodyBytes)),
            true);
      return;
    }
    if (ec) {
      if (ec == beast::error::timeout) {
        log::at(Level::kInfo, kLog, "[{}] connection {} from {}: body not complete within {} ms",
                opt().name, id_, peer_, opt().readTimeout.count());
      }
      close();
      return;
    }
    lowest().expires_never();  // a RealTime request may wait for its reply; nothing is read now
    auto& req = parser_->get();
    keepAlive_ = req.keep_alive();
    Request r;
    r.peer = peer_;
    r.contentType = std::string(req[bhttp::field::content_type]);
    r.body = std::move(req.body());
    r.authPending = authPending_;
    parser_.reset();
    auto once = std::make_shared<std::atomic<bool>>(false);
    Respond respond = [self = this->shared_from_this(), once](Reply reply) {
      if (once->exchange(true)) return;
      asio::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable {
        self->write(std::move(reply), false);
      });
    };
    try {
      core_->handle(std::move(r), respond);
    } catch (const std::exception& e) {
      // Untrusted input never gets here; a store or allocation failure might. Through
      // `respond`, so that an answer already on its way is not followed by a second one.
      log::at(Level::kError, kLog, "[{}] connection {}: handling the request failed: {}",
              opt().name, id_, e.what());
      Reply failed =
          withRetryAfter(textReply(503, "the request could not be handled; resend later"));
      failed.close = true;
      respond(std::move(failed));
    }
  }

  void write(Reply reply, bool early) {
    if (closed_ || writing_) return;
    writing_ = true;
    response_.emplace();
    auto& res = *response_;
    res.version(11);
    res.result(reply.status);
    res.set(bhttp::field::server, "switchboard");
    if (!reply.contentType.empty()) res.set(bhttp::field::content_type, reply.contentType);
    for (const auto& [name, value] : reply.headers) res.set(name, value);
    res.body() = std::move(reply.body);
    res.keep_alive(!early && !reply.close && keepAlive_);
    res.prepare_payload();
    log::at(Level::kDebug, kLog, "[{}] connection {} from {}: answered {}", opt().name, id_, peer_,
            reply.status);
    lowest().expires_after(opt().readTimeout);
    bhttp::async_write(stream_, res,
                       [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                         self->onWritten(ec);
                       });
  }

  void onWritten(const beast::error_code& ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    const bool keep = response_->keep_alive();
    response_.reset();
    if (keep) {
      awaitRequest();
    } else {
      linger();
    }
  }

  void linger() {
    boost::system::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(kLingerTime);
    drain();
  }

  void drain() {
    lowest().async_read_some(
        asio::buffer(scratch_),
        [self = this->shared_from_this()](const beast::error_code& ec, std::size_t n) {
          if (self->closed_) return;
          self->drained_ += n;
          if (ec || self->drained_ > kLingerBytes) {
            self->close();
          } else {
            self->drain();
          }
        });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  std::shared_ptr<HttpSource::Core> core_;  // first: the SSL context outlives the stream
  Stream stream_;
  const std::uint64_t id_;
  const std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::array<char, 4096> scratch_{};
  std::size_t drained_ = 0;
  bool authPending_ = false;
  bool keepAlive_ = true;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Listening.

void HttpSource::Core::bind() {
  if (options.tls.enabled) {
    try {
      // The same TLS setup as the MLLP listener: TLS 1.2+, and with require_client_cert the
      // handshake itself refuses clients without a certificate from `ca`.
      mllp::detail::configureServerContext(sslContext, options.tls);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("HTTP listener '{}': {}", options.name, e.what()));
    }
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto results =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw std::runtime_error(fmt::format("HTTP listener '{}': cannot resolve '{}': {}",
                                         options.name, options.host,
                                         ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  const auto fail = [&](std::string_view step) {
    throw std::runtime_error(fmt::format("HTTP listener '{}': cannot {} {}: {}", options.name, step,
                                         endpointText(endpoint), ec.message()));
  };
  std::lock_guard lock(acceptorMutex);
  if (acceptor.open(endpoint.protocol(), ec); ec) fail("open");
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) fail("configure");
  if (acceptor.bind(endpoint, ec); ec) fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) fail("listen on");
  boundPort = acceptor.local_endpoint(ec).port();
  log::at(Level::kInfo, kLog, "[{}] listening on {}:{}{} ({} mode)", options.name, options.host,
          boundPort.load(),
          options.tls.enabled ? (options.tls.requireClientCert ? " (mutual TLS)" : " (TLS)") : "",
          options.mode == SourceMode::kCore ? "core" : "message");
}

void HttpSource::Core::accept() {
  std::lock_guard lock(acceptorMutex);
  if (!acceptor.is_open()) return;
  acceptor.async_accept(
      asio::make_strand(io),
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->onAccept(ec, std::move(socket));
      });
}

void HttpSource::Core::onAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  {
    std::lock_guard lock(mutex);
    if (stopped) return;
  }
  if (ec) {
    log::at(Level::kError, kLog, "[{}] accept failed: {}", options.name, ec.message());
    std::lock_guard lock(acceptorMutex);
    retryTimer.expires_after(kAcceptRetryDelay);
    retryTimer.async_wait([self = shared_from_this()](const boost::system::error_code& waitEc) {
      if (!waitEc) self->accept();
    });
    return;
  }
  boost::system::error_code peerEc;
  const auto remote = socket.remote_endpoint(peerEc);
  const std::string peer = peerEc ? std::string("unknown") : endpointText(remote);
  std::shared_ptr<SessionBase> session;
  {
    std::lock_guard lock(mutex);
    if (sessions.size() >= options.maxConnections) {
      log::at(Level::kWarn, kLog, "[{}] refused connection from {}: max_connections ({}) reached",
              options.name, peer, options.maxConnections);
    } else {
      const std::uint64_t id = nextId++;
      if (options.tls.enabled) {
        session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            shared_from_this(), std::move(socket), id, peer);
      } else {
        session = std::make_shared<Session<beast::tcp_stream>>(shared_from_this(),
                                                               std::move(socket), id, peer);
      }
      sessions.emplace(id, session);
    }
  }
  if (session) {
    session->start();
  } else {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  accept();
}

void HttpSource::Core::stop() {
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> toClose;
  std::unordered_map<std::uint64_t, std::weak_ptr<Waiter>> toAbandon;
  {
    std::lock_guard lock(mutex);
    if (!stopped) log::at(Level::kInfo, kLog, "[{}] stopping", options.name);
    stopped = true;
    toClose.swap(sessions);
    toAbandon.swap(waiters);
  }
  {
    std::lock_guard lock(acceptorMutex);
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retryTimer.cancel();
  }
  for (auto& [id, weak] : toAbandon) {
    if (auto w = weak.lock()) w->abandon();
  }
  for (auto& [id, weak] : toClose) {
    if (auto s = weak.lock()) s->requestClose();
  }
}

// ---------------------------------------------------------------------------------------------
// Requests.

std::optional<Reply> HttpSource::Core::checkHeader(const bhttp::request<bhttp::string_body>& req,
                                                   std::optional<std::uint64_t> contentLength,
                                                   const std::string& peer,
                                                   bool& authPending) const {
  const std::string_view target = view(req.target());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != options.path) {
    return textReply(404, fmt::format("no such path; this channel takes POST {}", options.path));
  }
  if (req.method() != bhttp::verb::post) {
    Reply r = textReply(405, "only POST is accepted");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const std::string_view given = view(req[bhttp::field::authorization]);
  bool authorized = false;
  switch (options.auth) {
    case SourceAuth::kNone:
    case SourceAuth::kClientCert:  // the TLS handshake has checked the certificate
      authorized = true;
      break;
    case SourceAuth::kBasic: {
      const auto space = given.find(' ');
      if (space != std::string_view::npos && iequals(given.substr(0, space), "Basic")) {
        std::string_view encoded = given.substr(space + 1);
        while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
        const auto decoded = base64Decode(encoded);
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon != std::string::npos) {
          // Both compared, always: which one was wrong must not show in the timing.
          const bool userOk = sameSecret(decoded->substr(0, colon), options.user);
          const bool passwordOk = sameSecret(decoded->substr(colon + 1), options.password);
          authorized = userOk && passwordOk;
        }
      } else if (given.empty() && options.mode == SourceMode::kCore) {
        // CORE's other authentication: UserName/Password fields in the envelope itself.
        authPending = true;
        authorized = true;
      }
      break;
    }
    case SourceAuth::kBearer: {
      const auto space = given.find(' ');
      if (space != std::string_view::npos && iequals(given.substr(0, space), "Bearer")) {
        std::string_view token = given.substr(space + 1);
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        authorized = sameSecret(token, options.bearerToken);
      }
      break;
    }
  }
  if (!authorized) {
    log::at(Level::kWarn, kLog, "[{}] {} from {}: {} credentials", options.name, 401, peer,
            given.empty() ? "missing" : "wrong");
    return unauthorized();
  }
  if (contentLength && *contentLength > options.maxBodyBytes) {
    return failure(413, core::error::kEnvelopeError,
                   fmt::format("the body of {} bytes passes the limit of {} bytes (max_body_bytes)",
                               *contentLength, options.maxBodyBytes));
  }
  return std::nullopt;
}

Reply HttpSource::Core::unauthorized() const {
  Reply r = failure(401, core::error::kUnAuthorized, "authentication required");
  // A quote or backslash in the channel name would end the realm's quoted string early.
  std::string realm = options.name;
  std::replace_if(
      realm.begin(), realm.end(), [](char c) { return c == '"' || c == '\\'; }, '_');
  realm = printable(realm, 64);
  if (options.auth == SourceAuth::kBearer) {
    r.headers.emplace_back("WWW-Authenticate", fmt::format("Bearer realm=\"{}\"", realm));
  } else {
    r.headers.emplace_back("WWW-Authenticate",
                           fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", realm));
  }
  return r;
}

core::Envelope HttpSource::Core::answerTo(const core::Envelope* request) const {
  // Built field by field: g++ 12 misreports string members of brace-initialised structs.
  core::Envelope e;
  if (request) {
    e.payloadId = request->payloadId;
    e.processingMode = request->processingMode;
    e.senderId = request->receiverId;
    e.receiverId = request->senderId;
    e.coreRuleVersion = request->coreRuleVersion;
  } else {
    // The request's envelope could not be read: a fresh id, and this channel as the sender.
    e.payloadId = core::newPayloadId();
    e.processingMode = std::string(core::kRealTime);
    e.senderId = options.name;
    e.receiverId = std::string("unknown");
    e.coreRuleVersion = std::string("2.2.0");
  }
  e.timeStamp = core::nowTimeStamp();
  return e;
}

Reply HttpSource::Core::coreReply(unsigned status, core::Envelope envelope) const {
  core::Encoded encoded = core::encodeMultipart(envelope);
  Reply r;
  r.status = status;
  r.contentType = std::move(encoded.contentType);
  r.body = std::move(encoded.body);
  return r;
}

Reply HttpSource::Core::coreError(unsigned status, std::string_view code,
                                  const std::string& message, const core::Envelope* request) const {
  core::Envelope e = answerTo(request);
  e.payloadType = std::string(core::kCoreEnvelopeError);
  e.errorCode = std::string(code);
  e.errorMessage = message;
  Reply r = coreReply(status, std::move(e));
  if (status == 503) r = withRetryAfter(std::move(r));
  return r;
}

Reply HttpSource::Core::failure(unsigned status, std::string_view coreCode,
                                const std::string& message, const core::Envelope* request) const {
  if (options.mode == SourceMode::kCore) return coreError(status, coreCode, message, request);
  Reply r = textReply(status, message);
  if (status == 503) r = withRetryAfter(std::move(r));
  return r;
}

std::optional<store::MessageStatus> HttpSource::Core::statusOf(store::MessageId id) const {
  const auto d = sink.store().get(id);
  if (!d) return std::nullopt;
  return d->message.summary.status;
}

void HttpSource::Core::handle(Request req, Respond respond) {
  if (options.mode == SourceMode::kCore) {
    handleCore(std::move(req), std::move(respond));
  } else {
    handleMessage(std::move(req), std::move(respond));
  }
}

void HttpSource::Core::handleMessage(Request req, Respond respond) {
  if (req.body.empty()) {
    respond(textReply(400, "the request has no body"));
    return;
  }
  switch (detectFormat(req.body)) {
    case PayloadFormat::kJson:
      ingestJson(std::move(req), std::move(respond));
      return;
    case PayloadFormat::kX12:
      ingestX12(std::move(req), std::move(respond));
      return;
    case PayloadFormat::kHl7v2:
      ingestHl7(std::move(req), std::move(respond));
      return;
  }
}

namespace {
// The ACK as the answer; an empty ACK (MSH-15 NE and the like) is answered 204.
Reply hl7Reply(std::string ack) {
  Reply r;
  if (ack.empty()) {
    r.status = 204;
    return r;
  }
  r.contentType = std::string(kHl7ContentType);
  r.body = std::move(ack);
  return r;
}
}  // namespace

void HttpSource::Core::ingestHl7(Request req, Respond respond) {
  if (hl7::isBatch(req.body)) {
    // One batch ACK for all; a commit failure shows in it as AR/CR with error 207 per message.
    hl7.accept(req.peer, std::move(req.body),
               [respond](std::string ack) { respond(hl7Reply(std::move(ack))); });
    return;
  }
  Hl7Ingest::Verdict v = Hl7Ingest::evaluate(options.name, std::move(req.body));
  v.record.peer = req.peer;
  const bool rejected = v.record.status == store::MessageStatus::kRejected;
  if (rejected) {
    log::at(Level::kInfo, kLog, "[{}] rejected HL7 message from {}: {}", options.name, req.peer,
            v.record.error);
  }
  sink.store().submitInbound(
      std::move(v.record),
      [self = shared_from_this(), rejected, ack = std::move(v.ack), failAck = std::move(v.failAck),
       respond](std::optional<store::MessageId> id, const std::string& error) {
        if (!id) {
          log::at(Level::kError, kLog, "[{}] commit failed: {}", self->options.name, error);
          Reply r = hl7Reply(failAck);
          r.status = 503;
          respond(withRetryAfter(std::move(r)));
          return;
        }
        if (!rejected) self->sink.committed();
        respond(hl7Reply(ack));
      });
}

void HttpSource::Core::ingestJson(Request req, Respond respond) {
  store::InboundRecord record = jsonRecord(options.name, std::move(req.body));
  record.peer = req.peer;
  const bool rejected = record.status == store::MessageStatus::kRejected;
  std::string reason = record.error;
  sink.store().submitInbound(
      std::move(record), [self = shared_from_this(), rejected, reason = std::move(reason), respond](
                             std::optional<store::MessageId> id, const std::string& error) {
        if (!id) {
          log::at(Level::kError, kLog, "[{}] commit failed: {}", self->options.name, error);
          respond(withRetryAfter(
              textReply(503, fmt::format("{} the message could not be stored; resend later",
                                         errorInfo(ErrorCode::kStoreCommitFailed).id))));
          return;
        }
        if (rejected) {
          respond(textReply(400, fmt::format("{} (kept as message {})", reason, *id)));
          return;
        }
        self->sink.committed();
        Reply r;
        r.status = 202;
        r.contentType = "application/json";
        r.body = fmt::format("{{\"id\":{}}}", *id);
        respond(std::move(r));
      });
}

void HttpSource::Core::ingestX12(Request req, Respond respond) {
  x12.accept(
      req.peer, std::move(req.body),
      [self = shared_from_this(), respond](X12Ingest::Result result) {
        if (!result.committed) {
          log::at(Level::kError, kLog, "[{}] commit failed: {}", self->options.name, result.error);
          respond(withRetryAfter(
              textReply(503, fmt::format("{} the interchange could not be stored; resend later",
                                         errorInfo(ErrorCode::kStoreCommitFailed).id))));
          return;
        }
        // This runs on the store's commit thread (or the submitting thread, which must not
        // wait either): the verdict (accepted or rejected, as stored) is read on an I/O thread.
        asio::post(self->io, [self, result = std::move(result), respond]() {
          self->guarded(respond, [&] {
            std::size_t rejected = 0;
            std::string firstError;
            for (const auto id : result.ids) {
              const auto d = self->sink.store().get(id);
              if (d && d->message.summary.status == store::MessageStatus::kRejected) {
                if (rejected++ == 0) firstError = d->message.summary.error;
              }
            }
            // 400 only when nothing was taken: with some interchanges accepted the acks
            // say which were not, and a resend would duplicate the accepted ones.
            const bool refused = !result.ids.empty() && rejected == result.ids.size();
            Reply r;
            r.status = refused ? 400 : 200;
            r.body = joined(result.acks);
            if (r.body.empty()) {
              if (refused) {
                r = textReply(
                    400, fmt::format("{} (kept as message {})", firstError, result.ids.front()));
              } else {
                r.status = 204;
              }
            } else {
              r.contentType = std::string(kX12ContentType);
            }
            respond(std::move(r));
          });
        });
      });
}

void HttpSource::Core::rejectEnvelope(Request req, std::string_view code,
                                      const std::string& message, const core::Envelope* request,
                                      Respond respond) {
  log::at(Level::kInfo, kLog, "[{}] refused CORE request from {}: {}: {}", options.name, req.peer,
          code, message);
  store::InboundRecord record;
  record.channel = options.name;
  record.peer = req.peer;
  record.receivedAt = store::nowMillis();
  record.messageType = std::string("CORE");
  record.status = store::MessageStatus::kRejected;
  record.error = fmt::format("CORE {}: {}", code, message);
  record.raw = std::move(req.body);
  auto envelope = request ? std::make_shared<const core::Envelope>(*request) : nullptr;
  sink.store().submitInbound(
      std::move(record), [self = shared_from_this(), code = std::string(code), message, envelope,
                          respond](std::optional<store::MessageId> id, const std::string& error) {
        self->guarded(respond, [&] {
          if (!id) {
            log::at(Level::kError, kLog, "[{}] commit failed: {}", self->options.name, error);
            respond(self->coreError(503, core_error::kReceiverBusy,
                                    "the request could not be stored; resend later",
                                    envelope.get()));
            return;
          }
          respond(self->coreError(400, code, fmt::format("{} (kept as message {})", message, *id),
                                  envelope.get()));
        });
      });
}

void HttpSource::Core::handleCore(Request req, Respond respond) {
  core::Limits limits;
  limits.maxBodyBytes = options.maxBodyBytes;
  core::ParseResult parsed = core::parseMultipart(req.contentType, req.body, limits);
  if (req.authPending) {
    bool ok = false;
    if (parsed.ok()) {
      // Both compared, always: which one was wrong must not show in the timing.
      const bool userOk = sameSecret(parsed.envelope->userName, options.user);
      const bool passwordOk = sameSecret(parsed.envelope->password, options.password);
      ok = userOk && passwordOk;
    }
    if (!ok) {
      log::at(Level::kWarn, kLog, "[{}] 401 from {}: {} credentials", options.name, req.peer,
              parsed.ok() && !parsed.envelope->userName.empty() ? "wrong" : "missing");
      respond(unauthorized());  // not stored: the request is nobody's
      return;
    }
  }
  if (!parsed.ok()) {
    rejectEnvelope(std::move(req), parsed.errorCode, parsed.errorMessage, nullptr,
                   std::move(respond));
    return;
  }
  auto request = std::make_shared<core::Envelope>(std::move(*parsed.envelope));
  request->password.clear();  // held until the answer: no secret kept longer than needed
  std::string payload = std::move(request->payload);
  request->payload.clear();
  const bool realTime = request->processingMode == core::kRealTime;
  if (payload.empty()) {
    rejectEnvelope(std::move(req), core::error::kEnvelopeError, "the Payload field is missing",
                   request.get(), std::move(respond));
    return;
  }
  if (realTime && options.replyFrom.empty()) {
    rejectEnvelope(std::move(req), core::error::kProcessingModeIllegal,
                   "this channel takes Batch requests only (it has no reply_from)", request.get(),
                   std::move(respond));
    return;
  }
  log::at(Level::kDebug, kLog, "[{}] CORE {} {} PayloadID {} from {}", options.name,
          request->processingMode, request->payloadType, request->payloadId, req.peer);
  x12.accept(req.peer, std::move(payload),
             [self = shared_from_this(), request, respond](X12Ingest::Result result) {
               if (!result.committed) {
                 log::at(Level::kError, kLog, "[{}] commit failed: {}", self->options.name,
                         result.error);
                 self->guarded(respond, [&] {
                   respond(self->coreError(503, core_error::kReceiverBusy,
                                           "the request could not be stored; resend later",
                                           request.get()));
                 });
                 return;
               }
               // Off the store's commit thread: what follows reads the store.
               asio::post(self->io, [self, request, result = std::move(result), respond]() mutable {
                 self->guarded(respond,
                               [&] { self->afterCoreCommit(request, std::move(result), respond); });
               });
             });
}

void HttpSource::Core::afterCoreCommit(std::shared_ptr<const core::Envelope> request,
                                       X12Ingest::Result result, Respond respond) {
  log::at(Level::kInfo, kLog, "[{}] CORE {} request PayloadID {} stored as message {}",
          options.name, request->processingMode, request->payloadId,
          result.ids.empty() ? 0 : result.ids.front());
  if (request->processingMode == core::kBatch || result.ids.size() != 1) {
    if (request->processingMode != core::kBatch) {
      std::string ids;
      for (const auto id : result.ids) ids += fmt::format("{}{}", ids.empty() ? "" : ", ", id);
      respond(coreError(400, core::error::kEnvelopeError,
                        fmt::format("a RealTime Payload holds one interchange; {} were stored "
                                    "(messages {}) and no reply is awaited",
                                    result.ids.size(), ids),
                        request.get()));
      return;
    }
    if (result.acks.empty()) {
      const bool rejected =
          !result.ids.empty() && statusOf(result.ids.front()) == store::MessageStatus::kRejected;
      if (rejected) {
        respond(coreError(400, core::error::kEnvelopeError,
                          fmt::format("the Payload is not a usable X12 interchange; it is kept "
                                      "as message {}",
                                      result.ids.front()),
                          request.get()));
        return;
      }
    }
    core::Envelope e = answerTo(request.get());
    e.errorCode = std::string(core::error::kSuccess);
    e.payload = joined(result.acks);
    e.payloadType = e.payload.empty() ? std::string(k999Type) : ackPayloadType(e.payload);
    respond(coreReply(200, std::move(e)));
    return;
  }
  std::uint64_t key = 0;
  std::shared_ptr<Waiter> waiter;
  {
    std::lock_guard lock(mutex);
    if (stopped) return;  // dropping `respond` closes the connection
    key = nextId++;
    waiter = std::make_shared<Waiter>(shared_from_this(), key, result.ids.front(), request,
                                      std::move(result.acks), std::move(respond));
    waiters.emplace(key, waiter);
  }
  waiter->start();
}

// ---------------------------------------------------------------------------------------------

HttpSource::HttpSource(HttpSourceOptions options, IngestSink& sink, boost::asio::io_context& io)
    : core_(std::make_shared<Core>(std::move(options), sink, io)) {}

HttpSource::~HttpSource() {
  stop();
}

void HttpSource::start() {
  {
    std::lock_guard lock(core_->mutex);
    if (core_->stopped || core_->started) return;
    core_->started = true;
  }
  core_->bind();
  core_->accept();
}

void HttpSource::stop() {
  core_->stop();
}

std::string HttpSource::describe() const {
  const auto& o = core_->options;
  const std::uint16_t port = core_->boundPort ? core_->boundPort.load() : o.port;
  return fmt::format("http {}:{}{} ({}{})", o.host, port, o.path,
                     o.mode == SourceMode::kCore ? "core" : "message",
                     o.tls.enabled ? (o.tls.requireClientCert ? ", mutual TLS" : ", TLS") : "");
}

std::uint16_t HttpSource::port() const {
  return core_->boundPort;
}

std::size_t HttpSource::connectionCount() const {
  std::lock_guard lock(core_->mutex);
  return core_->sessions.size();
}

SourceFactory httpSourceFactory() {
  return SourceFactory{
      "http", kSourceKeys,
      "HTTP(S) POST of HL7 v2, X12 or JSON messages, or of CAQH CORE envelopes answered in real "
      "time",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Source> {
        HttpSourceOptions o;
        o.name = r.section().name;
        if (!config::parseHostPort(r.string("listen"), o.host, o.port) && r.has("listen")) {
          r.fail("listen", "must be \"host:port\"");
        }
        o.tls = readTls(r, ctx.configDir, true);
        o.path = r.string("path", o.path);
        if (o.path.empty() || o.path.front() != '/' ||
            o.path.find_first_of("?# \t\r\n") != std::string::npos) {
          r.fail("path", "must start with '/' and hold no '?', '#' or white space");
        }
        const std::string mode = r.string("mode", "message");
        if (mode == "core") {
          o.mode = SourceMode::kCore;
        } else if (mode != "message") {
          r.fail("mode", fmt::format("must be \"message\" or \"core\", got \"{}\"", mode));
        }
        o.maxBodyBytes = static_cast<std::size_t>(
            r.integer("max_body_bytes", 16 << 20, 1, std::int64_t{1} << 30));
        o.headerTimeout = seconds(r.number("header_timeout", 10, 0.01, 3600));
        o.readTimeout = seconds(r.number("read_timeout", 30, 0.01, 3600));
        o.idleTimeout = seconds(r.number("idle_timeout", 60, 0.01, 86400));
        o.maxConnections = static_cast<std::size_t>(r.integer("max_connections", 256, 1, 100000));

        o.bearerToken = r.string("bearer_token");
        const bool hasBasic = r.has("basic_auth");
        if (hasBasic) {
          const config::Reader auth = r.child("basic_auth", kBasicAuthKeys);
          o.user = auth.string("user");
          o.password = auth.string("password");
          if (o.user.empty() || o.user.find(':') != std::string::npos) {
            r.fail("basic_auth", "user must be set and hold no ':'");
          }
          if (o.password.empty()) r.fail("basic_auth", "password must be set");
        }
        if (r.has("bearer_token") && o.bearerToken.empty()) {
          r.fail("bearer_token", "must not be empty");
        }
        if (hasBasic && r.has("bearer_token")) {
          r.fail("basic_auth", "cannot be used together with bearer_token");
        }
        const std::string auth = r.string("auth");
        if (auth.empty()) {
          if (hasBasic) {
            o.auth = SourceAuth::kBasic;
          } else if (r.has("bearer_token")) {
            o.auth = SourceAuth::kBearer;
          } else {
            r.fail("auth",
                   "no credentials: set basic_auth or bearer_token, or say who may post: "
                   "auth = \"client_cert\" (with tls.require_client_cert) or auth = \"none\"");
          }
        } else if (auth == "basic") {
          o.auth = SourceAuth::kBasic;
          if (!hasBasic) r.fail("auth", "\"basic\" needs basic_auth = { user, password }");
        } else if (auth == "bearer") {
          o.auth = SourceAuth::kBearer;
          if (!r.has("bearer_token")) r.fail("auth", "\"bearer\" needs bearer_token");
        } else if (auth == "client_cert" || auth == "none") {
          o.auth = auth == "none" ? SourceAuth::kNone : SourceAuth::kClientCert;
          if (o.auth == SourceAuth::kClientCert && !o.tls.requireClientCert) {
            r.fail("auth", "\"client_cert\" needs tls = { require_client_cert = true, ... }");
          }
          if (hasBasic || r.has("bearer_token")) {
            r.fail("auth", fmt::format("\"{}\" takes no basic_auth or bearer_token", auth));
          }
        } else {
          r.fail("auth", fmt::format("must be \"basic\", \"bearer\", \"client_cert\" or \"none\", "
                                     "got \"{}\"",
                                     auth));
        }

        o.replyFrom = r.string("reply_from");
        if (r.has("reply_from") && o.replyFrom.empty()) r.fail("reply_from", "must not be empty");
        o.replyTimeout = std::chrono::milliseconds(r.integer("reply_timeout_ms", 20000, 1, 600000));
        if (o.mode != SourceMode::kCore) {
          for (const std::string_view key : {"reply_from", "reply_timeout_ms"}) {
            if (r.has(key)) r.fail(key, "is for mode = \"core\"");
          }
        }
        if (!ctx.io || !ctx.sink) return nullptr;  // only checking
        return std::make_unique<HttpSource>(std::move(o), *ctx.sink, *ctx.io);
      }};
}

}  // namespace sb::channels::http
