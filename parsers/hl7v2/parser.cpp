// Parsing, indexing, path access and edits of HL7 v2 messages.
//
// Index layout: one SegIdx per segment (offsets into the current buffer) and one flat vector with
// the offset of every field separator. Blank lines are not segments; they stay in the buffer and
// therefore survive serialize(). Edits never patch the index in place: they splice the current
// buffer into a new owned one and re-index it, which keeps the read path simple and fast.
//
// Value semantics of get()/getRaw():
//   - a field path without [n] addresses the first repetition ("PID-3" == "PID-3[1]");
//   - a path without a field ("PID") yields the whole segment, encoded;
//   - MSH-1 and MSH-2 (also FHS/BHS) are returned verbatim and never split or decoded;
//   - nullopt only when the segment or the field is absent; a missing repetition, component or
//     subcomponent of a present field is "".
#include <array>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <limits>

#include "parsers/hl7v2/detail.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7 {

namespace detail {

std::string safeSegmentId(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 3)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x21 && u < 0x7f) ? c : '?';
  }
  return out;
}

std::string nowTimestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

}  // namespace detail

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

struct SegIdx {
  std::uint32_t begin;
  std::uint32_t end;
  std::uint32_t firstSep;  // index into seps
  std::uint32_t sepCount;
};

bool isAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool usableDelimiter(char c) {
  return !isAlnum(c) && c != '\r' && c != '\n' && c != '\0';
}

Finding parseFailure(ErrorCode code, int field, std::string text) {
  Finding f;
  f.code = code;
  f.location.segment = "MSH";
  f.location.segmentSequence = 1;
  f.location.field = field;
  f.text = std::move(text);
  return f;
}

// Replaces the n-th (0-based) piece of `s`, appending delimiters when `s` has fewer pieces.
std::string replacePiece(std::string_view s, char delim, std::size_t n, std::string_view repl) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t next = s.find(delim, start);
    if (next == std::string_view::npos) {
      std::string out(s);
      out.append(n - i, delim);
      out += repl;
      return out;
    }
    start = next + 1;
  }
  const std::size_t end = s.find(delim, start);
  std::string out(s.substr(0, start));
  out += repl;
  if (end != std::string_view::npos) out += s.substr(end);
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

// ---- Escapes ----

std::string decodeEscapes(std::string_view s, const Delimiters& d) {
  const std::size_t first = s.find(d.escape);
  if (first == std::string_view::npos) return std::string(s);
  std::string out(s.substr(0, first));
  out.reserve(s.size());
  std::size_t i = first;
  while (i < s.size()) {
    const char c = s[i];
    if (c != d.escape) {
      out += c;
      ++i;
      continue;
    }
    const std::size_t close = s.find(d.escape, i + 1);
    if (close == std::string_view::npos) {
      out += s.substr(i);  // an unterminated sequence is data, not markup
      break;
    }
    const std::string_view seq = s.substr(i + 1, close - i - 1);
    bool handled = true;
    if (seq == "F") {
      out += d.field;
    } else if (seq == "S") {
      out += d.component;
    } else if (seq == "T") {
      out += d.subcomponent;
    } else if (seq == "R") {
      out += d.repetition;
    } else if (seq == "E") {
      out += d.escape;
    } else if (seq == "P" && d.truncation != 0) {
      out += d.truncation;
    } else if (seq == ".br") {
      out += '\n';
    } else if (seq == "H" || seq == "N") {
      // Highlighting has no plain-text form; the text itself is kept.
    } else if (seq.size() >= 3 && seq[0] == 'X' && (seq.size() - 1) % 2 == 0) {
      std::string bytes;
      for (std::size_t k = 1; k + 1 < seq.size() && handled; k += 2) {
        const int hi = hexValue(seq[k]);
        const int lo = hexValue(seq[k + 1]);
        if (hi < 0 || lo < 0) {
          handled = false;
        } else {
          bytes += static_cast<char>(hi * 16 + lo);
        }
      }
      if (handled) out += bytes;
    } else {
      handled = false;
    }
    // \Cxxyy\, \Mxxyyzz\, \Zxx\, other formatting commands and malformed sequences are kept
    // verbatim so that nothing the sender wrote is lost.
    if (!handled) out += s.substr(i, close - i + 1);
    i = close + 1;
  }
  return out;
}

