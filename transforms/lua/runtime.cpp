#include "transforms/lua/runtime.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <lua.hpp>

#include "common/log.h"
#include "transforms/lua/call_watchdog.h"
#include "transforms/lua/guarded.h"
#include "transforms/lua/helpers.h"
#include "transforms/lua/hl7_binding.h"
#include "transforms/lua/json_binding.h"
#include "transforms/lua/state_extra.h"

namespace sb::transforms {

// How often (in VM instructions) the hook runs to account the budget and check the call depth.
// Small enough that recursion is caught long before Lua's own stack limit, large enough that the
// hook costs well under 1% of a script's time.
constexpr int kHookPeriod = 1000;

// Registry keys (light userdata addresses are unique and not reachable from scripts).
static const char kEnvMetaKey = 0;
static const char kModulesKey = 0;
static const char kLoadingKey = 0;
static const char kFrozenKey = 0;

// Small blocks freed by Lua are kept on per-size free lists and handed out again, instead of
// going back to malloc: a message leaves many small tables and strings that die soon, and the
// next message needs the same sizes. Every block comes from malloc and is at least as large as
// the size class of the list it is on. The lists hold at most what Lua held at its peak (which
// the memory limit bounds) and are freed with the runtime.
class SmallBlocks {
 public:
  static constexpr std::size_t kGranule = 16;
  static constexpr std::size_t kLargest = 256;

  SmallBlocks() = default;
  SmallBlocks(const SmallBlocks&) = delete;
  SmallBlocks& operator=(const SmallBlocks&) = delete;
  ~SmallBlocks() {
    for (void*& head : lists_) {
      while (head) {
        void* next = *static_cast<void**>(head);
        std::free(head);
        head = next;
      }
    }
  }

  static bool small(std::size_t n) { return n <= kLargest; }
  static std::size_t classOf(std::size_t n) { return n <= kGranule ? 0 : (n - 1) / kGranule; }

  void* take(std::size_t n) {
    void*& head = lists_[classOf(n)];
    if (void* block = head) {
      head = *static_cast<void**>(block);
      return block;
    }
    return std::malloc((classOf(n) + 1) * kGranule);
  }
  void give(void* block, std::size_t n) {
    void*& head = lists_[classOf(n)];
    *static_cast<void**>(block) = head;
    head = block;
  }

 private:
  void* lists_[kLargest / kGranule] = {};
};

struct LuaRuntime::Impl {
  LuaOptions options;
  ScriptFiles files;
  lua_State* L = nullptr;

  // Memory accounting for the custom allocator.
  std::size_t used = 0;
  bool refused = false;
  SmallBlocks blocks;

  // Per-call instruction accounting: the hook runs every `hookPeriod` instructions, from the
  // start of a call when limits.countAfter is 0, otherwise once `watch` arms it.
  std::uint64_t instructions = 0;
  int hookPeriod = 1;
  bool exhausted = false;
  std::unique_ptr<CallWatch> watch;

  // Where the last error happened, filled by the message handler.
  std::string errFile;
  int errLine = 0;

  // In the state's extra space; its `runtime` points back here.
  StateExtra extra;

