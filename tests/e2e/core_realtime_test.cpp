// CAQH CORE real time through the real binary: a clinic posts a CORE RealTime 270 to an HTTP
// channel, a route sends it to a payer (a CORE server in the test process) with envelope =
// "core", and the payer's 271 comes back to the clinic on the same request. With the payer
// down, the clinic gets the timeout envelope in time and the 270 stays stored and queued.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "channels/http/core_envelope.h"
#include "core_test_peer.h"
#include "test_http_client.h"
#include "test_http_server.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;
namespace core = sb::channels::core;

constexpr std::string_view kToken = "clinic-token";

std::string config(unsigned short port, unsigned short payerPort, int replyTimeoutMs) {
  return fmt::format(R"(
channel "eligibility_in" {{
  type = "http",
  listen = "127.0.0.1:{}",
  path = "/core",
  mode = "core",
  bearer_token = "{}",
  reply_from = "payer",
  reply_timeout_ms = {},
}}
destination "payer" {{
  type = "http",
  url = "http://127.0.0.1:{}/realtime",
  envelope = "core",
  core_sender_id = "SWITCHBOARD",
  core_receiver_id = "PAYER01",
  timeout = 5,
  retry = {{ max_attempts = 1000, initial_backoff = 0.05, max_backoff = 0.3 }},
}}
route "eligibility" {{ from = "eligibility_in", to = "payer" }}
)",
                     port, kToken, replyTimeoutMs, payerPort);
}

// A port where connections are refused for as long as this lives: bound, never listening, so no
// other test running in parallel can take it (a port merely found free could be).
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      throw std::runtime_error("cannot reserve a port");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  unsigned short port() const { return port_; }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// The engine on a free port. A port found free can be taken by a test running in parallel before
// the engine binds it, and then the port accepts without the engine behind it: the engine's own
// log must say that it listens there, or another port is tried.
std::unique_ptr<Engine> startEngine(unsigned short payerPort, int replyTimeoutMs,
                                    unsigned short& port) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port = test::freePort();
    auto engine = std::make_unique<Engine>(config(port, payerPort, replyTimeoutMs));
    engine->waitPort(port);
    try {
      engine->start();
    } catch (const std::exception&) {
      continue;
    }
    const std::string listening = fmt::format("[eligibility_in] listening on 127.0.0.1:{}", port);
    const auto log = [&] { return test::readFile(engine->logFile()); };
    test::waitFor(
        [&] {
          const auto text = log();
          return text.find(listening) != std::string::npos ||
                 text.find("cannot bind") != std::string::npos;
        },
        10s);
    if (log().find(listening) != std::string::npos) return engine;
  }
  throw std::runtime_error("the engine found no free port to listen on");
}

std::string fixture(const std::string& name) {
  return test::readFile(test::fixturePath("x12/" + name));
}

test::HttpResult postCore(unsigned short port, const test::CoreRequest& request) {
  test::HttpCall call;
  call.url = fmt::format("http://127.0.0.1:{}/core", port);
  call.body = request.body;
  call.headers = {"Content-Type: " + request.contentType,
                  fmt::format("Authorization: Bearer {}", kToken)};
  return test::httpCall(call);
}

core::Envelope envelopeOf(const test::HttpResult& r) {
  const auto parsed = core::parseMultipart(r.header("content-type").value_or(""), r.body);
  EXPECT_TRUE(parsed.ok()) << parsed.errorCode << ": " << parsed.errorMessage << "\n" << r.body;
  return parsed.ok() ? *parsed.envelope : core::Envelope{};
}

