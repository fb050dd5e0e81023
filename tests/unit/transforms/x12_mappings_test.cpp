// The standard X12 mappings (scripts/lua/mappings/x12/): each runs on fixtures and is compared
// with reviewed goldens in tests/routes/golden/x12/ (canonical JSON as parsed JSON, X12 byte for
// byte); every canonical output must validate against model/v1; X12 outputs must pass our own
// parser's validation; the 835 balancing check is exercised on balanced and unbalanced files.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

#include "model/schema_registry.h"
#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::text;

std::string fixture(const std::string& name) {
  return sb::test::readFile(sb::test::fixturePath("x12/" + name));
}

std::string golden(const std::string& name) {
  return sb::test::readFile(sb::test::sourceDir() / "tests" / "routes" / "golden" / "x12" / name);
}

Value x12(const std::string& name) {
  return Value{X12Text{fixture(name)}};
}
Value json(const std::string& name) {
  return Value{JsonText{fixture(name)}};
}

std::string pretty(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  v.Accept(writer);
  return buffer.GetString();
}

std::string compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

// The JSON a call returned ("json:{...}" from text()), or "" with a test failure.
std::string jsonOf(const CallResult& r, std::size_t i = 0) {
  const std::string t = text(r, i);
  if (t.rfind("json:", 0) != 0) {
    ADD_FAILURE() << "expected JSON, got: " << t;
    return "";
  }
  return t.substr(5);
}

// Compared as parsed JSON: member order and 150 vs 150.0 do not matter.
void expectJsonGolden(const std::string& actual, const std::string& goldenName) {
  const rapidjson::Document a = parse(actual);
  const rapidjson::Document g = parse(golden(goldenName));
  EXPECT_TRUE(a == g) << goldenName << " differs; produced:\n" << pretty(a);
}

// Every resource of the output (one object or a list) against its schema.
void expectSchemaValid(const std::string& json) {
  const rapidjson::Document d = parse(json);
  const auto check = [](const rapidjson::Value& v) {
    const model::ValidationResult r = model::SchemaRegistry::builtin().validate(compact(v));
    EXPECT_TRUE(r.ok) << r.message << "\n" << pretty(v);
  };
  if (d.IsArray()) {
    EXPECT_GT(d.Size(), 0u);
    for (const auto& item : d.GetArray()) check(item);
  } else {
    check(d);
  }
}

class X12Map : public ::testing::Test {
 protected:
  // Calls `call` (e.g. "return m.response_from_271(...)") with `m` = mappings.x12.<module>.
  CallResult run(const std::string& module, const std::string& call,
                 const std::vector<Value>& args) {
    return eval(rt, "local m = require('mappings.x12." + module + "') " + call, args);
  }
  LuaRuntime rt{defaultOptions()};
};

// The interchange identities the outbound tests use; date and time fixed for byte-exact goldens.
const std::string k270Opts =
    "{sender = {qualifier = 'ZZ', id = 'SWITCHBOARD'}, receiver = {qualifier = 'ZZ', id = "
    "'EXAMPLEPAYER'}, usage = 'T', date = '20240412', time = '0900'";
const std::string k837Opts =
    "{sender = {qualifier = 'ZZ', id = 'SWITCHBOARD'}, receiver = {qualifier = 'ZZ', id = "
    "'EXAMPLECH'}, usage = 'T', date = '20240405', time = '1030', submitter = {name = 'LARKSPUR "
    "BILLING SERVICE', id = 'SUB0001', contact = 'ROWAN HALE', phone = '5550100001'}, "
    "receiver_name = 'EXAMPLE CLEARINGHOUSE', receiver_id = 'RCV0001'}";

// --- eligibility -------------------------------------------------------------------------------

class X12MapEligibility : public X12Map {};

TEST_F(X12MapEligibility, RequestTo270MatchesGoldenAndValidates) {
  expectSchemaValid(fixture("mappings/eligibility_request.json"));
  expectSchemaValid(fixture("mappings/eligibility_request_dependent.json"));
  // Control numbers given, then reserved by x12.build (a fresh runtime starts at 1).
  const CallResult given = run("eligibility",
                               "return m.request_to_270(..., " + k270Opts +
                                   ", control = {interchange = 61, group = 61, set = 1}})",
                               {json("mappings/eligibility_request.json")});
  const CallResult reserved = run("eligibility", "return m.request_to_270(..., " + k270Opts + "})",
                                  {json("mappings/eligibility_request_dependent.json")});
  EXPECT_EQ(text(given), golden("270_request.x12"));
  EXPECT_EQ(text(reserved), golden("270_request_dependent.x12"));
  for (const CallResult* r : {&given, &reserved}) {
    const CallResult v = eval(rt, R"(local ok, findings = x12.validate(...)
      local doc = x12.parse(...)
      return ok, #findings, doc:sets()[1].guide)",
                              {Value{text(*r)}});
    ASSERT_FALSE(v.error) << errorOf(v);
    EXPECT_EQ(std::get<bool>(v.values[0]), true);
    EXPECT_EQ(testing::integer(v, 1), 0);
    EXPECT_EQ(text(v, 2), "270");
  }
}

