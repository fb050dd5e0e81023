// The ingest journal file on its own: records round-trip, a torn or corrupted tail ends the
// replay at the last intact record, one process at a time owns the file.
#include "store/sqlite/ingest_journal.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/support/test_support.h"

namespace sb::store::sqlite {
namespace {

InboundRecord sample(int n) {
  InboundRecord r;
  r.channel = "adt-in";
  r.peer = "10.0.0.1:5000";
  r.receivedAt = 1795341600000 + n;
  r.raw = std::string("MSH|^~\\&|APP|FAC|||20261122||ADT^A01|C") + std::to_string(n) +
          "|P|2.5\rPID|1||" + std::string(static_cast<std::size_t>(n) * 100, 'x') + "\r";
  r.messageType = "ADT";
  r.triggerEvent = "A01";
  r.controlId = "C" + std::to_string(n);
  r.patientId = "P" + std::to_string(n);
  r.sendingApplication = "APP";
  r.sendingFacility = "FAC";
  if (n % 2 == 0) {
    r.status = MessageStatus::kRejected;
    r.error = "SB-102 MSH-2: bad encoding characters";
  }
  return r;
}

void appendAll(IngestJournal& j, int from, int to) {
  std::vector<InboundRecord> records;
  for (int n = from; n <= to; ++n) records.push_back(sample(n));
  std::vector<IngestJournal::Entry> entries;
  for (std::size_t i = 0; i < records.size(); ++i) {
    entries.emplace_back(from + static_cast<MessageId>(i), &records[i]);
  }
  j.append(entries);
}

TEST(IngestJournal, RecordsRoundTripInOrder) {
  sb::test::TempDir dir;
  auto j = IngestJournal::open(dir.path(), false);
  ASSERT_NE(j, nullptr);
  appendAll(*j, 1, 3);
  appendAll(*j, 4, 5);
  auto back = j->readAll();
  ASSERT_EQ(back.size(), 5u);
  for (int n = 1; n <= 5; ++n) {
    const auto& [id, r] = back[static_cast<std::size_t>(n - 1)];
    const InboundRecord want = sample(n);
    EXPECT_EQ(id, n);
    EXPECT_EQ(r.raw, want.raw);
    EXPECT_EQ(r.controlId, want.controlId);
    EXPECT_EQ(r.patientId, want.patientId);
    EXPECT_EQ(r.receivedAt, want.receivedAt);
    EXPECT_EQ(r.status, want.status);
    EXPECT_EQ(r.error, want.error);
    EXPECT_EQ(r.channel, want.channel);
    EXPECT_EQ(r.peer, want.peer);
  }
  j->reset();
  EXPECT_TRUE(j->readAll().empty());
  EXPECT_EQ(j->bytes(), 0u);
}

TEST(IngestJournal, TornTailEndsTheReplayAtTheLastIntactRecord) {
  sb::test::TempDir dir;
  const auto path = dir.path() / "ingest.journal";
  std::uintmax_t intact = 0;
  {
    auto j = IngestJournal::open(dir.path(), false);
    appendAll(*j, 1, 2);
    intact = std::filesystem::file_size(path);
    appendAll(*j, 3, 3);
  }
  // A crash in the middle of the third record's write.
  std::filesystem::resize_file(path, intact + 20);
  auto j = IngestJournal::open(dir.path(), false);
  auto back = j->readAll();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].first, 2);
}

TEST(IngestJournal, CorruptedRecordIsNotReadAsData) {
  sb::test::TempDir dir;
  const auto path = dir.path() / "ingest.journal";
  {
    auto j = IngestJournal::open(dir.path(), false);
    appendAll(*j, 1, 3);
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Flip a byte inside the second record's raw message: its CRC no longer matches.
  const auto second = bytes.find("|C2|");
  ASSERT_NE(second, std::string::npos);
  bytes[second + 1] = 'X';
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto j = IngestJournal::open(dir.path(), false);
  auto back = j->readAll();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].second.controlId, "C1");
}

std::vector<MessageId> idsOf(const std::vector<std::pair<MessageId, InboundRecord>>& records) {
  std::vector<MessageId> ids;
  for (const auto& [id, r] : records) ids.push_back(id);
  return ids;
}

