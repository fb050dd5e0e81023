// Minimal leveled logger. PHI rule: at info and above, log identifiers that are not PHI
// (message ids, control ids, channel names, byte counts), never field contents. Field
// contents may appear only at debug.
#pragma once

#include <fmt/format.h>
#include <cstdio>
#include <string_view>

namespace sb::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

Level threshold();
void setThreshold(Level level);
// Parses "debug", "info", "warn", "error", "off"; returns false when unknown.
bool parseLevel(std::string_view text, Level& out);
void write(Level level, std::string_view component, std::string_view text);

template <typename... Args>
void at(Level level, std::string_view component, fmt::format_string<Args...> fmt, Args&&... args) {
  if (level < threshold()) return;
  write(level, component, fmt::format(fmt, std::forward<Args>(args)...));
}

}  // namespace sb::log
