// MLLP ADT in -> Lua mapping -> canonical Patient JSON over HTTP to a server the test runs,
// through the real binary: order, retries with a stable Idempotency-Key, dead letters with the
// response kept, and a route edited and reloaded while traffic flows.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "parsers/hl7v2/hl7v2.h"
#include "test_http_server.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;

std::string config(unsigned short mllpPort, unsigned short httpPort,
                   const std::string& transform = "mappings/adt.lua:patient") {
  return fmt::format(R"(
engine {{ script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "pms" {{
  type = "http",
  url = "http://127.0.0.1:{}/api/v1/patients/{{patient_id}}/demographics",
  method = "PUT",
  timeout = 5,
  retry = {{ max_attempts = 1000, initial_backoff = 0.05, max_backoff = 0.3 }},
}}
route "adt_patient" {{
  from = "in",
  filter = {{ message_type = "ADT" }},
  transform = "{}",
  to = "pms",
}}
)",
                     (test::sourceDir() / "scripts/lua").string(), mllpPort, httpPort, transform);
}

std::string ackCode(mllp::Client& client, const std::string& message) {
  const auto ack = hl7::readAck(client.exchange(message));
  return ack ? ack->code : "";
}

// The PMS sees patient ids in the URL and in the body, in the order they were sent.
std::vector<std::string> targets(const std::vector<test::RecordedRequest>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.method + " " + r.target);
  return out;
}

TEST(LuaHttp, AdtBecomesPatientJsonPutToThePmsInOrder) {
  test::TestHttpServer pms;
  const auto port = test::freePort();
  Engine engine(config(port, pms.port()));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    const auto pid = fmt::format("P{:03d}", i);
    ASSERT_EQ(ackCode(client, adtMessage(fmt::format("C{}", i), pid)), "AA");
    expected.push_back("PUT /api/v1/patients/" + pid + "/demographics");
  }
  ASSERT_TRUE(test::waitFor([&] { return pms.requests().size() >= 20; }, 30s));
  const auto requests = pms.requests();
  EXPECT_EQ(targets(requests), expected);
  EXPECT_EQ(requests[0].body,
            "{\"active\":true,\"birthDate\":\"1980-01-01\",\"gender\":\"female\",\"identifiers\":"
            "[{\"assigner\":\"HOSP\",\"system\":\"urn:switchboard:assigner:HOSP\",\"type\":\"MR\","
            "\"value\":\"P000\"}],\"meta\":{\"source\":\"SENDFAC\",\"sourceFormat\":\"HL7v2\","
            "\"sourceMessageId\":\"C0\"},\"name\":[{\"family\":\"DOE\",\"given\":[\"JANE\",\"Q\"],"
            "\"use\":\"official\"}],\"resourceType\":\"Patient\",\"schemaVersion\":\"1\"}");
  EXPECT_EQ(requests[0].header("content-type"), "application/json");
  // The message's history keeps what the transform made of it.
  const auto shown = engine.cli({"messages", "show", "1", "--json"});
  EXPECT_NE(shown.out.find("\"step\":\"transform\",\"subject\":\"adt_patient\","
                           "\"outcome\":\"mappings/adt.lua:patient\",\"detail\":\"{\\\"active\\\""),
            std::string::npos)
      << shown.out;
  ASSERT_TRUE(requests[0].header("idempotency-key"));
  EXPECT_NE(requests[0].header("idempotency-key"), requests[1].header("idempotency-key"));
}

TEST(LuaHttp, PmsDownThenFailingThenBackGetsEverythingInOrderWithStableIdempotencyKeys) {
  const auto httpPort = test::freePort();
  const auto port = test::freePort();
  Engine engine(config(port, httpPort));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) {
    const auto pid = fmt::format("D{:03d}", i);
    ASSERT_EQ(ackCode(client, adtMessage(fmt::format("D{}", i), pid)), "AA");
    expected.push_back("PUT /api/v1/patients/" + pid + "/demographics");
  }
  // Down: connection refused, retried with backoff.
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "show", "1", "--json"});
        return r.out.find("\"outcome\":\"retry\"") != std::string::npos;
      },
      30s));
  // Back, but answering 503 twice (with Retry-After 0) before it recovers.
  test::TestHttpServer pms(std::nullopt, httpPort);
  pms.script({{503, "busy", {{"Retry-After", "0"}}, false}, {503, "busy", {}, false}});
  ASSERT_TRUE(test::waitFor([&] { return pms.requests().size() >= 12; }, 60s));
  const auto requests = pms.requests();
  ASSERT_EQ(requests.size(), 12u);
  // The head message was tried three times with one key; then the rest in order.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(requests[i].target, "/api/v1/patients/D000/demographics");
    EXPECT_EQ(requests[i].header("idempotency-key"), requests[0].header("idempotency-key"));
  }
  std::vector<std::string> delivered = targets(requests);
  delivered.erase(delivered.begin(), delivered.begin() + 2);
  EXPECT_EQ(delivered, expected);
}

