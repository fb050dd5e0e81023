#include "transforms/lua/json_binding.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/dtoa.h>
#include <rapidjson/internal/itoa.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <lua.hpp>

#include "transforms/lua/guarded.h"

namespace sb::transforms {
namespace {

constexpr int kMaxDepth = 1000;

// Registry keys.
const char kNullKey = 0;
const char kArrayMetaKey = 0;

void pushNull(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey);
}

bool isNull(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TUSERDATA) return false;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey);
  const bool same = lua_rawequal(L, index, -1);
  lua_pop(L, 1);
  return same;
}

bool hasArrayMeta(lua_State* L, int index) {
  if (!lua_getmetatable(L, index)) return false;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);
  const bool same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

// Builds Lua values straight from the SAX events: containers live on the Lua stack, with one
// counter per open array.
struct LuaHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LuaHandler> {
  lua_State* L;
  std::vector<lua_Integer> open;  // next index for arrays, -1 for objects
  std::string error;

  explicit LuaHandler(lua_State* state) : L(state) {}

  bool add() {
    if (open.empty()) return true;  // the root value
    if (open.back() < 0) {
      lua_rawset(L, -3);
    } else {
      lua_rawseti(L, -2, ++open.back());
    }
    return true;
  }
  bool room() {
    if (open.size() >= static_cast<std::size_t>(kMaxDepth)) {
      error = fmt::format("nesting deeper than {} levels", kMaxDepth);
      return false;
    }
    if (!lua_checkstack(L, 4)) {
      error = "out of Lua stack";
      return false;
    }
    return true;
  }
  bool Null() {
    pushNull(L);
    return add();
  }
  bool Bool(bool b) {
    lua_pushboolean(L, b);
    return add();
  }
  bool Int(int i) {
    lua_pushinteger(L, i);
    return add();
  }
  bool Uint(unsigned u) {
    lua_pushinteger(L, static_cast<lua_Integer>(u));
    return add();
  }
  bool Int64(std::int64_t i) {
    lua_pushinteger(L, static_cast<lua_Integer>(i));
    return add();
  }
  bool Uint64(std::uint64_t u) {
    // Beyond the integer range a Lua float is the closest value.
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      lua_pushnumber(L, static_cast<lua_Number>(u));
    } else {
      lua_pushinteger(L, static_cast<lua_Integer>(u));
    }
    return add();
  }
  bool Double(double d) {
    lua_pushnumber(L, d);
    return add();
  }
  bool String(const char* s, rapidjson::SizeType len, bool) {
    lua_pushlstring(L, s, len);
    return add();
  }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    lua_pushlstring(L, s, len);
    return true;
  }
  bool StartObject() {
    if (!room()) return false;
    lua_newtable(L);
    open.push_back(-1);
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    open.pop_back();
    return add();
  }
  bool StartArray() {
    if (!room()) return false;
    lua_newtable(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);
    lua_setmetatable(L, -2);
    open.push_back(0);
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    open.pop_back();
    return add();
  }
};

