// Parsing, round trips, escapes, paths and edits.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "parsers/hl7v2/hl7v2.h"
#include "tests/support/test_support.h"

namespace sb::hl7 {
namespace {

std::string fixture(const std::string& name) {
  return sb::test::readFile(sb::test::fixturePath("hl7v2/" + name));
}

// Owned, so that temporaries such as fixture("x") can be passed.
Message parseOk(std::string_view raw) {
  ParseResult r = Message::parseOwned(std::string(raw));
  EXPECT_TRUE(r.ok()) << (r.error ? r.error->text : "");
  return std::move(*r.message);
}

Path path(std::string_view text) {
  auto p = Path::parse(text);
  EXPECT_TRUE(p.has_value()) << text;
  return p.value_or(Path{});
}

// ---- Fixtures ----

TEST(Hl7Fixtures, EveryFixtureRoundTripsByteForByte) {
  int messages = 0;
  for (const auto& entry : std::filesystem::directory_iterator(sb::test::fixturePath("hl7v2"))) {
    if (entry.path().extension() != ".hl7") continue;
    const std::string raw = sb::test::readFile(entry.path());
    if (isBatch(raw)) {
      const BatchResult batch = splitBatch(raw);
      for (auto m : batch.messages) {
        ParseResult r = Message::parse(m);
        ASSERT_TRUE(r.ok()) << entry.path();
        EXPECT_EQ(r.message->serialize(), m);
      }
      continue;
    }
    ParseResult r = Message::parse(raw);
    ASSERT_TRUE(r.ok()) << entry.path() << ": " << (r.error ? r.error->text : "");
    EXPECT_FALSE(r.message->modified());
    EXPECT_EQ(r.message->serialize(), raw) << entry.path();
    ParseResult owned = Message::parseOwned(raw);
    ASSERT_TRUE(owned.ok());
    EXPECT_EQ(owned.message->serialize(), raw);
    ++messages;
  }
  EXPECT_GE(messages, 17);
}

TEST(Hl7Fixtures, EveryNonBatchFixtureIsAValidMessage) {
  for (const auto& entry : std::filesystem::directory_iterator(sb::test::fixturePath("hl7v2"))) {
    if (entry.path().extension() != ".hl7") continue;
    const std::string raw = sb::test::readFile(entry.path());
    if (isBatch(raw)) continue;
    ParseResult r = Message::parse(raw);
    ASSERT_TRUE(r.ok()) << entry.path();
    for (const Finding& f : validate(*r.message)) {
      ADD_FAILURE() << entry.path() << ": " << f.location.toString() << " " << f.text;
    }
  }
}

TEST(Hl7Fixtures, TerminatorsAreDetected) {
  const std::string lf = fixture("ADT-A01-01.hl7");
  const std::string cr = fixture("ADT-A03-01-cr.hl7");
  const std::string crlf = fixture("ADT-A04-01-crlf.hl7");
  EXPECT_EQ(parseOk(lf).segmentTerminator(), "\n");
  EXPECT_EQ(parseOk(cr).segmentTerminator(), "\r");
  EXPECT_EQ(parseOk(crlf).segmentTerminator(), "\r\n");
  // Same segments whatever the terminator.
  const Message a = parseOk(cr);
  const Message b = parseOk(crlf);
  ASSERT_EQ(a.segmentCount(), 24u);
  ASSERT_EQ(b.segmentCount(), 24u);
  EXPECT_EQ(a.segment(23).name, "PDA");
  EXPECT_EQ(b.segment(1).raw, "SFT|Orion|2.4.3.52854|Rhapsody|2.4.3|Testactivity|20070725111624");
}

TEST(Hl7Fixtures, HeaderOfCorpusMessage) {
  const std::string raw = fixture("ADT-A01-01.hl7");
  const Header h = parseOk(raw).header();
  EXPECT_EQ(h.sendingApplication, "ADTApp");
  EXPECT_EQ(h.sendingFacility, "GHHSFacility");
  EXPECT_EQ(h.receivingApplication, "EHRApp");
  EXPECT_EQ(h.receivingFacility, "GHHRFacility");
  EXPECT_EQ(h.timestamp, "198908181126+0215");
  EXPECT_EQ(h.messageType, "ADT");
  EXPECT_EQ(h.triggerEvent, "A01");
  EXPECT_EQ(h.messageStructure, "ADT_A01");
  EXPECT_EQ(h.controlId, "MSG00001");
  EXPECT_EQ(h.processingId, "P");
  EXPECT_EQ(h.version, "2.8");
  EXPECT_EQ(h.acceptAckType, "");
  EXPECT_EQ(h.applicationAckType, "");
  EXPECT_EQ(h.patientId, "PATID1234");
}

// ---- Framing ----

TEST(Hl7Parse, FinalTerminatorIsOptionalAndKept) {
  const std::string with = "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1\r";
  const std::string without = "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1";
  EXPECT_EQ(parseOk(with).serialize(), with);
  EXPECT_EQ(parseOk(without).serialize(), without);
  EXPECT_EQ(parseOk(with).segmentCount(), 2u);
  EXPECT_EQ(parseOk(without).segmentCount(), 2u);
  EXPECT_EQ(parseOk(without).segment(1).raw, "PID|1");
}

TEST(Hl7Parse, BlankLinesAreNotSegmentsButSurvive) {
  const std::string raw = "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\n\nPID|1\n\n";
  const Message m = parseOk(raw);
  EXPECT_EQ(m.segmentCount(), 2u);
  EXPECT_EQ(m.serialize(), raw);
}

TEST(Hl7Parse, ByteOrderMarkIsSkippedAndKept) {
  const std::string raw = "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1\r";
  const Message m = parseOk(raw);
  EXPECT_EQ(m.segment(0).name, "MSH");
  EXPECT_EQ(m.get("MSH-3"), "A");
  EXPECT_EQ(m.serialize(), raw);
}

TEST(Hl7Parse, SegmentWithNoFields) {
  const Message m = parseOk(fixture("z-segments.hl7"));
  const auto znf = m.findSegment("ZNF");
  ASSERT_TRUE(znf);
  EXPECT_EQ(m.segment(*znf).name, "ZNF");
  EXPECT_EQ(m.segment(*znf).raw, "ZNF");
  EXPECT_EQ(m.fieldCount(*znf), 0);
  EXPECT_EQ(m.get("ZNF-1"), std::nullopt);
  EXPECT_EQ(m.get("ZNF"), "ZNF");
  EXPECT_EQ(m.get("Z01-1"), "");
  EXPECT_EQ(m.get("Z01-2"), std::nullopt);
  EXPECT_EQ(m.get("ZPI-2.2.2"), "sub");
  EXPECT_EQ(m.get("ZPI-3[2]"), "y");
}

TEST(Hl7Parse, NoMsh) {
  ParseResult r = Message::parse("PID|1|2\r");
  ASSERT_FALSE(r.ok());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kHl7NoMsh);
  EXPECT_EQ(r.error->location.toString(), "MSH[1]");
  EXPECT_EQ(Message::parse("").error->code, ErrorCode::kHl7NoMsh);
  EXPECT_EQ(Message::parse(" MSH|^~\\&|").error->code, ErrorCode::kHl7NoMsh);
}

TEST(Hl7Parse, BadEncodingCharacters) {
  struct Case {
    const char* raw;
    int field;
  };
  const Case cases[] = {
      {"MSH", 1},              // no field separator at all
      {"MSHA^~\\&|x", 1},      // alphanumeric field separator
      {"MSH\r^~\\&|x", 1},     // terminator as field separator
      {"MSH|^~\\|A|B\r", 2},   // too short
      {"MSH|^~|A\r", 2},       // too short
      {"MSH||A|B\r", 2},       // empty
      {"MSH|^~\\&#!|A\r", 2},  // too long
      {"MSH|^^\\&|A\r", 2},    // repeated
      {"MSH|^~\\A|A\r", 2},    // alphanumeric
      {"MSH|^~\\5|A\r", 2},    // digit
  };
  for (const Case& c : cases) {
    ParseResult r = Message::parse(c.raw);
    ASSERT_FALSE(r.ok()) << c.raw;
    EXPECT_EQ(r.error->code, ErrorCode::kHl7BadEncodingChars) << c.raw;
    EXPECT_EQ(r.error->location.field, c.field) << c.raw;
    EXPECT_EQ(r.error->location.segment, "MSH");
  }
  // MSH-2 is read up to MSH-1, so a separator inside it shortens MSH-2.
  EXPECT_EQ(Message::parse("MSH|^~|&|A\r").error->location.field, 2);
}

TEST(Hl7Parse, LimitsGiveAFindingNotACrash) {
  Limits small;
  small.maxSegments = 2;
  ParseResult r = Message::parse("MSH|^~\\&|A\rPID|1\rPV1|1\r", small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->code, ErrorCode::kHl7SegmentSequence);
  EXPECT_EQ(r.error->text, "message has more than 2 segments");

  Limits narrow;
  narrow.maxFieldsPerSegment = 3;
  EXPECT_TRUE(Message::parse("MSH|^~\\&|A\rPID|1|2|3\r", narrow).ok());
  ParseResult wide = Message::parse("MSH|^~\\&|A\rPID|1|2|3|4\r", narrow);
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.error->code, ErrorCode::kHl7SegmentSequence);
  EXPECT_EQ(wide.error->location.toString(), "[2]");
  EXPECT_EQ(wide.error->text, "segment 2 has more than 3 fields");
}

