// CAQH CORE helpers for tests: a request envelope as a client builds it, and a fake payer for
// TestHttpServer that answers every CORE request with a given X12 response.
#pragma once

#include <functional>
#include <string>

#include "test_http_server.h"

namespace sb::test {

struct CoreRequest {
  std::string contentType;
  std::string body;
  std::string payloadId;
};

// SenderID "CLINIC", ReceiverID "SWITCHBOARD", CORERuleVersion 2.2.0, a fresh PayloadID.
CoreRequest coreRequest(const std::string& payload, const std::string& processingMode = "RealTime",
                        const std::string& payloadType = "X12_270_Request_005010X279A1");

// Answers a CORE request with ErrorCode Success, `payload` of `payloadType`, the request's
// PayloadID, SenderID and ReceiverID swapped; anything else with 400 and the parser's ErrorCode.
std::function<ScriptedResponse(const RecordedRequest&)> corePayer(std::string payloadType,
                                                                  std::string payload);

}  // namespace sb::test
