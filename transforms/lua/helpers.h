// Helpers implemented in C++ for scripts: crypto.sha256, uuid.v4/v5, base64, log.*, and
// sb_read_script_file (the only file access scripts have).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct lua_State;

namespace sb::transforms {

struct ScriptFiles {
  std::vector<std::filesystem::path> folders;
  std::size_t maxBytes = 0;
};

// Resolves a relative name ("tables/sex.csv") inside one of the folders. Refuses absolute paths,
// "..", empty components and anything that resolves (through links) outside its folder.
std::optional<std::filesystem::path> resolveScriptFile(const ScriptFiles& files,
                                                       std::string_view name, std::string* error);
// Reads a resolved script file, refusing files larger than files.maxBytes.
std::optional<std::string> readScriptFile(const ScriptFiles& files, std::string_view name,
                                          std::string* error);

std::string sha256Hex(std::string_view data);
std::string base64Encode(std::string_view data);
std::optional<std::string> base64Decode(std::string_view text);
// RFC 4122 name-based UUID (SHA-1); `ns` is a UUID in text form.
std::optional<std::string> uuidV5(std::string_view ns, std::string_view name);

// Registers crypto, uuid, base64, log and sb_read_script_file. `files` must outlive the state.
void openHelpers(lua_State* L, const ScriptFiles* files);

}  // namespace sb::transforms
