// The SFTP channel and destination against a real OpenSSH sshd on 127.0.0.1 (ssh_server.h), with
// a real SQLite store: files taken only when finished, committed before they are archived, never
// taken twice (dropped connections, archive failures, restarts), host keys checked, uploads
// under a temporary name. Plus the pure parts: listing lines, command paths, the ledger, config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "channels/common/file_ingest.h"
#include "channels/sftp/ledger.h"
#include "channels/sftp/sftp_client.h"
#include "channels/sftp/sftp_sender.h"
#include "channels/sftp/sftp_source.h"
#include "engine/config/lua_loader.h"
#include "ssh_server.h"
#include "store/message_store.h"
#include "tests/support/test_support.h"

namespace sb::channels::sftp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

#define REQUIRE_SSHD()                                                      \
  if (!test::SshServer::available()) {                                      \
    GTEST_SKIP() << "OpenSSH server not installed (tools/install-deps.sh)"; \
  }

// A real store behind the sink. store() can be held shut, to catch the source between
// download and commit.
class TestSink final : public IngestSink {
 public:
  explicit TestSink(const fs::path& dataDir) {
    store::Options o;
    o.dataDir = dataDir;
    store_ = store::openSqliteStore(o);
  }
  ~TestSink() override { store_->close(); }

  store::MessageStore& store() override {
    std::unique_lock lock(mutex_);
    ++waiting_;
    gate_.wait(lock, [this] { return open_; });
    --waiting_;
    return *store_;
  }
  void committed() override { ++wakes_; }

  void hold() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    gate_.notify_all();
  }
  bool someoneWaiting() {
    std::lock_guard lock(mutex_);
    return waiting_ > 0;
  }
  // Every stored message, oldest first.
  std::vector<store::StoredMessage> messages() {
    store::SearchQuery q;
    q.limit = 10000;
    std::vector<store::StoredMessage> out;
    for (const auto& s : store_->search(q)) {
      if (auto d = store_->get(s.id)) out.push_back(d->message);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.summary.id < b.summary.id; });
    return out;
  }
  std::size_t count() { return messages().size(); }
  int wakes() const { return wakes_; }

 private:
  std::unique_ptr<store::MessageStore> store_;
  std::mutex mutex_;
  std::condition_variable gate_;
  bool open_ = true;
  int waiting_ = 0;
  std::atomic<int> wakes_{0};
};

// The login keys for `ssh`, with the given known_hosts.
std::string login(const test::SshServer& ssh, const fs::path& knownHosts) {
  return fmt::format("user = \"{}\",\n  private_key = \"{}\",\n  known_hosts = \"{}\",\n",
                     ssh.user(), ssh.userKey().string(), knownHosts.string());
}

std::string login(const test::SshServer& ssh) {
  return login(ssh, ssh.knownHosts());
}

struct BuildResult {
  std::unique_ptr<Source> source;
  std::unique_ptr<Sender> sender;
  std::vector<std::string> errors;
};

// Builds a section the way the engine does: a Lua config read through the factory's keys.
BuildResult build(const std::string& kind, const std::string& body, const fs::path& dir,
                  IngestSink* sink, const fs::path& dataDir = {}) {
  const auto file = dir / "config.lua";
  test::writeFile(file, fmt::format("{} \"drop\" {{\n  type = \"sftp\",\n  {}\n}}\n", kind, body));
  config::Errors errors;
  const auto loaded = config::loadFile(file, errors);
  BuildResult b;
  if (loaded.sections.size() == 1) {
    std::vector<config::KeySpec> specs = {
        config::KeySpec{"type", config::ValueType::kString, true, "", ""}};
    const auto keys = kind == "channel" ? sftpSourceFactory().keys : sftpSenderFactory().keys;
    specs.insert(specs.end(), keys.begin(), keys.end());
    const config::Reader r(loaded.sections[0], specs, errors);
    BuildContext ctx;
    ctx.configDir = dir;
    ctx.dataDir = dataDir.empty() ? dir / "data" : dataDir;
    ctx.sink = sink;
    if (kind == "channel") {
      b.source = sftpSourceFactory().create(r, ctx);
    } else {
      b.sender = sftpSenderFactory().create(r, ctx);
    }
  }
  const std::string prefix = fmt::format("{}:1: {} 'drop': ", file.string(), kind);
  for (auto e : errors.items) {
    if (e.rfind(prefix, 0) == 0) e.erase(0, prefix.size());
    b.errors.push_back(e);
  }
  return b;
}

// A source polling quickly, with its store and state in `dataDir` (default: a fresh one).
struct SourceRig {
  test::TempDir dir;
  fs::path dataDir;
  TestSink sink;
  std::unique_ptr<Source> source;
  explicit SourceRig(const std::string& body, const fs::path& data = {})
      : dataDir(data.empty() ? dir.path() / "data" : data), sink(dataDir) {
    auto b = build("channel", body, dir.path(), &sink, dataDir);
    EXPECT_TRUE(b.errors.empty()) << ::testing::PrintToString(b.errors);
    source = std::move(b.source);
  }
  ~SourceRig() {
    sink.release();  // a test that failed while holding it must not hang here
    if (source) source->stop();
  }
};

