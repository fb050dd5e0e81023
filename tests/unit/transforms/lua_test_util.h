// Shared helpers for the Lua runtime tests: a runtime with the repository's script folder and a
// one-line way to run a function body.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_support.h"
#include "transforms/lua/runtime.h"

namespace sb::transforms::testing {

inline LuaOptions defaultOptions() {
  LuaOptions options;
  options.scriptFolders.push_back(sb::test::sourceDir() / "scripts" / "lua");
  return options;
}

// Compiles `body` as `function(...) body end` (all on line 1 of "test.lua") and calls it.
inline CallResult eval(LuaRuntime& rt, const std::string& body,
                       const std::vector<Value>& args = {}) {
  const LoadResult loaded = rt.loadString("test.lua", "return function(...) " + body + "\nend");
  if (!loaded.ok()) {
    CallResult failed;
    failed.error = loaded.error;
    return failed;
  }
  return rt.call(loaded.function, args);
}

inline std::string errorOf(const CallResult& r) {
  return r.error ? r.error->message : std::string("(no error)");
}

// The first result as text; "(error) ..." or "(not a string)" otherwise, so that EXPECT_EQ
// shows what happened.
inline std::string text(const CallResult& r, std::size_t i = 0) {
  if (r.error) return "(error) " + r.error->message;
  if (i >= r.values.size()) return "(no value)";
  if (const auto* s = std::get_if<std::string>(&r.values[i])) return *s;
  if (const auto* j = std::get_if<JsonText>(&r.values[i])) return "json:" + j->text;
  return "(not a string)";
}

inline std::int64_t integer(const CallResult& r, std::size_t i = 0) {
  if (r.error || i >= r.values.size()) return -999999;
  if (const auto* v = std::get_if<std::int64_t>(&r.values[i])) return *v;
  return -999998;
}

}  // namespace sb::transforms::testing
