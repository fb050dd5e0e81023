// Places each segment of a transaction set into the loop structure of its definition and reports
// what does not fit (999 IK3: unexpected, out of sequence, over maximum use, required missing).
//
// The walk keeps a stack of open loops. A segment is looked for in the innermost loop from the
// current position on, then in the enclosing loops (which closes the inner ones); a loop's
// trigger seen again at its parent's level starts the next repetition. This is how X12 readers
// have always resolved loops: the definition order plus the triggers' qualifier codes decide.
#include <fmt/format.h>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace sb::x12 {

namespace {

bool codesMatch(const SegmentRule& rule, const Segment& s) {
  for (const auto& [pos, codes] : rule.codes) {
    const std::string_view v = s.component(static_cast<std::size_t>(pos), 1);
    bool any = false;
    for (const std::string& c : codes) any = any || v == c;
    if (!any) return false;
  }
  return true;
}

struct Frame {
  const LoopRule* rule = nullptr;
  std::uint32_t loop = 0;   // index into Transaction::loops
  std::size_t pos = 0;      // current child index in rule->children
  std::vector<int> counts;  // uses of each child in this loop instance
};

struct Placement {
  std::size_t frame = 0;  // which stack level takes it
  std::size_t child = 0;  // which child of that level's rule
  bool overMax = false;
  bool loose = false;  // matched by id only (a qualifier code is wrong)
};

class LoopBuilder {
 public:
  LoopBuilder(const Document& doc, Transaction& tx, int interchange, int group, int txIndex,
              std::vector<Finding>& findings)
      : doc_(doc), tx_(tx), findings_(findings), ii_(interchange), gi_(group), ti_(txIndex) {}

  void run() {
    const TransactionSpec& spec = *tx_.spec;
    tx_.loops.clear();
    tx_.loops.push_back(Loop{});
    tx_.loops[0].parent = 0;
    stack_.push_back(Frame{&spec.root, 0, 0, std::vector<int>(spec.root.children.size(), 0)});
    const std::size_t end = doc_.transactionEnd(tx_);
    placed_.assign(end - tx_.st, nullptr);
    for (std::size_t i = tx_.st; i < end; ++i) place(i);
    while (!stack_.empty()) closeTop(end);
  }

 private:
  int position(std::size_t segment) const { return static_cast<int>(segment - tx_.st) + 1; }

  // Looks for a child of frame `f` (from its position on) that takes the segment.
  std::optional<std::size_t> findIn(std::size_t f, const Segment& s, bool allowOverMax,
                                    bool loose) const {
    const Frame& fr = stack_[f];
    const std::uint32_t id = packId(s.id());
    const auto& children = fr.rule->children;
    // Inside a loop instance its trigger is not taken again: that starts the next repetition,
    // which is the parent's business.
    std::size_t from = (f > 0 && fr.pos == 0) ? 1 : fr.pos;
    // Segment lines with the same id next to each other (DTP*435, DTP*434, ... in 2300) share
    // one position in the guide: their relative order is free.
    while (from > (f > 0 ? 1u : 0u) && from < children.size() && children[from].segment &&
           children[from - 1].segment &&
           children[from - 1].segment->id == children[from].segment->id) {
      --from;
    }
    for (std::size_t j = from; j < children.size(); ++j) {
      const SpecNode& n = children[j];
      if (n.segment) {
        if (n.segment->packed != id) continue;
        if (!loose && !codesMatch(*n.segment, s)) continue;
        if (!allowOverMax && n.segment->maxUse > 0 && fr.counts[j] >= n.segment->maxUse) continue;
        return j;
      }
      const SegmentRule* trig = n.loop->trigger();
      if (!trig || trig->packed != id) continue;
      // Loose: a trigger with a wrong qualifier still opens the loop it can only mean, and the
      // element check reports the code (IK4 7) instead of a cascade of unexpected segments.
      if (!loose && !codesMatch(*trig, s)) continue;
      if (!allowOverMax && n.loop->maxRepeat > 0 && fr.counts[j] >= n.loop->maxRepeat) continue;
      return j;
    }
    return std::nullopt;
  }