std::vector<std::string> namesIn(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t countOf(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

std::string randomBytes(std::size_t size, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

std::string adt(const std::string& controlId) {
  return fmt::format(
      "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01|{}|P|2.5\r"
      "EVN|A01|20240101120000\r"
      "PID|1||PAT1^^^HOSP^MR||DOE^JANE||19800101|F\r"
      "PV1|1|I\r",
      controlId);
}

store::QueueItem item(const std::string& payload) {
  store::QueueItem q;
  q.queueId = 7;
  q.messageId = 42;
  q.destination = "partner";
  q.payload = payload;
  q.summary.id = 42;
  q.summary.channel = "adt in";
  q.summary.messageType = "ADT";
  q.summary.triggerEvent = "A01";
  q.summary.controlId = "C1";
  return q;
}

// ---- pure parts --------------------------------------------------------------------------

TEST(SftpListing, ReadsTheLongListingOpenSshSends) {
  auto e = parseListingLine("-rw-r--r--    1 root     root         1234 Nov 22 09:58 a.txt");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "a.txt");
  EXPECT_EQ(e->type, '-');
  EXPECT_EQ(e->size, 1234u);
  EXPECT_EQ(e->stamp, "Nov 22 09:58");

  e = parseListingLine("drwxr-xr-x    2 root     root         4096 Jan  1  2024 archive\r");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "archive");
  EXPECT_EQ(e->type, 'd');
  EXPECT_EQ(e->stamp, "Jan 1 2024");

  // Spaces inside and at the start of a name are part of it.
  e = parseListingLine("-rw-r--r--    1 u g 7 Nov 22 09:58  two  spaces.hl7");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, " two  spaces.hl7");

  e = parseListingLine("lrwxrwxrwx    1 u g 6 Nov 22 09:58 link.txt -> /etc/passwd");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, 'l');
  EXPECT_EQ(e->name, "link.txt");

  EXPECT_FALSE(parseListingLine(""));
  EXPECT_FALSE(parseListingLine("total 8"));
  EXPECT_FALSE(parseListingLine("-rw-r--r-- 1 u g big Nov 22 09:58 x"));
  EXPECT_FALSE(parseListingLine("-rw-r--r-- 1 u g 5 Nov 22 09:58"));
}

TEST(SftpPaths, CommandArgumentsAreQuotedAndHomeRelative) {
  EXPECT_EQ(commandPath("/in/a b.txt"), "\"/in/a b.txt\"");
  EXPECT_EQ(commandPath("/~/in/a.txt"), "\"in/a.txt\"");
  EXPECT_EQ(commandPath("/~/"), "\".\"");
  EXPECT_EQ(commandPath("/in/q\"\\x"), "\"/in/q\\\"\\\\x\"");
  EXPECT_EQ(remoteFolder("/in/", "archive"), "/in/archive/");
  EXPECT_EQ(remoteFolder("/in/", "/done/"), "/done/");
  EXPECT_EQ(remoteFolder("/in/", ""), "");
}

