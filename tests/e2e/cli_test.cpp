// The CLI as a user runs it: exact output and exit codes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

test::CommandResult run(std::vector<std::string> args) {
  args.insert(args.begin(), test::binaryPath());
  return test::runCommand(args);
}

TEST(Cli, ParsePrintsTheTreeAsJson) {
  test::TempDir dir;
  const auto file = dir.path() / "m.hl7";
  test::writeFile(
      file, "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5\rPID|1||123^^^H^MR~456||DOE^JANE\r");
  const auto r = run({"parse", file.string()});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(
      r.out,
      "{\"segments\":[{\"name\":\"MSH\",\"fields\":[\"|\",\"^~\\\\&\",\"A\",\"B\",\"C\",\"D\","
      "\"20260101\",\"\",[\"ADT\",\"A01\"],\"X1\",\"P\",\"2.5\"]},{\"name\":\"PID\",\"fields\":"
      "[\"1\",\"\",{\"repetitions\":[[\"123\",\"\",\"\",\"H\",\"MR\"],\"456\"]},\"\",[\"DOE\","
      "\"JANE\"]]}]}\n");
}

TEST(Cli, ParseValidatePrintsFindingsAndTheAckAndFails) {
  test::TempDir dir;
  const auto file = dir.path() / "bad.hl7";
  test::writeFile(file, "MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5\r");
  const auto r = run({"parse", "--validate", file.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("\"valid\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"code\":\"SB-103\",\"hl7_error_code\":101,\"severity\":\"error\","
                       "\"location\":\"MSH[1]-10\",\"text\":\"MSH-10 is required\"}"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\\rMSA|AE|\\rERR||MSH^1^10|101^Required field missing^HL70357|E||||"
                       "MSH-10 is required\\r"),
            std::string::npos)
      << r.out;
}

TEST(Cli, ParseValidateAcceptsEveryFixture) {
  std::vector<std::string> args = {"parse", "--validate"};
  for (const auto& e : std::filesystem::directory_iterator(test::fixturePath("hl7v2"))) {
    const auto name = e.path().filename().string();
    if (e.path().extension() == ".hl7" && name.find("bad") == std::string::npos) {
      args.push_back(e.path().string());
    }
  }
  const auto r = run(args);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(r.out.find("\"valid\":false"), std::string::npos) << r.out;
}

TEST(Cli, ParseX12PrintsTheLoopTree) {
  const auto r =
      run({"parse", test::fixturePath("x12/valid/270_eligibility_request.x12").string()});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(
      r.out.find("\"set\":\"270\",\"control\":\"0001\",\"convention\":\"005010X279A1\","
                 "\"guide\":\"270\",\"accepted\":true,\"tree\":{\"content\":[[\"ST\",\"270\""),
      std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("{\"loop\":\"2000A\",\"name\":\"Information Source Level\",\"content\":[[\"HL\","),
      std::string::npos)
      << r.out;
}

TEST(Cli, ParseValidateX12PrintsFindingsAndThe999AndFails) {
  const auto r =
      run({"parse", "--validate", test::fixturePath("x12/invalid/env_wrong_se01.x12").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("\"valid\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"level\":\"transaction\",\"code\":\"4\",\"severity\":\"error\","),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("IK5*R*4~\\nAK9*R*1*1*0~"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"status\":\"rejected\",\"error\":\"SB-603 "), std::string::npos) << r.out;
}

TEST(Cli, ParseValidateX12WithoutAnIsaFails) {
  test::TempDir dir;
  const auto file = dir.path() / "no-isa.x12";
  test::writeFile(file, "GS*HC*A*B*20260101*1200*1*X*005010X222A1~ST*837*0001~SE*2*0001~GE*1*1~");
  const auto r = run({"parse", "--validate", file.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("\"acknowledgements\":[]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SB-601 X12 input has no usable ISA interchange header; 022 the input does "
                       "not start with ISA"),
            std::string::npos)
      << r.out;
}

TEST(Cli, ParseValidateAcceptsEverySyntheticX12Fixture) {
  std::vector<std::string> args = {"parse", "--validate"};
  for (const auto& e : std::filesystem::directory_iterator(test::fixturePath("x12/valid"))) {
    if (e.path().extension() == ".x12") args.push_back(e.path().string());
  }
  ASSERT_GE(args.size(), 20u);
  const auto r = run(args);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(r.out.find("\"valid\":false"), std::string::npos) << r.out;
}

TEST(Cli, CheckReportsFileAndLineAndFails) {
  test::TempDir dir;
  const auto file = dir.path() / "bad.lua";
  test::writeFile(file, "channel \"in\" {\n  type = \"mllp\",\n  listen = \"nowhere\",\n}\n");
  const auto r = test::runCommand({test::binaryPath(), "check", file.string()},
                                  std::chrono::seconds(60), true);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.out, file.string() + ":1: channel 'in': 'listen': must be \"host:port\"\n");
  const auto ok =
      run({"check", (test::sourceDir() / "examples/quickstart/switchboard.lua").string()});
  EXPECT_EQ(ok.exitCode, 0);
  EXPECT_NE(ok.out.find(": OK (1 channel(s), 1 destination(s), 1 route(s))"), std::string::npos);
}

TEST(Cli, SendToAPortWithNobodyFails) {
  const auto port = test::freePort();
  const auto fixture = test::fixturePath("hl7v2/ADT-A01-01.hl7").string();
  const auto r = test::runCommand({test::binaryPath(), "send", "--mllp",
                                   fmt::format("127.0.0.1:{}", port), "--timeout", "2", fixture},
                                  std::chrono::seconds(60), true);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find(fixture + ": SB-206 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 sent, 0 accepted, 1 not accepted\n"), std::string::npos) << r.out;
}

TEST(Cli, UnknownCommandAndMissingArgumentsExitTwo) {
  EXPECT_EQ(run({"frobnicate"}).exitCode, 2);
  EXPECT_EQ(run({"run"}).exitCode, 2);
  EXPECT_EQ(run({"reprocess", "--data-dir", "/nonexistent", "abc"}).exitCode, 2);
  EXPECT_EQ(run({"messages", "--status", "sideways"}).exitCode, 2);
}

TEST(Cli, MessagesOnAMissingDataDirFails) {
  const auto r = run({"messages", "--data-dir", "/nonexistent/switchboard"});
  EXPECT_EQ(r.exitCode, 2);
}

}  // namespace
}  // namespace sb::e2e

