// classifyResponse: what one HTTP answer means for a delivery, without a server. The sender calls
// it on every answer and `switchboard test` on mocked ones, so these are the rules both follow.
#include <gtest/gtest.h>

#include <ctime>

#include <fmt/format.h>

#include "channels/http/core_envelope.h"
#include "channels/http/http_sender.h"

namespace sb::channels::http {
namespace {

constexpr std::time_t kNow = 1767268800;  // 2026-01-01T12:00:00Z

HttpResponse answer(long status, std::string body = {},
                    std::optional<std::string> retryAfter = std::nullopt) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.retryAfter = std::move(retryAfter);
  return r;
}

HttpSenderOptions plain() {
  return HttpSenderOptions{};
}

HttpSenderOptions core() {
  HttpSenderOptions o;
  o.core = CoreSenderOptions{"SWITCHBOARD", "PAYER", "2.2.0", "RealTime", ""};
  o.maxResponseBytes = 4 << 20;
  return o;
}

TEST(HttpClassify, TwoHundredsAreDeliveredWithTheBody) {
  for (long status : {200L, 201L, 204L, 299L}) {
    const SendResult r = classifyResponse(plain(), answer(status, "{\"id\":1}"), kNow);
    EXPECT_EQ(r.status, SendStatus::kOk) << status;
    EXPECT_EQ(r.response, "{\"id\":1}");
    EXPECT_EQ(r.error, "");
  }
}

TEST(HttpClassify, TransientStatusesAreRetried) {
  for (long status : {408L, 429L, 500L, 502L, 503L, 599L}) {
    const SendResult r = classifyResponse(plain(), answer(status, "busy"), kNow);
    EXPECT_EQ(r.status, SendStatus::kRetry) << status;
    EXPECT_EQ(r.error, fmt::format("HTTP {}", status));
    EXPECT_EQ(r.response, "busy");
    EXPECT_FALSE(r.retryAfterMillis.has_value());
  }
}

TEST(HttpClassify, RetryAfterSecondsAndDatesAreReadAgainstNow) {
  EXPECT_EQ(classifyResponse(plain(), answer(503, "", "120"), kNow).retryAfterMillis, 120'000);
  // 2026-01-01T12:00:30Z, thirty seconds after kNow.
  EXPECT_EQ(classifyResponse(plain(), answer(429, "", "Thu, 01 Jan 2026 12:00:30 GMT"), kNow)
                .retryAfterMillis,
            30'000);
  EXPECT_FALSE(classifyResponse(plain(), answer(503, "", "soon"), kNow).retryAfterMillis);
  // A dead letter has no next attempt, whatever the header says.
  EXPECT_FALSE(classifyResponse(plain(), answer(400, "", "120"), kNow).retryAfterMillis);
}

TEST(HttpClassify, OtherClientErrorsAreDeadWithTheBodyKept) {
  for (long status : {400L, 401L, 404L, 409L, 422L}) {
    const SendResult r = classifyResponse(plain(), answer(status, "{\"error\":\"bad\"}"), kNow);
    EXPECT_EQ(r.status, SendStatus::kError) << status;
    EXPECT_EQ(r.error, fmt::format("HTTP {}", status));
    EXPECT_EQ(r.response, "{\"error\":\"bad\"}");
  }
}

TEST(HttpClassify, RedirectsAreDeadAndNotFollowed) {
  const SendResult r = classifyResponse(plain(), answer(302), kNow);
  EXPECT_EQ(r.status, SendStatus::kError);
  EXPECT_EQ(r.error, "HTTP 302: redirect not followed");
}

core::Encoded coreAnswer(std::string errorCode, std::string payload = {}) {
  core::Envelope e;
  e.payloadType = payload.empty() ? "CoreEnvelopeError" : "X12_271_Response_005010X279A1";
  e.processingMode = "RealTime";
  e.payloadId = "00000000-0000-4000-8000-000000000000";
  e.timeStamp = "2026-01-01T12:00:00Z";
  e.senderId = "PAYER";
  e.receiverId = "SWITCHBOARD";
  e.coreRuleVersion = "2.2.0";
  e.errorCode = std::move(errorCode);
  e.errorMessage = "detail";
  e.payload = std::move(payload);
  return core::encodeMultipart(e);
}

TEST(HttpClassify, CoreSuccessIsDeliveredWithThePayload) {
  auto encoded = coreAnswer("Success", "ISA*...~");
  HttpResponse r = answer(200, encoded.body);
  r.contentType = encoded.contentType;
  const SendResult result = classifyResponse(core(), std::move(r), kNow);
  EXPECT_EQ(result.status, SendStatus::kOk);
  EXPECT_EQ(result.response, "ISA*...~");
}

TEST(HttpClassify, CoreBusyIsRetriedAfterRetryAfterAndEnvelopeErrorsAreDead) {
  auto busy = coreAnswer("ReceiverBusy");
  HttpResponse r = answer(503, busy.body, "30");
  r.contentType = busy.contentType;
  SendResult result = classifyResponse(core(), std::move(r), kNow);
  EXPECT_EQ(result.status, SendStatus::kRetry);
  EXPECT_EQ(result.error, "HTTP 503: CORE ReceiverBusy: detail");
  EXPECT_EQ(result.retryAfterMillis, 30'000);

  auto illegal = coreAnswer("PayloadTypeIllegal");
  r = answer(200, illegal.body, "30");
  r.contentType = illegal.contentType;
  result = classifyResponse(core(), std::move(r), kNow);
  EXPECT_EQ(result.status, SendStatus::kError);
  EXPECT_EQ(result.error, "HTTP 200: CORE PayloadTypeIllegal: detail");
  EXPECT_FALSE(result.retryAfterMillis.has_value());
}

TEST(HttpClassify, CoreAnswerCutAtTheLimitCannotBeRead) {
  auto encoded = coreAnswer("Success", "ISA*...~");
  HttpResponse r = answer(200, encoded.body.substr(0, 10));
  r.contentType = encoded.contentType;
  r.complete = false;
  HttpSenderOptions o = core();
  o.maxResponseBytes = 10;
  const SendResult result = classifyResponse(o, std::move(r), kNow);
  EXPECT_EQ(result.status, SendStatus::kError);
  EXPECT_EQ(result.error,
            "HTTP 200: the response passes max_response_bytes (10), so its CORE envelope cannot "
            "be read");
}

TEST(HttpClassify, CoreExpectedButPlainTextAnswered) {
  HttpResponse r = answer(200, "OK");
  r.contentType = "text/plain";
  const SendResult result = classifyResponse(core(), std::move(r), kNow);
  EXPECT_EQ(result.status, SendStatus::kError);
  EXPECT_EQ(result.error,
            "HTTP 200: the response is not a CORE envelope (Content-Type text/plain)");
}

}  // namespace
}  // namespace sb::channels::http
