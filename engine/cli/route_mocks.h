// Mocked destination answers in route tests (`respond = { destination = { ... } }`): what the
// destination answers, and what its real sender decides from that answer (delivered, retry,
// dead), through the senders' own classification (http::classifyResponse,
// mllp_connector::classifyAck). No socket is opened and nothing is written.
#pragma once

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "channels/common/connector.h"
#include "engine/config/config_node.h"
#include "engine/plan.h"

namespace sb::cli {

// respond.<destination>: one of
//   HTTP: status (and body or file, headers; with envelope = "core" the body is the Payload,
//         wrapped in a CORE response envelope with ErrorCode core_error, default Success, unless
//         core_envelope = false);
//   MLLP: ack = "AE" (an ACK to the message sent, MSA-3 = text) or the answer as body or file;
//   any:  error = "..." (the destination cannot be reached or written; every sender retries).
struct MockResponse {
  std::optional<long> status;
  std::optional<std::string> body;  // from body or file
  std::vector<std::pair<std::string, std::string>> headers;
  std::string ack, text;
  std::string coreError, coreErrorMessage;
  bool coreEnvelope = true;
  std::optional<std::string> error;
};

// Reads and checks respond.<destination> against the destination's type; errors name the test
// file and line. nullopt when invalid.
std::optional<MockResponse> readMock(const config::Section& test, const std::string& destination,
                                     const config::Node& node, const engine::DestinationPlan& plan,
                                     const std::filesystem::path& base, config::Errors& errors);

// What the destination's sender decides when it gets `mock` in answer to `payload`; `now` is the
// route tests' fixed clock (Retry-After dates are read against it).
channels::SendResult mockedOutcome(const engine::DestinationPlan& plan, const MockResponse& mock,
                                   const std::string& payload, std::time_t now);

// "delivered", "retry" or "dead".
std::string outcomeName(channels::SendStatus status);

// One line for the report: "dead: HTTP 400 (response: {"error":"bad"})".
std::string describeOutcome(const channels::SendResult& result);

}  // namespace sb::cli
