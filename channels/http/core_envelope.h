// The CAQH CORE connectivity envelope (Phase II CORE 270 Connectivity Rule, vC2.2.0, and the
// later 3.0.0 / 4.0.0 rules) in its HTTP MIME multipart form: a multipart/form-data body with one
// part per envelope field (PayloadType, ProcessingMode, PayloadID, TimeStamp, SenderID,
// ReceiverID, CORERuleVersion, Payload, ...), which is how eligibility (270/271) and claim status
// (276/277) requests travel to and from payers and clearinghouses.
//
// Pure: no I/O. The HTTP sender posts what encodeMultipart builds, and a listener hands the body
// it received to parseMultipart, which either yields the fields or names the CORE ErrorCode to
// answer with.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sb::channels::core {

// ProcessingMode values.
inline constexpr std::string_view kRealTime = "RealTime";
inline constexpr std::string_view kBatch = "Batch";

// PayloadType of a response that reports an envelope error instead of carrying a payload.
inline constexpr std::string_view kCoreEnvelopeError = "CoreEnvelopeError";

// ErrorCode values a receiver answers with (the ErrorCode field of a response). parseMultipart
// returns the one matching what is wrong with a request; kSuccess goes in a good response.
namespace error {
inline constexpr std::string_view kSuccess = "Success";
inline constexpr std::string_view kPayloadTypeRequired = "PayloadTypeRequired";
inline constexpr std::string_view kPayloadTypeIllegal = "PayloadTypeIllegal";
inline constexpr std::string_view kProcessingModeRequired = "ProcessingModeRequired";
inline constexpr std::string_view kProcessingModeIllegal = "ProcessingModeIllegal";
inline constexpr std::string_view kPayloadIdRequired = "PayloadIDRequired";
inline constexpr std::string_view kPayloadIdIllegal = "PayloadIDIllegal";
inline constexpr std::string_view kTimeStampRequired = "TimeStampRequired";
inline constexpr std::string_view kTimeStampIllegal = "TimeStampIllegal";
inline constexpr std::string_view kSenderIdRequired = "SenderIDRequired";
inline constexpr std::string_view kReceiverIdRequired = "ReceiverIDRequired";
inline constexpr std::string_view kCoreRuleVersionRequired = "CORERuleVersionRequired";
// CORERuleVersion present but not one this codec speaks (2.2.0, 3.0.0, 4.0.0).
inline constexpr std::string_view kVersionMismatch = "VersionMismatch";
// Batch mode: PayloadLength and CheckSum (SHA-1 of the payload) missing or not matching it.
inline constexpr std::string_view kPayloadLengthRequired = "PayloadLengthRequired";
inline constexpr std::string_view kPayloadLengthIllegal = "PayloadLengthIllegal";
inline constexpr std::string_view kCheckSumRequired = "CheckSumRequired";
inline constexpr std::string_view kCheckSumIllegal = "CheckSumIllegal";
// Authentication failed (decided by the listener, never by the codec).
inline constexpr std::string_view kUnAuthorized = "UnAuthorized";
// The body is not a well-formed multipart/form-data envelope (or breaks a Limits bound).
inline constexpr std::string_view kEnvelopeError = "EnvelopeError";
}  // namespace error

struct Envelope {  // the CORE fields
  // e.g. "X12_270_Request_005010X279A1", "X12_271_Response_005010X279A1",
  // "X12_276_Request_005010X212", "X12_277_Response_005010X212", "X12_999_Response_005010X231A1",
  // "X12_005010_Request_Batch_Submission", "CoreEnvelopeError"
  std::string payloadType;
  std::string processingMode;  // "RealTime" or "Batch"
  std::string payloadId;       // UUID (newPayloadId)
  std::string timeStamp;       // xs:dateTime, "2007-08-30T10:20:34Z" (nowTimeStamp)
  std::string senderId, receiverId;
  std::string coreRuleVersion;  // "2.2.0" (3.0.0 and 4.0.0 are accepted too)
  std::string payload;          // the X12 interchange, bytes as they are
  // Responses only: the ErrorCode ("Success", or one of error::) and ErrorMessage fields.
  std::string errorCode, errorMessage;
  // Username/password authentication in the envelope itself (the rule's alternative to client
  // certificates); empty when the other side authenticates by certificate.
  std::string userName, password;
  // CheckSum (SHA-1 hex of payload) and PayloadLength are not kept here: the encoder computes
  // them in batch mode and the parser checks them against the payload.
};

// contentType is the whole Content-Type header value; it carries the boundary.
struct Encoded {
  std::string contentType;
  std::string body;
};

// multipart/form-data, one part per field (name="PayloadType" etc.), CRLF line ends, in the order
// of the rule's example: PayloadType, ProcessingMode, PayloadID, TimeStamp, UserName, Password,
// SenderID, ReceiverID, CORERuleVersion, ErrorCode, ErrorMessage, PayloadLength, CheckSum,
// Payload. UserName/Password only when set, ErrorCode/ErrorMessage only when errorCode is set,
// PayloadLength/CheckSum only in batch mode with a payload, Payload only when not empty. The
// boundary is random and chosen so that no field contains it. Throws std::runtime_error when
// the random generator fails.
Encoded encodeMultipart(const Envelope& envelope);

// Bounds on what parseMultipart accepts from a peer. Bodies are held in memory, so the body bound
// is also the memory bound (a batch 837 of a few thousand claims is some megabytes).
struct Limits {
  std::size_t maxBodyBytes = 64 * 1024 * 1024;
  std::size_t maxParts = 32;         // the rule has 14 fields; unknown ones are skipped but counted
  std::size_t maxFieldBytes = 4096;  // every field but Payload
  std::size_t maxHeaderBytes = 8192;  // the header lines of one part together
};

// On failure `envelope` is empty and errorCode names the CORE ErrorCode to answer with, and
// errorMessage says what was wrong (field names and short, sanitized values; never the payload).
struct ParseResult {
  std::optional<Envelope> envelope;
  std::string errorCode;
  std::string errorMessage;
  bool ok() const { return envelope.has_value(); }
};

// Parses a multipart/form-data body; the boundary comes from the Content-Type header value.
// Lenient where senders are known to differ and it cannot change meaning: LF as well as CRLF line
// ends, quoted or unquoted boundary, any case in header and field names, preamble and epilogue,
// whitespace around field values (except the payload, which is kept byte for byte), unknown
// fields (skipped). Strict where it matters: a field given twice, a part without a name, an
// encoding other than 7bit/8bit/binary, and a missing closing boundary are EnvelopeError;
// required fields and their formats map to their own ErrorCode, checked in the order PayloadType,
// ProcessingMode, PayloadID, TimeStamp, SenderID, ReceiverID, CORERuleVersion, then (batch mode
// with a payload) PayloadLength and CheckSum. ErrorCode/ErrorMessage, UserName/Password and
// Payload are optional here: whether a payload or credentials are needed depends on the
// PayloadType and the listener's configuration.
ParseResult parseMultipart(std::string_view contentType, std::string_view body,
                           const Limits& limits = {});

// An RFC 4122 version 4 (random) UUID from OpenSSL's RAND_bytes, lower case, for PayloadID.
// Throws std::runtime_error when the random generator fails.
std::string newPayloadId();

// The current UTC time as xs:dateTime with second precision: "2007-08-30T10:20:34Z".
std::string nowTimeStamp();

}  // namespace sb::channels::core
