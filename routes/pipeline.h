// What happens to one message between the store and the destination queues: routes are matched
// (static filters, then Lua filter scripts), Lua transforms turn the message into outbound
// payloads (canonical JSON, HL7, anything), outputs are validated against the canonical model,
// and the result is a set of queue entries. Scripts return intents; the engine does the I/O.
//
// One Pipeline per worker thread: it owns its Lua state.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routes/route_table.h"
#include "store/message_store.h"
#include "transforms/lua/runtime.h"

namespace sb::routes {

// Validates a JSON document that carries "resourceType"; returns the error ("/birthDate: does
// not match ...") or nullopt when valid.
using SchemaCheck = std::function<std::optional<std::string>(std::string_view json)>;

struct PipelineOptions {
  std::vector<std::filesystem::path> scriptFolders;
  transforms::LuaLimits limits;
  SchemaCheck schemaCheck;  // null: outputs are not validated
  // X12 control numbers for x12.build/x12.ack (the engine: the store); empty: counters from 1.
  transforms::ControlNumberSource controlNumbers;
  // Route tests: scripts see this Unix time as "now" (see LuaOptions::fixedTime).
  std::optional<std::int64_t> fixedTime;
};

// One step of a message's way, for `switchboard try` and the message history.
struct TraceStep {
  std::string route;
  std::string step;    // "filter", "transform", "validate", "deliver-to"
  std::string detail;  // the filter reason, a transform's output, a schema error
};

struct PipelineResult {
  store::MessageStatus status = store::MessageStatus::kRouted;  // kRouted, kFiltered, kError
  std::vector<store::RouteDecision> decisions;
  std::vector<store::Enqueue> enqueue;
  std::string error;  // for kError: "adt.lua:12: ..." or "schema Patient /birthDate: ..."
  std::vector<store::StepOutput> steps;  // each transform's output, for the message's history
  std::vector<TraceStep> trace;          // filled when asked
};

class Pipeline {
 public:
  Pipeline(const RouteTable& table, PipelineOptions options);
  ~Pipeline();
  // Compiles every filter and transform script once. Errors read
  // "route 'x': script load error: file:line: message".
  bool load(std::vector<std::string>& errors);
  PipelineResult run(const store::MessageSummary& summary, const std::string& raw,
                     bool trace = false);

 private:
  struct Compiled;
  const RouteTable& table_;
  PipelineOptions options_;
  std::unique_ptr<transforms::LuaRuntime> lua_;
  std::vector<Compiled> compiled_;  // parallel to table_.routes()
};

}  // namespace sb::routes
