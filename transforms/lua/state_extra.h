// What every Lua state of a LuaRuntime carries in its extra space (LUA_EXTRASPACE, one pointer).
//
// Besides the runtime that owns the state, it remembers the metatables of the binding types, so
// checking that an argument is an HL7 message or node compares two pointers instead of looking
// the metatable up in the registry (a hash lookup) on every call of msg:values and friends.
#pragma once

#include <lua.hpp>

namespace sb::transforms {

struct StateExtra {
  void* runtime = nullptr;               // the LuaRuntime::Impl
  const void* hl7MessageMeta = nullptr;  // set by openHl7()
  const void* hl7NodeMeta = nullptr;
};

// The state's StateExtra. Only for states a LuaRuntime created (it fills the extra space before
// anything runs); Lua leaves the extra space of other states uninitialised.
inline StateExtra* stateExtra(lua_State* L) {
  return *static_cast<StateExtra**>(lua_getextraspace(L));
}

}  // namespace sb::transforms
