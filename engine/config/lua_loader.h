// Loads a Switchboard config file. The file is Lua, so analysts can use variables, loops and
// functions, but it runs sandboxed (base, string, table, math; no io/os/require) and its only
// effect is the declarations it makes:
//
//   engine { durability = "process" }
//   channel "adt_in" { type = "mllp", listen = "127.0.0.1:2575" }
//   destination "archive" { type = "file", directory = "out" }
//   route "adt" { from = "adt_in", to = "archive" }
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "engine/config/config_node.h"

struct lua_State;

namespace sb::config {

struct LoadedFile {
  std::vector<Section> sections;
  // Kept alive when sections hold function references (route filters and transforms).
  std::shared_ptr<lua_State> lua;
};

// A declaration function the file may call: `kind "name" { ... }` when named, else
// `kind { ... }`.
struct Declaration {
  const char* kind;
  bool named;
};

// The declarations of a config file: engine, channel, destination, route.
std::span<const Declaration> configDeclarations();

// Syntax and runtime errors come back as "file:line: message" in `errors`.
LoadedFile loadFile(const std::filesystem::path& file, Errors& errors,
                    std::span<const Declaration> declarations = configDeclarations());

}  // namespace sb::config
