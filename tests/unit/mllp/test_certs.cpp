#include "test_certs.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace sb::test {
namespace {

void run(const std::vector<std::string>& argv) {
  const CommandResult result = runCommand(argv, std::chrono::seconds(60));
  if (result.exitCode != 0) {
    std::string line;
    for (const auto& arg : argv) line += arg + " ";
    throw std::runtime_error("openssl failed: " + line);
  }
}

// EC keys: generating them is instant, unlike RSA.
void makeKey(const std::filesystem::path& key) {
  run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out",
       key.string()});
}

void makeCa(const std::filesystem::path& dir, const std::string& name) {
  makeKey(dir / (name + ".key"));
  run({"openssl", "req", "-x509", "-new", "-key", (dir / (name + ".key")).string(), "-days", "30",
       "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
       "keyUsage=critical,keyCertSign,cRLSign", "-out", (dir / (name + ".pem")).string()});
}

// Issues `name`.pem/.key signed by `ca`, with the given extensions file contents.
void issue(const std::filesystem::path& dir, const std::string& ca, const std::string& name,
           const std::string& cn, const std::string& extensions) {
  const auto key = dir / (name + ".key");
  const auto csr = dir / (name + ".csr");
  const auto ext = dir / (name + ".ext");
  makeKey(key);
  run({"openssl", "req", "-new", "-key", key.string(), "-subj", "/O=Switchboard Test/CN=" + cn,
       "-out", csr.string()});
  writeFile(ext, extensions);
  run({"openssl", "x509", "-req", "-in", csr.string(), "-CA", (dir / (ca + ".pem")).string(),
       "-CAkey", (dir / (ca + ".key")).string(), "-CAcreateserial", "-days", "30", "-extfile",
       ext.string(), "-out", (dir / (name + ".pem")).string()});
}

const std::string kServerExt =
    "basicConstraints=CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth\n"
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
const std::string kClientExt =
    "basicConstraints=CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=clientAuth\n";

}  // namespace

TestCerts makeTestCerts(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  makeCa(dir, "ca");
  issue(dir, "ca", "server", "127.0.0.1", kServerExt);
  issue(dir, "ca", "client", "switchboard-test-client", kClientExt);
  makeCa(dir, "other-ca");
  issue(dir, "other-ca", "other-server", "127.0.0.1", kServerExt);
  issue(dir, "other-ca", "other-client", "switchboard-other-client", kClientExt);
  TestCerts certs;
  certs.caCert = dir / "ca.pem";
  certs.serverCert = dir / "server.pem";
  certs.serverKey = dir / "server.key";
  certs.clientCert = dir / "client.pem";
  certs.clientKey = dir / "client.key";
  certs.otherCaCert = dir / "other-ca.pem";
  certs.otherServerCert = dir / "other-server.pem";
  certs.otherServerKey = dir / "other-server.key";
  certs.otherClientCert = dir / "other-client.pem";
  certs.otherClientKey = dir / "other-client.key";
  return certs;
}

}  // namespace sb::test
