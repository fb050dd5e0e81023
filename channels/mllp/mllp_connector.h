// The MLLP connector as the engine sees it: a listener that feeds HL7 ingest, and a sender that
// waits for the peer's ACK and maps AA/AE/AR to OK/RETRY/ERROR as configured.
#pragma once

#include "channels/common/connector.h"
#include "channels/mllp/mllp.h"

namespace sb::channels::mllp_connector {

SourceFactory mllpSourceFactory();
SenderFactory mllpSenderFactory();

// What the sender does with a negative ACK.
enum class NakPolicy { kRetry, kDead, kAccept };

struct MllpSenderOptions {
  mllp::ClientOptions client;
  NakPolicy onAe = NakPolicy::kRetry;
  NakPolicy onAr = NakPolicy::kDead;
};

// What the peer's answer to one message means for the delivery: AA/CA OK; AE/CE as on_ae says,
// AR/CR as on_ar says (retry, dead, or accept as delivered); another code, or an answer that is
// not an HL7 ACK, RETRY. The answer is kept as the response. Pure: the sender calls it on each
// answer and `switchboard test` on mocked ones.
struct AckVerdict {
  SendResult result;
  bool notAnAck = false;  // the sender then closes the connection: the stream may be out of step
};
AckVerdict classifyAck(const MllpSenderOptions& options, std::string ack);

class MllpSender final : public Sender {
 public:
  explicit MllpSender(MllpSenderOptions options);
  SendResult send(const store::QueueItem& item) override;
  const MllpSenderOptions& options() const { return options_; }

 private:
  MllpSenderOptions options_;
  mllp::Client client_;
};

}  // namespace sb::channels::mllp_connector
