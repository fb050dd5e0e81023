// HL7 v2 parser: pure, no I/O. A parsed Message indexes the raw buffer once (segments and field
// offsets) and decodes escape sequences only when a value is read. Unmodified messages serialize
// back to the same bytes. Versions 2.1 to 2.8.
//
// CONTRACT for the rest of the engine (engine/, channels/, tests): the declarations below are
// what callers use. Implementation details may be added, these signatures stay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error_catalog.h"

namespace sb::hl7 {

struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = 0;  // 2.7+: '#' when MSH-2 has five characters, else 0
};

// Decodes \F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ \H\ \N\ (and keeps unknown sequences verbatim).
std::string decodeEscapes(std::string_view encoded, const Delimiters& d);
// Encodes delimiter characters and CR/LF (as \.br\) so the text can be placed in a field.
std::string encodeEscapes(std::string_view text, const Delimiters& d);
// MSH-2 as written for these delimiters: ^~\& by default, then the truncation character if set.
std::string encodingCharacters(const Delimiters& d);

// A location such as "PID-3[2].1.2", "PID[2]-5", "MSH-9.2", "OBX-5". All indexes are 1-based;
// 0 means "not given" (whole field / whole component).
struct Path {
  std::string segment;
  int segmentOccurrence = 1;
  int field = 0;
  int repetition = 1;
  int component = 0;
  int subcomponent = 0;

  static std::optional<Path> parse(std::string_view text, std::string* error = nullptr);
  std::string toString() const;
};

struct Limits {
  std::size_t maxSegments = 100000;
  std::size_t maxFieldsPerSegment = 10000;
};

// Where a finding is, in the terms of HL7 ERR-2 (segment id, sequence, field, repetition,
// component, subcomponent). Zero = not applicable.
struct Location {
  std::string segment;
  int segmentSequence = 0;
  int field = 0;
  int repetition = 0;
  int component = 0;
  int subcomponent = 0;
  std::string toString() const;  // e.g. "MSH-9" or "PID[1]-3.1"
};

enum class Severity { kError, kWarning };

struct Finding {
  ErrorCode code = ErrorCode::kOk;
  Severity severity = Severity::kError;
  Location location;
  std::string text;  // human readable, no field contents (no PHI)
};

class Message;

struct ParseResult;

struct SegmentView {
  std::string_view name;
  std::string_view raw;  // the whole segment without its terminator
};

// Values read from MSH and PID that the store indexes.
struct Header {
  std::string sendingApplication;   // MSH-3.1
  std::string sendingFacility;      // MSH-4.1
  std::string receivingApplication; // MSH-5.1
  std::string receivingFacility;    // MSH-6.1
  std::string timestamp;            // MSH-7.1
  std::string messageType;          // MSH-9.1
  std::string triggerEvent;         // MSH-9.2
  std::string messageStructure;     // MSH-9.3
  std::string controlId;            // MSH-10
  std::string processingId;         // MSH-11.1
  std::string version;              // MSH-12.1
  std::string acceptAckType;        // MSH-15 (enhanced mode when non-empty)
  std::string applicationAckType;   // MSH-16
  std::string patientId;            // PID-3[1].1 when a PID is present
};

class Message {
 public:
  // Parses without copying: `raw` must outlive the Message.
  static ParseResult parse(std::string_view raw, const Limits& limits = {});
  // Parses and keeps its own copy of the bytes.
  static ParseResult parseOwned(std::string raw, const Limits& limits = {});

  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  Message(const Message&);
  Message& operator=(const Message&);
  ~Message();

  std::string_view raw() const;
  const Delimiters& delimiters() const;
  std::string_view segmentTerminator() const;  // the terminator the input used: "\r", "\n", "\r\n"

  std::size_t segmentCount() const;
  SegmentView segment(std::size_t index) const;
  // Index of the n-th (1-based) segment with this name.
  std::optional<std::size_t> findSegment(std::string_view name, int occurrence = 1) const;

