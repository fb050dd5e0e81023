#include <gtest/gtest.h>

#include "channels/file/file_sender.h"
#include "routes/route_table.h"
#include "tests/support/test_support.h"

namespace sb {
namespace {

store::MessageSummary message(std::string channel, std::string type, std::string trigger,
                              std::string facility = "FAC") {
  store::MessageSummary m;
  m.channel = std::move(channel);
  m.messageType = std::move(type);
  m.triggerEvent = std::move(trigger);
  m.sendingFacility = std::move(facility);
  return m;
}

routes::Route route(std::string name, std::vector<std::string> from, routes::Filter filter,
                    std::vector<std::string> to) {
  routes::Route r;
  r.name = std::move(name);
  r.sources = std::move(from);
  r.filter = std::move(filter);
  r.destinations = std::move(to);
  return r;
}

TEST(RouteTable, AllMatchFansOutOnceEachDestination) {
  routes::RouteTable table({route("adt", {"in"}, {{"ADT"}, {}, {}, {}}, {"pms", "archive"}),
                            route("a01", {"in"}, {{}, {"A01"}, {}, {}}, {"archive", "bed"}),
                            route("other", {"lab"}, {}, {"lis"})},
                           routes::MatchMode::kAll);
  const auto r = table.decide(message("in", "ADT", "A01"));
  EXPECT_EQ(r.destinations, (std::vector<std::string>{"pms", "archive", "bed"}));
  ASSERT_EQ(r.decisions.size(), 2u);  // the route of another channel is not a decision
  EXPECT_TRUE(r.decisions[0].matched);
  EXPECT_TRUE(r.decisions[1].matched);
}

TEST(RouteTable, FirstMatchStopsAndSaysWhy) {
  routes::RouteTable table(
      {route("adt", {"in"}, {{"ADT"}, {}, {}, {}}, {"pms"}), route("all", {"in"}, {}, {"archive"})},
      routes::MatchMode::kFirst);
  const auto r = table.decide(message("in", "ADT", "A08"));
  EXPECT_EQ(r.destinations, (std::vector<std::string>{"pms"}));
  ASSERT_EQ(r.decisions.size(), 2u);
  EXPECT_FALSE(r.decisions[1].matched);
  EXPECT_EQ(r.decisions[1].reason, "an earlier route took the message (first-match)");
}

TEST(RouteTable, FilterReasonsNameTheFieldAndValue) {
  routes::RouteTable table({route("labs", {"in"}, {{"ORU"}, {}, {}, {}}, {"lis"}),
                            route("a01", {"in"}, {{"ADT"}, {"A01", "A04"}, {}, {}}, {"pms"}),
                            route("north", {"in"}, {{}, {}, {"NORTH"}, {}}, {"north"})},
                           routes::MatchMode::kAll);
  const auto r = table.decide(message("in", "ADT", "A08", "SOUTH"));
  EXPECT_TRUE(r.destinations.empty());
  ASSERT_EQ(r.decisions.size(), 3u);
  EXPECT_EQ(r.decisions[0].reason, "message type 'ADT' not in [ORU]");
  EXPECT_EQ(r.decisions[1].reason, "trigger event 'A08' not in [A01,A04]");
  EXPECT_EQ(r.decisions[2].reason, "sending facility 'SOUTH' not in [NORTH]");
}

TEST(FileSender, FilenameTemplateIsExpandedAndSanitised) {
  store::QueueItem item;
  item.messageId = 42;
  item.queueId = 7;
  item.summary.channel = "adt/in";
  item.summary.messageType = "ADT";
  item.summary.triggerEvent = "A01";
  item.summary.controlId = "../../etc";
  item.summary.receivedAt = 1795332321032;  // 2026-11-22T...
  EXPECT_EQ(channels::file::expandFilename("{id}_{seq}_{type}^{trigger}.hl7", item),
            "000000000042_000000000007_ADT_A01.hl7");
  EXPECT_EQ(channels::file::expandFilename("{channel}-{control_id}-{unknown}", item),
            "adt_in-.._.._etc-_unknown_");
  EXPECT_EQ(channels::file::expandFilename("{received}.hl7", item), "20261122T072521032.hl7");
}

TEST(FileSender, WritesAtomicallyAndReportsTheName) {
  test::TempDir dir;
  channels::file::FileSender sender({dir.path() / "out", "{id}.hl7", false});
  store::QueueItem item;
  item.messageId = 3;
  item.payload = "MSH|^~\\&|A\r";
  const auto r = sender.send(item);
  EXPECT_EQ(r.status, channels::SendStatus::kOk);
  EXPECT_EQ(r.response, "000000000003.hl7");
  EXPECT_EQ(test::readFile(dir.path() / "out" / "000000000003.hl7"), item.payload);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);  // no temporary file left behind
}

// A file destination writing into dir/out that has delivered message 1.
struct SenderWithOneFile {
  SenderWithOneFile() {
    item.messageId = 1;
    item.payload = "MSH|^~\\&|A\r";
    EXPECT_EQ(sender.send(item).status, channels::SendStatus::kOk);
  }
  test::TempDir dir;
  std::filesystem::path out = dir.path() / "out";
  channels::file::FileSender sender{{out, "{id}.hl7", false}};
  store::QueueItem item;
};

// The sender keeps its folder open; an operator who removes the folder (or moves it away) gets a
// new one on the next delivery, not files written into the removed one.
TEST(FileSender, RemovedFolderIsCreatedAgain) {
  SenderWithOneFile f;
  auto& [dir, out, sender, item] = f;
  std::filesystem::rename(out, dir.path() / "moved");
  item.messageId = 2;
  ASSERT_EQ(sender.send(item).status, channels::SendStatus::kOk);
  EXPECT_EQ(test::readFile(out / "000000000002.hl7"), item.payload);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "moved" / "000000000002.hl7"));
  std::filesystem::remove_all(out);
  item.messageId = 3;
  ASSERT_EQ(sender.send(item).status, channels::SendStatus::kOk);
  EXPECT_EQ(test::readFile(out / "000000000003.hl7"), item.payload);
}

// "mv out out.1; mkdir out" between two deliveries, sooner than the sender looks at the folder
// again: the next file lands in the new folder and nothing of it in the moved one.
TEST(FileSender, FolderMovedAndMadeAgainGetsTheNextFile) {
  SenderWithOneFile f;
  auto& [dir, out, sender, item] = f;
  std::filesystem::rename(out, dir.path() / "out.1");
  std::filesystem::create_directory(out);
  item.messageId = 2;
  const auto r = sender.send(item);
  ASSERT_EQ(r.status, channels::SendStatus::kOk) << r.error;
  EXPECT_EQ(test::readFile(out / "000000000002.hl7"), item.payload);
  std::vector<std::string> moved;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out.1")) {
    moved.push_back(e.path().filename().string());
  }
  EXPECT_EQ(moved, std::vector<std::string>{"000000000001.hl7"});  // no file 2, no temporary
}

TEST(FileSender, UnwritableFolderIsRetried) {
  channels::file::FileSender sender({"/proc/switchboard-cannot-write-here", "{id}.hl7", false});
  store::QueueItem item;
  item.messageId = 1;
  const auto r = sender.send(item);
  EXPECT_EQ(r.status, channels::SendStatus::kRetry);
  EXPECT_NE(r.error.find("cannot create /proc/switchboard-cannot-write-here"), std::string::npos)
      << r.error;
}

}  // namespace
}  // namespace sb