// ---- Delimiters and escapes ----

TEST(Hl7Delimiters, DefaultMsh1AndMsh2) {
  const Message m = parseOk(fixture("ADT-A01-01.hl7"));
  EXPECT_EQ(m.get("MSH-1"), "|");
  EXPECT_EQ(m.get("MSH-2"), "^~\\&");
  EXPECT_EQ(m.get("MSH-3"), "ADTApp");
  EXPECT_EQ(m.get("MSH-4"), "GHHSFacility^2.16.840.1.122848.1.30^ISO");
  EXPECT_EQ(m.get("MSH-4.2"), "2.16.840.1.122848.1.30");
  EXPECT_EQ(m.get("MSH-9.2"), "A01");
  EXPECT_EQ(m.get("MSH-2.1"), "^~\\&");  // never split
  EXPECT_EQ(m.repetitionCount(path("MSH-2")), 1);
  EXPECT_EQ(m.delimiters().truncation, 0);
}

TEST(Hl7Delimiters, NonDefaultSet) {
  const Message m = parseOk(fixture("odd-delimiters.hl7"));
  const Delimiters& d = m.delimiters();
  EXPECT_EQ(d.field, '*');
  EXPECT_EQ(d.component, '$');
  EXPECT_EQ(d.repetition, '!');
  EXPECT_EQ(d.escape, '%');
  EXPECT_EQ(d.subcomponent, '@');
  EXPECT_EQ(d.truncation, 0);
  EXPECT_EQ(m.get("MSH-1"), "*");
  EXPECT_EQ(m.get("MSH-2"), "$!%@");
  EXPECT_EQ(m.get("MSH-3.2"), "1.2.3");
  EXPECT_EQ(m.get("MSH-10"), "ODD0001");
  EXPECT_EQ(m.get("PID-3[2].1"), "ID2");
  EXPECT_EQ(m.get("PID-3[2].5"), "SS");
  EXPECT_EQ(m.get("PID-5.2"), "Jane$Q@R");
  EXPECT_EQ(m.getRaw(path("PID-5.2")), "Jane%S%Q%T%R");
  EXPECT_EQ(m.header().triggerEvent, "A01");
  EXPECT_EQ(encodeEscapes("a$b!c%d@e*f^g", d), "a%S%b%R%c%E%d%T%e%F%f^g");
}

