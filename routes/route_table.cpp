#include "routes/route_table.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace sb::routes {
namespace {

bool anyOf(const std::vector<std::string>& allowed, const std::string& value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

// Reasons name the field and the value the message had: codes, not PHI.
std::string mismatch(std::string_view field, const std::string& value,
                     const std::vector<std::string>& allowed) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ",") + a;
  return fmt::format("{} '{}' not in [{}]", field, value, list);
}

constexpr std::array kFilterKeys = {
    config::KeySpec{"message_type", config::ValueType::kStringList, false, "any",
                    "MSH-9.1 values to accept, e.g. {\"ADT\", \"ORU\"}"},
    config::KeySpec{"trigger_event", config::ValueType::kStringList, false, "any",
                    "MSH-9.2 values to accept, e.g. {\"A01\", \"A04\"}"},
    config::KeySpec{"sending_facility", config::ValueType::kStringList, false, "any",
                    "MSH-4.1 values to accept"},
    config::KeySpec{"sending_application", config::ValueType::kStringList, false, "any",
                    "MSH-3.1 values to accept"},
};

constexpr std::array kRouteKeys = {
    config::KeySpec{"from", config::ValueType::kStringList, true, "",
                    "channel name(s) whose messages this route considers"},
    config::KeySpec{"filter", config::ValueType::kStringOrTable, false, "accept all",
                    "a table of conditions (all must hold), or a Lua script returning "
                    "function(msg) -> accepted, reason"},
    config::KeySpec{"transform", config::ValueType::kStringList, false, "none",
                    "Lua script(s) returning function(input) -> output, applied in order; "
                    "without one the raw message is delivered"},
    config::KeySpec{"to", config::ValueType::kStringList, true, "",
                    "destination name(s) that receive the message"},
};

}  // namespace

std::span<const config::KeySpec> routeKeys() {
  return kRouteKeys;
}
std::span<const config::KeySpec> filterKeys() {
  return kFilterKeys;
}

RouteTable::RouteTable(std::vector<Route> routes, MatchMode mode)
    : routes_(std::move(routes)), mode_(mode) {}

bool takesFrom(const Route& route, const std::string& channel) {
  return std::find(route.sources.begin(), route.sources.end(), channel) != route.sources.end();
}

std::optional<std::string> staticMismatch(const Route& route,
                                          const store::MessageSummary& message) {
  const Filter& f = route.filter;
  if (!anyOf(f.messageTypes, message.messageType)) {
    return mismatch("message type", message.messageType, f.messageTypes);
  }
  if (!anyOf(f.triggerEvents, message.triggerEvent)) {
    return mismatch("trigger event", message.triggerEvent, f.triggerEvents);
  }
  if (!anyOf(f.sendingFacilities, message.sendingFacility)) {
    return mismatch("sending facility", message.sendingFacility, f.sendingFacilities);
  }
  if (!anyOf(f.sendingApplications, message.sendingApplication)) {
    return mismatch("sending application", message.sendingApplication, f.sendingApplications);
  }
  return std::nullopt;
}

RoutingResult RouteTable::decide(const store::MessageSummary& message) const {
  RoutingResult result;
  bool taken = false;
  for (const auto& route : routes_) {
    if (!takesFrom(route, message.channel)) continue;  // not this channel's: nothing to record
    store::RouteDecision decision{route.name, false, {}};
    if (taken && mode_ == MatchMode::kFirst) {
      decision.reason = "an earlier route took the message (first-match)";
    } else if (auto why = staticMismatch(route, message)) {
      decision.reason = std::move(*why);
    } else {
      decision.matched = true;
      decision.reason = "filter passed";
      taken = true;
      for (const auto& d : route.destinations) {
        if (std::find(result.destinations.begin(), result.destinations.end(), d) ==
            result.destinations.end()) {
          result.destinations.push_back(d);
        }
      }
    }
    result.decisions.push_back(std::move(decision));
  }
  return result;
}

Route readRoute(const config::Section& section, config::Errors& errors) {
  const config::Reader r(section, kRouteKeys, errors);
  Route route;
  route.name = section.name;
  route.where = fmt::format("{}:{}", section.file, section.line);
  route.sources = r.strings("from");
  route.destinations = r.strings("to");
  const config::Node* filter = r.node("filter");
  if (filter && filter->kind == config::Node::Kind::kString) {
    route.filterScript = filter->text;
  } else {
    const config::Reader f = r.child("filter", kFilterKeys);
    route.filter.messageTypes = f.strings("message_type");
    route.filter.triggerEvents = f.strings("trigger_event");
    route.filter.sendingFacilities = f.strings("sending_facility");
    route.filter.sendingApplications = f.strings("sending_application");
  }
  route.transformScripts = r.strings("transform");
  if (r.has("from") && route.sources.empty()) r.fail("from", "names no channel");
  if (r.has("to") && route.destinations.empty()) r.fail("to", "names no destination");
  return route;
}

}  // namespace sb::routes
