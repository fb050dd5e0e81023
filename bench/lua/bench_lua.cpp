// Lua cost per message: the standard ADT -> Patient mapping on ADT^A01, as the engine runs it
// (one LuaRuntime reused, message parsed once per call), alone and with schema validation.
#include <benchmark/benchmark.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "model/schema_registry.h"
#include "parsers/hl7v2/hl7v2.h"
#include "transforms/lua/runtime.h"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SB_SOURCE_DIR) + "/fixtures/hl7v2/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (auto& c : text) {
    if (c == '\n') c = '\r';
  }
  return text;
}

sb::transforms::LuaRuntime& runtime() {
  static sb::transforms::LuaRuntime lua(
      sb::transforms::LuaOptions{{std::string(SB_SOURCE_DIR) + "/scripts/lua"}, {}, {}, {}});
  return lua;
}

// A typical hospital ADT^A01 (MSH, EVN, PID with two identifiers, NK1, PV1): ~600 bytes.
const char* kTypicalAdt =
    "MSH|^~\\&|EPIC|NORTH|PMS|SB|20261122083000||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r"
    "EVN|A01|20261122083000\r"
    "PID|1||MRN12345^^^NORTH^MR~999-00-1234^^^USSSA^SS||DOE^JANE^Q^^MS||19800101|F|||"
    "12 MAIN ST^APT "
    "4^SPRINGFIELD^IL^62701^USA||(217)555-0100^PRN^PH~^NET^Internet^jane@example.org|"
    "(217)555-0199^WPN^PH||M||ACC778899|||N\r"
    "NK1|1|DOE^JOHN|SPO^Spouse|12 MAIN ST^^SPRINGFIELD^IL^62701|(217)555-0101\r"
    "PV1|1|I|WARD4^412^B^NORTH||||1234^SMITH^ALAN^^^DR|||MED||||1|||1234^SMITH^ALAN^^^DR|IN||"
    "SELF|||||||||||||||||||NORTH||ADM|||20261122082500\r";

// The same with every instruction counted from the start of the call (limits.countAfter = 0),
// as all calls were before the watchdog: what the counting hook costs.
sb::transforms::LuaRuntime& countedRuntime() {
  static sb::transforms::LuaRuntime lua([] {
    sb::transforms::LuaOptions o{{std::string(SB_SOURCE_DIR) + "/scripts/lua"}, {}, {}, {}};
    o.limits.countAfter = std::chrono::microseconds(0);
    return o;
  }());
  return lua;
}

void runMapping(benchmark::State& state, const std::string& raw,
                sb::transforms::LuaRuntime& lua = runtime()) {
  const auto fn =
      lua.loadFile(std::string(SB_SOURCE_DIR) + "/scripts/lua/mappings/adt.lua", "patient");
  if (!fn.ok()) {
    state.SkipWithError(fn.error->message.c_str());
    return;
  }
  for (auto _ : state) {
    auto parsed = sb::hl7::Message::parseOwned(raw);
    auto msg = std::make_shared<sb::hl7::Message>(std::move(*parsed.message));
    auto r = lua.call(fn.function, {msg});
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AdtToPatient(benchmark::State& state) {
  runMapping(state, kTypicalAdt);
}
BENCHMARK(BM_AdtToPatient)->Unit(benchmark::kMicrosecond);

void BM_AdtToPatientCountedFromStart(benchmark::State& state) {
  runMapping(state, kTypicalAdt, countedRuntime());
}
BENCHMARK(BM_AdtToPatientCountedFromStart)->Unit(benchmark::kMicrosecond);

// The FHIR-Converter ADT^A01 sample: 5 KB, 30 segments, every PID field filled.
void BM_AdtToPatientLargeSample(benchmark::State& state) {
  runMapping(state, fixture("ADT-A01-01.hl7"));
}
BENCHMARK(BM_AdtToPatientLargeSample)->Unit(benchmark::kMicrosecond);

void BM_AdtToPatientValidated(benchmark::State& state) {
  auto& lua = runtime();
  static const auto fn =
      lua.loadFile(std::string(SB_SOURCE_DIR) + "/scripts/lua/mappings/adt.lua", "patient");
  const auto& schemas = sb::model::SchemaRegistry::builtin();
  const std::string raw = kTypicalAdt;
  for (auto _ : state) {
    auto parsed = sb::hl7::Message::parseOwned(raw);
    auto msg = std::make_shared<sb::hl7::Message>(std::move(*parsed.message));
    auto r = lua.call(fn.function, {msg});
    const auto& json = std::get<sb::transforms::JsonText>(r.values.at(0)).text;
    auto v = schemas.validate(json);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdtToPatientValidated)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