TEST(SftpLedger, EntriesSurviveReopeningAndClosedOnesAreDropped) {
  test::TempDir dir;
  const auto file = dir.path() / "sftp" / "in.ledger";
  const std::string a = sha256Hex("a"), b = sha256Hex("b");
  EXPECT_EQ(a, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
  {
    Ledger ledger(file);
    EXPECT_EQ(ledger.size(), 0u);
    ledger.add("one.txt", a);
    ledger.add("two words.txt", b);
    ledger.close("one.txt", a);
    EXPECT_FALSE(ledger.contains("one.txt", a));
    EXPECT_TRUE(ledger.contains("two words.txt", b));
    EXPECT_FALSE(ledger.contains("two words.txt", a));  // same name, other content
  }
  // A crash in the middle of an append leaves a line without its end: ignored.
  test::writeFile(file, test::readFile(file) + "+ " + a.substr(0, 10));
  {
    Ledger ledger(file);
    EXPECT_EQ(ledger.size(), 1u);
    EXPECT_TRUE(ledger.contains("two words.txt", b));
    EXPECT_FALSE(ledger.contains("one.txt", a));
  }
  // Rewritten with the open entries only.
  EXPECT_EQ(test::readFile(file), fmt::format("+ {} two words.txt\n", b));
  EXPECT_THROW(Ledger(file).add("bad\nname", a), std::invalid_argument);
}

TEST(SftpConfig, EveryKeyIsCheckedBeforeAnythingConnects) {
  test::TempDir dir;
  test::writeFile(dir.path() / "key", "not used");
  test::writeFile(dir.path() / "known_hosts", "");
  const std::string auth = "user = \"u\", private_key = \"key\", known_hosts = \"known_hosts\",";
  const auto errorsOf = [&](const std::string& kind, const std::string& body) {
    return build(kind, body, dir.path(), nullptr).errors;
  };
  using ::testing::ElementsAre;
  EXPECT_THAT(errorsOf("channel", "url = \"sftp://h/in/\", archive_folder = \"a\", " + auth),
              ElementsAre());
  EXPECT_THAT(errorsOf("destination", "url = \"sftp://h/out\", " + auth), ElementsAre());
  EXPECT_THAT(errorsOf("channel", "url = \"http://h/in/\", archive_folder = \"a\", " + auth),
              ElementsAre(HasSubstr("must start with sftp://")));
  EXPECT_THAT(errorsOf("channel", "url = \"sftp://bob@h/in/\", archive_folder = \"a\", " + auth),
              ElementsAre(HasSubstr("must not hold a user or password")));
  EXPECT_THAT(errorsOf("channel", "url = \"sftp://h/in/\", " + auth),
              ElementsAre(HasSubstr("archive_folder': is required")));
  EXPECT_THAT(errorsOf("channel", "url = \"sftp://h/in/\", after = \"delete\", " + auth),
              ElementsAre());
  EXPECT_THAT(errorsOf("channel", "url = \"sftp://h/in/\", after = \"keep\", " + auth),
              ElementsAre(HasSubstr("must be \"archive\" or \"delete\"")));
  EXPECT_THAT(
      errorsOf("channel", "url = \"sftp://h/in/\", after = \"delete\", format = \"edi\", " + auth),
      ElementsAre(HasSubstr("must be \"raw\", \"hl7v2\" or \"x12\"")));
  EXPECT_THAT(errorsOf("channel",
                       "url = \"sftp://h/in/\", after = \"delete\", user = \"u\", "
                       "private_key = \"key\""),
              ElementsAre(HasSubstr("missing required key 'known_hosts'")));
  EXPECT_THAT(errorsOf("channel",
                       "url = \"sftp://h/in/\", after = \"delete\", user = \"u\", "
                       "private_key = \"key\", known_hosts = \"nowhere\""),
              ElementsAre(HasSubstr("file not found")));
  EXPECT_THAT(errorsOf("channel",
                       "url = \"sftp://h/in/\", after = \"delete\", user = \"u\", "
                       "known_hosts = \"known_hosts\""),
              ElementsAre(HasSubstr("needs `private_key` or `password`")));
  EXPECT_THAT(errorsOf("destination", "url = \"sftp://h/out/\", password = \"p\", " + auth),
              ElementsAre(HasSubstr("either `password` or `private_key`")));
  EXPECT_THAT(errorsOf("destination", "url = \"sftp://h/out/\", filename = \"{nope}.x\", " + auth),
              ElementsAre(HasSubstr("unknown placeholder {nope}")));
  EXPECT_THAT(errorsOf("destination", "url = \"sftp://h/out/\", filename = \"a/b\", " + auth),
              ElementsAre(HasSubstr("must not contain '/'")));
  EXPECT_THAT(errorsOf("destination", "url = \"sftp://h/out/\", knwon_hosts = \"x\", " + auth),
              ElementsAre(HasSubstr("did you mean 'known_hosts'")));
}

TEST(SftpFileIngest, FormatsAreKnownOrRefused) {
  EXPECT_TRUE(isKnownFileFormat("raw"));
  EXPECT_TRUE(isKnownFileFormat("hl7v2"));
  EXPECT_TRUE(isKnownFileFormat("x12"));
  EXPECT_FALSE(isKnownFileFormat("csv"));
  test::TempDir dir;
  TestSink sink(dir.path());
  EXPECT_THROW(ingestFile("csv", "in", sink, "p", "f", "x", [](FileIngestResult) {}),
               std::invalid_argument);
}

// A reply file is named by what it carries, whatever the interchange's delimiters: ".999" when
// it holds a 999 (here for an 835 written with '|' and '!'), ".ta1" for a TA1 alone (an ISA
// rejected for its date).
TEST(SftpFileIngest, X12RepliesAreNamedByWhatTheyCarry) {
  test::TempDir dir;
  TestSink sink(dir.path());
  const auto ingest = [&](const std::string& name, const std::string& fixture) {
    std::promise<FileIngestResult> got;
    ingestFile("x12", "in", sink, "p", name,
               test::readFile(test::sourceDir() / "fixtures" / "x12" / fixture),
               [&](FileIngestResult r) { got.set_value(std::move(r)); });
    return got.get_future().get();
  };
  const auto era = ingest("era.x12", "valid/env_pipe_bang.x12");
  EXPECT_TRUE(era.committed);
  ASSERT_EQ(era.replies.size(), 1u);
  EXPECT_EQ(era.replies[0].name, "era.x12.999");
  EXPECT_THAT(era.replies[0].bytes, HasSubstr("ST|999|"));
  const auto broken = ingest("broken.x12", "invalid/env_bad_isa_date.x12");
  EXPECT_TRUE(broken.committed);
  ASSERT_EQ(broken.replies.size(), 1u);
  EXPECT_EQ(broken.replies[0].name, "broken.x12.ta1");
  EXPECT_THAT(broken.replies[0].bytes, HasSubstr("TA1*"));
  EXPECT_THAT(broken.replies[0].bytes, ::testing::Not(HasSubstr("ST*999*")));
}

// ---- the channel against sshd ------------------------------------------------------------

TEST(SftpSource, CommitsAFileAndArchivesItOnlyAfterTheCommit) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  const std::string content = "first file\nwith two lines\n";
  test::writeFile(ssh.root() / "in" / "a.txt", content);

  SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "archive", poll_interval = 0.05,
  {})",
                            ssh.url("in"), login(ssh)));
  ASSERT_TRUE(rig.source);
  EXPECT_THAT(rig.source->describe(), HasSubstr("sftp sftp://127.0.0.1:"));
  rig.sink.hold();
  rig.source->start();
  // Downloaded, about to commit: the file must still be where it was.
  ASSERT_TRUE(test::waitFor([&] { return rig.sink.someoneWaiting(); }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(namesIn(ssh.root() / "in"), std::vector<std::string>{"a.txt"});
  EXPECT_TRUE(namesIn(ssh.root() / "in" / "archive").empty());
  EXPECT_EQ(rig.sink.count(), 0u);

  rig.sink.release();
  ASSERT_TRUE(
      test::waitFor([&] { return fs::exists(ssh.root() / "in" / "archive" / "a.txt"); }, 10s));
  EXPECT_TRUE(namesIn(ssh.root() / "in").empty());
  EXPECT_EQ(test::readFile(ssh.root() / "in" / "archive" / "a.txt"), content);
  const auto messages = rig.sink.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].raw, content);
  EXPECT_EQ(messages[0].summary.messageType, "RAW");
  EXPECT_EQ(messages[0].summary.channel, "drop");
  EXPECT_EQ(messages[0].summary.peer, ssh.url("in") + "a.txt");
  EXPECT_GE(rig.sink.wakes(), 1);
  // One download, then the rename: nothing else touched the file.
  const std::string log = ssh.sftpLog();
  EXPECT_EQ(countOf(log, fmt::format("open \"{}\"", (ssh.root() / "in" / "a.txt").string())), 1u)
      << log;
  EXPECT_EQ(countOf(log, "rename old"), 1u) << log;
}

