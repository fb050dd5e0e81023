// Escapes tried against the sandbox: each is refused with its exact error, and the runtime keeps
// serving calls afterwards.
#include <gtest/gtest.h>

#include <filesystem>

#include <lua.hpp>

#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

class Sandbox : public ::testing::Test {
 protected:
  void TearDown() override {
    // Whatever was tried, the state still runs scripts.
    EXPECT_EQ(integer(eval(rt, "return 40 + 2")), 42);
  }
  LuaRuntime rt{defaultOptions()};
};

TEST_F(Sandbox, NoIo) {
  EXPECT_EQ(errorOf(eval(rt, "return io.open('/etc/passwd')")),
            "test.lua:1: attempt to index a nil value (global 'io')");
}

TEST_F(Sandbox, OsIsClockAndCalendarOnly) {
  EXPECT_EQ(errorOf(eval(rt, "return os.execute('id')")),
            "test.lua:1: attempt to call a nil value (field 'execute')");
  EXPECT_EQ(errorOf(eval(rt, "return os.getenv('HOME')")),
            "test.lua:1: attempt to call a nil value (field 'getenv')");
  EXPECT_EQ(errorOf(eval(rt, "return os.exit(1)")),
            "test.lua:1: attempt to call a nil value (field 'exit')");
  EXPECT_EQ(errorOf(eval(rt, "return os.remove('/tmp/x')")),
            "test.lua:1: attempt to call a nil value (field 'remove')");
  EXPECT_EQ(text(eval(rt, "return os.date('!%Y-%m-%d', 0)")), "1970-01-01");
  EXPECT_EQ(integer(eval(
                rt, "return os.time({year = 2026, month = 1, day = 1, hour = 12}) > 0 and 1 or 0")),
            1);
  EXPECT_EQ(text(eval(rt, "return type(os.clock())")), "number");
}

TEST_F(Sandbox, NoDebugPackageDofileLoadfileCoroutine) {
  EXPECT_EQ(errorOf(eval(rt, "return debug.getinfo(1)")),
            "test.lua:1: attempt to index a nil value (global 'debug')");
  EXPECT_EQ(errorOf(eval(rt, "return package.loadlib('libc.so.6', 'system')")),
            "test.lua:1: attempt to index a nil value (global 'package')");
  EXPECT_EQ(errorOf(eval(rt, "return dofile('/etc/passwd')")),
            "test.lua:1: attempt to call a nil value (global 'dofile')");
  EXPECT_EQ(errorOf(eval(rt, "return loadfile('/etc/passwd')")),
            "test.lua:1: attempt to call a nil value (global 'loadfile')");
  EXPECT_EQ(errorOf(eval(rt, "return coroutine.create(print)")),
            "test.lua:1: attempt to index a nil value (global 'coroutine')");
}

TEST_F(Sandbox, RequireOnlyInsideTheScriptFolders) {
  EXPECT_EQ(
      errorOf(eval(rt, "return require('../../etc/passwd')")),
      "test.lua:1: module name '../../etc/passwd' is not allowed (names look like 'sb.time')");
  EXPECT_EQ(errorOf(eval(rt, "return require('/etc/passwd')")),
            "test.lua:1: module name '/etc/passwd' is not allowed (names look like 'sb.time')");
  EXPECT_EQ(errorOf(eval(rt, "return require('sb..time')")),
            "test.lua:1: module name 'sb..time' is not allowed (names look like 'sb.time')");
  EXPECT_EQ(errorOf(eval(rt, "local m = require('nope') return m")),
            "test.lua:1: module 'nope': 'nope.lua' not found in the script folders");
  EXPECT_EQ(text(eval(rt, "return require('sb.time').toIso('2026')")), "2026");
}

TEST(SandboxFiles, LinksOutOfTheFolderAreRefused) {
  sb::test::TempDir dir;
  sb::test::writeFile(dir.path() / "outside" / "secret.lua", "return 'secret'");
  std::filesystem::create_directories(dir.path() / "scripts");
  std::filesystem::create_symlink(dir.path() / "outside" / "secret.lua",
                                  dir.path() / "scripts" / "evil.lua");
  sb::test::writeFile(dir.path() / "scripts" / "good.lua", "return 'good'");
  LuaOptions options;
  options.scriptFolders.push_back(dir.path() / "scripts");
  LuaRuntime rt(options);
  EXPECT_EQ(errorOf(eval(rt, "local m = require('evil') return m")),
            "test.lua:1: module 'evil': 'evil.lua' leads outside the script folders");
  EXPECT_EQ(text(eval(rt, "return require('good')")), "good");
}

TEST_F(Sandbox, RequireCachesAndDetectsLoops) {
  sb::test::TempDir dir;
  sb::test::writeFile(dir.path() / "counter.lua", "n = (n or 0) + 1\nreturn { n = n }");
  sb::test::writeFile(dir.path() / "loop.lua", "return require('loop')");
  LuaOptions options;
  options.scriptFolders.push_back(dir.path());
  LuaRuntime local(options);
  EXPECT_EQ(integer(eval(local, "require('counter') return require('counter').n")), 1);
  EXPECT_EQ(errorOf(eval(local, "return require('loop')")),
            "loop.lua:1: module 'loop' requires itself");
}

