#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "tests/unit/transforms/lua_test_util.h"
#include "transforms/lua/helpers.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

TEST(LuaRuntime, PassesAndReturnsValues) {
  LuaRuntime rt(defaultOptions());
  const auto r =
      eval(rt, "local a, b, c, d, e = ... return a + 1, b * 2, c .. '!', not d, e",
           {Value{std::int64_t{41}}, Value{1.25}, Value{std::string("hi")}, Value{false}, Value{}});
  ASSERT_TRUE(r.ok()) << errorOf(r);
  ASSERT_EQ(r.values.size(), 5u);
  EXPECT_EQ(std::get<std::int64_t>(r.values[0]), 42);
  EXPECT_EQ(std::get<double>(r.values[1]), 2.5);
  EXPECT_EQ(std::get<std::string>(r.values[2]), "hi!");
  EXPECT_EQ(std::get<bool>(r.values[3]), true);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[4]));
}

TEST(LuaRuntime, TablesComeBackAsJsonAndJsonGoesInAsTables) {
  LuaRuntime rt(defaultOptions());
  const auto r = eval(rt, "local doc = ... doc.n = doc.n + 1 return doc",
                      {Value{JsonText{R"({"n":1,"list":[]})"}}});
  EXPECT_EQ(text(r), R"(json:{"list":[],"n":2})");
}

TEST(LuaRuntime, FunctionsCannotBeReturned) {
  LuaRuntime rt(defaultOptions());
  EXPECT_EQ(errorOf(eval(rt, "return print")), "cannot return a function value to the engine");
  EXPECT_EQ(errorOf(eval(rt, "return {f = print}")), "cannot encode a function value");
}

TEST(LuaRuntime, LoadsOnceAndCallsMany) {
  LuaRuntime rt(defaultOptions());
  const auto loaded =
      rt.loadString("count.lua", "local n = 0\nreturn function() n = n + 1 return n end");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(integer(rt.call(loaded.function)), 1);
  EXPECT_EQ(integer(rt.call(loaded.function)), 2);
  EXPECT_EQ(integer(rt.call(loaded.function)), 3);
}

TEST(LuaRuntime, ReleasedFunctionsCannotBeCalled) {
  LuaRuntime rt(defaultOptions());
  auto loaded = rt.loadString("r.lua", "return function() return 1 end");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(integer(rt.call(loaded.function)), 1);
  rt.release(loaded.function);
  EXPECT_FALSE(loaded.function.valid());
  EXPECT_EQ(errorOf(rt.call(loaded.function)), "call of an invalid function reference");
}

TEST(LuaRuntime, EntryFromReturnedTableOrGlobal) {
  LuaRuntime rt(defaultOptions());
  const auto fromTable =
      rt.loadString("t.lua", "return { filter = function() return 'table' end }", "filter");
  ASSERT_TRUE(fromTable.ok());
  EXPECT_EQ(text(rt.call(fromTable.function)), "table");
  const auto fromGlobal =
      rt.loadString("g.lua", "function transform() return 'global' end", "transform");
  ASSERT_TRUE(fromGlobal.ok());
  EXPECT_EQ(text(rt.call(fromGlobal.function)), "global");
  const auto missing = rt.loadString("m.lua", "return {}", "transform");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error->message,
            "script load error: m.lua: the script defines no function 'transform'");
  EXPECT_EQ(missing.error->file, "m.lua");
}

TEST(LuaRuntime, SyntaxErrorIsALoadErrorWithFileAndLine) {
  LuaRuntime rt(defaultOptions());
  const auto r = rt.loadString("adt.lua", "return function(msg)\n  local x = = 1\nend");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "script load error: adt.lua:2: unexpected symbol near '='");
  EXPECT_EQ(r.error->file, "adt.lua");
  EXPECT_EQ(r.error->line, 2);
}

TEST(LuaRuntime, ScriptMustReturnAFunction) {
  LuaRuntime rt(defaultOptions());
  const auto r = rt.loadString("adt.lua", "local x = 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message,
            "script load error: adt.lua: the script must return a function (it returned nil)");
}

