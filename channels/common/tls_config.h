// The `tls = { ... }` table shared by every connector that opens or accepts sockets.
#pragma once

#include <filesystem>
#include <span>

#include "channels/mllp/mllp.h"
#include "engine/config/config_node.h"

namespace sb::channels {

std::span<const config::KeySpec> tlsKeys();
// Reads `tls` from the section (absent = TLS off). Paths resolve against configDir.
mllp::TlsOptions readTls(const config::Reader& parent, const std::filesystem::path& configDir,
                         bool listener);

}  // namespace sb::channels