TEST(Hl7Delimiters, TruncationCharacter) {
  const Message m = parseOk(fixture("truncation-v27.hl7"));
  const Delimiters& d = m.delimiters();
  EXPECT_EQ(d.truncation, '#');
  EXPECT_EQ(m.get("MSH-2"), "$!%*#");
  EXPECT_EQ(m.get("PID-5.2"), "Name#x%y");
  EXPECT_EQ(encodeEscapes("Name#x%y", d), "Name%P%x%E%y");
  EXPECT_EQ(encodingCharacters(d), "$!%*#");
  EXPECT_EQ(m.header().version, "2.7");
}

TEST(Hl7Escapes, EveryEscapeSequenceInFixture) {
  const Message m = parseOk(fixture("escapes.hl7"));
  EXPECT_EQ(m.get("PID-5.1"), "O&Brien");
  EXPECT_EQ(m.get("PID-5.2"), "Mary^Ann");
  EXPECT_EQ(m.get("OBX-5"), "Line one\nLine two | pipe ^ caret & amp ~ tilde \\ backslash");
  EXPECT_EQ(m.get("OBX[2]-5"), "Hex ABC and CRLF \r\n end");
  EXPECT_EQ(m.get("OBX[3]-5"), "bold normal \\.sp\\ \\.in+4\\ kept");
  EXPECT_EQ(m.get("OBX[4]-5"), "\\C2842\\jis\\C2842\\ \\M244241\\ \\Zcustom\\ kept");
}