// Length of the well-formed UTF-8 sequence starting at s[0] (a byte >= 0x80), 0 when it is not
// one: no overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8SequenceLength(const unsigned char* s, std::size_t left) {
  const unsigned c = s[0];
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;   // overlong
    if (c == 0xed && s[1] >= 0xa0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) {
      return 0;
    }
    if (c == 0xf0 && s[1] < 0x90) return 0;   // overlong
    if (c == 0xf4 && s[1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Well-formed UTF-8 (for the indented writer, whose strings are not checked while escaping).
bool validUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8SequenceLength(s + i, text.size() - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

#ifdef __SSE2__
// Bytes that need attention in a JSON string: control characters, '"', '\\', and (signed
// compare: they are negative) every byte >= 0x80, whose UTF-8 is checked.
inline __m128i specialBytes(__m128i v) {
  return _mm_or_si128(
      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
}

// True when 16 bytes from `s` stay inside its memory page, so reading them cannot fault even if
// the string is shorter.
inline bool withinPage(const unsigned char* s) {
  return (reinterpret_cast<std::uintptr_t>(s) & 4095u) <= 4096u - 16u;
}

// Reads 16 bytes from `s`, possibly past the end of a shorter string (callers check
// withinPage() and ignore the bytes beyond it). The over-read is deliberate, so AddressSanitizer
// and ThreadSanitizer are told not to instrument it.
__attribute__((no_sanitize_address, no_sanitize_thread)) inline __m128i loadBlockMayOverread(
    const unsigned char* s) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
}
#endif

// Compact JSON straight into a std::string, for the encoder's hot path (every transform output
// goes through it). It writes exactly what rapidjson::Writer writes — the same escapes (\b \t
// \n \f \r; other control characters as \u00 and two upper-case hex digits; \" and \\),
// RapidJSON's own shortest double form — checks UTF-8 in the same pass as escaping, and hands its
// buffer over instead of copying it. One flag replaces RapidJSON's level stack: a comma is due
// before a value or key whenever something was written at the same level since the last opening
// bracket.
class CompactJsonWriter {
 public:
  static constexpr bool kChecksUtf8 = true;

  CompactJsonWriter() { out_.resize(960); }

  bool Null() { return raw("null", 4); }
  bool Bool(bool b) { return b ? raw("true", 4) : raw("false", 5); }
  bool Int64(std::int64_t i) {
    char* p = room(22);
    if (comma_) *p++ = ',';
    used_ = static_cast<std::size_t>(rapidjson::internal::i64toa(i, p) - out_.data());
    comma_ = true;
    return true;
  }
  bool Double(double d) {
    char* p = room(26);
    if (comma_) *p++ = ',';
    used_ = static_cast<std::size_t>(rapidjson::internal::dtoa(d, p) - out_.data());
    comma_ = true;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType len) { return quoted(s, len, false); }
  bool Key(const char* s, rapidjson::SizeType len) { return quoted(s, len, true); }
  bool StartObject() { return open('{'); }
  bool EndObject() { return close('}'); }
  bool StartArray() { return open('['); }
  bool EndArray() { return close(']'); }

  std::string take() {
    out_.resize(used_);
    return std::move(out_);
  }

 private:
  // Where the next `need` bytes go; the buffer is sized ahead and trimmed by take().
  char* room(std::size_t need) {
    if (used_ + need > out_.size()) out_.resize(std::max(out_.size() * 2, used_ + need));
    return out_.data() + used_;
  }
  bool raw(const char* text, std::size_t len) {
    char* p = room(len + 1);
    if (comma_) *p++ = ',';
    std::memcpy(p, text, len);
    used_ = static_cast<std::size_t>(p + len - out_.data());
    comma_ = true;
    return true;
  }
  bool open(char bracket) {
    char* p = room(2);
    if (comma_) *p++ = ',';
    *p++ = bracket;
    used_ = static_cast<std::size_t>(p - out_.data());
    comma_ = false;
    return true;
  }
  bool close(char bracket) {
    *room(1) = bracket;
    ++used_;
    comma_ = true;
    return true;
  }

  // What each byte needs: 0 copy, 1 a two-character escape (shortEscape()), 2 the six-character
  // \u00 form, 3 the start (or a stray part) of a multi-byte UTF-8 sequence to check.
  static constexpr std::array<std::uint8_t, 256> kByteClass = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = 2;
    for (int c : {'\b', '\t', '\n', '\f', '\r', '"', '\\'}) t[c] = 1;
    for (int c = 0x80; c < 0x100; ++c) t[c] = 3;
    return t;
  }();

  static char shortEscape(unsigned c) {
    switch (c) {
      case '\b':
        return 'b';
      case '\t':
        return 't';
      case '\n':
        return 'n';
      case '\f':
        return 'f';
      case '\r':
        return 'r';
      default:
        return static_cast<char>(c);  // '"' and '\\' stand for themselves
    }
  }

  bool quoted(const char* text, std::size_t len, bool key) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const auto* s = reinterpret_cast<const unsigned char*>(text);
    // Worst case: every byte a six-character \u00 escape, plus comma, quotes and the key's colon;
    // at least room for the 16-byte stores below.
    char* const begin = room(std::max<std::size_t>(len * 6, 16) + 4);
    char* p = begin;
    if (comma_) *p++ = ',';
    *p++ = '"';
    std::size_t i = 0;
#ifdef __SSE2__
    // Most keys and values are short and plain: one block compare settles them.
    if (len < 16 && withinPage(s)) {
      const __m128i v = loadBlockMayOverread(s);
      const unsigned inString = (1u << len) - 1;
      if ((static_cast<unsigned>(_mm_movemask_epi8(specialBytes(v))) & inString) == 0) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
        p += len;
        i = len;
      }
    }
#endif
    while (i < len) {
#ifdef __SSE2__
      // Sixteen bytes at a time while none needs attention.
      while (i + 16 <= len) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
        const int mask = _mm_movemask_epi8(specialBytes(v));
        if (mask != 0) {
          const auto plain = static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
          i += plain;
          p += plain;
          break;
        }
        i += 16;
        p += 16;
      }
      if (i >= len) break;
#endif
      const unsigned c = s[i];
      switch (kByteClass[c]) {
        case 0:
          *p++ = static_cast<char>(c);
          ++i;
          break;
        case 1:
          *p++ = '\\';
          *p++ = shortEscape(c);
          ++i;
          break;
        case 2:
          std::memcpy(p, "\\u00", 4);
          p[4] = kHex[c >> 4];
          p[5] = kHex[c & 15];
          p += 6;
          ++i;
          break;
        default: {
          const std::size_t n = utf8SequenceLength(s + i, len - i);
          if (n == 0) return false;
          std::memcpy(p, s + i, n);
          p += n;
          i += n;
        }
      }
    }
    *p++ = '"';
    if (key) *p++ = ':';
    used_ += static_cast<std::size_t>(p - begin);
    comma_ = !key;
    return true;
  }

  std::string out_;  // sized ahead; only the first used_ bytes are output
  std::size_t used_ = 0;
  bool comma_ = false;
};

