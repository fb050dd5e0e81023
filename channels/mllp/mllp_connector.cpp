#include "channels/mllp/mllp_connector.h"

#include <array>

#include <fmt/format.h>

#include "channels/common/hl7_ingest.h"
#include "channels/common/tls_config.h"
#include "common/log.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::channels::mllp_connector {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kSourceKeys = {
    KeySpec{"listen", ValueType::kString, true, "", "address to listen on, \"host:port\""},
    KeySpec{"tls", ValueType::kTable, false, "off", "TLS / mutual TLS, see TLS"},
    KeySpec{"max_message_bytes", ValueType::kInteger, false, "16777216",
            "larger frames are answered AR and kept truncated"},
    KeySpec{"idle_timeout", ValueType::kNumber, false, "600",
            "seconds without any byte before the connection is closed"},
    KeySpec{"read_timeout", ValueType::kNumber, false, "30",
            "seconds a started frame may take to finish"},
    KeySpec{"max_connections", ValueType::kInteger, false, "1024",
            "connections beyond this are refused"},
};

constexpr std::array kSenderKeys = {
    KeySpec{"connect", ValueType::kString, true, "", "peer address, \"host:port\""},
    KeySpec{"tls", ValueType::kTable, false, "off", "TLS / mutual TLS, see TLS"},
    KeySpec{"connect_timeout", ValueType::kNumber, false, "10", "seconds"},
    KeySpec{"response_timeout", ValueType::kNumber, false, "30",
            "seconds to wait for the ACK; a timeout is retried"},
    KeySpec{"on_ae", ValueType::kString, false, "retry",
            "what an AE/CE answer means: \"retry\", \"dead\" or \"accept\""},
    KeySpec{"on_ar", ValueType::kString, false, "dead",
            "what an AR/CR answer means: \"retry\", \"dead\" or \"accept\""},
    KeySpec{"max_message_bytes", ValueType::kInteger, false, "16777216",
            "largest ACK accepted from the peer"},
};

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

class MllpSource final : public Source, public mllp::MessageHandler {
 public:
  MllpSource(mllp::ListenerOptions options, const BuildContext& ctx)
      : options_(std::move(options)), io_(ctx.io), ingest_(options_.name, *ctx.sink) {}

  void start() override {
    listener_ = std::make_unique<mllp::Listener>(*io_, options_, *this);
    listener_->start();
  }
  void stop() override {
    if (listener_) listener_->stop();
  }
  std::string describe() const override {
    return fmt::format(
        "mllp {}:{}{}", options_.host, listener_ ? listener_->port() : options_.port,
        options_.tls.enabled ? (options_.tls.requireClientCert ? " (mutual TLS)" : " (TLS)") : "");
  }

  void onMessage(const mllp::ConnectionInfo& conn, std::string payload,
                 mllp::Reply reply) override {
    ingest_.accept(conn.peer, std::move(payload), std::move(reply));
  }
  void onOversized(const mllp::ConnectionInfo& conn, std::string prefix, std::size_t totalBytes,
                   mllp::Reply reply) override {
    ingest_.acceptOversized(conn.peer, std::move(prefix), totalBytes, std::move(reply));
  }
  void onTruncated(const mllp::ConnectionInfo& conn, std::string partial) override {
    ingest_.keepTruncated(conn.peer, std::move(partial));
  }

 private:
  mllp::ListenerOptions options_;
  boost::asio::io_context* io_;
  Hl7Ingest ingest_;
  std::unique_ptr<mllp::Listener> listener_;
};

NakPolicy readPolicy(const config::Reader& r, std::string_view key, NakPolicy fallback) {
  const std::string v = r.string(key);
  if (v.empty()) return fallback;
  if (v == "retry") return NakPolicy::kRetry;
  if (v == "dead") return NakPolicy::kDead;
  if (v == "accept") return NakPolicy::kAccept;
  r.fail(key, fmt::format("must be \"retry\", \"dead\" or \"accept\", got \"{}\"", v));
  return fallback;
}