TEST(LuaRuntime, TopLevelRuntimeErrorIsALoadError) {
  LuaRuntime rt(defaultOptions());
  const auto r = rt.loadString("top.lua", "local t = nil\nlocal y = t.x\nreturn function() end");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message,
            "script load error: top.lua:2: attempt to index a nil value (local 't')");
  EXPECT_EQ(r.error->line, 2);
}

TEST(LuaRuntime, LoadFileNamesChunksRelativeToTheScriptFolder) {
  sb::test::TempDir dir;
  sb::test::writeFile(dir.path() / "maps" / "adt.lua",
                      "return function(msg)\n  local pid = nil\n  return pid.x\nend\n");
  LuaOptions options = defaultOptions();
  options.scriptFolders.push_back(dir.path());
  LuaRuntime rt(options);
  const auto loaded = rt.loadFile(dir.path() / "maps" / "adt.lua");
  ASSERT_TRUE(loaded.ok()) << loaded.error->message;
  const auto r = rt.call(loaded.function);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "maps/adt.lua:3: attempt to index a nil value (local 'pid')");
  EXPECT_EQ(r.error->file, "maps/adt.lua");
  EXPECT_EQ(r.error->line, 3);

  const auto missing = rt.loadFile(dir.path() / "nope.lua");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error->message,
            "script load error: nope.lua: cannot open (No such file or directory)");
}

TEST(LuaRuntime, RuntimeErrorsCarryFileAndLineAndTheStateServesOn) {
  LuaRuntime rt(defaultOptions());
  const auto loaded =
      rt.loadString("adt.lua",
                    "return function(msg)\n  if msg == 'boom' then\n    error('boom')\n  end\n"
                    "  if msg == 'table' then error({}) end\n  return msg.x\nend");
  ASSERT_TRUE(loaded.ok());
  auto r = rt.call(loaded.function, {Value{}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "adt.lua:6: attempt to index a nil value (local 'msg')");
  EXPECT_EQ(r.error->line, 6);
  r = rt.call(loaded.function, {Value{std::string("boom")}});
  EXPECT_EQ(r.error->message, "adt.lua:3: boom");
  EXPECT_EQ(r.error->line, 3);
  r = rt.call(loaded.function, {Value{std::string("table")}});
  EXPECT_EQ(r.error->message, "adt.lua:5: (error object is a table value)");
  EXPECT_EQ(r.error->file, "adt.lua");
  EXPECT_EQ(r.error->line, 5);
  EXPECT_EQ(text(rt.call(loaded.function, {Value{JsonText{R"({"x":"ok"})"}}})), "ok");
}

TEST(LuaRuntime, InstructionLimitPerCallAndResetBetweenCalls) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 100'000;
  LuaRuntime rt(options);
  const auto loop = rt.loadString("loop.lua", "return function()\n  while true do end\nend");
  ASSERT_TRUE(loop.ok());
  auto r = rt.call(loop.function);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "loop.lua:2: instruction limit exceeded (100000 per call)");
  EXPECT_EQ(r.error->line, 2);
  // About 60% of the budget per call: fine every time because the budget restarts.
  const auto work = rt.loadString("work.lua",
                                  "return function() local s = 0 for i = 1, 20000 do s = s + i end "
                                  "return s end");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(integer(rt.call(work.function)), 200010000);
}

TEST(LuaRuntime, SmallInstructionBudget) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 50;
  options.limits.countAfter = std::chrono::microseconds(0);  // count from the first instruction
  LuaRuntime rt(options);
  EXPECT_EQ(integer(eval(rt, "return 1")), 1);
  EXPECT_EQ(errorOf(eval(rt, "for i = 1, 100 do end")),
            "test.lua:1: instruction limit exceeded (50 per call)");
}

TEST(LuaRuntime, PcallInsideTheScriptCannotSwallowTheInstructionLimit) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 100'000;
  LuaRuntime rt(options);
  const auto r = eval(rt, "while true do pcall(function() while true do end end) end");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "test.lua:1: instruction limit exceeded (100000 per call)");
  EXPECT_EQ(integer(eval(rt, "return 7")), 7);
}

