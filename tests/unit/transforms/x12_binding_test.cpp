// The Lua X12 API: reading by loop and path, editing and writing back with counts recomputed,
// building new interchanges with control numbers, acknowledgements.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"
#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

std::string fixture(const std::string& name) {
  return sb::test::readFile(sb::test::fixturePath("x12/valid/" + name));
}

class X12Binding : public ::testing::Test {
 protected:
  CallResult run(const std::string& body, const std::string& file = "837P_professional.x12") {
    return eval(rt, body, {Value{X12Text{fixture(file)}}});
  }
  LuaRuntime rt{defaultOptions()};
};

TEST_F(X12Binding, LoopsSegmentsAndElements) {
  EXPECT_EQ(text(run("local x = ... return x['2010BA'].NM1[3]")), "QUILLFEATHER");
  EXPECT_EQ(text(run("local x = ... return x['2000B']['2010BA'].NM1[9]")), "XQM000000001");
  EXPECT_EQ(integer(run("local x = ... return #x:loops('2300')")), 3);
  EXPECT_EQ(integer(run("local x = ... return #x:loops('2400')")), 5);
  EXPECT_EQ(text(run("local x = ... return x['2300'].CLM:get(5, 1)")), "11");
  EXPECT_EQ(text(run("local x = ... return x['2300'].HI:get(1, 2)")), "J069");
  EXPECT_EQ(text(run("local x = ... return x['2300'].HI:get(2, 2)")), "R509");
  EXPECT_EQ(text(run("local x = ... local s = x:sets()[1] return s.id .. ' ' .. s.guide .. ' ' .. "
                     "tostring(s.accepted)")),
            "837 837P true");
  EXPECT_EQ(text(run("local x = ... return x.interchanges[1].sender.id .. '/' .. "
                     "x.interchanges[1].groups[1].control")),
            "SBSENDER/101");
}

TEST_F(X12Binding, Paths) {
  EXPECT_EQ(text(run("local x = ... return x:get('2000B/2010BA/NM1-03')")), "QUILLFEATHER");
  EXPECT_EQ(text(run("local x = ... return x:get('2400/DTP[472]-03')")), "20240301");
  EXPECT_EQ(text(run("local x = ... return x:get('2300/CLM-05.3')")), "1");
  EXPECT_EQ(text(run("local x = ... return tostring(x:get('2300/CLM-19'))")), "nil");
  EXPECT_EQ(errorOf(run("local x = ... return x:get('2300/CLM')")),
            "test.lua:1: x12 path '2300/CLM': expected LOOP/.../SEG[QUAL]-EE[.C]");
}

TEST_F(X12Binding, UnmodifiedEncodeIsByteExact) {
  for (const char* file :
       {"837P_professional.x12", "835_two_claims_balanced.x12", "env_several_isa_in_file.x12",
        "env_pipe_bang.x12", "271_eligibility_response.x12"}) {
    EXPECT_EQ(text(run("local x = ... return x12.encode(x)", file)), fixture(file)) << file;
  }
}

// Every synthetic fixture (all transaction sets, several ISA/GS/ST, odd delimiters, no line
// breaks, CRLF, 4010) round-trips byte for byte. Encoding recomputes counts and trailer control
// numbers, so the fixtures with wrong counts come out repaired.
TEST_F(X12Binding, EveryFixtureRoundTripsAndWrongCountsComeOutRepaired) {
  int files = 0;
  for (const char* folder : {"x12/valid", "x12/unbalanced", "x12/invalid"}) {
    for (const auto& e : std::filesystem::directory_iterator(sb::test::fixturePath(folder))) {
      if (e.path().extension() != ".x12") continue;
      const std::string raw = sb::test::readFile(e.path());
      LuaRuntime fresh{defaultOptions()};
      const std::string out = text(eval(fresh, "return x12.encode(...)", {Value{X12Text{raw}}}));
      const std::string name = e.path().filename().string();
      if (std::string_view(folder) != "x12/invalid") {
        EXPECT_EQ(out, raw) << name;
      } else if (name != "env_bad_isa_date.x12") {
        x12::Document doc = x12::Document::parse(out);
        for (const auto& f : doc.findings()) ADD_FAILURE() << name << ": " << f.message;
      }
      ++files;
    }
  }
  EXPECT_GE(files, 30);
}

TEST_F(X12Binding, EditsAreWrittenWithCountsRecomputed) {
  const CallResult r = run(R"(local x = ...
    local claim = x['2300']
    claim.CLM:set(2, "200")
    table.insert(claim.content, 3, x12.segment("REF", "G1", "PRIORAUTH1"))
    return x12.encode(x))");
  ASSERT_FALSE(r.error) << errorOf(r);
  const std::string out = text(r);
  x12::Document doc = x12::Document::parse(out);
  doc.validate(x12::SpecLibrary::builtin());
  for (const auto& f : doc.findings()) ADD_FAILURE() << f.message;
  EXPECT_NE(out.find("CLM*PCN24031A*200***11:B:1*Y*A*Y*Y~"), std::string::npos);
  EXPECT_NE(out.find("REF*G1*PRIORAUTH1~"), std::string::npos);
}

