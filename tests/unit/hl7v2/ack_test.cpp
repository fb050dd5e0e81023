// Validation findings, batches and acknowledgements.
#include <gtest/gtest.h>

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

// "code@location: text" per finding, in order.
std::vector<std::string> describe(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const Finding& f : findings) {
    out.push_back(std::string(errorInfo(f.code).id) +
                  (f.severity == Severity::kWarning ? "W" : "") + "@" + f.location.toString() +
                  ": " + f.text);
  }
  return out;
}

AckOptions fixedOptions() {
  AckOptions o;
  o.controlId = "ACK0001";
  o.timestamp = "20260102030405";
  return o;
}

// ---- validate ----

TEST(Hl7Validate, MissingRequiredMshFields) {
  const Message m = parseOk("MSH|^~\\&|A|B|C|D\rPID|1\r");
  EXPECT_EQ(describe(validate(m)), (std::vector<std::string>{
                                       "SB-103@MSH[1]-7: MSH-7 is required",
                                       "SB-103@MSH[1]-9: MSH-9 is required",
                                       "SB-103@MSH[1]-10: MSH-10 is required",
                                       "SB-103@MSH[1]-11: MSH-11 is required",
                                       "SB-103@MSH[1]-12: MSH-12 is required",
                                   }));
}

TEST(Hl7Validate, MessageTypeComponents) {
  EXPECT_EQ(describe(validate(parseOk("MSH|^~\\&|A|B|C|D|20260101||ADT|1|P|2.5\r"))),
            (std::vector<std::string>{"SB-103@MSH[1]-9.2: MSH-9.2 trigger event is required"}));
  EXPECT_EQ(describe(validate(parseOk("MSH|^~\\&|A|B|C|D|20260101||^A01|1|P|2.5\r"))),
            (std::vector<std::string>{"SB-103@MSH[1]-9.1: MSH-9.1 message type is required"}));
  // Before 2.3 the trigger is not in MSH-9; a bare ACK never has one.
  EXPECT_TRUE(validate(parseOk("MSH|^~\\&|A|B|C|D|20260101||ADT|1|P|2.2\r")).empty());
  EXPECT_TRUE(validate(parseOk("MSH|^~\\&|A|B|C|D|20260101||ACK|1|P|2.5\rMSA|AA|1\r")).empty());
}

TEST(Hl7Validate, Versions) {
  for (const char* v : {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1",
                        "2.8", "2.8.1", "2.8.2", "2.5^USA"}) {
    const std::string raw = std::string("MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|") + v + "\r";
    EXPECT_TRUE(validate(parseOk(raw)).empty()) << v;
  }
  for (const char* v : {"2.9", "3.0", "2", "25", "2.5.9"}) {
    const std::string raw = std::string("MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|") + v + "\r";
    EXPECT_EQ(describe(validate(parseOk(raw))),
              (std::vector<std::string>{
                  "SB-106@MSH[1]-12: MSH-12 is not a supported version (2.1 to 2.8)"}))
        << v;
  }
}

TEST(Hl7Validate, SegmentIds) {
  const Message m = parseOk(
      "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1\rpid|2\rPIDX|3\r1AB|4\r|5\r"
      "MSH|^~\\&|again\rZ1\r");
  EXPECT_EQ(describe(validate(m)), (std::vector<std::string>{
                                       "SB-104@pid[1]: segment 3 has an invalid segment id",
                                       "SB-104@PID[1]: segment 4 has an invalid segment id",
                                       "SB-104@1AB[1]: segment 5 has an invalid segment id",
                                       "SB-104@[1]: segment 6 has an invalid segment id",
                                       "SB-104@MSH[2]: MSH is only allowed as the first segment",
                                       "SB-104@Z1[1]: segment 8 has an invalid segment id",
                                   }));
}

