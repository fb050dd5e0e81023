// HL7 v2 messages for Lua: a userdata over sb::hl7::Message with a node tree
// (msg.PID[5][1]), path access (msg:get("PID-5.1")), edits and ACKs. See docs/lua-api.md.
#pragma once

#include <memory>

#include "parsers/hl7v2/hl7v2.h"

struct lua_State;

namespace sb::transforms {

// Registers the global table `hl7` (parse, new, ack) and the metatables.
void openHl7(lua_State* L);
// Pushes a message userdata sharing `message` with the caller.
void pushHl7Message(lua_State* L, std::shared_ptr<hl7::Message> message);
// The message at `index`, or nullptr when the value is not a message.
std::shared_ptr<hl7::Message> toHl7Message(lua_State* L, int index);

}  // namespace sb::transforms