// Appends continue while the store folds, so the journal is two files taking turns: past the
// rotation size appends move to the empty file, and a file is emptied once all of it is folded.
TEST(IngestJournal, FilesTakeTurnsAndAreEmptiedOnceFolded) {
  sb::test::TempDir dir;
  const auto first = dir.path() / "ingest.journal";
  const auto second = dir.path() / "ingest.journal.1";
  auto j = IngestJournal::open(dir.path(), false);
  ASSERT_NE(j, nullptr);
  j->setRotateBytes(1);
  appendAll(*j, 1, 3);
  EXPECT_TRUE(j->releaseDue(2));  // past the rotation size with the other file empty
  j->release(2);                  // record 3 is not folded: the first file stays, appends move on
  EXPECT_FALSE(j->releaseDue(2));
  EXPECT_GT(std::filesystem::file_size(first), 0u);
  appendAll(*j, 4, 5);
  EXPECT_GT(std::filesystem::file_size(second), 0u);
  EXPECT_EQ(idsOf(j->readAll()), (std::vector<MessageId>{1, 2, 3, 4, 5}));
  EXPECT_EQ(idsOf(IngestJournal::readFile(dir.path())), (std::vector<MessageId>{1, 2, 3, 4, 5}));

  EXPECT_FALSE(j->releaseDue(2));
  EXPECT_TRUE(j->releaseDue(3));
  j->release(3);  // the first file is all folded: emptied, and appends go back to it
  EXPECT_EQ(std::filesystem::file_size(first), 0u);
  appendAll(*j, 6, 6);
  EXPECT_GT(std::filesystem::file_size(first), 0u);
  EXPECT_EQ(idsOf(j->readAll()), (std::vector<MessageId>{4, 5, 6}));

  j->release(5);  // the second file is all folded; the first still holds 6
  EXPECT_EQ(std::filesystem::file_size(second), 0u);
  EXPECT_EQ(idsOf(j->readAll()), (std::vector<MessageId>{6}));
  EXPECT_EQ(j->bytes(), std::filesystem::file_size(first));

  EXPECT_TRUE(j->releaseDue(6));
  j->release(6);
  EXPECT_FALSE(j->releaseDue(6));
  EXPECT_TRUE(j->readAll().empty());
  EXPECT_EQ(j->bytes(), 0u);
}

// Below the rotation size the file being appended to is not emptied after every fold.
TEST(IngestJournal, SmallFileIsKeptUntilItIsWorthEmptying) {
  sb::test::TempDir dir;
  auto j = IngestJournal::open(dir.path(), false);
  ASSERT_NE(j, nullptr);
  appendAll(*j, 1, 2);
  EXPECT_FALSE(j->releaseDue(2));
  j->release(2);
  EXPECT_EQ(idsOf(j->readAll()), (std::vector<MessageId>{1, 2}));
  j->setRotateBytes(1);
  j->release(2);
  EXPECT_TRUE(j->readAll().empty());
}

// A write that fails half way (here: the file size limit) is cut off again, so a replay still
// reaches the records appended after it instead of stopping at the torn one.
TEST(IngestJournal, FailedAppendIsCutOffSoLaterRecordsStayReadable) {
  sb::test::TempDir dir;
  const auto path = dir.path() / "ingest.journal";
  auto j = IngestJournal::open(dir.path(), false);
  ASSERT_NE(j, nullptr);
  appendAll(*j, 1, 2);
  const auto intact = std::filesystem::file_size(path);
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = intact + 40;  // part of the next record's header and payload fits
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  EXPECT_THROW(appendAll(*j, 3, 4), std::system_error);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  EXPECT_FALSE(j->broken());
  EXPECT_EQ(std::filesystem::file_size(path), intact);
  appendAll(*j, 5, 5);
  EXPECT_EQ(idsOf(j->readAll()), (std::vector<MessageId>{1, 2, 5}));
}

// A clean shutdown removes both files while still holding the lock on the first: the next
// owner starts fresh files of its own and nothing it appends goes to a removed file.
TEST(IngestJournal, NextOwnerAfterARemoveWritesToFilesThatExist) {
  sb::test::TempDir dir;
  auto first = IngestJournal::open(dir.path(), false);
  ASSERT_NE(first, nullptr);
  appendAll(*first, 1, 2);
  first->removeFile();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ingest.journal"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ingest.journal.1"));
  auto next = IngestJournal::open(dir.path(), false);  // `first` still holds its lock
  ASSERT_NE(next, nullptr);
  next->setRotateBytes(1);
  appendAll(*next, 3, 3);
  next->release(0);  // past the rotation size: appends move to the second file
  appendAll(*next, 4, 4);
  EXPECT_EQ(idsOf(IngestJournal::readFile(dir.path())), (std::vector<MessageId>{3, 4}));
  first.reset();
  EXPECT_EQ(idsOf(IngestJournal::readFile(dir.path())), (std::vector<MessageId>{3, 4}));
}

TEST(IngestJournal, OneOwnerAtATime) {
  sb::test::TempDir dir;
  auto first = IngestJournal::open(dir.path(), false);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(IngestJournal::open(dir.path(), false), nullptr);
  first.reset();
  EXPECT_NE(IngestJournal::open(dir.path(), false), nullptr);
}

}  // namespace
}  // namespace sb::store::sqlite
