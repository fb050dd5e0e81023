// The durable message store. Channels and the engine talk only to this interface; the embedded
// SQLite backend lives in store/sqlite/, and a PostgreSQL backend can implement the same
// interface later without touching channels.
//
// Every method is thread-safe and may be called from any thread. Several processes (the running
// engine and the `switchboard messages` / `reprocess` CLI) may open the same data directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::store {

using MessageId = std::int64_t;  // positive, increasing in commit order, never reused
using Millis = std::int64_t;     // Unix epoch milliseconds

enum class Durability {
  kProcess,  // committed to the OS (WAL, synchronous=NORMAL): survives kill -9 of the engine
  kPower,    // fsync'ed before the commit callback (synchronous=FULL): survives power loss
};

struct Options {
  std::filesystem::path dataDir;
  Durability durability = Durability::kProcess;
  int retentionDays = 30;  // whole day-partitions older than this are dropped; 0 keeps forever
  // Group commit: work that arrives while a commit runs is taken by the next commit, up to
  // maxBatch records, so under load batches fill up by themselves. After idling, the writer may
  // wait up to maxCommitDelay for company; 0 (the default) commits at once, which keeps the ACK
  // latency of a lone sender at one commit.
  std::chrono::microseconds maxCommitDelay{0};
  std::size_t maxBatch = 2048;
  bool readOnly = false;  // CLI search opens read-only
  // Acknowledge inbound messages from an append-only journal and fold them into SQLite in large
  // batches (store/sqlite/ingest_journal.h). Same durability; readers in this process always
  // see every acknowledged message, other processes through the journal file. Off: every ingest
  // commit goes straight into SQLite.
  bool ingestJournal = true;
  // The longest a journaled message waits for its fold. Longer than the router's 50 ms linger:
  // a message routed before its fold is written once, with its routing (docs/store.md).
  std::chrono::milliseconds journalFoldDelay{100};
  // The journal is two files taking turns; appends move to the other one past this size, and a
  // file is emptied once everything in it is folded.
  std::uint64_t journalRotateBytes = 4u << 20;
};

enum class MessageStatus {
  kReceived,   // committed, waiting for routing
  kRejected,   // NAKed at ingest (bad input), kept for inspection, never routed
  kFiltered,   // no route took it; the reasons are in its events
  kRouted,     // queued to one or more destinations
  kDelivered,  // every queue entry delivered
  kError,      // routing/transform error, or a destination dead-lettered it
};
std::string_view toString(MessageStatus s);
std::optional<MessageStatus> parseMessageStatus(std::string_view s);

enum class QueueStatus { kPending, kDelivered, kDead };
std::string_view toString(QueueStatus s);

// What a listener commits. The search keys are extracted by the listener (from MSH/PID).
struct InboundRecord {
  std::string channel;
  std::string peer;  // "ip:port" of the sender
  Millis receivedAt = 0;
  std::string raw;
  std::string messageType;   // MSH-9.1
  std::string triggerEvent;  // MSH-9.2
  std::string controlId;     // MSH-10
  std::string patientId;     // PID-3.1
  std::string sendingApplication;
  std::string sendingFacility;
  MessageStatus status = MessageStatus::kReceived;  // kReceived or kRejected
  std::string error;                                // for kRejected: "SB-102 MSH-2: ..." (no PHI)
};

struct MessageSummary {
  MessageId id = 0;
  std::string channel;
  std::string peer;
  Millis receivedAt = 0;
  std::string messageType;
  std::string triggerEvent;
  std::string controlId;
  std::string patientId;
  std::string sendingApplication;
  std::string sendingFacility;
  MessageStatus status = MessageStatus::kReceived;
  std::string error;
  std::int64_t sizeBytes = 0;
  int generation = 0;  // incremented by each reprocess
};

struct StoredMessage {
  MessageSummary summary;
  std::string raw;
};

// One line of a message's history: a routing decision, a delivery attempt, a reprocess.
struct Event {
  MessageId messageId = 0;
  Millis at = 0;
  std::string step;     // "route", "deliver", "reprocess", "filter", "error"
  std::string subject;  // route or destination name
  std::string outcome;  // "matched", "filtered", "delivered", "retry", "dead", ...
  std::string detail;   // reason, error text, or the peer's response (e.g. the ACK)
};

