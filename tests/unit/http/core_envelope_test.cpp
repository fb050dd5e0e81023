// The CAQH CORE connectivity envelope codec (HTTP MIME multipart): round trips, what senders in
// the field send (LF line ends, quoted boundaries, preambles), the ErrorCode for each missing or
// illegal field, the limits, and payload bytes kept exactly.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "channels/http/core_envelope.h"

namespace sb::channels::core {
namespace {

const std::string kX12 =
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *230101*1200*^*00501*"
    "000000001*0*P*:~GS*HS*SUBMITTER*RECEIVER*20230101*1200*1*X*005010X279A1~ST*270*0001*"
    "005010X279A1~BHT*0022*13*10001234*20230101*1200~SE*3*0001~GE*1*1~IEA*1*000000001~";

Envelope request() {
  Envelope e;
  e.payloadType = "X12_270_Request_005010X279A1";
  e.processingMode = "RealTime";
  e.payloadId = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  e.timeStamp = "2007-08-30T10:20:34Z";
  e.senderId = "HospitalA";
  e.receiverId = "PayerB";
  e.coreRuleVersion = "2.2.0";
  e.payload = kX12;
  return e;
}

void expectSame(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.payloadType, b.payloadType);
  EXPECT_EQ(a.processingMode, b.processingMode);
  EXPECT_EQ(a.payloadId, b.payloadId);
  EXPECT_EQ(a.timeStamp, b.timeStamp);
  EXPECT_EQ(a.senderId, b.senderId);
  EXPECT_EQ(a.receiverId, b.receiverId);
  EXPECT_EQ(a.coreRuleVersion, b.coreRuleVersion);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.errorCode, b.errorCode);
  EXPECT_EQ(a.errorMessage, b.errorMessage);
  EXPECT_EQ(a.userName, b.userName);
  EXPECT_EQ(a.password, b.password);
}

// A body built by hand, field by field, with the given line end and boundary.
struct Fields {
  std::vector<std::pair<std::string, std::string>> list = {
      {"PayloadType", "X12_270_Request_005010X279A1"},
      {"ProcessingMode", "RealTime"},
      {"PayloadID", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
      {"TimeStamp", "2007-08-30T10:20:34Z"},
      {"SenderID", "HospitalA"},
      {"ReceiverID", "PayerB"},
      {"CORERuleVersion", "2.2.0"},
      {"Payload", kX12},
  };
  Fields& without(const std::string& name) {
    std::erase_if(list, [&](const auto& f) { return f.first == name; });
    return *this;
  }
  Fields& set(const std::string& name, const std::string& value) {
    for (auto& f : list) {
      if (f.first == name) {
        f.second = value;
        return *this;
      }
    }
    list.emplace_back(name, value);
    return *this;
  }
  std::string body(const std::string& boundary = "XbCY", const std::string& eol = "\r\n") const {
    std::string out;
    for (const auto& [name, value] : list) {
      out += "--" + boundary + eol + "Content-Disposition: form-data; name=\"" + name + "\"" + eol +
             eol + value + eol;
    }
    out += "--" + boundary + "--" + eol;
    return out;
  }
};

const std::string kType = "multipart/form-data; boundary=XbCY";

ParseResult parse(const std::string& body, const Limits& limits = {}) {
  return parseMultipart(kType, body, limits);
}

TEST(CoreEnvelope, RoundTripRealTime) {
  const Envelope e = request();
  const Encoded enc = encodeMultipart(e);
  EXPECT_EQ(enc.contentType.rfind("multipart/form-data; boundary=", 0), 0u) << enc.contentType;
  const ParseResult r = parseMultipart(enc.contentType, enc.body);
  ASSERT_TRUE(r.ok()) << r.errorCode << ": " << r.errorMessage;
  EXPECT_EQ(r.errorCode, "");
  expectSame(*r.envelope, e);
  // Real time: no batch integrity fields.
  EXPECT_EQ(enc.body.find("PayloadLength"), std::string::npos);
  EXPECT_EQ(enc.body.find("CheckSum"), std::string::npos);
}

TEST(CoreEnvelope, EncodesOnePartPerFieldWithCrlf) {
  Envelope e = request();
  e.userName = "hospital";
  e.password = "s3cret";
  const Encoded enc = encodeMultipart(e);
  const std::string boundary = enc.contentType.substr(enc.contentType.find('=') + 1);
  ASSERT_FALSE(boundary.empty());
  auto part = [&](const std::string& name, const std::string& value) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
           value + "\r\n";
  };
  const std::string expected = part("PayloadType", e.payloadType) +
                               part("ProcessingMode", "RealTime") + part("PayloadID", e.payloadId) +
                               part("TimeStamp", e.timeStamp) + part("UserName", "hospital") +
                               part("Password", "s3cret") + part("SenderID", "HospitalA") +
                               part("ReceiverID", "PayerB") + part("CORERuleVersion", "2.2.0") +
                               part("Payload", kX12) + "--" + boundary + "--\r\n";
  EXPECT_EQ(enc.body, expected);
  const ParseResult r = parseMultipart(enc.contentType, enc.body);
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  expectSame(*r.envelope, e);
}