TEST(Hl7Validate, TruncationCharacterBefore27IsAWarning) {
  const Message m = parseOk("MSH|^~\\&#|A|B|C|D|20260101||ADT^A01|1|P|2.5\r");
  const auto findings = validate(m);
  EXPECT_EQ(describe(findings),
            (std::vector<std::string>{"SB-102W@MSH[1]-2: MSH-2 has a truncation character, which "
                                      "versions before 2.7 do not define"}));
}

// ---- batches ----

TEST(Hl7Batch, SplitsWithCorrectCounts) {
  const std::string raw = fixture("batch.hl7");
  ASSERT_TRUE(isBatch(raw));
  const BatchResult b = splitBatch(raw);
  EXPECT_TRUE(b.findings.empty()) << describe(b.findings).front();
  ASSERT_EQ(b.messages.size(), 3u);
  EXPECT_EQ(b.messages[0],
            "MSH|^~\\&|BATCHAPP|BFAC|RECV|RFAC|20260101120000||ADT^A01^ADT_A01|B1M1|P|2.5\r"
            "EVN|A01|20260101120000\rPID|1||P11^^^SB^MR||Batch^Patient\r");
  std::vector<std::string> ids;
  for (auto m : b.messages) {
    const Message msg = parseOk(m);
    ids.push_back(msg.header().controlId);
    EXPECT_TRUE(validate(msg).empty());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"B1M1", "B1M2", "B2M1"}));
}

TEST(Hl7Batch, CountMismatch) {
  const BatchResult b = splitBatch(fixture("batch-bad-counts.hl7"));
  EXPECT_EQ(b.messages.size(), 3u);
  EXPECT_EQ(describe(b.findings), (std::vector<std::string>{
                                      "SB-107@BTS[1]-1: BTS-1 says 3 messages, found 2",
                                      "SB-107@FTS[1]-1: FTS-1 says 1 batches, found 2",
                                  }));
  EXPECT_EQ(errorInfo(b.findings[0].code).hl7ErrorCode, 100);
}

TEST(Hl7Batch, MissingTrailersAndStrayLines) {
  const std::string msg = "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1\r";
  EXPECT_EQ(describe(splitBatch("FHS|^~\\&\rBHS|^~\\&\r" + msg).findings),
            (std::vector<std::string>{"SB-104@BTS[1]: batch 1 has no BTS trailer",
                                      "SB-104@FTS[1]: batch file has no FTS trailer"}));
  EXPECT_EQ(describe(splitBatch("BHS|^~\\&\rXYZ|1\r" + msg + "BTS|x\rFTS|1\r").findings),
            (std::vector<std::string>{"SB-104@XYZ: segment outside of a message",
                                      "SB-105@BTS[1]-1: BTS-1 is not a number",
                                      "SB-104@FTS[1]: FTS without a preceding FHS"}));
  // A bare BHS batch with an empty count is fine.
  const BatchResult ok = splitBatch("BHS|^~\\&\n" + msg + msg + "BTS\n");
  EXPECT_TRUE(ok.findings.empty());
  EXPECT_EQ(ok.messages.size(), 2u);
  EXPECT_FALSE(isBatch(msg));
  EXPECT_TRUE(
      isBatch("\xEF\xBB\xBF"
              "FHS|^~\\&"));
  EXPECT_FALSE(isBatch("FHSX"));
}

// ---- chooseAck ----

TEST(Hl7Ack, ChooseOriginalMode) {
  Header h;
  EXPECT_EQ(chooseAck(h, Outcome::kAccepted), AckCode::kAA);
  EXPECT_EQ(chooseAck(h, Outcome::kError), AckCode::kAE);
  EXPECT_EQ(chooseAck(h, Outcome::kRejected), AckCode::kAR);
}

