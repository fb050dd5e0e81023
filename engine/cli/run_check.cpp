// `switchboard run` and `switchboard check`.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "common/log.h"
#include "engine/cli/cli.h"
#include "engine/engine.h"

namespace sb::cli {

int run(const Args& args) {
  ArgReader a(args);
  std::string configFile, dataDir, logLevel;
  while (!a.done()) {
    if (a.option("--data-dir", dataDir) || a.option("--log-level", logLevel)) continue;
    if (!a.peek().empty() && a.peek()[0] == '-') {
      std::cerr << "run: unknown option " << a.peek() << "\n";
      return 2;
    }
    if (!configFile.empty()) {
      std::cerr << "run: one config file only\n";
      return 2;
    }
    configFile = a.args[a.i++];
  }
  if (configFile.empty()) {
    std::cerr << "usage: switchboard run CONFIG [--data-dir DIR] [--log-level LEVEL]\n";
    return 2;
  }
  engine::Overrides overrides;
  if (!dataDir.empty()) overrides.dataDir = dataDir;
  if (!logLevel.empty()) {
    log::Level level;
    if (!log::parseLevel(logLevel, level)) {
      std::cerr << "run: unknown log level " << logLevel << "\n";
      return 2;
    }
    overrides.logLevel = level;
  }
  // Block the stop and reload signals before any thread starts so only sigwait below gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    engine::Engine engine(configFile, overrides);
    engine.start();
    int received = 0;
    // SIGHUP reloads routes and scripts from the config file; the others stop the engine.
    while (sigwait(&signals, &received) == 0 && received == SIGHUP) {
      log::at(log::Level::kInfo, "engine", "SIGHUP: reloading routes");
      engine.reloadRoutes();
    }
    log::at(log::Level::kInfo, "engine", "signal {} received, stopping", received);
    engine.stop();
  } catch (const std::exception& e) {
    std::cerr << e.what();
    if (std::string_view(e.what()).empty() || std::string_view(e.what()).back() != '\n') {
      std::cerr << "\n";
    }
    return 1;
  }
  return 0;
}

int check(const Args& args) {
  if (args.size() != 1) {
    std::cerr << "usage: switchboard check CONFIG\n";
    return 2;
  }
  config::Errors errors;
  auto plan = engine::loadPlan(args[0], {}, errors);
  if (plan) {
    engine::Registry registry;
    engine::registerAll(registry);
    channels::BuildContext ctx;
    ctx.configDir = plan->settings.configFile.parent_path();
    ctx.dataDir = plan->settings.dataDir;
    engine::buildPlan(*plan, registry, ctx, errors);
  }
  if (!errors.empty()) {
    std::cerr << errors.joined();
    return 1;
  }
  for (const auto& w : plan->warnings) std::cerr << "warning: " << w << "\n";
  std::cout << args[0] << ": OK (" << plan->sources.size() << " channel(s), "
            << plan->destinations.size() << " destination(s), " << plan->routes.routes().size()
            << " route(s))\n";
  return 0;
}

}  // namespace sb::cli