TEST(LuaHttp, BadRequestDeadLettersWithTheResponseBodyKept) {
  test::TestHttpServer pms;
  pms.script({{400, "{\"error\":\"birthDate rejected\"}", {}, false}});
  const auto port = test::freePort();
  Engine engine(config(port, pms.port()));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  ASSERT_EQ(ackCode(client, adtMessage("BAD1", "B001")), "AA");
  ASSERT_EQ(ackCode(client, adtMessage("GOOD1", "B002")), "AA");
  ASSERT_TRUE(test::waitFor([&] { return pms.requests().size() >= 2; }, 30s));
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "--status", "error", "--json"});
        return r.out.find("BAD1") != std::string::npos;
      },
      30s));
  const auto shown = engine.cli({"messages", "show", "1", "--json"});
  EXPECT_NE(shown.out.find("\"outcome\":\"dead\""), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("birthDate rejected"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("HTTP 400"), std::string::npos) << shown.out;
  EXPECT_EQ(pms.requests()[1].target, "/api/v1/patients/B002/demographics");
}

TEST(LuaHttp, SchemaViolationGoesToTheErrorQueueWithThePointer) {
  test::TestHttpServer pms;
  const auto port = test::freePort();
  test::TempDir scripts;
  test::writeFile(scripts.path() / "bad.lua", R"(
return function(msg)
  return { resourceType = "Patient", schemaVersion = "1",
           identifiers = { { system = "urn:x", value = msg:get("PID-3.1") } },
           name = { { family = "X" } }, gender = "F" }
end)");
  Engine engine(fmt::format(R"(
engine {{ script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "pms" {{ type = "http", url = "http://127.0.0.1:{}/p" }}
route "r" {{ from = "in", transform = "bad.lua", to = "pms" }}
)",
                            scripts.path().string(), port, pms.port()));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  ASSERT_EQ(ackCode(client, adtMessage("SCHEMA1")), "AA");
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "--status", "error", "--json"});
        return r.out.find("SCHEMA1") != std::string::npos;
      },
      30s));
  const auto r = engine.cli({"messages", "--status", "error", "--json"});
  EXPECT_NE(r.out.find("route 'r': schema Patient /gender: "), std::string::npos) << r.out;
  EXPECT_TRUE(pms.requests().empty());
}

