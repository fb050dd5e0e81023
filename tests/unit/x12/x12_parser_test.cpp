// X12 parser: delimiters, segments, envelopes with their counts and control numbers, and the
// TA1/999 each class of envelope error produces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parsers/x12/ack.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"
#include "tests/support/test_support.h"

namespace sb::x12 {
namespace {

const std::string kIsa =
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *260101*1200*^*00501*"
    "000000101*0*T*:~";

// A small 270 with the given SE01/SE02 (defaults correct), one group, one interchange.
std::string eligibility(const std::string& se01 = "13", const std::string& se02 = "0001",
                        const std::string& ge = "GE*1*7~",
                        const std::string& iea = "IEA*1*000000101~") {
  return kIsa +
         "GS*HS*SUBMITTER*RECEIVER*20260101*1200*7*X*005010X279A1~"
         "ST*270*0001*005010X279A1~"
         "BHT*0022*13*10001234*20260101*1200~"
         "HL*1**20*1~"
         "NM1*PR*2*ACME HEALTH*****PI*12345~"
         "HL*2*1*21*1~"
         "NM1*1P*2*BONE CLINIC*****XX*1234567893~"
         "HL*3*2*22*0~"
         "TRN*1*93175-012547*9877281234~"
         "NM1*IL*1*DOE*JANE****MI*W123456789~"
         "DMG*D8*19700101~"
         "DTP*291*D8*20260101~"
         "EQ*30~"
         "SE*" +
         se01 + "*" + se02 + "~" + ge + iea;
}

std::vector<const Finding*> findingsWith(const Document& doc, Level level) {
  std::vector<const Finding*> out;
  for (const Finding& f : doc.findings()) {
    if (f.level == level) out.push_back(&f);
  }
  return out;
}

TEST(X12Delimiters, ReadFromIsa) {
  const auto d = readDelimiters(kIsa);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->element, '*');
  EXPECT_EQ(d->repetition, '^');
  EXPECT_EQ(d->component, ':');
  EXPECT_EQ(d->segment, '~');
  EXPECT_EQ(d->suffix, "");
}

TEST(X12Delimiters, OddDelimitersLineBreaksAnd4010) {
  std::string isa = kIsa;
  for (char& c : isa) {
    if (c == '*') c = '|';
  }
  isa[82] = 'U';              // ISA11 in 4010: no repetition separator
  isa[isa.size() - 2] = '>';  // ISA16
  isa[isa.size() - 1] = '!';  // terminator
  const auto d = readDelimiters(isa + "\r\nGS|");
  ASSERT_TRUE(d) << isa;
  EXPECT_EQ(d->element, '|');
  EXPECT_EQ(d->repetition, 0);
  EXPECT_EQ(d->component, '>');
  EXPECT_EQ(d->segment, '!');
  EXPECT_EQ(d->suffix, "\r\n");
}

TEST(X12Delimiters, RefusesWhatIsNotAnIsa) {
  std::string why;
  EXPECT_FALSE(readDelimiters("MSH|^~\\&|", &why));
  EXPECT_EQ(why, "the input does not start with ISA");
  EXPECT_FALSE(readDelimiters("ISA*00*short~", &why));
  EXPECT_EQ(why, "ISA: fewer than 16 elements");
}

// The ISA's fields are padded with spaces: a space is never a delimiter. A sloppy ISA (read by
// counting separators) whose 16th separator is followed by a space used to yield a space
// terminator, and the acknowledgement builder then threw on the padded ISA02 of its answer
// (found by fuzz_x12; fixtures/x12/invalid/isa_space_after_isa16.txt).
TEST(X12Delimiters, ASpaceIsNeverADelimiter) {
  std::string why;
  EXPECT_FALSE(
      readDelimiters("ISA*00*A*00*B*ZZ*S*ZZ*R*260101*1200*^*00501*000000001*0*T*: *"
                     "GS*HS~",
                     &why));
  EXPECT_EQ(why, "ISA: the segment terminator must not be a letter, digit or space");
  std::string blankIsa11 = kIsa;
  blankIsa11[82] = ' ';
  const auto d = readDelimiters(blankIsa11);
  ASSERT_TRUE(d) << blankIsa11;
  EXPECT_EQ(d->repetition, 0);
}

TEST(X12Delimiters, TheFuzzFindingIsAnsweredWithoutThrowing) {
  const Document doc = Document::parseOwned(
      test::readFile(test::fixturePath("x12/invalid/isa_space_after_isa16.txt")));
  ASSERT_FALSE(doc.findings().empty());
  EXPECT_EQ(doc.findings().front().x12Code, "026");
  EXPECT_EQ(doc.findings().front().message,
            "ISA: the segment terminator must not be a letter, digit or space");
  for (std::size_t i = 0; i < doc.interchanges().size(); ++i) {
    EXPECT_NO_THROW(buildAcknowledgement(doc, i, AckNumbers{}, AckOptions{"20260101", "1200"}));
  }
}

TEST(X12Parse, SegmentsElementsComponentsRepetitions) {
  const std::string raw =
      kIsa +
      "GS*HC*A*B*20260101*1200*1*X*005010X222A1~ST*837*0001~"
      "HI*ABK:J449^ABF:E119~CLM*A1*100***11:B:1~SE*4*0001~GE*1*1~IEA*1*000000101~";
  const Document doc = Document::parse(raw);
  ASSERT_EQ(doc.segments().size(), 8u);
  const Segment& hi = doc.segments()[3];
  EXPECT_EQ(hi.id(), "HI");
  EXPECT_EQ(hi.repetitionCount(1), 2u);
  EXPECT_EQ(hi.component(1, 1, 0), "ABK");
  EXPECT_EQ(hi.component(1, 2, 1), "E119");
  EXPECT_EQ(hi.component(1, 3, 1), "");
  const Segment& clm = doc.segments()[4];
  EXPECT_EQ(clm.elementCount(), 5u);
  EXPECT_EQ(clm.element(3), "");
  EXPECT_EQ(clm.component(5, 2), "B");
  EXPECT_EQ(clm.componentCount(5), 3u);
  EXPECT_EQ(clm.element(9), "");
}

// Writing every parsed segment back with the document's delimiters gives the input's bytes:
// the index (ids, element boundaries, terminators, line breaks) loses nothing.
std::string rewrite(const Document& doc) {
  Writer w(doc.delimiters());
  for (const Segment& s : doc.segments()) {
    std::vector<std::string> elements;
    for (std::size_t i = 0; i <= s.elementCount(); ++i) elements.emplace_back(s.element(i));
    // The writer drops trailing empty elements; keep them here to compare bytes.
    std::string line;
    for (std::size_t i = 0; i < elements.size(); ++i)
      line += (i ? std::string(1, doc.delimiters().element) : "") + elements[i];
    EXPECT_EQ(line, s.raw());
    w.segment(elements);
  }
  return w.take();
}

TEST(X12Parse, RoundTripWithAndWithoutLineBreaks) {
  const std::string flat = eligibility();
  EXPECT_EQ(rewrite(Document::parse(flat)), flat);
  std::string lines;
  for (char c : flat) {
    lines += c;
    if (c == '~') lines += "\r\n";
  }
  const Document doc = Document::parse(lines);
  EXPECT_EQ(doc.delimiters().suffix, "\r\n");
  EXPECT_EQ(rewrite(doc), lines);
  EXPECT_TRUE(doc.findings().empty());
}

TEST(X12Envelopes, CorrectInterchangeHasNoFindings) {
  const Document doc = Document::parseOwned(eligibility());
  ASSERT_EQ(doc.interchanges().size(), 1u);
  const Interchange& ic = doc.interchanges()[0];
  EXPECT_EQ(ic.controlNumber, "000000101");
  EXPECT_EQ(ic.senderId, "SUBMITTER");
  ASSERT_EQ(ic.groups.size(), 1u);
  ASSERT_EQ(ic.groups[0].transactions.size(), 1u);
  EXPECT_EQ(ic.groups[0].transactions[0].setId, "270");
  EXPECT_EQ(ic.groups[0].transactions[0].convention, "005010X279A1");
  for (const Finding& f : doc.findings()) ADD_FAILURE() << f.message;
}

struct EnvelopeCase {
  std::string name;
  std::string input;
  Level level;
  std::string code;
  std::string message;
};

class X12EnvelopeErrors : public testing::TestWithParam<EnvelopeCase> {};

TEST_P(X12EnvelopeErrors, ReportsLevelCodeAndMessage) {
  const EnvelopeCase& c = GetParam();
  const Document doc = Document::parse(c.input);
  const auto found = findingsWith(doc, c.level);
  ASSERT_EQ(found.size(), 1u) << doc.toJson(true);
  EXPECT_EQ(found[0]->x12Code, c.code);
  EXPECT_EQ(found[0]->message, c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, X12EnvelopeErrors,
    testing::Values(
        EnvelopeCase{"SegmentCount", eligibility("12"), Level::kTransaction, "4",
                     "SE01 says 12 segments, the transaction set has 13"},
        EnvelopeCase{"SetControlNumber", eligibility("13", "0002"), Level::kTransaction, "3",
                     "SE02 0002 does not match ST02 0001"},
        EnvelopeCase{"GroupCount", eligibility("13", "0001", "GE*2*7~"), Level::kGroup, "5",
                     "GE01 says 2 transaction sets, the group has 1"},
        EnvelopeCase{"GroupControlNumber", eligibility("13", "0001", "GE*1*8~"), Level::kGroup, "4",
                     "GE02 8 does not match GS06 7"},
        EnvelopeCase{"InterchangeCount", eligibility("13", "0001", "GE*1*7~", "IEA*2*000000101~"),
                     Level::kInterchange, "021",
                     "IEA01 says 2 functional groups, the interchange has 1"},
        EnvelopeCase{"InterchangeControlNumber",
                     eligibility("13", "0001", "GE*1*7~", "IEA*1*000000102~"), Level::kInterchange,
                     "001", "IEA02 000000102 does not match ISA13 000000101"},
        EnvelopeCase{"MissingIea", eligibility("13", "0001", "GE*1*7~", ""), Level::kInterchange,
                     "023", "interchange 000000101: IEA trailer missing"},
        EnvelopeCase{"MissingSe", eligibility().replace(eligibility().find("SE*"), 11, ""),
                     Level::kTransaction, "2",
                     "transaction set 270 (ST02 0001): SE trailer missing"},
        EnvelopeCase{"BadDate",
                     [] {
                       std::string s = eligibility();
                       s.replace(70, 6, "261399");
                       return s;
                     }(),
                     Level::kInterchange, "014",
                     "ISA09 interchange date is not a valid YYMMDD date"}),
    [](const testing::TestParamInfo<EnvelopeCase>& info) { return info.param.name; });

TEST(X12Envelopes, SeveralInterchangesGroupsAndSets) {
  std::string two = eligibility();
  // A second group with two sets, and a second interchange with other delimiters.
  const std::string set2 = "ST*270*0002*005010X279A1~BHT*0022*13*1*20260101*1200~SE*3*0002~";
  const std::string set3 = "ST*270*0003*005010X279A1~BHT*0022*13*2*20260101*1200~SE*3*0003~";
  two.insert(two.find("IEA*"),
             "GS*HS*SUBMITTER*RECEIVER*20260101*1200*8*X*005010X279A1~" + set2 + set3 + "GE*2*8~");
  two.replace(two.find("IEA*1*"), 6, "IEA*2*");
  std::string other = eligibility();
  for (char& c : other) {
    if (c == '*')
      c = '|';
    else if (c == '~')
      c = '\n';
  }
  other.replace(other.find("000000101"), 9, "000000102");
  other.replace(other.rfind("000000101"), 9, "000000102");
  const Document doc = Document::parseOwned(two + "\n" + other);
  for (const Finding& f : doc.findings()) ADD_FAILURE() << f.message;
  ASSERT_EQ(doc.interchanges().size(), 2u);
  EXPECT_EQ(doc.interchanges()[0].groups.size(), 2u);
  EXPECT_EQ(doc.interchanges()[0].groups[1].transactions.size(), 2u);
  EXPECT_EQ(doc.interchanges()[1].controlNumber, "000000102");
  EXPECT_EQ(doc.segments().back().delimiters().element, '|');
  EXPECT_EQ(doc.interchanges()[1].groups[0].transactions[0].setId, "270");
}

TEST(X12Envelopes, NoIsaMeansNoInterchange) {
  const Document doc = Document::parseOwned("GS*HC*A*B*20260101*1200*1*X*005010X222A1~");
  EXPECT_FALSE(doc.usable());
  ASSERT_EQ(doc.findings().size(), 1u);
  EXPECT_EQ(doc.findings()[0].x12Code, "022");
}

TEST(X12Envelopes, OversizedInputIsRefusedWhole) {
  Limits limits;
  limits.maxBytes = 100;
  const Document doc = Document::parseOwned(eligibility(), limits);
  EXPECT_FALSE(doc.usable());
  ASSERT_EQ(doc.findings().size(), 1u);
  EXPECT_EQ(doc.findings()[0].message, "input of 471 bytes is over the limit of 100 bytes");
}

TEST(X12Ack, Ta1RejectsABrokenEnvelope) {
  Document doc = Document::parseOwned(eligibility("13", "0001", "GE*1*7~", "IEA*1*000000102~"));
  doc.validate(SpecLibrary::builtin());
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{55, 9, 1}, AckOptions{"20260102", "0930", true});
  EXPECT_EQ(
      ack,
      "ISA*00*          *00*          *ZZ*RECEIVER       *ZZ*SUBMITTER      *260102*0930*^*00501*"
      "000000055*0*T*:~\n"
      "TA1*000000101*260101*1200*R*001~\n"
      "IEA*0*000000055~\n");
}

TEST(X12Ack, Ta1AcceptsWhenRequestedAnd999ForTheGroup) {
  std::string in = eligibility();
  in[kIsa.size() - 6] = '1';  // ISA14: acknowledgment requested
  Document doc = Document::parse(in);
  doc.validate(SpecLibrary::builtin());
  const AckPlan plan = planAck(doc, 0);
  EXPECT_TRUE(plan.sendTa1);
  EXPECT_EQ(plan.groups, 1);
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{55, 9, 3}, AckOptions{"20260102", "0930", true});
  const Document back = Document::parse(ack);
  for (const Finding& f : back.findings()) ADD_FAILURE() << f.message;
  EXPECT_NE(ack.find("TA1*000000101*260101*1200*A*000~"), std::string::npos) << ack;
  EXPECT_NE(ack.find("GS*FA*RECEIVER*SUBMITTER*20260102*0930*9*X*005010X231A1~"), std::string::npos)
      << ack;
  EXPECT_NE(
      ack.find("ST*999*0003*005010X231A1~\nAK1*HS*7*005010X279A1~\nAK2*270*0001*005010X279A1~"),
      std::string::npos)
      << ack;
}

