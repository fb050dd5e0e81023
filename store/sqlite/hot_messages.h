// Messages that were just stored and are still on their way through routing and delivery, kept
// in memory so the router and the senders do not read them back from the day files.
//
// Why: in WAL mode every commit by the writer discards the page cache of every reader
// connection, so each routing or delivery read fetched the message's row and body pages again
// with pread calls (into the WAL or the file). Measured with the ADT -> Patient mapping on 8 MLLP
// connections, reading messages back was a third of the router's time and a fifth of a file
// destination's.
//
// The store stays the truth: the router still takes the ids waiting for routing from to_route
// and a sender its queue entries from the queue; only the message itself (summary and raw
// bytes) comes from here when it is present. Entries are added by the writer once their fold
// committed and removed when the message reaches an end state or is reprocessed. When the
// byte budget is used up, routed messages go first, lowest ids first (those wait for a
// destination that is down), and then new messages are not taken in: the router reads the
// oldest waiting message next, so under a routing backlog the held ones are the ones it needs
// soonest. A miss reads the day file as before.
//
// Transform outputs that queue entries send (kept as events of the message, see
// queue.payload_event) are held the same way, keyed by message and event, from the commit that
// wrote them until the message leaves; they count against the same budget and go before routed
// messages of higher ids.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/message_store.h"

namespace sb::store::sqlite {

class HotMessages {
 public:
  explicit HotMessages(std::size_t budgetBytes) : budget_(budgetBytes) {}

  // Keeps a message that was just committed with status received and generation 0.
  void add(StoredMessage message);
  void add(std::shared_ptr<const StoredMessage> message);
  // The message was routed to at least one destination: it waits for its deliveries now.
  void routed(MessageId id);
  // The message if it is held and still at `generation`, copied (the raw bytes only when
  // `withRaw`).
  std::optional<StoredMessage> find(MessageId id, int generation, bool withRaw = true) const;
  // Holds transform output `event` (events.seq in the message's day file) of message `id`.
  void addOutput(MessageId id, std::int64_t event, std::shared_ptr<const std::string> output);
  std::shared_ptr<const std::string> findOutput(MessageId id, std::int64_t event) const;
  // Drops the message and its outputs.
  void erase(MessageId id);

  std::size_t size() const;  // messages held
  std::size_t outputCount() const;
  std::size_t bytes() const;

 private:
  using Held = std::map<MessageId, std::shared_ptr<const StoredMessage>>;
  using Outputs = std::map<std::pair<MessageId, std::int64_t>, std::shared_ptr<const std::string>>;
  static std::size_t weight(const StoredMessage& m);
  static std::size_t weight(const std::string& output) { return output.size() + 128; }
  // Makes room for `w` more bytes by dropping routed messages and outputs, lowest ids first
  // (under the lock); what was dropped goes to `gone`, to be freed outside it.
  bool makeRoom(std::size_t w, std::vector<std::shared_ptr<const void>>& gone);

  mutable std::mutex mutex_;
  Held toRoute_;  // waiting for the router
  Held routed_;   // waiting for their deliveries
  Outputs outputs_;
  std::size_t bytes_ = 0;
  std::size_t toRouteBytes_ = 0;  // of bytes_, what toRoute_ holds
  std::size_t budget_;
};

}  // namespace sb::store::sqlite
