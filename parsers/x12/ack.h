// Acknowledgements for inbound X12: TA1 for the interchange envelope, 999 (005010X231A1) for
// functional groups and transaction sets. The findings of Document::validate() decide them.
#pragma once

#include <cstdint>
#include <string>

#include "parsers/x12/x12.h"

namespace sb::x12 {

// Control numbers of the outbound acknowledgement interchange. The engine reserves them from the
// store per trading partner; tests and `switchboard parse --validate` use fixed ones.
struct AckNumbers {
  std::int64_t interchange = 1;  // ISA13
  std::int64_t group = 1;        // GS06
  std::int64_t firstSet = 1;     // ST02 of the first 999; the next ones follow
};

struct AckOptions {
  std::string date8;             // CCYYMMDD for GS04 (ISA09 takes its last 6); empty = now (UTC)
  std::string time4;             // HHMM; empty = now (UTC)
  bool ta1WhenRequested = true;  // send TA1 "A" when ISA14 = 1 and the envelope is fine
};

struct AckPlan {
  bool interchangeRejected = false;  // a TA1 with R: the interchange is not processed at all
  std::string ta1Code;               // TA105 ("000" when accepted)
  char ta1Status = 'A';              // TA104
  bool sendTa1 = false;
  int groups = 0;  // 999 transaction sets to send (one per inbound group)
  int acceptedSets = 0, rejectedSets = 0;
};

// What would be answered for interchange `index` of a validated document.
AckPlan planAck(const Document& doc, std::size_t index, const AckOptions& options = {});

// The acknowledgement interchange for interchange `index`: TA1 and/or one 999 per functional
// group (acknowledgements themselves, GS01 = FA, are not acknowledged). Sender and receiver are
// swapped from the inbound ISA/GS; the inbound delimiters are reused. Empty when nothing is due.
std::string buildAcknowledgement(const Document& doc, std::size_t index, const AckNumbers& numbers,
                                 const AckOptions& options = {});

// How many 999 transaction sets buildAcknowledgement writes (to reserve ST02 numbers).
int ackSetCount(const Document& doc, std::size_t index);

}  // namespace sb::x12
