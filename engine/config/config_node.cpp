#include "engine/config/config_node.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace sb::config {

const Node* Node::find(std::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string_view Node::kindName(Kind kind) {
  switch (kind) {
    case Kind::kNil:
      return "nil";
    case Kind::kString:
      return "a string";
    case Kind::kNumber:
      return "a number";
    case Kind::kBool:
      return "a boolean";
    case Kind::kList:
      return "a list";
    case Kind::kMap:
      return "a table";
    case Kind::kFunction:
      return "a function";
  }
  return "?";
}

std::string Section::where() const {
  if (name.empty()) return fmt::format("{}:{}: {}", file, line, kind);
  return fmt::format("{}:{}: {} '{}'", file, line, kind, name);
}

std::string Errors::joined() const {
  std::string out;
  for (const auto& e : items) {
    out += e;
    out += '\n';
  }
  return out;
}

namespace {

std::string_view typeName(ValueType t) {
  switch (t) {
    case ValueType::kString:
      return "a string";
    case ValueType::kInteger:
      return "an integer";
    case ValueType::kNumber:
      return "a number";
    case ValueType::kBool:
      return "a boolean";
    case ValueType::kStringList:
      return "a string or a list of strings";
    case ValueType::kTable:
      return "a table";
    case ValueType::kFunction:
      return "a function";
    case ValueType::kStringOrTable:
      return "a script name or a table";
  }
  return "?";
}

bool matches(const Node& n, ValueType t) {
  switch (t) {
    case ValueType::kString:
      return n.kind == Node::Kind::kString;
    case ValueType::kInteger:
      return n.kind == Node::Kind::kNumber && std::floor(n.number) == n.number;
    case ValueType::kNumber:
      return n.kind == Node::Kind::kNumber;
    case ValueType::kBool:
      return n.kind == Node::Kind::kBool;
    case ValueType::kStringList:
      if (n.kind == Node::Kind::kString) return true;
      if (n.kind == Node::Kind::kMap && n.map.empty()) return true;  // {} is an empty list
      if (n.kind != Node::Kind::kList) return false;
      for (const auto& item : n.list) {
        if (item.kind != Node::Kind::kString) return false;
      }
      return true;
    case ValueType::kTable:
      return n.kind == Node::Kind::kMap || n.kind == Node::Kind::kList;
    case ValueType::kFunction:
      return n.kind == Node::Kind::kFunction;
    case ValueType::kStringOrTable:
      return n.kind == Node::Kind::kString || n.kind == Node::Kind::kMap ||
             n.kind == Node::Kind::kList;
  }
  return false;
}

// Edit distance for "did you mean" hints on misspelt keys.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = prev[j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0);
      cur[j] = std::min<std::size_t>({prev[j] + 1, cur[j - 1] + 1, substitution});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const Node& emptyMap() {
  static const Node node = [] {
    Node n;
    n.kind = Node::Kind::kMap;
    return n;
  }();
  return node;
}

}  // namespace

Reader::Reader(const Section& section, std::span<const KeySpec> keys, Errors& errors)
    : Reader(section, section.body, keys, errors) {}

Reader::Reader(const Section& section, const Node& table, std::span<const KeySpec> keys,
               Errors& errors, std::string context)
    : section_(section),
      table_(table.kind == Node::Kind::kMap ? table : emptyMap()),
      errors_(errors),
      context_(std::move(context)) {
  const std::string prefix = context_.empty() ? "" : context_ + ".";
  if (table.kind == Node::Kind::kList && !table.list.empty()) {
    errors_.add(fmt::format("{}: {}expected a table with named keys", section_.where(), prefix));
  }
  for (const auto& [key, value] : table_.map) {
    const KeySpec* spec = nullptr;
    for (const auto& k : keys) {
      if (k.key == key) spec = &k;
    }
    if (!spec) {
      std::string hint;
      std::size_t best = 3;
      for (const auto& k : keys) {
        const auto d = distance(key, k.key);
        if (d < best) {
          best = d;
          hint = fmt::format(" (did you mean '{}'?)", k.key);
        }
      }
      errors_.add(fmt::format("{}: unknown key '{}{}'{}", section_.where(), prefix, key, hint));
      continue;
    }
    if (!matches(value, spec->type)) {
      errors_.add(fmt::format("{}: '{}{}' must be {}, got {}", section_.where(), prefix, key,
                              typeName(spec->type), Node::kindName(value.kind)));
    }
  }
  for (const auto& k : keys) {
    if (k.required && !table_.find(k.key)) {
      errors_.add(fmt::format("{}: missing required key '{}{}'", section_.where(), prefix, k.key));
    }
  }
}

const Node* Reader::node(std::string_view key) const {
  return table_.find(key);
}

Reader Reader::child(std::string_view key, std::span<const KeySpec> keys) const {
  const Node* n = node(key);
  std::string context = context_.empty() ? std::string(key) : context_ + "." + std::string(key);
  return Reader(section_, n ? *n : emptyMap(), keys, errors_, std::move(context));
}

void Reader::fail(std::string_view key, std::string_view message) const {
  const std::string prefix = context_.empty() ? "" : context_ + ".";
  errors_.add(fmt::format("{}: '{}{}': {}", section_.where(), prefix, key, message));
}

std::string Reader::string(std::string_view key, std::string fallback) const {
  const Node* n = node(key);
  return n && n->kind == Node::Kind::kString ? n->text : fallback;
}

std::int64_t Reader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                             std::int64_t max) const {
  const Node* n = node(key);
  if (!n || n->kind != Node::Kind::kNumber) return fallback;
  if (n->number < static_cast<double>(min) || n->number > static_cast<double>(max)) {
    fail(key, fmt::format("must be between {} and {}", min, max));
    return fallback;
  }
  return static_cast<std::int64_t>(n->number);
}

double Reader::number(std::string_view key, double fallback, double min, double max) const {
  const Node* n = node(key);
  if (!n || n->kind != Node::Kind::kNumber) return fallback;
  if (n->number < min || n->number > max) {
    fail(key, fmt::format("must be between {} and {}", min, max));
    return fallback;
  }
  return n->number;
}

bool Reader::boolean(std::string_view key, bool fallback) const {
  const Node* n = node(key);
  return n && n->kind == Node::Kind::kBool ? n->boolean : fallback;
}

std::vector<std::string> Reader::strings(std::string_view key) const {
  std::vector<std::string> out;
  const Node* n = node(key);
  if (!n) return out;
  if (n->kind == Node::Kind::kString) {
    out.push_back(n->text);
  } else if (n->kind == Node::Kind::kList) {
    for (const auto& item : n->list) {
      if (item.kind == Node::Kind::kString) out.push_back(item.text);
    }
  }
  return out;
}

bool parseHostPort(std::string_view text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string_view p = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value > 65535) return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string renderKeysMarkdown(std::span<const KeySpec> keys) {
  std::string out = "| key | type | required | default | meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : keys) {
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.key, typeName(k.type),
                       k.required ? "yes" : "no",
                       k.defaultText.empty() ? "" : fmt::format("`{}`", k.defaultText), k.doc);
  }
  return out;
}

}  // namespace sb::config