TEST_F(Sandbox, LoadRefusesBytecode) {
  // Real bytecode, produced by an unrestricted state.
  lua_State* L = luaL_newstate();
  ASSERT_EQ(luaL_loadstring(L, "return 1"), LUA_OK);
  std::string bytecode;
  lua_dump(
      L,
      [](lua_State*, const void* p, std::size_t sz, void* ud) {
        static_cast<std::string*>(ud)->append(static_cast<const char*>(p), sz);
        return 0;
      },
      &bytecode, 0);
  lua_close(L);
  const auto r = eval(rt, "local f, err = load(...) return tostring(f), err", {Value{bytecode}});
  EXPECT_EQ(text(r, 0), "nil");
  EXPECT_EQ(text(r, 1), "attempt to load a binary chunk (mode is 't')");
  // Asking for binary mode explicitly does not help.
  EXPECT_EQ(text(eval(rt, "local f, err = load(..., 'x', 'b') return err", {Value{bytecode}})),
            "attempt to load a binary chunk (mode is 't')");
  EXPECT_EQ(errorOf(eval(rt, "return string.dump(print)")),
            "test.lua:1: attempt to call a nil value (field 'dump')");
  // Text chunks load, in a fresh environment of their own.
  EXPECT_EQ(integer(eval(rt, "local f = load('leak = 1 return 1 + 1') return f()")), 2);
  EXPECT_EQ(text(eval(rt, "return tostring(leak)")), "nil");
}

TEST_F(Sandbox, StringRepMemoryBomb) {
  EXPECT_EQ(errorOf(eval(rt, "return #string.rep('x', 1e9)")),
            "not enough memory (script memory limit of 67108864 bytes)");
  EXPECT_EQ(errorOf(eval(rt, "local s = 'xxxxxxxx' while true do s = s .. s end")),
            "not enough memory (script memory limit of 67108864 bytes)");
}

TEST_F(Sandbox, EndlessLoop) {
  EXPECT_EQ(errorOf(eval(rt, "while true do end")),
            "test.lua:1: instruction limit exceeded (10000000 per call)");
}

TEST_F(Sandbox, DeepRecursion) {
  // The depth limit is checked once a call is counted (limits.countAfter); 0 makes that the first
  // instruction, so the answer is exact. The default delay is covered in runtime_test.cpp.
  LuaOptions options = testing::defaultOptions();
  options.limits.countAfter = std::chrono::microseconds(0);
  LuaRuntime counted(options);
  EXPECT_EQ(errorOf(eval(counted, "local function f() return f() + 1 end return f()")),
            "test.lua:1: stack overflow (more than 1000 nested calls)");
}

TEST_F(Sandbox, CollectgarbageOnlyCounts) {
  EXPECT_EQ(errorOf(eval(rt, "collectgarbage('stop')")),
            "test.lua:1: collectgarbage(\"stop\") is not allowed in scripts");
  EXPECT_EQ(errorOf(eval(rt, "collectgarbage()")),
            "test.lua:1: collectgarbage(\"collect\") is not allowed in scripts");
  EXPECT_EQ(text(eval(rt, "return math.type(collectgarbage('count'))")), "float");
}

TEST_F(Sandbox, SharedTablesAreReadOnly) {
  EXPECT_EQ(text(eval(rt, "return tostring(getmetatable(''))")), "false");
  EXPECT_EQ(errorOf(eval(rt, "getmetatable('').__index = {}")),
            "test.lua:1: attempt to index a boolean value");
  EXPECT_EQ(errorOf(eval(rt, "string.upper = nil")),
            "test.lua:1: attempt to modify a read-only library table");
  EXPECT_EQ(errorOf(eval(rt, "rawset(string, 'upper', print)")),
            "test.lua:1: attempt to modify a read-only library table");
  EXPECT_EQ(errorOf(eval(rt, "setmetatable(string, {})")),
            "test.lua:1: cannot change a protected metatable");
  EXPECT_EQ(errorOf(eval(rt, "hl7.parse = nil")),
            "test.lua:1: attempt to modify a read-only library table");
  EXPECT_EQ(text(eval(rt, "return ('abc'):upper()")), "ABC");
  // Library tables still enumerate.
  EXPECT_EQ(integer(eval(
                rt, "local n = 0 for k in pairs(math) do n = n + 1 end return n > 20 and 1 or 0")),
            1);
}

TEST_F(Sandbox, GlobalsStayInTheirScript) {
  EXPECT_EQ(integer(eval(rt, "shared = 5 return shared")), 5);
  EXPECT_EQ(text(eval(rt, "return tostring(shared)")), "nil");
  EXPECT_EQ(errorOf(eval(rt, "return getmetatable(_ENV).__index")),
            "test.lua:1: attempt to index a boolean value");
}

TEST_F(Sandbox, PrintGoesToTheLog) {
  EXPECT_TRUE(eval(rt, "print('hello', 1, nil)").ok());
}

}  // namespace
}  // namespace sb::transforms