TEST(SftpSource, Hl7FilesBecomeOneMessagePerMessageAndAreDeleted) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in");
  // Two plain messages in one file (with \n line ends, as files often have), then a batch.
  std::string two = adt("C1") + adt("C2");
  std::replace(two.begin(), two.end(), '\r', '\n');
  test::writeFile(ssh.root() / "in" / "1-two.hl7", two);
  test::writeFile(ssh.root() / "in" / "2-batch.hl7",
                  "FHS|^~\\&\rBHS|^~\\&\r" + adt("C3") + adt("C4") + "BTS|2\rFTS|1\r");
  test::writeFile(ssh.root() / "in" / "3-junk.hl7", "this is not HL7\n");

  SourceRig rig(fmt::format(R"(url = "{}", after = "delete", format = "hl7v2", pattern = "*.hl7",
  poll_interval = 0.05, stable_checks = 0, {})",
                            ssh.url("in"), login(ssh)));
  rig.source->start();
  ASSERT_TRUE(test::waitFor([&] { return namesIn(ssh.root() / "in").empty(); }, 10s));
  const auto messages = rig.sink.messages();
  ASSERT_EQ(messages.size(), 5u);
  std::vector<std::string> ids;
  for (const auto& m : messages) ids.push_back(m.summary.controlId);
  EXPECT_EQ(ids, (std::vector<std::string>{"C1", "C2", "C3", "C4", ""}));
  EXPECT_EQ(messages[0].summary.messageType, "ADT");
  EXPECT_EQ(messages[0].summary.status, store::MessageStatus::kReceived);
  EXPECT_EQ(messages[3].summary.peer, ssh.url("in") + "2-batch.hl7");
  // Not HL7 at all: kept whole as rejected, and the file is still done with.
  EXPECT_EQ(messages[4].summary.status, store::MessageStatus::kRejected);
  EXPECT_EQ(messages[4].raw, "this is not HL7\n");
}