  static Impl& of(lua_State* L) { return *static_cast<Impl*>(stateExtra(L)->runtime); }
};

namespace {

using Impl = LuaRuntime::Impl;

// Returns a block Lua no longer uses: small ones to their free list, others to malloc.
void release(Impl* impl, void* ptr, std::size_t size) {
  if (size > 0 && SmallBlocks::small(size)) {
    impl->blocks.give(ptr, size);
  } else {
    std::free(ptr);
  }
}

void* limitedAlloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) {
  auto* impl = static_cast<Impl*>(ud);
  // Without a block, osize tells the kind of object being created, not a size.
  const std::size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    if (ptr) release(impl, ptr, old);
    impl->used -= old;
    return nullptr;
  }
  // Only growth is refused: Lua requires that shrinking a block never fails.
  if (nsize > old && impl->used - old + nsize > impl->options.limits.memoryBytes) {
    impl->refused = true;
    return nullptr;
  }
  void* block = nullptr;
  if (ptr && old > 0 && SmallBlocks::small(old) && SmallBlocks::small(nsize) &&
      SmallBlocks::classOf(old) == SmallBlocks::classOf(nsize)) {
    block = ptr;  // the block already has room for nsize
  } else if (ptr && !SmallBlocks::small(old) && !SmallBlocks::small(nsize)) {
    block = std::realloc(ptr, nsize);
  } else {
    block = SmallBlocks::small(nsize) ? impl->blocks.take(nsize) : std::malloc(nsize);
    if (block && ptr) {
      std::memcpy(block, ptr, std::min(old, nsize));
      release(impl, ptr, old);
    }
  }
  if (!block) {
    // A shrinking block can always stay where it is (it is larger than its new size class).
    if (!ptr || nsize > old) return nullptr;
    block = ptr;
  }
  impl->used = impl->used - old + nsize;
  return block;
}

// Raises from a hook. The text is formatted into a stack buffer because lua_error does not
// return: a heap string alive at this point would never be freed.
[[noreturn]] void raiseAt(lua_State* L, lua_Debug* ar, const char* what) {
  lua_getinfo(L, "Sl", ar);
  if (ar->currentline > 0) {
    lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline, what);
  } else {
    lua_pushstring(L, what);
  }
  lua_error(L);
  std::abort();  // lua_error does not return
}

void armBudget(void* context);

void countHook(lua_State* L, lua_Debug* ar) {
  Impl& impl = Impl::of(L);
  if (impl.watch) impl.watch->confirmCounting();
  const LuaLimits& limits = impl.options.limits;
  char what[96];
  if (!impl.exhausted) {
    impl.instructions += static_cast<std::uint64_t>(impl.hookPeriod);
    if (impl.instructions >= limits.instructionsPerCall) {
      // From now on the hook fires on every instruction, so a script's own pcall cannot swallow
      // the error and keep looping: the first instruction outside that pcall raises again.
      impl.exhausted = true;
      lua_sethook(L, countHook, LUA_MASKCOUNT, 1);
    } else {
      lua_Debug deep;
      if (limits.maxCallDepth > 0 && lua_getstack(L, limits.maxCallDepth, &deep)) {
        std::snprintf(what, sizeof what, "stack overflow (more than %d nested calls)",
                      limits.maxCallDepth);
        raiseAt(L, ar, what);
      }
      return;
    }
  }
  std::snprintf(what, sizeof what, "instruction limit exceeded (%llu per call)",
                static_cast<unsigned long long>(limits.instructionsPerCall));
  raiseAt(L, ar, what);
}

// Finds "name:line:" at the start of a message, as Lua prefixes errors.
bool splitPosition(std::string_view message, std::string* file, int* line) {
  for (std::size_t colon = message.find(':'); colon != std::string_view::npos;
       colon = message.find(':', colon + 1)) {
    std::size_t i = colon + 1;
    int value = 0;
    while (i < message.size() && message[i] >= '0' && message[i] <= '9' && value < 100000000) {
      value = value * 10 + (message[i] - '0');
      ++i;
    }
    if (i > colon + 1 && i < message.size() && message[i] == ':') {
      *file = std::string(message.substr(0, colon));
      *line = value;
      return true;
    }
  }
  return false;
}

