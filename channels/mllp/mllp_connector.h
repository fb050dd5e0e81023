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

class MllpSender final : public Sender {
 public:
  explicit MllpSender(MllpSenderOptions options);
  SendResult send(const store::QueueItem& item) override;

 private:
  MllpSenderOptions options_;
  mllp::Client client_;
};

}  // namespace sb::channels::mllp_connector