// With four route workers: the reload swaps every worker's pipeline between two batches.
TEST(LuaHttp, EditedRouteReloadedWhileTrafficFlowsLosesNothing) {
  test::TestHttpServer pms;
  const auto port = test::freePort();
  test::TempDir scripts;
  test::writeFile(scripts.path() / "v.lua",
                  "return function(msg) return 'v1 ' .. msg:get('MSH-10') end\n");
  test::writeFile(scripts.path() / "v2.lua",
                  "return function(msg) return 'v2 ' .. msg:get('MSH-10') end\n");
  const auto body = [&](const std::string& script) {
    return fmt::format(R"(
engine {{ route_workers = 4, script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "pms" {{ type = "http", url = "http://127.0.0.1:{}/p", content_type = "text/plain" }}
route "r" {{ from = "in", transform = "{}", to = "pms" }}
)",
                       scripts.path().string(), port, pms.port(), script);
  };
  Engine engine(body("v.lua"));
  engine.waitPort(port);
  engine.start();
  std::atomic<int> acked{0};
  std::thread sender([&] {
    mllp::ClientOptions o;
    o.port = port;
    mllp::Client client(o);
    for (int i = 0; i < 300; ++i) {
      if (ackCode(client, adtMessage(fmt::format("R{:03d}", i))) == "AA") ++acked;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(200ms);
  test::writeFile(engine.configFile(), body("v2.lua"));
  engine.reload();  // SIGHUP
  sender.join();
  EXPECT_EQ(acked.load(), 300);
  ASSERT_TRUE(test::waitFor([&] { return pms.requests().size() >= 300; }, 60s));
  const auto requests = pms.requests();
  ASSERT_EQ(requests.size(), 300u);
  int v1 = 0, v2 = 0;
  for (int i = 0; i < 300; ++i) {
    const auto& b = requests[i].body;
    EXPECT_EQ(b.substr(3), fmt::format("R{:03d}", i)) << "order or loss at " << i;
    (b.rfind("v1 ", 0) == 0 ? v1 : v2)++;
    if (i > 0 && requests[i - 1].body.rfind("v2 ", 0) == 0) {
      EXPECT_EQ(b.rfind("v2 ", 0), 0u) << "went back to the old route at " << i;
    }
  }
  EXPECT_GT(v1, 0);
  EXPECT_GT(v2, 0);
  // The sender's connection stayed up through the reload: nothing connected after it.
  const std::string log = test::readFile(engine.logFile());
  const auto reloaded = log.find("routes reloaded");
  ASSERT_NE(reloaded, std::string::npos) << log;
  EXPECT_EQ(log.find(" accepted", reloaded), std::string::npos) << log;
}

}  // namespace
}  // namespace sb::e2e

namespace sb::e2e {
namespace {

TEST(LuaHttp, ABrokenReloadIsRefusedAndTheRunningRoutesStay) {
  test::TestHttpServer pms;
  const auto port = test::freePort();
  test::TempDir scripts;
  test::writeFile(scripts.path() / "v.lua", "return function(msg) return 'ok' end\n");
  const auto body = [&](const std::string& script) {
    return fmt::format(R"(
engine {{ script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "pms" {{ type = "http", url = "http://127.0.0.1:{}/p", content_type = "text/plain" }}
route "r" {{ from = "in", transform = "{}", to = "pms" }}
)",
                       scripts.path().string(), port, pms.port(), script);
  };
  Engine engine(body("v.lua"));
  engine.waitPort(port);
  engine.start();
  test::writeFile(scripts.path() / "broken.lua", "return function(msg)\n  return = 1\nend\n");
  test::writeFile(engine.configFile(), body("broken.lua"));
  engine.reload();
  ASSERT_TRUE(test::waitFor(
      [&] { return test::readFile(engine.logFile()).find("reload refused") != std::string::npos; },
      std::chrono::seconds(20)));
  const std::string log = test::readFile(engine.logFile());
  EXPECT_NE(log.find("broken.lua:2:"), std::string::npos) << log;
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  EXPECT_EQ(ackCode(client, adtMessage("AFTER")), "AA");
  ASSERT_TRUE(test::waitFor([&] { return pms.requests().size() == 1; }, std::chrono::seconds(20)));
  EXPECT_EQ(pms.requests()[0].body, "ok");
}

}  // namespace
}  // namespace sb::e2e

namespace sb::e2e {
namespace {

// One ORU with two observations becomes two LabResults, delivered as two requests in order.
TEST(LuaHttp, SplitOutputsAreDeliveredOneByOneInOrder) {
  test::TestHttpServer lis;
  const auto port = test::freePort();
  Engine engine(fmt::format(R"(
engine {{ script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "lab_results" {{ type = "http", url = "http://127.0.0.1:{}/api/v1/lab-results" }}
route "oru" {{ from = "in", filter = {{ message_type = "ORU" }},
              transform = "mappings/oru.lua:labResults", to = "lab_results" }}
)",
                            (test::sourceDir() / "scripts/lua").string(), port, lis.port()));
  engine.waitPort(port);
  engine.start();
  const auto r =
      test::runCommand({test::binaryPath(), "send", "--mllp", fmt::format("127.0.0.1:{}", port),
                        test::fixturePath("hl7v2/ORU-R01-01-cr.hl7").string()});
  ASSERT_EQ(r.exitCode, 0) << r.out;
  ASSERT_TRUE(test::waitFor([&] { return lis.requests().size() >= 2; }, std::chrono::seconds(30)));
  const auto requests = lis.requests();
  ASSERT_EQ(requests.size(), 2u);
  // Each body is the reviewed golden of `switchboard test` (same JSON, any key order).
  for (int i = 0; i < 2; ++i) {
    rapidjson::Document got, want;
    got.Parse(requests[i].body.c_str());
    const auto golden = test::readFile(test::sourceDir() / "tests/routes/golden" /
                                       fmt::format("oru-r01.result-{}.json", i + 1));
    want.Parse(golden.c_str());
    EXPECT_TRUE(got == want) << requests[i].body;
  }
  // Two outputs of one message are two different things to de-duplicate.
  ASSERT_TRUE(requests[0].header("idempotency-key"));
  EXPECT_NE(requests[0].header("idempotency-key"), requests[1].header("idempotency-key"));
}

}  // namespace
}  // namespace sb::e2e