struct QueueEntry {
  std::int64_t queueId = 0;
  MessageId messageId = 0;
  std::string destination;
  QueueStatus status = QueueStatus::kPending;
  int attempts = 0;
  Millis nextAttemptAt = 0;
  std::string lastError;
};

struct MessageDetail {
  StoredMessage message;
  std::vector<Event> events;      // oldest first
  std::vector<QueueEntry> queue;  // one per destination (and generation)
};

// ---- routing stage ----
struct RouteDecision {
  std::string route;
  bool matched = false;
  std::string reason;  // why it did not match, or which filter passed
};
struct Enqueue {
  std::string destination;
  std::optional<std::string> payload;  // bytes to send; nullopt = the raw inbound message
};
// The output of one transform step, kept in the message's history.
struct StepOutput {
  std::string route;
  std::string script;  // "mappings/adt.lua:patient"
  std::string output;  // what it returned (shortened by the router when very large)
};
struct RoutingOutcome {
  MessageId messageId = 0;
  int generation = 0;  // the generation that was routed (from MessageSummary)
  std::vector<RouteDecision> decisions;
  std::vector<StepOutput> steps;
  std::vector<Enqueue> enqueue;
  MessageStatus status = MessageStatus::kRouted;  // kRouted, kFiltered or kError
  std::string error;
};

// ---- delivery stage ----
struct QueueItem {
  std::int64_t queueId = 0;  // FIFO order within a destination
  MessageId messageId = 0;
  std::string destination;
  int part = 0;              // which output of the message for this destination (splits)
  int attempts = 0;          // attempts made so far
  Millis nextAttemptAt = 0;  // not before this time
  std::string payload;       // what to send
  MessageSummary summary;    // of the inbound message (for file names, logs)
  // Set when the bytes to send could not be read (the store lost them): not sent, dead-lettered
  // with this reason.
  std::string unavailable;
};

enum class DeliveryResult { kDelivered, kRetry, kDead };
struct DeliveryOutcome {
  std::int64_t queueId = 0;
  MessageId messageId = 0;
  DeliveryResult result = DeliveryResult::kDelivered;
  Millis at = 0;
  Millis nextAttemptAt = 0;  // for kRetry
  std::string response;      // what the peer answered (e.g. the ACK), kept with the attempt
  std::string error;         // for kRetry / kDead
};

// The highest X12 control number: ISA13 is exactly nine digits, GS06 at most nine, and ST02
// (4 to 9 characters) is kept numeric within the same range.
inline constexpr std::int64_t kMaxControlNumber = 999'999'999;

struct QueueStats {
  std::int64_t pending = 0;
  std::int64_t delivered = 0;
  std::int64_t dead = 0;
};

// ---- search ----
struct SearchQuery {
  std::optional<std::string> channel;
  std::optional<std::string> messageType;
  std::optional<std::string> triggerEvent;
  std::optional<std::string> controlId;
  std::optional<std::string> patientId;
  std::optional<MessageStatus> status;
  std::optional<Millis> from;  // receivedAt >= from
  std::optional<Millis> to;    // receivedAt < to
  std::size_t limit = 100;
  std::optional<MessageId> beforeId;  // paging: ids strictly below this, newest first
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

 protected:
  // For the default asynchronous forms: runs `work` now and reports to `done`.
  template <typename Work, typename Done>
  static void runNow(const Done& done, Work&& work) {
    std::exception_ptr error;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    if (done) done(error);
  }

 public:
  // ---- ingest (group-committed) ----
  // `done` runs once the record is durable at the configured level (id set) or the commit
  // failed (error set): on the store's commit thread, or on the calling thread before
  // submitInbound returns (an idle store may append the record there and then). It must not
  // block, and must not take a lock the caller holds while submitting: post work elsewhere.
  using CommitCallback = std::function<void(std::optional<MessageId> id, const std::string& error)>;
  virtual void submitInbound(InboundRecord record, CommitCallback done) = 0;
  // Blocking convenience over submitInbound. Throws std::runtime_error on failure.
  virtual MessageId insertInbound(InboundRecord record) = 0;

