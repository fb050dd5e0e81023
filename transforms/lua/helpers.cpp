#include "transforms/lua/helpers.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <random>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <lua.hpp>

#include "common/log.h"
#include "transforms/lua/guarded.h"

namespace sb::transforms {

namespace {

bool safeRelativeName(std::string_view name) {
  if (name.empty() || name.size() > 1024 || name.front() == '/') return false;
  if (name.find('\0') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool digest(const EVP_MD* md, std::string_view data, unsigned char* out, unsigned int* len) {
  return EVP_Digest(data.data(), data.size(), out, len, md, nullptr) == 1;
}

std::string hex(const unsigned char* data, std::size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (std::size_t i = 0; i < len; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::array<unsigned char, 16>> parseUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::array<unsigned char, 16> out{};
  std::size_t j = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = hexValue(text[i]);
    const int lo = hexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[j++] = static_cast<unsigned char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string formatUuid(const unsigned char* b) {
  const std::string h = hex(b, 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

const ScriptFiles& filesOf(lua_State* L) {
  return *static_cast<const ScriptFiles*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// ---- Lua functions ----

int luaSha256(lua_State* L) {
  std::size_t len = 0;
  const char* data = luaL_checklstring(L, 1, &len);
  const std::string out = sha256Hex(std::string_view(data, len));
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

int luaUuidV4(lua_State* L) {
  // One generator per thread, as each runtime lives on one worker thread.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < 16; i += 8) {
    const std::uint64_t r = rng();
    for (std::size_t k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(r >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  const std::string text = formatUuid(b.data());
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int luaUuidV5(lua_State* L) {
  std::size_t nsLen = 0;
  std::size_t nameLen = 0;
  const char* ns = luaL_checklstring(L, 1, &nsLen);
  const char* name = luaL_checklstring(L, 2, &nameLen);
  std::string_view nsText(ns, nsLen);
  // The RFC 4122 namespaces by name.
  if (nsText == "dns") nsText = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
  if (nsText == "url") nsText = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";
  if (nsText == "oid") nsText = "6ba7b812-9dad-11d1-80b4-00c04fd430c8";
  if (nsText == "x500") nsText = "6ba7b814-9dad-11d1-80b4-00c04fd430c8";
  bool ok = false;
  {
    const auto id = uuidV5(nsText, std::string_view(name, nameLen));
    ok = id.has_value();
    if (ok) lua_pushlstring(L, id->data(), id->size());
  }
  if (!ok) return luaL_error(L, "uuid.v5: namespace must be a UUID or dns, url, oid, x500");
  return 1;
}

int luaBase64Encode(lua_State* L) {
  std::size_t len = 0;
  const char* data = luaL_checklstring(L, 1, &len);
  const std::string out = base64Encode(std::string_view(data, len));
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

int luaBase64Decode(lua_State* L) {
  std::size_t len = 0;
  const char* data = luaL_checklstring(L, 1, &len);
  const auto out = base64Decode(std::string_view(data, len));
  if (!out) {
    lua_pushnil(L);
    lua_pushliteral(L, "base64.decode: invalid base64 text");
    return 2;
  }
  lua_pushlstring(L, out->data(), out->size());
  return 1;
}

template <log::Level level>
int luaLog(lua_State* L) {
  if (level < log::threshold()) return 0;
  const int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  log::write(level, "lua", std::string_view(text, len));
  return 0;
}

int luaReadScriptFile(lua_State* L) {
  std::size_t len = 0;
  const char* name = luaL_checklstring(L, 1, &len);
  bool ok = false;
  {
    std::string error;
    const auto text = readScriptFile(filesOf(L), std::string_view(name, len), &error);
    ok = text.has_value();
    if (ok) {
      lua_pushlstring(L, text->data(), text->size());
    } else {
      lua_pushnil(L);
      lua_pushlstring(L, error.data(), error.size());
    }
  }
  return ok ? 1 : 2;
}

void newLibrary(lua_State* L, const char* name, const luaL_Reg* functions) {
  lua_newtable(L);
  for (; functions->name; ++functions) {
    lua_pushcfunction(L, functions->func);
    lua_setfield(L, -2, functions->name);
  }
  lua_setglobal(L, name);
}

}  // namespace

std::optional<std::filesystem::path> resolveScriptFile(const ScriptFiles& files,
                                                       std::string_view name, std::string* error) {
  namespace fs = std::filesystem;
  if (!safeRelativeName(name)) {
    *error = fmt::format("'{}' is not a relative name inside the script folders", name);
    return std::nullopt;
  }
  bool outside = false;
  for (const fs::path& folder : files.folders) {
    std::error_code ec;
    const fs::path candidate = folder / fs::path(std::string(name));
    if (!fs::is_regular_file(candidate, ec)) continue;
    const fs::path real = fs::canonical(candidate, ec);
    if (ec) continue;
    const fs::path base = fs::canonical(folder, ec);
    if (ec) continue;
    const fs::path rel = real.lexically_relative(base);
    // A link that leads out of the folder does not count as inside it.
    if (rel.empty() || *rel.begin() == "..") {
      outside = true;
      continue;
    }
    return real;
  }
  *error = outside ? fmt::format("'{}' leads outside the script folders", name)
                   : fmt::format("'{}' not found in the script folders", name);
  return std::nullopt;
}

std::optional<std::string> readScriptFile(const ScriptFiles& files, std::string_view name,
                                          std::string* error) {
  const auto path = resolveScriptFile(files, name, error);
  if (!path) return std::nullopt;
  std::error_code ec;
  const auto size = std::filesystem::file_size(*path, ec);
  if (ec || size > files.maxBytes) {
    *error = ec ? fmt::format("'{}' cannot be read", name)
                : fmt::format("'{}' is larger than {} bytes", name, files.maxBytes);
    return std::nullopt;
  }
  std::FILE* f = std::fopen(path->c_str(), "rb");
  if (!f) {
    *error = fmt::format("'{}' cannot be read", name);
    return std::nullopt;
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  const std::size_t got = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  text.resize(got);
  return text;
}

std::string sha256Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!digest(EVP_sha256(), data, out, &len)) return {};
  return hex(out, len);
}

std::string base64Encode(std::string_view data) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                            (static_cast<unsigned char>(data[i + 1]) << 8) |
                            static_cast<unsigned char>(data[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < data.size()) {
    std::uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < data.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  // Line breaks are common in base64 embedded in HL7 (ED data) and MIME; skip them.
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n') clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (std::size_t i = 0; i < clean.size(); i += 4) {
    const bool last = i + 4 == clean.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = clean[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t n =
        (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
        (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::optional<std::string> uuidV5(std::string_view ns, std::string_view name) {
  const auto nsBytes = parseUuid(ns);
  if (!nsBytes) return std::nullopt;
  std::string input(reinterpret_cast<const char*>(nsBytes->data()), nsBytes->size());
  input.append(name);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!digest(EVP_sha1(), input, out, &len)) return std::nullopt;
  out[6] = static_cast<unsigned char>((out[6] & 0x0f) | 0x50);
  out[8] = static_cast<unsigned char>((out[8] & 0x3f) | 0x80);
  return formatUuid(out);
}

void openHelpers(lua_State* L, const ScriptFiles* files) {
  static const luaL_Reg crypto[] = {{"sha256", guarded<luaSha256>}, {nullptr, nullptr}};
  static const luaL_Reg uuid[] = {
      {"v4", guarded<luaUuidV4>}, {"v5", guarded<luaUuidV5>}, {nullptr, nullptr}};
  static const luaL_Reg base64[] = {{"encode", guarded<luaBase64Encode>},
                                    {"decode", guarded<luaBase64Decode>},
                                    {nullptr, nullptr}};
  static const luaL_Reg logger[] = {{"debug", guarded<luaLog<log::Level::kDebug>>},
                                    {"info", guarded<luaLog<log::Level::kInfo>>},
                                    {"warn", guarded<luaLog<log::Level::kWarn>>},
                                    {"error", guarded<luaLog<log::Level::kError>>},
                                    {nullptr, nullptr}};
  newLibrary(L, "crypto", crypto);
  newLibrary(L, "uuid", uuid);
  newLibrary(L, "base64", base64);
  newLibrary(L, "log", logger);
  lua_pushlightuserdata(L, const_cast<ScriptFiles*>(files));
  lua_pushcclosure(L, guarded<luaReadScriptFile>, 1);
  lua_setglobal(L, "sb_read_script_file");
}

}  // namespace sb::transforms
