// JSON rendering of a parsed message, decoded. Shape:
//
//   {"segments":[{"name":"PID","fields":[F1, F2, ...]}, ...]}
//
// where fields[0] is field 1 (for MSH: MSH-1, the field separator; MSH-2 verbatim) and each F is
//   - a string when the field has one repetition and no components ("" when empty);
//   - an array of components when it has components, each component a string or, when it has
//     subcomponents, an array of strings;
//   - {"repetitions":[R1, R2, ...]} when repeated, each R shaped like a single-repetition field.
// Strings are decoded (escape sequences resolved). Valid UTF-8 passes through; other bytes
// >= 0x80 are written as \u00XX (read as Latin-1).
#include "parsers/hl7v2/detail.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7 {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;
    if (c == 0xED && b(i + 1) > 0x9F) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;
    return 4;
  }
  return 0;
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (c >= 0x80) {
      const std::size_t n = utf8Length(s, i);
      if (n > 0) {
        out += s.substr(i, n);
        i += n;
        continue;
      }
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

class Renderer {
 public:
  Renderer(std::string& out, const Delimiters& d) : out_(out), d_(d) {}

  void field(std::string_view f) {
    if (f.find(d_.repetition) == std::string_view::npos) {
      repetition(f);
      return;
    }
    out_ += "{\"repetitions\":[";
    list(f, d_.repetition, [&](std::string_view r) { repetition(r); });
    out_ += "]}";
  }

 private:
  template <typename F>
  void list(std::string_view s, char delim, F&& each) {
    std::size_t start = 0;
    for (bool first = true;; first = false) {
      const std::size_t end = s.find(delim, start);
      if (!first) out_ += ',';
      each(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }
  void repetition(std::string_view r) {
    if (r.find(d_.component) == std::string_view::npos) {
      component(r);
      return;
    }
    out_ += '[';
    list(r, d_.component, [&](std::string_view c) { component(c); });
    out_ += ']';
  }
  void component(std::string_view c) {
    if (c.find(d_.subcomponent) == std::string_view::npos) {
      leaf(c);
      return;
    }
    out_ += '[';
    list(c, d_.subcomponent, [&](std::string_view s) { leaf(s); });
    out_ += ']';
  }
  void leaf(std::string_view v) { appendJsonString(out_, decodeEscapes(v, d_)); }

  std::string& out_;
  const Delimiters& d_;
};

}  // namespace

std::string Message::toJson() const {
  std::string out = "{\"segments\":[";
  Renderer render(out, delimiters());
  for (std::size_t i = 0; i < segmentCount(); ++i) {
    if (i > 0) out += ',';
    const SegmentView seg = segment(i);
    out += "{\"name\":";
    appendJsonString(out, seg.name);
    out += ",\"fields\":[";
    const bool header = detail::isHeaderSegment(seg.name);
    const int n = fieldCount(i);
    for (int f = 1; f <= n; ++f) {
      if (f > 1) out += ',';
      const std::string_view v = fieldRaw(i, f).value_or("");
      if (header && f <= 2) {
        appendJsonString(out, v);
      } else {
        render.field(v);
      }
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace sb::hl7
