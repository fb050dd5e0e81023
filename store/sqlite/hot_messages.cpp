#include "store/sqlite/hot_messages.h"

#include <utility>

namespace sb::store::sqlite {

std::size_t HotMessages::weight(const StoredMessage& m) {
  const MessageSummary& s = m.summary;
  // The strings' bytes plus a fixed share for the node, the control block and the struct.
  return m.raw.size() + s.channel.size() + s.peer.size() + s.messageType.size() +
         s.triggerEvent.size() + s.controlId.size() + s.patientId.size() +
         s.sendingApplication.size() + s.sendingFacility.size() + s.error.size() + 512;
}

void HotMessages::add(StoredMessage message) {
  add(std::make_shared<const StoredMessage>(std::move(message)));
}

void HotMessages::add(std::shared_ptr<const StoredMessage> held) {
  const MessageId id = held->summary.id;
  const std::size_t w = weight(*held);
  std::vector<std::shared_ptr<const StoredMessage>> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  while (bytes_ + w > budget_ && !routed_.empty()) {
    bytes_ -= weight(*routed_.begin()->second);
    gone.push_back(std::move(routed_.begin()->second));
    routed_.erase(routed_.begin());
  }
  if (bytes_ + w > budget_ || toRoute_.count(id) > 0 || routed_.count(id) > 0) return;
  toRoute_.emplace(id, std::move(held));
  bytes_ += w;
}

void HotMessages::routed(MessageId id) {
  std::lock_guard lock(mutex_);
  auto it = toRoute_.find(id);
  if (it == toRoute_.end()) return;
  routed_.emplace(id, std::move(it->second));
  toRoute_.erase(it);
}

std::optional<StoredMessage> HotMessages::find(MessageId id, int generation) const {
  std::shared_ptr<const StoredMessage> held;
  {
    std::lock_guard lock(mutex_);
    auto it = toRoute_.find(id);
    if (it != toRoute_.end()) {
      held = it->second;
    } else if (it = routed_.find(id); it != routed_.end()) {
      held = it->second;
    } else {
      return std::nullopt;
    }
  }
  // Copied outside the lock: the entry is immutable and kept alive by `held`.
  if (held->summary.generation != generation) return std::nullopt;
  return *held;
}

void HotMessages::erase(MessageId id) {
  std::shared_ptr<const StoredMessage> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  for (Held* held : {&toRoute_, &routed_}) {
    auto it = held->find(id);
    if (it == held->end()) continue;
    bytes_ -= weight(*it->second);
    gone = std::move(it->second);
    held->erase(it);
    return;
  }
}

std::size_t HotMessages::size() const {
  std::lock_guard lock(mutex_);
  return toRoute_.size() + routed_.size();
}

std::size_t HotMessages::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace sb::store::sqlite
