// classifyAck: what a peer's answer means for an MLLP delivery under each on_ae / on_ar policy.
// The sender calls it on every ACK and `switchboard test` on mocked ones.
#include <gtest/gtest.h>

#include <string>

#include "channels/mllp/mllp_connector.h"

namespace sb::channels::mllp_connector {
namespace {

std::string ack(const std::string& code, const std::string& text = "") {
  return "MSH|^~\\&|LAB|L|SB|H|20260101120000||ACK^R01|A1|P|2.5\rMSA|" + code + "|M1" +
         (text.empty() ? "" : "|" + text) + "\r";
}

MllpSenderOptions policy(NakPolicy onAe, NakPolicy onAr) {
  MllpSenderOptions o;
  o.onAe = onAe;
  o.onAr = onAr;
  return o;
}

TEST(MllpClassifyAck, PositiveAcksAreDeliveredWithTheAckKept) {
  for (const char* code : {"AA", "CA"}) {
    const AckVerdict v = classifyAck(MllpSenderOptions{}, ack(code));
    EXPECT_EQ(v.result.status, SendStatus::kOk) << code;
    EXPECT_EQ(v.result.response, ack(code));
    EXPECT_FALSE(v.notAnAck);
  }
}

TEST(MllpClassifyAck, DefaultsRetryAnAeAndDeadLetterAnAr) {
  AckVerdict v = classifyAck(MllpSenderOptions{}, ack("AE", "Specimen not registered"));
  EXPECT_EQ(v.result.status, SendStatus::kRetry);
  EXPECT_EQ(v.result.error, "peer answered AE: Specimen not registered");
  v = classifyAck(MllpSenderOptions{}, ack("CR"));
  EXPECT_EQ(v.result.status, SendStatus::kError);
  EXPECT_EQ(v.result.error, "peer answered CR");
}

TEST(MllpClassifyAck, EachPolicyDecidesItsCodes) {
  const auto o = policy(NakPolicy::kDead, NakPolicy::kAccept);
  EXPECT_EQ(classifyAck(o, ack("AE")).result.status, SendStatus::kError);
  EXPECT_EQ(classifyAck(o, ack("CE")).result.status, SendStatus::kError);
  EXPECT_EQ(classifyAck(o, ack("AR")).result.status, SendStatus::kOk);
  const auto p = policy(NakPolicy::kAccept, NakPolicy::kRetry);
  EXPECT_EQ(classifyAck(p, ack("AE")).result.status, SendStatus::kOk);
  EXPECT_EQ(classifyAck(p, ack("AR")).result.status, SendStatus::kRetry);
  EXPECT_EQ(classifyAck(p, ack("AR")).result.error, "peer answered AR");
}

TEST(MllpClassifyAck, UnknownCodesAndNonAcksAreRetried) {
  AckVerdict v = classifyAck(MllpSenderOptions{}, ack("ZZ"));
  EXPECT_EQ(v.result.status, SendStatus::kRetry);
  EXPECT_EQ(v.result.error, "unknown acknowledgment code 'ZZ'");
  EXPECT_FALSE(v.notAnAck);
  v = classifyAck(MllpSenderOptions{}, "HTTP/1.1 400 Bad Request\r\n");
  EXPECT_EQ(v.result.status, SendStatus::kRetry);
  EXPECT_EQ(v.result.error, "peer answered something that is not an HL7 ACK");
  EXPECT_EQ(v.result.response, "HTTP/1.1 400 Bad Request\r\n");
  EXPECT_TRUE(v.notAnAck);
}

}  // namespace
}  // namespace sb::channels::mllp_connector