TEST(Hl7Escapes, DecodeEdgeCases) {
  const Delimiters d;
  EXPECT_EQ(decodeEscapes("", d), "");
  EXPECT_EQ(decodeEscapes("plain", d), "plain");
  EXPECT_EQ(decodeEscapes("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", d), "a|b^c&d~e\\f");
  EXPECT_EQ(decodeEscapes("\\X414243\\", d), "ABC");
  EXPECT_EQ(decodeEscapes("\\Xc3a9\\", d), "\xC3\xA9");
  EXPECT_EQ(decodeEscapes("\\X4\\", d), "\\X4\\");    // odd digit count: kept
  EXPECT_EQ(decodeEscapes("\\XZZ\\", d), "\\XZZ\\");  // not hex: kept
  EXPECT_EQ(decodeEscapes("\\X\\", d), "\\X\\");
  EXPECT_EQ(decodeEscapes("tail \\F", d), "tail \\F");  // unterminated: kept
  EXPECT_EQ(decodeEscapes("\\\\", d), "\\\\");          // empty sequence: kept
  EXPECT_EQ(decodeEscapes("\\P\\", d), "\\P\\");        // no truncation character defined
  EXPECT_EQ(decodeEscapes("a\\.br\\b", d), "a\nb");
  EXPECT_EQ(decodeEscapes("\\H\\x\\N\\", d), "x");
  EXPECT_EQ(decodeEscapes("\\Q\\", d), "\\Q\\");
}

TEST(Hl7Escapes, EncodeAndRoundTrip) {
  const Delimiters d;
  EXPECT_EQ(encodeEscapes("a|b^c&d~e\\f", d), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
  EXPECT_EQ(encodeEscapes("l1\r\nl2\nl3\rl4", d), "l1\\.br\\l2\\.br\\l3\\.br\\l4");
  EXPECT_EQ(encodeEscapes("#", d), "#");
  const std::string text = "O'Brien | ^ & ~ \\ done";
  EXPECT_EQ(decodeEscapes(encodeEscapes(text, d), d), text);
  EXPECT_EQ(encodingCharacters(d), "^~\\&");
}

TEST(Hl7Escapes, DotAsEscapeCharacter) {
  Delimiters d;
  d.escape = '.';
  // \.br\ would read as an empty sequence here, so line breaks use \X0A\ instead.
  EXPECT_EQ(encodeEscapes("a\r\nb.c", d), "a.X0A.b.E.c");
  EXPECT_EQ(decodeEscapes("a.X0A.b.E.c", d), "a\nb.c");
}

TEST(Hl7Location, ToString) {
  EXPECT_EQ((Location{"MSH", 0, 9, 0, 0, 0}.toString()), "MSH-9");
  EXPECT_EQ((Location{"PID", 1, 3, 0, 1, 0}.toString()), "PID[1]-3.1");
  EXPECT_EQ((Location{"PID", 2, 3, 2, 1, 4}.toString()), "PID[2]-3[2].1.4");
  EXPECT_EQ((Location{"ZPI", 0, 0, 0, 0, 0}.toString()), "ZPI");
  EXPECT_EQ((Location{}.toString()), "");
}

// ---- Paths ----

TEST(Hl7Path, ParseAndPrint) {
  const Path p = path("PID-3[2].1.2");
  EXPECT_EQ(p.segment, "PID");
  EXPECT_EQ(p.segmentOccurrence, 1);
  EXPECT_EQ(p.field, 3);
  EXPECT_EQ(p.repetition, 2);
  EXPECT_EQ(p.component, 1);
  EXPECT_EQ(p.subcomponent, 2);
  EXPECT_EQ(p.toString(), "PID-3[2].1.2");
  const Path q = path("PID[2]-5");
  EXPECT_EQ(q.segmentOccurrence, 2);
  EXPECT_EQ(q.field, 5);
  EXPECT_EQ(q.toString(), "PID[2]-5");
  EXPECT_EQ(path("MSH-9.2").toString(), "MSH-9.2");
  EXPECT_EQ(path("ZPI").toString(), "ZPI");
  EXPECT_EQ(path("Z01[3]").segmentOccurrence, 3);
  EXPECT_EQ(path("PID-3[1]").toString(), "PID-3");
}

TEST(Hl7Path, Errors) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "segment id must be 3 characters"},
      {"PI", "segment id must be 3 characters"},
      {"pid-3", "segment id must be 3 upper-case letters or digits"},
      {"PID-", "bad field number"},
      {"PID-0", "bad field number"},
      {"PID-x", "bad field number"},
      {"PID-3[", "bad repetition"},
      {"PID-3[0]", "bad repetition"},
      {"PID-3[2", "bad repetition"},
      {"PID-3.", "bad component number"},
      {"PID-3.1.", "bad subcomponent number"},
      {"PID-3.1.2.3", "unexpected characters after the path"},
      {"PID[0]-3", "bad segment occurrence"},
      {"PID.3", "expected '-' before the field number"},
      {"PID-99999999", "bad field number"},
  };
  for (const auto& [text, why] : bad) {
    std::string error;
    EXPECT_FALSE(Path::parse(text, &error)) << text;
    EXPECT_EQ(error, why) << text;
  }
}

