// X12 ingest against a real SQLite store: each interchange is committed (rejected ones too, with
// their reason), and only then the TA1/999 comes back, numbered from the store per partner.
#include <gtest/gtest.h>

#include <future>
#include <set>

#include "channels/common/x12_ingest.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"
#include "tests/support/test_support.h"

namespace sb::channels {
namespace {

class StoreSink final : public IngestSink {
 public:
  explicit StoreSink(const std::filesystem::path& dir) {
    store::Options o;
    o.dataDir = dir;
    store_ = store::openSqliteStore(o);
  }
  ~StoreSink() override { store_->close(); }
  store::MessageStore& store() override { return *store_; }
  void committed() override { ++wakes; }
  int wakes = 0;

 private:
  std::unique_ptr<store::MessageStore> store_;
};

std::string fixture(const std::string& name) {
  return test::readFile(test::fixturePath("x12/" + name));
}

class X12IngestTest : public ::testing::Test {
 protected:
  X12Ingest::Result ingest(const std::string& payload) {
    std::promise<X12Ingest::Result> done;
    auto result = done.get_future();
    ingest_.accept("sftp://clearinghouse/in/file.x12", payload,
                   [&](X12Ingest::Result r) { done.set_value(std::move(r)); });
    return result.get();
  }
  store::MessageDetail detail(store::MessageId id) {
    auto d = sink_.store().get(id);
    EXPECT_TRUE(d);
    return d ? *d : store::MessageDetail{};
  }
  test::TempDir dir_;
  StoreSink sink_{dir_.path()};
  X12Ingest ingest_{"clearinghouse_in", sink_};
};

TEST_F(X12IngestTest, AcceptedInterchangeIsCommittedThenAcknowledged) {
  const std::string raw = fixture("valid/837P_professional.x12");
  const auto r = ingest(raw);
  ASSERT_TRUE(r.committed) << r.error;
  ASSERT_EQ(r.ids.size(), 1u);
  const auto d = detail(r.ids[0]);
  EXPECT_EQ(d.message.raw, raw);
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kReceived);
  EXPECT_EQ(d.message.summary.messageType, "837");
  EXPECT_EQ(d.message.summary.triggerEvent, "837P");
  EXPECT_EQ(d.message.summary.controlId, "000000101");
  EXPECT_EQ(d.message.summary.sendingApplication, "SBSENDER");
  EXPECT_EQ(d.message.summary.peer, "sftp://clearinghouse/in/file.x12");
  ASSERT_EQ(r.acks.size(), 1u);
  EXPECT_NE(r.acks[0].find("*ZZ*SBRECEIVER     *ZZ*SBSENDER       *"), std::string::npos)
      << r.acks[0];
  EXPECT_NE(r.acks[0].find("*00501*000000001*0*T*:~"), std::string::npos) << r.acks[0];
  EXPECT_NE(r.acks[0].find("AK2*837*0001*005010X222A1~\nIK5*A~\nAK9*A*1*1*1~"), std::string::npos);
  EXPECT_EQ(sink_.wakes, 1);
  // The partner's next acknowledgement takes the next numbers: never the same twice.
  const auto again = ingest(raw);
  ASSERT_EQ(again.acks.size(), 1u);
  EXPECT_NE(again.acks[0].find("*00501*000000002*0*T*:~"), std::string::npos) << again.acks[0];
  EXPECT_NE(again.acks[0].find("ST*999*0002*005010X231A1~"), std::string::npos) << again.acks[0];
}

TEST_F(X12IngestTest, BrokenEnvelopeIsKeptAsRejectedAndAnsweredWithTa1) {
  const std::string raw = fixture("invalid/env_iea02_not_isa13.x12");
  const auto r = ingest(raw);
  ASSERT_TRUE(r.committed) << r.error;
  ASSERT_EQ(r.ids.size(), 1u);
  const auto d = detail(r.ids[0]);
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kRejected);
  EXPECT_EQ(d.message.raw, raw);
  EXPECT_EQ(d.message.summary.error.rfind(
                "SB-602 X12 interchange envelope rejected (TA1 R); 001 IEA02 ", 0),
            0u)
      << d.message.summary.error;
  ASSERT_EQ(r.acks.size(), 1u);
  EXPECT_NE(r.acks[0].find("\nTA1*"), std::string::npos);
  EXPECT_NE(r.acks[0].find("*R*001~"), std::string::npos) << r.acks[0];
  EXPECT_EQ(r.acks[0].find("AK1*"), std::string::npos);  // a rejected interchange gets no 999
}

