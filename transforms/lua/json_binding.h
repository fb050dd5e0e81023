// JSON for Lua over RapidJSON: json.decode, json.encode (sorted keys), json.null, json.array.
#pragma once

#include <optional>
#include <string>
#include <string_view>

struct lua_State;

namespace sb::transforms {

// Registers the global table `json`.
void openJson(lua_State* L);
// Pushes the decoded value; on failure pushes nothing and sets `error` ("offset N: reason").
bool pushJson(lua_State* L, std::string_view text, std::string* error);
// Encodes the value at `index`; nullopt with `error` set when it cannot be represented.
std::optional<std::string> encodeJson(lua_State* L, int index, std::string* error);

}  // namespace sb::transforms
