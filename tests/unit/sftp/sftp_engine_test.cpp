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

// Finished files only: an upload still in progress ("name.part", renamed when complete) or a
// file destination's temporary (".name.N.tmp") is not there yet for the peer.
std::vector<std::string> namesIn(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    const bool inProgress =
        name.ends_with(".part") || (name.starts_with(".") && name.ends_with(".tmp"));
    if (!inProgress) out.push_back(name);
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

// X12 through the real binary: a clearinghouse drops an 835 and a broken 270 on its SFTP server;
// the 835 becomes one Remittance per claim (standard mapping, split), the 999 and the TA1 go back
// to the clearinghouse's reply folder, and the broken file is kept as rejected.
TEST(SftpEngine, X12RemittancesAreMappedAndAcknowledged) {
  if (!SshServer::available()) GTEST_SKIP() << "OpenSSH server not installed";
  SshServer ssh;
  fs::create_directories(ssh.root() / "outbound" / "archive");
  fs::create_directories(ssh.root() / "acks");
  TempDir dir;
  const auto config = dir.path() / "switchboard.lua";
  writeFile(config, fmt::format(R"(
engine {{ script_folders = {{ "{}" }} }}
channel "clearinghouse" {{
  type = "sftp",
  url = "{}",
  format = "x12",
  pattern = "*.x12",
  archive_folder = "archive",
  reply_folder = "{}/",
  poll_interval = 0.1,
  user = "{}", private_key = "{}", known_hosts = "{}",
}}
destination "pms_remittances" {{
  type = "file",
  directory = "{}",
  filename = "{{control_id}}-{{seq}}.json",
}}
route "remittances" {{
  from = "clearinghouse",
  filter = {{ message_type = "835" }},
  transform = "mappings/x12/remittance.lua:remittance_by_claim",
  to = "pms_remittances",
}}
)",
                                (sourceDir() / "scripts" / "lua").string(), ssh.url("outbound"),
                                (ssh.root() / "acks").string(), ssh.user(), ssh.userKey().string(),
                                ssh.knownHosts().string(), (dir.path() / "pms").string()));
  const auto check = runCommand({binaryPath(), "check", config.string()}, 60s, true);
  ASSERT_EQ(check.exitCode, 0) << check.out;
  const std::string remit = readFile(fixturePath("x12/valid/835_two_claims_balanced.x12"));
  const std::string broken = readFile(fixturePath("x12/invalid/env_iea02_not_isa13.x12"));
  writeFile(ssh.root() / "outbound" / "era-1.x12", remit);
  writeFile(ssh.root() / "outbound" / "elig-2.x12", broken);
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "engine.log";
  EngineProcess engine({"run", config.string(), "--data-dir", data.string()}, log);
  ASSERT_TRUE(waitFor([&] { return namesIn(dir.path() / "pms").size() == 2; }, 30s))
      << readFile(log);
  ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "acks").size() == 2; }, 10s))
      << readFile(log);
  EXPECT_EQ(namesIn(ssh.root() / "acks"),
            (std::vector<std::string>{"elig-2.x12.ta1", "era-1.x12.999"}));
  EXPECT_NE(readFile(ssh.root() / "acks" / "era-1.x12.999").find("AK2*835*"), std::string::npos);
  EXPECT_NE(readFile(ssh.root() / "acks" / "elig-2.x12.ta1").find("*R*001~"), std::string::npos);
  for (const auto& name : namesIn(dir.path() / "pms")) {
    const std::string json = readFile(dir.path() / "pms" / name);
    EXPECT_NE(json.find("\"resourceType\":\"Remittance\""), std::string::npos) << json;
  }
  ASSERT_TRUE(waitFor([&] { return namesIn(ssh.root() / "outbound").empty(); }, 10s));
  const auto rejected =
      runCommand({binaryPath(), "messages", "--data-dir", data.string(), "--status", "rejected"});
  ASSERT_EQ(rejected.exitCode, 0);
  EXPECT_NE(rejected.out.find("SB-602"), std::string::npos) << rejected.out;
}

}  // namespace
}  // namespace sb::test
