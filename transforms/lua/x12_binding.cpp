#include "transforms/lua/x12_binding.h"

#include <lua.hpp>

#include <ctime>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "parsers/x12/ack.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"
#include "transforms/lua/guarded.h"

namespace sb::transforms {

namespace {

// Registry keys of the metatables the Lua part defines.
char kSegmentMeta, kLoopMeta, kSetMeta, kDocMeta, kNumbersKey;

// Errors of the Lua part are raised without a position (level 0): the runtime's message handler
// then points at the innermost frame of the calling script, skipping this chunk ("=x12").
// The table side is written in Lua: it is plain table walking, shorter and clearer there.
// Parsed documents are built in C++ (fast) and given these metatables.
constexpr const char* kPrelude = R"lua(
local x12 = ...
local SEG, LOOP, SET, DOC = {}, {}, {}, {}
local seg_methods, loop_methods, set_methods, doc_methods = {}, {}, {}, {}

local function split(text, sep)
  local out, from = {}, 1
  if sep == nil or sep == "" then return {text} end
  while true do
    local at = string.find(text, sep, from, true)
    if not at then out[#out + 1] = string.sub(text, from); return out end
    out[#out + 1] = string.sub(text, from, at - 1)
    from = at + 1
  end
end

-- seg:get(element [, component [, repetition]]): nil when empty.
function seg_methods:get(e, c, r)
  local v = rawget(self, e)
  if v == nil or v == "" then return nil end
  local d = rawget(self, "_d")
  if r and r > 1 then v = split(v, d.repetition)[r]; if v == nil then return nil end
  elseif d.repetition ~= "" and (c or r) then v = split(v, d.repetition)[1] end
  if c then v = split(v, d.component)[c] end
  if v == nil or v == "" then return nil end
  return v
end
function seg_methods:set(e, value)
  if type(value) == "table" then value = table.concat(value, rawget(self, "_d").component) end
  for i = #self + 1, e - 1 do rawset(self, i, "") end
  rawset(self, e, value == nil and "" or tostring(value))
  return self
end
function seg_methods:components(e) return split(rawget(self, e) or "", rawget(self, "_d").component) end
SEG.__index = seg_methods
SEG.__tostring = function(s)
  local parts = {s.id}
  for i = 1, #s do parts[#parts + 1] = s[i] end
  return table.concat(parts, rawget(s, "_d").element)
end
SEG.__metatable = false

local function find_loops(loop, id, out, first)
  for _, item in ipairs(loop.content) do
    if rawget(item, "content") then
      if item.id == id then out[#out + 1] = item; if first then return out end end
      find_loops(item, id, out, first)
      if first and #out > 0 then return out end
    end
  end
  return out
end

function loop_methods:loops(id) return find_loops(self, id, {}, false) end
function loop_methods:loop(id) return find_loops(self, id, {}, true)[1] end
-- Direct segments of this loop with the id (and first element = qualifier).
function loop_methods:segments(id, qualifier)
  local out = {}
  for _, item in ipairs(self.content) do
    if not rawget(item, "content") and (id == nil or item.id == id)
        and (qualifier == nil or item[1] == qualifier) then
      out[#out + 1] = item
    end
  end
  return out
end
function loop_methods:segment(id, qualifier) return self:segments(id, qualifier)[1] end
-- Every segment with the id in this loop and the loops inside it, in order.
function loop_methods:all(id, out)
  out = out or {}
  for _, item in ipairs(self.content) do
    if rawget(item, "content") then loop_methods.all(item, id, out)
    elseif id == nil or item.id == id then out[#out + 1] = item end
  end
  return out
end
-- "2000B/2010BA/NM1-03", "2300/DTP[472]-03", "CLM-05.1": the first match, nil when absent.
function loop_methods:get(path)
  local node = self
  local steps = split(path, "/")
  for i = 1, #steps - 1 do
    node = node:loop(steps[i])
    if not node then return nil end
  end
  local last = steps[#steps]
  local id, qual, e, c = string.match(last, "^(%u[%u%d][%u%d]?)%[?([^%]]*)%]?%-(%d+)%.?(%d*)$")
  if not id then error("x12 path '" .. path .. "': expected LOOP/.../SEG[QUAL]-EE[.C]", 0) end
  local seg = node:segment(id, qual ~= "" and qual or nil)
  if not seg then return nil end
  return seg:get(tonumber(e), c ~= "" and tonumber(c) or nil)
end
LOOP.__index = function(t, k)
  if type(k) == "string" then
    if string.match(k, "^%d") then return loop_methods.loop(t, k) end
    if string.match(k, "^%u[%u%d][%u%d]?$") then return loop_methods.segment(t, k) end
  end
  return loop_methods[k]
end
LOOP.__metatable = false

for name, fn in pairs(loop_methods) do
  set_methods[name] = function(self, ...) return fn(self.tree, ...) end
end
SET.__index = function(t, k)
  if type(k) == "string" and (string.match(k, "^%d") or string.match(k, "^%u[%u%d][%u%d]?$")) then
    return t.tree[k]
  end
  return set_methods[k]
end
SET.__metatable = false

-- Every transaction set of the document, in order (across interchanges and groups).
function doc_methods:sets()
  local out = {}
  for _, ic in ipairs(self.interchanges) do
    for _, g in ipairs(ic.groups) do
      for _, s in ipairs(g.sets) do out[#out + 1] = s end
    end
  end
  return out
end
DOC.__index = function(t, k)
  if doc_methods[k] then return doc_methods[k] end
  local first = doc_methods.sets(t)[1]
  return first and first[k] or nil
end
DOC.__metatable = false

local DEFAULT = {element = "*", repetition = "^", component = ":", segment = "~", suffix = "\n"}

local function delimiters(d)
  local out = {}
  for k, v in pairs(DEFAULT) do out[k] = (d and d[k] ~= nil) and d[k] or v end
  return out
end

-- One segment as text. `seg` is a parsed segment ({id = ..., [1] = ...}) or a list whose first
-- entry is the id ({"NM1", "IL", "1", ...}); an element may be a list of components.
local function write(seg, d, out, keepTrailing)
  local id, first = seg.id, 1
  if id == nil then id, first = seg[1], 2 end
  if type(id) ~= "string" or not string.match(id, "^%u[%u%d][%u%d]?$") then
    error("x12: a segment needs a 2-3 character id", 0)
  end
  local parts = {id}
  local n = #seg
  for i = first, n do
    local v = seg[i]
    if type(v) == "table" then v = table.concat(v, d.component) end
    v = v == nil and "" or tostring(v)
    local pos = i - first + 1
    if string.find(v, d.element, 1, true) or string.find(v, d.segment, 1, true) then
      error(string.format("x12: %s%02d contains a delimiter", id, pos), 0)
    end
    parts[#parts + 1] = v
  end
  if not keepTrailing then
    while #parts > 1 and parts[#parts] == "" do parts[#parts] = nil end
  end
  out[#out + 1] = table.concat(parts, d.element) .. d.segment .. d.suffix
end

local function flatten(loop, out)
  for _, item in ipairs(loop.content) do
    if rawget(item, "content") then flatten(item, out) else out[#out + 1] = item end
  end
  return out
end

local function copy(seg)
  local c = {}
  for k, v in pairs(seg) do c[k] = v end
  return c
end

-- Writes a parsed (and perhaps edited) document back; SE01, GE01, IEA01 and the trailer control
-- numbers are recomputed from what is there.
function x12.encode(doc)
  if getmetatable(doc) == nil and type(doc) ~= "table" then error("x12.encode: expected a document", 0) end
  local d = doc.delimiters or DEFAULT
  local out = {}
  for _, ic in ipairs(doc.interchanges) do
    write(ic.ISA, d, out, true)
    for _, ta1 in ipairs(ic.TA1 or {}) do write(ta1, d, out) end
    for _, g in ipairs(ic.groups) do
      write(g.GS, d, out)
      for _, s in ipairs(g.sets) do
        local segs = flatten(s.tree, {})
        local st = segs[1]
        local count = #segs
        for i, seg in ipairs(segs) do
          if i == count and seg.id == "SE" then
            seg = copy(seg); seg[1] = tostring(count); seg[2] = st[2]
          end
          write(seg, d, out)
        end
      end
      local ge = g.GE and copy(g.GE) or {id = "GE", _d = d}
      ge[1] = tostring(#g.sets); ge[2] = g.GS[6]
      write(ge, d, out)
    end
    local iea = ic.IEA and copy(ic.IEA) or {id = "IEA", _d = d}
    iea[1] = tostring(#ic.groups); iea[2] = ic.ISA[13]
    write(iea, d, out)
  end
  return table.concat(out)
end

-- A new segment for a parsed document: x12.segment("REF", "EI", "123456789").
function x12.segment(id, ...)
  local s = {id = id, ...}
  s._d = DEFAULT
  return setmetatable(s, SEG)
end

-- Builds a whole interchange:
--   x12.build{ sender = {qualifier = "ZZ", id = "SWITCHBOARD"}, receiver = {qualifier = "ZZ", id = "PAYER"},
--     usage = "P", date = "20260101", time = "1200", delimiters = {...}, partner = "ZZ:PAYER",
--     control = {interchange = n, group = n, set = n},   -- optional; else reserved per partner
--     groups = {{ functional_id = "HS", application_sender = "SB", application_receiver = "PAYER",
--                 version = "005010X279A1", sets = {{ id = "270", segments = {{"BHT", ...}, ...} }} }} }
function x12.build(o)
  if type(o) ~= "table" or type(o.sender) ~= "table" or type(o.receiver) ~= "table" then
    error("x12.build: sender and receiver are required", 0)
  end
  local d = delimiters(o.delimiters)
  local partner = o.partner or ((o.receiver.qualifier or "ZZ") .. ":" .. o.receiver.id)
  local control = o.control or {}
  local date = o.date or x12._now("%Y%m%d")
  local time = o.time or x12._now("%H%M")
  local isa = control.interchange or x12._control(partner, "ISA", 1)
  local out = {}
  local isaElements = x12._isa(d, o.sender.qualifier or "ZZ", o.sender.id, o.receiver.qualifier or "ZZ",
    o.receiver.id, string.sub(date, 3), time, o.version or "00501", isa, o.ack_requested and true or false,
    o.usage or "P")
  write(isaElements, d, out, true)
  local groups = o.groups or {}
  local nextGroup = control.group
  local nextSet = control.set
  for _, g in ipairs(groups) do
    local gs = nextGroup or x12._control(partner, "GS", 1)
    if nextGroup then nextGroup = nextGroup + 1 end
    write({"GS", g.functional_id, g.application_sender or o.sender.id, g.application_receiver or o.receiver.id,
      date, time, tostring(gs), "X", g.version}, d, out)
    local sets = g.sets or {}
    local first = nextSet or x12._control(partner, "ST", #sets)
    for i, s in ipairs(sets) do
      local st = string.format("%04d", first + i - 1)
      write({"ST", s.id, st, s.convention or g.version}, d, out)
      for _, seg in ipairs(s.segments or {}) do write(seg, d, out) end
      write({"SE", tostring(#(s.segments or {}) + 2), st}, d, out)
    end
    if nextSet then nextSet = nextSet + #sets end
    write({"GE", tostring(#sets), tostring(gs)}, d, out)
  end
  write({"IEA", tostring(#groups), string.format("%09d", isa)}, d, out)
  return table.concat(out)
end

-- Entry points are wrapped in C closures so that a script's `return x12.encode(x)` (a tail call)
-- keeps the script's frame on the stack, and errors can point at the script's line.
for _, name in ipairs({"encode", "build", "segment"}) do x12[name] = x12._c(x12[name]) end
for _, methods in ipairs({seg_methods, loop_methods, set_methods, doc_methods}) do
  for name, fn in pairs(methods) do methods[name] = x12._c(fn) end
end

return SEG, LOOP, SET, DOC
)lua";

int callWrapped(lua_State* L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int x12WrapInC(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushcclosure(L, guarded<callWrapped>, 1);
  return 1;
}

struct Numbers {
  ControlNumberSource source;
  std::map<std::string, std::int64_t> local;  // without a source: per partner and kind
};

Numbers& numbers(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNumbersKey);
  auto* n = static_cast<Numbers*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return *n;
}

int numbersGc(lua_State* L) {
  static_cast<Numbers*>(lua_touserdata(L, 1))->~Numbers();
  return 0;
}

void setString(lua_State* L, const char* key, std::string_view value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

void pushSegment(lua_State* L, const x12::Segment& s, int delimitersIndex) {
  const auto n = static_cast<int>(s.elementCount());
  lua_createtable(L, n, 2);
  for (int i = 1; i <= n; ++i) {
    const std::string_view v = s.element(static_cast<std::size_t>(i));
    lua_pushlstring(L, v.data(), v.size());
    lua_rawseti(L, -2, i);
  }
  setString(L, "id", s.id());
  lua_pushvalue(L, delimitersIndex);
  lua_setfield(L, -2, "_d");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kSegmentMeta);
  lua_setmetatable(L, -2);
}

void pushLoop(lua_State* L, const x12::Document& doc, const x12::Transaction& t,
              std::uint32_t index, int delimitersIndex) {
  const x12::Loop& loop = t.loops[index];
  lua_createtable(L, 0, 3);
  setString(L, "id", loop.id);
  setString(L, "name", loop.name);
  lua_createtable(L, static_cast<int>(loop.items.size()), 0);
  int i = 0;
  for (const x12::Loop::Item& item : loop.items) {
    luaL_checkstack(L, 8, "x12: loops nested too deeply");
    if (item.isLoop)
      pushLoop(L, doc, t, item.index, delimitersIndex);
    else
      pushSegment(L, doc.segments()[item.index], delimitersIndex);
    lua_rawseti(L, -2, ++i);
  }
  lua_setfield(L, -2, "content");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLoopMeta);
  lua_setmetatable(L, -2);
}

// A transaction without a definition: one loop holding its segments in order.
void pushFlat(lua_State* L, const x12::Document& doc, const x12::Transaction& t,
              int delimitersIndex) {
  lua_createtable(L, 0, 3);
  setString(L, "id", "");
  setString(L, "name", "");
  lua_newtable(L);
  int i = 0;
  for (std::size_t s = t.st; s < doc.transactionEnd(t); ++s) {
    pushSegment(L, doc.segments()[s], delimitersIndex);
    lua_rawseti(L, -2, ++i);
  }
  lua_setfield(L, -2, "content");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLoopMeta);
  lua_setmetatable(L, -2);
}

const char* levelName(x12::Level l) {
  switch (l) {
    case x12::Level::kInterchange:
      return "interchange";
    case x12::Level::kGroup:
      return "group";
    case x12::Level::kTransaction:
      return "transaction";
    case x12::Level::kSegment:
      return "segment";
    case x12::Level::kElement:
      return "element";
  }
  return "?";
}

void pushDelimiters(lua_State* L, const x12::Delimiters& d) {
  lua_createtable(L, 0, 5);
  setString(L, "element", std::string_view(&d.element, 1));
  setString(L, "repetition",
            d.repetition ? std::string_view(&d.repetition, 1) : std::string_view());
  setString(L, "component", std::string_view(&d.component, 1));
  setString(L, "segment", std::string_view(&d.segment, 1));
  setString(L, "suffix", d.suffix);
}

void pushDocument(lua_State* L, const x12::Document& doc) {
  luaL_checkstack(L, 32, "x12");
  lua_createtable(L, 0, 4);
  const int docIndex = lua_gettop(L);
  pushDelimiters(L, doc.delimiters());
  const int delims = lua_gettop(L);
  lua_pushvalue(L, delims);
  lua_setfield(L, docIndex, "delimiters");
  bool accepted = true;
  lua_createtable(L, static_cast<int>(doc.interchanges().size()), 0);
  int ii = 0;
  for (const x12::Interchange& ic : doc.interchanges()) {
    // Each interchange may declare its own delimiters.
    pushDelimiters(L, doc.segments()[ic.isa].delimiters());
    const int icDelims = lua_gettop(L);
    lua_createtable(L, 0, 10);
    pushSegment(L, doc.segments()[ic.isa], icDelims);
    lua_setfield(L, -2, "ISA");
    if (ic.iea) {
      pushSegment(L, doc.segments()[*ic.iea], icDelims);
      lua_setfield(L, -2, "IEA");
    }
    lua_newtable(L);
    for (std::size_t k = 0; k < ic.ta1.size(); ++k) {
      pushSegment(L, doc.segments()[ic.ta1[k]], icDelims);
      lua_rawseti(L, -2, static_cast<int>(k) + 1);
    }
    lua_setfield(L, -2, "TA1");
    setString(L, "control", ic.controlNumber);
    setString(L, "version", ic.version);
    setString(L, "usage", ic.usage);
    lua_createtable(L, 0, 2);
    setString(L, "qualifier", ic.senderQualifier);
    setString(L, "id", ic.senderId);
    lua_setfield(L, -2, "sender");
    lua_createtable(L, 0, 2);
    setString(L, "qualifier", ic.receiverQualifier);
    setString(L, "id", ic.receiverId);
    lua_setfield(L, -2, "receiver");
    lua_createtable(L, static_cast<int>(ic.groups.size()), 0);
    int gi = 0;
    for (const x12::Group& g : ic.groups) {
      lua_createtable(L, 0, 6);
      pushSegment(L, doc.segments()[g.gs], icDelims);
      lua_setfield(L, -2, "GS");
      if (g.ge) {
        pushSegment(L, doc.segments()[*g.ge], icDelims);
        lua_setfield(L, -2, "GE");
      }
      setString(L, "functional_id", g.functionalId);
      setString(L, "control", g.controlNumber);
      setString(L, "version", g.version);
      lua_createtable(L, static_cast<int>(g.transactions.size()), 0);
      int ti = 0;
      for (const x12::Transaction& t : g.transactions) {
        lua_createtable(L, 0, 6);
        setString(L, "id", t.setId);
        setString(L, "control", t.controlNumber);
        setString(L, "convention", t.convention);
        setString(L, "guide", t.spec ? t.spec->label : "");
        lua_pushboolean(L, !t.rejected);
        lua_setfield(L, -2, "accepted");
        accepted = accepted && !t.rejected;
        if (t.loops.empty())
          pushFlat(L, doc, t, icDelims);
        else
          pushLoop(L, doc, t, 0, icDelims);
        lua_setfield(L, -2, "tree");
        lua_rawgetp(L, LUA_REGISTRYINDEX, &kSetMeta);
        lua_setmetatable(L, -2);
        lua_rawseti(L, -2, ++ti);
      }
      lua_setfield(L, -2, "sets");
      lua_rawseti(L, -2, ++gi);
    }
    lua_setfield(L, -2, "groups");
    lua_rawseti(L, -3, ++ii);  // into interchanges, below this interchange's delimiters
    lua_pop(L, 1);             // the delimiters
  }
  lua_setfield(L, docIndex, "interchanges");
  lua_createtable(L, static_cast<int>(doc.findings().size()), 0);
  int fi = 0;
  for (const x12::Finding& f : doc.findings()) {
    if (f.severity == x12::Severity::kError) accepted = false;
    lua_createtable(L, 0, 8);
    setString(L, "level", levelName(f.level));
    setString(L, "code", f.x12Code);
    setString(L, "message", f.message);
    setString(L, "segment", f.segmentId);
    setString(L, "loop", f.loopId);
    lua_pushinteger(L, f.segmentPosition);
    lua_setfield(L, -2, "position");
    lua_pushinteger(L, f.element);
    lua_setfield(L, -2, "element");
    lua_rawseti(L, -2, ++fi);
  }
  lua_setfield(L, docIndex, "findings");
  lua_pushboolean(L, accepted);
  lua_setfield(L, docIndex, "accepted");
  lua_settop(L, docIndex);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kDocMeta);
  lua_setmetatable(L, -2);
}

// Lua errors unwind with longjmp, past C++ destructors: a Document used while Lua may raise is
// owned by a userdata on the stack, whose __gc frees it whatever happens.
int documentBoxGc(lua_State* L) {
  auto** box = static_cast<x12::Document**>(lua_touserdata(L, 1));
  delete *box;
  *box = nullptr;
  return 0;
}

x12::Document& boxedDocument(lua_State* L, std::string_view raw) {
  auto** box = static_cast<x12::Document**>(lua_newuserdatauv(L, sizeof(x12::Document*), 0));
  *box = nullptr;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, guarded<documentBoxGc>);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  *box = new x12::Document(x12::Document::parse(raw));
  return **box;
}

int x12Parse(lua_State* L) {
  std::size_t n = 0;
  const char* s = luaL_checklstring(L, 1, &n);
  pushX12Document(L, std::string_view(s, n));
  return 1;
}

// x12.validate(text) -> accepted, findings
int x12Validate(lua_State* L) {
  x12Parse(L);
  lua_getfield(L, -1, "accepted");
  lua_getfield(L, -2, "findings");
  return 2;
}

// For protectedCall: push the std::string / a list of the std::vector<std::string> at index 1.
int pushString(lua_State* L) {
  const auto* text = static_cast<const std::string*>(lua_touserdata(L, 1));
  lua_pushlstring(L, text->data(), text->size());
  return 1;
}

int pushStringList(lua_State* L) {
  const auto* list = static_cast<const std::vector<std::string>*>(lua_touserdata(L, 1));
  lua_createtable(L, static_cast<int>(list->size()), 0);
  for (std::size_t i = 0; i < list->size(); ++i) {
    lua_pushlstring(L, (*list)[i].data(), (*list)[i].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i) + 1);
  }
  return 1;
}

// x12.ack(text) -> the TA1/999 interchanges for it, one string per inbound interchange, with
// control numbers reserved for the inbound sender.
int x12Ack(lua_State* L) {
  std::size_t n = 0;
  const char* s = luaL_checklstring(L, 1, &n);
  x12::Document& doc = boxedDocument(L, std::string_view(s, n));  // stays on the stack below
  if (!doc.usable()) return luaL_error(L, "x12.ack: not an X12 interchange");
  doc.validate(x12::SpecLibrary::builtin());
  lua_newtable(L);
  int out = 0;
  for (std::size_t i = 0; i < doc.interchanges().size(); ++i) {
    // Only plain values stay alive past here: reserving numbers below may raise a Lua error,
    // and a longjmp does not run destructors (AckPlan holds a string).
    int groups = 0;
    bool sendTa1 = false;
    {
      const x12::AckPlan plan = x12::planAck(doc, i);
      groups = plan.groups;
      sendTa1 = plan.sendTa1;
    }
    if (!sendTa1 && groups == 0) continue;
    const x12::Interchange& ic = doc.interchanges()[i];
    // The partner key lives on the Lua stack: a Lua error may unwind from here.
    lua_pushfstring(L, "%s:%s", ic.senderQualifier.c_str(), ic.senderId.c_str());
    const int partner = lua_gettop(L);
    auto reserve = [&](const char* kind, int count) -> std::int64_t {
      lua_getglobal(L, "x12");
      lua_getfield(L, -1, "_control");
      lua_pushvalue(L, partner);
      lua_pushstring(L, kind);
      lua_pushinteger(L, count);
      lua_call(L, 3, 1);
      const auto v = static_cast<std::int64_t>(lua_tointeger(L, -1));
      lua_pop(L, 2);
      return v;
    };
    x12::AckNumbers numbersFor;
    numbersFor.interchange = reserve("ISA", 1);
    if (groups > 0) {
      numbersFor.group = reserve("GS", 1);
      numbersFor.firstSet = reserve("ST", groups);
    }
    lua_pop(L, 1);  // the partner key
    int pushed = LUA_OK;
    {
      std::string ack = x12::buildAcknowledgement(doc, i, numbersFor);
      pushed = protectedCall(L, pushString, &ack, 1);
    }
    if (pushed != LUA_OK) return lua_error(L);  // `ack` is gone: nothing is skipped
    lua_rawseti(L, -2, ++out);
  }
  return 1;
}

int x12Control(lua_State* L) {
  // No C++ object with a destructor may be alive when a Lua error is raised (longjmp).
  const char* partner = luaL_checkstring(L, 1);
  const char* kind = luaL_checkstring(L, 2);
  const auto count = static_cast<int>(luaL_optinteger(L, 3, 1));
  if (count < 1 || count > 100000) return luaL_error(L, "x12: bad control number count %d", count);
  Numbers& n = numbers(L);
  std::int64_t first = 0;
  if (n.source) {
    try {
      first = n.source(partner, kind, count);
    } catch (const std::exception& e) {
      // Raised as a Lua error by guarded<x12Control>, once this handler is left.
      throw std::runtime_error(std::string("x12 control numbers: ") + e.what());
    }
  } else {
    std::int64_t& next = n.local[std::string(partner) + "/" + kind];
    if (next == 0) next = 1;
    first = next;
    next += count;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(first));
  return 1;
}

// Through os.date, so that a fixed clock (route tests) applies here too.
int x12Now(lua_State* L) {
  const char* format = luaL_checkstring(L, 1);
  lua_getglobal(L, "os");
  lua_getfield(L, -1, "date");
  lua_pushfstring(L, "!%s", format);
  lua_call(L, 1, 1);
  return 1;
}

// The first character of table[key] as a string, or `otherwise` when it is absent or empty.
char firstChar(lua_State* L, int table, const char* key, char otherwise) {
  lua_getfield(L, table, key);
  std::size_t n = 0;
  const char* s = lua_tolstring(L, -1, &n);
  const char c = (s && n > 0) ? s[0] : otherwise;
  lua_pop(L, 1);
  return c;
}

// x12._isa(delimiters, sq, sid, rq, rid, date6, time4, version, control, ack, usage) -> list
int x12Isa(lua_State* L) {
  // Arguments are checked and the delimiters read before any C++ object exists: a failed check
  // (or a metamethod of the delimiters table) raises a Lua error, which skips destructors.
  luaL_checktype(L, 1, LUA_TTABLE);
  const char* args[7];
  for (int i = 0; i < 7; ++i) args[i] = luaL_checkstring(L, i + 2);
  const auto control = static_cast<std::int64_t>(luaL_checkinteger(L, 9));
  const bool ack = lua_toboolean(L, 10) != 0;
  const char* usage = luaL_checkstring(L, 11);
  const char repetition = firstChar(L, 1, "repetition", 0);
  const char component = firstChar(L, 1, "component", ':');
  int pushed = LUA_OK;
  {
    x12::Delimiters d;
    d.repetition = repetition;
    d.component = component;
    std::vector<std::string> elements = x12::isaElements(
        d, args[0], args[1], args[2], args[3], args[4], args[5], args[6], control, ack, usage);
    pushed = protectedCall(L, pushStringList, &elements, 1);
  }
  if (pushed != LUA_OK) return lua_error(L);  // the strings are gone: nothing is skipped
  return 1;
}

}  // namespace

void pushX12Document(lua_State* L, std::string_view raw) {
  x12::Document& doc = boxedDocument(L, raw);
  const int box = lua_gettop(L);
  if (!doc.usable()) {
    lua_pushfstring(
        L, "x12.parse: %s",
        doc.findings().empty() ? "not an X12 interchange" : doc.findings()[0].message.c_str());
    lua_error(L);
    return;
  }
  doc.validate(x12::SpecLibrary::builtin());
  pushDocument(L, doc);
  lua_remove(L, box);  // the tables hold copies: the document goes with the next collection
}

void openX12(lua_State* L, ControlNumberSource source) {
  void* mem = lua_newuserdatauv(L, sizeof(Numbers), 0);
  new (mem) Numbers{std::move(source), {}};
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, guarded<numbersGc>);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNumbersKey);

  static const luaL_Reg library[] = {
      {"parse", guarded<x12Parse>}, {"validate", guarded<x12Validate>},
      {"ack", guarded<x12Ack>},     {"_control", guarded<x12Control>},
      {"_now", guarded<x12Now>},    {"_isa", guarded<x12Isa>},
      {"_c", guarded<x12WrapInC>},  {nullptr, nullptr}};
  luaL_newlib(L, library);
  const int lib = lua_gettop(L);
  if (luaL_loadbufferx(L, kPrelude, std::char_traits<char>::length(kPrelude), "=x12", "t") !=
      LUA_OK) {
    lua_error(L);  // a broken prelude is a build defect: fail loudly
  }
  lua_pushvalue(L, lib);
  lua_call(L, 1, 4);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kDocMeta);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kSetMeta);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kLoopMeta);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kSegmentMeta);
  lua_setglobal(L, "x12");
}

}  // namespace sb::transforms