  std::optional<Placement> find(const Segment& s) const {
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t f = stack_.size(); f-- > 0;) {
        if (auto j = findIn(f, s, pass == 1, false)) return Placement{f, *j, pass == 1, false};
      }
    }
    if (auto j = findIn(stack_.size() - 1, s, true, true)) {
      return Placement{stack_.size() - 1, *j, false, true};
    }
    return std::nullopt;
  }

  void segmentFinding(std::int64_t segment, std::string id, std::string loopId, std::string code,
                      int pos, std::string message) {
    Finding f;
    f.level = Level::kSegment;
    f.x12Code = std::move(code);
    f.interchange = ii_;
    f.group = gi_;
    f.transaction = ti_;
    f.segmentIndex = segment;
    f.segmentPosition = pos;
    f.segmentId = std::move(id);
    f.loopId = std::move(loopId);
    f.message = std::move(message);
    findings_.push_back(std::move(f));
  }

  void addItem(std::uint32_t loop, bool isLoop, std::uint32_t index) {
    tx_.loops[loop].items.push_back(Loop::Item{isLoop, index});
  }

  void place(std::size_t i) {
    const Segment& s = doc_.segments()[i];
    const auto p = find(s);
    if (!p) {
      unexpected(i, s);
      return;
    }
    while (stack_.size() > p->frame + 1) closeTop(i);
    Frame& fr = stack_.back();
    fr.pos = p->child;
    const SpecNode& n = fr.rule->children[p->child];
    ++fr.counts[p->child];
    const std::string loopId = fr.rule->id;
    if (n.segment) {
      addItem(fr.loop, false, static_cast<std::uint32_t>(i));
      placed_[i - tx_.st] = n.segment.get();
      if (p->overMax) {
        segmentFinding(static_cast<std::int64_t>(i), std::string(s.id()), loopId, "5", position(i),
                       fmt::format("{} {}: segment exceeds maximum use of {}",
                                   loopId.empty() ? "header" : loopId, s.id(), n.segment->maxUse));
      }
      if (n.segment->usage == Usage::kNotUsed) {
        segmentFinding(
            static_cast<std::int64_t>(i), std::string(s.id()), loopId, "I4", position(i),
            fmt::format("{} {}: segment is not used in this implementation", loopId, s.id()));
      }
      return;
    }
    // A new repetition of a child loop.
    const LoopRule& rule = *n.loop;
    Loop loop;
    loop.id = rule.id;
    loop.name = rule.name;
    loop.parent = fr.loop;
    tx_.loops.push_back(std::move(loop));
    const auto index = static_cast<std::uint32_t>(tx_.loops.size() - 1);
    addItem(fr.loop, true, index);
    if (p->overMax) {
      segmentFinding(static_cast<std::int64_t>(i), std::string(s.id()), rule.id, "4", position(i),
                     fmt::format("loop {} occurs over its maximum of {}", rule.id, rule.maxRepeat));
    }
    if (rule.usage == Usage::kNotUsed) {
      segmentFinding(static_cast<std::int64_t>(i), std::string(s.id()), rule.id, "I4", position(i),
                     fmt::format("loop {} is not used in this implementation", rule.id));
    }
    stack_.push_back(Frame{&rule, index, 0, std::vector<int>(rule.children.size(), 0)});
    stack_.back().counts[0] = 1;
    addItem(index, false, static_cast<std::uint32_t>(i));
    placed_[i - tx_.st] = rule.trigger();
  }

  void unexpected(std::size_t i, const Segment& s) {
    const std::string id(s.id());
    const std::string loopId = stack_.back().rule->id;
    const char* code = "2";
    const char* why = "unexpected segment";
    const bool validId = id.size() >= 2 && id.size() <= 3;
    if (!validId || !knownId(id)) {
      code = "1";
      why = "unrecognized segment id";
    } else if (!inSpec(tx_.spec->root, id)) {
      code = "6";
      why = "segment not in the defined transaction set";
    } else if (seenEarlier(id)) {
      code = "7";
      why = "segment not in proper sequence";
    }
    // IK301 carries the id as received, even an unrecognized one.
    segmentFinding(static_cast<std::int64_t>(i), id.substr(0, 3), loopId, code, position(i),
                   fmt::format("{} in {}: {}", validId ? id : "segment",
                               loopId.empty() ? "header" : loopId, why));
    addItem(stack_.back().loop, false, static_cast<std::uint32_t>(i));
  }

  bool knownId(const std::string& id) const { return dictionary_->segment(id) != nullptr; }

  static bool inSpec(const LoopRule& rule, std::string_view id) {
    for (const SpecNode& n : rule.children) {
      if (n.segment && n.segment->id == id) return true;
      if (n.loop && inSpec(*n.loop, id)) return true;
    }
    return false;
  }

  bool seenEarlier(std::string_view id) const {
    for (const Frame& f : stack_) {
      for (std::size_t j = 0; j < f.pos && j < f.rule->children.size(); ++j) {
        const SpecNode& n = f.rule->children[j];
        if (n.segment && n.segment->id == id) return true;
        if (n.loop && n.loop->trigger() && n.loop->trigger()->id == id) return true;
      }
    }
    return false;
  }

  // Closes the innermost loop: required children that never appeared are reported where the
  // reader noticed (the position of the segment that closed the loop).
  void closeTop(std::size_t at) {
    const Frame fr = stack_.back();
    stack_.pop_back();
    const int pos = position(std::min(at, doc_.transactionEnd(tx_)));
    const auto& children = fr.rule->children;
    for (std::size_t j = 0; j < children.size(); ++j) {
      if (fr.counts[j] > 0) continue;
      const SpecNode& n = children[j];
      if (n.segment && n.segment->usage == Usage::kRequired) {
        segmentFinding(-1, n.segment->id, fr.rule->id, "3", pos,
                       fmt::format("{} {}: required segment missing",
                                   fr.rule->id.empty() ? "header" : fr.rule->id, n.segment->id));
      } else if (n.loop && n.loop->usage == Usage::kRequired) {
        const SegmentRule* trig = n.loop->trigger();
        segmentFinding(-1, trig ? trig->id : std::string(), n.loop->id, "3", pos,
                       fmt::format("required loop {} ({}) missing", n.loop->id, n.loop->name));
      }
    }
  }

 public:
  const SpecLibrary* dictionary_ = nullptr;
  std::vector<const SegmentRule*> placed_;  // by position in the transaction set

 private:
  const Document& doc_;
  Transaction& tx_;
  std::vector<Finding>& findings_;
  int ii_, gi_, ti_;
  std::vector<Frame> stack_;
};

}  // namespace