TEST(CoreRealTime, The270GoesToThePayerAndIts271ComesBackToTheCaller) {
  const std::string request270 = fixture("valid/270_eligibility_request.x12");
  const std::string reply271 = fixture("valid/271_eligibility_response.x12");
  test::TestHttpServer payer;
  payer.respondWith(test::corePayer("X12_271_Response_005010X279A1", reply271));
  unsigned short port = 0;
  const auto engine = startEngine(payer.port(), 20000, port);

  const auto request = test::coreRequest(request270);
  const auto r = postCore(port, request);
  ASSERT_EQ(r.error, "") << test::readFile(engine->logFile());
  ASSERT_EQ(r.status, 200) << r.body;
  const auto answer = envelopeOf(r);
  EXPECT_EQ(answer.errorCode, "Success");
  EXPECT_EQ(answer.payloadType, "X12_271_Response_005010X279A1");
  EXPECT_EQ(answer.processingMode, "RealTime");
  EXPECT_EQ(answer.payloadId, request.payloadId);
  EXPECT_EQ(answer.senderId, "SWITCHBOARD");
  EXPECT_EQ(answer.receiverId, "CLINIC");
  EXPECT_EQ(answer.payload, reply271);

  // The payer got the 270 in a CORE envelope of its own.
  const auto requests = payer.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto sent =
      core::parseMultipart(requests[0].header("content-type").value_or(""), requests[0].body);
  ASSERT_TRUE(sent.ok()) << sent.errorMessage;
  EXPECT_EQ(sent.envelope->payloadType, "X12_270_Request_005010X279A1");
  EXPECT_EQ(sent.envelope->senderId, "SWITCHBOARD");
  EXPECT_EQ(sent.envelope->receiverId, "PAYER01");
  EXPECT_EQ(sent.envelope->payload, request270);

  // The store has the whole exchange: the 270 as received, its delivery with the 271.
  const auto shown = engine->cli({"messages", "show", "1", "--json"});
  rapidjson::Document doc;
  doc.Parse(shown.out.c_str());
  ASSERT_TRUE(doc.IsObject()) << shown.out;
  EXPECT_EQ(std::string(doc["raw"].GetString()), request270);
  bool delivered = false;
  for (const auto& e : doc["events"].GetArray()) {
    if (std::string(e["step"].GetString()) == "deliver" &&
        std::string(e["outcome"].GetString()) == "delivered") {
      delivered = true;
      EXPECT_EQ(std::string(e["detail"].GetString()), reply271);
    }
  }
  EXPECT_TRUE(delivered) << shown.out;
}

TEST(CoreRealTime, PayerDownAnswersTheTimeoutEnvelopeAndKeepsThe270) {
  const RefusingPort payer;
  unsigned short port = 0;
  const auto engine = startEngine(payer.port(), 1500, port);

  const auto request = test::coreRequest(fixture("valid/270_eligibility_request.x12"));
  const auto r = postCore(port, request);
  ASSERT_EQ(r.error, "") << test::readFile(engine->logFile());
  const auto answer = envelopeOf(r);
  EXPECT_EQ(r.status, 504) << answer.errorMessage;
  EXPECT_EQ(answer.payloadType, "CoreEnvelopeError");
  EXPECT_EQ(answer.errorCode, "ReceiverTimeout");
  EXPECT_EQ(answer.errorMessage,
            "no reply from 'payer' within 1500 ms; the request is kept as message 1 and stays "
            "queued");
  EXPECT_EQ(answer.payloadId, request.payloadId);
  // The wait is reply_timeout_ms, give or take a poll: not the sender's timeout or retries.
  EXPECT_GE(r.elapsed, 1500ms);
  EXPECT_LT(r.elapsed, 10s);

  const auto listed = engine->cli({"messages", "--channel", "eligibility_in", "--json"});
  EXPECT_NE(listed.out.find("\"message_type\":\"270\""), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\"status\":\"routed\""), std::string::npos) << listed.out;
  // Still queued for the payer, with its retries recorded.
  const auto shown = engine->cli({"messages", "show", "1", "--json"});
  EXPECT_NE(shown.out.find("\"outcome\":\"retry\""), std::string::npos) << shown.out;
}

}  // namespace
}  // namespace sb::e2e
