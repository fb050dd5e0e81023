// The HTTP sender with envelope = "core": the CORE request it posts, and what each kind of CORE
// response (or non-CORE response) means for the delivery.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "channels/http/core_envelope.h"
#include "channels/http/http_sender.h"
#include "core_test_peer.h"
#include "engine/config/lua_loader.h"
#include "test_http_server.h"
#include "tests/support/test_support.h"

namespace sb::channels::http {
namespace {

using test::ScriptedResponse;
using test::TestHttpServer;
using ::testing::HasSubstr;

struct Built {
  std::unique_ptr<Sender> sender;
  std::vector<std::string> errors;
};

Built build(const std::string& keys) {
  static test::TempDir dir;
  const auto file = dir.path() / "config.lua";
  test::writeFile(file,
                  fmt::format("destination \"payer\" {{\n  type = \"http\",\n{}\n}}\n", keys));
  config::Errors errors;
  const auto loaded = config::loadFile(file, errors);
  Built b;
  if (loaded.sections.size() == 1) {
    const auto factory = httpSenderFactory();
    std::vector<config::KeySpec> specs = {
        config::KeySpec{"type", config::ValueType::kString, true, "", ""}};
    specs.insert(specs.end(), factory.keys.begin(), factory.keys.end());
    const config::Reader r(loaded.sections[0], specs, errors);
    BuildContext ctx;
    ctx.configDir = dir.path();
    ctx.dataDir = dir.path();
    b.sender = factory.create(r, ctx);
  }
  const std::string prefix = file.string() + ":1: destination 'payer': ";
  for (auto e : errors.items) {
    if (e.rfind(prefix, 0) == 0) e.erase(0, prefix.size());
    b.errors.push_back(e);
  }
  return b;
}

std::string fixture(const std::string& name) {
  return test::readFile(test::fixturePath("x12/" + name));
}

std::unique_ptr<Sender> coreSender(const TestHttpServer& server, const std::string& extra = "") {
  auto b = build(fmt::format(R"(url = "http://127.0.0.1:{}/core",
    envelope = "core",
    core_sender_id = "SWITCHBOARD",
    core_receiver_id = "PAYER01",
    timeout = 5,
    {})",
                             server.port(), extra));
  EXPECT_TRUE(b.errors.empty()) << ::testing::PrintToString(b.errors);
  return std::move(b.sender);
}

store::QueueItem item(const std::string& payload) {
  store::QueueItem q;
  q.queueId = 3;
  q.messageId = 11;
  q.destination = "payer";
  q.payload = payload;
  q.summary.id = 11;
  return q;
}

ScriptedResponse coreAnswer(unsigned status, const std::string& errorCode,
                            const std::string& errorMessage, const std::string& payload = {}) {
  core::Envelope e;
  e.payloadType = payload.empty() ? "CoreEnvelopeError" : "X12_271_Response_005010X279A1";
  e.processingMode = "RealTime";
  e.payloadId = core::newPayloadId();
  e.timeStamp = core::nowTimeStamp();
  e.senderId = "PAYER01";
  e.receiverId = "SWITCHBOARD";
  e.coreRuleVersion = "2.2.0";
  e.errorCode = errorCode;
  e.errorMessage = errorMessage;
  e.payload = payload;
  auto encoded = core::encodeMultipart(e);
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(encoded.body);
  r.headers.emplace_back("Content-Type", std::move(encoded.contentType));
  return r;
}

TEST(HttpSenderCore, PostsACoreRequestAndKeepsThePayersPayload) {
  TestHttpServer payer;
  const std::string request270 = fixture("valid/270_eligibility_request.x12");
  const std::string reply271 = fixture("valid/271_eligibility_response.x12");
  payer.respondWith(test::corePayer("X12_271_Response_005010X279A1", reply271));
  auto sender = coreSender(payer);
  const auto r = sender->send(item(request270));
  EXPECT_EQ(r.status, SendStatus::kOk) << r.error;
  EXPECT_EQ(r.response, reply271);
  const auto requests = payer.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& sent = requests[0];
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.target, "/core");
  const auto parsed = core::parseMultipart(sent.header("content-type").value_or(""), sent.body);
  ASSERT_TRUE(parsed.ok()) << parsed.errorMessage;
  const auto& e = *parsed.envelope;
  EXPECT_EQ(e.payloadType, "X12_270_Request_005010X279A1");
  EXPECT_EQ(e.processingMode, "RealTime");
  EXPECT_EQ(e.senderId, "SWITCHBOARD");
  EXPECT_EQ(e.receiverId, "PAYER01");
  EXPECT_EQ(e.coreRuleVersion, "2.2.0");
  EXPECT_EQ(e.payload, request270);
  // The PayloadID is the idempotency key: the same for every attempt of this delivery.
  EXPECT_EQ(sent.header("idempotency-key"), e.payloadId);
  EXPECT_EQ(e.payloadId, idempotencyKey("payer", item(request270)));
}

