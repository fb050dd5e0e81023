#include "transforms/lua/hl7_binding.h"

#include "transforms/lua/guarded.h"
#include "transforms/lua/state_extra.h"

#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <lua.hpp>

namespace sb::transforms {
namespace {

// Metatables live in the registry under light-userdata keys: looking them up by name would
// hash and compare a string on every node access, which is most of the cost of a mapping.
const char kMessageMeta = 0;
const char kNodeMeta = 0;

// The metatable remembered for `key` in the state's extra space, nullptr when there is none.
const void* knownMeta(lua_State* L, const char* key) {
  const StateExtra* extra = stateExtra(L);
  if (extra == nullptr) return nullptr;
  return key == &kMessageMeta ? extra->hl7MessageMeta
                              : (key == &kNodeMeta ? extra->hl7NodeMeta : nullptr);
}

void* testUdata(lua_State* L, int index, const char* key) {
  void* p = lua_touserdata(L, index);
  if (!p || lua_type(L, index) != LUA_TUSERDATA || !lua_getmetatable(L, index)) return nullptr;
  bool same = false;
  if (const void* meta = knownMeta(L, key)) {
    same = lua_topointer(L, -1) == meta;  // metatables live as long as the state
    lua_pop(L, 1);
  } else {
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  return same ? p : nullptr;
}

void* checkUdata(lua_State* L, int index, const char* key, const char* what) {
  void* p = testUdata(L, index, key);
  if (!p) {
    luaL_typeerror(L, index, what);
  }
  return p;
}

void setMeta(lua_State* L, const char* key) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  lua_setmetatable(L, -2);
}

struct MessageBox {
  std::shared_ptr<hl7::Message> message;
};

// A position in a message: segment (field == 0), field (component == 0, repetition 0 meaning
// "the first, not named"), repetition, component or subcomponent. Nodes address segments by name
// and occurrence, like paths do, so they stay meaningful after segments are added or removed.
// The message userdata is kept alive through the node's user value.
struct Node {
  hl7::Message* message;
  char segment[8];
  int occurrence;
  int field;
  int repetition;
  int component;
  int subcomponent;
};

bool isSegmentName(const char* s, std::size_t len) {
  if (len != 3) return false;
  for (std::size_t i = 0; i < 3; ++i) {
    const char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

MessageBox* checkBox(lua_State* L, int index) {
  return static_cast<MessageBox*>(checkUdata(L, index, &kMessageMeta, "hl7 message"));
}
hl7::Message& checkMessage(lua_State* L, int index) {
  return *checkBox(L, index)->message;
}
Node* checkNode(lua_State* L, int index) {
  return static_cast<Node*>(checkUdata(L, index, &kNodeMeta, "hl7 node"));
}

hl7::Path nodePath(const Node& n) {
  hl7::Path p;
  p.segment = n.segment;
  p.segmentOccurrence = n.occurrence;
  p.field = n.field;
  p.repetition = n.repetition > 0 ? n.repetition : 1;
  p.component = n.component;
  p.subcomponent = n.subcomponent;
  return p;
}

// Pushes a node; `owner` is the stack index of the message userdata or of a node of it.
Node* pushNode(lua_State* L, int owner, const Node& value) {
  owner = lua_absindex(L, owner);
  auto* n = static_cast<Node*>(lua_newuserdatauv(L, sizeof(Node), 1));
  *n = value;
  if (testUdata(L, owner, &kNodeMeta)) {
    lua_getiuservalue(L, owner, 1);
  } else {
    lua_pushvalue(L, owner);
  }
  lua_setiuservalue(L, -2, 1);
  setMeta(L, &kNodeMeta);
  return n;
}

void pushSegmentNode(lua_State* L, int msgIndex, hl7::Message& m, std::string_view name,
                     int occurrence) {
  Node n{};
  n.message = &m;
  const std::size_t len = std::min(name.size(), sizeof n.segment - 1);
  std::memcpy(n.segment, name.data(), len);
  n.segment[len] = '\0';
  n.occurrence = occurrence;
  pushNode(L, msgIndex, n);
}

// Segment at 0-based index as (name, occurrence).
int occurrenceOf(const hl7::Message& m, std::size_t index) {
  const std::string_view name = m.segment(index).name;
  int occurrence = 0;
  for (std::size_t i = 0; i <= index; ++i) occurrence += m.segment(i).name == name ? 1 : 0;
  return occurrence;
}

// Parses a path argument or raises "bad HL7 path".
hl7::Path checkPath(lua_State* L, int index) {
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, index, &len);
  std::string why;
  auto p = hl7::Path::parse(std::string_view(text, len), &why);
  if (!p) {
    luaL_where(L, 1);
    lua_pushfstring(L, "bad HL7 path '%s': %s", text, why.c_str());
    lua_concat(L, 2);
    std::string().swap(why);  // lua_error does not return: free the text first
    lua_error(L);
  }
  return std::move(*p);
}

// Text of a value to write: strings and numbers as Lua prints them, nil as "".
std::string_view checkText(lua_State* L, int index) {
  if (lua_isnoneornil(L, index)) return {};
  if (lua_type(L, index) != LUA_TSTRING && lua_type(L, index) != LUA_TNUMBER) {
    luaL_error(L, "HL7 values must be strings or numbers (got %s)", luaL_typename(L, index));
  }
  std::size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  return {s, len};
}

void setValue(lua_State* L, hl7::Message& m, const hl7::Path& p, std::string_view value) {
  if (p.field <= 0) luaL_error(L, "cannot set a whole segment; use msg:add and msg:remove");
  if (p.field <= 2 && (p.segment == "MSH" || p.segment == "FHS" || p.segment == "BHS")) {
    luaL_error(L, "%s-1 and %s-2 (the delimiters) cannot be set", p.segment.c_str(),
               p.segment.c_str());
  }
  m.set(p, value);
}

void pushOptional(lua_State* L, const std::optional<std::string>& v) {
  if (v) {
    lua_pushlstring(L, v->data(), v->size());
  } else {
    lua_pushnil(L);
  }
}

// ---- message methods ----

int msgGet(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  pushOptional(L, m.get(checkPath(L, 2)));
  return 1;
}

// msg:values(path, sub, ...): the decoded text at `path .. sub` for each `sub` ("" for the path
// itself, ".c" or ".c.s" below a field or repetition, ".s" below a component), nil when absent
// or empty. The field repetition is located once for all of them: one C call instead of one
// msg:get per component, and no path strings built in Lua.
struct PathPod {
  char segment[4];
  int occurrence;
  int field;
  int repetition;
  int component;
  int subcomponent;
};

// ".c" or ".c.s" (1-based, at most 1000000, as Path::parse accepts); false when malformed.
bool parseSubPath(std::string_view text, int* component, int* subcomponent) {
  int* out[2] = {component, subcomponent};
  *component = 0;
  *subcomponent = 0;
  std::size_t i = 0;
  for (int level = 0; level < 2 && i < text.size(); ++level) {
    if (text[i] != '.') return false;
    ++i;
    const std::size_t begin = i;
    long value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > 1000000) return false;
      ++i;
    }
    if (i == begin || value < 1) return false;
    *out[level] = static_cast<int>(value);
  }
  return i == text.size();
}

std::string_view pieceOf(std::string_view s, char delimiter, int n) {
  std::size_t start = 0;
  for (int i = 1; i < n; ++i) {
    const std::size_t next = s.find(delimiter, start);
    if (next == std::string_view::npos) return {};
    start = next + 1;
  }
  const std::size_t end = s.find(delimiter, start);
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Pushes the decoded form of `encoded`, or nil when it is empty.
void pushDecoded(lua_State* L, const hl7::Delimiters& d, std::string_view encoded, bool verbatim) {
  if (!verbatim && encoded.find(d.escape) != std::string_view::npos) {
    // Kept outside the stack frame: lua_pushlstring may raise, and must not skip a destructor.
    thread_local std::string decoded;
    decoded = hl7::decodeEscapes(encoded, d);
    encoded = decoded;
  }
  if (encoded.empty()) {
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, encoded.data(), encoded.size());
  }
}

int msgValues(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, 2, &len);
  const int subs = lua_gettop(L) - 2;
  PathPod base{};
  bool ok = false;
  char why[96] = "";
  {
    std::string error;
    const auto p = hl7::Path::parse(std::string_view(text, len), &error);
    ok = p.has_value();
    if (ok) {
      std::memcpy(base.segment, p->segment.data(), 3);
      base.occurrence = p->segmentOccurrence;
      base.field = p->field;
      base.repetition = p->repetition;
      base.component = p->component;
      base.subcomponent = p->subcomponent;
    } else {
      std::snprintf(why, sizeof why, "%s", error.c_str());
    }
  }
  if (!ok) {
    luaL_where(L, 1);
    lua_pushfstring(L, "bad HL7 path '%s': %s", text, why);
    lua_concat(L, 2);
    return lua_error(L);
  }
  if (base.field <= 0) return luaL_error(L, "msg:values needs a field path (\"PID-3[2]\")");
  if (!lua_checkstack(L, subs + 2)) return luaL_error(L, "too many paths");
  const std::string_view segment(base.segment, 3);
  // MSH-1 and MSH-2 (FHS, BHS) are read verbatim, as msg:get does.
  const bool verbatim =
      base.field <= 2 && (segment == "MSH" || segment == "FHS" || segment == "BHS");
  std::string_view repetition;
  {
    hl7::Path p;
    p.segment.assign(segment);
    p.segmentOccurrence = base.occurrence;
    p.field = base.field;
    p.repetition = base.repetition;
    if (verbatim) {
      p.component = base.component;
      p.subcomponent = base.subcomponent;
    }
    repetition = m.getRaw(p);
  }
  const hl7::Delimiters& d = m.delimiters();
  const int count = subs > 0 ? subs : 1;
  for (int k = 0; k < count; ++k) {
    int component = base.component;
    int subcomponent = base.subcomponent;
    if (subs > 0) {
      std::size_t subLen = 0;
      // May raise: only trivially destructible locals are alive here.
      const char* sub = luaL_checklstring(L, 3 + k, &subLen);
      bool good = true;
      if (subLen > 0) {
        int first = 0;
        int second = 0;
        good = parseSubPath(std::string_view(sub, subLen), &first, &second);
        if (good && base.component == 0) {
          component = first;
          subcomponent = second;
        } else if (good && base.subcomponent == 0 && second == 0) {
          subcomponent = first;  // below a component path: ".s"
        } else {
          good = false;
        }
      }
      if (!good) {
        luaL_where(L, 1);
        lua_pushfstring(L,
                        "bad HL7 path '%s%s': expected \".c\" or \".c.s\" after a field, "
                        "\".s\" after a component",
                        text, sub);
        lua_concat(L, 2);
        return lua_error(L);
      }
    }
    std::string_view v = repetition;
    if (verbatim) {
      // Only the whole field exists: its components read empty.
      if (component > 1 || subcomponent > 1) v = {};
    } else if (component > 0) {
      v = pieceOf(v, d.component, component);
      if (subcomponent > 0) v = pieceOf(v, d.subcomponent, subcomponent);
    }
    pushDecoded(L, d, v, verbatim);
  }
  return count;
}