TEST_F(X12MapEligibility, RequestTo270NeedsTheInterchangeIdentities) {
  EXPECT_NE(errorOf(run("eligibility", "return m.request_to_270(...)",
                        {json("mappings/eligibility_request.json")}))
                .find("request_to_270: opts.sender and opts.receiver are required (ISA05-ISA08)"),
            std::string::npos);
}

TEST_F(X12MapEligibility, ResponseFrom271MatchesGoldens) {
  for (const auto& [input, goldenName] : std::vector<std::pair<std::string, std::string>>{
           {"valid/271_eligibility_response.x12", "271_eligibility_response.responses.json"},
           {"mappings/271_family_and_rejection.x12", "271_family_and_rejection.responses.json"}}) {
    const CallResult r = run("eligibility", "return m.response_from_271(...)", {x12(input)});
    ASSERT_FALSE(r.error) << errorOf(r);
    expectJsonGolden(jsonOf(r), goldenName);
    expectSchemaValid(jsonOf(r));
  }
}

TEST_F(X12MapEligibility, ResponseFrom271SkipsRejectedSets) {
  // Two sets; the second says SE*11 for 13 segments, so the parser rejects it.
  const CallResult r = run("eligibility", R"(local doc = ...
      local out = m.response_from_271(doc)
      local sets = doc:sets()
      return #out, out[1].traceNumber, out[1].subscriber.name.family, tostring(sets[2].accepted))",
                           {x12("mappings/271_two_sets_second_rejected.x12")});
  ASSERT_FALSE(r.error) << errorOf(r);
  EXPECT_EQ(testing::integer(r, 0), 1);
  EXPECT_EQ(text(r, 1), "ELIG0051");
  EXPECT_EQ(text(r, 2), "QUILLFEATHER");
  EXPECT_EQ(text(r, 3), "false");
}

TEST_F(X12MapEligibility, ResponseFrom271WithoutSubscriberLevelIsAnError) {
  // AAA*N**42 at the payer level and nothing below: no person to answer about, and dropping it
  // would lose the rejection.
  const std::string error = errorOf(run("eligibility", "return m.response_from_271(...)",
                                        {x12("mappings/271_source_rejected.x12")}));
  EXPECT_NE(error.find("271 set 0001: the payer answered without a subscriber level (AAA 42)"),
            std::string::npos)
      << error;
}

TEST_F(X12MapEligibility, ResponseFrom271RefusesOtherTransactions) {
  EXPECT_NE(errorOf(run("eligibility", "return m.response_from_271(...)",
                        {x12("valid/835_two_claims_balanced.x12")}))
                .find("response_from_271: the interchange holds no 271 transaction set"),
            std::string::npos);
}

// --- claim -------------------------------------------------------------------------------------

class X12MapClaim : public X12Map {};

TEST_F(X12MapClaim, ClaimTo837pMatchesGoldenAndValidates) {
  for (const auto& [input, goldenName] : std::vector<std::pair<std::string, std::string>>{
           {"mappings/claim.json", "837p_claim.x12"},
           {"mappings/claim_dependent.json", "837p_claim_dependent.x12"}}) {
    expectSchemaValid(fixture(input));
    LuaRuntime fresh{defaultOptions()};  // control numbers from 1 for each golden
    const CallResult r =
        eval(fresh,
             "local m = require('mappings.x12.claim') "
             "local out = m.claim_to_837p(..., " +
                 k837Opts + ") local ok, findings = x12.validate(out) return out, ok, #findings",
             {json(input)});
    ASSERT_FALSE(r.error) << errorOf(r);
    EXPECT_EQ(text(r), golden(goldenName));
    ASSERT_EQ(r.values.size(), 3u);
    EXPECT_EQ(std::get<bool>(r.values[1]), true) << text(r);
    EXPECT_EQ(testing::integer(r, 2), 0) << "x12.validate findings";
  }
}

