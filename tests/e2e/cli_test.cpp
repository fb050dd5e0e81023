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
  EXPECT_NE(r.out.find("31 passed, 0 failed\n"), std::string::npos) << r.out;
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

namespace sb::e2e {
namespace {

// A route test file in a temporary folder against the delivery test config
// (tests/routes/delivery/switchboard.lua); `body` is the inside of one `test "t" { ... }`.
struct MockTest {
  test::TempDir dir;
  std::filesystem::path file = dir.path() / "mock.test.lua";
  std::string config = (test::sourceDir() / "tests/routes/delivery/switchboard.lua").string();

  test::CommandResult run(const std::string& channel, const std::string& input,
                          const std::string& body) {
    test::writeFile(file, fmt::format("test \"t\" {{\n  config = \"{}\",\n  channel = \"{}\",\n"
                                      "  input = \"{}\",\n{}}}\n",
                                      config, channel, test::fixturePath(input).string(), body));
    return test::runCommand({test::binaryPath(), "test", dir.path().string(), "--allow-untested"},
                            std::chrono::seconds(120), true);
  }
  // "<file>:1: test 't': "
  std::string where() const { return file.string() + ":1: test 't': "; }
};

constexpr const char* kPatientGolden = "tests/routes/golden/adt-a01.patient.json";

std::string adtExpect() {
  return fmt::format("  expect = {{ archive = \"{}\", pms_patients = \"{}\" }},\n",
                     test::fixturePath("hl7v2/ADT-A01-01.hl7").string(),
                     (test::sourceDir() / kPatientGolden).string());
}

TEST(Cli, RouteTestReportsWhatTheSenderDecidesFromAMockedAnswer) {
  MockTest t;
  const auto r =
      t.run("hospital_in", "hl7v2/ADT-A01-01.hl7",
            adtExpect() +
                "  respond = { pms_patients = { status = 400, body = '{\"error\":\"bad\"}' } },\n"
                "  expect_delivery = { pms_patients = \"dead\" },\n");
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(
      r.out.find("PASS t\n  pms_patients: dead: HTTP 400 [response kept: {\"error\":\"bad\"}]\n"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 passed, 0 failed\n"), std::string::npos) << r.out;
}

TEST(Cli, RouteTestWithTheWrongExpectedDeliveryFailsWithBothSides) {
  MockTest t;
  const auto r = t.run("hospital_in", "hl7v2/ADT-A01-01.hl7",
                       adtExpect() +
                           "  respond = { pms_patients = { status = 503, headers = { "
                           "[\"Retry-After\"] = \"120\" } } },\n"
                           "  expect_delivery = { pms_patients = { outcome = \"dead\", "
                           "retry_after = 60 } },\n");
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL t (" + t.file.string() +
                       ":1)\n"
                       "  pms_patients delivery: expected dead, got retry: HTTP 503 "
                       "(Retry-After: next attempt in 120 s)\n"
                       "  pms_patients delivery: expected the next attempt in 60 s "
                       "(Retry-After), got 120 s\n"
                       "  pms_patients: retry: HTTP 503 (Retry-After: next attempt in 120 s)\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("0 passed, 1 failed\n"), std::string::npos) << r.out;
}

TEST(Cli, RouteTestMllpAnswerFollowsTheDestinationsPolicy) {
  MockTest t;
  const auto oru = test::fixturePath("hl7v2/ORU-R01-01-cr.hl7").string();
  const auto r =
      t.run("hospital_in", "hl7v2/ORU-R01-01-cr.hl7",
            fmt::format("  expect = {{ archive = \"{0}\", lab_retry = \"{0}\", lab_dead = \"{0}\", "
                        "lab_accept = \"{0}\" }},\n",
                        oru) +
                "  respond = { lab_retry = { ack = \"AE\" }, lab_dead = { ack = \"AE\" }, "
                "lab_accept = { ack = \"AE\" } },\n"
                "  expect_delivery = { lab_retry = \"dead\", lab_dead = \"dead\", "
                "lab_accept = \"delivered\" },\n");
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("  lab_retry delivery: expected dead, got retry: peer answered AE [response "
                       "kept: MSH|"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("lab_dead delivery"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("lab_accept delivery"), std::string::npos) << r.out;
}

TEST(Cli, RouteTestMockErrorsNameTheFileAndLine) {
  MockTest t;
  const auto r = t.run("hospital_in", "hl7v2/ADT-A01-01.hl7",
                       adtExpect() +
                           "  respond = {\n"
                           "    pms_patient = { status = 400 },\n"
                           "    archive = { status = 500 },\n"
                           "    lab_retry = { status = 200 },\n"
                           "    pms_patients = { ack = \"AE\" },\n"
                           "  },\n"
                           "  expect_delivery = { nowhere = \"dead\", lab_dead = \"gone\" },\n"
                           "  expect_reply = \"x.x12\",\n");
  EXPECT_EQ(r.exitCode, 1) << r.out;
  const std::string w = t.where();
  EXPECT_NE(r.out.find("FAIL t\n"), std::string::npos) << r.out;
  for (const std::string& line : std::vector<std::string>{
           w + "'respond.archive': 'archive' is of type file: it can only be mocked as failing, "
               "with error = \"...\"\n",
           w + "'respond.lab_retry.ack': is required for an MLLP destination (or the answer as "
               "body or file)\n",
           w + "'respond.lab_retry.status': 'lab_retry' is of type mllp (it is for HTTP)\n",
           w + "'respond.pms_patient': no destination 'pms_patient' in " + t.config + "\n",
           w + "'respond.pms_patients.status': is required for an HTTP destination (or give "
               "error)\n",
           w + "'respond.pms_patients.ack': 'pms_patients' is of type http (ack is for MLLP)\n",
           w + "'expect_delivery.lab_dead': must be \"delivered\", \"retry\" or \"dead\" (or a "
               "table { outcome = ..., error = ..., retry_after = ... }), got \"gone\"\n",
           w + "'expect_delivery.lab_dead': needs respond.lab_dead, the answer to decide from\n",
           w + "'expect_delivery.nowhere': no destination 'nowhere' in " + t.config + "\n",
           w + "'expect_reply': channel 'hospital_in' answers its clients itself (ACK, 999 or "
               "202), not with a destination's response; expect_reply needs a CORE channel "
               "(mode = \"core\") with reply_from\n",
       }) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\nin:\n" << r.out;
  }
  EXPECT_NE(r.out.find("0 passed, 1 failed\n"), std::string::npos) << r.out;
}

TEST(Cli, RouteTestCoreReplyDiffersFromTheGolden) {
  MockTest t;
  const auto x270 = test::fixturePath("x12/valid/270_eligibility_request.x12").string();
  const auto x271 = test::fixturePath("x12/valid/271_eligibility_response.x12").string();
  auto r =
      t.run("core_in", "x12/valid/270_eligibility_request.x12",
            fmt::format("  expect = {{ payer_realtime = \"{}\" }},\n"
                        "  respond = {{ payer_realtime = {{ status = 200, file = \"{}\" }} }},\n"
                        "  expect_reply = \"{}\",\n",
                        x270, x271, x270));
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("  reply differs from " + x270 + " (- expected, + actual):\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  reply: HTTP 200 Success\n"), std::string::npos) << r.out;

  r = t.run("core_in", "x12/valid/270_eligibility_request.x12",
            fmt::format("  expect = {{ payer_realtime = \"{}\" }},\n"
                        "  respond = {{ payer_realtime = {{ error = \"connection refused\" }} }},\n"
                        "  expect_reply = \"{}\",\n",
                        x270, x271));
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("  reply: expected HTTP 200 Success, got HTTP 504 ReceiverTimeout: "
                       "'payer_realtime' is retried (connection refused); no reply within "
                       "reply_timeout_ms\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace sb::e2e