TEST(CoreEnvelope, RoundTripBatchCarriesLengthAndChecksum) {
  Envelope e = request();
  e.payloadType = "X12_005010_Request_Batch_Submission";
  e.processingMode = "Batch";
  e.payload = "abc";
  const Encoded enc = encodeMultipart(e);
  EXPECT_NE(enc.body.find("name=\"PayloadLength\"\r\n\r\n3\r\n"), std::string::npos);
  // SHA-1("abc"), FIPS 180 test vector.
  EXPECT_NE(enc.body.find("name=\"CheckSum\"\r\n\r\na9993e364706816aba3e25717850c26c9cd0d89d\r\n"),
            std::string::npos)
      << enc.body;
  const ParseResult r = parseMultipart(enc.contentType, enc.body);
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  expectSame(*r.envelope, e);

  e.payload = kX12;
  const Encoded big = encodeMultipart(e);
  const ParseResult r2 = parseMultipart(big.contentType, big.body);
  ASSERT_TRUE(r2.ok()) << r2.errorMessage;
  EXPECT_EQ(r2.envelope->payload, kX12);
}

TEST(CoreEnvelope, RoundTripResponseWithErrorFields) {
  Envelope e = request();
  e.payloadType = "CoreEnvelopeError";
  e.payload.clear();
  e.errorCode = "PayloadIDIllegal";
  e.errorMessage = "PayloadID \"x\" is not a UUID";
  const Encoded enc = encodeMultipart(e);
  EXPECT_EQ(enc.body.find("name=\"Payload\""), std::string::npos);  // nothing to carry
  const ParseResult r = parseMultipart(enc.contentType, enc.body);
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  expectSame(*r.envelope, e);

  Envelope ok = request();
  ok.payloadType = "X12_271_Response_005010X279A1";
  ok.errorCode = std::string(error::kSuccess);
  ok.errorMessage = "";
  const Encoded enc2 = encodeMultipart(ok);
  EXPECT_NE(enc2.body.find("name=\"ErrorMessage\"\r\n\r\n\r\n"), std::string::npos);
  const ParseResult r2 = parseMultipart(enc2.contentType, enc2.body);
  ASSERT_TRUE(r2.ok()) << r2.errorMessage;
  EXPECT_EQ(r2.envelope->errorCode, "Success");
}

TEST(CoreEnvelope, AcceptsLfAndMixedLineEnds) {
  // As some senders post it (LF only), and a mix of both.
  const ParseResult lf = parse(Fields().body("XbCY", "\n"));
  ASSERT_TRUE(lf.ok()) << lf.errorMessage;
  EXPECT_EQ(lf.envelope->payload, kX12);
  EXPECT_EQ(lf.envelope->processingMode, "RealTime");

  // Every other CRLF becomes a bare LF.
  std::string mixed = Fields().body();
  int n = 0;
  for (std::size_t at = mixed.find("\r\n"); at != std::string::npos; at = mixed.find("\r\n", at)) {
    if (++n % 2 == 0) {
      mixed.erase(at, 1);
    } else {
      at += 2;
    }
  }
  const ParseResult m = parse(mixed);
  ASSERT_TRUE(m.ok()) << m.errorMessage;
  EXPECT_EQ(m.envelope->payload, kX12);
  EXPECT_EQ(m.envelope->receiverId, "PayerB");
}

