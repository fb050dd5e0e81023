#include "engine/plan.h"

#include "model/schema_registry.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace sb::engine {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::int64_t kMaxRouteWorkers = 256;

constexpr std::array kEngineKeys = {
    KeySpec{"data_dir", ValueType::kString, false, "data",
            "where the store and file outputs live; relative to the working directory; "
            "`--data-dir` overrides it"},
    KeySpec{"durability", ValueType::kString, false, "process",
            "\"process\": an ACKed message survives kill -9; \"power\": it is fsync'ed before "
            "the ACK"},
    KeySpec{"retention_days", ValueType::kInteger, false, "30",
            "day partitions older than this are deleted whole (0 keeps everything)"},
    KeySpec{"log_level", ValueType::kString, false, "info",
            "debug, info, warn or error; only debug may show message contents"},
    KeySpec{"routing", ValueType::kString, false, "all",
            "\"all\": every matching route gets the message; \"first\": only the first"},
    KeySpec{"io_threads", ValueType::kInteger, false, "2", "threads serving network I/O"},
    // The default's text follows defaultRouteWorkers() (kMaxDefaultRouteWorkers).
    KeySpec{"route_workers", ValueType::kInteger, false, "the number of cores, at most 16",
            "threads running route filters and transforms, each with its own Lua state; "
            "destination queues keep the order messages were received in"},
    KeySpec{"script_folders", ValueType::kStringList, false, "the config file's folder",
            "folders (relative to the config file) holding route filter and transform scripts; "
            "require() resolves only inside them"},
};

constexpr std::array kRetryKeys = {
    KeySpec{"max_attempts", ValueType::kInteger, false, "10",
            "attempts before the message is dead-lettered"},
    KeySpec{"initial_backoff", ValueType::kNumber, false, "1", "seconds before the 2nd attempt"},
    KeySpec{"max_backoff", ValueType::kNumber, false, "300", "upper bound of the delay, seconds"},
    KeySpec{"multiplier", ValueType::kNumber, false, "2", "growth of the delay per attempt"},
    KeySpec{"jitter", ValueType::kNumber, false, "0.2",
            "random +/- fraction applied to each delay"},
};

constexpr std::array kChannelCommon = {
    KeySpec{"type", ValueType::kString, true, "", "listener type, e.g. \"mllp\""},
};

constexpr std::array kDestinationCommon = {
    KeySpec{"type", ValueType::kString, true, "", "sender type, e.g. \"file\" or \"mllp\""},
    KeySpec{"retry", ValueType::kTable, false, "see Retry", "backoff and attempt limits"},
};

std::vector<KeySpec> merged(std::span<const KeySpec> a, std::span<const KeySpec> b) {
  std::vector<KeySpec> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

RetryPolicy readRetry(const config::Reader& parent) {
  const config::Reader r = parent.child("retry", kRetryKeys);
  RetryPolicy p;
  p.maxAttempts = static_cast<int>(r.integer("max_attempts", p.maxAttempts, 1, 1000000));
  p.initialBackoffSeconds = r.number("initial_backoff", p.initialBackoffSeconds, 0, 86400);
  p.maxBackoffSeconds = r.number("max_backoff", p.maxBackoffSeconds, 0, 7 * 86400);
  p.multiplier = r.number("multiplier", p.multiplier, 1, 100);
  p.jitter = r.number("jitter", p.jitter, 0, 1);
  return p;
}

}  // namespace

int defaultRouteWorkers() {
  const unsigned cores = std::thread::hardware_concurrency();  // 0 when unknown
  return std::clamp(static_cast<int>(cores), 1, kMaxDefaultRouteWorkers);
}

std::span<const KeySpec> engineKeys() {
  return kEngineKeys;
}
std::span<const KeySpec> retryKeys() {
  return kRetryKeys;
}
std::span<const KeySpec> channelCommonKeys() {
  return kChannelCommon;
}
std::span<const KeySpec> destinationCommonKeys() {
  return kDestinationCommon;
}

std::int64_t RetryPolicy::backoffMillis(int attempt, double random01) const {
  const double base =
      std::min(maxBackoffSeconds, initialBackoffSeconds * std::pow(multiplier, attempt - 1));
  const double factor = 1.0 + jitter * (2.0 * random01 - 1.0);
  return static_cast<std::int64_t>(std::max(0.0, base * factor) * 1000.0);
}

