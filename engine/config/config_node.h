// A configuration value tree, independent of Lua: the Lua loader produces it, connectors read it
// through a declared key schema (KeySpec). The same schema validates (`switchboard check`) and
// documents (`switchboard config-doc`) each section.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::config {

struct Node {
  enum class Kind { kNil, kString, kNumber, kBool, kList, kMap, kFunction };
  Kind kind = Kind::kNil;
  std::string text;   // kString
  double number = 0;  // kNumber
  bool boolean = false;
  std::vector<Node> list;                         // kList
  std::vector<std::pair<std::string, Node>> map;  // kMap, in key order
  int functionRef = 0;  // kFunction: a reference in the config's Lua registry

  const Node* find(std::string_view key) const;
  static std::string_view kindName(Kind kind);
};

// A top-level declaration such as `channel "adt_in" { ... }`.
struct Section {
  std::string kind;  // "engine", "channel", "destination", "route"
  std::string name;
  std::string file;
  int line = 0;
  Node body;
  std::string where() const;  // "file:line: channel 'adt_in'"
};

enum class ValueType {
  kString,
  kInteger,
  kNumber,
  kBool,
  kStringList,
  kTable,
  kFunction,
  kStringOrTable,
};

struct KeySpec {
  std::string_view key;
  ValueType type;
  bool required;
  std::string_view defaultText;  // shown in the docs; the reader supplies the actual default
  std::string_view doc;
};

// Collected configuration errors, each already "file:line: what".
struct Errors {
  std::vector<std::string> items;
  void add(std::string message) { items.push_back(std::move(message)); }
  bool empty() const { return items.empty(); }
  std::string joined() const;
};

// Validates a section (or a nested table) against its keys: unknown keys, missing required keys
// and wrong types become errors. Typed getters then return defaults for absent keys.
class Reader {
 public:
  Reader(const Section& section, const Node& table, std::span<const KeySpec> keys, Errors& errors,
         std::string context = {});
  Reader(const Section& section, std::span<const KeySpec> keys, Errors& errors);

  std::string string(std::string_view key, std::string fallback = {}) const;
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;
  double number(std::string_view key, double fallback, double min, double max) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::vector<std::string> strings(std::string_view key) const;  // a string or a list of strings
  const Node* node(std::string_view key) const;
  bool has(std::string_view key) const { return node(key) != nullptr; }
  // Adds an error about a key's value: "file:line: channel 'x': listen: <message>".
  void fail(std::string_view key, std::string_view message) const;
  const Section& section() const { return section_; }
  // A reader for a nested table (`tls = { ... }`); its errors name the key path ("tls.cert").
  // An absent key reads as an empty table.
  Reader child(std::string_view key, std::span<const KeySpec> keys) const;

 private:
  const Section& section_;
  const Node& table_;
  Errors& errors_;
  std::string context_;
};

// "host:port" → pair; false when malformed.
bool parseHostPort(std::string_view text, std::string& host, std::uint16_t& port);

// Renders key specs as a Markdown table for the docs.
std::string renderKeysMarkdown(std::span<const KeySpec> keys);

}  // namespace sb::config
