// HL7 v2 ingest shared by every listener that receives HL7 (MLLP today, HTTP later):
// parse, decide the acknowledgement, commit the raw bytes, and only then answer.
// Rejected input is committed too (status rejected) so people can see and reprocess it.
#pragma once

#include <functional>
#include <string>

#include "channels/common/connector.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::channels {

class Hl7Ingest {
 public:
  using Answer = std::function<void(std::string ack)>;  // "" = send nothing (MSH-15 NE etc.)

  Hl7Ingest(std::string channel, IngestSink& sink);

  // One framed payload: a message, or a batch (FHS/BHS ... BTS/FTS) whose messages are committed
  // one by one and answered with one batch of ACKs.
  void accept(const std::string& peer, std::string payload, Answer answer);
  // A frame over the size limit: its prefix is kept as a rejected message and answered AR.
  void acceptOversized(const std::string& peer, std::string prefix, std::size_t totalBytes,
                       Answer answer);
  // A frame the peer never finished: kept as a rejected message; nobody to answer.
  void keepTruncated(const std::string& peer, std::string partial);

  // What would be answered for this payload, without committing (`switchboard parse --validate`).
  struct Verdict {
    store::InboundRecord record;
    std::vector<hl7::Finding> findings;
    std::string ack;      // as it would be sent on success of the commit
    std::string failAck;  // sent when the commit fails: AR/CR with 207, so the sender resends
    bool accepted = false;
    bool parsed = false;  // the payload parsed as HL7 (it may still have been rejected)
  };
  static Verdict evaluate(const std::string& channel, std::string payload);

 private:
  // withFailAck = false leaves Verdict::failAck empty: ingest builds it only when a commit fails.
  static Verdict evaluate(const std::string& channel, std::string payload, bool withFailAck);
  // What to answer when the commit fails: the ACK itself, or (fromHeader) the inbound's MSH
  // segment from which the failure ACK is built on demand.
  struct FailAck {
    std::string text;
    bool fromHeader = false;
    bool parsed = false;  // with fromHeader: the whole payload parsed (buildAck, not reject)
  };
  void commit(store::InboundRecord record, std::string ackOnSuccess, FailAck onFailure,
              Answer answer);
  std::string channel_;
  IngestSink& sink_;
};

}  // namespace sb::channels