std::string encodeEscapes(std::string_view text, const Delimiters& d) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == d.escape) {
      out += d.escape;
      out += 'E';
      out += d.escape;
    } else if (c == d.field) {
      out += d.escape;
      out += 'F';
      out += d.escape;
    } else if (c == d.component) {
      out += d.escape;
      out += 'S';
      out += d.escape;
    } else if (c == d.subcomponent) {
      out += d.escape;
      out += 'T';
      out += d.escape;
    } else if (c == d.repetition) {
      out += d.escape;
      out += 'R';
      out += d.escape;
    } else if (d.truncation != 0 && c == d.truncation) {
      out += d.escape;
      out += 'P';
      out += d.escape;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += d.escape;
      // With '.' as the escape character \.br\ would read as an empty sequence.
      out += d.escape == '.' ? "X0A" : ".br";
      out += d.escape;
    } else {
      out += c;
    }
  }
  return out;
}

std::string encodingCharacters(const Delimiters& d) {
  std::string out{d.component, d.repetition, d.escape, d.subcomponent};
  if (d.truncation != 0) out += d.truncation;
  return out;
}

// ---- Paths and locations ----

namespace {

bool parseNumber(std::string_view text, std::size_t& i, int& out) {
  const std::size_t begin = i;
  long long v = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    v = v * 10 + (text[i] - '0');
    if (v > 1000000) return false;
    ++i;
  }
  if (i == begin || v < 1) return false;
  out = static_cast<int>(v);
  return true;
}

bool parseBracket(std::string_view text, std::size_t& i, int& out) {
  if (i >= text.size() || text[i] != '[') return true;
  ++i;
  if (!parseNumber(text, i, out)) return false;
  if (i >= text.size() || text[i] != ']') return false;
  ++i;
  return true;
}

}  // namespace

std::optional<Path> Path::parse(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<Path> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (text.size() < 3) return fail("segment id must be 3 characters");
  Path p;
  for (std::size_t k = 0; k < 3; ++k) {
    const char c = text[k];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return fail("segment id must be 3 upper-case letters or digits");
    }
  }
  p.segment = std::string(text.substr(0, 3));
  std::size_t i = 3;
  if (!parseBracket(text, i, p.segmentOccurrence)) return fail("bad segment occurrence");
  if (i == text.size()) return p;
  if (text[i] != '-') return fail("expected '-' before the field number");
  ++i;
  if (!parseNumber(text, i, p.field)) return fail("bad field number");
  if (!parseBracket(text, i, p.repetition)) return fail("bad repetition");
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!parseNumber(text, i, p.component)) return fail("bad component number");
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (!parseNumber(text, i, p.subcomponent)) return fail("bad subcomponent number");
    }
  }
  if (i != text.size()) return fail("unexpected characters after the path");
  return p;
}

std::string Path::toString() const {
  std::string out = segment;
  if (segmentOccurrence > 1) out += "[" + std::to_string(segmentOccurrence) + "]";
  if (field <= 0) return out;
  out += "-" + std::to_string(field);
  if (repetition > 1) out += "[" + std::to_string(repetition) + "]";
  if (component > 0) {
    out += "." + std::to_string(component);
    if (subcomponent > 0) out += "." + std::to_string(subcomponent);
  }
  return out;
}

std::string Location::toString() const {
  std::string out = segment;
  if (segmentSequence > 0) out += "[" + std::to_string(segmentSequence) + "]";
  if (field <= 0) return out;
  out += "-" + std::to_string(field);
  if (repetition > 0) out += "[" + std::to_string(repetition) + "]";
  if (component > 0) {
    out += "." + std::to_string(component);
    if (subcomponent > 0) out += "." + std::to_string(subcomponent);
  }
  return out;
}

// ---- Message ----