TEST(CoreEnvelope, PayloadLineEndsAreKept) {
  // The line break before a boundary belongs to the boundary: exactly one is removed.
  for (const std::string& payload :
       {kX12 + "\r\n", kX12 + "\n", kX12 + "\r\n\r\n", "\r\n" + kX12}) {
    const ParseResult r = parse(Fields().set("Payload", payload).body());
    ASSERT_TRUE(r.ok()) << r.errorMessage;
    EXPECT_EQ(r.envelope->payload, payload);
    Envelope e = request();
    e.payload = payload;
    const Encoded enc = encodeMultipart(e);
    EXPECT_EQ(parseMultipart(enc.contentType, enc.body).envelope.value_or(Envelope{}).payload,
              payload);
  }
}

TEST(CoreEnvelope, QuotedAndUnquotedBoundary) {
  const std::string body = Fields().body("simple-boundary_1");
  for (const std::string type :
       {"multipart/form-data; boundary=simple-boundary_1",
        "multipart/form-data; boundary=\"simple-boundary_1\"",
        "Multipart/Form-Data;BOUNDARY=simple-boundary_1",
        "multipart/form-data; charset=utf-8; boundary=\"simple-boundary_1\"; foo=bar",
        "multipart/form-data ;  boundary = simple-boundary_1 "}) {
    const ParseResult r = parseMultipart(type, body);
    EXPECT_TRUE(r.ok()) << type << ": " << r.errorMessage;
  }
  // A quoted boundary may hold characters a token may not (space, '=', ':', '?').
  const std::string odd = "----=_Part 0:1?x";
  const ParseResult r =
      parseMultipart("multipart/form-data; boundary=\"" + odd + "\"", Fields().body(odd));
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->payload, kX12);
}

TEST(CoreEnvelope, PreambleEpilogueUnknownFieldsAndNameCase) {
  Fields f;
  f.set("X-Vendor-Trace", "abc");  // unknown: skipped
  std::string body = "This is the preamble.\r\n" + f.body() + "epilogue, ignored\r\n";
  // Field names in another case, extra headers, a filename on the payload part.
  const std::string from = "name=\"Payload\"";
  body.replace(body.find(from), from.size(),
               "name=\"payload\"; filename=\"270.x12\"\r\nContent-Type: application/EDI-X12");
  const std::string from2 = "name=\"PayloadID\"";
  body.replace(body.find(from2), from2.size(), "name=PAYLOADID");
  const ParseResult r = parse(body);
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->payload, kX12);
  EXPECT_EQ(r.envelope->payloadId, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
}

TEST(CoreEnvelope, WhitespaceAroundMetadataIsTrimmed) {
  const ParseResult r = parse(Fields()
                                  .set("ProcessingMode", " RealTime\r\n")
                                  .set("SenderID", "\tHospitalA ")
                                  .set("CORERuleVersion", "2.2.0\n")
                                  .body());
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->processingMode, "RealTime");
  EXPECT_EQ(r.envelope->senderId, "HospitalA");
  EXPECT_EQ(r.envelope->coreRuleVersion, "2.2.0");
}

TEST(CoreEnvelope, MissingRequiredFieldGivesItsErrorCode) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PayloadType", "PayloadTypeRequired"},
      {"ProcessingMode", "ProcessingModeRequired"},
      {"PayloadID", "PayloadIDRequired"},
      {"TimeStamp", "TimeStampRequired"},
      {"SenderID", "SenderIDRequired"},
      {"ReceiverID", "ReceiverIDRequired"},
      {"CORERuleVersion", "CORERuleVersionRequired"},
  };
  for (const auto& [field, code] : cases) {
    const ParseResult missing = parse(Fields().without(field).body());
    EXPECT_FALSE(missing.ok()) << field;
    EXPECT_EQ(missing.errorCode, code) << field;
    EXPECT_NE(missing.errorMessage.find(field), std::string::npos) << missing.errorMessage;
    // Present but empty is missing too.
    const ParseResult empty = parse(Fields().set(field, "  ").body());
    EXPECT_EQ(empty.errorCode, code) << field;
  }
  // The payload itself is optional here (batch retrievals carry none).
  EXPECT_TRUE(parse(Fields().without("Payload").body()).ok());
}

