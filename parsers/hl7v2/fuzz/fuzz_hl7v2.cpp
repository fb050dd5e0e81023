// libFuzzer target: whatever the bytes, parsing, reading, validating, acknowledging and editing
// must not crash, and an unmodified message must serialize to exactly its input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parsers/hl7v2/hl7v2.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sb::hl7;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.maxSegments = 5000;
  limits.maxFieldsPerSegment = 5000;

  if (isBatch(raw)) {
    const BatchResult batch = splitBatch(raw);
    for (std::string_view m : batch.messages) check(m.data() >= raw.data());
  }
  (void)readAck(raw);

  ParseResult r = Message::parse(raw, limits);
  if (!r.ok()) {
    check(r.error.has_value());
    const std::string ack = buildRejectAck(raw, *r.error);
    check(Message::parse(ack).ok());
    return 0;
  }
  Message& m = *r.message;
  check(m.serialize() == raw);
  for (const char* p :
       {"MSH-1", "MSH-2", "MSH-9.2", "MSH-10", "PID-3[2].1.2", "PID[2]-5", "OBX-5", "ZZZ-3.1"}) {
    (void)m.get(p);
    if (auto path = Path::parse(p)) {
      (void)m.getRaw(*path);
      (void)m.repetitionCount(*path);
    }
  }
  for (std::size_t i = 0; i < m.segmentCount(); ++i) {
    const SegmentView s = m.segment(i);
    check(s.raw.substr(0, s.name.size()) == s.name);
  }
  const Header header = m.header();
  const std::vector<Finding> findings = validate(m);
  (void)chooseAck(header, findings.empty() ? Outcome::kAccepted : Outcome::kError);
  AckOptions options;
  options.controlId = "FUZZ";
  options.timestamp = "20260101000000";
  const std::string ack =
      buildAck(m, findings.empty() ? AckCode::kAA : AckCode::kAE, findings, options);
  check(readAck(ack).has_value());
  (void)m.toJson();

  // Edits: a value taken from the input must read back unchanged (CR/LF become \.br\, which
  // decodes to LF, so they are left out).
  std::string value;
  for (char c : raw.substr(0, 40)) {
    if (c != '\r' && c != '\n') value += c;
  }
  Message edited = m;
  const Path target = *Path::parse("PID-3[2].1.2");
  edited.set(target, value);
  check(edited.get(target) == value);
  check(edited.raw() == raw);
  edited.insertSegment("ZFZ|1", 1);
  edited.removeSegment(edited.segmentCount() - 1);
  const std::string out = edited.serialize();
  ParseResult again = Message::parse(out);
  check(again.ok());
  return 0;
}