struct Message::Impl {
  std::string ownedRaw;
  bool ownsRaw = false;
  std::string_view externalRaw;
  std::string edited;
  bool isModified = false;
  Delimiters d;
  std::string terminator = "\r";
  std::size_t start = 0;  // past a UTF-8 byte order mark
  std::vector<SegIdx> segs;
  std::vector<std::uint32_t> seps;

  std::string_view raw() const { return ownsRaw ? std::string_view(ownedRaw) : externalRaw; }
  std::string_view cur() const { return isModified ? std::string_view(edited) : raw(); }

  std::string_view segRaw(std::size_t i) const {
    return cur().substr(segs[i].begin, segs[i].end - segs[i].begin);
  }
  std::string_view segName(std::size_t i) const {
    const SegIdx& s = segs[i];
    const std::uint32_t e = s.sepCount ? seps[s.firstSep] : s.end;
    return cur().substr(s.begin, e - s.begin);
  }
  bool isHeader(std::size_t i) const { return detail::isHeaderSegment(segName(i)); }
  // Piece k (1-based) after the segment name; k must be <= sepCount.
  std::string_view element(std::size_t i, std::size_t k) const {
    const SegIdx& s = segs[i];
    const std::uint32_t b = seps[s.firstSep + k - 1] + 1;
    const std::uint32_t e = k < s.sepCount ? seps[s.firstSep + k] : s.end;
    return cur().substr(b, e - b);
  }
  std::optional<std::string_view> field(std::size_t i, int f) const {
    if (f <= 0 || i >= segs.size()) return std::nullopt;
    const SegIdx& s = segs[i];
    std::size_t k = static_cast<std::size_t>(f);
    if (isHeader(i)) {
      if (s.sepCount == 0) return std::nullopt;
      if (f == 1) return cur().substr(seps[s.firstSep], 1);
      k = static_cast<std::size_t>(f - 1);
    }
    if (k > s.sepCount) return std::nullopt;
    return element(i, k);
  }
  int fieldCount(std::size_t i) const {
    const SegIdx& s = segs[i];
    if (isHeader(i)) return s.sepCount ? static_cast<int>(s.sepCount) + 1 : 0;
    return static_cast<int>(s.sepCount);
  }
  std::optional<std::size_t> find(std::string_view name, int occurrence) const {
    int seen = 0;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (segName(i) == name && ++seen == occurrence) return i;
    }
    return std::nullopt;
  }

  // Locates the encoded bytes at `p`. `verbatim` is set when they must not be escape-decoded.
  std::optional<std::string_view> locate(const Path& p, bool* verbatim) const {
    *verbatim = false;
    const auto si = find(p.segment, p.segmentOccurrence < 1 ? 1 : p.segmentOccurrence);
    if (!si) return std::nullopt;
    if (p.field <= 0) {
      *verbatim = true;
      return segRaw(*si);
    }
    const auto f = field(*si, p.field);
    if (!f) return std::nullopt;
    const std::size_t rep = p.repetition > 1 ? static_cast<std::size_t>(p.repetition - 1) : 0;
    if (p.field <= 2 && isHeader(*si)) {
      *verbatim = true;
      if (rep > 0 || p.component > 1 || p.subcomponent > 1) return f->substr(f->size());
      return f;
    }
    std::string_view v = detail::piece(*f, d.repetition, rep);
    if (p.component <= 0) return v;
    v = detail::piece(v, d.component, static_cast<std::size_t>(p.component - 1));
    if (p.subcomponent <= 0) return v;
    return detail::piece(v, d.subcomponent, static_cast<std::size_t>(p.subcomponent - 1));
  }

  // Builds the segment/field index of `buf`. With limits, refuses oversized input.
  bool index(std::string_view buf, const Limits* limits, Finding* err);

  void commit(std::string buf) {
    edited = std::move(buf);
    isModified = true;
    index(edited, nullptr, nullptr);
  }
};

