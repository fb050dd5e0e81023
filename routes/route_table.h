// The route table: which routes take a message from a channel, and where they send it.
// Pure: no I/O, no store. The routing worker (engine/) records every decision.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/config/config_node.h"
#include "store/message_store.h"

namespace sb::routes {

struct Filter {
  // Empty list = any. Matching is exact and case-sensitive, as HL7 codes are.
  std::vector<std::string> messageTypes;         // MSH-9.1, e.g. "ADT"
  std::vector<std::string> triggerEvents;        // MSH-9.2, e.g. "A01"
  std::vector<std::string> sendingFacilities;    // MSH-4.1
  std::vector<std::string> sendingApplications;  // MSH-3.1
};

struct Route {
  std::string name;
  std::string where;                 // "file:line" of its declaration
  std::vector<std::string> sources;  // channel names
  Filter filter;
  // Lua scripts (names inside the script folders): a filter returning (bool, reason) and
  // transforms applied in order, each receiving the previous one's output.
  std::string filterScript;
  std::vector<std::string> transformScripts;
  std::vector<std::string> destinations;
};

// Why the route's static filter refuses the message, or nullopt when it accepts it.
std::optional<std::string> staticMismatch(const Route& route, const store::MessageSummary& message);
bool takesFrom(const Route& route, const std::string& channel);

enum class MatchMode { kAll, kFirst };

struct RoutingResult {
  std::vector<store::RouteDecision> decisions;
  std::vector<std::string> destinations;  // each once, in route order
};

class RouteTable {
 public:
  RouteTable() = default;
  RouteTable(std::vector<Route> routes, MatchMode mode);

  // Decides for one message; a route that does not take the message says why.
  RoutingResult decide(const store::MessageSummary& message) const;
  const std::vector<Route>& routes() const { return routes_; }
  MatchMode mode() const { return mode_; }

 private:
  std::vector<Route> routes_;
  MatchMode mode_ = MatchMode::kAll;
};

// Config: `route "name" { from = ..., filter = {...}, to = ... }`.
std::span<const config::KeySpec> routeKeys();
std::span<const config::KeySpec> filterKeys();
Route readRoute(const config::Section& section, config::Errors& errors);

}  // namespace sb::routes
