// Interoperability with real peers from other implementations:
//  - Debian's python3-hl7 `mllp_send` sends fixtures to our listener and gets our ACKs;
//  - `switchboard send` talks to @medplum/hl7's Hl7Server (npm) and gets its ACKs.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <fmt/format.h>

#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;

// LF-terminated fixtures (mllp_send --loose reads LF files), and the CR / CRLF variants that
// `switchboard send` normalises.
const std::vector<std::string> kLfFixtures = {"ADT-A01-01.hl7", "ADT-A08-01.hl7", "ORM-O01-01.hl7",
                                              "ADT01-23.hl7"};
const std::vector<std::string> kFixtures = {"ADT-A01-01.hl7",      "ORU-R01-01-cr.hl7",
                                            "SIU-S12-01-crlf.hl7", "DFT-P03-01-cr.hl7",
                                            "ORM-O01-01.hl7",      "ADT-A40-01-crlf.hl7"};

std::size_t countOf(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// In CI the peers are installed by tools/test.sh, so a missing peer is a failure there.
bool peerMissing(const std::string& what) {
  if (std::getenv("CI")) {
    ADD_FAILURE() << what << " is not installed (tools/test.sh installs it)";
  }
  return true;
}

TEST(Interop, PythonHl7MllpSendGetsOurAcks) {
  if (!std::filesystem::exists("/usr/bin/mllp_send") && peerMissing("python3-hl7 mllp_send")) {
    GTEST_SKIP() << "mllp_send not installed";
  }
  const auto port = test::freePort();
  Engine engine(fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "folder" {{ type = "file", directory = "out" }}
route "all" {{ from = "in", to = "folder" }}
)",
                            port));
  engine.waitPort(port);
  engine.start();
  for (const auto& f : kLfFixtures) {
    // --loose: the fixture files have LF line ends, mllp_send turns them into CR.
    const auto r = test::runCommand({"/usr/bin/mllp_send", "--loose", "-p", std::to_string(port),
                                     "-f", test::fixturePath("hl7v2/" + f).string(), "127.0.0.1"});
    EXPECT_EQ(r.exitCode, 0) << f << ": " << r.out;
    // ADT01-23 asks for enhanced mode (MSH-15), so it gets a commit ACK (CA).
    EXPECT_EQ(countOf(r.out, f == "ADT01-23.hl7" ? "MSA|CA|" : "MSA|AA|"), 1u)
        << f << ": " << r.out;
    EXPECT_EQ(countOf(r.out, "MSA|AE|") + countOf(r.out, "MSA|AR|"), 0u) << f << ": " << r.out;
  }
  ASSERT_TRUE(test::waitFor(
      [&] { return listFiles(engine.dataDir() / "out").size() >= kLfFixtures.size(); }, 30s));
}

TEST(Interop, SwitchboardSendTalksToMedplumHl7Server) {
  const auto script = test::sourceDir() / "tests/peers/medplum_hl7_server.mjs";
  if (!std::filesystem::exists(test::sourceDir() / "tests/peers/node_modules/@medplum/hl7") &&
      peerMissing("@medplum/hl7 (tests/peers)")) {
    GTEST_SKIP() << "@medplum/hl7 not installed";
  }
  const auto port = test::freePort();
  test::TempDir tmp;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execlp("node", "node", script.c_str(), std::to_string(port).c_str(), nullptr);
    ::_exit(127);
  }
  ASSERT_TRUE(test::waitForPort(port, 20s));
  std::vector<std::string> args = {test::binaryPath(), "send", "--mllp",
                                   fmt::format("127.0.0.1:{}", port)};
  for (const auto& f : kFixtures) args.push_back(test::fixturePath("hl7v2/" + f).string());
  const auto r = test::runCommand(args);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(countOf(r.out, "MSA|AA|"), kFixtures.size()) << r.out;
}

}  // namespace
}  // namespace sb::e2e
