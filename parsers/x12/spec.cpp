// Loads the definition files described in parsers/x12/specs/FORMAT.md.
#include "parsers/x12/spec.h"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

#include "parsers/x12/specs_embedded.h"

namespace sb::x12 {

const ElementDef* SegmentDef::element(int position) const {
  if (position < 1 || position > static_cast<int>(elements.size())) return nullptr;
  const ElementDef& e = elements[static_cast<std::size_t>(position - 1)];
  return e.position == position ? &e : nullptr;
}

const SegmentRule* LoopRule::trigger() const {
  return !children.empty() && children.front().segment ? children.front().segment.get() : nullptr;
}

namespace {

struct Line {
  int number = 0;
  int indent = 0;
  std::vector<std::string> words;
  std::string text;  // after the indent
};

std::vector<Line> lines(const std::string& text) {
  std::vector<Line> out;
  std::istringstream in(text);
  std::string raw;
  int number = 0;
  while (std::getline(in, raw)) {
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::size_t indent = raw.find_first_not_of(' ');
    if (indent == std::string::npos || raw[indent] == '#') continue;
    Line l;
    l.number = number;
    l.indent = static_cast<int>(indent);
    l.text = raw.substr(indent);
    std::istringstream words(l.text);
    for (std::string w; words >> w;) l.words.push_back(w);
    out.push_back(std::move(l));
  }
  return out;
}

// The rest of the line from word `index` on (names contain spaces).
std::string tail(const Line& l, std::size_t index) {
  std::size_t pos = 0;
  for (std::size_t w = 0; w < index; ++w) {
    pos = l.text.find_first_not_of(' ', pos);
    pos = l.text.find(' ', pos);
    if (pos == std::string::npos) return {};
  }
  pos = l.text.find_first_not_of(' ', pos);
  return pos == std::string::npos ? std::string() : l.text.substr(pos);
}

[[noreturn]] void fail(const std::string& file, int line, const std::string& what) {
  throw std::runtime_error(fmt::format("{}:{}: {}", file, line, what));
}

int toInt(const std::string& file, int line, const std::string& s) {
  try {
    std::size_t used = 0;
    const int v = std::stoi(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    fail(file, line, fmt::format("'{}' is not a number", s));
  }
}

Usage toUsage(const std::string& file, int line, const std::string& s) {
  if (s == "R") return Usage::kRequired;
  if (s == "S") return Usage::kSituational;
  if (s == "N") return Usage::kNotUsed;
  fail(file, line, fmt::format("usage '{}' is not R, S or N", s));
}

int toRepeat(const std::string& file, int line, const std::string& s) {
  return s == ">1" ? 0 : toInt(file, line, s);
}

std::vector<int> positions(const std::string& file, int line, const std::string& list) {
  std::vector<int> out;
  std::istringstream in(list);
  for (std::string p; std::getline(in, p, ',');) out.push_back(toInt(file, line, p));
  return out;
}

void loadDictionary(const std::string& file, const std::string& text,
                    std::map<std::string, SegmentDef, std::less<>>& segments) {
  SegmentDef* current = nullptr;
  for (const Line& l : lines(text)) {
    if (l.indent == 0) {
      if (l.words.size() < 2 || l.words[0] != "segment")
        fail(file, l.number, "expected 'segment ID NAME'");
      SegmentDef def;
      def.id = l.words[1];
      def.name = tail(l, 2);
      auto [it, inserted] = segments.emplace(def.id, std::move(def));
      if (!inserted) fail(file, l.number, fmt::format("segment {} defined twice", l.words[1]));
      current = &it->second;
      continue;
    }
    if (!current) fail(file, l.number, "element line before any segment");
    if (l.words.size() < 6) fail(file, l.number, "expected 'NN REF TYPE MIN MAX REQ NAME'");
    ElementDef e;
    e.position = toInt(file, l.number, l.words[0]);
    e.ref = l.words[1];
    e.type = l.words[2];
    using Kind = ElementDef::Kind;
    if (e.type == "C")
      e.kind = Kind::kComposite;
    else if (e.type == "R")
      e.kind = Kind::kDecimal;
    else if (e.type == "DT")
      e.kind = Kind::kDate;
    else if (e.type == "TM")
      e.kind = Kind::kTime;
    else if (e.type.size() == 2 && e.type[0] == 'N' && e.type[1] >= '0' && e.type[1] <= '9')
      e.kind = Kind::kNumeric;
    e.minLength = toInt(file, l.number, l.words[3]);
    e.maxLength = toInt(file, l.number, l.words[4]);
    // M, O or X, optionally followed by the number of repetitions allowed ("O99").
    const std::string& req = l.words[5];
    if (req.empty() || std::string("MOX").find(req[0]) == std::string::npos) {
      fail(file, l.number, fmt::format("requirement '{}' is not M, O or X", req));
    }
    e.requirement = req[0];
    if (req.size() > 1) e.maxRepeat = toInt(file, l.number, req.substr(1));
    e.name = tail(l, 6);
    if (e.position != static_cast<int>(current->elements.size()) + 1) {
      fail(file, l.number,
           fmt::format("{}{:02}: elements must be listed in order without gaps", current->id,
                       e.position));
    }
    current->elements.push_back(std::move(e));
  }
}

std::unique_ptr<TransactionSpec> loadTransaction(
    const std::string& file, const std::string& text,
    const std::map<std::string, SegmentDef, std::less<>>& segments) {
  auto spec = std::make_unique<TransactionSpec>();
  spec->file = file;
  std::vector<LoopRule*> stack;  // stack[d] = the loop whose children sit at indent 2*d
  bool header = false;
  for (const Line& l : lines(text)) {
    if (!header) {
      if (l.words.size() < 5 || l.words[0] != "transaction") {
        fail(file, l.number, "expected 'transaction SETID CONVENTION LABEL NAME' first");
      }
      spec->setId = l.words[1];
      spec->convention = l.words[2];
      spec->label = l.words[3];
      spec->name = tail(l, 4);
      stack.push_back(&spec->root);
      header = true;
      continue;
    }
    if (l.indent % 2 != 0) fail(file, l.number, "indent by two spaces");
    const std::size_t depth = static_cast<std::size_t>(l.indent / 2);
    if (depth >= stack.size()) fail(file, l.number, "indented deeper than the loop it belongs to");
    stack.resize(depth + 1);
    LoopRule& parent = *stack[depth];
    SpecNode node;
    if (l.words[0] == "loop") {
      if (l.words.size() < 4) fail(file, l.number, "expected 'loop ID USAGE REPEAT NAME'");
      node.loop = std::make_unique<LoopRule>();
      node.loop->id = l.words[1];
      node.loop->usage = toUsage(file, l.number, l.words[2]);
      node.loop->maxRepeat = toRepeat(file, l.number, l.words[3]);
      node.loop->name = tail(l, 4);
      stack.push_back(node.loop.get());
    } else {
      if (l.words.size() < 3) fail(file, l.number, "expected 'ID USAGE REPEAT [rules]'");
      auto seg = std::make_unique<SegmentRule>();
      seg->id = l.words[0];
      seg->line = l.number;
      const auto dict = segments.find(seg->id);
      if (dict == segments.end())
        fail(file, l.number, fmt::format("segment {} is not in the dictionary", seg->id));
      seg->packed = packId(seg->id);
      seg->def = &dict->second;
      seg->usage = toUsage(file, l.number, l.words[1]);
      seg->maxUse = toRepeat(file, l.number, l.words[2]);
      for (std::size_t w = 3; w < l.words.size(); ++w) {
        const std::string& rule = l.words[w];
        const std::size_t eq = rule.find('=');
        if (eq == std::string::npos)
          fail(file, l.number, fmt::format("rule '{}' has no '='", rule));
        const std::string key = rule.substr(0, eq);
        const std::string value = rule.substr(eq + 1);
        if (key == "req") {
          seg->required = positions(file, l.number, value);
        } else if (key == "not") {
          seg->notUsed = positions(file, l.number, value);
        } else {
          const int pos = toInt(file, l.number, key);
          if (!dict->second.element(pos)) {
            fail(file, l.number, fmt::format("{}{:02} is not in the dictionary", seg->id, pos));
          }
          std::vector<std::string>& codes = seg->codes[pos];
          std::istringstream in(value);
          for (std::string c; std::getline(in, c, '|');) codes.push_back(c);
        }
      }
      for (int p : seg->required) {
        if (!dict->second.element(p))
          fail(file, l.number, fmt::format("req: {}{:02} does not exist", seg->id, p));
      }
      node.segment = std::move(seg);
    }
    if (parent.children.empty() && &parent != &spec->root && !node.segment) {
      fail(file, l.number,
           fmt::format("loop {} must start with a segment (its trigger)", parent.id));
    }
    parent.children.push_back(std::move(node));
  }
  if (!header) fail(file, 1, "empty definition");
  return spec;
}

}  // namespace

std::unique_ptr<SpecLibrary> SpecLibrary::load(
    const std::vector<std::pair<std::string, std::string>>& files) {
  auto lib = std::make_unique<SpecLibrary>();
  for (const auto& [name, text] : files) {
    if (name.size() > 5 && name.ends_with(".dict")) loadDictionary(name, text, lib->segments_);
  }
  for (const auto& [name, text] : files) {
    if (name.size() > 5 && name.ends_with(".spec")) {
      lib->sets_.push_back(loadTransaction(name, text, lib->segments_));
    }
  }
  return lib;
}

const SpecLibrary& SpecLibrary::builtin() {
  static const std::unique_ptr<SpecLibrary> lib = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& f : kEmbeddedSpecs) files.emplace_back(f.name, f.text);
    return load(files);
  }();
  return *lib;
}

const TransactionSpec* SpecLibrary::find(std::string_view setId,
                                         std::string_view convention) const {
  const TransactionSpec* fallback = nullptr;
  int sameVersion = 0;
  for (const auto& s : sets_) {
    if (s->setId != setId) continue;
    if (s->convention == convention) return s.get();
    if (convention.size() >= 6 && s->convention.compare(0, 6, convention.substr(0, 6)) == 0) {
      fallback = s.get();
      ++sameVersion;
    }
  }
  return sameVersion == 1 ? fallback : nullptr;
}

const SegmentDef* SpecLibrary::segment(std::string_view id) const {
  const auto it = segments_.find(id);
  return it == segments_.end() ? nullptr : &it->second;
}

}  // namespace sb::x12
