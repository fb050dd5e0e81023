// MLLP (Minimal Lower Layer Protocol) over TCP, optionally TLS / mutual TLS: a listener for the
// engine and a blocking client for the MLLP sender and `switchboard send`.
// Framing: 0x0B <payload> 0x1C 0x0D.
//
// CONTRACT for engine/ and tests: the declarations below stay; details may be added.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/error_catalog.h"

namespace sb::mllp {

inline constexpr char kStartBlock = 0x0B;
inline constexpr char kEndBlock = 0x1C;
inline constexpr char kCarriageReturn = 0x0D;

// Wraps a payload in an MLLP frame.
std::string frame(std::string_view payload);

// Incremental, pure frame decoder: feed bytes as they arrive, get complete frames and protocol
// events. Bytes outside a frame are reported as junk and skipped. A frame over the maximum is
// reported once (with its first maxFrameBytes bytes kept) and its remaining bytes discarded up
// to its end block.
// Details: a frame ends at its 0x1C end block and is reported at once, so a sender that omits
// the trailing 0x0D still gets an answer; one 0x0D right after 0x1C is consumed as part of the
// trailer and any other byte there is treated as the next byte outside a frame. A 0x0B inside a
// frame is payload data. Junk is reported when the next frame starts or at the end of each
// feed(), so a long run of junk split over several feeds is reported in several events.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t maxFrameBytes);
  struct Event {
    enum class Kind { kFrame, kJunk, kOversized } kind;
    std::string bytes;            // the payload, the junk, or the kept prefix of an oversized frame
    std::size_t totalBytes = 0;   // for kOversized: the full size once its end was seen
  };
  // Appends events to `out`.
  void feed(std::string_view data, std::vector<Event>& out);
  bool inFrame() const;               // a frame has started and not ended
  std::size_t bufferedBytes() const;  // bytes of the unfinished frame
  std::string takePartial();          // the unfinished frame's bytes (for a truncated frame)

 private:
  std::size_t maxFrameBytes_;
  // kAfterEnd: a frame has just ended at 0x1C; a following 0x0D belongs to its trailer.
  enum class State { kOutside, kInside, kAfterEnd, kDiscarding } state_ = State::kOutside;
  std::string buffer_;         // the frame so far (kInside) or the kept prefix (kDiscarding)
  std::string junk_;           // junk seen in the current feed()
  std::size_t discarded_ = 0;  // kDiscarding: payload bytes seen beyond the kept prefix
};

struct TlsOptions {
  bool enabled = false;
  std::string certFile;         // PEM: our certificate (chain)
  std::string keyFile;          // PEM: our private key
  std::string caFile;           // PEM: CAs to verify the peer (client certs / server cert)
  bool requireClientCert = false;  // listener: mutual TLS
  bool verifyPeer = true;          // client: verify the server certificate against caFile
  std::string serverName;          // client: SNI and host name check (defaults to host)
};

struct ListenerOptions {
  std::string name;  // the channel name, for logs
  std::string host = "127.0.0.1";
  std::uint16_t port = 2575;  // 0 = pick a free port (see Listener::port())
  TlsOptions tls;
  std::size_t maxMessageBytes = 16 * 1024 * 1024;
  std::chrono::milliseconds idleTimeout{std::chrono::minutes(10)};  // no bytes at all
  std::chrono::milliseconds readTimeout{std::chrono::seconds(30)};  // a started frame must end
  std::chrono::milliseconds writeTimeout{std::chrono::seconds(30)};
  std::size_t maxConnections = 1024;
  std::size_t maxInFlightPerConnection = 64;  // pipelined frames awaiting their reply
};

struct ConnectionInfo {
  std::uint64_t id = 0;
  std::string peer;  // "ip:port"
  std::string clientCertSubject;  // with mutual TLS
};

// Called with the bytes to send back (not yet framed); an empty string sends nothing.
// May be called from any thread, exactly once per message. Replies on one connection are
// written in the order the messages arrived.
using Reply = std::function<void(std::string reply)>;

class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  // One complete frame.
  virtual void onMessage(const ConnectionInfo& conn, std::string payload, Reply reply) = 0;
  // A frame larger than maxMessageBytes: `prefix` is its first maxMessageBytes bytes.
  virtual void onOversized(const ConnectionInfo& conn, std::string prefix, std::size_t totalBytes,
                           Reply reply) = 0;
  // The connection ended (peer close or read timeout) in the middle of a frame.
  virtual void onTruncated(const ConnectionInfo& conn, std::string partial) = 0;
};

class Listener {
 public:
  // Binds immediately (throws std::runtime_error with the reason on failure); accepting starts
  // with start(). The io_context is run by the caller's threads.
  Listener(boost::asio::io_context& io, ListenerOptions options, MessageHandler& handler);
  ~Listener();
  void start();
  void stop();  // stops accepting and closes connections
  // stop() (also run by the destructor) returns only when no MessageHandler callback is running
  // on another thread and none will start, so the handler may be destroyed after it; it may be
  // called from inside a callback. Replies still arriving afterwards are dropped.
  std::uint16_t port() const;
  std::size_t connectionCount() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 2575;
  TlsOptions tls;
  std::chrono::milliseconds connectTimeout{std::chrono::seconds(10)};
  std::chrono::milliseconds responseTimeout{std::chrono::seconds(30)};
  std::size_t maxMessageBytes = 16 * 1024 * 1024;
};

struct TransportError : std::runtime_error {
  TransportError(ErrorCode code, const std::string& what) : std::runtime_error(what), code(code) {}
  ErrorCode code;
};

// Blocking client with its own io_context; connects lazily and reconnects after an error.
class Client {
 public:
  // Unreadable TLS files throw TransportError(kTransportTls).
  explicit Client(ClientOptions options);
  ~Client();
  // Sends one framed message and waits for one framed reply. Throws TransportError. Frames the
  // peer sent before this request are dropped: they cannot be the answer to it. After any error
  // the connection is closed and the next call reconnects. An oversized reply throws with
  // kMllpFrameTooLarge, a reply cut off by the peer's close with kMllpTruncatedFrame.
  std::string exchange(std::string_view payload);
  void sendOnly(std::string_view payload);  // frame and write, no reply expected
  std::string receive();                    // wait for one frame
  void close();
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb::mllp