TEST(Hl7Path, Access) {
  const Message m = parseOk(fixture("repetitions.hl7"));
  EXPECT_EQ(m.get("PID-3"), "MRN1^^^HOSP^MR");
  EXPECT_EQ(m.get("PID-3[2].1"), "SSN2");
  EXPECT_EQ(m.get("PID-3[3].4"), "DMV");
  EXPECT_EQ(m.get("PID-3[4]"), "");
  EXPECT_EQ(m.get("PID-3[2].9"), "");
  EXPECT_EQ(m.get("PID-3.1.2"), "");
  EXPECT_EQ(m.get("PID-5[2].2"), "Jon");
  EXPECT_EQ(m.get("NK1-2.2"), "Jane");
  EXPECT_EQ(m.get("NK1[2]-2.2"), "Jim");
  EXPECT_EQ(m.get("NK1[3]-2"), std::nullopt);
  EXPECT_EQ(m.get("OBX-1"), std::nullopt);
  EXPECT_EQ(m.get("PID-99"), std::nullopt);
  EXPECT_EQ(m.get("bad path"), std::nullopt);
  EXPECT_EQ(m.getRaw(path("PID-11[2]")), "PO Box 2^^Town^ST^11112");
  EXPECT_EQ(m.getRaw(path("PID-99")), "");
  EXPECT_EQ(m.repetitionCount(path("PID-3")), 3);
  EXPECT_EQ(m.repetitionCount(path("PID-1")), 1);
  EXPECT_EQ(m.repetitionCount(path("PID-2")), 0);
  EXPECT_EQ(m.repetitionCount(path("PID-99")), 0);
  EXPECT_EQ(m.repetitionCount(path("OBX-3")), 0);
  EXPECT_EQ(m.fieldRaw(2, 3), "MRN1^^^HOSP^MR~SSN2^^^SSA^SS~DL3^^^DMV^DL");
  EXPECT_EQ(m.fieldCount(0), 12);
  EXPECT_EQ(m.findSegment("NK1", 2), 4u);
  EXPECT_EQ(m.findSegment("NK1", 3), std::nullopt);
  EXPECT_EQ(m.header().patientId, "MRN1");
}

TEST(Hl7Path, SegmentIteration) {
  const Message m = parseOk(fixture("repetitions.hl7"));
  std::string names;
  for (std::size_t i = 0; i < m.segmentCount(); ++i) {
    names += std::string(m.segment(i).name) + ",";
  }
  EXPECT_EQ(names, "MSH,EVN,PID,NK1,NK1,PV1,");
  EXPECT_EQ(m.segment(99).name, "");
}

// ---- Edits ----

constexpr std::string_view kSmall =
    "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1||X^^^H^MR||Doe^Jane\rPV1|1|I\r";