void checkElements(const Document& doc, const SpecLibrary& specs, const Segment& s,
                   const SegmentRule* rule, const std::string& loopId, int interchange, int group,
                   int transaction, int position, std::vector<Finding>& out);

void Document::buildLoops(const SpecLibrary& specs) {
  if (loopsBuilt_) return;
  loopsBuilt_ = true;
  for (std::size_t ii = 0; ii < interchanges_.size(); ++ii) {
    auto& ic = interchanges_[ii];
    for (std::size_t gi = 0; gi < ic.groups.size(); ++gi) {
      auto& g = ic.groups[gi];
      for (std::size_t ti = 0; ti < g.transactions.size(); ++ti) {
        Transaction& tx = g.transactions[ti];
        tx.spec = specs.find(tx.setId, tx.convention);
        if (!tx.spec) continue;
        LoopBuilder b(*this, tx, static_cast<int>(ii), static_cast<int>(gi), static_cast<int>(ti),
                      findings_);
        b.dictionary_ = &specs;
        b.run();
        if (!validated_) continue;
        // Element rules of every placed segment (validate() runs this pass).
        for (std::uint32_t li = 0; li < tx.loops.size(); ++li) {
          for (const Loop::Item& item : tx.loops[li].items) {
            if (item.isLoop) continue;
            const SegmentRule* rule = b.placed_[item.index - tx.st];
            checkElements(*this, specs, segments_[item.index], rule, tx.loops[li].id,
                          static_cast<int>(ii), static_cast<int>(gi), static_cast<int>(ti),
                          static_cast<int>(item.index - tx.st) + 1, findings_);
          }
        }
      }
    }
  }
}

}  // namespace sb::x12
