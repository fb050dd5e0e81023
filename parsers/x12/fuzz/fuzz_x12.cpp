// libFuzzer target: whatever the bytes, parsing, loop building, validation, JSON and the
// acknowledgements must not crash; the acknowledgement must itself parse without envelope errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "parsers/x12/ack.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sb::x12;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.maxSegments = 20000;
  Document doc = Document::parse(raw, limits);
  doc.validate(SpecLibrary::builtin());
  for (const Segment& s : doc.segments()) {
    check(s.offset() + s.raw().size() <= raw.size());
    for (std::size_t i = 0; i <= s.elementCount() + 1; ++i) (void)s.component(i, 2, 1);
  }
  (void)doc.toJson(false);
  for (std::size_t i = 0; i < doc.interchanges().size(); ++i) {
    const std::string ack =
        buildAcknowledgement(doc, i, AckNumbers{}, AckOptions{"20260101", "1200", true});
    if (ack.empty()) continue;
    const Document back = Document::parse(ack);
    for (const Finding& f : back.findings())
      check(f.level != Level::kInterchange || f.x12Code == "005" || f.x12Code == "007" ||
            f.x12Code == "006" || f.x12Code == "008");
  }
  return 0;
}
