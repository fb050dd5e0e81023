// Scanning (segments and element offsets) and envelopes (ISA/IEA, GS/GE, ST/SE) with their
// control numbers and counts. Loops and element rules are in loops.cpp and validate.cpp.
#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "parsers/x12/x12.h"

namespace sb::x12 {

namespace {

// ISA is fixed width: the element separator sits at these offsets of a well-formed ISA.
constexpr std::size_t kIsaSeparatorOffsets[16] = {3,  6,  17, 20, 31, 34, 50,  53,
                                                  69, 76, 81, 83, 89, 99, 101, 103};
constexpr std::size_t kIsaLength = 106;  // including the segment terminator

bool isSpaceOrBreak(char c) {
  return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool validSegmentId(std::string_view id) {
  if (id.size() < 2 || id.size() > 3) return false;
  if (id[0] < 'A' || id[0] > 'Z') return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

// Skips a UTF-8 byte order mark and leading white space.
std::size_t startOffset(std::string_view raw) {
  std::size_t pos = 0;
  if (raw.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < raw.size() && isSpaceOrBreak(raw[pos])) ++pos;
  return pos;
}

bool validDate6(std::string_view d) {
  if (d.size() != 6 || !allDigits(d)) return false;
  const int mm = (d[2] - '0') * 10 + (d[3] - '0');
  const int dd = (d[4] - '0') * 10 + (d[5] - '0');
  return mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
}

bool validTime4(std::string_view t) {
  if (t.size() != 4 || !allDigits(t)) return false;
  const int hh = (t[0] - '0') * 10 + (t[1] - '0');
  const int mm = (t[2] - '0') * 10 + (t[3] - '0');
  return hh <= 23 && mm <= 59;
}

}  // namespace

bool isInterchangeIdQualifier(std::string_view q) {
  static const std::set<std::string_view> kQualifiers = {"01", "14", "20", "27", "28", "29",
                                                         "30", "33", "ZZ", "02", "08", "09",
                                                         "12", "AM", "NR", "SN", "SA"};
  return kQualifiers.count(q) > 0;
}

// ---- Segment ----

std::string_view Segment::element(std::size_t position) const {
  if (position > sepCount_) return {};
  const std::size_t begin = position == 0 ? 0 : seps_[position - 1] + 1;
  const std::size_t end = position < sepCount_ ? seps_[position] : raw_.size();
  return raw_.substr(begin, end - begin);
}

std::size_t Segment::repetitionCount(std::size_t position) const {
  const std::string_view e = element(position);
  if (e.empty()) return 0;
  if (delims_->repetition == 0) return 1;
  return 1 + static_cast<std::size_t>(std::count(e.begin(), e.end(), delims_->repetition));
}

std::string_view Segment::component(std::size_t position, std::size_t comp, std::size_t rep) const {
  std::string_view e = element(position);
  if (delims_->repetition != 0) {
    for (std::size_t r = 0; r < rep; ++r) {
      const std::size_t p = e.find(delims_->repetition);
      if (p == std::string_view::npos) return {};
      e.remove_prefix(p + 1);
    }
    e = e.substr(0, e.find(delims_->repetition));
  } else if (rep > 0) {
    return {};
  }
  if (comp == 0) return e;
  for (std::size_t c = 1; c < comp; ++c) {
    const std::size_t p = e.find(delims_->component);
    if (p == std::string_view::npos) return {};
    e.remove_prefix(p + 1);
  }
  return e.substr(0, e.find(delims_->component));
}

std::size_t Segment::componentCount(std::size_t position, std::size_t rep) const {
  const std::string_view e = component(position, 0, rep);
  if (e.empty()) return 0;
  return 1 + static_cast<std::size_t>(std::count(e.begin(), e.end(), delims_->component));
}

// ---- delimiters ----

std::optional<Delimiters> readDelimiters(std::string_view raw, std::string* whyNot) {
  auto fail = [&](std::string why) -> std::optional<Delimiters> {
    if (whyNot) *whyNot = std::move(why);
    return std::nullopt;
  };
  const std::size_t start = startOffset(raw);
  raw.remove_prefix(start);
  if (raw.size() < 4 || raw.substr(0, 3) != "ISA") return fail("the input does not start with ISA");
  Delimiters d;
  d.element = raw[3];
  if (std::isalnum(static_cast<unsigned char>(d.element)) || d.element == ' ') {
    return fail("ISA: the element separator must not be a letter, digit or space");
  }
  // A well-formed ISA has its separators at fixed offsets; a sloppy one (fields not padded) is
  // read by counting separators instead, and reported.
  std::size_t isa16 = 0;
  if (raw.size() >= kIsaLength &&
      std::all_of(std::begin(kIsaSeparatorOffsets), std::end(kIsaSeparatorOffsets),
                  [&](std::size_t off) { return raw[off] == d.element; })) {
    isa16 = 104;
  } else {
    std::size_t count = 0, pos = 0;
    while (count < 16 && pos < raw.size()) {
      if (raw[pos] == d.element) ++count;
      ++pos;
    }
    if (count < 16 || pos + 1 >= raw.size()) return fail("ISA: fewer than 16 elements");
    isa16 = pos;
  }
  d.component = raw[isa16];
  d.segment = raw[isa16 + 1];
  // ISA11: the repetition separator from 00402 on; a letter ('U') means none (4010 style).
  const std::size_t isa11Begin = [&] {
    std::size_t count = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == d.element && ++count == 11) return i + 1;
    }
    return std::size_t{0};
  }();
  const char isa11 = raw[isa11Begin];
  // A letter ('U') or a space (a mangled field) is no separator.
  d.repetition = std::isalnum(static_cast<unsigned char>(isa11)) || isa11 == ' ' ? 0 : isa11;
  if (d.segment == d.element || d.segment == d.component || d.component == d.element ||
      (d.repetition != 0 &&
       (d.repetition == d.element || d.repetition == d.segment || d.repetition == d.component))) {
    return fail("ISA: the delimiters are not distinct");
  }
  if (std::isalnum(static_cast<unsigned char>(d.component)) || d.component == ' ') {
    return fail("ISA16: the component separator must not be a letter, digit or space");
  }
  // The ISA's own fields are padded with spaces, so a space can never be a delimiter (a sloppy
  // ISA read by counting separators could otherwise end in one, and no answer to it could be
  // written with it).
  if (std::isalnum(static_cast<unsigned char>(d.segment)) || d.segment == ' ') {
    return fail("ISA: the segment terminator must not be a letter, digit or space");
  }
  std::size_t after = isa16 + 2;
  if (d.segment != '\r' && d.segment != '\n') {
    if (raw.substr(after, 2) == "\r\n")
      d.suffix = "\r\n";
    else if (after < raw.size() && raw[after] == '\n')
      d.suffix = "\n";
    else if (after < raw.size() && raw[after] == '\r')
      d.suffix = "\r";
  }
  return d;
}

// ---- Document ----

Document::Document(Document&& other) noexcept {
  *this = std::move(other);
}

Document& Document::operator=(Document&& other) noexcept {
  const bool ownsRaw = !other.owned_.empty() && other.raw_.data() == other.owned_.data();
  owned_ = std::move(other.owned_);
  // A short owned string moves its bytes (small-string buffer): point at the new place. The
  // segments index the same bytes, so they move with it.
  if (ownsRaw && owned_.data() != other.raw_.data()) {
    raw_ = owned_;
    delimiterSets_ = std::move(other.delimiterSets_);
    segments_.clear();  // inputs this small hold no segment
  } else {
    raw_ = other.raw_;
    delimiterSets_ = std::move(other.delimiterSets_);
    segments_ = std::move(other.segments_);
  }
  separators_ = std::move(other.separators_);
  interchanges_ = std::move(other.interchanges_);
  findings_ = std::move(other.findings_);
  loopsBuilt_ = other.loopsBuilt_;
  validated_ = other.validated_;
  return *this;
}
Document::~Document() = default;

const Delimiters& Document::delimiters() const {
  static const Delimiters kDefault;
  return delimiterSets_.empty() ? kDefault : *delimiterSets_.front();
}

Document Document::parse(std::string_view raw, const Limits& limits) {
  Document doc;
  doc.raw_ = raw;
  doc.scan(limits);
  doc.envelopes();
  return doc;
}

Document Document::parseOwned(std::string raw, const Limits& limits) {
  Document doc;
  doc.owned_ = std::move(raw);
  doc.raw_ = doc.owned_;
  doc.scan(limits);
  doc.envelopes();
  return doc;
}

namespace {

Finding interchangeFinding(std::string code, int interchange, std::int64_t segment,
                           std::string message) {
  Finding f;
  f.level = Level::kInterchange;
  f.x12Code = std::move(code);
  f.interchange = interchange;
  f.segmentIndex = segment;
  f.message = std::move(message);
  return f;
}

// Out of line: g++ 12 misreports a string copied into a fresh Finding inline as uninitialized.
[[gnu::noinline]] Finding segmentEnvelopeFinding(Level level, const char* code, int interchange,
                                                 int group, int transaction, std::size_t segment,
                                                 std::string_view segmentId, int position,
                                                 std::string message) {
  Finding f;
  f.level = level;
  f.x12Code = code;
  f.interchange = interchange;
  f.group = group;
  f.transaction = transaction;
  f.segmentIndex = static_cast<std::int64_t>(segment);
  f.segmentId = std::string(segmentId);
  f.segmentPosition = position;
  f.message = std::move(message);
  return f;
}

}  // namespace

void Document::scan(const Limits& limits) {
  if (raw_.size() > limits.maxBytes) {
    findings_.push_back(
        interchangeFinding("024", -1, -1,
                           fmt::format("input of {} bytes is over the limit of {} bytes",
                                       raw_.size(), limits.maxBytes)));
    return;
  }
  std::string why;
  std::size_t pos = startOffset(raw_);
  if (!readDelimiters(raw_.substr(pos), &why)) {
    findings_.push_back(
        interchangeFinding(raw_.substr(pos, 3) == "ISA" ? "026" : "022", -1, -1, why));
    return;
  }
  const Delimiters* current = nullptr;
  segments_.reserve(raw_.size() / 32 + 4);
  separators_.reserve(raw_.size() / 6 + 16);
  const char* base = raw_.data();
  const std::size_t size = raw_.size();
  while (pos < size) {
    if (size - pos > 3 && std::memcmp(base + pos, "ISA", 3) == 0 &&
        !std::isalnum(static_cast<unsigned char>(base[pos + 3]))) {
      // Each interchange declares its own delimiters.
      if (auto d = readDelimiters(raw_.substr(pos), &why)) {
        delimiterSets_.push_back(std::make_unique<Delimiters>(std::move(*d)));
        current = delimiterSets_.back().get();
      }
    }
    if (current == nullptr) break;
    // One pass finds the element separators and the terminator together: segments and elements
    // are short, so a byte loop beats a memchr call per element.
    const std::size_t sepStart = separators_.size();
    const char elementChar = current->element;
    const char segmentChar = current->segment;
    const char* q = base + pos;
    const char* const stop = base + size;
    const std::size_t sepLimit = sepStart + limits.maxElementsPerSegment + 1;
    while (q < stop && *q != segmentChar) {
      if (*q == elementChar && separators_.size() < sepLimit) {
        separators_.push_back(static_cast<std::uint32_t>(q - (base + pos)));
      }
      ++q;
    }
    const char* end = q < stop ? q : nullptr;
    const std::size_t segEnd = end ? static_cast<std::size_t>(end - base) : size;
    if (segEnd > pos) {
      if (segments_.size() >= limits.maxSegments) {
        findings_.push_back(
            interchangeFinding("024", -1, static_cast<std::int64_t>(segments_.size()),
                               fmt::format("more than {} segments", limits.maxSegments)));
        break;
      }
      Segment seg;
      seg.raw_ = raw_.substr(pos, segEnd - pos);
      seg.offset_ = pos;
      seg.index_ = segments_.size();
      seg.delims_ = current;
      seg.sepFirst_ = static_cast<std::uint32_t>(sepStart);
      // Elements past the limit are not indexed: they stay in the raw bytes, and validation
      // reports the segment as having too many elements.
      seg.sepCount_ = static_cast<std::uint32_t>(separators_.size() - sepStart);
      if (!end) {
        findings_.push_back(interchangeFinding(
            "023", static_cast<int>(delimiterSets_.size()) - 1,
            static_cast<std::int64_t>(segments_.size()),
            fmt::format(
                "the last segment ({}) has no segment terminator",
                seg.raw_.substr(0, std::min(seg.raw_.find(current->element), std::size_t{3})))));
      }
      segments_.push_back(std::move(seg));
    }
    pos = segEnd + 1;
    // Line breaks (and stray blanks) after terminators are layout, not data, unless they are a
    // delimiter themselves. The bytes stay in the buffer, so nothing is lost.
    while (pos < size && isSpaceOrBreak(base[pos]) && base[pos] != current->segment &&
           base[pos] != current->element) {
      ++pos;
    }
  }
  // The flat array no longer grows: point each segment at its range.
  for (Segment& seg : segments_) seg.seps_ = separators_.data() + seg.sepFirst_;
}

void Document::envelopes() {
  Interchange* isa = nullptr;
  Group* gs = nullptr;
  Transaction* st = nullptr;
  std::size_t stSegments = 0;
  int ii = -1;
  auto groupIndex = [&] { return isa && gs ? static_cast<int>(gs - isa->groups.data()) : -1; };
  auto txIndex = [&] { return gs && st ? static_cast<int>(st - gs->transactions.data()) : -1; };
  auto structural = [&](std::size_t i, std::string message) {
    findings_.push_back(
        interchangeFinding("024", ii, static_cast<std::int64_t>(i), std::move(message)));
  };
  auto closeTransaction = [&](std::size_t at) {
    if (!st) return;
    findings_.push_back(
        segmentEnvelopeFinding(Level::kTransaction, "2", ii, groupIndex(), txIndex(), at, "SE", 0,
                               fmt::format("transaction set {} (ST02 {}): SE trailer missing",
                                           st->setId, st->controlNumber)));
    st = nullptr;
  };
  auto closeGroup = [&](std::size_t at) {
    closeTransaction(at);
    if (!gs) return;
    findings_.push_back(segmentEnvelopeFinding(
        Level::kGroup, "3", ii, groupIndex(), -1, at, "GE", 0,
        fmt::format("functional group {}: GE trailer missing", gs->controlNumber)));
    gs = nullptr;
  };
  auto closeInterchange = [&](std::size_t at) {
    closeGroup(at);
    if (!isa) return;
    findings_.push_back(
        interchangeFinding("023", ii, static_cast<std::int64_t>(at),
                           fmt::format("interchange {}: IEA trailer missing", isa->controlNumber)));
    isa->end = at < segments_.size() ? segments_[at].offset() : raw_.size();
    isa = nullptr;
  };

  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    const std::string_view id = s.id();
    if (st) ++stSegments;
    // A group or transaction finding about this segment (GS, GE, ST or SE).
    auto report = [&](Level level, const char* code, std::string message) {
      findings_.push_back(segmentEnvelopeFinding(
          level, code, ii, groupIndex(), level == Level::kTransaction ? txIndex() : -1, i, id,
          id == "SE" ? static_cast<int>(stSegments) : 0, std::move(message)));
    };
    if (id == "ISA") {
      closeInterchange(i);
      interchanges_.emplace_back();
      isa = &interchanges_.back();
      ii = static_cast<int>(interchanges_.size()) - 1;
      isa->isa = i;
      isa->begin = s.offset();
      isa->senderQualifier = trim(s.element(5));
      isa->senderId = trim(s.element(6));
      isa->receiverQualifier = trim(s.element(7));
      isa->receiverId = trim(s.element(8));
      isa->date = s.element(9);
      isa->time = s.element(10);
      isa->version = s.element(12);
      isa->controlNumber = s.element(13);
      isa->ackRequested = s.element(14);
      isa->usage = s.element(15);
      auto check = [&](bool ok, const char* code, std::string message) {
        if (!ok)
          findings_.push_back(
              interchangeFinding(code, ii, static_cast<std::int64_t>(i), std::move(message)));
      };

      check(s.elementCount() == 16, "022",
            fmt::format("ISA has {} elements, expected 16", s.elementCount()));
      check(s.element(1) == "00" || s.element(1) == "03", "010",
            "ISA01 authorization information qualifier is not 00 or 03");
      check(s.element(3) == "00" || s.element(3) == "01", "012",
            "ISA03 security information qualifier is not 00 or 01");
      check(isInterchangeIdQualifier(s.element(5)), "005",
            "ISA05 interchange sender id qualifier is not a valid code");
      check(!isa->senderId.empty(), "006", "ISA06 interchange sender id is empty");
      check(isInterchangeIdQualifier(s.element(7)), "007",
            "ISA07 interchange receiver id qualifier is not a valid code");
      check(!isa->receiverId.empty(), "008", "ISA08 interchange receiver id is empty");
      check(validDate6(isa->date), "014", "ISA09 interchange date is not a valid YYMMDD date");
      check(validTime4(isa->time), "015", "ISA10 interchange time is not a valid HHMM time");
      check(isa->version.size() == 5 && allDigits(isa->version), "017",
            "ISA12 interchange control version number is not valid");
      check(isa->controlNumber.size() == 9 && allDigits(isa->controlNumber), "018",
            "ISA13 interchange control number is not 9 digits");
      check(isa->ackRequested == "0" || isa->ackRequested == "1", "019",
            "ISA14 acknowledgment requested is not 0 or 1");
      check(isa->usage == "P" || isa->usage == "T" || isa->usage == "I", "020",
            "ISA15 usage indicator is not P or T");
      // Interchange control numbers must be unique within the file (duplicates across files
      // are the ingest's business).
      for (int k = 0; k < ii; ++k) {
        if (interchanges_[static_cast<std::size_t>(k)].controlNumber == isa->controlNumber) {
          findings_.push_back(interchangeFinding(
              "025", ii, static_cast<std::int64_t>(i),
              fmt::format("ISA13 {} is used by an earlier interchange", isa->controlNumber)));
          break;
        }
      }
    } else if (id == "IEA") {
      if (!isa) {
        structural(i, "IEA without ISA");
        continue;
      }
      closeGroup(i);
      isa->iea = i;
      isa->end = i + 1 < segments_.size() ? segments_[i + 1].offset() : raw_.size();
      if (s.element(1) != std::to_string(isa->groups.size())) {
        findings_.push_back(interchangeFinding(
            "021", ii, static_cast<std::int64_t>(i),
            fmt::format("IEA01 says {} functional groups, the interchange has {}", s.element(1),
                        isa->groups.size())));
      }
      if (s.element(2) != isa->controlNumber) {
        findings_.push_back(interchangeFinding(
            "001", ii, static_cast<std::int64_t>(i),
            fmt::format("IEA02 {} does not match ISA13 {}", s.element(2), isa->controlNumber)));
      }
      isa = nullptr;
    } else if (id == "TA1") {
      if (!isa || gs) {
        structural(i, "TA1 outside an interchange or inside a functional group");
        continue;
      }
      isa->ta1.push_back(i);
      ++isa->ta1Count;
    } else if (id == "GS") {
      if (!isa) {
        structural(i, "GS outside an interchange");
        continue;
      }
      closeGroup(i);
      isa->groups.emplace_back();
      gs = &isa->groups.back();
      gs->gs = i;
      gs->functionalId = s.element(1);
      gs->controlNumber = s.element(6);
      gs->version = s.element(8);
      if (!allDigits(gs->controlNumber) || gs->controlNumber.size() > 9) {
        report(Level::kGroup, "6", "GS06 group control number is not 1-9 digits");
      }
      for (std::size_t k = 0; k + 1 < isa->groups.size(); ++k) {
        if (isa->groups[k].controlNumber == gs->controlNumber) {
          report(Level::kGroup, "19",
                 fmt::format("GS06 {} is not unique within the interchange", gs->controlNumber));
          break;
        }
      }
    } else if (id == "GE") {
      if (!gs) {
        structural(i, "GE without GS");
        continue;
      }
      closeTransaction(i);
      gs->ge = i;
      if (s.element(1) != std::to_string(gs->transactions.size())) {
        report(Level::kGroup, "5",
               fmt::format("GE01 says {} transaction sets, the group has {}", s.element(1),
                           gs->transactions.size()));
      }
      if (s.element(2) != gs->controlNumber) {
        report(Level::kGroup, "4",
               fmt::format("GE02 {} does not match GS06 {}", s.element(2), gs->controlNumber));
      }
      gs = nullptr;
    } else if (id == "ST") {
      if (!gs) {
        structural(i, "ST outside a functional group");
        continue;
      }
      closeTransaction(i);
      gs->transactions.emplace_back();
      st = &gs->transactions.back();
      st->st = i;
      st->setId = s.element(1);
      st->controlNumber = s.element(2);
      st->convention = s.element(3).empty() ? gs->version : std::string(s.element(3));
      stSegments = 1;
      if (st->setId.size() != 3 || !allDigits(st->setId)) {
        report(Level::kTransaction, "6", "ST01 transaction set identifier is missing or invalid");
      }
      if (st->controlNumber.size() < 4 || st->controlNumber.size() > 9) {
        report(Level::kTransaction, "7",
               "ST02 transaction set control number is not 4-9 characters");
      }
      for (std::size_t k = 0; k + 1 < gs->transactions.size(); ++k) {
        if (gs->transactions[k].controlNumber == st->controlNumber) {
          report(
              Level::kTransaction, "23",
              fmt::format("ST02 {} is not unique within the functional group", st->controlNumber));
          break;
        }
      }
    } else if (id == "SE") {
      if (!st) {
        structural(i, "SE without ST");
        continue;
      }
      st->se = i;
      if (s.element(1) != std::to_string(stSegments)) {
        report(Level::kTransaction, "4",
               fmt::format("SE01 says {} segments, the transaction set has {}", s.element(1),
                           stSegments));
      }
      if (s.element(2) != st->controlNumber) {
        report(Level::kTransaction, "3",
               fmt::format("SE02 {} does not match ST02 {}", s.element(2), st->controlNumber));
      }
      st = nullptr;
    } else if (!st) {
      if (!validSegmentId(id) && !isa) continue;
      structural(
          i, fmt::format("segment {} outside a transaction set", validSegmentId(id) ? id : "?"));
    }
  }
  closeInterchange(segments_.size());
}