// X12 files: each interchange is a message; the 999 (or TA1 for a broken envelope) is uploaded
// to the reply folder, named after the file, once the file is committed.
TEST(SftpSource, X12FilesAreAcknowledgedInTheReplyFolder) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  fs::create_directories(ssh.root() / "acks");
  const std::string claims = test::readFile(test::fixturePath("x12/valid/837P_professional.x12"));
  const std::string broken =
      test::readFile(test::fixturePath("x12/invalid/env_iea02_not_isa13.x12"));
  test::writeFile(ssh.root() / "in" / "1-claims.x12", claims);
  test::writeFile(ssh.root() / "in" / "2-broken.x12", broken);

  SourceRig rig(
      fmt::format(R"(url = "{}", format = "x12", pattern = "*.x12", archive_folder = "archive",
  reply_folder = "{}/", poll_interval = 0.05, stable_checks = 0, {})",
                  ssh.url("in"), (ssh.root() / "acks").string(), login(ssh)));
  rig.source->start();
  ASSERT_TRUE(test::waitFor([&] { return namesIn(ssh.root() / "acks").size() == 2; }, 10s));
  ASSERT_TRUE(
      test::waitFor([&] { return namesIn(ssh.root() / "in" / "archive").size() == 2; }, 10s));
  EXPECT_EQ(namesIn(ssh.root() / "acks"),
            (std::vector<std::string>{"1-claims.x12.999", "2-broken.x12.ta1"}));
  const std::string ack999 = test::readFile(ssh.root() / "acks" / "1-claims.x12.999");
  EXPECT_NE(ack999.find("AK2*837*0001*005010X222A1~\nIK5*A~\nAK9*A*1*1*1~"), std::string::npos)
      << ack999;
  const std::string ta1 = test::readFile(ssh.root() / "acks" / "2-broken.x12.ta1");
  EXPECT_NE(ta1.find("*R*001~"), std::string::npos) << ta1;
  const auto messages = rig.sink.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].raw, claims);
  EXPECT_EQ(messages[0].summary.messageType, "837");
  EXPECT_EQ(messages[0].summary.triggerEvent, "837P");
  EXPECT_EQ(messages[0].summary.status, store::MessageStatus::kReceived);
  EXPECT_EQ(messages[1].raw, broken);
  EXPECT_EQ(messages[1].summary.status, store::MessageStatus::kRejected);
}

TEST(SftpSource, LeavesAFileAloneWhileItIsWrittenAndSkipsTemporaryNames) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  test::writeFile(ssh.root() / "in" / "upload.part", "half");
  test::writeFile(ssh.root() / "in" / "upload.filepart", "half");
  test::writeFile(ssh.root() / "in" / ".hidden", "dot files are not matched by *");
  test::writeFile(ssh.root() / "in" / "other.csv", "pattern says *.txt");

  SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "archive", pattern = "*.txt",
  poll_interval = 0.1, stable_checks = 1, {})",
                            ssh.url("in"), login(ssh)));
  rig.source->start();
  // A writer appending every 30 ms for 1.5 s: the size differs at every listing.
  const auto growing = ssh.root() / "in" / "growing.txt";
  std::string written;
  for (int i = 0; i < 50; ++i) {
    written += fmt::format("line {}\n", i);
    test::writeFile(growing, written);
    std::this_thread::sleep_for(30ms);
    ASSERT_EQ(rig.sink.count(), 0u) << "taken while still written, at line " << i;
  }
  ASSERT_TRUE(test::waitFor(
      [&] { return fs::exists(ssh.root() / "in" / "archive" / "growing.txt"); }, 10s));
  const auto messages = rig.sink.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].raw, written);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rig.sink.count(), 1u);
  EXPECT_EQ(namesIn(ssh.root() / "in"),
            (std::vector<std::string>{".hidden", "other.csv", "upload.filepart", "upload.part"}));
}

TEST(SftpSource, ADroppedDownloadIsTakenAgainAndCommittedExactlyOnce) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  test::TcpRelay relay(ssh.port());
  fs::create_directories(ssh.root() / "in" / "archive");
  const std::string content = randomBytes(4 << 20, 7);
  test::writeFile(ssh.root() / "in" / "big.bin", content);
  // The connection dies after 1 MiB from the server: in the middle of the 4 MiB download.
  relay.cutAfter(1 << 20);

  SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "archive", poll_interval = 0.1,
  stable_checks = 0, {})",
                            ssh.url("in", relay.port()), login(ssh, ssh.knownHosts(relay.port()))));
  rig.source->start();
  ASSERT_TRUE(
      test::waitFor([&] { return fs::exists(ssh.root() / "in" / "archive" / "big.bin"); }, 30s));
  EXPECT_EQ(relay.cuts(), 1);
  EXPECT_GE(relay.connections(), 2);
  const auto messages = rig.sink.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].raw == content) << "stored " << messages[0].raw.size() << " bytes";
  // Opened twice: the cut download and the whole one.
  EXPECT_EQ(
      countOf(ssh.sftpLog(), fmt::format("open \"{}\"", (ssh.root() / "in" / "big.bin").string())),
      2u);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rig.sink.count(), 1u);
}

