// A config file turned into what the engine runs: settings, built listeners and senders, and the
// route table. Building validates everything (Envoy's "build once per config"); `switchboard
// check` builds a plan without binding sockets or opening the store.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "channels/common/connector.h"
#include "common/log.h"
#include "engine/config/lua_loader.h"
#include "engine/registry.h"
#include "routes/pipeline.h"
#include "routes/route_table.h"

namespace sb::engine {

struct RetryPolicy {
  int maxAttempts = 10;
  double initialBackoffSeconds = 1;
  double maxBackoffSeconds = 300;
  double multiplier = 2;
  double jitter = 0.2;  // +/- fraction, so many queues do not retry in lockstep
  // Delay before attempt `attempt + 1`, given `attempt` failed attempts so far (>= 1).
  std::int64_t backoffMillis(int attempt, double random01) const;
};

// The route_workers default: one per hardware thread, at most kMaxDefaultRouteWorkers, at least 1.
inline constexpr int kMaxDefaultRouteWorkers = 16;
int defaultRouteWorkers();

struct Settings {
  std::filesystem::path configFile;
  std::filesystem::path dataDir;
  store::Durability durability = store::Durability::kProcess;
  int retentionDays = 30;
  log::Level logLevel = log::Level::kInfo;
  routes::MatchMode routing = routes::MatchMode::kAll;
  int ioThreads = 2;
  // Threads running route filters and transforms, each with its own Lua state (the router
  // thread is the first of them).
  int routeWorkers = defaultRouteWorkers();
  // Where route filter and transform scripts (and their require()s) are looked up.
  std::vector<std::filesystem::path> scriptFolders;
};

struct SourcePlan {
  std::string name;
  std::string type;
  std::unique_ptr<channels::Source> source;  // null when only checking
};

struct DestinationPlan {
  std::string name;
  std::string type;
  RetryPolicy retry;
  std::unique_ptr<channels::Sender> sender;
};

struct Plan {
  Settings settings;
  std::vector<SourcePlan> sources;
  std::vector<DestinationPlan> destinations;
  routes::RouteTable routes;
  std::vector<std::string> warnings;
  config::LoadedFile file;
};

struct Overrides {
  std::optional<std::filesystem::path> dataDir;
  std::optional<log::Level> logLevel;
};

// Phase 1: load the file and read the `engine { }` settings (no side effects).
std::optional<Plan> loadPlan(const std::filesystem::path& file, const Overrides& overrides,
                             config::Errors& errors);
// Phase 2: build connectors and routes. With ctx.io/ctx.sink null, listeners are validated only.
bool buildPlan(Plan& plan, const Registry& registry, const channels::BuildContext& ctx,
               config::Errors& errors);

// The pipeline options a plan implies (script folders, schema validation of outputs).
routes::PipelineOptions pipelineOptions(const Plan& plan);

// The engine-level keys, for the docs.
std::span<const config::KeySpec> engineKeys();
std::span<const config::KeySpec> retryKeys();
std::span<const config::KeySpec> channelCommonKeys();
std::span<const config::KeySpec> destinationCommonKeys();

}  // namespace sb::engine
