// Backend-independent parts of the store interface: enum names and the clock.
#include "store/message_store.h"

#include <array>
#include <utility>

namespace sb::store {

namespace {
// The names are stored in the database and shown by the CLI, so they are part of the format.
constexpr std::array<std::pair<MessageStatus, std::string_view>, 6> kStatusNames{{
    {MessageStatus::kReceived, "received"},
    {MessageStatus::kRejected, "rejected"},
    {MessageStatus::kFiltered, "filtered"},
    {MessageStatus::kRouted, "routed"},
    {MessageStatus::kDelivered, "delivered"},
    {MessageStatus::kError, "error"},
}};
}  // namespace

std::string_view toString(MessageStatus s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  return "unknown";
}

std::optional<MessageStatus> parseMessageStatus(std::string_view s) {
  for (const auto& [status, name] : kStatusNames) {
    if (name == s) return status;
  }
  return std::nullopt;
}

std::string_view toString(QueueStatus s) {
  switch (s) {
    case QueueStatus::kPending:
      return "pending";
    case QueueStatus::kDelivered:
      return "delivered";
    case QueueStatus::kDead:
      return "dead";
  }
  return "unknown";
}

Millis nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sb::store