std::size_t Document::transactionEnd(const Transaction& t) const {
  if (t.se) return *t.se + 1;
  std::size_t i = t.st + 1;
  while (i < segments_.size()) {
    const std::string_view id = segments_[i].id();
    if (id == "ST" || id == "GE" || id == "IEA" || id == "ISA" || id == "GS") break;
    ++i;
  }
  return i;
}

// ---- Writer ----

void Writer::segment(const std::vector<std::string>& elements) {
  if (elements.empty() || !validSegmentId(elements[0])) {
    throw std::invalid_argument("X12 writer: a segment needs a 2-3 character id");
  }
  std::size_t last = elements.size();
  while (last > 1 && elements[last - 1].empty()) --last;
  const bool isIsa = elements[0] == "ISA";
  for (std::size_t i = 0; i < last; ++i) {
    const std::string& e = elements[i];
    for (char c : e) {
      const bool isaDelimiterField = isIsa && (i == 11 || i == 16);
      if (!isaDelimiterField && (c == d_.element || c == d_.segment)) {
        throw std::invalid_argument(
            fmt::format("X12 writer: {}{:02} contains a delimiter", elements[0], i));
      }
    }
    if (i > 0) out_ += d_.element;
    out_ += e;
  }
  out_ += d_.segment;
  out_ += d_.suffix;
  ++count_;
}

std::vector<std::string> isaElements(const Delimiters& d, std::string_view senderQualifier,
                                     std::string_view senderId, std::string_view receiverQualifier,
                                     std::string_view receiverId, std::string_view date6,
                                     std::string_view time4, std::string_view version,
                                     std::int64_t controlNumber, bool ackRequested,
                                     std::string_view usage) {
  auto pad = [](std::string_view v, std::size_t width) {
    std::string s(v.substr(0, width));
    s.resize(width, ' ');
    return s;
  };
  return {"ISA",
          "00",
          pad("", 10),
          "00",
          pad("", 10),
          pad(senderQualifier, 2),
          pad(senderId, 15),
          pad(receiverQualifier, 2),
          pad(receiverId, 15),
          std::string(date6),
          std::string(time4),
          std::string(1, d.repetition ? d.repetition : 'U'),
          std::string(version),
          fmt::format("{:09}", controlNumber),
          ackRequested ? "1" : "0",
          std::string(usage),
          std::string(1, d.component)};
}

}  // namespace sb::x12