// What was written reads back as the Claim that went in (claim_from_837p), apart from the
// lineage (meta, created) the inbound side adds and two documented normalisations: ICD codes
// lose their dot, and CPT is read back as HCPCS (both are SV101 qualifier HC).
TEST_F(X12MapClaim, ClaimTo837pReparsesToTheSameClaim) {
  for (const std::string input : {"mappings/claim.json", "mappings/claim_dependent.json"}) {
    const std::string body =
        "local claim = ...\n"
        "local text = m.claim_to_837p(claim, " +
        k837Opts +
        ")\n"
        "local back = m.claim_from_837p(x12.parse(text))\n"
        "assert(#back == 1, 'one claim expected')\n"
        "back[1].meta, back[1].created = nil, nil\n"
        "return back[1]";
    const CallResult r = run("claim", body, {json(input)});
    ASSERT_FALSE(r.error) << errorOf(r);
    rapidjson::Document expected = parse(fixture(input));
    if (input == "mappings/claim_dependent.json") {
      expected["diagnoses"][0]["code"].SetString("J0300");
      expected["serviceLines"][0]["procedure"]["system"].SetString("HCPCS");
    }
    const rapidjson::Document actual = parse(jsonOf(r));
    EXPECT_TRUE(actual == expected) << input << " read back as:\n" << pretty(actual);
  }
}

TEST_F(X12MapClaim, ClaimTo837pRefusesATotalThatDoesNotAddUp) {
  const CallResult r = run("claim",
                           "local claim = ... claim.totalCharge.value = 300 "
                           "return m.claim_to_837p(claim, " +
                               k837Opts + ")",
                           {json("mappings/claim.json")});
  EXPECT_NE(errorOf(r).find("claim_to_837p: totalCharge 300.00 is not the sum of the service line "
                            "charges 292.50"),
            std::string::npos)
      << errorOf(r);
}

TEST_F(X12MapClaim, ClaimFrom837pMatchesGolden) {
  const CallResult r =
      run("claim", "return m.claim_from_837p(...)", {x12("valid/837P_professional.x12")});
  ASSERT_FALSE(r.error) << errorOf(r);
  expectJsonGolden(jsonOf(r), "837P_professional.claims.json");
  expectSchemaValid(jsonOf(r));
}

// --- claim status ------------------------------------------------------------------------------

class X12MapClaimStatus : public X12Map {};

TEST_F(X12MapClaimStatus, StatusFrom277MatchesGoldens) {
  for (const auto& [input, goldenName] : std::vector<std::pair<std::string, std::string>>{
           {"valid/277_claim_status_response.x12", "277_claim_status_response.statuses.json"},
           {"valid/x12_277CA_rejected.txt", "277CA_rejected.statuses.json"}}) {
    const CallResult r = run("claim_status", "return m.status_from_277(...)", {x12(input)});
    ASSERT_FALSE(r.error) << errorOf(r);
    expectJsonGolden(jsonOf(r), goldenName);
    expectSchemaValid(jsonOf(r));
  }
}

TEST_F(X12MapClaimStatus, OneStatusPerClaimAcrossSourceLevels) {
  const CallResult r = run("claim_status", R"(local out = m.status_from_277(...)
      local ids = {}
      for _, s in ipairs(out) do ids[#ids + 1] = s.claimId .. "=" .. s.statusCategory .. ":" .. s.statusCode end
      return table.concat(ids, ","), out)",
                           {x12("valid/x12_277_x212.txt")});
  ASSERT_FALSE(r.error) << errorOf(r);
  EXPECT_EQ(text(r),
            "12345=A1:704,12346=A1:704,12347=A1:704,12348=A1:704,12349=A1:704,12340=A1:704,"
            "12341=A1:704,12342=A1:704");
  expectSchemaValid(jsonOf(r, 1));
  const CallResult ca =
      run("claim_status", "return m.status_from_277(...)", {x12("valid/x12_277CA_accepted.txt")});
  ASSERT_FALSE(ca.error) << errorOf(ca);
  expectSchemaValid(jsonOf(ca));
}

// --- remittance --------------------------------------------------------------------------------

class X12MapRemittance : public X12Map {};

