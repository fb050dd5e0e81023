// A C++ exception from a binding reaches scripts as an ordinary Lua error, and the state's
// protected calls keep working afterwards (without the guard the exception would unwind through
// Lua's C frames and leave the state's error handler pointing at a frame that is gone).
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <lua.hpp>

#include "transforms/lua/guarded.h"

namespace sb::transforms {
namespace {

int throwsStdException(lua_State*) {
  throw std::invalid_argument("X12 writer: ISA06 contains a delimiter");
}
int throwsSomethingElse(lua_State*) {
  throw 42;
}
int returnsItsArgument(lua_State* L) {
  lua_settop(L, 1);
  return 1;
}

class Guarded : public ::testing::Test {
 protected:
  void SetUp() override {
    luaL_openlibs(L.get());
    lua_register(L.get(), "refuses", guarded<throwsStdException>);
    lua_register(L.get(), "fails", guarded<throwsSomethingElse>);
    lua_register(L.get(), "echo", guarded<returnsItsArgument>);
  }
  // Runs a chunk protected; returns its first result or its error as text.
  std::string run(const char* chunk, int* status) {
    *status = luaL_loadstring(L.get(), chunk);
    if (*status == LUA_OK) *status = lua_pcall(L.get(), 0, 1, 0);
    std::string out = lua_tostring(L.get(), -1) ? lua_tostring(L.get(), -1) : "(not a string)";
    lua_settop(L.get(), 0);
    return out;
  }
  std::unique_ptr<lua_State, decltype(&lua_close)> L{luaL_newstate(), lua_close};
};

TEST_F(Guarded, AStdExceptionIsALuaErrorWithItsMessage) {
  int status = -1;
  // Raised where the script called the binding, so the message names that line.
  EXPECT_EQ(run("local ok, e = pcall(function()\n local v = refuses()\n return v\n end)\n"
                "return tostring(ok) .. ' ' .. e",
                &status),
            "false [string \"local ok, e = pcall(function()...\"]:2: "
            "X12 writer: ISA06 contains a delimiter");
  EXPECT_EQ(status, LUA_OK);
}

TEST_F(Guarded, AnythingElseThrownIsAnInternalError) {
  int status = -1;
  EXPECT_EQ(run("fails()", &status), "[string \"fails()\"]:1: unexpected internal error");
  EXPECT_EQ(status, LUA_ERRRUN);
}

TEST_F(Guarded, NestedProtectedCallsStillCatchTheirOwnErrorsAfterwards) {
  int status = -1;
  // The exception is raised under two levels of pcall; then errors at each level must land in
  // their own handler, which needs the state's error-jump chain to be intact.
  EXPECT_EQ(run("local ok1, e1 = pcall(function()"
                "  local ok2 = pcall(refuses)"
                "  assert(not ok2)"
                "  error('inner level', 0)"
                " end)"
                " local ok3, e3 = pcall(error, 'outer level', 0)"
                " return e1 .. ' / ' .. e3",
                &status),
            "inner level / outer level");
  EXPECT_EQ(status, LUA_OK);
  EXPECT_EQ(run("error('top level', 0)", &status), "top level");
  EXPECT_EQ(status, LUA_ERRRUN);
  EXPECT_EQ(run("return echo('still serving')", &status), "still serving");
  EXPECT_EQ(status, LUA_OK);
}

}  // namespace
}  // namespace sb::transforms