// Message handler of every protected call: turns the error into text and records where it
// happened (from the message prefix, else the innermost Lua frame).
int messageHandler(lua_State* L) {
  Impl& impl = Impl::of(L);
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      lua_replace(L, 1);
    } else {
      lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
      lua_replace(L, 1);
    }
  }
  std::size_t len = 0;
  const char* text = lua_tolstring(L, 1, &len);
  impl.errFile.clear();
  impl.errLine = 0;
  if (!splitPosition(std::string_view(text, len), &impl.errFile, &impl.errLine)) {
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); ++level) {
      lua_getinfo(L, "Sl", &ar);
      // Library code written in Lua (the x12 prelude) is not where the script went wrong.
      if (ar.currentline > 0 && std::string_view(ar.source) != "=x12") {
        impl.errFile = ar.short_src;
        impl.errLine = ar.currentline;
        break;
      }
    }
    // Say where, like Lua's own errors do.
    if (!impl.errFile.empty()) {
      lua_pushfstring(L, "%s:%d: %s", impl.errFile.c_str(), impl.errLine, text);
      lua_replace(L, 1);
    }
  }
  lua_settop(L, 1);
  return 1;
}

// A fresh global environment for a script or module: reads fall through to the shared,
// read-only globals; writes stay in the script's own table, so scripts in one state cannot
// clobber each other or the libraries.
void pushNewEnv(lua_State* L) {
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kEnvMetaKey);
  lua_setmetatable(L, -2);
}

int frozenWrite(lua_State* L) {
  return luaL_error(L, "attempt to modify a read-only library table");
}

int frozenPairs(lua_State* L) {
  lua_getglobal(L, "next");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

// Replaces the table at the top of the stack by a read-only proxy of it.
void freezeTop(lua_State* L) {
  const int real = lua_gettop(L);
  lua_newtable(L);  // proxy
  lua_createtable(L, 0, 5);
  lua_pushvalue(L, real);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, guarded<frozenWrite>);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pushvalue(L, real);
  lua_pushcclosure(L, guarded<frozenPairs>, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 1);
  lua_rawsetp(L, -2, &kFrozenKey);
  lua_setmetatable(L, -2);
  lua_replace(L, real);
}

bool isFrozen(lua_State* L, int index) {
  if (!lua_getmetatable(L, index)) return false;
  lua_rawgetp(L, -1, &kFrozenKey);
  const bool frozen = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return frozen;
}

int safeRawset(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (isFrozen(L, 1)) return luaL_error(L, "attempt to modify a read-only library table");
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

// load() for text only; without an explicit env the chunk gets a fresh one instead of the
// shared globals.
int safeLoad(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checkany(L, 1);
  lua_settop(L, 4);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  if (n < 4) {
    lua_settop(L, 3);
    pushNewEnv(L);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 4, LUA_MULTRET);
  return lua_gettop(L);
}

int safeCollectgarbage(lua_State* L) {
  const char* option = luaL_optstring(L, 1, "collect");
  if (std::strcmp(option, "count") != 0) {
    return luaL_error(L, "collectgarbage(\"%s\") is not allowed in scripts", option);
  }
  lua_pushnumber(L, static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNT, 0)) +
                        static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNTB, 0)) / 1024.0);
  return 1;
}

// print() goes to the log at debug level (stdout may carry protocol traffic).
int logPrint(lua_State* L) {
  if (log::threshold() > log::Level::kDebug) return 0;
  const int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  log::write(log::Level::kDebug, "lua", std::string_view(text, len));
  return 0;
}

bool validModuleName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  bool componentStart = true;
  for (char c : name) {
    if (c == '.') {
      if (componentStart) return false;
      componentStart = true;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
    componentStart = false;
  }
  return !componentStart;
}