TEST_F(X12MapRemittance, RemittanceFrom835MatchesGoldenAndBalances) {
  const CallResult r = run("remittance", R"(local out = m.remittance_from_835(...)
      local ok, problems = m.balance(out)
      return out, ok, #problems)",
                           {x12("valid/835_two_claims_balanced.x12")});
  ASSERT_FALSE(r.error) << errorOf(r);
  expectJsonGolden(jsonOf(r), "835_two_claims_balanced.remittance.json");
  expectSchemaValid(jsonOf(r));
  EXPECT_EQ(std::get<bool>(r.values[1]), true);
  EXPECT_EQ(testing::integer(r, 2), 0);
}

TEST_F(X12MapRemittance, SplitGivesOneRemittancePerClaim) {
  for (const std::string call :
       {"return m.remittance_from_835(..., {split = true})", "return m.remittance_by_claim(...)"}) {
    const CallResult r = run("remittance", call, {x12("valid/835_two_claims_balanced.x12")});
    ASSERT_FALSE(r.error) << errorOf(r);
    const rapidjson::Document d = parse(jsonOf(r));
    ASSERT_TRUE(d.IsArray());
    EXPECT_EQ(d.Size(), 2u);
    expectJsonGolden(jsonOf(r), "835_two_claims_balanced.by_claim.json");
    expectSchemaValid(jsonOf(r));
  }
}

struct Unbalanced {
  const char* file;
  std::vector<std::string> problems;
};

TEST_F(X12MapRemittance, UnbalancedFilesAreFlaggedAndRaiseSB606) {
  const std::vector<Unbalanced> cases = {
      {"unbalanced/835_bpr_not_claims_minus_plb.x12",
       {"payment 432.50 is not the claims' paid total 430.00 less provider adjustments 7.50 (= "
        "422.50)"}},
      {"unbalanced/835_service_line_not_balanced.x12",
       {"claim PCN24031B line 2 (36415): charge 100.00 - paid 85.00 = 15.00 but line adjustments "
        "total 20.00",
        "claim PCN24031B: paid 280.00 but its service lines paid 285.00 less claim adjustments "
        "0.00 (= 285.00)"}},
  };
  for (const Unbalanced& c : cases) {
    const CallResult r =
        run("remittance", R"(local out = m.remittance_from_835(..., {allow_unbalanced = true})
        local ok, problems = m.balance(out)
        return ok, problems, out)",
            {x12(c.file)});
    ASSERT_FALSE(r.error) << errorOf(r);
    EXPECT_EQ(std::get<bool>(r.values[0]), false) << c.file;
    const rapidjson::Document problems = parse(jsonOf(r, 1));
    ASSERT_TRUE(problems.IsArray());
    std::vector<std::string> got;
    for (const auto& p : problems.GetArray()) got.emplace_back(p.GetString());
    EXPECT_EQ(got, c.problems) << c.file;
    // Mapped anyway when allowed, and still a valid Remittance.
    expectSchemaValid(jsonOf(r, 2));

    std::string joined;
    for (const auto& p : c.problems) joined += (joined.empty() ? "" : "; ") + p;
    const CallResult raised = run("remittance", "return m.remittance_from_835(...)", {x12(c.file)});
    ASSERT_TRUE(raised.error) << c.file;
    const std::string message = raised.error->message;
    const std::string expected = "SB-606 835 does not balance: " + joined;
    ASSERT_GE(message.size(), expected.size());
    EXPECT_EQ(message.substr(message.size() - expected.size()), expected) << message;
    EXPECT_EQ(message.rfind("mappings/x12/remittance.lua:", 0), 0u) << message;
  }
}

TEST_F(X12MapRemittance, BalanceWorksOnCanonicalRemittances) {
  // The model's example Remittance is balanced; breaking a line adjustment is reported by claim.
  const std::string example =
      sb::test::readFile(sb::test::sourceDir() / "model" / "v1" / "examples" / "Remittance.json");
  const CallResult r = run("remittance", R"(local r = ...
      local ok = m.balance(r)
      r.claims[1].serviceLines[2].adjustments[1].amount.value = 15
      local ok2, problems = m.balance(r)
      return ok, ok2, problems)",
                           {Value{JsonText{example}}});
  ASSERT_FALSE(r.error) << errorOf(r);
  EXPECT_EQ(std::get<bool>(r.values[0]), true);
  EXPECT_EQ(std::get<bool>(r.values[1]), false);
  EXPECT_EQ(jsonOf(r, 2),
            "[\"claim PCN-2025-0001 line 2 (80053): charge 42.50 - paid 26.80 = 15.70 but line "
            "adjustments total 15.00\",\"claim PCN-2025-0001: charge 192.50 - paid 121.80 = 70.70 "
            "but adjustments total 70.00\"]");
}

}  // namespace
}  // namespace sb::transforms
