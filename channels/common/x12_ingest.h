// X12 ingest shared by every listener that receives X12 (SFTP files, HTTP bodies, CORE
// envelopes): parse and validate, commit each interchange's raw bytes as one message, and only
// then hand back the acknowledgements (TA1 and/or 999) to send to the trading partner.
//
// An interchange whose envelope is broken (TA1 R), or whose transaction sets are all rejected,
// is committed with status `rejected` so people can see, search and reprocess it. A partially
// accepted interchange (999 AK9 P) is routed: routes see each set's `accepted` flag and the
// standard mappings skip rejected sets.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "channels/common/connector.h"
#include "parsers/x12/ack.h"
#include "parsers/x12/x12.h"

namespace sb::channels {

class X12Ingest {
 public:
  struct Result {
    bool committed = false;             // every interchange is durable
    std::string error;                  // why not (no PHI)
    std::vector<std::string> acks;      // one acknowledgement interchange per inbound interchange
    std::vector<bool> acksWith999;      // per ack: it carries a 999 (else it is a TA1 alone)
    std::vector<store::MessageId> ids;  // committed messages, in order
  };
  using Done = std::function<void(Result)>;

  X12Ingest(std::string channel, IngestSink& sink, x12::Limits limits = {});

  // `done` runs once (on the store's commit thread or the caller's): never blocks in it.
  void accept(const std::string& peer, std::string payload, Done done);

  // Without committing: the records and the acknowledgements as they would be sent, with fixed
  // control numbers (`switchboard parse --validate`).
  struct Verdict {
    std::vector<store::InboundRecord> records;
    std::vector<std::string> acks;
    std::vector<bool> acksWith999;  // as in Result
    bool accepted = false;          // every interchange accepted and every set accepted
  };
  static Verdict evaluate(const std::string& channel, const x12::Document& validated,
                          const x12::AckNumbers& numbers, const x12::AckOptions& options = {});
  // The same with the control numbers of each acknowledgement from `numbering`, asked once per
  // interchange that is answered (accept() reserves them in the store there).
  using AckNumbering =
      std::function<x12::AckNumbers(std::size_t interchange, const x12::AckPlan& plan)>;
  static Verdict evaluate(const std::string& channel, const x12::Document& validated,
                          const AckNumbering& numbering, const x12::AckOptions& options = {});

 private:
  std::string channel_;
  IngestSink& sink_;
  x12::Limits limits_;
};

// The trading partner key for control numbers: "ISA05:ISA06" of the inbound interchange.
std::string x12PartnerKey(const x12::Interchange& ic);

}  // namespace sb::channels
