// ASC X12 (005010, 004010) parser and writer. No I/O.
//
// A Document indexes the raw bytes: each segment is a range of the buffer and each element a
// range inside it, found once by a single scan. Nothing is copied or decoded until asked, and an
// unmodified document serializes back to the same bytes (it *is* the same bytes).
//
// Structure comes in two layers:
//   - envelopes (ISA/IEA, GS/GE, ST/SE), found by parse() with their counts and control numbers
//     checked (findings at interchange, group and transaction level);
//   - loops (2000A, 2010BA, 2300, ...), built per transaction set from the data-driven
//     definitions in parsers/x12/specs/ (see spec.h), with segment and element findings.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::x12 {

class SpecLibrary;
struct TransactionSpec;

struct Delimiters {
  char element = '*';
  char repetition = '^';  // ISA11 from 00402 on; 0 when ISA11 is the 4010 'U' (no repetitions)
  char component = ':';   // ISA16
  char segment = '~';
  std::string suffix;  // what the source puts after each terminator: "", "\n" or "\r\n"
};

// Where a finding points, and which acknowledgement reports it.
enum class Level {
  kInterchange,  // TA1 (TA105 note code)
  kGroup,        // 999 AK9 (AK905.. code)
  kTransaction,  // 999 IK5 (IK502.. code)
  kSegment,      // 999 IK3 (IK304 code)
  kElement,      // 999 IK4 (IK403 code)
};

enum class Severity { kError, kWarning };

struct Finding {
  Level level = Level::kElement;
  Severity severity = Severity::kError;
  std::string x12Code;   // TA105 / AK905 / IK502 / IK304 / IK403 code, e.g. "001", "5", "I7"
  int interchange = -1;  // indices into Document::interchanges() etc.; -1 = not applicable
  int group = -1;
  int transaction = -1;            // index within its group
  std::int64_t segmentIndex = -1;  // index into Document segments; -1 = missing segment
  int segmentPosition = 0;         // 1-based position in the transaction set (ST = 1), IK302
  std::string segmentId;           // IK301
  std::string loopId;              // IK303
  int element = 0;                 // IK401-1
  int component = 0;               // IK401-2
  int repetition = 0;              // IK401-3
  std::string elementRef;          // IK402 data element reference number
  std::string badValue;            // IK404 copy of the bad element (may hold PHI: never logged)
  std::string message;             // "2010BA NM1-09: required element missing" (no values)
};

// One segment of the buffer. Elements are numbered from 1 (element 0 is the segment id).
class Segment {
 public:
  std::string_view id() const { return element(0); }
  std::string_view raw() const { return raw_; }   // without the terminator
  std::size_t offset() const { return offset_; }  // byte offset of the segment in the buffer
  std::size_t index() const { return index_; }    // position among the document's segments
  std::size_t elementCount() const { return sepCount_; }  // highest element position present
  // The whole element (all its repetitions and components); "" when absent.
  std::string_view element(std::size_t position) const;
  // Repetition `rep` (0-based) of the element, then component (1-based; 0 = the whole repetition).
  std::string_view component(std::size_t position, std::size_t comp, std::size_t rep = 0) const;
  std::size_t repetitionCount(std::size_t position) const;
  std::size_t componentCount(std::size_t position, std::size_t rep = 0) const;
  const Delimiters& delimiters() const { return *delims_; }

 private:
  friend class Document;
  std::string_view raw_;
  std::size_t offset_ = 0;
  std::size_t index_ = 0;
  const Delimiters* delims_ = nullptr;
  // Offsets in raw_ of each element separator: a range of the document's one flat array, so a
  // segment costs no allocation of its own.
  const std::uint32_t* seps_ = nullptr;
  std::uint32_t sepCount_ = 0;
  std::uint32_t sepFirst_ = 0;  // index of seps_[0] in the document's array
};

// A node of a transaction set's loop tree. Items keep the order of the source: each is a segment
// (index into Document segments) or a child loop.
struct Loop {
  std::string id;    // "2010BA"; "" for the transaction's root (header and trailer segments)
  std::string name;  // "Subscriber Name"
  struct Item {
    bool isLoop = false;
    std::uint32_t index = 0;  // segment index, or index into Transaction::loops
  };
  std::vector<Item> items;
  std::uint32_t parent = 0;  // index into Transaction::loops (root's parent is itself)
};

struct Transaction {
  std::size_t st = 0;                     // segment index of ST
  std::optional<std::size_t> se;          // segment index of SE, when present
  std::string setId;                      // ST01, "837"
  std::string controlNumber;              // ST02
  std::string convention;                 // ST03, or GS08 when ST03 is empty: "005010X222A1"
  const TransactionSpec* spec = nullptr;  // null: no definition (loops not built)
  std::vector<Loop> loops;                // [0] is the root; empty until loops are built
  bool accepted() const;                  // filled by validate(): no error finding at or below it
  bool rejected = false;
};