TEST(CoreEnvelope, IllegalFieldValues) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"ProcessingMode", "Realtime", "ProcessingModeIllegal"},
      {"ProcessingMode", "Interactive", "ProcessingModeIllegal"},
      {"PayloadType", "X12 270", "PayloadTypeIllegal"},
      {"PayloadID", "12345", "PayloadIDIllegal"},
      {"PayloadID", "f81d4fae-7dec-11d0-a765-00a0c91e6bfz", "PayloadIDIllegal"},
      {"TimeStamp", "2007-08-30 10:20:34", "TimeStampIllegal"},
      {"TimeStamp", "2007-02-30T10:20:34Z", "TimeStampIllegal"},
      {"TimeStamp", "2007-08-30T25:20:34Z", "TimeStampIllegal"},
      {"TimeStamp", "20070830T102034Z", "TimeStampIllegal"},
      {"TimeStamp", "2007-08-30T10:20:34+5:00", "TimeStampIllegal"},
      {"CORERuleVersion", "1.0.0", "VersionMismatch"},
      {"CORERuleVersion", "2.2", "VersionMismatch"},
  };
  for (const auto& [field, value, code] : cases) {
    const ParseResult r = parse(Fields().set(field, value).body());
    EXPECT_FALSE(r.ok()) << field << "=" << value;
    EXPECT_EQ(r.errorCode, code) << field << "=" << value;
  }
  // The message shows the offending value, sanitized.
  const ParseResult r = parse(Fields().set("ProcessingMode", "Real\x01Time").body());
  EXPECT_EQ(r.errorCode, "ProcessingModeIllegal");
  EXPECT_NE(r.errorMessage.find("\"Real?Time\""), std::string::npos) << r.errorMessage;
}

TEST(CoreEnvelope, LegalVariants) {
  for (const std::string ts :
       {"2007-08-30T10:20:34Z", "2007-08-30T10:20:34.123Z", "2007-08-30T10:20:34-05:00",
        "2007-08-30T10:20:34", "2008-02-29T00:00:00+14:00", "2007-08-30T24:00:00Z"}) {
    EXPECT_TRUE(parse(Fields().set("TimeStamp", ts).body()).ok()) << ts;
  }
  for (const std::string v : {"2.2.0", "3.0.0", "4.0.0"}) {
    EXPECT_TRUE(parse(Fields().set("CORERuleVersion", v).body()).ok()) << v;
  }
  EXPECT_TRUE(parse(Fields().set("PayloadID", "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6").body()).ok());
  EXPECT_TRUE(parse(Fields()
                        .set("ProcessingMode", "Batch")
                        .set("PayloadType", "X12_005010_Request_Batch_Results_271")
                        .without("Payload")
                        .body())
                  .ok());
}

TEST(CoreEnvelope, BatchIntegrityFields) {
  auto batch = [] {
    Fields f;
    f.set("ProcessingMode", "Batch").set("PayloadType", "X12_005010_Request_Batch_Submission");
    f.set("Payload", "abc");
    return f;
  };
  const std::string sha = "a9993e364706816aba3e25717850c26c9cd0d89d";
  EXPECT_TRUE(parse(batch().set("PayloadLength", "3").set("CheckSum", sha).body()).ok());
  EXPECT_TRUE(parse(batch()
                        .set("PayloadLength", "003")
                        .set("CheckSum", "A9993E364706816ABA3E25717850C26C9CD0D89D")
                        .body())
                  .ok());
  EXPECT_EQ(parse(batch().set("CheckSum", sha).body()).errorCode, "PayloadLengthRequired");
  EXPECT_EQ(parse(batch().set("PayloadLength", "3").body()).errorCode, "CheckSumRequired");
  EXPECT_EQ(parse(batch().set("PayloadLength", "4").set("CheckSum", sha).body()).errorCode,
            "PayloadLengthIllegal");
  EXPECT_EQ(parse(batch().set("PayloadLength", "three").set("CheckSum", sha).body()).errorCode,
            "PayloadLengthIllegal");
  EXPECT_EQ(parse(batch()
                      .set("PayloadLength", "99999999999999999999999999999999")
                      .set("CheckSum", sha)
                      .body())
                .errorCode,
            "PayloadLengthIllegal");
  EXPECT_EQ(parse(batch()
                      .set("PayloadLength", "3")
                      .set("CheckSum", "0000000000000000000000000000000000000000")
                      .body())
                .errorCode,
            "CheckSumIllegal");
  // A real-time sender need not send them, but when it does they must match.
  EXPECT_EQ(parse(Fields().set("CheckSum", sha).body()).errorCode, "CheckSumIllegal");
}