bool Message::Impl::index(std::string_view buf, const Limits* limits, Finding* err) {
  segs.clear();
  seps.clear();
  std::string firstTerminator;
  std::array<std::uint8_t, 256> cls{};
  cls[static_cast<unsigned char>(d.field)] = 1;
  cls['\r'] = 2;
  cls['\n'] = 2;
  const char* b = buf.data();
  const std::size_t n = buf.size();
  std::size_t pos = start;
  std::size_t segStart = pos;
  std::size_t firstSep = 0;
  const std::size_t maxFields =
      limits ? limits->maxFieldsPerSegment : std::numeric_limits<std::size_t>::max();
  for (;;) {
    while (pos < n && cls[static_cast<unsigned char>(b[pos])] == 0) ++pos;
    if (pos < n && cls[static_cast<unsigned char>(b[pos])] == 1) {
      seps.push_back(static_cast<std::uint32_t>(pos));
      ++pos;
      if (seps.size() - firstSep > maxFields) {
        if (err) {
          *err = parseFailure(ErrorCode::kHl7SegmentSequence, 0,
                              "segment " + std::to_string(segs.size() + 1) + " has more than " +
                                  std::to_string(maxFields) + " fields");
          err->location = Location{"", static_cast<int>(segs.size() + 1), 0, 0, 0, 0};
        }
        return false;
      }
      continue;
    }
    if (pos > segStart) {
      if (limits && segs.size() >= limits->maxSegments) {
        if (err) {
          *err = parseFailure(
              ErrorCode::kHl7SegmentSequence, 0,
              "message has more than " + std::to_string(limits->maxSegments) + " segments");
          err->location = Location{};
        }
        return false;
      }
      segs.push_back(SegIdx{static_cast<std::uint32_t>(segStart), static_cast<std::uint32_t>(pos),
                            static_cast<std::uint32_t>(firstSep),
                            static_cast<std::uint32_t>(seps.size() - firstSep)});
    }
    firstSep = seps.size();
    if (pos >= n) break;
    const std::size_t tl = (b[pos] == '\r' && pos + 1 < n && b[pos + 1] == '\n') ? 2 : 1;
    if (firstTerminator.empty()) firstTerminator.assign(b + pos, tl);
    pos += tl;
    segStart = pos;
  }
  if (!firstTerminator.empty()) terminator = std::move(firstTerminator);
  return true;
}

Message::Message(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::Message(const Message& other)
    : impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}
Message& Message::operator=(const Message& other) {
  if (this != &other) impl_ = other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr;
  return *this;
}
Message::~Message() = default;

ParseResult Message::parse(std::string_view raw, const Limits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->externalRaw = raw;
  return finishParse(std::move(impl), limits);
}

ParseResult Message::parseOwned(std::string raw, const Limits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->ownedRaw = std::move(raw);
  impl->ownsRaw = true;
  return finishParse(std::move(impl), limits);
}

ParseResult Message::finishParse(std::unique_ptr<Impl> impl, const Limits& limits) {
  ParseResult result;
  const std::string_view r = impl->raw();
  if (r.size() > std::numeric_limits<std::uint32_t>::max() - 1) {
    result.error = parseFailure(ErrorCode::kHl7SegmentSequence, 0, "message larger than 4 GiB");
    return result;
  }
  const std::size_t start = r.starts_with(kBom) ? kBom.size() : 0;
  if (r.substr(start, 3) != "MSH") {
    result.error = parseFailure(ErrorCode::kHl7NoMsh, 0, "message does not start with MSH");
    return result;
  }
  if (r.size() < start + 4 || !usableDelimiter(r[start + 3])) {
    result.error = parseFailure(ErrorCode::kHl7BadEncodingChars, 1,
                                "MSH-1 field separator missing or alphanumeric");
    return result;
  }
  Delimiters d;
  d.field = r[start + 3];
  std::size_t e = start + 4;
  while (e < r.size() && r[e] != d.field && r[e] != '\r' && r[e] != '\n') ++e;
  const std::string_view enc = r.substr(start + 4, e - start - 4);
  if (enc.size() < 4 || enc.size() > 5) {
    result.error = parseFailure(ErrorCode::kHl7BadEncodingChars, 2,
                                "MSH-2 must have 4 or 5 encoding characters");
    return result;
  }
  for (std::size_t i = 0; i < enc.size(); ++i) {
    bool bad = !usableDelimiter(enc[i]);
    for (std::size_t j = 0; j < i; ++j) bad = bad || enc[j] == enc[i];
    if (bad) {
      result.error = parseFailure(
          ErrorCode::kHl7BadEncodingChars, 2,
          "MSH-2 encoding characters must be distinct, non-alphanumeric and differ from MSH-1");
      return result;
    }
  }
  d.component = enc[0];
  d.repetition = enc[1];
  d.escape = enc[2];
  d.subcomponent = enc[3];
  d.truncation = enc.size() == 5 ? enc[4] : 0;
  impl->d = d;
  impl->start = start;
  Finding err;
  if (!impl->index(r, &limits, &err)) {
    result.error = std::move(err);
    return result;
  }
  result.message.emplace(Message(std::move(impl)));
  return result;
}

