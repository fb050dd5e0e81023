#include "common/log.h"

#include <atomic>
#include <chrono>
#include <mutex>

namespace sb::log {
namespace {
std::atomic<Level> gThreshold{Level::kInfo};
std::mutex gWriteMutex;
constexpr std::string_view kNames[] = {"debug", "info", "warn", "error", "off"};
}  // namespace

Level threshold() {
  return gThreshold.load(std::memory_order_relaxed);
}
void setThreshold(Level level) {
  gThreshold.store(level, std::memory_order_relaxed);
}

bool parseLevel(std::string_view text, Level& out) {
  for (int i = 0; i < 5; ++i) {
    if (text == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

void write(Level level, std::string_view component, std::string_view text) {
  if (level < threshold()) return;
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::lock_guard lock(gWriteMutex);
  std::fprintf(stderr, "%s.%03dZ %-5s [%.*s] %.*s\n", stamp, static_cast<int>(ms % 1000),
               kNames[static_cast<int>(level)].data(), static_cast<int>(component.size()),
               component.data(), static_cast<int>(text.size()), text.data());
}

}  // namespace sb::log