SendResult applyPolicy(NakPolicy policy, std::string error, std::string ack) {
  switch (policy) {
    case NakPolicy::kRetry:
      return SendResult::retry(std::move(error), std::move(ack));
    case NakPolicy::kDead:
      return SendResult::fail(std::move(error), std::move(ack));
    case NakPolicy::kAccept:
      return SendResult::ok(std::move(ack));
  }
  return SendResult::fail(std::move(error), std::move(ack));
}

}  // namespace

MllpSender::MllpSender(MllpSenderOptions options)
    : options_(std::move(options)), client_(options_.client) {}

SendResult MllpSender::send(const store::QueueItem& item) {
  std::string ack;
  try {
    ack = client_.exchange(item.payload);
  } catch (const mllp::TransportError& e) {
    client_.close();
    return SendResult::retry(fmt::format("{} {}", errorInfo(e.code).id, e.what()));
  }
  AckVerdict verdict = classifyAck(options_, std::move(ack));
  if (verdict.notAnAck) client_.close();  // the stream may be out of step with our frames
  return std::move(verdict.result);
}

AckVerdict classifyAck(const MllpSenderOptions& options, std::string ack) {
  const auto summary = hl7::readAck(ack);
  if (!summary) {
    return {SendResult::retry("peer answered something that is not an HL7 ACK", std::move(ack)),
            true};
  }
  if (summary->code == "AA" || summary->code == "CA") return {SendResult::ok(std::move(ack))};
  const std::string error = fmt::format("peer answered {}{}{}", summary->code,
                                        summary->text.empty() ? "" : ": ", summary->text);
  if (summary->code == "AE" || summary->code == "CE") {
    return {applyPolicy(options.onAe, error, std::move(ack))};
  }
  if (summary->code == "AR" || summary->code == "CR") {
    return {applyPolicy(options.onAr, error, std::move(ack))};
  }
  return {SendResult::retry(fmt::format("unknown acknowledgment code '{}'", summary->code),
                            std::move(ack))};
}

SourceFactory mllpSourceFactory() {
  return SourceFactory{
      "mllp", kSourceKeys, "HL7 v2 over MLLP (TCP, TLS, mutual TLS)",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Source> {
        mllp::ListenerOptions o;
        o.name = r.section().name;
        if (!config::parseHostPort(r.string("listen"), o.host, o.port) && r.has("listen")) {
          r.fail("listen", "must be \"host:port\"");
        }
        o.tls = readTls(r, ctx.configDir, true);
        o.maxMessageBytes = static_cast<std::size_t>(
            r.integer("max_message_bytes", 16 << 20, 256, std::int64_t{1} << 30));
        o.idleTimeout = seconds(r.number("idle_timeout", 600, 0.01, 86400));
        o.readTimeout = seconds(r.number("read_timeout", 30, 0.01, 3600));
        o.maxConnections = static_cast<std::size_t>(r.integer("max_connections", 1024, 1, 100000));
        if (!ctx.io || !ctx.sink) return nullptr;  // only checking
        return std::make_unique<MllpSource>(std::move(o), ctx);
      }};
}

SenderFactory mllpSenderFactory() {
  return SenderFactory{
      "mllp", kSenderKeys, "HL7 v2 over MLLP; waits for the ACK",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Sender> {
        MllpSenderOptions o;
        if (!config::parseHostPort(r.string("connect"), o.client.host, o.client.port) &&
            r.has("connect")) {
          r.fail("connect", "must be \"host:port\"");
        }
        o.client.tls = readTls(r, ctx.configDir, false);
        o.client.connectTimeout = seconds(r.number("connect_timeout", 10, 0.01, 600));
        o.client.responseTimeout = seconds(r.number("response_timeout", 30, 0.01, 3600));
        o.client.maxMessageBytes = static_cast<std::size_t>(
            r.integer("max_message_bytes", 16 << 20, 256, std::int64_t{1} << 30));
        o.onAe = readPolicy(r, "on_ae", NakPolicy::kRetry);
        o.onAr = readPolicy(r, "on_ar", NakPolicy::kDead);
        return std::make_unique<MllpSender>(std::move(o));
      }};
}

}  // namespace sb::channels::mllp_connector
