// Routes with Lua filters and transforms: decisions, outputs per destination, splits, schema
// validation and script errors, each with the exact result.
#include <gtest/gtest.h>

#include "model/schema_registry.h"
#include "routes/pipeline.h"
#include "tests/support/test_support.h"

namespace sb::routes {
namespace {

const std::string kAdt =
    "MSH|^~\\&|APP|FAC|RAPP|RFAC|20260101120000||ADT^A01^ADT_A01|C1|P|2.5\r"
    "PID|1||123^^^HOSP^MR||DOE^JANE||19800102|F\r";

store::MessageSummary adtSummary() {
  store::MessageSummary s;
  s.channel = "in";
  s.messageType = "ADT";
  s.triggerEvent = "A01";
  s.controlId = "C1";
  return s;
}

class PipelineTest : public ::testing::Test {
 protected:
  void script(const std::string& name, const std::string& code) {
    test::writeFile(dir_.path() / name, code);
  }
  Route route(std::string name, std::vector<std::string> to, std::string filter = {},
              std::vector<std::string> transforms = {}) {
    Route r;
    r.name = std::move(name);
    r.where = "test.lua:1";
    r.sources = {"in"};
    r.destinations = std::move(to);
    r.filterScript = std::move(filter);
    r.transformScripts = std::move(transforms);
    return r;
  }
  PipelineResult run(std::vector<Route> routes, MatchMode mode = MatchMode::kAll) {
    table_ = std::make_unique<RouteTable>(std::move(routes), mode);
    PipelineOptions o;
    o.scriptFolders = {dir_.path()};
    o.schemaCheck = [](std::string_view json) -> std::optional<std::string> {
      const auto r = model::SchemaRegistry::builtin().validate(json);
      if (r.ok) return std::nullopt;
      return r.message + " (" + r.keyword + ")";
    };
    pipeline_ = std::make_unique<Pipeline>(*table_, o);
    std::vector<std::string> errors;
    EXPECT_TRUE(pipeline_->load(errors)) << testing::PrintToString(errors);
    return pipeline_->run(adtSummary(), kAdt);
  }
  test::TempDir dir_;
  std::unique_ptr<RouteTable> table_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, WithoutScriptsTheRawMessageGoesOnceToEachDestination) {
  const auto r = run({route("a", {"x", "y"}), route("b", {"x"})});
  EXPECT_EQ(r.status, store::MessageStatus::kRouted);
  ASSERT_EQ(r.enqueue.size(), 2u);
  EXPECT_EQ(r.enqueue[0].destination, "x");
  EXPECT_FALSE(r.enqueue[0].payload);
  EXPECT_EQ(r.enqueue[1].destination, "y");
}

TEST_F(PipelineTest, FilterScriptReasonIsRecorded) {
  script(
      "only_a04.lua",
      "return function(msg) local t = msg:get('MSH-9.2'); return t == 'A04', 'trigger ' .. t end");
  const auto r = run({route("a", {"x"}, "only_a04.lua")});
  EXPECT_EQ(r.status, store::MessageStatus::kFiltered);
  ASSERT_EQ(r.decisions.size(), 1u);
  EXPECT_FALSE(r.decisions[0].matched);
  EXPECT_EQ(r.decisions[0].reason, "trigger A01");
  EXPECT_TRUE(r.enqueue.empty());
}

TEST_F(PipelineTest, TransformOutputIsValidatedAndQueued) {
  script("patient.lua", R"(
return function(msg)
  return { resourceType = "Patient", schemaVersion = "1",
           identifiers = { { system = "urn:x", value = msg:get("PID-3.1") } },
           name = { { family = msg:get("PID-5.1") } }, birthDate = "1980-01-02" }
end)");
  const auto r = run({route("a", {"pms"}, {}, {"patient.lua"})});
  EXPECT_EQ(r.status, store::MessageStatus::kRouted) << r.error;
  ASSERT_EQ(r.enqueue.size(), 1u);
  EXPECT_EQ(r.enqueue[0].destination, "pms");
  EXPECT_EQ(
      *r.enqueue[0].payload,
      "{\"birthDate\":\"1980-01-02\",\"identifiers\":[{\"system\":\"urn:x\",\"value\":\"123\"}],"
      "\"name\":[{\"family\":\"DOE\"}],\"resourceType\":\"Patient\",\"schemaVersion\":\"1\"}");
}

TEST_F(PipelineTest, OutputBreakingTheSchemaIsAnErrorWithTheJsonPointer) {
  script("bad.lua", R"(
return function(msg)
  return { resourceType = "Patient", schemaVersion = "1",
           identifiers = { { system = "urn:x", value = "1" } },
           name = { { family = "X" } }, birthDate = "02/01/1980" }
end)");
  const auto r = run({route("a", {"pms"}, {}, {"bad.lua"})});
  EXPECT_EQ(r.status, store::MessageStatus::kError);
  EXPECT_TRUE(r.enqueue.empty());
  EXPECT_EQ(r.error.rfind("route 'a': schema Patient /birthDate: ", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("(pattern)"), std::string::npos) << r.error;
}

TEST_F(PipelineTest, SplitOutputsAreQueuedInOrderAndMayBeAddressed) {
  script("split.lua", R"(
return function(msg)
  return { { body = "one" }, { to = "b", body = "two" }, { to = { "a", "b" }, body = "three" } }
end)");
  const auto r = run({route("s", {"a", "b"}, {}, {"split.lua"})});
  ASSERT_EQ(r.enqueue.size(), 5u) << r.error;
  std::vector<std::string> got;
  for (const auto& e : r.enqueue) got.push_back(e.destination + "=" + *e.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"a=one", "b=one", "b=two", "a=three", "b=three"}));
}

TEST_F(PipelineTest, AddressingADestinationOutsideTheRouteIsAnError) {
  script("stray.lua", "return function(msg) return { to = 'elsewhere', body = 'x' } end");
  const auto r = run({route("s", {"a"}, {}, {"stray.lua"})});
  EXPECT_EQ(r.status, store::MessageStatus::kError);
  EXPECT_EQ(r.error,
            "route 's': transform addressed 'elsewhere', which is not in the route's 'to'");
}

TEST_F(PipelineTest, TransformsChainAndNilMeansNothingToDeliver) {
  script("first.lua", "return function(msg) return msg:get('PID-5.1') end");
  script("second.lua", "return function(name) return 'name=' .. name end");
  script("none.lua", "return function(msg) return nil end");
  const auto chained = run({route("c", {"a"}, {}, {"first.lua", "second.lua"})});
  ASSERT_EQ(chained.enqueue.size(), 1u);
  EXPECT_EQ(*chained.enqueue[0].payload, "name=DOE");
  ASSERT_EQ(chained.steps.size(), 2u);
  EXPECT_EQ(chained.steps[0].route, "c");
  EXPECT_EQ(chained.steps[0].script, "first.lua");
  EXPECT_EQ(chained.steps[0].output, "DOE");
  EXPECT_EQ(chained.steps[1].script, "second.lua");
  EXPECT_EQ(chained.steps[1].output, "name=DOE");
  const auto none = run({route("n", {"a"}, {}, {"none.lua"})});
  EXPECT_EQ(none.status, store::MessageStatus::kFiltered);
  ASSERT_EQ(none.decisions.size(), 2u);
  EXPECT_EQ(none.decisions[1].reason, "the matching routes' transforms produced no output");
}

TEST_F(PipelineTest, ScriptErrorsNameScriptAndLineAndTheNextMessageStillRuns) {
  script("boom.lua", "return function(msg)\n  local x = nil\n  return x.field\nend\n");
  const auto r = run({route("b", {"a"}, {}, {"boom.lua"})});
  EXPECT_EQ(r.status, store::MessageStatus::kError);
  EXPECT_NE(r.error.find("route 'b' transform boom.lua: "), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("boom.lua:3: attempt to index a nil value"), std::string::npos) << r.error;
  const auto again = pipeline_->run(adtSummary(), kAdt);
  EXPECT_EQ(again.status, store::MessageStatus::kError);  // same script, same message, same end
}

TEST_F(PipelineTest, RunawayScriptFailsOnlyItsMessage) {
  script("loop.lua", "return function(msg) while true do end end");
  const auto r = run({route("l", {"a"}, {}, {"loop.lua"})});
  EXPECT_EQ(r.status, store::MessageStatus::kError);
  EXPECT_NE(r.error.find("instruction limit exceeded"), std::string::npos) << r.error;
}

TEST_F(PipelineTest, MissingAndBrokenScriptsFailAtLoadWithFileAndLine) {
  script("syntax.lua", "return function(msg)\n  return = 1\nend\n");
  table_ = std::make_unique<RouteTable>(std::vector<Route>{route("m", {"a"}, {}, {"missing.lua"}),
                                                           route("s", {"a"}, {}, {"syntax.lua"})},
                                        MatchMode::kAll);
  PipelineOptions o;
  o.scriptFolders = {dir_.path()};
  Pipeline p(*table_, o);
  std::vector<std::string> errors;
  EXPECT_FALSE(p.load(errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0],
            "test.lua:1: route 'm': script 'missing.lua' not found in the script folders");
  EXPECT_EQ(errors[1].rfind("route 's': script load error: ", 0), 0u) << errors[1];
  EXPECT_NE(errors[1].find("syntax.lua:2:"), std::string::npos) << errors[1];
}

}  // namespace
}  // namespace sb::routes