  // Decoded value at the path; nullopt when the segment or field is absent.
  // A field path without [n] reads the first repetition ("PID-3" == "PID-3[1]"); a missing
  // repetition/component of a present field reads "". MSH-1 and MSH-2 come back verbatim.
  std::optional<std::string> get(const Path& path) const;
  std::optional<std::string> get(std::string_view path) const;  // nullopt for a bad path too
  // Encoded bytes at the path, zero-copy into raw() (or into edited data).
  std::string_view getRaw(const Path& path) const;
  int repetitionCount(const Path& path) const;  // of path.field

  Header header() const;

  // Edits build new output; raw() is unchanged. `value` is plain text, escaped on write.
  void set(const Path& path, std::string_view value);
  // Inserts an already-encoded segment ("ZPI|1|..."), before index, or at the end.
  void insertSegment(std::string_view encodedSegment,
                     std::optional<std::size_t> before = std::nullopt);
  void removeSegment(std::size_t index);
  bool modified() const;
  // Equal to raw() byte for byte when unmodified.
  std::string serialize() const;

  // Renders the parse tree as JSON (segments, fields, repetitions, components; decoded).
  std::string toJson() const;

  // Whole field (all repetitions), encoded, with HL7 numbering (MSH-1 is the field separator);
  // nullopt when the segment has fewer fields.
  std::optional<std::string_view> fieldRaw(std::size_t segmentIndex, int field) const;
  // Highest field number present in the segment (MSH counts MSH-1), 0 for a bare name.
  int fieldCount(std::size_t segmentIndex) const;

 private:
  struct Impl;
  explicit Message(std::unique_ptr<Impl> impl);
  static ParseResult finishParse(std::unique_ptr<Impl> impl, const Limits& limits);
  std::unique_ptr<Impl> impl_;
  friend struct ParseResult;
};

struct ParseResult {
  std::optional<Message> message;
  std::optional<Finding> error;  // set when message is empty
  bool ok() const { return message.has_value(); }
};

// Structural validation used before acknowledging: required MSH fields (MSH-7, MSH-9, MSH-10,
// MSH-11, MSH-12), known version 2.1-2.8, segment names of 3 upper-case/digit chars, etc.
std::vector<Finding> validate(const Message& message);

// ---- Batches (FHS/BHS ... BTS/FTS) ----
bool isBatch(std::string_view raw);
struct BatchResult {
  std::vector<std::string_view> messages;  // views into the input
  std::vector<Finding> findings;          // count mismatches, missing trailers
};
BatchResult splitBatch(std::string_view raw);

// ---- Acknowledgements ----
enum class AckCode { kAA, kAE, kAR, kCA, kCE, kCR };
std::string_view toString(AckCode code);

enum class Outcome { kAccepted, kError, kRejected };

// Original mode answers AA/AE/AR. Enhanced mode (MSH-15 non-empty) answers CA/CE/CR and honours
// MSH-15: AL always, NE never, ER only on error/reject, SU only on success. nullopt = send none.
std::optional<AckCode> chooseAck(const Header& header, Outcome outcome);

struct AckOptions {
  std::string controlId;  // MSH-10 of the ACK; generated when empty
  std::string timestamp;  // MSH-7; now when empty (YYYYMMDDHHMMSS)
  std::string textMessage;  // MSA-3 (no PHI)
};

// Builds the ACK for a parsed inbound message: MSH mirrors sender/receiver (MSH-3/4 <-> 5/6),
// same version and delimiters, MSA-1 = code, MSA-2 = inbound MSH-10, one ERR per finding with
// ERR-2 location, ERR-3 table 0357 code and ERR-4 severity (and ERR-1 for versions < 2.5).
std::string buildAck(const Message& inbound, AckCode code, const std::vector<Finding>& findings,
                     const AckOptions& options = {});
// For input that could not be parsed: default delimiters, version 2.5, what could be salvaged
// from the raw MSH (control id) mirrored, and an ERR for the finding. Always AR.
std::string buildRejectAck(std::string_view raw, const Finding& finding,
                           const AckOptions& options = {});

// Reads an ACK (ours or a peer's): MSA-1 and MSA-2. Used by the MLLP sender.
struct AckSummary {
  std::string code;       // "AA", "AE", ...
  std::string controlId;  // MSA-2
  std::string text;       // MSA-3
};
std::optional<AckSummary> readAck(std::string_view raw);

}  // namespace sb::hl7