int msgRaw(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  const hl7::Path p = checkPath(L, 2);
  if (!m.findSegment(p.segment, p.segmentOccurrence)) return 0;
  const std::string_view raw = m.getRaw(p);
  lua_pushlstring(L, raw.data(), raw.size());
  return 1;
}

int msgSet(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  setValue(L, m, checkPath(L, 2), checkText(L, 3));
  lua_settop(L, 1);
  return 1;
}

int msgRepCount(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  lua_pushinteger(L, m.repetitionCount(checkPath(L, 2)));
  return 1;
}

int msgCount(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  std::size_t len = 0;
  const char* name = luaL_checklstring(L, 2, &len);
  const std::string_view want(name, len);
  lua_Integer count = 0;
  for (std::size_t i = 0; i < m.segmentCount(); ++i) count += m.segment(i).name == want ? 1 : 0;
  lua_pushinteger(L, count);
  return 1;
}

int segmentsNext(lua_State* L) {
  hl7::Message& m = checkMessage(L, lua_upvalueindex(1));
  const lua_Integer occurrence = lua_tointeger(L, lua_upvalueindex(3)) + 1;
  std::size_t len = 0;
  const char* name = lua_tolstring(L, lua_upvalueindex(2), &len);
  if (!m.findSegment(std::string_view(name, len), static_cast<int>(occurrence))) return 0;
  lua_pushinteger(L, occurrence);
  lua_replace(L, lua_upvalueindex(3));
  pushSegmentNode(L, lua_upvalueindex(1), m, std::string_view(name, len),
                  static_cast<int>(occurrence));
  return 1;
}

