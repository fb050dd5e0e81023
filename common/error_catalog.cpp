#include "common/error_catalog.h"

#include <array>

namespace sb {
namespace {

// HL7 table 0357: 0 accepted, 100 segment sequence, 101 required field missing, 102 data type,
// 103 table value not found, 200 unsupported message type, 201 unsupported event code,
// 202 unsupported processing id, 203 unsupported version id, 206 application record locked,
// 207 application internal error.
constexpr std::array kCatalog = {
    ErrorInfo{ErrorCode::kOk, "SB-000", "AA", 0, 200, "accepted"},
    ErrorInfo{ErrorCode::kHl7NoMsh, "SB-101", "AR", 100, 400, "message does not start with MSH"},
    ErrorInfo{ErrorCode::kHl7BadEncodingChars, "SB-102", "AR", 102, 400,
              "MSH-1/MSH-2 encoding characters are unusable"},
    ErrorInfo{ErrorCode::kHl7RequiredFieldMissing, "SB-103", "AE", 101, 400,
              "required field missing"},
    ErrorInfo{ErrorCode::kHl7SegmentSequence, "SB-104", "AE", 100, 400, "segment sequence error"},
    ErrorInfo{ErrorCode::kHl7DataType, "SB-105", "AE", 102, 400, "data type error"},
    ErrorInfo{ErrorCode::kHl7UnsupportedVersion, "SB-106", "AR", 203, 400,
              "unsupported version id"},
    ErrorInfo{ErrorCode::kHl7BatchCountMismatch, "SB-107", "AE", 100, 400,
              "batch trailer count does not match"},
    ErrorInfo{ErrorCode::kHl7UnsupportedMessageType, "SB-108", "AR", 200, 400,
              "unsupported message type"},
    ErrorInfo{ErrorCode::kHl7BadPath, "SB-109", "AE", 207, 400, "invalid HL7 path"},
    ErrorInfo{ErrorCode::kMllpFrameTooLarge, "SB-201", "AR", 207, 413,
              "MLLP frame exceeds the configured maximum size"},
    ErrorInfo{ErrorCode::kMllpJunkBetweenFrames, "SB-202", "AR", 207, 400,
              "bytes outside an MLLP frame"},
    ErrorInfo{ErrorCode::kMllpTruncatedFrame, "SB-203", "AR", 207, 400,
              "MLLP frame truncated by the peer"},
    ErrorInfo{ErrorCode::kTransportTimeout, "SB-204", "AE", 207, 408, "transport timeout"},
    ErrorInfo{ErrorCode::kTransportTls, "SB-205", "AE", 207, 400, "TLS handshake failed"},
    ErrorInfo{ErrorCode::kTransportConnect, "SB-206", "AE", 207, 502, "cannot connect to peer"},
    ErrorInfo{ErrorCode::kStoreCommitFailed, "SB-301", "AE", 207, 503,
              "message store commit failed"},
    ErrorInfo{ErrorCode::kStoreNotFound, "SB-302", "AE", 207, 404, "message not found"},
    ErrorInfo{ErrorCode::kStoreMigration, "SB-303", "AE", 207, 500, "store migration failed"},
    ErrorInfo{ErrorCode::kConfigInvalid, "SB-401", "AE", 207, 500, "configuration invalid"},
    ErrorInfo{ErrorCode::kScriptError, "SB-402", "AE", 207, 500, "script error"},
    ErrorInfo{ErrorCode::kDeliveryRejected, "SB-501", "AE", 207, 502,
              "destination rejected the message"},
    ErrorInfo{ErrorCode::kDeliveryFailed, "SB-502", "AE", 207, 502, "delivery attempt failed"},
    ErrorInfo{ErrorCode::kDeliveryDeadLetter, "SB-503", "AE", 207, 502,
              "delivery attempts exhausted; dead-lettered"},
    ErrorInfo{ErrorCode::kX12NoInterchange, "SB-601", "AR", 207, 400,
              "X12 input has no usable ISA interchange header"},
    ErrorInfo{ErrorCode::kX12InterchangeRejected, "SB-602", "AR", 207, 400,
              "X12 interchange envelope rejected (TA1 R)"},
    ErrorInfo{ErrorCode::kX12SetsRejected, "SB-603", "AR", 207, 400,
              "X12 transaction sets rejected (999 R)"},
    ErrorInfo{ErrorCode::kX12PartiallyAccepted, "SB-604", "AE", 207, 200,
              "X12 functional group partially accepted (999 P)"},
    ErrorInfo{ErrorCode::kX12TooLarge, "SB-605", "AR", 207, 413,
              "X12 input exceeds the size limit"},
    ErrorInfo{ErrorCode::kX12Unbalanced, "SB-606", "AE", 207, 422,
              "835 remittance does not balance"},
    ErrorInfo{ErrorCode::kInternal, "SB-900", "AE", 207, 500, "internal error"},
};

}  // namespace

const ErrorInfo& errorInfo(ErrorCode code) {
  for (const auto& e : kCatalog) {
    if (e.code == code) return e;
  }
  return kCatalog.back();
}

}  // namespace sb
