// Config loading and validation: every error names file:line and what is wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "engine/plan.h"
#include "tests/support/test_support.h"

namespace sb::engine {
namespace {

struct Checked {
  bool ok = false;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::optional<Plan> plan;
};

Checked check(const std::string& body) {
  static test::TempDir dir;
  const auto file = dir.path() / "config.lua";
  test::writeFile(file, body);
  Checked c;
  config::Errors errors;
  c.plan = loadPlan(file, {}, errors);
  if (c.plan) {
    Registry registry;
    registerAll(registry);
    channels::BuildContext ctx;
    ctx.configDir = dir.path();
    ctx.dataDir = dir.path() / "data";
    buildPlan(*c.plan, registry, ctx, errors);
    c.warnings = c.plan->warnings;
  }
  // Strip the temp dir so expectations are stable.
  const std::string prefix = dir.path().string() + "/";
  for (auto e : errors.items) {
    for (auto pos = e.find(prefix); pos != std::string::npos; pos = e.find(prefix)) {
      e.erase(pos, prefix.size());
    }
    c.errors.push_back(e);
  }
  c.ok = errors.empty();
  return c;
}

TEST(Config, QuickstartIsValid) {
  config::Errors errors;
  auto plan = loadPlan(test::sourceDir() / "examples/quickstart/switchboard.lua", {}, errors);
  ASSERT_TRUE(plan) << errors.joined();
  Registry registry;
  registerAll(registry);
  channels::BuildContext ctx;
  ctx.dataDir = "data";
  EXPECT_TRUE(buildPlan(*plan, registry, ctx, errors)) << errors.joined();
  EXPECT_EQ(plan->sources.size(), 1u);
  EXPECT_EQ(plan->destinations.size(), 1u);
  EXPECT_EQ(plan->routes.routes().size(), 1u);
  EXPECT_EQ(plan->settings.dataDir, std::filesystem::path("data"));
  EXPECT_EQ(plan->settings.durability, store::Durability::kProcess);
  EXPECT_TRUE(plan->warnings.empty());
}

TEST(Config, UnknownKeyNamesLineAndSuggestsTheRightKey) {
  const auto c = check(
      "channel \"in\" {\n"
      "  type = \"mllp\",\n"
      "  lisen = \"127.0.0.1:2575\",\n"
      "}\n");
  EXPECT_EQ(c.errors,
            (std::vector<std::string>{
                "config.lua:1: channel 'in': unknown key 'lisen' (did you mean 'listen'?)",
                "config.lua:1: channel 'in': missing required key 'listen'"}));
}

TEST(Config, WrongTypesAndRangesAreReported) {
  const auto c = check(
      "engine { durability = \"sometimes\", retention_days = -1 }\n"
      "channel \"in\" { type = \"mllp\", listen = 2575 }\n");
  EXPECT_EQ(c.errors, (std::vector<std::string>{
                          "config.lua:1: engine: 'durability': must be \"process\" or \"power\"",
                          "config.lua:1: engine: 'retention_days': must be between 0 and 36500"}));
}

TEST(Config, ChannelValueErrors) {
  const auto c = check("channel \"in\" { type = \"mllp\", listen = 2575 }\n");
  EXPECT_EQ(c.errors, (std::vector<std::string>{
                          "config.lua:1: channel 'in': 'listen' must be a string, got a number",
                          "config.lua:1: channel 'in': 'listen': must be \"host:port\""}));
}

TEST(Config, RoutesMustNameExistingChannelsAndDestinations) {
  const auto c = check(
      "channel \"in\" { type = \"mllp\", listen = \"127.0.0.1:2575\" }\n"
      "destination \"out\" { type = \"file\", directory = \"out\" }\n"
      "\n"
      "route \"r\" { from = \"inn\", to = { \"out\", \"nowhere\" } }\n");
  EXPECT_EQ(c.errors, (std::vector<std::string>{
                          "config.lua:4: route 'r': unknown channel 'inn' in 'from'",
                          "config.lua:4: route 'r': unknown destination 'nowhere' in 'to'"}));
}

TEST(Config, DuplicatesUnknownTypesAndNestedKeys) {
  const auto c = check(
      "destination \"d\" { type = \"file\", directory = \"out\", retry = { max_atempts = 3 } }\n"
      "destination \"d\" { type = \"file\", directory = \"out\" }\n"
      "destination \"x\" { type = \"carrier-pigeon\" }\n"
      "channel \"in\" { type = \"mllp\", listen = \"127.0.0.1:1\", tls = { cert = \"nope.pem\" } "
      "}\n");
  EXPECT_EQ(c.errors,
            (std::vector<std::string>{
                "config.lua:1: destination 'd': unknown key 'retry.max_atempts' (did you mean "
                "'max_attempts'?)",
                "config.lua:2: destination 'd': destination declared twice",
                "config.lua:3: destination 'x': unknown destination type 'carrier-pigeon'",
                "config.lua:4: channel 'in': missing required key 'tls.key'",
                "config.lua:4: channel 'in': 'tls': file not found: nope.pem"}))
      << "errors were: " << testing::PrintToString(c.errors);
}

TEST(Config, LuaSyntaxErrorsKeepTheLine) {
  const auto c = check("channel \"in\" {\n  type = \"mllp\"\n  listen = \"x\"\n}\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].substr(0, 13), "config.lua:3:") << c.errors[0];
}

// Values a configuration cannot hold are refused at the line of the declaration holding them.
TEST(Config, ValuesAConfigCannotHoldNameTheirLine) {
  const auto mixed = check(
      "engine { log_level = \"warn\" }\n"
      "channel \"in\" {\n  type = \"mllp\",\n  listen = { 1, x = 2 },\n}\n");
  EXPECT_EQ(mixed.errors, (std::vector<std::string>{
                              "config.lua:2: table keys must be names (strings), mixed lists are "
                              "not allowed"}));
  const auto nested = check("local t = 1\nfor i = 1, 40 do t = { t } end\nengine { a = t }\n");
  EXPECT_EQ(nested.errors,
            (std::vector<std::string>{"config.lua:3: tables nested deeper than 32 levels"}));
}

TEST(Config, SandboxHasNoIoOrOs) {
  const auto c = check("io.open('/etc/passwd')\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("config.lua:1:"), std::string::npos);
  EXPECT_NE(c.errors[0].find("'io'"), std::string::npos) << c.errors[0];
  const auto os = check("os.execute('true')\n");
  ASSERT_EQ(os.errors.size(), 1u);
  EXPECT_NE(os.errors[0].find("'os'"), std::string::npos) << os.errors[0];
}

TEST(Config, EndlessConfigLoopIsStopped) {
  const auto c = check("while true do end\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("ran too long"), std::string::npos) << c.errors[0];
}

TEST(Config, UnusedChannelAndDestinationAreWarnings) {
  const auto c = check(
      "channel \"in\" { type = \"mllp\", listen = \"127.0.0.1:2575\" }\n"
      "destination \"out\" { type = \"file\", directory = \"out\" }\n");
  EXPECT_TRUE(c.ok);
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_NE(c.warnings[0].find("no route takes messages from this channel"), std::string::npos);
  EXPECT_NE(c.warnings[1].find("no route sends to this destination"), std::string::npos);
}

TEST(Config, EnvFunctionReadsTheEnvironment) {
  ::setenv("SB_TEST_PORT", "127.0.0.1:2999", 1);
  const auto c = check(
      "channel \"in\" { type = \"mllp\", listen = env(\"SB_TEST_PORT\") }\n"
      "destination \"out\" { type = \"file\", directory = env(\"SB_UNSET_VAR\", \"fallback\") }\n"
      "route \"r\" { from = \"in\", to = \"out\" }\n");
  EXPECT_TRUE(c.ok) << testing::PrintToString(c.errors);
}

TEST(Config, RouteWorkersDefaultToTheCoresAndAreRangeChecked) {
  const auto byDefault = check("");
  ASSERT_TRUE(byDefault.plan);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(byDefault.plan->settings.routeWorkers, std::clamp(cores, 1, 16));
  const auto three = check("engine { route_workers = 3 }\n");
  ASSERT_TRUE(three.plan) << testing::PrintToString(three.errors);
  EXPECT_EQ(three.plan->settings.routeWorkers, 3);
  EXPECT_EQ(check("engine { route_workers = 0 }\n").errors,
            (std::vector<std::string>{
                "config.lua:1: engine: 'route_workers': must be between 1 and 256"}));
}

TEST(Retry, BackoffGrowsAndIsCapped) {
  RetryPolicy p;
  p.initialBackoffSeconds = 1;
  p.multiplier = 2;
  p.maxBackoffSeconds = 10;
  p.jitter = 0.5;
  EXPECT_EQ(p.backoffMillis(1, 0.5), 1000);
  EXPECT_EQ(p.backoffMillis(2, 0.5), 2000);
  EXPECT_EQ(p.backoffMillis(3, 0.5), 4000);
  EXPECT_EQ(p.backoffMillis(10, 0.5), 10000);
  EXPECT_EQ(p.backoffMillis(1, 0.0), 500);   // -50 %
  EXPECT_EQ(p.backoffMillis(1, 1.0), 1500);  // +50 %
}

}  // namespace
}  // namespace sb::engine