// require(name): modules come only from the script folders, as text, each run once per state.
int safeRequire(lua_State* L) {
  Impl& impl = Impl::of(L);
  const char* name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kModulesKey);  // 2
  lua_getfield(L, 2, name);
  if (!lua_isnil(L, -1)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kLoadingKey);
    if (lua_rawequal(L, -1, -2)) return luaL_error(L, "module '%s' requires itself", name);
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  if (!validModuleName(name)) {
    return luaL_error(L, "module name '%s' is not allowed (names look like 'sb.time')", name);
  }
  int status = LUA_OK;
  {
    std::string relative(name);
    std::replace(relative.begin(), relative.end(), '.', '/');
    relative += ".lua";
    std::string error;
    const auto text = readScriptFile(impl.files, relative, &error);
    if (!text) {
      luaL_where(L, 1);
      lua_pushfstring(L, "module '%s': %s", name, error.c_str());
      lua_concat(L, 2);
      status = LUA_ERRFILE;
    } else {
      std::string chunkName(1, '@');
      chunkName += relative;
      status = luaL_loadbufferx(L, text->data(), text->size(), chunkName.c_str(), "t");
    }
  }
  if (status != LUA_OK) return lua_error(L);
  pushNewEnv(L);
  lua_setupvalue(L, -2, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLoadingKey);
  lua_setfield(L, 2, name);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushnil(L);
    lua_setfield(L, 2, name);
    return lua_error(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

// os.time() and os.date(format) on a fixed clock (upvalues: the real function, the time); with
// explicit arguments they behave as usual.
int fixedOsTime(lua_State* L) {
  if (lua_gettop(L) == 0 || lua_isnil(L, 1)) {
    lua_pushvalue(L, lua_upvalueindex(2));
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int fixedOsDate(lua_State* L) {
  if (lua_gettop(L) == 0) lua_pushliteral(L, "%c");
  if (lua_gettop(L) < 2 || lua_isnil(L, 2)) {
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

void openSandbox(lua_State* L, Impl& impl) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
  // Only the clock and calendar functions of os: no execute, exit, getenv, remove, rename, tmpname.
  lua_createtable(L, 0, 3);
  for (const char* keep : {"time", "date", "clock"}) {
    lua_getfield(L, -2, keep);
    if (impl.options.fixedTime && std::string_view(keep) != "clock") {
      // Route tests run on a fixed clock, so outputs that carry "now" have stable goldens.
      lua_pushinteger(L, static_cast<lua_Integer>(*impl.options.fixedTime));
      lua_pushcclosure(
          L, std::string_view(keep) == "time" ? guarded<fixedOsTime> : guarded<fixedOsDate>, 2);
    }
    lua_setfield(L, -2, keep);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 6);

  // No file access, no bytecode (string.dump output cannot be loaded anyway).
  for (const char* name : {"dofile", "loadfile", "_G"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  // The string metatable is shared by every script in the state: hide it so that
  // getmetatable("").__index cannot be replaced.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);

  lua_getglobal(L, "load");
  lua_pushcclosure(L, guarded<safeLoad>, 1);
  lua_setglobal(L, "load");
  lua_register(L, "collectgarbage", guarded<safeCollectgarbage>);
  lua_register(L, "rawset", guarded<safeRawset>);
  lua_register(L, "print", guarded<logPrint>);
  lua_register(L, "require", guarded<safeRequire>);

  openHl7(L);
  openX12(L, impl.options.controlNumbers);
  openJson(L);
  openHelpers(L, &impl.files);

  for (const char* lib : {"string", "table", "math", "utf8", "os", "hl7", "x12", "json", "crypto",
                          "uuid", "base64", "log"}) {
    lua_getglobal(L, lib);
    freezeTop(L);
    lua_setglobal(L, lib);
  }

  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kModulesKey);
  lua_newtable(L);  // a unique value marking a module being loaded
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kLoadingKey);
  lua_createtable(L, 0, 2);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kEnvMetaKey);
}

void pushValue(lua_State* L, const Value& value) {
  struct Pusher {
    lua_State* L;
    void operator()(std::monostate) const { lua_pushnil(L); }
    void operator()(bool b) const { lua_pushboolean(L, b); }
    void operator()(std::int64_t i) const { lua_pushinteger(L, static_cast<lua_Integer>(i)); }
    void operator()(double d) const { lua_pushnumber(L, d); }
    void operator()(const std::string& s) const { lua_pushlstring(L, s.data(), s.size()); }
    void operator()(const JsonText& j) const {
      std::string error;
      if (!pushJson(L, j.text, &error)) {
        lua_pushfstring(L, "bad JSON argument: %s", error.c_str());
        std::string().swap(error);  // lua_error does not return: free the text first
        lua_error(L);
      }
    }
    void operator()(const std::shared_ptr<hl7::Message>& m) const { pushHl7Message(L, m); }
    void operator()(const X12Text& x) const { pushX12Document(L, x.raw); }
  };
  std::visit(Pusher{L}, value);
}

struct CallContext {
  int functionRef;
  const Value* args;
  std::size_t count;
};

// Runs inside lua_pcall, so that pushing the arguments is protected too.
int callTrampoline(lua_State* L) {
  const auto* ctx = static_cast<const CallContext*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  if (!lua_checkstack(L, static_cast<int>(ctx->count) + 8)) {
    return luaL_error(L, "too many arguments");
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->functionRef);
  for (std::size_t i = 0; i < ctx->count; ++i) pushValue(L, ctx->args[i]);
  lua_call(L, static_cast<int>(ctx->count), LUA_MULTRET);
  return lua_gettop(L);
}

// Converts a result without raising Lua errors (this runs outside protected mode).
std::optional<Value> toValue(lua_State* L, int index, std::string* error) {
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      return Value{};
    case LUA_TBOOLEAN:
      return Value{lua_toboolean(L, index) != 0};
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return Value{static_cast<std::int64_t>(lua_tointeger(L, index))};
      return Value{static_cast<double>(lua_tonumber(L, index))};
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      return Value{std::string(s, len)};
    }
    case LUA_TTABLE: {
      auto text = encodeJson(L, index, error);
      if (!text) return std::nullopt;
      return Value{JsonText{std::move(*text)}};
    }
    case LUA_TUSERDATA: {
      if (auto m = toHl7Message(L, index)) return Value{std::move(m)};
      std::string ignored;
      auto text = encodeJson(L, index, &ignored);  // json.null
      if (text && *text == "null") return Value{};
      break;
    }
    default:
      break;
  }
  *error = fmt::format("cannot return a {} value to the engine", luaL_typename(L, index));
  return std::nullopt;
}

std::string displayName(const std::filesystem::path& path, const LuaOptions& options) {
  std::error_code ec;
  const auto full = std::filesystem::weakly_canonical(path, ec);
  if (!ec) {
    for (const auto& folder : options.scriptFolders) {
      const auto base = std::filesystem::weakly_canonical(folder, ec);
      if (ec) continue;
      const auto rel = full.lexically_relative(base);
      if (!rel.empty() && *rel.begin() != "..") return rel.generic_string();
    }
  }
  return path.string();
}

int openSandboxProtected(lua_State* L) {
  openSandbox(L, Impl::of(L));
  return 0;
}

}  // namespace