TEST(Hl7Edit, SetFieldComponentSubcomponentRepetition) {
  Message m = parseOk(kSmall);
  m.set(path("PID-5.2"), "Janet");
  EXPECT_TRUE(m.modified());
  EXPECT_EQ(m.raw(), kSmall);
  EXPECT_EQ(m.serialize(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1||X^^^H^MR||Doe^Janet\rPV1|1|I\r");
  m.set(path("PID-3[3].4.2"), "1.2");
  EXPECT_EQ(m.get("PID-3[3].4.2"), "1.2");
  m.set(path("PID-8"), "F");
  m.set(path("PV1-2"), "O|^&");
  EXPECT_EQ(m.serialize(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\r"
            "PID|1||X^^^H^MR~~^^^&1.2||Doe^Janet|||F\r"
            "PV1|1|O\\F\\\\S\\\\T\\\r");
  EXPECT_EQ(m.get("PV1-2"), "O|^&");
  m.set(path("PID-3"), "Y");
  EXPECT_EQ(m.get("PID-3"), "Y");
  EXPECT_EQ(m.get("PID-3[3].4.2"), "1.2");
  m.set(path("MSH-10"), "CTRL2");
  EXPECT_EQ(m.header().controlId, "CTRL2");
}

TEST(Hl7Edit, SetCreatesMissingSegments) {
  Message m = parseOk(kSmall);
  m.set(path("ZPI[2]-2.1"), "v");
  EXPECT_EQ(m.serialize(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1||X^^^H^MR||Doe^Jane\rPV1|1|I\r"
            "ZPI\rZPI||v\r");
}

TEST(Hl7Edit, Msh1AndMsh2AreNotEditable) {
  Message m = parseOk(kSmall);
  m.set(path("MSH-1"), "#");
  m.set(path("MSH-2"), "!!!!");
  m.set(path("PID"), "whole");
  EXPECT_FALSE(m.modified());
  EXPECT_EQ(m.serialize(), kSmall);
}

TEST(Hl7Edit, SetKeepsNonDefaultDelimitersAndTerminator) {
  const std::string raw = fixture("odd-delimiters.hl7");
  Message m = parseOk(raw);
  m.set(path("PID-5.1"), "Smith*Jones");
  EXPECT_EQ(m.get("PID-5.1"), "Smith*Jones");
  EXPECT_EQ(m.segment(2).raw,
            "PID*1**ID1$$$SB$MR!ID2$$$SB$SS**Smith%F%Jones$Jane%S%Q%T%R**19700101*F");
  EXPECT_EQ(m.serialize().back(), '\n');
}

TEST(Hl7Edit, InsertAndRemoveSegments) {
  Message m = parseOk(kSmall);
  m.insertSegment("ZPI|1|x");
  m.insertSegment("EVN|A01", 1);
  EXPECT_EQ(m.serialize(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rEVN|A01\rPID|1||X^^^H^MR||Doe^Jane\r"
            "PV1|1|I\rZPI|1|x\r");
  m.removeSegment(3);
  m.removeSegment(99);
  EXPECT_EQ(m.serialize(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rEVN|A01\rPID|1||X^^^H^MR||Doe^Jane\r"
            "ZPI|1|x\r");
  EXPECT_EQ(m.segmentCount(), 4u);
  EXPECT_EQ(m.get("ZPI-2"), "x");
}

TEST(Hl7Edit, WithoutFinalTerminator) {
  Message m = parseOk("MSH|^~\\&|A\nPID|1");
  m.insertSegment("PV1|1");
  EXPECT_EQ(m.serialize(), "MSH|^~\\&|A\nPID|1\nPV1|1");
  m.removeSegment(2);
  EXPECT_EQ(m.serialize(), "MSH|^~\\&|A\nPID|1");
  Message c = parseOk("MSH|^~\\&|A\r\nPID|1");
  c.removeSegment(1);
  EXPECT_EQ(c.serialize(), "MSH|^~\\&|A");
}

TEST(Hl7Edit, CopiesAreIndependent) {
  Message m = parseOk(kSmall);
  Message copy = m;
  copy.set(path("PID-1"), "2");
  EXPECT_EQ(m.get("PID-1"), "1");
  EXPECT_EQ(copy.get("PID-1"), "2");
  Message moved = std::move(copy);
  EXPECT_EQ(moved.get("PID-1"), "2");
  ParseResult owned = Message::parseOwned(std::string(kSmall));
  Message o = std::move(*owned.message);
  Message o2 = o;
  EXPECT_EQ(o2.raw(), kSmall);
  EXPECT_EQ(o2.get("PID-5.1"), "Doe");
}

// ---- JSON ----

TEST(Hl7Json, Shape) {
  const Message m = parseOk("MSH|^~\\&|A^B|C\rPID|1||X~Y^Z&s||\"q\"\\E\\\x01\xC3\xA9\xFF\rZNF\r");
  EXPECT_EQ(
      m.toJson(),
      "{\"segments\":["
      "{\"name\":\"MSH\",\"fields\":[\"|\",\"^~\\\\&\",[\"A\",\"B\"],\"C\"]},"
      "{\"name\":\"PID\",\"fields\":[\"1\",\"\",{\"repetitions\":[\"X\",[\"Y\",[\"Z\",\"s\"]]]},"
      "\"\",\"\\\"q\\\"\\\\\\u0001\xC3\xA9\\u00ff\"]},"
      "{\"name\":\"ZNF\",\"fields\":[]}]}");
}

}  // namespace
}  // namespace sb::hl7
