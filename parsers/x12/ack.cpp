#include "parsers/x12/ack.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace sb::x12 {

namespace {

bool isError(const Finding& f) {
  return f.severity == Severity::kError;
}

// Out of line: g++ 12 misreports string literals copied into fresh strings inline (-Wrestrict).
[[gnu::noinline]] std::string text(const char* literal) {
  return std::string(literal);
}

std::vector<const Finding*> findingsAt(const Document& doc, std::size_t interchange, Level level,
                                       int group = -1, int transaction = -1) {
  std::vector<const Finding*> out;
  for (const Finding& f : doc.findings()) {
    if (f.level != level || f.interchange != static_cast<int>(interchange)) continue;
    if (group >= 0 && f.group != group) continue;
    if (transaction >= 0 && f.transaction != transaction) continue;
    out.push_back(&f);
  }
  return out;
}

// IK303 holds at most 4 characters: the loop's number ("2010" for 2010BA), as 999s carry it.
std::string loopCode(const std::string& loopId) {
  return loopId.substr(0, 4);
}

std::pair<std::string, std::string> nowDateTime() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[16], time[8];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  std::strftime(time, sizeof time, "%H%M", &tm);
  return {date, time};
}

}  // namespace

AckPlan planAck(const Document& doc, std::size_t index, const AckOptions& options) {
  AckPlan plan;
  const Interchange& ic = doc.interchanges().at(index);
  for (const Finding* f : findingsAt(doc, index, Level::kInterchange)) {
    if (!isError(*f)) continue;
    plan.interchangeRejected = true;
    plan.ta1Code = f->x12Code;
    plan.ta1Status = 'R';
    plan.sendTa1 = true;
    break;
  }
  if (!plan.interchangeRejected) {
    plan.ta1Code = "000";
    plan.sendTa1 = options.ta1WhenRequested && ic.ackRequested == "1";
    for (const Group& g : ic.groups) {
      if (g.functionalId == "FA") continue;  // acknowledgements are not acknowledged
      ++plan.groups;
      for (const Transaction& t : g.transactions)
        (t.rejected ? plan.rejectedSets : plan.acceptedSets)++;
    }
  }
  return plan;
}

int ackSetCount(const Document& doc, std::size_t index) {
  return planAck(doc, index).groups;
}