// With the default delay a call runs uncounted at first; one that goes on is interrupted by the
// watchdog and then limited as usual, however it loops.
TEST(LuaRuntime, LongCallsAreCountedOnceTheyPassTheDelay) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 100'000;
  ASSERT_GT(options.limits.countAfter.count(), 0);
  LuaRuntime rt(options);
  for (const char* body :
       {"while true do end", "while true do pcall(function() while true do end end) end",
        "local t = {} while true do t[#t % 100 + 1] = {} end"}) {
    EXPECT_EQ(errorOf(eval(rt, body)), "test.lua:1: instruction limit exceeded (100000 per call)")
        << body;
    EXPECT_EQ(integer(eval(rt, "return 7")), 7);  // the state keeps serving
  }
}

// A call that ends within the delay is never counted: 100 loop turns pass a budget of 50.
TEST(LuaRuntime, ShortCallsRunUncounted) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 50;
  options.limits.countAfter = std::chrono::seconds(30);
  LuaRuntime rt(options);
  EXPECT_EQ(integer(eval(rt, "local n = 0 for i = 1, 100 do n = n + 1 end return n")), 100);
}

// Deep recursion with the default delay: stopped either by the depth check once the call is
// counted, or (if the watchdog was late) by Lua's own stack limit; either way a script error.
TEST(LuaRuntime, DeepRecursionStoppedWithTheDefaultDelay) {
  LuaRuntime rt(defaultOptions());
  const std::string error = errorOf(eval(rt, "local function f() return f() + 1 end return f()"));
  EXPECT_TRUE(error == "test.lua:1: stack overflow (more than 1000 nested calls)" ||
              error == "test.lua:1: stack overflow")
      << error;
  EXPECT_EQ(integer(eval(rt, "return 7")), 7);
}

// Runtimes on several threads, runaway at the same time: the one watchdog stops each of them,
// and a runtime used from one thread and then another is watched on the thread of each call.
TEST(LuaRuntime, WatchdogStopsRunawayCallsOnSeveralThreads) {
  LuaOptions options = defaultOptions();
  options.limits.instructionsPerCall = 200'000;
  std::vector<std::unique_ptr<LuaRuntime>> runtimes;
  for (int i = 0; i < 4; ++i) runtimes.push_back(std::make_unique<LuaRuntime>(options));
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> errors(runtimes.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < runtimes.size(); ++i) {
      threads.emplace_back(
          [&, i] { errors[i] = errorOf(eval(*runtimes[i], "while true do end")); });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      EXPECT_EQ(e, "test.lua:1: instruction limit exceeded (200000 per call)");
    }
  }
}

// Runtimes come and go on other threads (the watchdog thread stops with the last one and a new
// one starts with the next) while a runaway call is being watched: it is still stopped.
TEST(LuaRuntime, WatchdogSurvivesRuntimesComingAndGoing) {
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> done{false};
    std::thread churn([&] {
      while (!done.load()) {
        LuaRuntime shortLived(defaultOptions());
        EXPECT_EQ(integer(eval(shortLived, "return 1")), 1);
      }
    });
    {
      LuaOptions options = defaultOptions();
      options.limits.instructionsPerCall = 100'000;
      LuaRuntime rt(options);
      EXPECT_EQ(errorOf(eval(rt, "while true do end")),
                "test.lua:1: instruction limit exceeded (100000 per call)");
    }
    done.store(true);
    churn.join();
  }
}