std::string_view Message::raw() const {
  return impl_->raw();
}
const Delimiters& Message::delimiters() const {
  return impl_->d;
}
std::string_view Message::segmentTerminator() const {
  return impl_->terminator;
}
std::size_t Message::segmentCount() const {
  return impl_->segs.size();
}

SegmentView Message::segment(std::size_t index) const {
  if (index >= impl_->segs.size()) return {};
  return SegmentView{impl_->segName(index), impl_->segRaw(index)};
}

std::optional<std::size_t> Message::findSegment(std::string_view name, int occurrence) const {
  return impl_->find(name, occurrence);
}

std::optional<std::string> Message::get(const Path& path) const {
  bool verbatim = false;
  const auto v = impl_->locate(path, &verbatim);
  if (!v) return std::nullopt;
  if (verbatim) return std::string(*v);
  return decodeEscapes(*v, impl_->d);
}

std::optional<std::string> Message::get(std::string_view path) const {
  const auto p = Path::parse(path);
  if (!p) return std::nullopt;
  return get(*p);
}

std::string_view Message::getRaw(const Path& path) const {
  bool verbatim = false;
  const auto v = impl_->locate(path, &verbatim);
  return v ? *v : std::string_view();
}

int Message::repetitionCount(const Path& path) const {
  const auto si =
      impl_->find(path.segment, path.segmentOccurrence < 1 ? 1 : path.segmentOccurrence);
  if (!si) return 0;
  const auto f = impl_->field(*si, path.field);
  if (!f || f->empty()) return 0;
  if (path.field <= 2 && impl_->isHeader(*si)) return 1;
  int n = 1;
  for (char c : *f) n += c == impl_->d.repetition ? 1 : 0;
  return n;
}

std::optional<std::string_view> Message::fieldRaw(std::size_t segmentIndex, int field) const {
  return impl_->field(segmentIndex, field);
}

int Message::fieldCount(std::size_t segmentIndex) const {
  if (segmentIndex >= impl_->segs.size()) return 0;
  return impl_->fieldCount(segmentIndex);
}

Header Message::header() const {
  Header h;
  const auto msh = impl_->find("MSH", 1);
  if (msh) {
    auto comp = [&](int field, int component) {
      Path p;
      p.segment = "MSH";
      p.field = field;
      p.component = component;
      bool verbatim = false;
      const auto v = impl_->locate(p, &verbatim);
      return v ? decodeEscapes(*v, impl_->d) : std::string();
    };
    h.sendingApplication = comp(3, 1);
    h.sendingFacility = comp(4, 1);
    h.receivingApplication = comp(5, 1);
    h.receivingFacility = comp(6, 1);
    h.timestamp = comp(7, 1);
    h.messageType = comp(9, 1);
    h.triggerEvent = comp(9, 2);
    h.messageStructure = comp(9, 3);
    h.controlId = comp(10, 0);
    h.processingId = comp(11, 1);
    h.version = comp(12, 1);
    h.acceptAckType = comp(15, 0);
    h.applicationAckType = comp(16, 0);
  }
  Path pid;
  pid.segment = "PID";
  pid.field = 3;
  pid.component = 1;
  if (auto v = get(pid)) h.patientId = std::move(*v);
  return h;
}