TEST(CoreEnvelope, MalformedBodiesAreEnvelopeErrors) {
  const std::string good = Fields().body();
  auto code = [](const std::string& type, const std::string& body) {
    return parseMultipart(type, body).errorCode;
  };
  EXPECT_EQ(code("application/x-www-form-urlencoded", "PayloadType=X"), "EnvelopeError");
  EXPECT_EQ(code("multipart/mixed; boundary=XbCY", good), "EnvelopeError");
  EXPECT_EQ(code("multipart/form-data", good), "EnvelopeError");
  EXPECT_EQ(code("multipart/form-data; boundary=\"XbCY", good), "EnvelopeError");
  EXPECT_EQ(code("multipart/form-data; boundary=" + std::string(71, 'a'), good), "EnvelopeError");
  EXPECT_EQ(code(kType, ""), "EnvelopeError");
  EXPECT_EQ(code(kType, "no multipart here"), "EnvelopeError");
  EXPECT_EQ(code("multipart/form-data; boundary=other", good), "EnvelopeError");
  // Truncated: no closing boundary.
  EXPECT_EQ(code(kType, good.substr(0, good.size() - 10)), "EnvelopeError");
  // A field given twice.
  std::string twice = good;
  twice.insert(0, "--XbCY\r\nContent-Disposition: form-data; name=\"SenderID\"\r\n\r\nOther\r\n");
  const ParseResult dup = parse(twice);
  EXPECT_EQ(dup.errorCode, "EnvelopeError");
  EXPECT_NE(dup.errorMessage.find("SenderID appears more than once"), std::string::npos);
  // A part without a name, without Content-Disposition, or not form-data.
  auto withPart = [&](const std::string& headers) {
    return parse("--XbCY\r\n" + headers + "\r\n\r\nvalue\r\n" + good).errorCode;
  };
  EXPECT_EQ(withPart("Content-Disposition: form-data"), "EnvelopeError");
  EXPECT_EQ(withPart("Content-Disposition: form-data; name=\"\""), "EnvelopeError");
  EXPECT_EQ(withPart("Content-Type: text/plain"), "EnvelopeError");
  EXPECT_EQ(withPart("Content-Disposition: attachment; name=\"X\""), "EnvelopeError");
  EXPECT_EQ(withPart("Content-Disposition form-data"), "EnvelopeError");
  EXPECT_EQ(withPart("Content-Disposition: form-data; name=\"Payload\"\r\n"
                     "Content-Transfer-Encoding: base64"),
            "EnvelopeError");
  EXPECT_EQ(
      parse("--XbCY\r\nContent-Disposition: form-data; name=\"X\"\r\nvalue\r\n" + good).errorCode,
      "EnvelopeError");  // no blank line: the value reads as a malformed header line
  // Identity encodings are fine.
  EXPECT_TRUE(parse(Fields().body()).ok());
  std::string binary = good;
  const std::string from = "name=\"Payload\"";
  binary.replace(binary.find(from), from.size(), from + "\r\nContent-Transfer-Encoding: binary");
  EXPECT_TRUE(parse(binary).ok());
}

TEST(CoreEnvelope, EmptyValueWithoutItsOwnLineBreak) {
  // "name=X CRLF CRLF --boundary": the blank line is also the boundary's line break.
  std::string body =
      "--XbCY\r\nContent-Disposition: form-data; name=\"ErrorMessage\"\r\n\r\n" + Fields().body();
  const ParseResult r = parse(body);
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->errorMessage, "");
}

TEST(CoreEnvelope, LimitsAreEnforced) {
  const std::string good = Fields().body();
  Limits small;
  small.maxBodyBytes = good.size() - 1;
  const ParseResult big = parse(good, small);
  EXPECT_EQ(big.errorCode, "EnvelopeError");
  EXPECT_NE(big.errorMessage.find("passes the limit"), std::string::npos) << big.errorMessage;
  small.maxBodyBytes = good.size();
  EXPECT_TRUE(parse(good, small).ok());

  Fields many;
  for (int i = 0; i < 40; ++i) many.set("Extra" + std::to_string(i), "x");
  const ParseResult parts = parse(many.body());
  EXPECT_EQ(parts.errorCode, "EnvelopeError");
  EXPECT_NE(parts.errorMessage.find("more than 32 parts"), std::string::npos) << parts.errorMessage;
  Limits roomy;
  roomy.maxParts = 48;
  EXPECT_TRUE(parse(many.body(), roomy).ok());

  const ParseResult field = parse(Fields().set("SenderID", std::string(5000, 'S')).body());
  EXPECT_EQ(field.errorCode, "EnvelopeError");
  EXPECT_NE(field.errorMessage.find("SenderID"), std::string::npos);
  // The payload is bounded by the body only.
  EXPECT_TRUE(parse(Fields().set("Payload", std::string(100000, '~')).body()).ok());

  Limits headers;
  headers.maxHeaderBytes = 64;
  std::string longHeader = good;
  const std::string from = "name=\"Payload\"";
  longHeader.replace(longHeader.find(from), from.size(),
                     from + "\r\nX-Padding: " + std::string(100, 'p'));
  EXPECT_EQ(parse(longHeader, headers).errorCode, "EnvelopeError");
}