TEST(SftpSource, AnUnknownOrChangedHostKeyIsRefusedBeforeAnyFileIsRead) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  test::writeFile(ssh.root() / "in" / "a.txt", "secret");
  {
    SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "archive", poll_interval = 0.05,
    stable_checks = 0, {})",
                              ssh.url("in"), login(ssh, ssh.wrongKnownHosts())));
    rig.source->start();
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(rig.sink.count(), 0u);
  }
  EXPECT_EQ(namesIn(ssh.root() / "in"), std::vector<std::string>{"a.txt"});
  // Refused during the key exchange: no login, no SFTP session, nothing opened.
  EXPECT_EQ(ssh.sshdLog().find("Accepted publickey"), std::string::npos) << ssh.sshdLog();
  EXPECT_EQ(ssh.sftpLog().find("open"), std::string::npos);
  // known_hosts is read, never written.
  const std::string before = test::readFile(ssh.wrongKnownHosts());

  Connection c;
  c.origin = fmt::format("sftp://127.0.0.1:{}", ssh.port());
  c.folder = (ssh.root() / "in").string() + "/";
  c.user = ssh.user();
  c.privateKey = ssh.userKey().string();
  std::vector<RemoteEntry> entries;
  c.knownHosts = ssh.wrongKnownHosts().string();
  Result r = Client(c).list(c.folder, entries);
  EXPECT_EQ(r.fault, Fault::kHostKey);
  EXPECT_THAT(r.error, HasSubstr("host key refused: it differs from the one in"));
  c.knownHosts = ssh.otherHostKnownHosts().string();
  r = Client(c).list(c.folder, entries);
  EXPECT_EQ(r.fault, Fault::kHostKey);
  EXPECT_THAT(r.error, HasSubstr("has no key for this host"));
  EXPECT_EQ(test::readFile(ssh.wrongKnownHosts()), before);
  c.knownHosts = ssh.knownHosts().string();
  r = Client(c).list(c.folder, entries);
  EXPECT_TRUE(r) << r.error;
  ASSERT_EQ(entries.size(), 2u);  // a.txt and archive
  // Hashed host names (HashKnownHosts yes) are read too.
  test::TempDir hashed;
  fs::copy_file(ssh.knownHosts(), hashed.path() / "known_hosts");
  ASSERT_EQ(
      test::runCommand({"ssh-keygen", "-q", "-H", "-f", (hashed.path() / "known_hosts").string()})
          .exitCode,
      0);
  ASSERT_EQ(test::readFile(hashed.path() / "known_hosts").rfind("|1|", 0), 0u);
  c.knownHosts = (hashed.path() / "known_hosts").string();
  r = Client(c).list(c.folder, entries);
  EXPECT_TRUE(r) << r.error;
}

TEST(SftpSource, TheLedgerKeepsAFileFromBeingTakenTwiceWhenArchivingFails) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  // No archive folder yet: the commit succeeds and the archive fails, like an engine that died
  // between the two.
  fs::create_directories(ssh.root() / "in");
  const auto file = ssh.root() / "in" / "a.txt";
  test::writeFile(file, "only once");
  const std::string body =
      fmt::format(R"(url = "{}", archive_folder = "archive", poll_interval = 0.05,
  stable_checks = 0, {})",
                  ssh.url("in"), login(ssh));
  const std::string opened = fmt::format("open \"{}\"", file.string());
  test::TempDir data;
  {
    SourceRig rig(body, data.path());
    rig.source->start();
    ASSERT_TRUE(test::waitFor([&] { return rig.sink.count() == 1; }, 10s));
    // It is downloaded again and again (the ledger compares content), never ingested again.
    ASSERT_TRUE(test::waitFor([&] { return countOf(ssh.sftpLog(), opened) >= 4; }, 10s));
    EXPECT_EQ(rig.sink.count(), 1u);
    EXPECT_TRUE(fs::exists(file));
    rig.source->stop();
    EXPECT_EQ(test::readFile(data.path() / "sftp" / "drop.ledger"),
              fmt::format("+ {} a.txt\n", sha256Hex("only once")));
  }
  // Restart with the archive folder in place: archived, still without a second message.
  fs::create_directories(ssh.root() / "in" / "archive");
  SourceRig restarted(body, data.path());
  ASSERT_EQ(restarted.sink.count(), 1u);
  restarted.source->start();
  ASSERT_TRUE(
      test::waitFor([&] { return fs::exists(ssh.root() / "in" / "archive" / "a.txt"); }, 10s));
  EXPECT_FALSE(fs::exists(file));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(restarted.sink.count(), 1u);
  restarted.source->stop();
  EXPECT_EQ(Ledger(data.path() / "sftp" / "drop.ledger").size(), 0u);
}

TEST(SftpSource, FilesOverTheSizeLimitStayWhereTheyAre) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  test::writeFile(ssh.root() / "in" / "big.txt", std::string(5000, 'x'));
  test::writeFile(ssh.root() / "in" / "small.txt", "small");
  SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "archive", poll_interval = 0.05,
  stable_checks = 0, max_file_bytes = 1000, {})",
                            ssh.url("in"), login(ssh)));
  rig.source->start();
  ASSERT_TRUE(
      test::waitFor([&] { return fs::exists(ssh.root() / "in" / "archive" / "small.txt"); }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rig.sink.count(), 1u);
  EXPECT_EQ(namesIn(ssh.root() / "in"), std::vector<std::string>{"big.txt"});
  EXPECT_EQ(ssh.sftpLog().find("big.txt"), std::string::npos);
}

