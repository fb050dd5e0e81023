// Batch files: FHS [BHS {MSH...} BTS]... FTS. Messages are returned as views that include their
// segment terminators, so each one parses and round-trips like a stand-alone message.
#include "parsers/hl7v2/detail.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::hl7 {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool isAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The segment id when `line` starts with `id` followed by a separator or nothing.
bool startsSegment(std::string_view line, std::string_view id) {
  return line.starts_with(id) && (line.size() == 3 || !isAlnum(line[3]));
}

}  // namespace

bool isBatch(std::string_view raw) {
  if (raw.starts_with(kBom)) raw.remove_prefix(kBom.size());
  return startsSegment(raw, "FHS") || startsSegment(raw, "BHS");
}

BatchResult splitBatch(std::string_view raw) {
  BatchResult result;
  auto add = [&](ErrorCode code, Location loc, std::string text) {
    Finding f;
    f.code = code;
    f.location = std::move(loc);
    f.text = std::move(text);
    result.findings.push_back(std::move(f));
  };
  // Checks a trailer count field against what was seen.
  auto checkCount = [&](std::string_view line, std::string_view id, int sequence,
                        std::size_t actual, const char* what) {
    if (line.size() < 4) return;
    const std::string_view count = detail::piece(line, line[3], 1);
    if (count.empty()) return;
    std::size_t value = 0;
    for (char c : count) {
      if (c < '0' || c > '9' || value > 100000000) {
        add(ErrorCode::kHl7DataType, Location{std::string(id), sequence, 1, 0, 0, 0},
            std::string(id) + "-1 is not a number");
        return;
      }
      value = value * 10 + static_cast<std::size_t>(c - '0');
    }
    if (value != actual) {
      add(ErrorCode::kHl7BatchCountMismatch, Location{std::string(id), sequence, 1, 0, 0, 0},
          std::string(id) + "-1 says " + std::to_string(value) + " " + what + ", found " +
              std::to_string(actual));
    }
  };

  const std::size_t start = raw.starts_with(kBom) ? kBom.size() : 0;
  std::size_t msgStart = std::string_view::npos;
  auto closeMessage = [&](std::size_t end) {
    if (msgStart != std::string_view::npos)
      result.messages.push_back(raw.substr(msgStart, end - msgStart));
    msgStart = std::string_view::npos;
  };
  bool fileHeader = false, fileTrailer = false, batchOpen = false;
  int batches = 0, fhsCount = 0;
  std::size_t inBatch = 0;
  std::size_t pos = start;
  while (pos < raw.size()) {
    std::size_t end = raw.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = raw.size();
    std::size_t next = end;
    if (next < raw.size())
      next += (raw[next] == '\r' && next + 1 < raw.size() && raw[next + 1] == '\n') ? 2 : 1;
    const std::string_view line = raw.substr(pos, end - pos);
    if (startsSegment(line, "MSH")) {
      closeMessage(pos);
      msgStart = pos;
      ++inBatch;
    } else if (startsSegment(line, "FHS")) {
      closeMessage(pos);
      ++fhsCount;
      if (fileHeader || pos != start) {
        add(ErrorCode::kHl7SegmentSequence, Location{"FHS", fhsCount, 0, 0, 0, 0},
            "FHS must be the first segment of a batch file");
      }
      fileHeader = true;
    } else if (startsSegment(line, "BHS")) {
      closeMessage(pos);
      if (batchOpen) {
        add(ErrorCode::kHl7SegmentSequence, Location{"BTS", batches, 0, 0, 0, 0},
            "batch " + std::to_string(batches) + " has no BTS trailer");
      }
      batchOpen = true;
      ++batches;
      inBatch = 0;
    } else if (startsSegment(line, "BTS")) {
      closeMessage(pos);
      if (!batchOpen) {
        add(ErrorCode::kHl7SegmentSequence, Location{"BTS", batches + 1, 0, 0, 0, 0},
            "BTS without a preceding BHS");
      } else {
        checkCount(line, "BTS", batches, inBatch, "messages");
      }
      batchOpen = false;
    } else if (startsSegment(line, "FTS")) {
      closeMessage(pos);
      if (batchOpen) {
        add(ErrorCode::kHl7SegmentSequence, Location{"BTS", batches, 0, 0, 0, 0},
            "batch " + std::to_string(batches) + " has no BTS trailer");
        batchOpen = false;
      }
      if (!fileHeader) {
        add(ErrorCode::kHl7SegmentSequence, Location{"FTS", 1, 0, 0, 0, 0},
            "FTS without a preceding FHS");
      } else {
        checkCount(line, "FTS", 1, static_cast<std::size_t>(batches), "batches");
      }
      fileTrailer = true;
    } else if (!line.empty() && msgStart == std::string_view::npos) {
      add(ErrorCode::kHl7SegmentSequence, Location{detail::safeSegmentId(line), 0, 0, 0, 0, 0},
          "segment outside of a message");
    }
    pos = next;
  }
  closeMessage(raw.size());
  if (batchOpen) {
    add(ErrorCode::kHl7SegmentSequence, Location{"BTS", batches, 0, 0, 0, 0},
        "batch " + std::to_string(batches) + " has no BTS trailer");
  }
  if (fileHeader && !fileTrailer) {
    add(ErrorCode::kHl7SegmentSequence, Location{"FTS", 1, 0, 0, 0, 0},
        "batch file has no FTS trailer");
  }
  return result;
}

}  // namespace sb::hl7
