// "{name}" placeholders in templates that senders expand per queue item (file names, URLs).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sb::channels {

// Replaces each "{name}" by value(name); a name value() does not know (nullopt) and an unclosed
// "{" stay as written, so a config check can report them.
std::string expandPlaceholders(
    std::string_view pattern,
    const std::function<std::optional<std::string>(std::string_view name)>& value);

}  // namespace sb::channels
