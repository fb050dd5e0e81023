// Through the real binary: HL7 files dropped on an SFTP server are taken by an `sftp` channel,
// committed, archived, routed and uploaded by an `sftp` destination to another folder of the
// same server; after a kill -9, a file that arrived meanwhile is taken by the restarted engine.
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "ssh_server.h"
#include "tests/support/test_support.h"

namespace sb::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string adt(const std::string& controlId) {
  return fmt::format(
      "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01|{}|P|2.5\r"
      "EVN|A01|20240101120000\r"
      "PID|1||PAT1^^^HOSP^MR||DOE^JANE||19800101|F\r"
      "PV1|1|I\r",
      controlId);
}

std::vector<std::string> namesIn(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SftpEngine, FilesFromOneFolderAreDeliveredToAnotherMessageByMessage) {
  if (!SshServer::available()) GTEST_SKIP() << "OpenSSH server not installed";
  SshServer ssh;
  fs::create_directories(ssh.root() / "in" / "archive");
  fs::create_directories(ssh.root() / "out");
  TempDir dir;
  const std::string login =
      fmt::format("user = \"{}\", private_key = \"{}\", known_hosts = \"{}\"", ssh.user(),
                  ssh.userKey().string(), ssh.knownHosts().string());
  const auto config = dir.path() / "switchboard.lua";
  writeFile(config, fmt::format(R"(
channel "drop" {{
  type = "sftp",
  url = "{}",
  format = "hl7v2",
  pattern = "*.hl7",
  archive_folder = "archive",
  poll_interval = 0.1,
  {},
}}
destination "partner" {{
  type = "sftp",
  url = "{}",
  filename = "{{control_id}}.hl7",
  {},
  retry = {{ initial_backoff = 0.05, max_backoff = 0.2 }},
}}
route "all" {{ from = "drop", to = "partner" }}
)",
                                ssh.url("in"), login, ssh.url("out"), login));
  const auto check = runCommand({binaryPath(), "check", config.string()}, 60s, true);
  ASSERT_EQ(check.exitCode, 0) << check.out;

  writeFile(ssh.root() / "in" / "001.hl7", adt("C1") + adt("C2"));
  writeFile(ssh.root() / "in" / "002.hl7", adt("C3"));
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "engine.log";
  {
    EngineProcess engine({"run", config.string(), "--data-dir", data.string()}, log);
    ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "out").size() == 3; }, 30s))
        << readFile(log);
    EXPECT_EQ(namesIn(ssh.root() / "out"),
              (std::vector<std::string>{"C1.hl7", "C2.hl7", "C3.hl7"}));
    EXPECT_EQ(readFile(ssh.root() / "out" / "C2.hl7"), adt("C2"));
    ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "in").empty(); }, 10s));
    EXPECT_EQ(namesIn(ssh.root() / "in" / "archive"),
              (std::vector<std::string>{"001.hl7", "002.hl7"}));

    // Killed without warning, another file arrives, the engine comes back.
    engine.kill9();
  }
  writeFile(ssh.root() / "in" / "003.hl7", adt("C4"));
  {
    EngineProcess engine({"run", config.string(), "--data-dir", data.string()}, log);
    ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "out").size() == 4; }, 30s))
        << readFile(log);
    ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "in").empty(); }, 10s));
  }
  const auto messages =
      runCommand({binaryPath(), "messages", "--data-dir", data.string(), "--channel", "drop"});
  ASSERT_EQ(messages.exitCode, 0);
  for (const auto& id : {"C1", "C2", "C3", "C4"}) {
    EXPECT_NE(messages.out.find(id), std::string::npos) << messages.out;
  }
  const std::string engineLog = readFile(log);
  EXPECT_NE(engineLog.find("channel drop listening: sftp sftp://127.0.0.1:"), std::string::npos)
      << engineLog;
  // No message contents in the log at the default level.
  EXPECT_EQ(engineLog.find("DOE^JANE"), std::string::npos);
}

}  // namespace
}  // namespace sb::test