TEST_F(X12IngestTest, EachInterchangeOfAFileIsItsOwnMessage) {
  const std::string raw = fixture("valid/env_several_isa_in_file.x12");
  const auto r = ingest(raw);
  ASSERT_TRUE(r.committed) << r.error;
  ASSERT_EQ(r.ids.size(), 3u);
  std::string joined;
  for (auto id : r.ids) joined += detail(id).message.raw;
  EXPECT_EQ(joined, raw);  // nothing of the file is lost between the messages
  std::set<std::string> controls;
  for (auto id : r.ids) controls.insert(detail(id).message.summary.controlId);
  EXPECT_EQ(controls.size(), 3u);
}

TEST_F(X12IngestTest, RejectedSetIsKeptAndAnsweredWith999R) {
  const std::string raw = fixture("invalid/env_wrong_se01.x12");
  const auto r = ingest(raw);
  ASSERT_TRUE(r.committed) << r.error;
  const auto d = detail(r.ids[0]);
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kRejected);
  EXPECT_EQ(d.message.summary.error.rfind(
                "SB-603 X12 transaction sets rejected (999 R); 4 SE01 says ", 0),
            0u)
      << d.message.summary.error;
  ASSERT_EQ(r.acks.size(), 1u);
  EXPECT_NE(r.acks[0].find("IK5*R*4~\nAK9*R*1*1*0~"), std::string::npos) << r.acks[0];
}

TEST_F(X12IngestTest, NotX12AtAllIsKeptWithoutAnAnswer) {
  const auto r = ingest("hello, this is not an interchange");
  ASSERT_TRUE(r.committed) << r.error;
  EXPECT_TRUE(r.acks.empty());
  const auto d = detail(r.ids[0]);
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kRejected);
  EXPECT_EQ(d.message.summary.error,
            "SB-601 X12 input has no usable ISA interchange header; 022 the input does not start "
            "with ISA");
}

// An acknowledgement that cannot be written is our defect, not the sender's: the interchange is
// still kept (rejected, where people search and reprocess) with the reason, and no ack is sent.
TEST(X12IngestVerdict, AnAcknowledgementThatCannotBeBuiltLeavesTheInterchangeKeptWithTheReason) {
  const std::string raw = fixture("valid/837P_professional.x12");
  x12::Document doc = x12::Document::parseOwned(std::string(raw));
  doc.validate(x12::SpecLibrary::builtin());
  x12::AckOptions options;
  options.date8 = "2026*208";  // a date holding the element separator: the writer refuses it
  options.time4 = "1200";
  const auto v = X12Ingest::evaluate("clearinghouse_in", doc, x12::AckNumbers{}, options);
  EXPECT_FALSE(v.accepted);
  EXPECT_TRUE(v.acks.empty());
  ASSERT_EQ(v.records.size(), 1u);
  EXPECT_EQ(v.records[0].raw, raw);
  EXPECT_EQ(v.records[0].status, store::MessageStatus::kRejected);
  EXPECT_EQ(v.records[0].error,
            "SB-900 the acknowledgement could not be built: X12 writer: ISA09 contains a "
            "delimiter");
  // What was found in the input stays in front of our own failure.
  x12::Document rejected = x12::Document::parseOwned(fixture("invalid/env_wrong_se01.x12"));
  rejected.validate(x12::SpecLibrary::builtin());
  const auto both = X12Ingest::evaluate("clearinghouse_in", rejected, x12::AckNumbers{}, options);
  ASSERT_EQ(both.records.size(), 1u);
  EXPECT_TRUE(both.acks.empty());
  const std::string& error = both.records[0].error;
  EXPECT_EQ(error.rfind("SB-603 X12 transaction sets rejected (999 R); 4 SE01 says ", 0), 0u)
      << error;
  const std::string internal =
      "; SB-900 the acknowledgement could not be built: X12 writer: ISA09 contains a delimiter";
  ASSERT_GT(error.size(), internal.size());
  EXPECT_EQ(error.substr(error.size() - internal.size()), internal);
  // The same options without the separator give the acknowledgement.
  options.date8 = "20261208";
  const auto fine = X12Ingest::evaluate("clearinghouse_in", doc, x12::AckNumbers{}, options);
  EXPECT_TRUE(fine.accepted);
  ASSERT_EQ(fine.acks.size(), 1u);
  EXPECT_EQ(fine.records[0].status, store::MessageStatus::kReceived);
}

}  // namespace
}  // namespace sb::channels