TEST(Hl7Ack, ChooseEnhancedMode) {
  Header h;
  auto choose = [&](const char* accept, Outcome o) {
    h.acceptAckType = accept;
    const auto c = chooseAck(h, o);
    return c ? std::string(toString(*c)) : std::string("none");
  };
  EXPECT_EQ(choose("AL", Outcome::kAccepted), "CA");
  EXPECT_EQ(choose("AL", Outcome::kError), "CE");
  EXPECT_EQ(choose("AL", Outcome::kRejected), "CR");
  EXPECT_EQ(choose("NE", Outcome::kAccepted), "none");
  EXPECT_EQ(choose("NE", Outcome::kError), "none");
  EXPECT_EQ(choose("NE", Outcome::kRejected), "none");
  EXPECT_EQ(choose("ER", Outcome::kAccepted), "none");
  EXPECT_EQ(choose("ER", Outcome::kError), "CE");
  EXPECT_EQ(choose("ER", Outcome::kRejected), "CR");
  EXPECT_EQ(choose("SU", Outcome::kAccepted), "CA");
  EXPECT_EQ(choose("SU", Outcome::kError), "none");
  EXPECT_EQ(choose("SU", Outcome::kRejected), "none");
  // Only MSH-16 given: still enhanced mode, accept acknowledgement always.
  h.applicationAckType = "AL";
  EXPECT_EQ(choose("", Outcome::kAccepted), "CA");
  EXPECT_EQ(choose("", Outcome::kRejected), "CR");
}

TEST(Hl7Ack, ChooseFromFixtures) {
  const Header ne = parseOk(fixture("ADT-A40-01-crlf.hl7")).header();
  EXPECT_EQ(chooseAck(ne, Outcome::kAccepted), std::nullopt);
  const Header al = parseOk(fixture("ORU-R01-01-cr.hl7")).header();
  EXPECT_EQ(chooseAck(al, Outcome::kAccepted), AckCode::kCA);
  const Header orig = parseOk(fixture("ADT-A01-01.hl7")).header();
  EXPECT_EQ(chooseAck(orig, Outcome::kAccepted), AckCode::kAA);
}

TEST(Hl7Ack, ToString) {
  EXPECT_EQ(toString(AckCode::kAA), "AA");
  EXPECT_EQ(toString(AckCode::kAE), "AE");
  EXPECT_EQ(toString(AckCode::kAR), "AR");
  EXPECT_EQ(toString(AckCode::kCA), "CA");
  EXPECT_EQ(toString(AckCode::kCE), "CE");
  EXPECT_EQ(toString(AckCode::kCR), "CR");
}

// ---- buildAck ----

TEST(Hl7Ack, AcceptAck) {
  const Message m = parseOk(fixture("ADT-A01-01.hl7"));
  EXPECT_EQ(buildAck(m, AckCode::kAA, {}, fixedOptions()),
            "MSH|^~\\&|EHRApp^1.Edu^ISO|GHHRFacility^2.16.840.1.1122848.1.32^ISO|ADTApp|"
            "GHHSFacility^2.16.840.1.122848.1.30^ISO|20260102030405||ACK^A01^ACK|ACK0001|P|2.8\r"
            "MSA|AA|MSG00001\r");
}

TEST(Hl7Ack, ErrorAckV25WithErr) {
  const Message m = parseOk(
      "MSH|^~\\&|SApp|SFac|RApp|RFac|20260101||ADT^A04|C42|P|2.5.1\r"
      "PID|1\r");
  std::vector<Finding> findings;
  Finding missing;
  missing.code = ErrorCode::kHl7RequiredFieldMissing;
  missing.location = Location{"PID", 1, 3, 0, 0, 0};
  missing.text = "PID-3 is required";
  findings.push_back(missing);
  Finding warn;
  warn.code = ErrorCode::kHl7DataType;
  warn.severity = Severity::kWarning;
  warn.location = Location{"PID", 1, 7, 2, 1, 0};
  findings.push_back(warn);
  AckOptions o = fixedOptions();
  o.textMessage = "see ERR | details";
  EXPECT_EQ(buildAck(m, AckCode::kAE, findings, o),
            "MSH|^~\\&|RApp|RFac|SApp|SFac|20260102030405||ACK^A04^ACK|ACK0001|P|2.5.1\r"
            "MSA|AE|C42|see ERR \\F\\ details\r"
            "ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 is required\r"
            "ERR||PID^1^7^2^1|102^Data type error^HL70357|W\r");
}