LuaRuntime::LuaRuntime(LuaOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->files.folders = impl_->options.scriptFolders;
  impl_->files.maxBytes = impl_->options.limits.maxScriptFileBytes;
  // The watch first: if it cannot be set up, there is no Lua state to leak.
  if (impl_->options.limits.countAfter.count() > 0) {
    impl_->watch = std::make_unique<CallWatch>(armBudget, impl_.get());
  }
  lua_State* L = lua_newstate(limitedAlloc, impl_.get());
  if (!L) throw std::runtime_error("cannot create a Lua state (memory limit too small?)");
  impl_->L = L;
  impl_->extra.runtime = impl_.get();
  *static_cast<StateExtra**>(lua_getextraspace(L)) = &impl_->extra;
  // Building the sandbox is the only unprotected Lua code; run it protected so an allocation
  // failure is an exception at construction instead of a panic.
  lua_pushcfunction(L, guarded<openSandboxProtected>);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error";
    lua_close(L);
    impl_->L = nullptr;
    throw std::runtime_error("cannot create the Lua sandbox: " + message);
  }
}

LuaRuntime::~LuaRuntime() {
  if (impl_->L) lua_close(impl_->L);
}

void LuaRuntime::release(FunctionRef& function) {
  // luaL_unref only frees a registry slot; it does not allocate and cannot raise.
  if (function.valid()) luaL_unref(impl_->L, LUA_REGISTRYINDEX, function.ref);
  function.ref = -1;
}