TEST(SftpSource, AnArchivedFileOfTheSameNameIsKept) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "done");
  test::writeFile(ssh.root() / "in" / "done" / "daily.txt", "yesterday");
  test::writeFile(ssh.root() / "in" / "daily.txt", "today");
  SourceRig rig(fmt::format(R"(url = "{}", archive_folder = "done", poll_interval = 0.05,
  stable_checks = 0, {})",
                            ssh.url("in"), login(ssh)));
  rig.source->start();
  ASSERT_TRUE(test::waitFor([&] { return namesIn(ssh.root() / "in").empty(); }, 10s));
  const auto archived = namesIn(ssh.root() / "in" / "done");
  ASSERT_EQ(archived.size(), 2u);
  EXPECT_EQ(archived[0], "daily.txt");
  EXPECT_EQ(test::readFile(ssh.root() / "in" / "done" / "daily.txt"), "yesterday");
  EXPECT_THAT(archived[1], ::testing::MatchesRegex("daily\\.txt\\.[0-9]{8}T[0-9]{9}"));
  EXPECT_EQ(test::readFile(ssh.root() / "in" / "done" / archived[1]), "today");
  EXPECT_EQ(rig.sink.count(), 1u);
}

TEST(SftpSource, RepliesAreUploadedBeforeTheArchiveAndSurviveARestart) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  test::writeFile(ssh.root() / "in" / "claim.x12", "ISA*00*claim~");
  test::TempDir data;
  SftpSourceOptions o;
  o.channel = "claims";
  o.connection.origin = fmt::format("sftp://127.0.0.1:{}", ssh.port());
  o.connection.folder = (ssh.root() / "in").string() + "/";
  o.connection.user = ssh.user();
  o.connection.privateKey = ssh.userKey().string();
  o.connection.knownHosts = ssh.knownHosts().string();
  o.pollInterval = 50ms;
  o.stableChecks = 0;
  o.archiveFolder = o.connection.folder + "archive/";
  o.replyFolder = (ssh.root() / "acks").string() + "/";  // not there yet
  o.stateDir = data.path() / "sftp";
  // A format that answers each file (as X12 does with a 999).
  o.ingest = [](std::string_view, const std::string& channel, IngestSink& sink,
                const std::string& peer, const std::string& name, std::string bytes,
                FileIngestDone done) {
    ingestFile("raw", channel, sink, peer, name, std::move(bytes),
               [done, name](FileIngestResult r) {
                 if (r.committed) r.replies.push_back({name + ".999", "999 for " + name});
                 done(std::move(r));
               });
  };
  const auto replies = data.path() / "sftp" / "claims.replies";
  const std::string opened = fmt::format("open \"{}\"", (ssh.root() / "in" / "claim.x12").string());
  {
    TestSink sink(data.path());
    SftpSource source(o, sink);
    source.start();
    ASSERT_TRUE(test::waitFor([&] { return countOf(ssh.sftpLog(), opened) >= 3; }, 10s));
    source.stop();
    // Committed once; the reply could not be uploaded, so the file stays and the reply waits.
    EXPECT_EQ(sink.count(), 1u);
    EXPECT_TRUE(fs::exists(ssh.root() / "in" / "claim.x12"));
    ASSERT_TRUE(fs::exists(replies));
    std::size_t kept = 0;
    for (const auto& d : fs::recursive_directory_iterator(replies)) kept += d.is_regular_file();
    EXPECT_EQ(kept, 1u);
  }
  fs::create_directories(ssh.root() / "acks");
  {
    TestSink sink(data.path());
    SftpSource source(o, sink);
    source.start();
    ASSERT_TRUE(test::waitFor(
        [&] { return fs::exists(ssh.root() / "in" / "archive" / "claim.x12"); }, 10s));
    source.stop();
    EXPECT_EQ(sink.count(), 1u);
  }
  EXPECT_EQ(namesIn(ssh.root() / "acks"), std::vector<std::string>{"claim.x12.999"});
  EXPECT_EQ(test::readFile(ssh.root() / "acks" / "claim.x12.999"), "999 for claim.x12");
  const std::string log = ssh.sftpLog();
  const auto reply = log.find("rename old \"" + (ssh.root() / "acks").string());
  const auto archive = log.find("new \"" + (ssh.root() / "in" / "archive").string());
  ASSERT_NE(reply, std::string::npos) << log;
  ASSERT_NE(archive, std::string::npos) << log;
  EXPECT_LT(reply, archive);
  EXPECT_TRUE(fs::is_empty(replies));
}

// ---- the destination against sshd --------------------------------------------------------

