#include "core_test_peer.h"

#include "channels/http/core_envelope.h"

namespace sb::test {

namespace core = sb::channels::core;

CoreRequest coreRequest(const std::string& payload, const std::string& processingMode,
                        const std::string& payloadType) {
  core::Envelope e;
  e.payloadType = payloadType;
  e.processingMode = processingMode;
  e.payloadId = core::newPayloadId();
  e.timeStamp = core::nowTimeStamp();
  e.senderId = "CLINIC";
  e.receiverId = "SWITCHBOARD";
  e.coreRuleVersion = "2.2.0";
  e.payload = payload;
  core::Encoded encoded = core::encodeMultipart(e);
  CoreRequest out;
  out.contentType = std::move(encoded.contentType);
  out.body = std::move(encoded.body);
  out.payloadId = e.payloadId;
  return out;
}

std::function<ScriptedResponse(const RecordedRequest&)> corePayer(std::string payloadType,
                                                                  std::string payload) {
  return [payloadType = std::move(payloadType),
          payload = std::move(payload)](const RecordedRequest& request) {
    const auto parsed =
        core::parseMultipart(request.header("content-type").value_or(""), request.body);
    core::Envelope e;
    e.processingMode = "RealTime";
    e.timeStamp = core::nowTimeStamp();
    e.coreRuleVersion = "2.2.0";
    if (parsed.ok()) {
      e.payloadId = parsed.envelope->payloadId;
      e.processingMode = parsed.envelope->processingMode;
      e.senderId = parsed.envelope->receiverId;
      e.receiverId = parsed.envelope->senderId;
      e.payloadType = payloadType;
      e.errorCode = "Success";
      e.payload = payload;
    } else {
      e.payloadId = core::newPayloadId();
      e.senderId = "PAYER";
      e.receiverId = "unknown";
      e.payloadType = "CoreEnvelopeError";
      e.errorCode = parsed.errorCode;
      e.errorMessage = parsed.errorMessage;
    }
    core::Encoded encoded = core::encodeMultipart(e);
    ScriptedResponse r;
    r.status = parsed.ok() ? 200 : 400;
    r.body = std::move(encoded.body);
    r.headers.emplace_back("Content-Type", std::move(encoded.contentType));
    return r;
  };
}

}  // namespace sb::test