std::optional<Plan> loadPlan(const std::filesystem::path& file, const Overrides& overrides,
                             config::Errors& errors) {
  Plan plan;
  plan.file = config::loadFile(file, errors);
  if (!errors.empty()) return std::nullopt;
  plan.settings.configFile = std::filesystem::absolute(file);
  std::string dataDir = "data";
  int engineSections = 0;
  for (const auto& section : plan.file.sections) {
    if (section.kind != "engine") continue;
    if (++engineSections > 1) {
      errors.add(fmt::format("{}: engine {{ }} declared more than once", section.where()));
      continue;
    }
    const config::Reader r(section, kEngineKeys, errors);
    dataDir = r.string("data_dir", dataDir);
    const std::string durability = r.string("durability", "process");
    if (durability == "power") {
      plan.settings.durability = store::Durability::kPower;
    } else if (durability != "process") {
      r.fail("durability", "must be \"process\" or \"power\"");
    }
    plan.settings.retentionDays = static_cast<int>(r.integer("retention_days", 30, 0, 36500));
    const std::string level = r.string("log_level", "info");
    if (!log::parseLevel(level, plan.settings.logLevel)) {
      r.fail("log_level", "must be debug, info, warn, error or off");
    }
    const std::string routing = r.string("routing", "all");
    if (routing == "first") {
      plan.settings.routing = routes::MatchMode::kFirst;
    } else if (routing != "all") {
      r.fail("routing", "must be \"all\" or \"first\"");
    }
    plan.settings.ioThreads = static_cast<int>(r.integer("io_threads", 2, 1, 64));
    plan.settings.routeWorkers = static_cast<int>(
        r.integer("route_workers", plan.settings.routeWorkers, 1, kMaxRouteWorkers));
    for (const auto& folder : r.strings("script_folders")) {
      const auto path = channels::resolvePath(plan.settings.configFile.parent_path(), folder);
      if (!std::filesystem::is_directory(path)) {
        r.fail("script_folders", "not a folder: " + path.string());
      }
      plan.settings.scriptFolders.push_back(path.lexically_normal());
    }
  }
  if (plan.settings.scriptFolders.empty()) {
    plan.settings.scriptFolders.push_back(plan.settings.configFile.parent_path());
  }
  plan.settings.dataDir = overrides.dataDir ? *overrides.dataDir : std::filesystem::path(dataDir);
  if (overrides.logLevel) plan.settings.logLevel = *overrides.logLevel;
  if (!errors.empty()) return std::nullopt;
  return plan;
}

bool buildPlan(Plan& plan, const Registry& registry, const channels::BuildContext& ctx,
               config::Errors& errors) {
  std::set<std::string> channelNames, destinationNames, routeNames;
  std::vector<routes::Route> routeList;
  for (const auto& section : plan.file.sections) {
    if (section.kind == "engine") continue;
    const config::Node* typeNode = section.body.find("type");
    const std::string type =
        typeNode && typeNode->kind == config::Node::Kind::kString ? typeNode->text : "";
    if (section.kind == "channel") {
      if (!channelNames.insert(section.name).second) {
        errors.add(fmt::format("{}: channel declared twice", section.where()));
        continue;
      }
      const auto* factory = registry.source(type);
      if (!factory) {
        errors.add(fmt::format("{}: unknown channel type '{}'", section.where(), type));
        continue;
      }
      const auto keys = merged(kChannelCommon, factory->keys);
      const config::Reader r(section, keys, errors);
      auto source = factory->create(r, ctx);
      plan.sources.push_back({section.name, type, std::move(source)});
    } else if (section.kind == "destination") {
      if (!destinationNames.insert(section.name).second) {
        errors.add(fmt::format("{}: destination declared twice", section.where()));
        continue;
      }
      const auto* factory = registry.sender(type);
      if (!factory) {
        errors.add(fmt::format("{}: unknown destination type '{}'", section.where(), type));
        continue;
      }
      const auto keys = merged(kDestinationCommon, factory->keys);
      const config::Reader r(section, keys, errors);
      DestinationPlan d{section.name, type, readRetry(r), factory->create(r, ctx)};
      plan.destinations.push_back(std::move(d));
    } else if (section.kind == "route") {
      if (!routeNames.insert(section.name).second) {
        errors.add(fmt::format("{}: route declared twice", section.where()));
        continue;
      }
      routeList.push_back(routes::readRoute(section, errors));
    }
  }
  // Cross references, reported at the route's line.
  std::set<std::string> usedChannels, usedDestinations;
  for (const auto& route : routeList) {
    for (const auto& c : route.sources) {
      usedChannels.insert(c);
      if (!channelNames.count(c)) {
        errors.add(fmt::format("{}: route '{}': unknown channel '{}' in 'from'", route.where,
                               route.name, c));
      }
    }
    for (const auto& d : route.destinations) {
      usedDestinations.insert(d);
      if (!destinationNames.count(d)) {
        errors.add(fmt::format("{}: route '{}': unknown destination '{}' in 'to'", route.where,
                               route.name, d));
      }
    }
  }
  for (const auto& section : plan.file.sections) {
    if (section.kind == "channel" && !usedChannels.count(section.name)) {
      plan.warnings.push_back(fmt::format(
          "{}: no route takes messages from this channel; they will be stored as filtered",
          section.where()));
    }
    if (section.kind == "destination" && !usedDestinations.count(section.name)) {
      plan.warnings.push_back(
          fmt::format("{}: no route sends to this destination", section.where()));
    }
  }
  plan.routes = routes::RouteTable(std::move(routeList), plan.settings.routing);
  // Scripts are compiled now, so a broken script stops the config from loading (file:line).
  if (errors.empty()) {
    routes::Pipeline pipeline(plan.routes, pipelineOptions(plan));
    std::vector<std::string> scriptErrors;
    if (!pipeline.load(scriptErrors)) {
      for (auto& e : scriptErrors) errors.add(std::move(e));
    }
  }
  return errors.empty();
}

routes::PipelineOptions pipelineOptions(const Plan& plan) {
  routes::PipelineOptions o;
  o.scriptFolders = plan.settings.scriptFolders;
  // Every canonical output is checked against its schema before it is queued.
  o.schemaCheck = [](std::string_view json) -> std::optional<std::string> {
    const auto r = model::SchemaRegistry::builtin().validate(json);
    if (r.ok) return std::nullopt;
    return fmt::format("{} ({})", r.message, r.keyword);
  };
  return o;
}

}  // namespace sb::engine
