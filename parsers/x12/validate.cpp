// SNIP levels 1-2 element checks (999 IK4) and the verdict per transaction set.
#include <fmt/format.h>
#include <algorithm>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace sb::x12 {

namespace {

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool validDate(std::string_view v) {
  if ((v.size() != 8 && v.size() != 6) || !std::all_of(v.begin(), v.end(), isDigit)) return false;
  const std::size_t m = v.size() - 4;
  const int mm = (v[m] - '0') * 10 + (v[m + 1] - '0');
  const int dd = (v[m + 2] - '0') * 10 + (v[m + 3] - '0');
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return mm >= 1 && mm <= 12 && dd >= 1 && dd <= kDays[mm - 1];
}

bool validTime(std::string_view v) {
  if (v.size() < 4 || v.size() > 8 || !std::all_of(v.begin(), v.end(), isDigit)) return false;
  const int hh = (v[0] - '0') * 10 + (v[1] - '0');
  const int mm = (v[2] - '0') * 10 + (v[3] - '0');
  const int ss = v.size() >= 6 ? (v[4] - '0') * 10 + (v[5] - '0') : 0;
  return hh <= 23 && mm <= 59 && ss <= 59;
}

// Length of a numeric value as X12 counts it: sign and decimal point do not count.
std::optional<std::size_t> numericLength(std::string_view v, bool decimal) {
  if (!v.empty() && v.front() == '-') v.remove_prefix(1);
  if (v.empty()) return std::nullopt;
  std::size_t digits = 0;
  bool point = false;
  for (char c : v) {
    if (isDigit(c)) {
      ++digits;
    } else if (c == '.' && decimal && !point) {
      point = true;
    } else {
      return std::nullopt;
    }
  }
  return digits == 0 ? std::nullopt : std::optional<std::size_t>(digits);
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

void checkElements(const Document& doc, const SpecLibrary& specs, const Segment& s,
                   const SegmentRule* rule, const std::string& loopId, int interchange, int group,
                   int transaction, int position, std::vector<Finding>& out) {
  (void)doc;
  (void)specs;
  const SegmentDef* def = rule ? rule->def : nullptr;
  if (!def || !rule) return;  // unknown or unplaced segments are reported by the loop builder
  std::vector<Finding> found;
  auto add = [&](int element, int component, std::string code, std::string_view bad,
                 std::string what) {
    Finding f;
    f.level = Level::kElement;
    f.x12Code = std::move(code);
    f.interchange = interchange;
    f.group = group;
    f.transaction = transaction;
    f.segmentIndex = static_cast<std::int64_t>(s.index());
    f.segmentPosition = position;
    f.segmentId = std::string(s.id());
    f.loopId = loopId;
    f.element = element;
    f.component = component;
    const ElementDef* e = def->element(element);
    if (e && e->ref[0] != 'C') f.elementRef = e->ref;
    f.badValue = std::string(bad.substr(0, 99));
    f.message = fmt::format("{} {}{:02}{}: {}", loopId.empty() ? "header" : loopId, s.id(), element,
                            component > 0 ? fmt::format("-{}", component) : "", what);
    found.push_back(std::move(f));
  };
  const int count = static_cast<int>(s.elementCount());
  if (count > static_cast<int>(def->elements.size())) {
    add(static_cast<int>(def->elements.size()) + 1, 0, "3", {},
        fmt::format("too many data elements ({}, at most {})", count, def->elements.size()));
  }
  for (const ElementDef& e : def->elements) {
    const std::string_view value = s.element(static_cast<std::size_t>(e.position));
    const bool required = e.requirement == 'M' || contains(rule->required, e.position);
    if (value.empty()) {
      if (required)
        add(e.position, 0, "1", {}, fmt::format("required element missing ({})", e.name));
      continue;
    }
    if (contains(rule->notUsed, e.position)) {
      add(e.position, 0, "I10", value, "element is not used in this implementation");
      continue;
    }
    const auto codes = rule->codes.find(e.position);
    using Kind = ElementDef::Kind;
    if (e.kind == Kind::kComposite) {
      const std::size_t comps = s.componentCount(static_cast<std::size_t>(e.position));
      if (e.maxLength > 0 && comps > static_cast<std::size_t>(e.maxLength)) {
        add(e.position, 0, "13", {},
            fmt::format("too many components ({}, at most {})", comps, e.maxLength));
      }
      if (codes != rule->codes.end()) {
        const std::string_view first = s.component(static_cast<std::size_t>(e.position), 1);
        if (std::find(codes->second.begin(), codes->second.end(), first) == codes->second.end()) {
          add(e.position, 1, "7", first, "invalid code value");
        }
      }
      continue;
    }
    const std::size_t reps = s.repetitionCount(static_cast<std::size_t>(e.position));
    if (reps > static_cast<std::size_t>(e.maxRepeat)) {
      add(e.position, 0, "12", {},
          fmt::format("too many repetitions ({}, at most {})", reps, e.maxRepeat));
      continue;
    }
    if (reps > 1) {
      // Each repetition is checked like a single value; the first problem is reported.
      for (std::size_t r = 0; r < reps; ++r) {
        const std::string_view one = s.component(static_cast<std::size_t>(e.position), 0, r);
        if (one.size() < static_cast<std::size_t>(e.minLength) ||
            (e.maxLength > 0 && one.size() > static_cast<std::size_t>(e.maxLength))) {
          add(e.position, 0, one.size() < static_cast<std::size_t>(e.minLength) ? "4" : "5", one,
              "repetition of wrong length");
          break;
        }
        if (codes != rule->codes.end() &&
            std::find(codes->second.begin(), codes->second.end(), one) == codes->second.end()) {
          add(e.position, 0, "7", one, "invalid code value");
          break;
        }
      }
      continue;
    }
    std::size_t length = value.size();
    bool badChar = false;
    if (e.kind == Kind::kNumeric) {
      const auto n = numericLength(value, false);
      badChar = !n;
      if (n) length = *n;
    } else if (e.kind == Kind::kDecimal) {
      const auto n = numericLength(value, true);
      badChar = !n;
      if (n) length = *n;
    } else if (e.kind == Kind::kDate) {
      if (!validDate(value)) {
        add(e.position, 0, "8", value, "invalid date");
        continue;
      }
    } else if (e.kind == Kind::kTime) {
      if (!validTime(value)) {
        add(e.position, 0, "9", value, "invalid time");
        continue;
      }
    }
    if (badChar) {
      add(e.position, 0, "6", value, "invalid character in a numeric element");
      continue;
    }
    if (length < static_cast<std::size_t>(e.minLength)) {
      add(e.position, 0, "4", value,
          fmt::format("data element too short (minimum {})", e.minLength));
      continue;
    }
    if (e.maxLength > 0 && length > static_cast<std::size_t>(e.maxLength)) {
      add(e.position, 0, "5", value,
          fmt::format("data element too long (maximum {})", e.maxLength));
      continue;
    }
    if (codes != rule->codes.end() &&
        std::find(codes->second.begin(), codes->second.end(), value) == codes->second.end()) {
      add(e.position, 0, "7", value, "invalid code value");
    }
  }
  out.insert(out.end(), std::make_move_iterator(found.begin()),
             std::make_move_iterator(found.end()));
}

namespace {

// Out of line: g++ 12 warns falsely about string literals copied into a fresh Finding inline.
[[gnu::noinline]] Finding unsupportedSet(int ii, int gi, int ti, const Transaction& tx) {
  Finding f;
  f.level = Level::kTransaction;
  f.x12Code = std::string(1, '1');
  f.interchange = ii;
  f.group = gi;
  f.transaction = ti;
  f.segmentIndex = static_cast<std::int64_t>(tx.st);
  f.segmentId = std::string(2, 'S');
  f.segmentId[1] = 'T';
  f.message = fmt::format("transaction set {} ({}) is not supported", tx.setId, tx.convention);
  return f;
}

}  // namespace

bool Transaction::accepted() const {
  return !rejected;
}

void Document::validate(const SpecLibrary& specs) {
  if (validated_) return;
  if (loopsBuilt_) {
    // Loops were built without element checks: build them again with the checks.
    std::erase_if(findings_, [](const Finding& f) {
      return f.level == Level::kSegment || f.level == Level::kElement;
    });
    loopsBuilt_ = false;
  }
  validated_ = true;
  buildLoops(specs);
  for (std::size_t ii = 0; ii < interchanges_.size(); ++ii) {
    for (std::size_t gi = 0; gi < interchanges_[ii].groups.size(); ++gi) {
      auto& g = interchanges_[ii].groups[gi];
      for (std::size_t ti = 0; ti < g.transactions.size(); ++ti) {
        Transaction& tx = g.transactions[ti];
        if (!tx.spec) {
          findings_.push_back(
              unsupportedSet(static_cast<int>(ii), static_cast<int>(gi), static_cast<int>(ti), tx));
        }
      }
    }
  }
  for (const Finding& f : findings_) {
    if (f.severity != Severity::kError || f.interchange < 0) continue;
    auto& ic = interchanges_[static_cast<std::size_t>(f.interchange)];
    if (f.group < 0 || f.group >= static_cast<int>(ic.groups.size())) continue;
    auto& g = ic.groups[static_cast<std::size_t>(f.group)];
    if (f.level == Level::kGroup) continue;
    if (f.transaction < 0 || f.transaction >= static_cast<int>(g.transactions.size())) continue;
    g.transactions[static_cast<std::size_t>(f.transaction)].rejected = true;
  }
}

}  // namespace sb::x12