struct Group {
  std::size_t gs = 0;
  std::optional<std::size_t> ge;
  std::string functionalId;   // GS01, "HC"
  std::string controlNumber;  // GS06
  std::string version;        // GS08
  std::vector<Transaction> transactions;
};

struct Interchange {
  std::size_t isa = 0;
  std::optional<std::size_t> iea;
  std::size_t ta1Count = 0;      // TA1 segments directly in the interchange (acknowledgements)
  std::vector<std::size_t> ta1;  // their segment indices
  std::string controlNumber;     // ISA13
  std::string version;           // ISA12, "00501"
  std::string senderQualifier, senderId, receiverQualifier, receiverId;  // ISA05..08 (trimmed)
  std::string date, time;                                                // ISA09, ISA10
  std::string usage;                                                     // ISA15 "P" / "T"
  std::string ackRequested;                                              // ISA14
  std::size_t begin = 0, end = 0;  // byte range of the interchange in the buffer (end exclusive)
  std::vector<Group> groups;
};

struct Limits {
  std::size_t maxBytes = 64u << 20;  // a file larger than this is refused whole
  std::size_t maxSegments = 4'000'000;
  std::size_t maxElementsPerSegment = 512;
};

class Document {
 public:
  // Indexes `raw` without copying it; the caller keeps it alive. Never throws for bad input:
  // problems are findings (an input with no usable ISA has no interchanges and a TA1-level
  // finding). Envelopes, control numbers and counts are checked here.
  static Document parse(std::string_view raw, const Limits& limits = {});
  static Document parseOwned(std::string raw, const Limits& limits = {});
  // A temporary string would die while the document still points into it: use parseOwned.
  static Document parse(std::string&& raw, const Limits& limits = {}) = delete;

  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  std::string_view raw() const { return raw_; }
  // The first interchange's delimiters (each interchange may declare its own).
  const Delimiters& delimiters() const;
  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<Interchange>& interchanges() const { return interchanges_; }
  std::vector<Interchange>& interchanges() { return interchanges_; }
  const std::vector<Finding>& findings() const { return findings_; }
  std::vector<Finding>& findings() { return findings_; }
  bool usable() const { return !interchanges_.empty(); }

  // Builds loop trees for every transaction with a definition in `specs` and adds segment and
  // element findings (SNIP levels 1-2). Idempotent.
  void buildLoops(const SpecLibrary& specs);
  // buildLoops + element checks of every segment, fills Transaction::rejected.
  void validate(const SpecLibrary& specs);

  // Segments of a transaction in order (ST .. SE).
  std::size_t transactionEnd(const Transaction& t) const;

  // The loop tree and envelopes as JSON (values decoded as text).
  std::string toJson(bool pretty = false) const;

 private:
  Document() = default;
  void scan(const Limits& limits);
  void envelopes();

  std::string owned_;
  std::string_view raw_;
  std::vector<std::unique_ptr<Delimiters>> delimiterSets_;  // one per ISA; stable addresses
  std::vector<Segment> segments_;
  std::vector<std::uint32_t> separators_;  // every segment's element separator offsets
  std::vector<Interchange> interchanges_;
  std::vector<Finding> findings_;
  bool loopsBuilt_ = false;
  bool validated_ = false;
};

// ISA05/ISA07: the interchange id qualifiers X12 defines (01, 14, 20, 27-30, 33, ZZ, ...).
bool isInterchangeIdQualifier(std::string_view qualifier);

// Reads the delimiters from an ISA at the start of `raw` (after optional whitespace/BOM).
// nullopt when there is no ISA of the fixed 106-character layout.
std::optional<Delimiters> readDelimiters(std::string_view raw, std::string* whyNot = nullptr);

// Writes segments with the given delimiters. Element values are written as given: the writer
// refuses (std::invalid_argument) a value that contains a delimiter, so output is always parsable.
class Writer {
 public:
  explicit Writer(Delimiters d) : d_(std::move(d)) {}
  // elements[0] is the segment id; trailing empty elements are dropped, as X12 requires.
  void segment(const std::vector<std::string>& elements);
  std::size_t segmentCount() const { return count_; }
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  const Delimiters& delimiters() const { return d_; }

 private:
  Delimiters d_;
  std::string out_;
  std::size_t count_ = 0;
};

// An ISA segment with fixed-width fields padded as the standard requires.
std::vector<std::string> isaElements(const Delimiters& d, std::string_view senderQualifier,
                                     std::string_view senderId, std::string_view receiverQualifier,
                                     std::string_view receiverId, std::string_view date6,
                                     std::string_view time4, std::string_view version,
                                     std::int64_t controlNumber, bool ackRequested,
                                     std::string_view usage);

}  // namespace sb::x12