TEST(Hl7Ack, ErrorAckV23UsesErr1) {
  const Message m = parseOk(fixture("ADT01-23.hl7"));
  const auto findings = validate(parseOk("MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|9.9\r"));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(buildAck(m, AckCode::kAE, findings, fixedOptions()),
            "MSH|^~\\&|||AccMgr|1|20260102030405||ACK^A01^ACK|ACK0001|P|2.3\r"
            "MSA|AE|599102\r"
            "ERR|MSH^1^12^203&Unsupported version id&HL70357\r");
}

TEST(Hl7Ack, EnhancedAckKeepsNonDefaultDelimiters) {
  const Message m = parseOk(fixture("truncation-v27.hl7"));
  Finding f;
  f.code = ErrorCode::kHl7SegmentSequence;
  f.location = Location{"PV1", 1, 0, 0, 0, 0};
  EXPECT_EQ(buildAck(m, AckCode::kCE, {f}, fixedOptions()),
            "MSH|$!%*#|RECV|RFAC|TRUNCAPP|TFAC|20260102030405||ACK$A04$ACK|ACK0001|P|2.7\r"
            "MSA|CE|TRUNC0001\r"
            "ERR||PV1$1|100$Segment sequence error$HL70357|E\r");
  const Message odd = parseOk(fixture("odd-delimiters.hl7"));
  EXPECT_EQ(buildAck(odd, AckCode::kCA, {}, fixedOptions()),
            "MSH*$!%@*RECV*RFAC*ODDAPP$1.2.3$ISO*ODDFAC*20260102030405**ACK$A01$ACK*ACK0001*P*2.5\r"
            "MSA*CA*ODD0001\r");
}

TEST(Hl7Ack, EnhancedModeFixtureAcceptAck) {
  const Message m = parseOk(fixture("ORU-R01-01-cr.hl7"));
  const auto code = chooseAck(m.header(), Outcome::kAccepted);
  ASSERT_TRUE(code);
  EXPECT_EQ(buildAck(m, *code, validate(m), fixedOptions()),
            "MSH|^~\\&|IA.DOH.IDSS^2.16.840.1.114222.4.3.3.19^ISO|"
            "IA DOH^2.16.840.1.114222.4.1.3650^ISO|"
            "IA PHIMS Stage^2.16.840.1.114222.4.3.3.5.1.2^ISO|"
            "IA Public Health Lab^2.16.840.1.114222.4.1.10411^ISO|20260102030405||ACK^R01^ACK|"
            "ACK0001|T|2.5.1\r"
            "MSA|CA|2.16.840.1.114222.4.3.3.5.1.2-20120314235954.325\r");
}

TEST(Hl7Ack, ValidationFindingsBecomeErrSegments) {
  const Message m = parseOk("MSH|^~\\&|S|SF|R|RF|||ADT|C1||2.6\rpid|1\r");
  const auto findings = validate(m);
  EXPECT_EQ(buildAck(m, AckCode::kAE, findings, fixedOptions()),
            "MSH|^~\\&|R|RF|S|SF|20260102030405||ACK^^ACK|ACK0001||2.6\r"
            "MSA|AE|C1\r"
            "ERR||pid^1|100^Segment sequence error^HL70357|E||||segment 2 has an invalid segment "
            "id\r"
            "ERR||MSH^1^7|101^Required field missing^HL70357|E||||MSH-7 is required\r"
            "ERR||MSH^1^11|101^Required field missing^HL70357|E||||MSH-11 is required\r"
            "ERR||MSH^1^9^^2|101^Required field missing^HL70357|E||||MSH-9.2 trigger event is "
            "required\r");
}

