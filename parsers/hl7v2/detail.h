// Helpers shared by the HL7 v2 translation units; not part of the engine-facing contract.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7::detail {

// The n-th (0-based) piece of `s` split on `delim`; `found` is false when there are fewer pieces.
inline std::string_view piece(std::string_view s, char delim, std::size_t n,
                              bool* found = nullptr) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t next = s.find(delim, start);
    if (next == std::string_view::npos) {
      if (found) *found = false;
      return s.substr(s.size(), 0);
    }
    start = next + 1;
  }
  if (found) *found = true;
  const std::size_t end = s.find(delim, start);
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Segments whose first field is the field separator itself (HL7 numbering shifts by one).
inline bool isHeaderSegment(std::string_view name) {
  return name == "MSH" || name == "FHS" || name == "BHS";
}

// "2.5.1" -> 25, "2.3" -> 23; 0 when it does not look like an HL7 v2 version.
inline int versionNumber(std::string_view v) {
  if (v.size() < 3 || v[0] != '2' || v[1] != '.' || v[2] < '0' || v[2] > '9') return 0;
  return 20 + (v[2] - '0');
}

// Sanitized segment id for reports: never echoes more than three printable bytes.
std::string safeSegmentId(std::string_view name);

// "YYYYMMDDHHMMSS" in UTC.
std::string nowTimestamp();

}  // namespace sb::hl7::detail
