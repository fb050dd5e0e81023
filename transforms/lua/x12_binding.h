// X12 interchanges for Lua: x12.parse gives plain tables with loop addressing
// (set["2010BA"].NM1[3], set:get("2300/DTP[472]-03")), x12.encode writes them back with counts
// recomputed, x12.build makes new interchanges with control numbers, x12.ack the TA1/999.
// See docs/lua-api.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct lua_State;

namespace sb::transforms {

// Reserves `count` consecutive control numbers of `kind` ("ISA", "GS", "ST") for a trading
// partner and returns the first. The engine backs it with the store; without one, numbers
// count from 1 per partner and kind in the Lua state (tests, `switchboard try`).
using ControlNumberSource =
    std::function<std::int64_t(std::string_view partner, std::string_view kind, int count)>;

// Registers the global table `x12`. `numbers` may be empty.
void openX12(lua_State* L, ControlNumberSource numbers);

// Pushes the parsed document of `raw` (as x12.parse would), raising a Lua error when it is not X12.
void pushX12Document(lua_State* L, std::string_view raw);

}  // namespace sb::transforms