TEST(Hl7Ack, GeneratedControlIdAndTimestamp) {
  const Message m = parseOk(fixture("repetitions.hl7"));
  const std::string a = buildAck(m, AckCode::kAA, {});
  const std::string b = buildAck(m, AckCode::kAA, {});
  const Message ackA = parseOk(a);
  const Message ackB = parseOk(b);
  const std::string idA = ackA.header().controlId;
  EXPECT_EQ(idA.size(), 20u);
  EXPECT_EQ(ackA.header().timestamp.size(), 14u);
  EXPECT_EQ(idA.substr(0, 14), ackA.header().timestamp);
  EXPECT_NE(idA, ackB.header().controlId);
  EXPECT_TRUE(validate(ackA).empty());
}

TEST(Hl7Ack, RejectAckForBadEncodingCharacters) {
  const std::string raw = "MSH|^^\\&|SApp|SFac^X|RApp|RFac|20260101||ADT^A08|C77|T|2.4\rPID|1\r";
  ParseResult r = Message::parse(raw);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->code, ErrorCode::kHl7BadEncodingChars);
  EXPECT_EQ(buildRejectAck(raw, *r.error, fixedOptions()),
            "MSH|^~\\&|RApp|RFac|SApp|SFac^X|20260102030405||ACK^A08^ACK|ACK0001|T|2.5\r"
            "MSA|AR|C77\r"
            "ERR||MSH^1^2|102^Data type error^HL70357|E||||MSH-2 encoding characters must be "
            "distinct, non-alphanumeric and differ from MSH-1\r");
}

TEST(Hl7Ack, RejectAckSalvageWithOtherSeparatorOrNothing) {
  Finding f;
  f.code = ErrorCode::kHl7BadEncodingChars;
  f.location = Location{"MSH", 1, 2, 0, 0, 0};
  EXPECT_EQ(buildRejectAck("MSH#x#S|A#F^B#R#G#t##ADT#ID~9\n", f, fixedOptions()),
            "MSH|^~\\&|R|G|S\\F\\A|F\\S\\B|20260102030405||ACK^^ACK|ACK0001|P|2.5\r"
            "MSA|AR|ID\\R\\9\r"
            "ERR||MSH^1^2|102^Data type error^HL70357|E\r");
  Finding noMsh;
  noMsh.code = ErrorCode::kHl7NoMsh;
  noMsh.location = Location{"MSH", 1, 0, 0, 0, 0};
  EXPECT_EQ(buildRejectAck("garbage", noMsh, fixedOptions()),
            "MSH|^~\\&|||||20260102030405||ACK^^ACK|ACK0001|P|2.5\r"
            "MSA|AR|\r"
            "ERR||MSH^1|100^Segment sequence error^HL70357|E\r");
}

// ---- readAck ----

TEST(Hl7Ack, ReadAck) {
  const auto own = readAck(buildAck(parseOk(fixture("ADT-A01-01.hl7")), AckCode::kAE, {}, [] {
    AckOptions o;
    o.textMessage = "bad & worse";
    return o;
  }()));
  ASSERT_TRUE(own);
  EXPECT_EQ(own->code, "AE");
  EXPECT_EQ(own->controlId, "MSG00001");
  EXPECT_EQ(own->text, "bad & worse");
  const auto peer = readAck("MSH|^~\\&|R|F|S|F|20260101||ACK|9|P|2.3\nMSA|CA|ORIG1\nERR|x\n");
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->code, "CA");
  EXPECT_EQ(peer->controlId, "ORIG1");
  EXPECT_EQ(peer->text, "");
  EXPECT_EQ(readAck("MSH|^~\\&|R\rPID|1\r"), std::nullopt);
  EXPECT_EQ(readAck("not hl7"), std::nullopt);
}

}  // namespace
}  // namespace sb::hl7
