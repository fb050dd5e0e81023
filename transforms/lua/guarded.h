// Every C function the bindings give to Lua is registered as guarded<F>.
//
// Lua is a C library here: its errors are longjmps, and its protected calls (lua_pcall, pcall in
// a script, metamethods) remember where to jump in the state. A C++ exception thrown by a binding
// (std::bad_alloc, a writer refusing a value, a std::filesystem error) would unwind through Lua's
// C frames without restoring that, so the next Lua error in the same state would jump into a
// frame that no longer exists. guarded<F> catches the exception in the binding's own frame and
// raises it as an ordinary Lua error once the exception object is gone.
#pragma once

#include <cxxabi.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <lua.hpp>

namespace sb::transforms {

namespace detail {
// Copies into a fixed buffer: nothing that can fail (or longjmp) runs inside the catch block.
inline void copyReason(char (&out)[256], const char* what) {
  std::size_t n = std::strlen(what);
  if (n >= sizeof out) n = sizeof out - 1;
  std::memcpy(out, what, n);
  out[n] = '\0';
}
}  // namespace detail

template <lua_CFunction F>
int guarded(lua_State* L) {
  char reason[256];
  try {
    return F(L);
  } catch (abi::__forced_unwind&) {
    throw;  // thread cancellation must go on unwinding
  } catch (const std::exception& e) {
    detail::copyReason(reason, e.what());
  } catch (...) {
    detail::copyReason(reason, "unexpected internal error");
  }
  return luaL_error(L, "%s", reason);
}

// Runs `f` (which finds `data` as light userdata at index 1) under lua_pcall and returns its
// status, leaving its `results` results (or the error) on the stack. For the steps of a binding
// that allocate in Lua while C++ objects are alive (pushing a std::string it built): a memory
// error then comes back as a status, and the binding raises it once those objects are gone.
inline int protectedCall(lua_State* L, lua_CFunction f, void* data, int results) {
  lua_pushcfunction(L, f);  // a light C function: pushing it does not allocate
  lua_pushlightuserdata(L, data);
  return lua_pcall(L, 1, results, 0);
}

}  // namespace sb::transforms