  // Runs once asynchronously submitted work is committed (nullptr) or failed, on the store's
  // commit thread. It must not block.
  using DoneCallback = std::function<void(std::exception_ptr error)>;

  // ---- routing ----
  // Up to `limit` messages in status kReceived with ids above `after`, oldest first. Does not
  // change them: the router is the only consumer and records their routing before asking again
  // (or passes the last id whose routing it submitted and is still being committed).
  virtual std::vector<StoredMessage> takeForRouting(std::size_t limit, MessageId after = 0) = 0;
  // One transaction: decisions become events, enqueue entries are appended to the destination
  // queues (idempotent per message id + destination + generation), the status is set.
  virtual void recordRouting(const std::vector<RoutingOutcome>& outcomes) = 0;
  // The same without waiting for the commit, so the router can route the next batch meanwhile.
  virtual void submitRouting(std::vector<RoutingOutcome> outcomes, DoneCallback done) {
    runNow(done, [&] { recordRouting(outcomes); });
  }

  // ---- delivery ----
  // The first `limit` pending items of the destination with queue ids above `afterQueueId`, in
  // FIFO order (regardless of nextAttemptAt; the sender keeps FIFO by waiting for the head).
  virtual std::vector<QueueItem> pendingDeliveries(std::string_view destination, std::size_t limit,
                                                   std::int64_t afterQueueId = 0) = 0;
  // One transaction: queue entries updated, attempts recorded as events, and the message set to
  // kDelivered when all its entries of the current generation are delivered, kError when one is
  // dead.
  virtual void recordDeliveries(const std::vector<DeliveryOutcome>& outcomes) = 0;
  // The same without waiting for the commit, so the sender can send the next batch meanwhile.
  virtual void submitDeliveries(std::vector<DeliveryOutcome> outcomes, DoneCallback done) {
    runNow(done, [&] { recordDeliveries(outcomes); });
  }
  virtual QueueStats queueStats(std::string_view destination) = 0;

  // ---- operations ----
  virtual std::vector<MessageSummary> search(const SearchQuery& query) = 0;
  virtual std::optional<MessageDetail> get(MessageId id) = 0;
  // Sets the messages back to kReceived with generation + 1 so the router takes them again.
  // Returns how many were found. Rejected messages are re-parsed by the caller, not here.
  virtual std::size_t reprocess(const std::vector<MessageId>& ids) = 0;
  // Dead entries of the destination become pending again (attempts reset), appended at the
  // tail of the queue in their original order. Returns how many.
  virtual std::size_t reprocessDeadLetters(std::string_view destination) = 0;
  // Drops whole day-partitions older than the retention, except any that still hold a message
  // with a pending queue entry. Returns the number of partitions dropped.
  virtual std::size_t applyRetention(Millis now) = 0;

  // ---- X12 control numbers ----
  // X12 control numbers (ISA13, GS06, ST02) for one trading partner: reserves `count` consecutive
  // numbers of `kind` ("ISA", "GS", "ST") and returns the first. Durable (synced to disk) before it
  // returns, so a number handed out is never handed out again, even after a crash or restart.
  // Numbers start at 1; ISA13 is at most 999999999 and GS06/ST02 at most 999999999 too: when the
  // next reservation would pass the maximum, throws std::runtime_error (an operator must act).
  // An unknown kind, an empty partner or a count below 1 throws std::invalid_argument.
  virtual std::int64_t reserveControlNumbers(std::string_view partner, std::string_view kind,
                                             int count = 1) = 0;
  // Optionally lets an operator set the next number (e.g. to continue a sequence from another
  // engine); refuses to go backwards (std::runtime_error). Setting the current next number changes
  // nothing.
  virtual void setNextControlNumber(std::string_view partner, std::string_view kind,
                                    std::int64_t next) = 0;

  // Flushes pending group commits and stops the commit thread. Idempotent.
  virtual void close() = 0;
};

// Opens (creating and migrating as needed) the SQLite store under options.dataDir.
std::unique_ptr<MessageStore> openSqliteStore(const Options& options);

Millis nowMillis();

}  // namespace sb::store
