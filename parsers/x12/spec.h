// Data-driven X12 definitions: the segment dictionary and one loop structure per transaction set
// and implementation guide. The text files in parsers/x12/specs/ are embedded at build time (see
// parsers/x12/specs/FORMAT.md for their syntax), so adding a transaction set needs no code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sb::x12 {

enum class Usage { kRequired, kSituational, kNotUsed };

// One element of the base standard's segment dictionary.
struct ElementDef {
  int position = 0;
  std::string ref;   // data element number, "98", or composite id "C023"
  std::string type;  // AN ID N0..N9 R DT TM B C (composite)
  enum class Kind { kText, kNumeric, kDecimal, kDate, kTime, kComposite };
  Kind kind = Kind::kText;  // from `type`, decided once at load
  int minLength = 0;
  int maxLength = 0;
  char requirement = 'O';  // M (mandatory), O (optional), X (conditional)
  int maxRepeat = 1;       // repetitions allowed (the repetition separator, ISA11)
  std::string name;
};

struct SegmentDef {
  std::string id;
  std::string name;
  std::vector<ElementDef> elements;  // by position, 1..n
  const ElementDef* element(int position) const;
};

// A segment's use at one place of a transaction set.
// A segment id packed into an integer ("NM1" -> 'N'<<16|'M'<<8|'1'), for fast comparison.
constexpr std::uint32_t packId(std::string_view id) {
  std::uint32_t v = 0;
  for (char c : id.substr(0, 4)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

struct SegmentDef;

struct SegmentRule {
  std::string id;
  std::uint32_t packed = 0;         // packId(id)
  const SegmentDef* def = nullptr;  // the dictionary entry
  Usage usage = Usage::kSituational;
  int maxUse = 1;  // 0 = unbounded (">1")
  // Element position -> allowed codes. The rules of a loop's first segment identify the loop.
  std::map<int, std::vector<std::string>> codes;
  std::vector<int> required;  // element positions the guide requires here (beyond the dictionary)
  std::vector<int> notUsed;   // element positions the guide marks "not used" here
  int line = 0;               // line in the spec file (for error messages about the spec)
};

struct LoopRule;

struct SpecNode {
  std::unique_ptr<SegmentRule> segment;  // exactly one of the two is set
  std::unique_ptr<LoopRule> loop;
};

struct LoopRule {
  std::string id;  // "2010BA"; "" for the transaction root
  std::string name;
  Usage usage = Usage::kSituational;
  int maxRepeat = 1;  // 0 = unbounded
  std::vector<SpecNode> children;
  const SegmentRule* trigger() const;  // the first segment rule: identifies the loop
};

struct TransactionSpec {
  std::string setId;       // "837"
  std::string convention;  // "005010X222A1"
  std::string label;       // "837P"
  std::string name;        // "Health Care Claim: Professional"
  std::string file;        // spec file name, for messages
  LoopRule root;
};

class SpecLibrary {
 public:
  // The definitions embedded in the binary (parsers/x12/specs/*.spec and segments.dict).
  static const SpecLibrary& builtin();
  // Parses definition texts; throws std::runtime_error("file:line: ...") on a bad definition.
  static std::unique_ptr<SpecLibrary> load(
      const std::vector<std::pair<std::string, std::string>>& files);  // (name, text)

  // By ST01 and the implementation convention (ST03, else GS08). When no exact convention is
  // known, falls back to the only definition of that set id for the same version prefix
  // ("005010"), else nullptr.
  const TransactionSpec* find(std::string_view setId, std::string_view convention) const;
  const SegmentDef* segment(std::string_view id) const;
  const std::vector<std::unique_ptr<TransactionSpec>>& transactions() const { return sets_; }

 private:
  std::vector<std::unique_ptr<TransactionSpec>> sets_;
  std::map<std::string, SegmentDef, std::less<>> segments_;
};

}  // namespace sb::x12
