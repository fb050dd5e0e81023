#include "channels/common/placeholders.h"

namespace sb::channels {

std::string expandPlaceholders(
    std::string_view pattern,
    const std::function<std::optional<std::string>(std::string_view name)>& value) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] != '{') {
      out.push_back(pattern[i++]);
      continue;
    }
    const auto close = pattern.find('}', i);
    if (close == std::string_view::npos) {
      out.append(pattern.substr(i));
      break;
    }
    if (auto v = value(pattern.substr(i + 1, close - i - 1))) {
      out += *v;
    } else {
      out.append(pattern.substr(i, close - i + 1));
    }
    i = close + 1;
  }
  return out;
}

}  // namespace sb::channels
