// Test PKI made with the `openssl` CLI: a CA with a server certificate (CN and SAN for
// 127.0.0.1 and localhost) and a client certificate, plus a second, unrelated CA with its own
// server and client certificates for the "wrong issuer" cases.
#pragma once

#include <filesystem>

namespace sb::test {

struct TestCerts {
  std::filesystem::path caCert;
  std::filesystem::path serverCert;
  std::filesystem::path serverKey;
  std::filesystem::path clientCert;  // subject CN=switchboard-test-client
  std::filesystem::path clientKey;
  std::filesystem::path otherCaCert;      // an unrelated CA
  std::filesystem::path otherServerCert;  // issued by the other CA, SAN 127.0.0.1/localhost
  std::filesystem::path otherServerKey;
  std::filesystem::path otherClientCert;  // issued by the other CA
  std::filesystem::path otherClientKey;
};

// Writes the files into `dir` (e.g. a TempDir). Throws std::runtime_error if openssl fails.
TestCerts makeTestCerts(const std::filesystem::path& dir);

}  // namespace sb::test