std::string buildAcknowledgement(const Document& doc, std::size_t index, const AckNumbers& numbers,
                                 const AckOptions& options) {
  const AckPlan plan = planAck(doc, index, options);
  if (!plan.sendTa1 && plan.groups == 0) return {};
  const Interchange& ic = doc.interchanges().at(index);
  const Segment& isa = doc.segments()[ic.isa];
  Delimiters d = isa.delimiters();
  if (d.suffix.empty() && d.segment == '~') d.suffix = "\n";
  auto [date8, time4] = nowDateTime();
  if (!options.date8.empty()) date8 = options.date8;
  if (!options.time4.empty()) time4 = options.time4;
  Writer w(d);
  // A rejected ISA may hold anything: what is copied back is made valid, so the answer itself
  // always parses (an unusable value becomes a neutral one: ZZ, UNKNOWN, zeros).
  auto clean = [&](std::string_view v) {
    std::string out;
    for (char c : v) {
      const bool printable = c >= ' ' && c <= '~';
      if (printable && c != d.element && c != d.segment && c != d.component && c != d.repetition)
        out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  };
  auto digits = [](std::string_view v, std::size_t n) {
    const bool ok = v.size() == n &&
                    std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    return ok ? std::string(v) : std::string(n, '0');
  };
  auto qualifier = [](std::string_view q) {
    return isInterchangeIdQualifier(q) ? std::string(q) : text("ZZ");
  };
  auto id = [&](std::string_view v) {
    std::string c = clean(v);
    return c.empty() ? text("UNKNOWN") : c;
  };
  const std::string version =
      digits(ic.version, 5) == ic.version ? ic.version : text("00501");
  const std::string usage =
      ic.usage == "P" || ic.usage == "T" || ic.usage == "I" ? ic.usage : text("P");
  w.segment(isaElements(d, qualifier(ic.receiverQualifier), id(ic.receiverId),
                        qualifier(ic.senderQualifier), id(ic.senderId), date8.substr(2), time4,
                        version, numbers.interchange, false, usage));
  if (plan.sendTa1) {
    w.segment({"TA1", digits(ic.controlNumber, 9), digits(ic.date, 6), digits(ic.time, 4),
               std::string(1, plan.ta1Status), plan.ta1Code});
  }
  int groupsWritten = 0;
  if (plan.groups > 0) {
    // One functional group (FA) holding one 999 per inbound functional group.
    const Group& first = *std::find_if(ic.groups.begin(), ic.groups.end(),
                                       [](const Group& g) { return g.functionalId != "FA"; });
    const Segment& firstGs = doc.segments()[first.gs];
    w.segment({"GS", "FA", std::string(firstGs.element(3)), std::string(firstGs.element(2)), date8,
               time4, std::to_string(numbers.group), "X", "005010X231A1"});
    ++groupsWritten;
    std::int64_t setNumber = numbers.firstSet;
    int sets = 0;
    for (std::size_t gi = 0; gi < ic.groups.size(); ++gi) {
      const Group& g = ic.groups[gi];
      if (g.functionalId == "FA") continue;
      const std::size_t before = w.segmentCount();
      const std::string st02 = fmt::format("{:04}", setNumber++);
      w.segment({"ST", "999", st02, "005010X231A1"});
      w.segment({"AK1", g.functionalId, g.controlNumber, g.version});
      int accepted = 0;
      for (std::size_t ti = 0; ti < g.transactions.size(); ++ti) {
        const Transaction& t = g.transactions[ti];
        const Segment& st = doc.segments()[t.st];
        w.segment({"AK2", t.setId, t.controlNumber, std::string(st.element(3))});
        // IK3 per segment in error, with its IK4s; element errors of a segment that has no
        // segment-level error get an IK3 with code 8 ("segment has data element errors").
        const auto segs =
            findingsAt(doc, index, Level::kSegment, static_cast<int>(gi), static_cast<int>(ti));
        const auto elems =
            findingsAt(doc, index, Level::kElement, static_cast<int>(gi), static_cast<int>(ti));
        std::map<std::int64_t, std::vector<const Finding*>> elementsBySegment;
        for (const Finding* f : elems) elementsBySegment[f->segmentIndex].push_back(f);
        auto writeIk4s = [&](std::int64_t segment) {
          const auto it = elementsBySegment.find(segment);
          if (it == elementsBySegment.end()) return;
          for (const Finding* e : it->second) {
            std::string pos = std::to_string(e->element);
            if (e->component > 0 || e->repetition > 0)
              pos += d.component + std::to_string(std::max(e->component, 1));
            if (e->repetition > 0) pos += d.component + std::to_string(e->repetition);
            std::string bad = e->badValue;
            // IK404 is copied data: it must not carry our delimiters.
            std::erase_if(bad, [&](char c) {
              return c == d.element || c == d.segment || c == d.component ||
                     (d.repetition && c == d.repetition);
            });
            w.segment({"IK4", pos, e->elementRef, e->x12Code, bad});
          }
          elementsBySegment.erase(it);
        };
        // In source order: segment findings and element-only segments.
        std::vector<std::pair<int, const Finding*>> order;
        for (const Finding* f : segs) order.emplace_back(f->segmentPosition, f);
        for (const auto& entry : elementsBySegment) {
          const std::int64_t segment =
              entry.first;  // not a structured binding: clang 14 cannot capture those
          const bool hasSegmentFinding =
              std::any_of(segs.begin(), segs.end(),
                          [&](const Finding* f) { return f->segmentIndex == segment; });
          if (!hasSegmentFinding)
            order.emplace_back(entry.second.front()->segmentPosition, nullptr);
        }
        std::stable_sort(order.begin(), order.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& item : order) {
          const int position = item.first;
          const Finding* f = item.second;
          if (f) {
            w.segment({"IK3", f->segmentId, std::to_string(f->segmentPosition), loopCode(f->loopId),
                       f->x12Code});
            if (f->segmentIndex >= 0) writeIk4s(f->segmentIndex);
          } else {
            const auto it = std::find_if(
                elementsBySegment.begin(), elementsBySegment.end(),
                [&](const auto& e) { return e.second.front()->segmentPosition == position; });
            if (it == elementsBySegment.end()) continue;
            const Finding* e = it->second.front();
            w.segment({"IK3", e->segmentId, std::to_string(e->segmentPosition), loopCode(e->loopId),
                       "8"});
            writeIk4s(e->segmentIndex);
          }
        }
        std::vector<std::string> ik5 = {"IK5", t.rejected ? "R" : "A"};
        for (const Finding* f : findingsAt(doc, index, Level::kTransaction, static_cast<int>(gi),
                                           static_cast<int>(ti))) {
          if (ik5.size() < 7) ik5.push_back(f->x12Code);
        }
        // IK502..: the transaction's own codes, then 5 when segments are in error.
        const bool segmentsInError = !segs.empty() || !elems.empty();
        if (t.rejected && (ik5.size() == 2 || segmentsInError) && ik5.size() < 7)
          ik5.push_back("5");
        if (!t.rejected && (!segs.empty() || !elems.empty())) ik5[1].assign(1, 'E');
        w.segment(ik5);
        if (!t.rejected) ++accepted;
      }
      const auto groupFindings = findingsAt(doc, index, Level::kGroup, static_cast<int>(gi));
      const bool groupError = std::any_of(groupFindings.begin(), groupFindings.end(),
                                          [](const Finding* f) { return isError(*f); });
      const int received = static_cast<int>(g.transactions.size());
      std::string status = "A";
      if (groupError || accepted == 0)
        status = "R";
      else if (accepted < received)
        status = "P";
      if (groupError) accepted = 0;
      const std::string included =
          g.ge ? std::string(doc.segments()[*g.ge].element(1)) : std::to_string(received);
      std::vector<std::string> ak9 = {"AK9", status,
                                      included.empty() ? std::to_string(received) : included,
                                      std::to_string(received), std::to_string(accepted)};
      for (const Finding* f : groupFindings) {
        if (ak9.size() < 10) ak9.push_back(f->x12Code);
      }
      w.segment(ak9);
      const std::size_t count = w.segmentCount() - before + 1;
      w.segment({"SE", std::to_string(count), st02});
      ++sets;
    }
    w.segment({"GE", std::to_string(sets), std::to_string(numbers.group)});
  }
  w.segment({"IEA", std::to_string(groupsWritten), fmt::format("{:09}", numbers.interchange)});
  return w.take();
}

}  // namespace sb::x12
