// What a listener would make of one payload, by its format: HL7 v2 (MSH...), X12 (ISA...) or
// canonical JSON ({"resourceType": ...}). Used by `switchboard try` and `switchboard test`, which
// show what would be committed and answered without a store.
#pragma once

#include <string>
#include <vector>

#include "store/message_store.h"

namespace sb::channels {

enum class PayloadFormat { kHl7v2, kX12, kJson };

// X12 when the payload starts with an ISA (or GS/ST: a broken X12 file), JSON when it starts
// with '{' or '[', HL7 v2 otherwise. Leading white space and a UTF-8 BOM are skipped.
PayloadFormat detectFormat(std::string_view payload);

struct InboundVerdict {
  std::vector<store::InboundRecord> records;  // one per message (X12: per interchange)
  std::string answer;  // the ACK / TA1 and 999s the sender would get ("" for JSON)
  bool accepted = false;
};

// `payload` as the sender sends it (HL7 with CR segment ends).
InboundVerdict evaluateInbound(const std::string& channel, const std::string& payload);

// A canonical JSON document as a message: type = resourceType, control id = id.
store::InboundRecord jsonRecord(const std::string& channel, std::string payload);

}  // namespace sb::channels