TEST(X12Ack, WrongSegmentCountRejectsTheSetIn999) {
  Document doc = Document::parseOwned(eligibility("12"));
  doc.validate(SpecLibrary::builtin());
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{1, 1, 1}, AckOptions{"20260102", "0930", true});
  EXPECT_NE(ack.find("AK2*270*0001*005010X279A1~\nIK5*R*4~\nAK9*R*1*1*0~\nSE*"), std::string::npos)
      << ack;
}

TEST(X12Ack, GroupTrailerMismatchRejectsTheGroup) {
  Document doc = Document::parseOwned(eligibility("13", "0001", "GE*1*8~"));
  doc.validate(SpecLibrary::builtin());
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{1, 1, 1}, AckOptions{"20260102", "0930", true});
  EXPECT_NE(ack.find("AK9*R*1*1*0*4~"), std::string::npos) << ack;
}

TEST(X12Writer, RefusesDelimitersInValuesAndDropsTrailingEmpties) {
  Writer w(Delimiters{});
  w.segment({"NM1", "IL", "1", "DOE", "", ""});
  EXPECT_EQ(w.str(), "NM1*IL*1*DOE~");
  EXPECT_THROW(w.segment({"NM1", "IL", "1", "DO*E"}), std::invalid_argument);
  EXPECT_THROW(w.segment({"nm1"}), std::invalid_argument);
}

}  // namespace
}  // namespace sb::x12

