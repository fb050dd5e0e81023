// One error catalog for the whole engine. Each entry has a stable code that operators can
// search for, and its protocol answers: the HL7 ACK code and table-0357 error code, and the
// HTTP status. Codes are never renumbered; retired codes are left in place.
#pragma once

#include <cstdint>
#include <string_view>

namespace sb {

enum class ErrorCode : std::uint16_t {
  kOk = 0,
  // HL7 v2 input (1xx)
  kHl7NoMsh = 101,             // message does not start with MSH
  kHl7BadEncodingChars = 102,  // MSH-1/MSH-2 unusable
  kHl7RequiredFieldMissing = 103,
  kHl7SegmentSequence = 104,
  kHl7DataType = 105,
  kHl7UnsupportedVersion = 106,
  kHl7BatchCountMismatch = 107,
  kHl7UnsupportedMessageType = 108,
  kHl7BadPath = 109,
  // Framing and transport (2xx)
  kMllpFrameTooLarge = 201,
  kMllpJunkBetweenFrames = 202,
  kMllpTruncatedFrame = 203,
  kTransportTimeout = 204,
  kTransportTls = 205,
  kTransportConnect = 206,
  // Store (3xx)
  kStoreCommitFailed = 301,
  kStoreNotFound = 302,
  kStoreMigration = 303,
  // Config and scripts (4xx)
  kConfigInvalid = 401,
  kScriptError = 402,
  // Delivery (5xx)
  kDeliveryRejected = 501,    // peer answered AE/AR or a permanent error
  kDeliveryFailed = 502,      // transient failure, retried
  kDeliveryDeadLetter = 503,  // attempts exhausted
  // X12 input (6xx); the TA1/999 code of each finding is carried by the finding itself.
  kX12NoInterchange = 601,        // no usable ISA: nothing to acknowledge
  kX12InterchangeRejected = 602,  // TA1 R: the envelope is broken
  kX12SetsRejected = 603,         // 999 IK5 R for every transaction set
  kX12PartiallyAccepted = 604,    // 999 AK9 P: some sets rejected (the accepted ones are routed)
  kX12TooLarge = 605,
  kX12Unbalanced = 606,  // 835: BPR02 differs from the claims less the provider adjustments
  kInternal = 900,
};

struct ErrorInfo {
  ErrorCode code;
  std::string_view id;          // stable text id, e.g. "SB-101"
  std::string_view hl7AckCode;  // "AE" or "AR" (original mode) for inbound rejections
  int hl7ErrorCode;             // HL7 table 0357
  int httpStatus;
  std::string_view summary;
};

// Looks up a code; unknown codes map to kInternal's entry (a broken invariant, never peer input).
const ErrorInfo& errorInfo(ErrorCode code);

}  // namespace sb