TEST(SftpSender, UploadsUnderATemporaryNameThenRenamesAndReplacesOnRedelivery) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "out");
  test::TempDir dir;
  auto b = build("destination",
                 fmt::format("url = \"{}\", filename = \"{{channel}}-{{id}}.x12\", {}",
                             ssh.url("out"), login(ssh)),
                 dir.path(), nullptr);
  ASSERT_TRUE(b.errors.empty()) << ::testing::PrintToString(b.errors);
  const std::string name = "adt_in-000000000042.x12";
  const auto final = ssh.root() / "out" / name;

  SendResult r = b.sender->send(item("ISA*first"));
  ASSERT_EQ(r.status, SendStatus::kOk) << r.error;
  EXPECT_EQ(r.response, final.string());
  EXPECT_EQ(namesIn(ssh.root() / "out"), std::vector<std::string>{name});
  EXPECT_EQ(test::readFile(final), "ISA*first");
  const std::string log = ssh.sftpLog();
  const auto open = log.find(fmt::format("open \"{}.part\" flags WRITE", final.string()));
  const auto rename =
      log.find(fmt::format("rename old \"{}.part\" new \"{}\"", final.string(), final.string()));
  ASSERT_NE(open, std::string::npos) << log;
  ASSERT_NE(rename, std::string::npos) << log;
  EXPECT_LT(open, rename);
  EXPECT_EQ(log.find(fmt::format("open \"{}\"", final.string())), std::string::npos);

  // Delivered again (an attempt whose answer was lost): the file is replaced, not refused.
  r = b.sender->send(item("ISA*second"));
  ASSERT_EQ(r.status, SendStatus::kOk) << r.error;
  EXPECT_EQ(namesIn(ssh.root() / "out"), std::vector<std::string>{name});
  EXPECT_EQ(test::readFile(final), "ISA*second");
}

TEST(SftpSender, AMissingFolderIsRetriedOrCreated) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  test::TempDir dir;
  auto plain = build("destination", fmt::format("url = \"{}\", {}", ssh.url("out/new"), login(ssh)),
                     dir.path(), nullptr);
  SendResult r = plain.sender->send(item("x"));
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, HasSubstr("create_folders"));
  auto creating =
      build("destination",
            fmt::format("url = \"{}\", create_folders = true, {}", ssh.url("out/new"), login(ssh)),
            dir.path(), nullptr);
  r = creating.sender->send(item("x"));
  ASSERT_EQ(r.status, SendStatus::kOk) << r.error;
  EXPECT_EQ(namesIn(ssh.root() / "out" / "new"),
            std::vector<std::string>{"000000000042-000000000007.dat"});
}

TEST(SftpSender, KeyProblemsAreRetriedAndPermissionDeniedIsNot) {
  REQUIRE_SSHD();
  test::SshServer ssh;
  fs::create_directories(ssh.root() / "out");
  test::TempDir dir;
  auto wrongHost =
      build("destination",
            fmt::format("url = \"{}\", {}", ssh.url("out"), login(ssh, ssh.wrongKnownHosts())),
            dir.path(), nullptr);
  SendResult r = wrongHost.sender->send(item("x"));
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, HasSubstr("host key refused"));

  // A valid key the server does not know (this server's other host key).
  test::TempDir keys;
  const auto stranger = keys.path() / "stranger";
  ASSERT_EQ(
      test::runCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger.string()})
          .exitCode,
      0);
  auto wrongUser =
      build("destination",
            fmt::format("url = \"{}\", user = \"{}\", private_key = \"{}\", "
                        "known_hosts = \"{}\"",
                        ssh.url("out"), ssh.user(), stranger.string(), ssh.knownHosts().string()),
            dir.path(), nullptr);
  r = wrongUser.sender->send(item("x"));
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, HasSubstr("login refused"));
  EXPECT_TRUE(namesIn(ssh.root() / "out").empty());

  // An encrypted key with its passphrase logs in; with a wrong one it is a login problem.
  const auto locked = keys.path() / "locked";
  ASSERT_EQ(test::runCommand(
                {"ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", locked.string()})
                .exitCode,
            0);
  ssh.authorize(keys.path() / "locked.pub");
  for (const std::string passphrase : {"open sesame", "wrong"}) {
    auto encrypted = build("destination",
                           fmt::format("url = \"{}\", user = \"{}\", private_key = \"{}\", "
                                       "key_passphrase = \"{}\", known_hosts = \"{}\"",
                                       ssh.url("out"), ssh.user(), locked.string(), passphrase,
                                       ssh.knownHosts().string()),
                           dir.path(), nullptr);
    r = encrypted.sender->send(item("locked"));
    if (passphrase == "wrong") {
      EXPECT_EQ(r.status, SendStatus::kRetry);
      EXPECT_THAT(r.error, HasSubstr("login refused"));
    } else {
      EXPECT_EQ(r.status, SendStatus::kOk) << r.error;
    }
  }

  test::SshServer readOnly(test::SshServer::Options{.readOnly = true});
  fs::create_directories(readOnly.root() / "out");
  auto denied =
      build("destination", fmt::format("url = \"{}\", {}", readOnly.url("out"), login(readOnly)),
            dir.path(), nullptr);
  r = denied.sender->send(item("x"));
  EXPECT_EQ(r.status, SendStatus::kError) << r.error;
  EXPECT_THAT(r.error, HasSubstr("permission denied"));
}

}  // namespace
}  // namespace sb::channels::sftp