TEST_F(X12Binding, BuildWritesEnvelopesAndCountsAndReservesControlNumbers) {
  const std::string body = R"(
    return x12.build{
      sender = {qualifier = "ZZ", id = "SWITCHBOARD"}, receiver = {qualifier = "ZZ", id = "PAYER1"},
      date = "20260102", time = "0930", usage = "T",
      groups = {{ functional_id = "HS", version = "005010X279A1", sets = {{ id = "270", segments = {
        {"BHT", "0022", "13", "REQ1", "20260102", "0930"},
        {"HL", "1", "", "20", "1"}, {"NM1", "PR", "2", "PAYER ONE", "", "", "", "", "PI", "P1"},
        {"HL", "2", "1", "21", "1"}, {"NM1", "1P", "2", "CLINIC", "", "", "", "", "XX", "1234567893"},
        {"HL", "3", "2", "22", "0"}, {"TRN", "1", "T1", "9877281234"},
        {"NM1", "IL", "1", "DOE", "JANE", "", "", "", "MI", "M1"}, {"DMG", "D8", "19700101"},
        {"DTP", "291", "D8", "20260102"}, {"EQ", "30"} } }} }} })";
  const std::string first = text(eval(rt, body));
  EXPECT_EQ(first.substr(0, 106),
            "ISA*00*          *00*          *ZZ*SWITCHBOARD    *ZZ*PAYER1         *260102*0930*^*"
            "00501*000000001*0*T*:~");
  EXPECT_NE(
      first.find(
          "\nGS*HS*SWITCHBOARD*PAYER1*20260102*0930*1*X*005010X279A1~\nST*270*0001*005010X279A1~"),
      std::string::npos)
      << first;
  EXPECT_NE(first.find("\nSE*13*0001~\nGE*1*1~\nIEA*1*000000001~\n"), std::string::npos) << first;
  x12::Document doc = x12::Document::parse(first);
  doc.validate(x12::SpecLibrary::builtin());
  for (const auto& f : doc.findings()) ADD_FAILURE() << f.message;
  // The next interchange to the same partner gets the next numbers.
  const std::string second = text(eval(rt, body));
  EXPECT_NE(second.find("*000000002*0*T*:~"), std::string::npos);
  EXPECT_NE(second.find("ST*270*0002*"), std::string::npos);
}

TEST_F(X12Binding, BuildUsesTheControlNumberSource) {
  std::map<std::string, std::int64_t> next{
      {"ZZ:PAYER1/ISA", 500}, {"ZZ:PAYER1/GS", 70}, {"ZZ:PAYER1/ST", 9000}};
  LuaOptions options = defaultOptions();
  options.controlNumbers = [&](std::string_view partner, std::string_view kind, int count) {
    std::int64_t& n = next[std::string(partner) + "/" + std::string(kind)];
    const std::int64_t first = n;
    n += count;
    return first;
  };
  LuaRuntime store{options};
  const std::string out = text(eval(store, R"(return x12.build{
      sender = {id = "SB"}, receiver = {id = "PAYER1"}, date = "20260102", time = "0930",
      groups = {{ functional_id = "HC", version = "005010X222A1", sets = {{id = "837", segments = {}}, {id = "837", segments = {}}} }} })"));
  EXPECT_NE(out.find("*000000500*0*P*:~"), std::string::npos) << out;
  EXPECT_NE(out.find("*0930*70*X*005010X222A1~"), std::string::npos) << out;
  EXPECT_NE(out.find("ST*837*9000*005010X222A1~\nSE*2*9000~\nST*837*9001*"), std::string::npos)
      << out;
  EXPECT_EQ(next["ZZ:PAYER1/ST"], 9002);
}

TEST_F(X12Binding, DelimitersInValuesAreRefused) {
  EXPECT_EQ(errorOf(run("local x = ... x['2010BA'].NM1:set(3, 'A*B') return x12.encode(x)")),
            "test.lua:1: x12: NM103 contains a delimiter");
}

TEST_F(X12Binding, ValidateAndAck) {
  const CallResult r = eval(rt, R"(local text = ...
      local ok, findings = x12.validate(text)
      local acks = x12.ack(text)
      return ok, #findings, acks[1])",
                            {Value{fixture("837P_professional.x12")}});
  ASSERT_FALSE(r.error) << errorOf(r);
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_EQ(std::get<bool>(r.values[0]), true);
  EXPECT_EQ(integer(r, 1), 0);
  const std::string ack = text(r, 2);
  EXPECT_NE(ack.find("AK1*HC*101*005010X222A1~\nAK2*837*0001*005010X222A1~\nIK5*A~\nAK9*A*1*1*1~"),
            std::string::npos)
      << ack;
}

// The store failing to hand out control numbers is an ordinary Lua error at the script's line,
// from x12.ack too (it reserves numbers through x12._control while its document is alive), and
// the state runs scripts afterwards.
TEST_F(X12Binding, AControlNumberSourceThatFailsIsALuaError) {
  LuaOptions options = defaultOptions();
  options.controlNumbers = [](std::string_view, std::string_view, int) -> std::int64_t {
    throw std::runtime_error("store: database is locked");
  };
  LuaRuntime failing{options};
  EXPECT_EQ(errorOf(eval(failing, "local text = ...\nreturn x12.ack(text)",
                         {Value{fixture("837P_professional.x12")}})),
            "test.lua:2: x12 control numbers: store: database is locked");
  // Caught by the script's own pcall, then raised again (the runtime names the line).
  EXPECT_EQ(errorOf(eval(failing, "local ok, e = pcall(x12.ack, ...)\nerror(e, 0)",
                         {Value{fixture("837P_professional.x12")}})),
            "test.lua:2: x12 control numbers: store: database is locked");
  EXPECT_EQ(integer(eval(failing, "return 40 + 2")), 42);
}

TEST_F(X12Binding, NotX12IsAClearError) {
  EXPECT_EQ(errorOf(eval(rt, "return x12.parse('MSH|^~\\\\&|')")),
            "test.lua:1: x12.parse: the input does not start with ISA");
}

}  // namespace
}  // namespace sb::transforms