TEST(HttpSenderCore, BatchModeAndAnExplicitPayloadType) {
  TestHttpServer payer;
  payer.respondWith(test::corePayer("X12_999_Response_005010X231A1", "ISA*..."));
  auto sender = coreSender(payer, R"(processing_mode = "Batch",
    payload_type = "X12_005010_Request_Batch_Submission",
    core_rule_version = "4.0.0",)");
  const std::string payload = fixture("valid/837P_professional.x12");
  EXPECT_EQ(sender->send(item(payload)).status, SendStatus::kOk);
  const auto requests = payer.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& sent = requests[0];
  const auto parsed = core::parseMultipart(sent.header("content-type").value_or(""), sent.body);
  ASSERT_TRUE(parsed.ok()) << parsed.errorMessage;
  EXPECT_EQ(parsed.envelope->processingMode, "Batch");
  EXPECT_EQ(parsed.envelope->payloadType, "X12_005010_Request_Batch_Submission");
  EXPECT_EQ(parsed.envelope->coreRuleVersion, "4.0.0");
  // Batch requests carry PayloadLength and CheckSum, which the parser has checked.
  EXPECT_THAT(sent.body, HasSubstr("name=\"CheckSum\""));
}

TEST(HttpSenderCore, ErrorCodesDecideRetryOrDeadLetter) {
  TestHttpServer payer;
  payer.script({
      coreAnswer(503, "ReceiverBusy", "try later"),
      coreAnswer(200, "ServerBusy", "busy"),
      coreAnswer(504, "ReceiverTimeout", "no answer from the plan"),
      coreAnswer(400, "PayloadIDIllegal", "bad id"),
      coreAnswer(401, "UnAuthorized", "who are you"),
      coreAnswer(200, "VersionMismatch", "2.2.0 only"),
  });
  auto sender = coreSender(payer);
  const std::string payload = fixture("valid/270_eligibility_request.x12");
  const auto busy = sender->send(item(payload));
  EXPECT_EQ(busy.status, SendStatus::kRetry);
  EXPECT_EQ(busy.error, "HTTP 503: CORE ReceiverBusy: try later");
  EXPECT_EQ(sender->send(item(payload)).status, SendStatus::kRetry);
  EXPECT_EQ(sender->send(item(payload)).status, SendStatus::kRetry);
  const auto illegal = sender->send(item(payload));
  EXPECT_EQ(illegal.status, SendStatus::kError);
  EXPECT_EQ(illegal.error, "HTTP 400: CORE PayloadIDIllegal: bad id");
  EXPECT_THAT(illegal.response, HasSubstr("PayloadIDIllegal"));  // the envelope is kept
  EXPECT_EQ(sender->send(item(payload)).status, SendStatus::kError);
  const auto version = sender->send(item(payload));
  EXPECT_EQ(version.status, SendStatus::kError);
  EXPECT_EQ(version.error, "HTTP 200: CORE VersionMismatch: 2.2.0 only");
}

TEST(HttpSenderCore, RetryAfterIsHonoured) {
  TestHttpServer payer;
  auto answer = coreAnswer(503, "ReceiverBusy", "later");
  answer.headers.emplace_back("Retry-After", "7");
  payer.script({answer});
  auto sender = coreSender(payer);
  const auto r = sender->send(item(fixture("valid/270_eligibility_request.x12")));
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_EQ(r.retryAfterMillis, 7000);
}

