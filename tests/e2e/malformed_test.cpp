// Bad input over a real socket: each case gets the right NAK (or a logged close), the engine
// keeps serving, and every NAKed message is kept and visible with `switchboard messages`.
#include <gtest/gtest.h>

#include <thread>

#include <fmt/format.h>

#include "parsers/hl7v2/hl7v2.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;

std::string framed(std::string_view payload) {
  return mllp::frame(payload);
}

struct AckView {
  std::string code, controlId, errCode, errSeverity, errLocation;
};

AckView view(const std::string& ack) {
  AckView v;
  auto parsed = hl7::Message::parse(ack);
  if (!parsed.ok()) return v;
  const auto& m = *parsed.message;
  v.code = m.get("MSA-1").value_or("");
  v.controlId = m.get("MSA-2").value_or("");
  v.errCode = m.get("ERR-3.1").value_or("");
  v.errSeverity = m.get("ERR-4").value_or("");
  v.errLocation = m.getRaw(*hl7::Path::parse("ERR-2")).data()
                      ? std::string(m.getRaw(*hl7::Path::parse("ERR-2")))
                      : "";
  return v;
}

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = test::freePort();
    engine_ = std::make_unique<Engine>(fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}", max_message_bytes = 2048, read_timeout = 2 }}
destination "folder" {{ type = "file", directory = "out" }}
route "all" {{ from = "in", to = "folder" }}
)",
                                                   port_));
    engine_->waitPort(port_);
    engine_->start();
  }
  // After each case the engine still answers a good message on a new connection.
  void TearDown() override {
    RawClient c(port_);
    c.send(framed(adtMessage("STILL-ALIVE")));
    EXPECT_EQ(view(c.readFrame()).code, "AA");
  }
  unsigned short port_ = 0;
  std::unique_ptr<Engine> engine_;
};

TEST_F(Malformed, NoMshIsRejectedWithSegmentSequenceError) {
  RawClient c(port_);
  c.send(framed("PID|1||123^^^HOSP^MR\r"));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AR");
  EXPECT_EQ(ack.errCode, "100");
  EXPECT_EQ(ack.errSeverity, "E");
}

TEST_F(Malformed, BadEncodingCharactersAreRejectedWithDataTypeError) {
  RawClient c(port_);
  c.send(framed("MSH|^^|APP|FAC|RAPP|RFAC|20261122||ADT^A01|BAD2|P|2.5\r"));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AR");
  EXPECT_EQ(ack.errCode, "102");
}

TEST_F(Malformed, MissingControlIdIsAnsweredAeWithLocation) {
  RawClient c(port_);
  c.send(framed("MSH|^~\\&|APP|FAC|RAPP|RFAC|20261122||ADT^A01|||2.5\rPID|1||1\r"));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AE");
  EXPECT_EQ(ack.errCode, "101");
  EXPECT_EQ(ack.errLocation.substr(0, 8), "MSH^1^10") << ack.errLocation;
}

TEST_F(Malformed, UnsupportedVersionIsRejected) {
  RawClient c(port_);
  c.send(framed("MSH|^~\\&|APP|FAC|RAPP|RFAC|20261122||ADT^A01|V99|P|9.9\r"));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AR");
  EXPECT_EQ(ack.controlId, "V99");
  EXPECT_EQ(ack.errCode, "203");
}

TEST_F(Malformed, OversizedFrameIsRejectedAndTheConnectionKeepsServing) {
  RawClient c(port_);
  std::string big = adtMessage("BIG-1");
  big += "NTE|1||" + std::string(5000, 'x') + "\r";
  c.send(framed(big));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AR");
  EXPECT_EQ(ack.controlId, "BIG-1");
  EXPECT_EQ(ack.errCode, "207");
  c.send(framed(adtMessage("AFTER-BIG")));
  const auto next = view(c.readFrame());
  EXPECT_EQ(next.code, "AA");
  EXPECT_EQ(next.controlId, "AFTER-BIG");
}

TEST_F(Malformed, BinaryJunkBetweenFramesIsSkipped) {
  RawClient c(port_);
  c.send(std::string("\x00\xff\xfe junk \x01\x02", 12));
  c.send(framed(adtMessage("AFTER-JUNK")));
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AA");
  EXPECT_EQ(ack.controlId, "AFTER-JUNK");
}

TEST_F(Malformed, FrameSplitAcrossManyWritesIsAccepted) {
  RawClient c(port_);
  const std::string bytes = framed(adtMessage("SPLIT-1"));
  for (std::size_t i = 0; i < bytes.size(); i += 7) {
    c.send(std::string_view(bytes).substr(i, 7));
    std::this_thread::sleep_for(1ms);
  }
  const auto ack = view(c.readFrame());
  EXPECT_EQ(ack.code, "AA");
  EXPECT_EQ(ack.controlId, "SPLIT-1");
}

TEST_F(Malformed, TruncatedFrameIsKeptAsRejected) {
  {
    RawClient c(port_);
    std::string partial(1, mllp::kStartBlock);
    partial.append(adtMessage("TRUNC-1"), 0, 60);
    c.send(partial);
    c.close();  // the peer gives up mid-frame
  }
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine_->cli({"messages", "--status", "rejected", "--json"});
        return r.out.find("SB-203") != std::string::npos;
      },
      20s));
}

TEST_F(Malformed, StalledFrameIsClosedAfterTheReadTimeout) {
  RawClient c(port_);
  c.send("\x0bMSH|^~\\&|APP");
  EXPECT_TRUE(c.closedByPeer(15s));
}

TEST_F(Malformed, RejectedMessagesAreStoredAndSearchable) {
  RawClient c(port_);
  c.send(framed("MSH|^~\\&|APP|FAC|RAPP|RFAC|20261122||ADT^A01|KEEP-ME|P|9.9\r"));
  EXPECT_EQ(view(c.readFrame()).code, "AR");
  const auto r = engine_->cli({"messages", "--control-id", "KEEP-ME", "--json"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.out.find("\"status\":\"rejected\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SB-106"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sb::e2e

namespace sb::e2e {
namespace {

// A whole batch file in one frame: every message is committed and the answer is a batch of
// ACKs in order (BHS, one ACK per message, BTS with the count).
TEST_F(Malformed, BatchInOneFrameIsSplitAndAnsweredWithABatchOfAcks) {
  RawClient c(port_);
  c.send(framed(test::readFile(test::fixturePath("hl7v2/batch.hl7"))));
  const std::string answer = c.readFrame();
  ASSERT_EQ(answer.substr(0, 4), "BHS|") << answer;
  std::vector<std::string> msa;
  for (std::size_t p = answer.find("MSA|"); p != std::string::npos; p = answer.find("MSA|", p + 1)) {
    msa.push_back(answer.substr(p, answer.find('\r', p) - p));
  }
  EXPECT_EQ(msa, (std::vector<std::string>{"MSA|AA|B1M1", "MSA|AA|B1M2", "MSA|AA|B2M1"}));
  EXPECT_NE(answer.find("\rBTS|3\r"), std::string::npos) << answer;
  const auto r = engine_->cli({"messages", "--control-id", "B1M2", "--json"});
  EXPECT_NE(r.out.find("\"control_id\":\"B1M2\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sb::e2e