void Message::set(const Path& path, std::string_view value) {
  // MSH-1/MSH-2 define how every other byte is read; changing them here would silently corrupt
  // the rest of the message, so they are not editable through set().
  if (path.field <= 0) return;
  if (path.field <= 2 && detail::isHeaderSegment(path.segment)) return;
  const int occurrence = path.segmentOccurrence < 1 ? 1 : path.segmentOccurrence;
  int have = 0;
  for (std::size_t i = 0; i < impl_->segs.size(); ++i) have += impl_->segName(i) == path.segment;
  while (have < occurrence) {
    insertSegment(path.segment);
    ++have;
  }
  const std::size_t si = *impl_->find(path.segment, occurrence);
  const Delimiters& d = impl_->d;
  const std::string encoded = encodeEscapes(value, d);
  const std::size_t pieceIndex =
      static_cast<std::size_t>(impl_->isHeader(si) ? path.field - 1 : path.field);
  const std::string_view seg = impl_->segRaw(si);
  const std::string_view field = detail::piece(seg, d.field, pieceIndex);
  const std::size_t repIndex =
      path.repetition > 1 ? static_cast<std::size_t>(path.repetition - 1) : 0;
  const std::string_view rep = detail::piece(field, d.repetition, repIndex);
  std::string newRep;
  if (path.component <= 0) {
    newRep = encoded;
  } else {
    const auto ci = static_cast<std::size_t>(path.component - 1);
    std::string newComp;
    if (path.subcomponent <= 0) {
      newComp = encoded;
    } else {
      const std::string_view comp = detail::piece(rep, d.component, ci);
      newComp = replacePiece(comp, d.subcomponent, static_cast<std::size_t>(path.subcomponent - 1),
                             encoded);
    }
    newRep = replacePiece(rep, d.component, ci, newComp);
  }
  const std::string newField = replacePiece(field, d.repetition, repIndex, newRep);
  const std::string newSeg = replacePiece(seg, d.field, pieceIndex, newField);
  const SegIdx s = impl_->segs[si];
  std::string buf(impl_->cur());
  buf.replace(s.begin, s.end - s.begin, newSeg);
  impl_->commit(std::move(buf));
}

void Message::insertSegment(std::string_view encodedSegment, std::optional<std::size_t> before) {
  std::string buf(impl_->cur());
  if (before && *before < impl_->segs.size()) {
    std::string ins(encodedSegment);
    ins += impl_->terminator;
    buf.insert(impl_->segs[*before].begin, ins);
  } else if (buf.size() > impl_->start && (buf.back() == '\r' || buf.back() == '\n')) {
    buf += encodedSegment;
    buf += impl_->terminator;
  } else {
    buf += impl_->terminator;
    buf += encodedSegment;
  }
  impl_->commit(std::move(buf));
}

void Message::removeSegment(std::size_t index) {
  if (index >= impl_->segs.size()) return;
  std::string buf(impl_->cur());
  std::size_t b = impl_->segs[index].begin;
  std::size_t e = impl_->segs[index].end;
  auto terminatorAt = [&](std::size_t pos) -> std::size_t {
    if (pos >= buf.size()) return 0;
    if (buf[pos] == '\r') return pos + 1 < buf.size() && buf[pos + 1] == '\n' ? 2 : 1;
    return buf[pos] == '\n' ? 1 : 0;
  };
  if (const std::size_t t = terminatorAt(e); t > 0) {
    e += t;
  } else if (b > impl_->start) {
    // Last segment without a trailing terminator: drop the one before it instead.
    if (buf[b - 1] == '\n' && b - 1 > impl_->start && buf[b - 2] == '\r') {
      b -= 2;
    } else {
      b -= 1;
    }
  }
  buf.erase(b, e - b);
  impl_->commit(std::move(buf));
}

bool Message::modified() const {
  return impl_->isModified;
}

std::string Message::serialize() const {
  return std::string(impl_->cur());
}

}  // namespace sb::hl7