TEST(HttpSenderCore, NonCoreResponsesFailWithTheReason) {
  TestHttpServer payer;
  payer.script(
      {{200, "<html>ok</html>", {{"Content-Type", "text/html"}}, false},
       {502, "bad gateway", {{"Content-Type", "text/plain"}}, false},
       {200, "--x\r\nbroken", {{"Content-Type", "multipart/form-data; boundary=x"}}, false}});
  auto sender = coreSender(payer);
  const std::string payload = fixture("valid/270_eligibility_request.x12");
  const auto html = sender->send(item(payload));
  EXPECT_EQ(html.status, SendStatus::kError);
  EXPECT_EQ(html.error, "HTTP 200: the response is not a CORE envelope (Content-Type text/html)");
  EXPECT_EQ(html.response, "<html>ok</html>");
  const auto gateway = sender->send(item(payload));
  EXPECT_EQ(gateway.status, SendStatus::kRetry);
  EXPECT_EQ(gateway.error, "HTTP 502");
  const auto broken = sender->send(item(payload));
  EXPECT_EQ(broken.status, SendStatus::kError);
  EXPECT_THAT(broken.error,
              HasSubstr("HTTP 200: the CORE response envelope is invalid: EnvelopeError: "));
}

TEST(HttpSenderCore, ResponseOverTheLimitIsNotTakenForAnEnvelope) {
  TestHttpServer payer;
  payer.respondWith(test::corePayer("X12_271_Response_005010X279A1", std::string(5000, 'x')));
  auto sender = coreSender(payer, "max_response_bytes = 1024,");
  const auto r = sender->send(item(fixture("valid/270_eligibility_request.x12")));
  EXPECT_EQ(r.status, SendStatus::kError);
  EXPECT_EQ(r.error,
            "HTTP 200: the response passes max_response_bytes (1024), so its CORE envelope "
            "cannot be read");
}

TEST(HttpSenderCore, PayloadThatIsNotX12NeedsAPayloadType) {
  TestHttpServer payer;
  auto sender = coreSender(payer);
  const auto r = sender->send(item("{\"resourceType\":\"Patient\"}"));
  EXPECT_EQ(r.status, SendStatus::kError);
  EXPECT_EQ(r.error,
            "envelope = \"core\": the message is not X12 with a transaction set, so it has no "
            "PayloadType; set payload_type");
  EXPECT_TRUE(payer.requests().empty());
}

TEST(HttpSenderCore, PayloadTypeFromTheTransactionSet) {
  EXPECT_EQ(corePayloadType(fixture("valid/270_eligibility_request.x12")),
            "X12_270_Request_005010X279A1");
  EXPECT_EQ(corePayloadType(fixture("valid/271_eligibility_response.x12")),
            "X12_271_Response_005010X279A1");
  EXPECT_EQ(corePayloadType(fixture("valid/276_claim_status_request.x12")),
            "X12_276_Request_005010X212");
  EXPECT_EQ(corePayloadType(fixture("valid/277_claim_status_response.x12")),
            "X12_277_Response_005010X212");
  EXPECT_EQ(corePayloadType(fixture("valid/837P_professional.x12")),
            "X12_837_Request_005010X222A1");
  EXPECT_EQ(corePayloadType(fixture("valid/999_accepted.x12")), "X12_999_Response_005010X231A1");
  EXPECT_EQ(corePayloadType(fixture("valid/ta1_only.x12")), "X12_TA1_Response_00501X231A1");
  EXPECT_EQ(corePayloadType("MSH|^~\\&|A"), std::nullopt);
}

TEST(HttpSenderCoreConfig, InvalidValuesAreReported) {
  const auto b = build(R"(url = "http://127.0.0.1:1/core",
    envelope = "core",
    method = "PUT",
    content_type = "application/edi-x12",
    core_rule_version = "5.0.0",
    processing_mode = "realtime",
    payload_type = "X12 270",)");
  EXPECT_EQ(b.errors,
            (std::vector<std::string>{
                "'core_sender_id': is required with envelope = \"core\"",
                "'core_receiver_id': is required with envelope = \"core\"",
                "'core_rule_version': must be \"2.2.0\", \"3.0.0\" or \"4.0.0\", got \"5.0.0\"",
                "'processing_mode': must be \"RealTime\" or \"Batch\", got \"realtime\"",
                "'payload_type': must hold letters, digits and '_' only",
                "'method': must be POST with envelope = \"core\"",
                "'content_type': is set by envelope = \"core\" (multipart/form-data)",
            }));
  EXPECT_EQ(
      build(R"(url = "http://127.0.0.1:1/x", envelope = "soap", core_sender_id = "A")").errors,
      (std::vector<std::string>{"'envelope': must be \"none\" or \"core\", got \"soap\""}));
  EXPECT_EQ(build(R"(url = "http://127.0.0.1:1/x", core_sender_id = "A")").errors,
            (std::vector<std::string>{"'core_sender_id': is for envelope = \"core\""}));
}

}  // namespace
}  // namespace sb::channels::http