template <typename Writer>
constexpr bool checksUtf8() {
  if constexpr (requires { Writer::kChecksUtf8; }) {
    return Writer::kChecksUtf8;
  } else {
    return false;
  }
}

// Entries of the tables being written: each open table uses a range at the end, so one vector
// serves the whole recursion and a result allocates nothing per table once it has grown.
using Entries = std::vector<std::pair<std::string_view, int>>;

template <typename Writer>
bool writeValue(lua_State* L, int index, Writer& w, int depth, std::string* error,
                Entries& entries) {
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      return w.Null();
    case LUA_TBOOLEAN:
      return w.Bool(lua_toboolean(L, index) != 0);
    case LUA_TNUMBER: {
      if (lua_isinteger(L, index))
        return w.Int64(static_cast<std::int64_t>(lua_tointeger(L, index)));
      const double d = static_cast<double>(lua_tonumber(L, index));
      if (!std::isfinite(d)) {
        *error = "NaN and infinity have no JSON form";
        return false;
      }
      return w.Double(d);
    }
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      if ((!checksUtf8<Writer>() && !validUtf8(std::string_view(s, len))) ||
          !w.String(s, static_cast<rapidjson::SizeType>(len))) {
        *error = "string is not valid UTF-8";
        return false;
      }
      return true;
    }
    case LUA_TUSERDATA:
      if (isNull(L, index)) return w.Null();
      break;
    case LUA_TTABLE:
      break;
    default:
      *error = fmt::format("cannot encode a {} value", luaL_typename(L, index));
      return false;
  }
  if (lua_type(L, index) != LUA_TTABLE) {
    *error = fmt::format("cannot encode a {} value", luaL_typename(L, index));
    return false;
  }
  if (depth >= kMaxDepth) {
    *error = fmt::format("tables nested deeper than {} levels (a cycle?)", kMaxDepth);
    return false;
  }
  const bool markedArray = hasArrayMeta(L, index);
  // Collect the entries on the Lua stack (no allocation that could raise), then decide.
  const int base = lua_gettop(L);
  std::size_t count = 0;
  bool allIntegerKeys = true;
  bool allStringKeys = true;
  lua_Integer maxKey = 0;
  lua_Integer minKey = 1;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    ++count;
    if (lua_isinteger(L, -2)) {
      maxKey = std::max(maxKey, lua_tointeger(L, -2));
      minKey = std::min(minKey, lua_tointeger(L, -2));
      allStringKeys = false;
    } else if (lua_type(L, -2) == LUA_TSTRING) {
      allIntegerKeys = false;
    } else {
      allIntegerKeys = false;
      allStringKeys = false;
    }
    if (!lua_checkstack(L, 4)) {
      lua_settop(L, base);
      *error = "table too large";
      return false;
    }
    lua_pushvalue(L, -2);  // keep key and value, push the key again for lua_next
  }
  const int entryCount = static_cast<int>(count);
  bool ok = true;
  const bool isArray = (markedArray || count > 0) && allIntegerKeys && minKey >= 1 &&
                       maxKey == static_cast<lua_Integer>(count);
  const std::size_t first = entries.size();
  if (isArray || (markedArray && count == 0)) {
    entries.resize(first + count);
    for (int e = 0; e < entryCount; ++e) {
      const int keyIndex = base + 1 + 2 * e;
      entries[first + static_cast<std::size_t>(lua_tointeger(L, keyIndex) - 1)].second =
          keyIndex + 1;
    }
    ok = w.StartArray();
    for (std::size_t i = 0; ok && i < count; ++i) {
      ok = writeValue(L, entries[first + i].second, w, depth + 1, error, entries);
    }
    ok = ok && w.EndArray();
  } else if (allStringKeys || count == 0) {
    for (int e = 0; e < entryCount; ++e) {
      const int keyIndex = base + 1 + 2 * e;
      std::size_t len = 0;
      const char* k = lua_tolstring(L, keyIndex, &len);
      entries.emplace_back(std::string_view(k, len), keyIndex + 1);
    }
    // Sorted keys: the same table always encodes to the same bytes.
    std::sort(entries.begin() + static_cast<std::ptrdiff_t>(first), entries.end());
    ok = w.StartObject();
    for (std::size_t i = first; ok && i < first + count; ++i) {
      // By index: the nested calls below append to `entries` and may move it.
      const std::string_view key = entries[i].first;
      ok = (checksUtf8<Writer>() || validUtf8(key)) &&
           w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
      if (!ok) {
        *error = "key is not valid UTF-8";
        break;
      }
      ok = writeValue(L, entries[i].second, w, depth + 1, error, entries);
    }
    ok = ok && w.EndObject();
  } else {
    *error = markedArray ? "json.array has keys other than 1..n"
                         : "table mixes keys: use string keys (object) or 1..n (array)";
    ok = false;
  }
  entries.resize(first);
  lua_settop(L, base);
  if (!ok && error->empty()) *error = "cannot encode value";
  return ok;
}