TEST(LuaRuntime, MemoryLimitFailsTheCallNotTheState) {
  LuaOptions options = defaultOptions();
  options.limits.memoryBytes = 8u * 1024 * 1024;
  LuaRuntime rt(options);
  const auto r = eval(rt, "local t = {} for i = 1, 1e7 do t[i] = i end return #t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "not enough memory (script memory limit of 8388608 bytes)");
  EXPECT_LT(rt.memoryUsed(), 2u * 1024 * 1024);
  EXPECT_EQ(integer(eval(rt, "local t = {} for i = 1, 1000 do t[i] = i end return #t")), 1000);
}

TEST(LuaRuntime, DeepRecursionIsAScriptError) {
  LuaOptions options = defaultOptions();
  // Depth is checked by the counting hook: from the first instruction, so the limit is exact.
  options.limits.countAfter = std::chrono::microseconds(0);
  LuaRuntime rt(options);
  const auto rec =
      rt.loadString("rec.lua", "local function f(n)\n  return f(n + 1) + 1\nend\nreturn f");
  ASSERT_TRUE(rec.ok());
  auto r = rt.call(rec.function, {Value{std::int64_t{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "rec.lua:2: stack overflow (more than 1000 nested calls)");
  // Recursion through C (metamethods) hits Lua's own C-stack limit.
  r = eval(rt, "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message, "test.lua:1: C stack overflow");
  EXPECT_EQ(integer(eval(rt,
                         "local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) "
                         "end return f(500)")),
            500);
}

// ADT^A01 -> FHIR Patient, the kind of mapping the engine runs per message. Prints the time per
// call; the budget (20 µs) is checked by the benchmark, not here.
constexpr const char* kPatientMapping = R"(
local time = require("sb.time")
local str = require("sb.str")
local genders = { M = "male", F = "female", O = "other", U = "unknown" }
return function(msg)
  local pid = msg.PID
  local patient = { resourceType = "Patient", identifier = json.array() }
  local id = pid[3]:rep(1)[1]:value()
  patient.id = uuid.v5("url", "urn:sb:patient:" .. id)
  for i = 1, pid[3]:repCount() do
    local rep = pid[3]:rep(i)
    patient.identifier[i] = { value = rep[1]:value(), system = rep[4][1]:value(), type = rep[5]:value() }
  end
  patient.name = { { family = pid[5][1][1]:value(), given = { pid[5][2]:value() } } }
  patient.gender = genders[pid[8]:value()] or "unknown"
  patient.birthDate = time.toIso(pid[7]:value():sub(1, 8))
  local a = pid[11]
  patient.address = { {
    line = { a[1][1]:value() .. " " .. a[1][2]:value(), a[2]:value() },
    city = str.trim(a[3]:value()), state = a[4]:value(), postalCode = a[5]:value(),
    country = a[6]:value() } }
  return patient
end
)";

TEST(LuaRuntime, AdtToPatientMappingAndTimePerCall) {
  LuaRuntime rt(defaultOptions());
  const auto loaded = rt.loadString("adt_patient.lua", kPatientMapping);
  ASSERT_TRUE(loaded.ok()) << loaded.error->message;
  auto parsed =
      hl7::Message::parseOwned(sb::test::readFile(sb::test::fixturePath("hl7v2/ADT-A01-01.hl7")));
  ASSERT_TRUE(parsed.ok());
  auto message = std::make_shared<hl7::Message>(std::move(*parsed.message));
  const auto r = rt.call(loaded.function, {Value{message}});
  const std::string id =
      *uuidV5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "urn:sb:patient:PATID1234");
  EXPECT_EQ(text(r),
            "json:{\"address\":[{\"city\":\"Ann Arbor\",\"country\":\"USA\",\"line\":[\"1000 "
            "Hospital Lane\",\"Ste. 123\"],\"postalCode\":\"99999\",\"state\":\"MI\"}],"
            "\"birthDate\":\"1988-08-18\",\"gender\":\"male\",\"id\":\"" +
                id +
                "\",\"identifier\":[{\"system\":\"test1\",\"type\":\"MR\",\"value\":\"PATID1234\"},"
                "{\"system\":\"USSSA\",\"type\":\"SS\",\"value\":\"123456789\"}],\"name\":[{"
                "\"family\":\"EVERYMAN\",\"given\":[\"ADAM\"]}],\"resourceType\":\"Patient\"}");

  // Thread CPU time as well as wall time: on a shared machine the wall time includes waiting.
  const auto cpuNow = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  constexpr int kCalls = 20000;
  const std::vector<Value> args{Value{message}};
  const auto start = std::chrono::steady_clock::now();
  const double cpuStart = cpuNow();
  for (int i = 0; i < kCalls; ++i) {
    const auto one = rt.call(loaded.function, args);
    if (!one.ok()) FAIL() << one.error->message;
  }
  const double cpuUs = (cpuNow() - cpuStart) / kCalls;
  const double wallUs =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kCalls;
  std::printf(
      "[ timing   ] ADT^A01 -> Patient mapping: %.2f us CPU, %.2f us wall per call "
      "(%d calls, %zu KiB in the state)\n",
      cpuUs, wallUs, kCalls, rt.memoryUsed() / 1024);
}

}  // namespace
}  // namespace sb::transforms