std::size_t LuaRuntime::memoryUsed() const {
  return impl_->used;
}
const LuaOptions& LuaRuntime::options() const {
  return impl_->options;
}
lua_State* LuaRuntime::state() {
  return impl_->L;
}

namespace {

// Installs the counting hook; the watch calls it from its signal handler on the calling thread.
void armBudget(void* context) {
  Impl* impl = static_cast<Impl*>(context);
  // lua_sethook also restarts the count, which is what makes the budget per call. Once the
  // budget is spent the hook runs on every instruction (see countHook).
  lua_sethook(impl->L, countHook, LUA_MASKCOUNT, impl->exhausted ? 1 : impl->hookPeriod);
}

void startBudget(Impl& impl) {
  impl.instructions = 0;
  impl.exhausted = false;
  impl.refused = false;
  impl.errFile.clear();
  impl.errLine = 0;
  const std::uint64_t limit = impl.options.limits.instructionsPerCall;
  impl.hookPeriod =
      limit < static_cast<std::uint64_t>(kHookPeriod) ? static_cast<int>(limit) : kHookPeriod;
  if (impl.hookPeriod < 1) impl.hookPeriod = 1;
  if (impl.watch) {
    impl.watch->begin(impl.options.limits.countAfter);  // endBudget() left no hook behind
  } else {
    armBudget(&impl);
  }
}

ScriptError errorFromStack(Impl& impl, int status, std::string_view prefix) {
  ScriptError e;
  std::size_t len = 0;
  const char* text = lua_tolstring(impl.L, -1, &len);
  std::string message = text ? std::string(text, len) : std::string("unknown error");
  if (status == LUA_ERRMEM) {
    // The message handler is not run for memory errors; recover the memory now so the next
    // call starts clean.
    if (impl.refused) {
      message = fmt::format("not enough memory (script memory limit of {} bytes)",
                            impl.options.limits.memoryBytes);
    }
    e.file = impl.errFile;
    e.line = impl.errLine;
  } else if (!impl.errFile.empty()) {
    e.file = impl.errFile;
    e.line = impl.errLine;
  } else {
    splitPosition(message, &e.file, &e.line);
  }
  e.message = std::string(prefix) + message;
  return e;
}

// Ends the watch before anything else runs on the state: results are converted outside the
// pcall, where a hook armed late could raise with no handler to catch it.
void endBudget(Impl& impl) {
  if (impl.watch) {
    impl.watch->end();
    lua_sethook(impl.L, nullptr, 0, 0);
  }
}

void finishCall(Impl& impl, int status) {
  if (status == LUA_ERRMEM || impl.refused) lua_gc(impl.L, LUA_GCCOLLECT, 0);
}

}  // namespace