namespace sb::e2e {
namespace {

TEST(Cli, RouteTestsOfTheStandardMappingsPass) {
  const auto r =
      test::runCommand({test::binaryPath(), "test", (test::sourceDir() / "tests/routes").string()},
                       std::chrono::seconds(120), true);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("22 passed, 0 failed\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("UNTESTED"), std::string::npos) << r.out;
}

TEST(Cli, AFailingRouteTestShowsADiffAndTheUntestedRoutes) {
  const auto dir = test::sourceDir() / "tests/e2e/data/route-test-failing";
  const auto r =
      test::runCommand({test::binaryPath(), "test", dir.string()}, std::chrono::seconds(120), true);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("FAIL golden with a wrong birth date ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  patients output 1 differs from wrong-patient.json (- expected, + "
                       "actual):\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  -   \"birthDate\": \"1999-12-31\",\n"
                       "  +   \"birthDate\": \"1988-08-18\",\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("UNTESTED route 'untested' ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 passed, 1 failed\n"), std::string::npos) << r.out;
}

TEST(Cli, TryShowsEveryStepOfOneRoute) {
  const auto r = test::runCommand(
      {test::binaryPath(), "try", (test::sourceDir() / "examples/pms/switchboard.lua").string(),
       "adt_encounter", test::fixturePath("hl7v2/ADT-A03-01-cr.hl7").string()},
      std::chrono::seconds(60), true);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("== route adt_encounter (channel hospital_in)\n"
                       "filter     accepted: static filter passed\n"
                       "transform  mappings/adt.lua:encounter -> {"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("validate   Encounter valid\ndeliver-to pms_encounters\n"
                       "== result: routed\n-> pms_encounters\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace sb::e2e
