// The Lua runtime for transforms: one sandboxed lua_State per worker thread, reused for every
// message. Scripts run under limits (instructions per call, memory per state, call depth) and
// every call is protected: a failing script yields a ScriptError, never an exception, and the
// state keeps serving the next call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parsers/hl7v2/hl7v2.h"
#include "transforms/lua/x12_binding.h"

struct lua_State;

namespace sb::transforms {

struct LuaLimits {
  std::uint64_t instructionsPerCall = 10'000'000;
  std::size_t memoryBytes = 64u * 1024 * 1024;
  // Nested Lua calls (checked every few thousand instructions, so recursion may overshoot a
  // little before it is stopped). Lua's own C-stack limit (200 nested C calls) applies as well.
  int maxCallDepth = 1000;
  // Instructions (and call depth) are counted once a call has run this long. Counting makes the
  // interpreter stop in its debug layer before every instruction (~14% of a typical transform),
  // so calls that end sooner run without it; a longer one is interrupted by a watchdog and from
  // then on limited as usual. 0 counts every call from its first instruction.
  std::chrono::microseconds countAfter{2000};
  // Largest file that require() or sb_read_script_file() will read.
  std::size_t maxScriptFileBytes = 8u * 1024 * 1024;
};

struct LuaOptions {
  // Folders that require() and sb_read_script_file() may read from, searched in order.
  std::vector<std::filesystem::path> scriptFolders;
  LuaLimits limits;
  // X12 control numbers for x12.build / x12.ack; empty: per-state counters from 1.
  ControlNumberSource controlNumbers;
  // When set, os.time() and os.date(format) read this Unix time instead of the clock (route
  // tests: outputs that carry "now" get stable goldens).
  std::optional<std::int64_t> fixedTime;
};

struct ScriptError {
  std::string file;     // chunk name ("adt.lua"), empty when unknown
  int line = 0;         // 0 when unknown
  std::string message;  // e.g. "adt.lua:12: attempt to index a nil value (field 'PID')"
};

// JSON text crossing the boundary: decoded into Lua tables as an argument, produced from a
// returned table as a result.
struct JsonText {
  std::string text;
  bool operator==(const JsonText&) const = default;
};

// An X12 interchange handed to a script: it sees the parsed document (x12.parse).
struct X12Text {
  std::string raw;
  bool operator==(const X12Text&) const = default;
};

// Values passed to and returned from scripts. HL7 messages are shared, not copied: edits made by
// the script are visible to the caller through the same pointer.
using Value = std::variant<std::monostate, bool, std::int64_t, double, std::string, JsonText,
                           X12Text, std::shared_ptr<hl7::Message>>;

// A function kept alive in the state's registry, until release() or the end of its LuaRuntime.
struct FunctionRef {
  int ref = -1;
  bool valid() const { return ref >= 0; }
};

struct LoadResult {
  FunctionRef function;
  std::optional<ScriptError> error;
  bool ok() const { return !error; }
};

struct CallResult {
  std::vector<Value> values;  // every value the function returned, in order
  std::optional<ScriptError> error;
  bool ok() const { return !error; }
};

class LuaRuntime {
 public:
  explicit LuaRuntime(LuaOptions options = {});
  ~LuaRuntime();
  LuaRuntime(const LuaRuntime&) = delete;
  LuaRuntime& operator=(const LuaRuntime&) = delete;

  // Compiles the script (text only) and runs its top level once, in its own global environment.
  // With an empty `entry` the chunk must return a function; otherwise `entry` names a function
  // in the table the chunk returns, or a global the chunk defined. Errors read
  // "script load error: file:line: message".
  LoadResult loadFile(const std::filesystem::path& path, std::string_view entry = {});
  LoadResult loadString(std::string_view chunkName, std::string_view code,
                        std::string_view entry = {});

  // Protected call under the per-call instruction budget. A table result comes back as JsonText;
  // functions, coroutines and other userdata as an error.
  CallResult call(const FunctionRef& function, std::initializer_list<Value> args = {});
  CallResult call(const FunctionRef& function, const std::vector<Value>& args);

  // Drops a loaded function (a reloaded script replaces its old one); `function` becomes invalid.
  void release(FunctionRef& function);

  // Bytes currently allocated by the state.
  std::size_t memoryUsed() const;
  const LuaOptions& options() const;
  // For bindings and tests; the state stays owned by the runtime.
  lua_State* state();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb::transforms