int msgSegments(lua_State* L) {
  checkMessage(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, guarded<segmentsNext>, 3);
  return 1;
}

int eachNext(lua_State* L) {
  hl7::Message& m = checkMessage(L, lua_upvalueindex(1));
  const lua_Integer index = lua_tointeger(L, lua_upvalueindex(2));
  if (index < 0 || static_cast<std::size_t>(index) >= m.segmentCount()) return 0;
  lua_pushinteger(L, index + 1);
  lua_replace(L, lua_upvalueindex(2));
  const auto i = static_cast<std::size_t>(index);
  pushSegmentNode(L, lua_upvalueindex(1), m, m.segment(i).name, occurrenceOf(m, i));
  lua_pushinteger(L, index + 1);
  return 2;
}

int msgEach(lua_State* L) {
  checkMessage(L, 1);
  lua_settop(L, 1);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, guarded<eachNext>, 2);
  return 1;
}

int msgSegment(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  const lua_Integer index = luaL_checkinteger(L, 2);
  if (index < 1 || static_cast<std::size_t>(index) > m.segmentCount()) return 0;
  const auto i = static_cast<std::size_t>(index - 1);
  pushSegmentNode(L, 1, m, m.segment(i).name, occurrenceOf(m, i));
  return 1;
}

int msgAdd(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, 2, &len);
  const std::string_view segment(text, len);
  if (segment.size() < 3 || segment.find_first_of("\r\n") != std::string_view::npos) {
    return luaL_error(L, "msg:add expects one encoded segment (\"ZPI|1|...\")");
  }
  if (lua_isnoneornil(L, 3)) {
    m.insertSegment(segment);
  } else {
    const lua_Integer before = luaL_checkinteger(L, 3);
    if (before < 1 || static_cast<std::size_t>(before) > m.segmentCount() + 1) {
      return luaL_error(L, "segment index %d out of range 1..%d", static_cast<int>(before),
                        static_cast<int>(m.segmentCount() + 1));
    }
    m.insertSegment(segment, static_cast<std::size_t>(before - 1));
  }
  lua_settop(L, 1);
  return 1;
}

