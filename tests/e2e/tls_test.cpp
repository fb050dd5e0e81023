// TLS and mutual TLS on the real binary's MLLP listener, with certificates the test generates.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "test_certs.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

std::size_t countOf(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class Tls : public ::testing::Test {
 protected:
  void startEngine(bool mutual) {
    port_ = test::freePort();
    engine_ = std::make_unique<Engine>("");
    certs_ = test::makeTestCerts(engine_->dir());
    const std::string tls =
        mutual ? fmt::format(
                     "tls = {{ cert = \"{}\", key = \"{}\", ca = \"{}\", "
                     "require_client_cert = true }}",
                     certs_.serverCert.string(), certs_.serverKey.string(), certs_.caCert.string())
               : fmt::format("tls = {{ cert = \"{}\", key = \"{}\" }}", certs_.serverCert.string(),
                             certs_.serverKey.string());
    test::writeFile(engine_->configFile(), fmt::format(R"(
channel "secure" {{ type = "mllp", listen = "127.0.0.1:{}", {} }}
destination "folder" {{ type = "file", directory = "out" }}
route "all" {{ from = "secure", to = "folder" }}
)",
                                                       port_, tls));
    engine_->waitPort(port_);
    engine_->start();
    message_ = (engine_->dir() / "msg.hl7").string();
    test::writeFile(message_, adtMessage("TLS-1"));
  }

  test::CommandResult send(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        test::binaryPath(), "send", "--mllp", fmt::format("127.0.0.1:{}", port_), "--timeout", "5"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(message_);
    return test::runCommand(args);
  }

  unsigned short port_ = 0;
  std::unique_ptr<Engine> engine_;
  test::TestCerts certs_;
  std::string message_;
};

TEST_F(Tls, ServerTlsAcceptsAVerifyingClient) {
  startEngine(false);
  const auto r = send({"--tls", "--ca", certs_.caCert.string()});
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(countOf(r.out, "MSA|AA|TLS-1"), 1u) << r.out;
}

TEST_F(Tls, ClientRefusesAServerCertificateFromAnUnknownCa) {
  startEngine(false);
  const auto r = send({"--tls", "--ca", certs_.otherCaCert.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(countOf(r.out, "MSA|"), 0u) << r.out;
}

TEST_F(Tls, PlainClientGetsNoAckFromATlsListener) {
  startEngine(false);
  const auto r = send({});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(countOf(r.out, "MSA|"), 0u) << r.out;
  // The listener keeps serving TLS clients afterwards.
  const auto ok = send({"--tls", "--ca", certs_.caCert.string()});
  EXPECT_EQ(countOf(ok.out, "MSA|AA|TLS-1"), 1u) << ok.out;
}

TEST_F(Tls, MutualTlsAcceptsAClientCertificateFromTheCa) {
  startEngine(true);
  const auto r = send({"--tls", "--ca", certs_.caCert.string(), "--cert",
                       certs_.clientCert.string(), "--key", certs_.clientKey.string()});
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(countOf(r.out, "MSA|AA|TLS-1"), 1u) << r.out;
}

TEST_F(Tls, MutualTlsRefusesAClientWithoutCertificate) {
  startEngine(true);
  const auto r = send({"--tls", "--ca", certs_.caCert.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(countOf(r.out, "MSA|"), 0u) << r.out;
  const auto stored = engine_->cli({"messages", "--json"});
  EXPECT_EQ(stored.out, "[]\n");  // nothing reached the store
}

TEST_F(Tls, MutualTlsRefusesAClientCertificateFromAnotherCa) {
  startEngine(true);
  const auto r = send({"--tls", "--ca", certs_.caCert.string(), "--cert",
                       certs_.otherClientCert.string(), "--key", certs_.otherClientKey.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(countOf(r.out, "MSA|"), 0u) << r.out;
}

}  // namespace
}  // namespace sb::e2e