namespace sb::x12 {
namespace {

// EQ01 repeats in 005010 (the dictionary says X99); NM101 does not.
TEST(X12Validate, RepeatableElementsAndTooManyRepetitions) {
  std::string in = eligibility();
  in.replace(in.find("EQ*30~"), 6, "EQ*30^1^88~");
  Document ok = Document::parse(in);
  ok.validate(SpecLibrary::builtin());
  for (const Finding& f : ok.findings()) ADD_FAILURE() << f.message;
  in.replace(in.find("NM1*IL*1*"), 9, "NM1*IL^IL*1*");
  Document bad = Document::parse(in);
  bad.validate(SpecLibrary::builtin());
  const auto found = findingsWith(bad, Level::kElement);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]->x12Code, "12");
  EXPECT_EQ(found[0]->message, "2100C NM101: too many repetitions (2, at most 1)");
}

}  // namespace
}  // namespace sb::x12

namespace sb::x12 {
namespace {

// The 270 of eligibility() with `from` replaced by `to` and SE01 set to `segments`; the
// positions in the expectations count from ST = 1 (ST BHT HL NM1 HL NM1 HL TRN NM1 DMG DTP EQ SE).
std::string edited(const std::string& from, const std::string& to, int segments = 13) {
  std::string in = eligibility(std::to_string(segments));
  in.replace(in.find(from), from.size(), to);
  return in;
}

struct AckCase {
  std::string name;
  std::string input;
  std::string expected;  // the 999's lines from IK3 on, through AK9
};

class X12999Classes : public testing::TestWithParam<AckCase> {};

TEST_P(X12999Classes, Ik3Ik4Ik5AndAk9AsTheGuideDefines) {
  Document doc = Document::parseOwned(GetParam().input);
  doc.validate(SpecLibrary::builtin());
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{1, 1, 1}, AckOptions{"20260102", "0930", true});
  const std::size_t from = ack.find("AK2*270*0001*005010X279A1~\n");
  ASSERT_NE(from, std::string::npos) << ack;
  const std::size_t begin = from + std::string("AK2*270*0001*005010X279A1~\n").size();
  const std::size_t end = ack.find("SE*", begin);
  EXPECT_EQ(ack.substr(begin, end - begin), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, X12999Classes,
    testing::Values(
        AckCase{"Accepted", eligibility(), "IK5*A~\nAK9*A*1*1*1~\n"},
        AckCase{"UnrecognizedSegment", edited("DMG*D8*19700101~", "DMG*D8*19700101~ZZZ*1~", 14),
                "IK3*ZZZ*11*2100*1~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"SegmentNotInTheSet", edited("DMG*D8*19700101~", "DMG*D8*19700101~CLP*1~", 14),
                "IK3*CLP*11*2100*6~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{
            "OutOfSequence",
            edited("DTP*291*D8*20260101~", "DTP*291*D8*20260101~BHT*0022*13*1*20260101*1200~", 14),
            "IK3*BHT*12*2100*7~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"OverMaximumUse",
                edited("DMG*D8*19700101~", "DMG*D8*19700101~DMG*D8*19700101~", 14),
                "IK3*DMG*11*2100*5~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{
            "RequiredLoopMissing",
            edited("NM1*IL*1*DOE*JANE****MI*W123456789~DMG*D8*19700101~DTP*291*D8*20260101~EQ*30~",
                   "", 9),
            "IK3*NM1*9*2100*3~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"RequiredElementMissing", edited("TRN*1*93175-012547*", "TRN*1**"),
                "IK3*TRN*8*2000*8~\nIK4*2*127*1~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"ElementTooLong", edited("NM1*IL*1*DOE*", "NM1*IL*1*" + std::string(61, 'D') + "*"),
                "IK3*NM1*9*2100*8~\nIK4*3*1035*5*" + std::string(61, 'D') +
                    "~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"InvalidCodeOnATrigger", edited("NM1*IL*1*DOE*", "NM1*XX*1*DOE*"),
                "IK3*NM1*9*2100*8~\nIK4*1*98*7*XX~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"InvalidDate",
                edited("BHT*0022*13*10001234*20260101*", "BHT*0022*13*10001234*20261301*"),
                "IK3*BHT*2**8~\nIK4*4*373*8*20261301~\nIK5*R*5~\nAK9*R*1*1*0~\n"},
        AckCase{"SegmentCount", eligibility("12"), "IK5*R*4~\nAK9*R*1*1*0~\n"},
        AckCase{"ControlNumberMismatch", eligibility("13", "0002"), "IK5*R*3~\nAK9*R*1*1*0~\n"},
        AckCase{"GroupCount", eligibility("13", "0001", "GE*2*7~"), "IK5*A~\nAK9*R*2*1*0*5~\n"}),
    [](const testing::TestParamInfo<AckCase>& info) { return info.param.name; });

TEST(X12Ack, PartiallyAcceptedGroup) {
  std::string in = eligibility();
  const std::string bad = "ST*270*0002*005010X279A1~BHT*0022*13*1*20260101*1200~SE*9*0002~";
  in.replace(in.find("GE*1*7~"), 7, bad + "GE*2*7~");
  Document doc = Document::parse(in);
  doc.validate(SpecLibrary::builtin());
  const std::string ack =
      buildAcknowledgement(doc, 0, AckNumbers{1, 1, 1}, AckOptions{"20260102", "0930", true});
  EXPECT_NE(ack.find("AK2*270*0001*005010X279A1~\nIK5*A~\nAK2*270*0002*005010X279A1~\n"),
            std::string::npos)
      << ack;
  EXPECT_NE(ack.find("AK9*P*2*2*1~"), std::string::npos) << ack;
}

}  // namespace
}  // namespace sb::x12