std::optional<std::string> encodeCompact(lua_State* L, int index, std::string* error) {
  CompactJsonWriter w;
  error->clear();
  // Kept per thread: a transform's output is encoded once per message.
  thread_local Entries entries;
  entries.clear();
  if (!writeValue(L, index, w, 0, error, entries)) return std::nullopt;
  return w.take();
}

std::optional<std::string> encodeIndented(lua_State* L, int index, std::string* error) {
  rapidjson::StringBuffer buffer;
  // RapidJSON 1.1's PrettyWriter cannot read its default level depth: it is given explicitly.
  // Its default write flags: it does not compile with others, so validUtf8() checks strings.
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer, nullptr, 32);
  error->clear();
  Entries entries;
  if (!writeValue(L, index, w, 0, error, entries)) return std::nullopt;
  return std::string(buffer.GetString(), buffer.GetSize());
}

int jsonDecode(lua_State* L) {
  std::size_t len = 0;
  const char* text = luaL_checklstring(L, 1, &len);
  bool ok = false;
  {
    std::string error;
    ok = pushJson(L, std::string_view(text, len), &error);
    if (!ok) {
      lua_pushnil(L);
      lua_pushfstring(L, "json.decode: %s", error.c_str());
    }
  }
  return ok ? 1 : 2;
}

int jsonEncode(lua_State* L) {
  luaL_checkany(L, 1);
  bool pretty = false;
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_getfield(L, 2, "pretty");
    pretty = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  bool ok = false;
  {
    std::string error;
    auto text = pretty ? encodeIndented(L, 1, &error) : encodeCompact(L, 1, &error);
    ok = text.has_value();
    if (ok) {
      lua_pushlstring(L, text->data(), text->size());
    } else {
      luaL_where(L, 1);
      lua_pushfstring(L, "json.encode: %s", error.c_str());
      lua_concat(L, 2);
    }
  }
  return ok ? 1 : lua_error(L);
}

int jsonArray(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);
  lua_setmetatable(L, 1);
  return 1;
}

int jsonIsArray(lua_State* L) {
  lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && hasArrayMeta(L, 1));
  return 1;
}

int nullToString(lua_State* L) {
  lua_pushliteral(L, "null");
  return 1;
}

}  // namespace

bool pushJson(lua_State* L, std::string_view text, std::string* error) {
  const int base = lua_gettop(L);
  LuaHandler handler(L);
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag |
                              rapidjson::kParseValidateEncodingFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (!result) {
    lua_settop(L, base);
    const std::string why = handler.error.empty()
                                ? std::string(rapidjson::GetParseError_En(result.Code()))
                                : handler.error;
    *error = fmt::format("offset {}: {}", result.Offset(), why);
    return false;
  }
  return true;
}

std::optional<std::string> encodeJson(lua_State* L, int index, std::string* error) {
  return encodeCompact(L, lua_absindex(L, index), error);
}

void openJson(lua_State* L) {
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, guarded<nullToString>);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "json.null");
  lua_setfield(L, -2, "__name");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNullKey);

  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "json.array");
  lua_setfield(L, -2, "__name");
  // getmetatable(a) answers "json.array" and the shared metatable cannot be altered.
  lua_pushliteral(L, "json.array");
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);

  static const luaL_Reg functions[] = {{"decode", guarded<jsonDecode>},
                                       {"encode", guarded<jsonEncode>},
                                       {"array", guarded<jsonArray>},
                                       {"isArray", guarded<jsonIsArray>},
                                       {nullptr, nullptr}};
  lua_newtable(L);
  for (const luaL_Reg* f = functions; f->name; ++f) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  pushNull(L);
  lua_setfield(L, -2, "null");
  lua_setglobal(L, "json");
}

}  // namespace sb::transforms
