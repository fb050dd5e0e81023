#include "store/sqlite/hot_messages.h"

#include <cstdint>
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

bool HotMessages::makeRoom(std::size_t w, std::vector<std::shared_ptr<const void>>& gone) {
  // Messages waiting for routing are never dropped: when `w` cannot fit beside them, nothing is.
  if (toRouteBytes_ + w > budget_) return false;
  while (bytes_ + w > budget_ && (!routed_.empty() || !outputs_.empty())) {
    const bool outputFirst =
        routed_.empty() ||
        (!outputs_.empty() && outputs_.begin()->first.first <= routed_.begin()->first);
    if (outputFirst) {
      bytes_ -= weight(*outputs_.begin()->second);
      gone.push_back(std::move(outputs_.begin()->second));
      outputs_.erase(outputs_.begin());
    } else {
      bytes_ -= weight(*routed_.begin()->second);
      gone.push_back(std::move(routed_.begin()->second));
      routed_.erase(routed_.begin());
    }
  }
  return bytes_ + w <= budget_;
}

void HotMessages::add(std::shared_ptr<const StoredMessage> held) {
  const MessageId id = held->summary.id;
  const std::size_t w = weight(*held);
  std::vector<std::shared_ptr<const void>> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  if (!makeRoom(w, gone) || toRoute_.count(id) > 0 || routed_.count(id) > 0) return;
  toRoute_.emplace(id, std::move(held));
  bytes_ += w;
  toRouteBytes_ += w;
}

void HotMessages::addOutput(MessageId id, std::int64_t event,
                            std::shared_ptr<const std::string> output) {
  const std::size_t w = weight(*output);
  std::vector<std::shared_ptr<const void>> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  // Held already: `output` is freed with this call, outside the lock.
  const auto key = std::make_pair(id, event);
  if (outputs_.count(key) > 0 || !makeRoom(w, gone)) return;
  outputs_.emplace(key, std::move(output));
  bytes_ += w;
}

std::shared_ptr<const std::string> HotMessages::findOutput(MessageId id, std::int64_t event) const {
  std::lock_guard lock(mutex_);
  auto it = outputs_.find(std::make_pair(id, event));
  return it == outputs_.end() ? nullptr : it->second;
}

void HotMessages::routed(MessageId id) {
  std::lock_guard lock(mutex_);
  auto it = toRoute_.find(id);
  if (it == toRoute_.end()) return;
  toRouteBytes_ -= weight(*it->second);
  routed_.emplace(id, std::move(it->second));
  toRoute_.erase(it);
}

std::optional<StoredMessage> HotMessages::find(MessageId id, int generation, bool withRaw) const {
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
  if (withRaw) return *held;
  StoredMessage summaryOnly;
  summaryOnly.summary = held->summary;
  return summaryOnly;
}

void HotMessages::erase(MessageId id) {
  std::vector<std::shared_ptr<const void>> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  for (auto it = outputs_.lower_bound(std::make_pair(id, INT64_MIN));
       it != outputs_.end() && it->first.first == id;) {
    bytes_ -= weight(*it->second);
    gone.push_back(std::move(it->second));
    it = outputs_.erase(it);
  }
  for (Held* held : {&toRoute_, &routed_}) {
    auto it = held->find(id);
    if (it == held->end()) continue;
    bytes_ -= weight(*it->second);
    if (held == &toRoute_) toRouteBytes_ -= weight(*it->second);
    gone.push_back(std::move(it->second));
    held->erase(it);
    return;
  }
}

std::size_t HotMessages::size() const {
  std::lock_guard lock(mutex_);
  return toRoute_.size() + routed_.size();
}

std::size_t HotMessages::outputCount() const {
  std::lock_guard lock(mutex_);
  return outputs_.size();
}

std::size_t HotMessages::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace sb::store::sqlite