TEST(CoreEnvelope, PayloadBytesKeptExactly) {
  // Boundary-like text (not at a line start, or followed by more than a line end), X12
  // separators, and every byte value including NUL, CR and LF.
  std::string payload = kX12 + "\r\nNTE*--XbCY~\r\n--XbCYnot-a-boundary\n--XbCY x\r\n--XbC\r\n";
  for (int c = 0; c < 256; ++c) payload.push_back(static_cast<char>(c));
  payload += "\r\n--XbCY-\r\n~";
  const ParseResult r = parse(Fields().set("Payload", payload).body());
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->payload, payload);
  // Also with LF line ends around it.
  const ParseResult lf = parse(Fields().set("Payload", payload).body("XbCY", "\n"));
  ASSERT_TRUE(lf.ok()) << lf.errorMessage;
  EXPECT_EQ(lf.envelope->payload, payload);
  // And through the encoder, in batch mode (length and checksum over the same bytes).
  Envelope e = request();
  e.processingMode = "Batch";
  e.payloadType = "X12_005010_Request_Batch_Submission";
  e.payload = payload;
  const Encoded enc = encodeMultipart(e);
  const ParseResult back = parseMultipart(enc.contentType, enc.body);
  ASSERT_TRUE(back.ok()) << back.errorMessage;
  EXPECT_EQ(back.envelope->payload, payload);
}

TEST(CoreEnvelope, DashOnlyBoundaryAndDashHeavyPayload) {
  // A boundary of dashes only, and a payload of long dash runs (none of them a delimiter line:
  // not at a line start, or one dash short of "--" + boundary).
  const std::string boundary(70, '-');
  const std::string type = "multipart/form-data; boundary=\"" + boundary + "\"";
  std::string payload = "a" + std::string(5000, '-') + "\n" + std::string(71, '-') + "x\r\n";
  payload += std::string(71, '-') + "\nb" + std::string(3000, '-');
  const ParseResult r = parseMultipart(type, Fields().set("Payload", payload).body(boundary));
  ASSERT_TRUE(r.ok()) << r.errorMessage;
  EXPECT_EQ(r.envelope->payload, payload);
  // Bodies made to slow a naive search down have no delimiter line, and say so.
  std::string lines;
  while (lines.size() < 4 * 1024 * 1024) lines += "\n" + std::string(71, '-');
  EXPECT_EQ(parseMultipart(type, "x" + std::string(4 * 1024 * 1024, '-')).errorCode,
            "EnvelopeError");
  EXPECT_EQ(parseMultipart(type, lines).errorCode, "EnvelopeError");
}

TEST(CoreEnvelope, EncoderBoundaryNeverInTheData) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const Encoded enc = encodeMultipart(request());
    const std::string boundary = enc.contentType.substr(enc.contentType.find('=') + 1);
    EXPECT_TRUE(seen.insert(boundary).second);
    EXPECT_LE(boundary.size(), 70u);
    EXPECT_EQ(kX12.find(boundary), std::string::npos);
  }
}

TEST(CoreEnvelope, NewPayloadIdIsRandomUuid) {
  const std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = newPayloadId();
    ASSERT_TRUE(std::regex_match(id, v4)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_TRUE(parse(Fields().set("PayloadID", newPayloadId()).body()).ok());
}

TEST(CoreEnvelope, NowTimeStampIsUtcDateTime) {
  const std::string ts = nowTimeStamp();
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << ts;
  EXPECT_TRUE(parse(Fields().set("TimeStamp", ts).body()).ok());
}

}  // namespace
}  // namespace sb::channels::core