int msgRemove(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  const lua_Integer index = luaL_checkinteger(L, 2);
  if (index < 1 || static_cast<std::size_t>(index) > m.segmentCount()) {
    return luaL_error(L, "segment index %d out of range 1..%d", static_cast<int>(index),
                      static_cast<int>(m.segmentCount()));
  }
  if (index == 1) return luaL_error(L, "the first segment (MSH) cannot be removed");
  m.removeSegment(static_cast<std::size_t>(index - 1));
  lua_settop(L, 1);
  return 1;
}

int msgEncode(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  if (!m.modified()) {
    const std::string_view raw = m.raw();
    lua_pushlstring(L, raw.data(), raw.size());
    return 1;
  }
  const std::string text = m.serialize();
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int msgHeader(lua_State* L) {
  const hl7::Header h = checkMessage(L, 1).header();
  lua_createtable(L, 0, 14);
  const std::pair<const char*, const std::string*> fields[] = {
      {"sendingApplication", &h.sendingApplication},
      {"sendingFacility", &h.sendingFacility},
      {"receivingApplication", &h.receivingApplication},
      {"receivingFacility", &h.receivingFacility},
      {"timestamp", &h.timestamp},
      {"messageType", &h.messageType},
      {"triggerEvent", &h.triggerEvent},
      {"messageStructure", &h.messageStructure},
      {"controlId", &h.controlId},
      {"processingId", &h.processingId},
      {"version", &h.version},
      {"acceptAckType", &h.acceptAckType},
      {"applicationAckType", &h.applicationAckType},
      {"patientId", &h.patientId},
  };
  for (const auto& [key, value] : fields) {
    lua_pushlstring(L, value->data(), value->size());
    lua_setfield(L, -2, key);
  }
  return 1;
}

int msgJson(lua_State* L) {
  const std::string text = checkMessage(L, 1).toJson();
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int msgCopy(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  // A copy owns its bytes, whatever the original points into.
  auto copy = hl7::Message::parseOwned(m.serialize());
  if (!copy.ok()) return luaL_error(L, "cannot copy the message");
  pushHl7Message(L, std::make_shared<hl7::Message>(std::move(*copy.message)));
  return 1;
}

int msgValidate(lua_State* L) {
  const auto findings = hl7::validate(checkMessage(L, 1));
  lua_createtable(L, static_cast<int>(findings.size()), 0);
  lua_Integer i = 0;
  for (const auto& f : findings) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, std::string(errorInfo(f.code).id).c_str());
    lua_setfield(L, -2, "code");
    lua_pushstring(L, f.severity == hl7::Severity::kError ? "error" : "warning");
    lua_setfield(L, -2, "severity");
    lua_pushstring(L, f.location.toString().c_str());
    lua_setfield(L, -2, "location");
    lua_pushlstring(L, f.text.data(), f.text.size());
    lua_setfield(L, -2, "text");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// Every method call (msg:get, msg:values) comes through here, so it is kept short: only the
// message metatable holds this function and scripts cannot reach that metatable
// (__metatable), so argument 1 is always a message and needs no check.
int msgIndex(lua_State* L) {
  std::size_t len = 0;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char* key = lua_tolstring(L, 2, &len);
    if (isSegmentName(key, len)) {
      hl7::Message& m = *static_cast<MessageBox*>(lua_touserdata(L, 1))->message;
      if (!m.findSegment(std::string_view(key, len), 1)) return 0;
      pushSegmentNode(L, 1, m, std::string_view(key, len), 1);
      return 1;
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

int msgLen(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(checkMessage(L, 1).segmentCount()));
  return 1;
}

int msgGc(lua_State* L) {
  checkBox(L, 1)->~MessageBox();
  return 0;
}

// ---- node methods ----

int nodeValue(lua_State* L) {
  const Node* n = checkNode(L, 1);
  pushOptional(L, n->message->get(nodePath(*n)));
  return 1;
}

int nodeRaw(lua_State* L) {
  const Node* n = checkNode(L, 1);
  const hl7::Path p = nodePath(*n);
  if (!n->message->findSegment(p.segment, p.segmentOccurrence)) return 0;
  const std::string_view raw = n->message->getRaw(p);
  lua_pushlstring(L, raw.data(), raw.size());
  return 1;
}

int nodePathText(lua_State* L) {
  const Node* n = checkNode(L, 1);
  hl7::Path p = nodePath(*n);
  std::string text = p.toString();
  // Path::toString leaves out [1]; say it when the repetition was chosen explicitly.
  if (n->repetition == 1 && n->field > 0) {
    const std::string fieldPart = fmt::format("-{}", n->field);
    const std::size_t at = text.find(fieldPart);
    text.insert(at + fieldPart.size(), "[1]");
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int nodeRep(lua_State* L) {
  const Node* n = checkNode(L, 1);
  const lua_Integer rep = luaL_checkinteger(L, 2);
  if (n->field == 0 || n->component != 0 || n->repetition != 0) {
    return luaL_error(L, "rep() applies to a field node (msg.PID[3]:rep(2))");
  }
  if (rep < 1 || rep > 100000)
    return luaL_error(L, "repetition %d out of range", static_cast<int>(rep));
  Node child = *n;
  child.repetition = static_cast<int>(rep);
  pushNode(L, 1, child);
  return 1;
}

int nodeRepCount(lua_State* L) {
  const Node* n = checkNode(L, 1);
  if (n->field == 0) return luaL_error(L, "repCount() applies to a field node");
  lua_pushinteger(L, n->message->repetitionCount(nodePath(*n)));
  return 1;
}

int nodeSet(lua_State* L) {
  const Node* n = checkNode(L, 1);
  setValue(L, *n->message, nodePath(*n), checkText(L, 2));
  lua_settop(L, 1);
  return 1;
}

// The node one level down at `index` (field of a segment, component of a field or repetition,
// subcomponent of a component).
bool childOf(const Node& n, lua_Integer index, Node* child) {
  if (index < 1 || index > 100000) return false;
  *child = n;
  const int i = static_cast<int>(index);
  if (n.field == 0) {
    child->field = i;
  } else if (n.component == 0) {
    child->component = i;
  } else if (n.subcomponent == 0) {
    child->subcomponent = i;
  } else {
    return false;
  }
  return true;
}

int nodeIndex(lua_State* L) {
  const Node* n = checkNode(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    Node child;
    if (!childOf(*n, luaL_checkinteger(L, 2), &child)) {
      return luaL_error(
          L, n->subcomponent ? "a subcomponent has no parts" : "HL7 index out of range (1-based)");
    }
    pushNode(L, 1, child);
    return 1;
  }
  if (n->field == 0 && lua_type(L, 2) == LUA_TSTRING &&
      std::strcmp(lua_tostring(L, 2), "name") == 0) {
    lua_pushstring(L, n->segment);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

int nodeNewIndex(lua_State* L) {
  const Node* n = checkNode(L, 1);
  Node child;
  if (lua_type(L, 2) != LUA_TNUMBER || !childOf(*n, luaL_checkinteger(L, 2), &child)) {
    return luaL_error(L, "HL7 nodes are assigned by number: seg[5] = \"x\", field[1] = \"x\"");
  }
  setValue(L, *n->message, nodePath(child), checkText(L, 3));
  return 0;
}

int countParts(std::string_view raw, char delimiter) {
  if (raw.empty()) return 0;
  int count = 1;
  for (char c : raw) count += c == delimiter ? 1 : 0;
  return count;
}

int nodeLen(lua_State* L) {
  const Node* n = checkNode(L, 1);
  hl7::Message& m = *n->message;
  const hl7::Path p = nodePath(*n);
  const auto index = m.findSegment(p.segment, p.segmentOccurrence);
  if (!index) {
    lua_pushinteger(L, 0);
    return 1;
  }
  const hl7::Delimiters& d = m.delimiters();
  int count = 0;
  if (n->field == 0) {
    count = m.fieldCount(*index);
  } else if (n->subcomponent == 0) {
    count = countParts(m.getRaw(p), n->component == 0 ? d.component : d.subcomponent);
  }
  lua_pushinteger(L, count);
  return 1;
}

int nodeToString(lua_State* L) {
  const Node* n = checkNode(L, 1);
  const auto v = n->message->get(nodePath(*n));
  if (v) {
    lua_pushlstring(L, v->data(), v->size());
  } else {
    lua_pushliteral(L, "");
  }
  return 1;
}

int nodeConcat(lua_State* L) {
  lua_settop(L, 2);
  for (int i = 1; i <= 2; ++i) {
    if (testUdata(L, i, &kNodeMeta)) {
      const Node* n = static_cast<Node*>(lua_touserdata(L, i));
      const auto v = n->message->get(nodePath(*n));
      lua_pushlstring(L, v ? v->data() : "", v ? v->size() : 0);
    } else {
      luaL_tolstring(L, i, nullptr);
    }
  }
  lua_concat(L, 2);
  return 1;
}

// ---- hl7 library ----

int pushParsed(lua_State* L, std::string text) {
  auto result = hl7::Message::parseOwned(std::move(text));
  if (!result.ok()) {
    lua_pushnil(L);
    const auto& f = *result.error;
    lua_pushfstring(L, "%s: %s", std::string(errorInfo(f.code).id).c_str(), f.text.c_str());
    return 2;
  }
  pushHl7Message(L, std::make_shared<hl7::Message>(std::move(*result.message)));
  return 1;
}

int hl7Parse(lua_State* L) {
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, 1, &len);
  return pushParsed(L, std::string(text, len));
}

int hl7New(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const lua_Integer n = luaL_len(L, 1);
  if (n < 1) return luaL_error(L, "hl7.new expects a list of segments, MSH first");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; ++i) {
    if (lua_rawgeti(L, 1, i) != LUA_TSTRING) {
      return luaL_error(L, "hl7.new: segment %d is not a string", static_cast<int>(i));
    }
    if (i > 1) luaL_addchar(&b, '\r');
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\r');
  luaL_pushresult(&b);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  return pushParsed(L, std::string(text, len));
}

int hl7Ack(lua_State* L) {
  hl7::Message& m = checkMessage(L, 1);
  const char* code = luaL_optstring(L, 2, "AA");
  hl7::AckCode ack;
  static const std::pair<const char*, hl7::AckCode> codes[] = {
      {"AA", hl7::AckCode::kAA}, {"AE", hl7::AckCode::kAE}, {"AR", hl7::AckCode::kAR},
      {"CA", hl7::AckCode::kCA}, {"CE", hl7::AckCode::kCE}, {"CR", hl7::AckCode::kCR}};
  bool found = false;
  for (const auto& [name, value] : codes) {
    if (std::strcmp(code, name) == 0) {
      ack = value;
      found = true;
    }
  }
  if (!found) return luaL_error(L, "unknown ACK code '%s' (AA, AE, AR, CA, CE, CR)", code);
  hl7::AckOptions options;
  options.textMessage = luaL_optstring(L, 3, "");
  if (lua_type(L, 4) == LUA_TTABLE) {
    lua_getfield(L, 4, "controlId");
    if (lua_isstring(L, -1)) options.controlId = lua_tostring(L, -1);
    lua_getfield(L, 4, "timestamp");
    if (lua_isstring(L, -1)) options.timestamp = lua_tostring(L, -1);
    lua_pop(L, 2);
  }
  const std::string text = hl7::buildAck(m, ack, {}, options);
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

void setFunctions(lua_State* L, const luaL_Reg* fns) {
  for (; fns->name; ++fns) {
    lua_pushcfunction(L, fns->func);
    lua_setfield(L, -2, fns->name);
  }
}

}  // namespace

void pushHl7Message(lua_State* L, std::shared_ptr<hl7::Message> message) {
  auto* box = static_cast<MessageBox*>(lua_newuserdatauv(L, sizeof(MessageBox), 0));
  new (box) MessageBox{std::move(message)};
  setMeta(L, &kMessageMeta);
}

std::shared_ptr<hl7::Message> toHl7Message(lua_State* L, int index) {
  auto* box = static_cast<MessageBox*>(testUdata(L, index, &kMessageMeta));
  return box ? box->message : nullptr;
}

void openHl7(lua_State* L) {
  static const luaL_Reg messageMethods[] = {{"get", guarded<msgGet>},
                                            {"raw", guarded<msgRaw>},
                                            {"set", guarded<msgSet>},
                                            {"repCount", guarded<msgRepCount>},
                                            {"count", guarded<msgCount>},
                                            {"segments", guarded<msgSegments>},
                                            {"each", guarded<msgEach>},
                                            {"segment", guarded<msgSegment>},
                                            {"add", guarded<msgAdd>},
                                            {"remove", guarded<msgRemove>},
                                            {"encode", guarded<msgEncode>},
                                            {"header", guarded<msgHeader>},
                                            {"json", guarded<msgJson>},
                                            {"copy", guarded<msgCopy>},
                                            {"validate", guarded<msgValidate>},
                                            {"values", guarded<msgValues>},
                                            {nullptr, nullptr}};
  static const luaL_Reg nodeMethods[] = {{"value", guarded<nodeValue>},
                                         {"raw", guarded<nodeRaw>},
                                         {"path", guarded<nodePathText>},
                                         {"rep", guarded<nodeRep>},
                                         {"repCount", guarded<nodeRepCount>},
                                         {"set", guarded<nodeSet>},
                                         {nullptr, nullptr}};

  StateExtra* extra = stateExtra(L);
  lua_newtable(L);
  if (extra) extra->hl7MessageMeta = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kMessageMeta);
  lua_newtable(L);
  setFunctions(L, messageMethods);
  lua_pushcclosure(L, guarded<msgIndex>, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, guarded<msgLen>);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, guarded<msgEncode>);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, guarded<msgGc>);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "hl7.message");
  lua_setfield(L, -2, "__name");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  lua_newtable(L);
  if (extra) extra->hl7NodeMeta = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNodeMeta);
  lua_pushliteral(L, "hl7.node");
  lua_setfield(L, -2, "__name");
  lua_newtable(L);
  setFunctions(L, nodeMethods);
  lua_pushcclosure(L, guarded<nodeIndex>, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, guarded<nodeNewIndex>);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, guarded<nodeLen>);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, guarded<nodeToString>);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, guarded<nodeConcat>);
  lua_setfield(L, -2, "__concat");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  static const luaL_Reg library[] = {{"parse", guarded<hl7Parse>},
                                     {"new", guarded<hl7New>},
                                     {"ack", guarded<hl7Ack>},
                                     {nullptr, nullptr}};
  lua_newtable(L);
  setFunctions(L, library);
  lua_setglobal(L, "hl7");
}

}  // namespace sb::transforms
