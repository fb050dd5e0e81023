// Structural checks run before acknowledging. Findings carry locations only, never field
// contents, because they end up in ACKs and logs.
#include <array>
#include <utility>

#include "parsers/hl7v2/detail.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7 {

namespace {

constexpr std::array<std::string_view, 13> kVersions = {"2.1", "2.2",   "2.3",  "2.3.1", "2.4",
                                                        "2.5", "2.5.1", "2.6",  "2.7",   "2.7.1",
                                                        "2.8", "2.8.1", "2.8.2"};

bool validSegmentId(std::string_view name) {
  if (name.size() != 3 || name[0] < 'A' || name[0] > 'Z') return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

std::vector<Finding> validate(const Message& message) {
  std::vector<Finding> out;
  auto add = [&](ErrorCode code, Severity severity, Location loc, std::string text) {
    Finding f;
    f.code = code;
    f.severity = severity;
    f.location = std::move(loc);
    f.text = std::move(text);
    out.push_back(std::move(f));
  };

  std::vector<std::pair<std::string_view, int>> seen;
  for (std::size_t i = 0; i < message.segmentCount(); ++i) {
    const std::string_view name = message.segment(i).name;
    int occurrence = 1;
    for (auto& [n, count] : seen) {
      if (n == name) occurrence = ++count;
    }
    if (occurrence == 1) seen.emplace_back(name, 1);
    if (!validSegmentId(name)) {
      add(ErrorCode::kHl7SegmentSequence, Severity::kError,
          Location{detail::safeSegmentId(name), occurrence, 0, 0, 0, 0},
          "segment " + std::to_string(i + 1) + " has an invalid segment id");
    } else if (i > 0 && name == "MSH") {
      add(ErrorCode::kHl7SegmentSequence, Severity::kError, Location{"MSH", occurrence, 0, 0, 0, 0},
          "MSH is only allowed as the first segment");
    }
  }

  auto mshLoc = [](int field, int component = 0) {
    return Location{"MSH", 1, field, 0, component, 0};
  };
  auto fieldEmpty = [&](int field) {
    const auto v = message.fieldRaw(0, field);
    return !v || v->empty();
  };
  for (int field : {7, 9, 10, 11, 12}) {
    if (fieldEmpty(field)) {
      add(ErrorCode::kHl7RequiredFieldMissing, Severity::kError, mshLoc(field),
          "MSH-" + std::to_string(field) + " is required");
    }
  }

  const std::string version = message.get("MSH-12.1").value_or("");
  const int versionNumber = detail::versionNumber(version);
  if (!version.empty()) {
    bool known = false;
    for (auto v : kVersions) known = known || v == version;
    if (!known) {
      add(ErrorCode::kHl7UnsupportedVersion, Severity::kError, mshLoc(12),
          "MSH-12 is not a supported version (2.1 to 2.8)");
    }
  }

  if (!fieldEmpty(9)) {
    const std::string type = message.get("MSH-9.1").value_or("");
    if (type.empty()) {
      add(ErrorCode::kHl7RequiredFieldMissing, Severity::kError, mshLoc(9, 1),
          "MSH-9.1 message type is required");
    }
    // Before 2.3 the trigger event lived in EVN-1, not in MSH-9.
    if ((versionNumber == 0 || versionNumber >= 23) && type != "ACK" &&
        message.get("MSH-9.2").value_or("").empty()) {
      add(ErrorCode::kHl7RequiredFieldMissing, Severity::kError, mshLoc(9, 2),
          "MSH-9.2 trigger event is required");
    }
  }

  if (message.delimiters().truncation != 0 && versionNumber > 0 && versionNumber < 27) {
    add(ErrorCode::kHl7BadEncodingChars, Severity::kWarning, mshLoc(2),
        "MSH-2 has a truncation character, which versions before 2.7 do not define");
  }
  return out;
}

}  // namespace sb::hl7
