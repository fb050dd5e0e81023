#include "channels/common/connector.h"

#include <array>

#include "channels/common/tls_config.h"

namespace sb::channels {

std::filesystem::path resolvePath(const std::filesystem::path& base, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || path.empty()) return p;
  return base / p;
}

namespace {
constexpr std::array kTlsKeys = {
    config::KeySpec{"cert", config::ValueType::kString, true, "",
                    "PEM certificate (chain) presented to the peer"},
    config::KeySpec{"key", config::ValueType::kString, true, "", "PEM private key"},
    config::KeySpec{"ca", config::ValueType::kString, false, "",
                    "PEM CA bundle that verifies the peer (client certificates on a listener)"},
    config::KeySpec{"require_client_cert", config::ValueType::kBool, false, "false",
                    "listener: mutual TLS, refuse clients without a certificate from `ca`"},
    config::KeySpec{"verify_peer", config::ValueType::kBool, false, "true",
                    "sender: verify the server certificate against `ca` and the host name"},
    config::KeySpec{"server_name", config::ValueType::kString, false, "the host",
                    "sender: name expected in the server certificate (SNI)"},
};
// A sender may present no certificate (server-auth only), so cert/key are optional there.
constexpr std::array kTlsSenderKeys = {
    config::KeySpec{"cert", config::ValueType::kString, false, "",
                    "PEM client certificate for mutual TLS"},
    config::KeySpec{"key", config::ValueType::kString, false, "", "PEM client private key"},
    kTlsKeys[2],
    kTlsKeys[3],
    kTlsKeys[4],
    kTlsKeys[5]};
}  // namespace

std::span<const config::KeySpec> tlsKeys() {
  return kTlsKeys;
}

mllp::TlsOptions readTls(const config::Reader& parent, const std::filesystem::path& configDir,
                         bool listener) {
  mllp::TlsOptions tls;
  const config::Node* node = parent.node("tls");
  if (!node) return tls;
  const config::Reader r =
      parent.child("tls", listener ? std::span<const config::KeySpec>(kTlsKeys)
                                   : std::span<const config::KeySpec>(kTlsSenderKeys));
  tls.enabled = true;
  const auto path = [&](std::string_view key) {
    const std::string value = r.string(key);
    return value.empty() ? value : resolvePath(configDir, value).string();
  };
  tls.certFile = path("cert");
  tls.keyFile = path("key");
  tls.caFile = path("ca");
  tls.requireClientCert = r.boolean("require_client_cert", false);
  tls.verifyPeer = r.boolean("verify_peer", true);
  tls.serverName = r.string("server_name");
  if (tls.requireClientCert && tls.caFile.empty()) {
    parent.fail("tls", "require_client_cert needs 'ca' to verify client certificates");
  }
  for (const auto& file : {tls.certFile, tls.keyFile, tls.caFile}) {
    if (!file.empty() && !std::filesystem::exists(file)) {
      parent.fail("tls", "file not found: " + file);
    }
  }
  return tls;
}

}  // namespace sb::channels