namespace {

struct LoadContext {
  const char* data;
  std::size_t size;
  const char* chunkName;
  const char* entry;
  int status;
  int ref;
};

// Compiles and runs a chunk inside lua_pcall and keeps a reference to the entry function (taking
// the reference allocates, so it is done here, protected, too).
int loadTrampoline(lua_State* L) {
  auto* ctx = static_cast<LoadContext*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  ctx->status = luaL_loadbufferx(L, ctx->data, ctx->size, ctx->chunkName, "t");
  if (ctx->status != LUA_OK) return lua_error(L);
  pushNewEnv(L);  // 2
  lua_pushvalue(L, 2);
  lua_setupvalue(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 0, 1);  // 3: what the chunk returned
  if (*ctx->entry == '\0') {
    if (lua_type(L, 3) != LUA_TFUNCTION) {
      return luaL_error(L, "%s: the script must return a function (it returned %s)",
                        ctx->chunkName + 1, luaL_typename(L, 3));
    }
    lua_settop(L, 3);
    ctx->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
  }
  if (lua_type(L, 3) == LUA_TTABLE) {
    lua_getfield(L, 3, ctx->entry);
  } else {
    lua_getfield(L, 2, ctx->entry);
  }
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    return luaL_error(L, "%s: the script defines no function '%s'", ctx->chunkName + 1, ctx->entry);
  }
  ctx->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

}  // namespace

LoadResult LuaRuntime::loadString(std::string_view chunkName, std::string_view code,
                                  std::string_view entry) {
  Impl& impl = *impl_;
  lua_State* L = impl.L;
  std::string name(1, '=');
  name.append(chunkName);
  const std::string entryName(entry);
  LoadContext ctx{code.data(), code.size(), name.c_str(), entryName.c_str(), LUA_OK, LUA_NOREF};
  const int base = lua_gettop(L);
  startBudget(impl);
  lua_pushcfunction(L, guarded<messageHandler>);
  lua_pushcfunction(L, guarded<loadTrampoline>);
  lua_pushlightuserdata(L, &ctx);
  const int status = lua_pcall(L, 1, 0, base + 1);
  endBudget(impl);
  LoadResult result;
  if (status != LUA_OK) {
    // Syntax errors are reported by the compiler with their own position.
    if (ctx.status != LUA_OK) impl.errFile.clear();
    result.error = errorFromStack(impl, status, "script load error: ");
    if (result.error->file.empty()) result.error->file = std::string(chunkName);
  } else {
    result.function.ref = ctx.ref;
  }
  lua_settop(L, base);
  finishCall(impl, status);
  return result;
}

LoadResult LuaRuntime::loadFile(const std::filesystem::path& path, std::string_view entry) {
  const std::string name = displayName(path, impl_->options);
  std::string code;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
      LoadResult result;
      result.error = ScriptError{
          name, 0,
          fmt::format("script load error: {}: cannot open ({})", name, std::strerror(errno))};
      return result;
    }
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) code.append(buf, n);
    std::fclose(f);
  }
  return loadString(name, code, entry);
}

CallResult LuaRuntime::call(const FunctionRef& function, std::initializer_list<Value> args) {
  return call(function, std::vector<Value>(args));
}

CallResult LuaRuntime::call(const FunctionRef& function, const std::vector<Value>& args) {
  Impl& impl = *impl_;
  lua_State* L = impl.L;
  CallResult result;
  if (!function.valid()) {
    result.error = ScriptError{"", 0, "call of an invalid function reference"};
    return result;
  }
  CallContext ctx{function.ref, args.data(), args.size()};
  const int base = lua_gettop(L);
  startBudget(impl);
  lua_pushcfunction(L, guarded<messageHandler>);
  lua_pushcfunction(L, guarded<callTrampoline>);
  lua_pushlightuserdata(L, &ctx);
  const int status = lua_pcall(L, 1, LUA_MULTRET, base + 1);
  endBudget(impl);
  if (status != LUA_OK) {
    result.error = errorFromStack(impl, status, "");
  } else {
    const int top = lua_gettop(L);
    result.values.reserve(static_cast<std::size_t>(top - base - 1));
    for (int i = base + 2; i <= top; ++i) {
      std::string error;
      auto value = toValue(L, i, &error);
      if (!value) {
        result.values.clear();
        result.error = ScriptError{"", 0, error};
        break;
      }
      result.values.push_back(std::move(*value));
    }
  }
  lua_settop(L, base);
  finishCall(impl, status);
  return result;
}

}  // namespace sb::transforms
