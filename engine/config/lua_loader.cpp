#include "engine/config/lua_loader.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>
#include <lua.hpp>

#include "transforms/lua/guarded.h"

namespace sb::config {
namespace {

constexpr int kMaxDepth = 32;
constexpr std::size_t kMaxInstructions = 50'000'000;  // a config that loops forever is an error

struct LoadState {
  std::vector<Section>* sections;
  std::string file;
};

LoadState& loadState(lua_State* L) {
  return *static_cast<LoadState*>(lua_touserdata(L, lua_upvalueindex(1)));
}

int callerLine(lua_State* L) {
  lua_Debug ar;
  // Level 1 is the Lua function that called us.
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar)) return ar.currentline;
  return 0;
}

// Converts the value at `index` to a Node. Unsupported values throw: the Nodes built so far are
// freed on the way out (a Lua error raised here would longjmp past their destructors), and
// declareBody raises the message as a Lua error at the declaration's line.
Node toNode(lua_State* L, int index, int depth) {
  index = lua_absindex(L, index);
  // Each level pushes a key and a value; a C function is only given LUA_MINSTACK (20) slots.
  if (!lua_checkstack(L, 4)) throw std::runtime_error("configuration nested too deeply");
  Node node;
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      break;
    case LUA_TBOOLEAN:
      node.kind = Node::Kind::kBool;
      node.boolean = lua_toboolean(L, index) != 0;
      break;
    case LUA_TNUMBER:
      node.kind = Node::Kind::kNumber;
      node.number = lua_tonumber(L, index);
      break;
    case LUA_TSTRING: {
      node.kind = Node::Kind::kString;
      std::size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      node.text.assign(s, len);
      break;
    }
    case LUA_TFUNCTION:
      node.kind = Node::Kind::kFunction;
      lua_pushvalue(L, index);
      node.functionRef = luaL_ref(L, LUA_REGISTRYINDEX);
      break;
    case LUA_TTABLE: {
      if (depth > kMaxDepth) {
        throw std::runtime_error(fmt::format("tables nested deeper than {} levels", kMaxDepth));
      }
      const lua_Integer length = static_cast<lua_Integer>(lua_rawlen(L, index));
      std::size_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        ++count;
        lua_pop(L, 1);
      }
      if (length > 0 && count == static_cast<std::size_t>(length)) {
        node.kind = Node::Kind::kList;
        for (lua_Integer i = 1; i <= length; ++i) {
          lua_rawgeti(L, index, i);
          node.list.push_back(toNode(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        break;
      }
      node.kind = Node::Kind::kMap;
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
          throw std::runtime_error(
              "table keys must be names (strings), mixed lists are not allowed");
        }
        std::string key = lua_tostring(L, -2);
        node.map.emplace_back(std::move(key), toNode(L, -1, depth + 1));
        lua_pop(L, 1);
      }
      // Deterministic order for messages and docs.
      std::sort(node.map.begin(), node.map.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      break;
    }
    default:
      throw std::runtime_error(
          fmt::format("unsupported value of type {} in configuration", luaL_typename(L, index)));
  }
  return node;
}

// The second half of `channel "name" { ... }`: receives the body table.
int declareBody(lua_State* L) {
  LoadState& state = loadState(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const int line = static_cast<int>(lua_tointeger(L, lua_upvalueindex(4)));
  char reason[256];
  {
    Section section;
    section.kind = lua_tostring(L, lua_upvalueindex(2));
    section.name = lua_tostring(L, lua_upvalueindex(3));
    section.line = line;
    section.file = state.file;
    try {
      section.body = toNode(L, 1, 0);
      state.sections->push_back(std::move(section));
      return 0;
    } catch (const std::exception& e) {
      transforms::detail::copyReason(reason, e.what());
    }
  }
  // At the declaration's line: `engine { ... }` gets here through a C call, where Lua itself
  // would name no line. No C++ object is alive any more when the error is raised.
  lua_pushfstring(L, "%s:%d: %s", state.file.c_str(), line, reason);
  return lua_error(L);
}

// `channel "name"` returns a function that takes the body; `engine { ... }` takes it directly.
int declare(lua_State* L) {
  const char* kind = lua_tostring(L, lua_upvalueindex(2));
  const bool named = lua_toboolean(L, lua_upvalueindex(3));
  const int line = callerLine(L);
  if (!named) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushstring(L, kind);
    lua_pushstring(L, "");
    lua_pushinteger(L, line);
    lua_pushcclosure(L, transforms::guarded<declareBody>, 4);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    return 0;
  }
  const char* name = luaL_checkstring(L, 1);
  if (*name == '\0') luaL_error(L, "%s name must not be empty", kind);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushstring(L, kind);
  lua_pushstring(L, name);
  lua_pushinteger(L, line);
  lua_pushcclosure(L, transforms::guarded<declareBody>, 4);
  return 1;
}

// env("NAME" [, default]): secrets and host-specific values come from the environment.
int envFunction(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  const char* value = std::getenv(name);
  if (value) {
    lua_pushstring(L, value);
  } else if (lua_gettop(L) >= 2) {
    lua_pushvalue(L, 2);
  } else {
    luaL_error(L, "environment variable %s is not set", name);
  }
  return 1;
}

void instructionHook(lua_State* L, lua_Debug*) {
  luaL_error(L, "configuration ran too long (more than %d instructions)",
             static_cast<int>(kMaxInstructions));
}

void openSandboxedLibs(lua_State* L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_pop(L, 5);
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
}

}  // namespace

std::span<const Declaration> configDeclarations() {
  static constexpr Declaration kConfig[] = {
      {"engine", false}, {"channel", true}, {"destination", true}, {"route", true}};
  return kConfig;
}

LoadedFile loadFile(const std::filesystem::path& file, Errors& errors,
                    std::span<const Declaration> declarations) {
  LoadedFile result;
  std::shared_ptr<lua_State> L(luaL_newstate(), lua_close);
  if (!L) {
    errors.add(fmt::format("{}: cannot create a Lua state", file.string()));
    return result;
  }
  openSandboxedLibs(L.get());
  LoadState state{&result.sections, file.string()};
  for (const Declaration& d : declarations) {
    lua_pushlightuserdata(L.get(), &state);
    lua_pushstring(L.get(), d.kind);
    lua_pushboolean(L.get(), d.named);
    lua_pushcclosure(L.get(), transforms::guarded<declare>, 3);
    lua_setglobal(L.get(), d.kind);
  }
  lua_pushcfunction(L.get(), transforms::guarded<envFunction>);
  lua_setglobal(L.get(), "env");

  // Text mode only: precompiled chunks could bypass the checks above.
  if (luaL_loadfilex(L.get(), file.c_str(), "t") != LUA_OK) {
    std::string message = lua_tostring(L.get(), -1);
    // Lua says "cannot open <file>" without a line; keep its words.
    errors.add(message);
    return result;
  }
  lua_sethook(L.get(), instructionHook, LUA_MASKCOUNT, static_cast<int>(kMaxInstructions));
  if (lua_pcall(L.get(), 0, 0, 0) != LUA_OK) {
    errors.add(lua_tostring(L.get(), -1));
    return result;
  }
  lua_sethook(L.get(), nullptr, 0, 0);
  result.lua = std::move(L);
  return result;
}

}  // namespace sb::config
