// SQLite message store. Layout and reasoning: docs/store.md. In short:
//  * main.db holds the partition catalog (day -> id range), the routing inbox (to_route), the
//    destination queues and the message id counter.
//  * messages-YYYYMMDD.db holds the messages received on that UTC day and their events.
//  * Every file is opened through its own connection (no ATTACH), so SQLite's ATTACH limit never
//    applies however many partitions a search or a retention pass touches.
//  * One writer thread applies all mutations in batches. A batch takes main.db's write lock
//    first (so it is the lock every writing process queues on and no two processes can
//    deadlock over partition locks), then the partitions it touches; it commits the partitions
//    first and main.db last. A crash between the commits therefore leaves partition rows that
//    main.db does not know about yet, which the open-time reconcile repairs (catalog ranges, id
//    counter, routing inbox); it never leaves main.db pointing at rows that do not exist.
//  * Reads use a pool of read contexts, each with its own connections.
//  * X12 control numbers live in main.db too and go through the same writer, but commit in
//    batches of their own with a full sync (see executeControlNumbers).
//  * Inbound messages are first appended to the ingest journal (ingest_journal.h) by a thread
//    of its own and acknowledged from there; the router takes them from memory before they are
//    folded, and the writer folds them into SQLite together with their routing (so a routed
//    message is written once, in its routed state), or on its own within the fold delay,
//    before any other work, and whenever a reader of this process asks. The journal thread
//    takes its message ids from blocks the writer reserves in main.db, so acknowledgements
//    never wait for a fold or any other SQLite work.
#include "store/sqlite/sqlite_store.h"
#include <pthread.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include "common/log.h"
#include "store/sqlite/crc32.h"
#include "store/sqlite/db.h"
#include "store/sqlite/hot_messages.h"
#include "store/sqlite/ingest_journal.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/setup_lock.h"
#include "store/sqlite/sqlite_memory.h"
#include "store/sqlite/wal_buffer.h"

namespace sb::store::sqlite {

int utcDay(Millis t) {
  using namespace std::chrono;
  const auto days = floor<std::chrono::days>(sys_time<milliseconds>(milliseconds(t)));
  const year_month_day ymd{days};
  return static_cast<int>(ymd.year()) * 10000 + static_cast<int>(unsigned(ymd.month())) * 100 +
         static_cast<int>(unsigned(ymd.day()));
}

Millis dayStartMillis(int day) {
  using namespace std::chrono;
  const year_month_day ymd{year(day / 10000), month(static_cast<unsigned>(day / 100 % 100)),
                           std::chrono::day(static_cast<unsigned>(day % 100))};
  return duration_cast<milliseconds>(sys_days(ymd).time_since_epoch()).count();
}

std::string partitionFileName(int day) {
  return fmt::format("messages-{}.db", day);
}

namespace {

constexpr std::string_view kLog = "store";
constexpr std::size_t kMaxOpenPartitions = 8;  // per connection set; older ones are closed
// WAL size (pages) at which the checkpoint thread copies a file's WAL back into it, and the
// size at which the writer does it itself because the checkpoint thread fell behind. After a
// checkpoint has copied the whole log, the writer's next commit restarts the log from the
// beginning and (at synchronous=NORMAL) fsyncs the new WAL header: a larger log means fewer
// restarts, so fewer fsyncs on the writer thread, and the checkpoint copies each hot page
// (index leaves, the queue) once for many commits instead of once for few.
constexpr int kCheckpointPages = 8000;           // 32 MB of 4 KB pages
constexpr int kBackstopCheckpointPages = 32000;  // 128 MB
constexpr std::chrono::milliseconds kCheckpointPause{500};
// How far the frontier day's max_id (and the id counter) in main.db may lag behind the files
// before a commit writes them anyway (see SqliteStore::catalogMustBeWritten).
constexpr MessageId kCatalogLag = 4096;
// Ingest journal: journaled messages are folded into SQLite at the latest after
// Options::journalFoldDelay, or as soon as kFoldRecords / kFoldBytes wait. Ids are reserved in
// main.db in blocks of kIdBlock for the journal thread, so another process writing the same
// directory (the CLI) never hands out an id the journal already used.
constexpr std::size_t kFoldRecords = 4096;
constexpr std::size_t kFoldBytes = 16u << 20;
constexpr MessageId kIdBlock = 65536;
constexpr std::chrono::seconds kFoldRetry{1};
// What the hot message cache may hold (hot_messages.h): ~15,000 messages of 2 KB, ~3,500 of the
// 8.5 KB ADT samples. With the fold delay's records it bounds the memory messages in flight
// take: peak RSS 175 MB in the Lua -> file benchmark, which ACKs faster than it routes.
constexpr std::size_t kHotBytes = 32u << 20;

// Summary columns in MessageSummary order; raw is selected after them when needed.
constexpr std::string_view kSummaryColumns =
    "id, channel, peer, received_at, message_type, trigger_event, control_id, patient_id, "
    "sending_application, sending_facility, status, error, size_bytes, generation";
constexpr int kRawColumn = 14;
constexpr int kBodiesSchema = 2;  // partition schema version that moved raw into `bodies`

}  // namespace

std::string searchSql(const SearchQuery& q) {
  // Without statistics SQLite treats every equality index alike and may walk the status
  // index for "patient = ? AND status = ?". The most selective key present drives the query;
  // a unary + keeps SQLite from using the index of every other column.
  const char* driver = q.controlId      ? "control_id"
                       : q.patientId    ? "patient_id"
                       : q.triggerEvent ? "trigger_event"
                       : q.messageType  ? "message_type"
                       : q.channel      ? "channel"
                       : q.status       ? "status"
                                        : "received_at";
  auto column = [&](const char* name) {
    return std::string(std::string_view(name) == driver ? "" : "+") + name;
  };
  // A bounded time window alone reads just its stretch of the received_at index, keeping the
  // `limit` highest ids; SQLite would otherwise walk every newer row by id. An open window
  // (only from, or only to) is best served by that id walk, which stops after `limit` rows.
  const bool window = std::string_view(driver) == "received_at" && q.from && q.to;
  std::string sql = fmt::format("SELECT {} FROM messages{} WHERE id < ?", kSummaryColumns,
                                window ? " INDEXED BY messages_received" : "");
  if (q.channel) sql += fmt::format(" AND {} = ?", column("channel"));
  if (q.messageType) sql += fmt::format(" AND {} = ?", column("message_type"));
  if (q.triggerEvent) sql += fmt::format(" AND {} = ?", column("trigger_event"));
  if (q.controlId) sql += fmt::format(" AND {} = ?", column("control_id"));
  if (q.patientId) sql += fmt::format(" AND {} = ?", column("patient_id"));
  if (q.status) sql += fmt::format(" AND {} = ?", column("status"));
  if (q.from) sql += fmt::format(" AND {} >= ?", column("received_at"));
  if (q.to) sql += fmt::format(" AND {} < ?", column("received_at"));
  sql += " ORDER BY id DESC LIMIT ?";
  return sql;
}

namespace {

// What queue.payload_check holds for an output (migration 0005): its length in the high 32 bits,
// its CRC-32 in the low 32.
std::int64_t outputCheck(std::string_view output) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(output.size()) << 32) |
                                   crc32Of(output));
}

MessageSummary readSummary(const Stmt& s) {
  MessageSummary m;
  m.id = s.int64(0);
  m.channel = s.text(1);
  m.peer = s.text(2);
  m.receivedAt = s.int64(3);
  m.messageType = s.text(4);
  m.triggerEvent = s.text(5);
  m.controlId = s.text(6);
  m.patientId = s.text(7);
  m.sendingApplication = s.text(8);
  m.sendingFacility = s.text(9);
  m.status = parseMessageStatus(s.text(10)).value_or(MessageStatus::kError);
  m.error = s.text(11);
  m.sizeBytes = s.int64(12);
  m.generation = s.int32(13);
  return m;
}

QueueStatus parseQueueStatus(std::string_view s) {
  if (s == "delivered") return QueueStatus::kDelivered;
  if (s == "dead") return QueueStatus::kDead;
  return QueueStatus::kPending;
}

// Resets a statement when a read is done, so no read transaction outlives the call (an open
// read transaction would keep WAL checkpoints from ever completing).
class Cursor {
 public:
  explicit Cursor(Stmt& s) : s_(s) { s_.reset(); }
  ~Cursor() { s_.reset(); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  Stmt& operator*() { return s_; }
  Stmt* operator->() { return &s_; }

 private:
  Stmt& s_;
};

void configureConnection(Db& db, Durability durability, bool writer) {
  if (writer) {
    db.exec("PRAGMA journal_mode=WAL");
    db.exec(durability == Durability::kPower ? "PRAGMA synchronous=FULL"
                                             : "PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA temp_store=MEMORY");
    // Bounds the WAL file after a checkpoint so a burst does not leave a huge file behind.
    db.exec("PRAGMA journal_size_limit=67108864");
    db.exec("PRAGMA cache_size=-16000");
  } else {
    db.exec("PRAGMA query_only=1");
  }
}

struct Range {
  MessageId minId = 0;
  MessageId maxId = 0;
};
using Catalog = std::map<int, Range>;  // day -> id range

Catalog loadCatalog(Db& main) {
  Catalog c;
  Stmt s(main, "SELECT day, min_id, max_id FROM partitions");
  while (s.step()) c[s.int32(0)] = Range{s.int64(1), s.int64(2)};
  return c;
}

// Days whose id range contains `id`, newest first. Ranges overlap only when messages arrive
// with received times out of order across midnight, so this is almost always one day.
//
// The writer does not persist the range of the day it is appending to (the "frontier": the day
// with the highest max_id) on every commit, only when another day's range changes or the lag
// grows large (see SqliteStore::commitAll). An id above every known range therefore belongs to
// the frontier day, and is looked up there.
std::vector<int> candidateDays(const Catalog& catalog, MessageId id) {
  std::vector<int> days;
  MessageId highest = 0;
  int frontier = 0;
  for (auto it = catalog.rbegin(); it != catalog.rend(); ++it) {
    if (id >= it->second.minId && id <= it->second.maxId) days.push_back(it->first);
    if (it->second.maxId > highest) {
      highest = it->second.maxId;
      frontier = it->first;
    }
  }
  if (days.empty() && id > highest && frontier != 0) days.push_back(frontier);
  return days;
}

// The day with the highest max_id (0 when the catalog is empty).
int frontierDay(const Catalog& catalog) {
  MessageId highest = 0;
  int frontier = 0;
  for (const auto& [day, r] : catalog) {
    if (r.maxId > highest) {
      highest = r.maxId;
      frontier = day;
    }
  }
  return frontier;
}

std::string eventDetail(const std::string& response, const std::string& error) {
  if (error.empty()) return response;
  if (response.empty()) return error;
  return error + " | " + response;
}

// ---------------------------------------------------------------------------------------------
// Read side.

struct ReadPartition {
  std::unique_ptr<Db> db;
  Stmt begin, commit;
  bool inTxn = false;
  Stmt messageWithRaw;
  Stmt summary;
  Stmt events;
  Stmt eventDetail;  // a transform output a queue entry names (queue.payload_event)
  std::uint64_t lastUse = 0;
};

class ReadContext {
 public:
  ReadContext(std::filesystem::path dir, bool readOnly)
      : dir_(std::move(dir)), readOnly_(readOnly) {
    main_ = std::make_unique<Db>(dir_ / "main.db", mode());
    configureConnection(*main_, Durability::kProcess, false);
    begin_ = Stmt(*main_, "BEGIN");
    commit_ = Stmt(*main_, "COMMIT");
    dataVersion_ = Stmt(*main_, "PRAGMA data_version");
    catalogStmt_ = Stmt(*main_, "SELECT day, min_id, max_id FROM partitions");
    toRoute_ = Stmt(*main_,
                    "SELECT message_id, generation FROM to_route WHERE message_id > ? "
                    "ORDER BY message_id LIMIT ?");
    pending_ = Stmt(*main_,
                    "SELECT queue_id, message_id, attempts, next_attempt_at, payload, part, "
                    "generation, payload_event, payload_check FROM queue WHERE "
                    "destination = ? AND "
                    "status = 'pending' AND "
                    "queue_id > ? ORDER BY queue_id LIMIT ?");
    queueOf_ = Stmt(*main_,
                    "SELECT queue_id, message_id, destination, status, attempts, "
                    "next_attempt_at, last_error FROM queue WHERE message_id = ? "
                    "ORDER BY queue_id");
    stats_ =
        Stmt(*main_, "SELECT status, count(*) FROM queue WHERE destination = ? GROUP BY status");
  }

  Db& main() { return *main_; }
  Stmt& toRoute() { return toRoute_; }
  Stmt& pending() { return pending_; }
  Stmt& queueOf() { return queueOf_; }
  Stmt& stats() { return stats_; }

  // One read transaction per file per API call: a consistent view of main.db for the whole
  // call, and one set of file locks instead of one per statement. Also brings the catalog up
  // to date (another connection committed, or retention dropped files).
  void beginOp(std::uint64_t epoch) {
    openFailed_ = false;
    if (epoch != epoch_) {
      parts_.clear();  // a dropped file must not stay open here
      epoch_ = epoch;
      version_ = -1;
    }
    begin_.reset().run();
    refreshCatalog();
  }

  void endOp() {
    std::vector<int> broken;
    for (auto& [day, p] : parts_) {
      if (!p->inTxn) continue;
      p->inTxn = false;
      try {
        p->commit.reset().run();
      } catch (const std::exception&) {
        broken.push_back(day);
      }
    }
    for (int day : broken) parts_.erase(day);  // closing ends whatever state it was left in
    try {
      commit_.reset().run();
    } catch (const std::exception& e) {
      sb::log::at(sb::log::Level::kWarn, kLog, "ending read transaction: {}", e.what());
    }
  }

  const Catalog& catalog() const { return catalog_; }
  // A day file that exists could not be opened in this call (descriptors, locks): what was not
  // found in it may be there after all.
  bool openFailed() const { return openFailed_; }

  void refreshCatalog() {
    std::int64_t v = 0;
    {
      Cursor c(dataVersion_);
      c->step();
      v = c->int64(0);
    }
    if (v != version_) {
      Cursor c(catalogStmt_);
      catalog_.clear();
      while (c->step()) catalog_[c->int32(0)] = Range{c->int64(1), c->int64(2)};
      version_ = v;
    }
  }

  // The open connection to a day's file, or nullptr when the file is gone (dropped by
  // retention in another process after we read the catalog).
  ReadPartition* partition(int day) {
    auto it = parts_.find(day);
    if (it == parts_.end()) {
      const auto path = dir_ / partitionFileName(day);
      if (!std::filesystem::exists(path)) return nullptr;
      auto p = std::make_unique<ReadPartition>();
      try {
        p->db = std::make_unique<Db>(path, mode());
        configureConnection(*p->db, Durability::kProcess, false);
        p->begin = Stmt(*p->db, "BEGIN");
        p->commit = Stmt(*p->db, "COMMIT");
        // Files not migrated yet (a CLI reading before the engine upgraded them) keep the raw
        // bytes in the row; readers cannot migrate.
        p->messageWithRaw =
            Stmt(*p->db,
                 schemaVersion(*p->db) >= kBodiesSchema
                     ? fmt::format("SELECT {}, (SELECT raw FROM bodies WHERE bodies.id = "
                                   "messages.id) FROM messages WHERE id = ?",
                                   kSummaryColumns)
                     : fmt::format("SELECT {}, raw FROM messages WHERE id = ?", kSummaryColumns));
        p->summary =
            Stmt(*p->db, fmt::format("SELECT {} FROM messages WHERE id = ?", kSummaryColumns));
        p->events = Stmt(*p->db,
                         "SELECT message_id, at, step, subject, outcome, detail FROM events "
                         "WHERE message_id = ? ORDER BY seq");
        p->eventDetail = Stmt(*p->db,
                              "SELECT detail FROM events WHERE seq = ? AND message_id = ? AND "
                              "step = 'transform'");
      } catch (const std::exception& e) {
        sb::log::at(sb::log::Level::kWarn, kLog, "cannot read partition {}: {}", day, e.what());
        openFailed_ = true;
        return nullptr;
      }
      evictIfFull();
      it = parts_.emplace(day, std::move(p)).first;
    }
    it->second->lastUse = ++clock_;
    if (!it->second->inTxn) {
      it->second->begin.reset().run();
      it->second->inTxn = true;
    }
    return it->second.get();
  }

  struct Found {
    StoredMessage message;
    ReadPartition* partition = nullptr;
  };
  std::optional<Found> find(MessageId id, bool withRaw) {
    const auto days = candidateDays(catalog_, id);
    for (int day : days) {
      ReadPartition* p = partition(day);
      if (!p) continue;
      Cursor c(withRaw ? p->messageWithRaw : p->summary);
      c->bind(1, id);
      if (!c->step()) continue;
      Found f;
      f.message.summary = readSummary(*c);
      if (withRaw) f.message.raw = c->text(kRawColumn);
      f.partition = p;
      return f;
    }
    return std::nullopt;
  }

 private:
  Db::Mode mode() const { return readOnly_ ? Db::Mode::kReadOnly : Db::Mode::kReadWrite; }
  // Closes the least recently used file not in use by the current call.
  void evictIfFull() {
    while (parts_.size() >= kMaxOpenPartitions) {
      auto oldest = parts_.end();
      for (auto it = parts_.begin(); it != parts_.end(); ++it) {
        if (it->second->inTxn) continue;
        if (oldest == parts_.end() || it->second->lastUse < oldest->second->lastUse) oldest = it;
      }
      if (oldest == parts_.end()) return;
      parts_.erase(oldest);
    }
  }

  std::filesystem::path dir_;
  bool readOnly_;
  std::unique_ptr<Db> main_;
  Stmt begin_, commit_, dataVersion_, catalogStmt_, toRoute_, pending_, queueOf_, stats_;
  std::map<int, std::unique_ptr<ReadPartition>> parts_;
  Catalog catalog_;
  std::int64_t version_ = -1;
  std::uint64_t epoch_ = 0;
  std::uint64_t clock_ = 0;
  bool openFailed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Write side.

// What the WAL commit hook of a writer connection needs to know.
struct WalTarget {
  class SqliteStore* store = nullptr;
  int day = 0;  // 0: main.db
};

struct WritePartition {
  int day = 0;
  WalTarget wal;
  std::unique_ptr<Db> db;
  Stmt begin, commit;  // prepared once: BEGIN and COMMIT run for every batch
  Stmt insertMessage, insertBody, insertEvent, state, setStatus, bumpGeneration, ids, minMax,
      received, routed;
  bool inTxn = false;
  std::uint64_t lastUse = 0;
};

struct Work {
  enum class Kind {
    kIngest,
    kRouting,
    kDeliveries,
    kReprocess,
    kReprocessDead,
    kRetention,
    kControlNumbers,
    kFold,        // fold the ingest journal into SQLite now (a reader wants to see everything)
    kReserveIds,  // reserve a block of kIdBlock message ids for the journal thread
  };
  Kind kind = Kind::kIngest;
  // kIngest: the id is already assigned (acknowledged from the journal, or appended there by a
  // batch whose append failed and which commits directly).
  bool journaled = false;
  InboundRecord record;
  // kIngest acknowledged from the journal: the message as the router and the fold read it (the
  // record's strings moved into it when it was handed to the writer), and when that was.
  std::shared_ptr<const StoredMessage> stored;
  std::chrono::steady_clock::time_point handedAt{};
  MessageStore::CommitCallback done;
  std::vector<RoutingOutcome> routing;
  std::vector<DeliveryOutcome> deliveries;
  std::vector<MessageId> ids;
  std::string destination;
  Millis now = 0;
  // kControlNumbers: reserve `count` numbers of (partner, controlKind), or set the next one to
  // `next` when count is 0.
  std::string partner;
  std::string controlKind;
  int count = 0;
  std::int64_t next = 0;
  std::shared_ptr<std::promise<std::size_t>> promise;
  MessageStore::DoneCallback finished;  // instead of a promise: submitted without waiting
  // Set while applying; reported only after COMMIT.
  MessageId assignedId = 0;
  std::size_t result = 0;

  std::size_t weight() const {
    switch (kind) {
      case Kind::kRouting:
        return std::max<std::size_t>(1, routing.size());
      case Kind::kDeliveries:
        return std::max<std::size_t>(1, deliveries.size());
      case Kind::kReprocess:
        return std::max<std::size_t>(1, ids.size());
      default:
        return 1;
    }
  }
};

int onWalCommit(void* arg, sqlite3* db, const char* name, int pages);

class SqliteStore final : public MessageStore {
  friend int onWalCommit(void*, sqlite3*, const char*, int);

 public:
  explicit SqliteStore(const Options& options)
      : options_(options), maxBatch_(std::max<std::size_t>(1, options.maxBatch)) {
    if (options_.readOnly) {
      if (!std::filesystem::exists(options_.dataDir / "main.db")) {
        throw std::runtime_error(
            fmt::format("store: no message store at {}", options_.dataDir.string()));
      }
      SetupLock setup(options_.dataDir, SetupLock::Kind::kShared);
      auto ctx = std::make_unique<ReadContext>(options_.dataDir, true);
      checkSchemaVersion(ctx->main(), SchemaTarget::kMain);
      readers_.push_back(std::move(ctx));
      return;
    }
    std::filesystem::create_directories(options_.dataDir);
    {
      SetupLock setup(options_.dataDir, SetupLock::Kind::kExclusive);
      main_ = std::make_unique<Db>(options_.dataDir / "main.db", Db::Mode::kCreate);
      configureConnection(*main_, options_.durability, true);
    }
    mainWal_ = WalTarget{this, 0};
    sqlite3_wal_hook(main_->handle(), onWalCommit, &mainWal_);
    migrate(*main_, SchemaTarget::kMain);
    prepareMain();
    // The journal's owner is known before reconcile reads the id counter (see reloadMainState).
    if (options_.ingestJournal) {
      syncedJournal_ = options_.durability == Durability::kPower;
      journal_ = IngestJournal::open(options_.dataDir, syncedJournal_);
      if (journal_) journal_->setRotateBytes(options_.journalRotateBytes);
      if (!journal_) {
        sb::log::at(sb::log::Level::kInfo, kLog,
                    "the ingest journal of {} is held by another process (an engine, or a "
                    "switchboard command that writes); inbound messages commit straight into "
                    "SQLite until this process is restarted",
                    options_.dataDir.string());
      }
    }
    reconcile();
    if (journal_) replayJournal();
    checkpointer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "sb-checkpoint");
      checkpointLoop();
    });
    writer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "sb-writer");
      writerLoop();
    });
    if (journal_) {
      journalThread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "sb-journal");
        journalLoop();
      });
    }
  }

  ~SqliteStore() override { close(); }

  // ---- ingest ----
  void submitInbound(InboundRecord record, CommitCallback done) override {
    Work w;
    w.kind = Work::Kind::kIngest;
    w.record = std::move(record);
    w.done = std::move(done);
    if (journals(w) && appendHere(w)) return;
    if (!(journals(w) ? enqueueJournal(w) : enqueue(w))) {
      if (w.done) w.done(std::nullopt, unavailableReason());
    }
  }

  MessageId insertInbound(InboundRecord record) override {
    auto p = std::make_shared<std::promise<MessageId>>();
    auto f = p->get_future();
    submitInbound(std::move(record), [p](std::optional<MessageId> id, const std::string& error) {
      if (id) {
        p->set_value(*id);
      } else {
        p->set_exception(std::make_exception_ptr(std::runtime_error(error)));
      }
    });
    const MessageId id = f.get();
    // The blocking form is for tools and tests that read the files right after: fold now.
    foldForReaders();
    return id;
  }

  // ---- routing ----
  // Journaled messages are routed before they are folded (from pendingRoute_): the writer then
  // folds each one together with its routing (see executeBatch). The rest (folded before the
  // router came to them, reprocessed, left by a restart) wait in to_route.
  std::vector<StoredMessage> takeForRouting(std::size_t limit, MessageId after) override {
    std::vector<StoredMessage> out;
    if (limit == 0) return out;
    // Unfolded ones first: one that is folded meanwhile is in to_route by the time it is read
    // below (the writer forgets it here only after the commit), so none is missed; one seen in
    // both is taken once.
    std::vector<std::shared_ptr<const StoredMessage>> unfolded;
    {
      std::lock_guard lock(mutex_);
      for (auto it = pendingRoute_.upper_bound(after);
           it != pendingRoute_.end() && unfolded.size() < limit; ++it) {
        unfolded.push_back(it->second);
      }
    }
    auto lease = leaseReader();
    std::vector<std::pair<MessageId, int>> ids;  // id, generation
    {
      Cursor c(lease->toRoute());
      c->bind(1, after).bind(2, static_cast<std::int64_t>(limit));
      while (c->step()) ids.emplace_back(c->int64(0), c->int32(1));
    }
    auto next = unfolded.begin();
    for (const auto& [id, generation] : ids) {
      if (out.size() >= limit) break;
      while (next != unfolded.end() && (*next)->summary.id < id && out.size() < limit) {
        out.push_back(**next++);
      }
      if (out.size() >= limit) break;
      if (next != unfolded.end() && (*next)->summary.id == id) {
        out.push_back(**next++);
        continue;
      }
      if (auto hot = hot_.find(id, generation)) {
        out.push_back(std::move(*hot));
        continue;
      }
      auto f = lease->find(id, true);
      if (f) out.push_back(std::move(f->message));
    }
    // Past the last inbox row read only when the inbox had no more: rows not read may lie
    // between.
    const MessageId bound =
        ids.size() == limit ? ids.back().first : std::numeric_limits<MessageId>::max();
    while (next != unfolded.end() && out.size() < limit && (*next)->summary.id < bound) {
      out.push_back(**next++);
    }
    return out;
  }

  void recordRouting(const std::vector<RoutingOutcome>& outcomes) override {
    Work w;
    w.kind = Work::Kind::kRouting;
    w.routing = outcomes;
    runSync(std::move(w));
  }

  void submitRouting(std::vector<RoutingOutcome> outcomes, DoneCallback done) override {
    Work w;
    w.kind = Work::Kind::kRouting;
    w.routing = std::move(outcomes);
    submitAsync(std::move(w), std::move(done));
  }

  // ---- delivery ----
  std::vector<QueueItem> pendingDeliveries(std::string_view destination, std::size_t limit,
                                           std::int64_t afterQueueId) override {
    std::vector<QueueItem> out;
    if (limit == 0) return out;
    auto lease = leaseReader();
    // Where each entry's bytes are: its own payload, a transform output kept as an event of the
    // message (payload_event), or else the raw inbound message.
    struct Source {
      std::optional<std::string> payload;
      std::optional<std::int64_t> event;
      std::optional<std::int64_t> check;  // outputCheck() of the output the event holds
      int generation = 0;
    };
    std::vector<Source> sources;
    {
      Cursor c(lease->pending());
      c->bind(1, destination).bind(2, afterQueueId).bind(3, static_cast<std::int64_t>(limit));
      while (c->step()) {
        QueueItem item;
        item.queueId = c->int64(0);
        item.messageId = c->int64(1);
        item.destination = std::string(destination);
        item.attempts = c->int32(2);
        item.nextAttemptAt = c->int64(3);
        item.part = c->int32(5);
        Source source;
        if (!c->isNull(4)) source.payload = c->text(4);
        source.generation = c->int32(6);
        if (!c->isNull(7)) source.event = c->int64(7);
        if (!c->isNull(8)) source.check = c->int64(8);
        sources.push_back(std::move(source));
        out.push_back(std::move(item));
      }
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      QueueItem& item = out[i];
      Source& source = sources[i];
      if (source.event) {
        if (auto held = hot_.findOutput(item.messageId, *source.event)) source.payload = *held;
      }
      const bool rawWanted = !source.payload && !source.event;
      if (auto hot = hot_.find(item.messageId, source.generation, rawWanted)) {
        // Held since it was received; a message with a pending entry is routed.
        item.summary = std::move(hot->summary);
        item.summary.status = MessageStatus::kRouted;
        if (source.payload || rawWanted) {
          item.payload = source.payload ? std::move(*source.payload) : std::move(hot->raw);
          continue;
        }
      }
      auto f = lease->find(item.messageId, rawWanted);
      if (!f && lease->openFailed()) {
        // Not known to be lost: the worker reads the queue again after a pause.
        throw std::runtime_error(
            fmt::format("store: cannot open the day file of message {} (queue entry {})",
                        item.messageId, item.queueId));
      }
      if (f && item.summary.id == 0) item.summary = std::move(f->message.summary);
      if (source.payload) {
        item.payload = std::move(*source.payload);
      } else if (source.event) {
        std::optional<std::string> output;
        if (f) {
          Cursor c(f->partition->eventDetail);
          c->bind(1, *source.event).bind(2, item.messageId);
          if (c->step()) output = c->text(0);
        }
        // The seq may name another event now (see migration 0005): only the output it was
        // queued with is sent.
        if (output && (!source.check || outputCheck(*output) == *source.check)) {
          item.payload = std::move(*output);
        } else {
          item.unavailable = fmt::format(
              "the transform output this entry sends (event {} of message {}) is not in the "
              "message's day file",
              *source.event, item.messageId);
        }
      } else if (f) {
        item.payload = std::move(f->message.raw);
      } else {
        item.unavailable =
            fmt::format("message {} is not in the store's day files", item.messageId);
      }
      if (item.summary.id == 0) item.summary.id = item.messageId;
    }
    return out;
  }

  void recordDeliveries(const std::vector<DeliveryOutcome>& outcomes) override {
    Work w;
    w.kind = Work::Kind::kDeliveries;
    w.deliveries = outcomes;
    runSync(std::move(w));
  }

  void submitDeliveries(std::vector<DeliveryOutcome> outcomes, DoneCallback done) override {
    Work w;
    w.kind = Work::Kind::kDeliveries;
    w.deliveries = std::move(outcomes);
    submitAsync(std::move(w), std::move(done));
  }

  QueueStats queueStats(std::string_view destination) override {
    QueueStats stats;
    auto lease = leaseReader();
    Cursor c(lease->stats());
    c->bind(1, destination);
    while (c->step()) {
      const auto status = parseQueueStatus(c->text(0));
      const auto n = c->int64(1);
      if (status == QueueStatus::kPending) stats.pending = n;
      if (status == QueueStatus::kDelivered) stats.delivered = n;
      if (status == QueueStatus::kDead) stats.dead = n;
    }
    return stats;
  }

  // ---- operations ----
  std::vector<MessageSummary> search(const SearchQuery& q) override {
    std::vector<MessageSummary> out;
    if (q.limit == 0) return out;
    foldForReaders();
    auto lease = leaseReader();
    const Catalog& catalog = lease->catalog();
    // Newest partitions (by highest id) first; stop once no remaining partition can hold an id
    // above the limit-th best found so far.
    std::vector<std::pair<int, Range>> order(catalog.begin(), catalog.end());
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.second.maxId > b.second.maxId; });

    const std::string sql = searchSql(q);

    const MessageId before = q.beforeId.value_or(std::numeric_limits<MessageId>::max());
    for (const auto& [day, range] : order) {
      if (range.minId >= before) continue;
      const Millis start = dayStartMillis(day);
      if (q.from && *q.from >= start + kDayMillis) continue;
      if (q.to && *q.to <= start) continue;
      if (out.size() >= q.limit && range.maxId < out[q.limit - 1].id) break;
      ReadPartition* p = lease->partition(day);
      if (!p) continue;
      Stmt s(*p->db, sql);
      int i = 1;
      s.bind(i++, before);
      if (q.channel) s.bind(i++, *q.channel);
      if (q.messageType) s.bind(i++, *q.messageType);
      if (q.triggerEvent) s.bind(i++, *q.triggerEvent);
      if (q.controlId) s.bind(i++, *q.controlId);
      if (q.patientId) s.bind(i++, *q.patientId);
      if (q.status) s.bind(i++, toString(*q.status));
      if (q.from) s.bind(i++, *q.from);
      if (q.to) s.bind(i++, *q.to);
      s.bind(i++, static_cast<std::int64_t>(q.limit));
      while (s.step()) out.push_back(readSummary(s));
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
      if (out.size() > q.limit) out.resize(q.limit);
    }
    if (!journal_) addJournaled(q, out, lease);
    return out;
  }

  std::optional<MessageDetail> get(MessageId id) override {
    foldForReaders();
    // Every file's read transaction starts inside the lock, so they all see the same batch.
    std::shared_lock oneState(commitMutex_);
    auto lease = leaseReader();
    auto f = lease->find(id, true);
    if (!f) return journal_ ? std::nullopt : journaledDetail(id);
    MessageDetail d;
    d.message = std::move(f->message);
    {
      Cursor c(f->partition->events);
      c->bind(1, id);
      while (c->step()) {
        Event e;
        e.messageId = c->int64(0);
        e.at = c->int64(1);
        e.step = c->text(2);
        e.subject = c->text(3);
        e.outcome = c->text(4);
        e.detail = c->text(5);
        d.events.push_back(std::move(e));
      }
    }
    Cursor c(lease->queueOf());
    c->bind(1, id);
    while (c->step()) {
      QueueEntry q;
      q.queueId = c->int64(0);
      q.messageId = c->int64(1);
      q.destination = c->text(2);
      q.status = parseQueueStatus(c->text(3));
      q.attempts = c->int32(4);
      q.nextAttemptAt = c->int64(5);
      q.lastError = c->text(6);
      d.queue.push_back(std::move(q));
    }
    return d;
  }

  std::size_t reprocess(const std::vector<MessageId>& ids) override {
    Work w;
    w.kind = Work::Kind::kReprocess;
    w.ids = ids;
    return runSync(std::move(w));
  }

  std::size_t reprocessDeadLetters(std::string_view destination) override {
    Work w;
    w.kind = Work::Kind::kReprocessDead;
    w.destination = std::string(destination);
    return runSync(std::move(w));
  }

  std::size_t applyRetention(Millis now) override {
    Work w;
    w.kind = Work::Kind::kRetention;
    w.now = now;
    return runSync(std::move(w));
  }

  // ---- X12 control numbers ----
  std::int64_t reserveControlNumbers(std::string_view partner, std::string_view kind,
                                     int count) override {
    checkControlNumberKey(partner, kind);
    if (count < 1 || count > kMaxControlNumber) {
      throw std::invalid_argument(fmt::format("store: cannot reserve {} control numbers (1 to {})",
                                              count, kMaxControlNumber));
    }
    Work w;
    w.kind = Work::Kind::kControlNumbers;
    w.partner = std::string(partner);
    w.controlKind = std::string(kind);
    w.count = count;
    return static_cast<std::int64_t>(runSync(std::move(w)));
  }

  void setNextControlNumber(std::string_view partner, std::string_view kind,
                            std::int64_t next) override {
    checkControlNumberKey(partner, kind);
    if (next < 1 || next > kMaxControlNumber) {
      throw std::invalid_argument(fmt::format("store: next {} control number {} is outside 1 to {}",
                                              kind, next, kMaxControlNumber));
    }
    Work w;
    w.kind = Work::Kind::kControlNumbers;
    w.partner = std::string(partner);
    w.controlKind = std::string(kind);
    w.count = 0;
    w.next = next;
    runSync(std::move(w));
  }

  void close() override {
    std::lock_guard closing(closeMutex_);
    // The journal thread goes first: it appends and hands over what it was given (asking the
    // writer for ids or handing work to it on the way), then the writer folds everything.
    {
      std::lock_guard lock(journalMutex_);
      journalClosed_ = true;
    }
    journalCv_.notify_all();
    if (journalThread_.joinable()) journalThread_.join();
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(checkpointMutex_);
      checkpointStop_ = true;
    }
    checkpointCv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
    if (main_) {
      // Closing every connection checkpoints and removes the -wal/-shm files when this is the
      // last connection, leaving a clean directory behind.
      parts_.clear();
      for (Stmt* stmt :
           {&mainBegin_,          &mainCommit_,      &dataVersion_,     &getNextId_,
            &setNextId_,          &upsertPartition_, &deletePartition_, &insertToRoute_,
            &selectToRoute_,      &deleteToRoute_,   &insertQueue_,     &markDelivered_,
            &markRetry_,          &markDead_,        &countByStatus_,   &deadOf_,
            &deleteQueue_,        &requeue_,         &pendingInRange_,  &deleteQueueRange_,
            &deleteToRouteRange_, &deleteQueueOf_,   &deleteToRouteOf_, &selectControl_,
            &upsertControl_,      &getReserved_,     &setReserved_}) {
        *stmt = Stmt();  // finalized, so the connection really closes now
      }
      main_.reset();
    }
    std::lock_guard lock(readerMutex_);
    readers_.clear();
  }

 private:
  // ---------------------------------------------------------------- journal, other processes
  // A process that does not own the ingest journal (the CLI next to the running engine) reads
  // it too, so a message is searchable as soon as its sender has the acknowledgement, not only
  // after the engine's next fold. Records already folded are found in SQLite and skipped.
  static bool journaledMatches(const SearchQuery& q, MessageId id, const InboundRecord& r) {
    if (r.status == MessageStatus::kRejected) return false;  // never journaled; defensive
    if (q.beforeId && id >= *q.beforeId) return false;
    if (q.channel && *q.channel != r.channel) return false;
    if (q.messageType && *q.messageType != r.messageType) return false;
    if (q.triggerEvent && *q.triggerEvent != r.triggerEvent) return false;
    if (q.controlId && *q.controlId != r.controlId) return false;
    if (q.patientId && *q.patientId != r.patientId) return false;
    if (q.status && *q.status != MessageStatus::kReceived) return false;
    if (q.from && r.receivedAt < *q.from) return false;
    if (q.to && r.receivedAt >= *q.to) return false;
    return true;
  }

  static MessageSummary journaledSummary(MessageId id, const InboundRecord& r) {
    MessageSummary m;
    m.id = id;
    m.channel = r.channel;
    m.peer = r.peer;
    m.receivedAt = r.receivedAt;
    m.messageType = r.messageType;
    m.triggerEvent = r.triggerEvent;
    m.controlId = r.controlId;
    m.patientId = r.patientId;
    m.sendingApplication = r.sendingApplication;
    m.sendingFacility = r.sendingFacility;
    m.status = MessageStatus::kReceived;
    m.sizeBytes = static_cast<std::int64_t>(r.raw.size());
    return m;
  }

  std::vector<std::pair<MessageId, InboundRecord>> readJournalFile() const {
    try {
      return IngestJournal::readFile(options_.dataDir);
    } catch (const std::exception& e) {
      sb::log::at(sb::log::Level::kDebug, kLog, "ingest journal not readable: {}", e.what());
      return {};
    }
  }

  template <typename LeaseT>
  void addJournaled(const SearchQuery& q, std::vector<MessageSummary>& out, LeaseT& lease) {
    bool added = false;
    for (const auto& [id, r] : readJournalFile()) {
      if (!journaledMatches(q, id, r)) continue;
      if (std::any_of(out.begin(), out.end(), [&](const auto& m) { return m.id == id; })) continue;
      if (lease->find(id, false)) continue;  // folded meanwhile
      out.push_back(journaledSummary(id, r));
      added = true;
    }
    if (!added) return;
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
    if (out.size() > q.limit) out.resize(q.limit);
  }

  std::optional<MessageDetail> journaledDetail(MessageId id) const {
    for (auto& [jid, r] : readJournalFile()) {
      if (jid != id || r.status == MessageStatus::kRejected) continue;
      MessageDetail d;
      d.message.summary = journaledSummary(jid, r);
      d.message.raw = std::move(r.raw);
      return d;
    }
    return std::nullopt;
  }

  // ---------------------------------------------------------------- plumbing
  std::string unavailableReason() const {
    return options_.readOnly ? "store: opened read-only" : "store: closed";
  }

  // Queues work for the writer; false when the store cannot take it.
  bool enqueue(Work& w) {
    if (options_.readOnly) return false;
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      queuedWeight_ += w.weight();
      queue_.push_back(std::move(w));
      // Wake an idle writer at once; a gathering writer only when the batch is full.
      wake = writerIdle_ || (writerGathering_ && queuedWeight_ >= maxBatch_);
    }
    if (wake) cv_.notify_one();
    return true;
  }

  void submitAsync(Work w, DoneCallback done) {
    w.finished = std::move(done);
    if (!enqueue(w) && w.finished) {
      w.finished(std::make_exception_ptr(std::runtime_error(unavailableReason())));
    }
  }

  std::size_t runSync(Work w) {
    w.promise = std::make_shared<std::promise<std::size_t>>();
    auto f = w.promise->get_future();
    if (!enqueue(w)) throw std::runtime_error(unavailableReason());
    return f.get();
  }

  // Readers of this process see every message acknowledged before the call: whatever the
  // journal holds is folded into SQLite first. Other processes see it within the fold delay.
  void foldForReaders() {
    if (unfoldedCount_.load(std::memory_order_acquire) == 0) return;
    // A commit callback (on the writer thread) must not wait for the writer.
    if (std::this_thread::get_id() == writer_.get_id()) return;
    Work w;
    w.kind = Work::Kind::kFold;
    try {
      runSync(std::move(w));
    } catch (const std::exception& e) {
      // A closed store or a failing disk: read what SQLite has.
      sb::log::at(sb::log::Level::kDebug, kLog, "fold before read: {}", e.what());
    }
  }

  class Lease {
   public:
    Lease(SqliteStore& store, std::unique_ptr<ReadContext> ctx)
        : store_(store), ctx_(std::move(ctx)) {
      ctx_->beginOp(store_.epoch_.load());
    }
    ~Lease() {
      ctx_->endOp();
      std::lock_guard lock(store_.readerMutex_);
      store_.readers_.push_back(std::move(ctx_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ReadContext* operator->() { return ctx_.get(); }

   private:
    SqliteStore& store_;
    std::unique_ptr<ReadContext> ctx_;
  };

  Lease leaseReader() {
    {
      std::lock_guard lock(readerMutex_);
      if (!readers_.empty()) {
        auto ctx = std::move(readers_.back());
        readers_.pop_back();
        return Lease(*this, std::move(ctx));
      }
    }
    return Lease(*this, std::make_unique<ReadContext>(options_.dataDir, options_.readOnly));
  }

  // ---------------------------------------------------------------- writer connections
  void prepareMain() {
    Db& m = *main_;
    mainBegin_ = Stmt(m, "BEGIN IMMEDIATE");
    mainCommit_ = Stmt(m, "COMMIT");
    dataVersion_ = Stmt(m, "PRAGMA data_version");
    getNextId_ = Stmt(m, "SELECT value FROM meta WHERE key = 'next_message_id'");
    getReserved_ = Stmt(m, "SELECT value FROM meta WHERE key = 'journal_reserved_until'");
    setReserved_ = Stmt(m,
                        "INSERT INTO meta (key, value) VALUES ('journal_reserved_until', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    setNextId_ = Stmt(m, "UPDATE meta SET value = ? WHERE key = 'next_message_id'");
    upsertPartition_ = Stmt(m,
                            "INSERT INTO partitions (day, file, min_id, max_id) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
                            "min_id = min(min_id, excluded.min_id), "
                            "max_id = max(max_id, excluded.max_id)");
    deletePartition_ = Stmt(m, "DELETE FROM partitions WHERE day = ?");
    insertToRoute_ =
        Stmt(m, "INSERT OR REPLACE INTO to_route (message_id, generation) VALUES (?, ?)");
    selectToRoute_ = Stmt(m, "SELECT generation FROM to_route WHERE message_id = ?");
    deleteToRoute_ = Stmt(m, "DELETE FROM to_route WHERE message_id = ? AND generation <= ?");
    insertQueue_ = Stmt(m,
                        "INSERT OR IGNORE INTO queue (message_id, destination, generation, "
                        "status, attempts, next_attempt_at, last_error, payload, part, "
                        "payload_event, payload_check) VALUES (?, ?, ?, 'pending', 0, 0, '', ?, "
                        "?, ?, ?)");
    markDelivered_ = Stmt(m,
                          "UPDATE queue SET status = 'delivered', attempts = attempts + 1, "
                          "last_error = '', payload = NULL "
                          "WHERE queue_id = ? AND status = 'pending' "
                          "RETURNING message_id, destination");
    markRetry_ = Stmt(m,
                      "UPDATE queue SET attempts = attempts + 1, next_attempt_at = ?, "
                      "last_error = ? WHERE queue_id = ? AND status = 'pending' "
                      "RETURNING message_id, destination");
    markDead_ = Stmt(m,
                     "UPDATE queue SET status = 'dead', attempts = attempts + 1, "
                     "last_error = ? WHERE queue_id = ? AND status = 'pending' "
                     "RETURNING message_id, destination");
    countByStatus_ = Stmt(m,
                          "SELECT status, count(*) FROM queue WHERE message_id = ? AND "
                          "generation = ? GROUP BY status");
    deadOf_ = Stmt(m,
                   "SELECT queue_id, message_id, generation, payload, part, payload_event, "
                   "payload_check FROM queue WHERE destination = ? AND status = 'dead' "
                   "ORDER BY queue_id");
    deleteQueue_ = Stmt(m, "DELETE FROM queue WHERE queue_id = ?");
    requeue_ = Stmt(m,
                    "INSERT INTO queue (message_id, destination, generation, status, attempts, "
                    "next_attempt_at, last_error, payload, part, payload_event, payload_check) "
                    "VALUES (?, ?, ?, 'pending', 0, 0, '', ?, ?, ?, ?)");
    pendingInRange_ = Stmt(m,
                           "SELECT message_id FROM queue WHERE status = 'pending' AND "
                           "message_id BETWEEN ? AND ?");
    deleteQueueRange_ = Stmt(m, "DELETE FROM queue WHERE message_id BETWEEN ? AND ?");
    deleteToRouteRange_ = Stmt(m, "DELETE FROM to_route WHERE message_id BETWEEN ? AND ?");
    deleteQueueOf_ = Stmt(m, "DELETE FROM queue WHERE message_id = ?");
    deleteToRouteOf_ = Stmt(m, "DELETE FROM to_route WHERE message_id = ?");
    selectControl_ = Stmt(m, "SELECT next FROM control_numbers WHERE partner = ? AND kind = ?");
    upsertControl_ = Stmt(m,
                          "INSERT INTO control_numbers (partner, kind, next) VALUES (?, ?, ?) "
                          "ON CONFLICT (partner, kind) DO UPDATE SET next = excluded.next");
  }

  // Opens (creating and migrating when `create`) a day's file on the writer side.
  WritePartition* openPartition(int day, bool create) {
    auto it = parts_.find(day);
    if (it == parts_.end()) {
      const auto path = options_.dataDir / partitionFileName(day);
      if (!create && !std::filesystem::exists(path)) return nullptr;
      auto p = std::make_unique<WritePartition>();
      p->day = day;
      {
        // Another writing process (the CLI's reprocess, a second engine's fold) may be
        // creating the same day's file right now.
        SetupLock setup(options_.dataDir, SetupLock::Kind::kExclusive);
        p->db = std::make_unique<Db>(path, Db::Mode::kCreate);
        configureConnection(*p->db, options_.durability, true);
      }
      p->wal = WalTarget{this, day};
      sqlite3_wal_hook(p->db->handle(), onWalCommit, &p->wal);
      migrate(*p->db, SchemaTarget::kPartition);
      Db& d = *p->db;
      p->begin = Stmt(d, "BEGIN IMMEDIATE");
      p->commit = Stmt(d, "COMMIT");
      // OR IGNORE: a fold retried after a batch whose day file committed and whose main.db
      // commit failed finds its messages there already (same ids, same records).
      p->insertMessage = Stmt(d,
                              "INSERT OR IGNORE INTO messages (id, channel, peer, received_at, "
                              "message_type, trigger_event, control_id, patient_id, "
                              "sending_application, sending_facility, status, error, "
                              "size_bytes, generation) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)");
      p->insertBody = Stmt(d, "INSERT OR IGNORE INTO bodies (id, raw) VALUES (?, ?)");
      p->insertEvent = Stmt(d,
                            "INSERT INTO events (message_id, at, step, subject, outcome, "
                            "detail) VALUES (?, ?, ?, ?, ?, ?)");
      p->state = Stmt(d, "SELECT generation, status FROM messages WHERE id = ?");
      p->setStatus = Stmt(d, "UPDATE messages SET status = ?, error = ? WHERE id = ?");
      p->bumpGeneration = Stmt(d,
                               "UPDATE messages SET status = 'received', error = '', "
                               "generation = generation + 1 WHERE id = ? RETURNING generation");
      p->ids = Stmt(d, "SELECT id FROM messages");
      p->minMax = Stmt(d, "SELECT min(id), max(id) FROM messages");
      p->received = Stmt(d, "SELECT id, generation FROM messages WHERE status = 'received'");
      p->routed = Stmt(d, "SELECT id, generation FROM messages WHERE status = 'routed'");
      it = parts_.emplace(day, std::move(p)).first;
    }
    it->second->lastUse = ++clock_;
    return it->second.get();
  }

  void beginPartition(WritePartition& p) {
    if (p.inTxn) return;
    p.begin.reset().run();
    p.inTxn = true;
  }

  // Closes the least recently used partition connections, never one inside a transaction
  // (closing it would roll the transaction back).
  void trimPartitions() {
    while (parts_.size() > kMaxOpenPartitions) {
      auto oldest = parts_.end();
      for (auto it = parts_.begin(); it != parts_.end(); ++it) {
        if (it->second->inTxn) continue;
        if (oldest == parts_.end() || it->second->lastUse < oldest->second->lastUse) oldest = it;
      }
      if (oldest == parts_.end()) return;
      parts_.erase(oldest);
    }
  }

  struct Located {
    WritePartition* partition = nullptr;
    int generation = 0;
    MessageStatus status = MessageStatus::kReceived;
  };
  // Finds the partition holding a message, and its current generation and status.
  std::optional<Located> locate(MessageId id) {
    for (int day : candidateDays(catalog_, id)) {
      WritePartition* p = openPartition(day, false);
      if (!p) continue;
      beginPartition(*p);  // reads inside the batch transaction take no extra file locks
      Cursor c(p->state);
      c->bind(1, id);
      if (!c->step()) continue;
      return Located{p, c->int32(0),
                     parseMessageStatus(c->text(1)).value_or(MessageStatus::kError)};
    }
    return std::nullopt;
  }

  // Returns the event's seq.
  std::int64_t addEvent(WritePartition& p, MessageId id, Millis at, std::string_view step,
                        std::string_view subject, std::string_view outcome,
                        std::string_view detail) {
    beginPartition(p);
    p.insertEvent.reset()
        .bind(1, id)
        .bind(2, at)
        .bind(3, step)
        .bind(4, subject)
        .bind(5, outcome)
        .bind(6, detail)
        .run();
    return p.db->lastInsertRowid();
  }

  void setStatus(WritePartition& p, MessageId id, MessageStatus status, std::string_view error) {
    beginPartition(p);
    p.setStatus.reset().bind(1, toString(status)).bind(2, error).bind(3, id).run();
  }

  // Derives a routed message's status from its current-generation queue entries.
  void refreshStatus(MessageId id, std::optional<Located> loc = std::nullopt) {
    if (!loc) loc = locate(id);
    if (!loc) return;
    if (loc->status != MessageStatus::kRouted && loc->status != MessageStatus::kDelivered &&
        loc->status != MessageStatus::kError) {
      return;  // waiting for routing again (reprocessed), or never routed
    }
    std::int64_t pending = 0, delivered = 0, dead = 0;
    {
      Cursor c(countByStatus_);
      c->bind(1, id).bind(2, std::int64_t{loc->generation});
      while (c->step()) {
        const auto s = parseQueueStatus(c->text(0));
        if (s == QueueStatus::kPending) pending = c->int64(1);
        if (s == QueueStatus::kDelivered) delivered = c->int64(1);
        if (s == QueueStatus::kDead) dead = c->int64(1);
      }
    }
    if (pending + delivered + dead == 0) return;  // a routing error with nothing queued
    const MessageStatus next = dead > 0       ? MessageStatus::kError
                               : pending == 0 ? MessageStatus::kDelivered
                                              : MessageStatus::kRouted;
    if (next != loc->status) setStatus(*loc->partition, id, next, "");
    if (next != MessageStatus::kRouted) hot_.erase(id);  // at its end: no reader wants it now
  }

  // ---------------------------------------------------------------- transactions
  void beginMain() {
    mainBegin_.reset().run();
    std::int64_t v = 0;
    {
      Cursor c(dataVersion_);
      c->step();
      v = c->int64(0);
    }
    // Another process committed (CLI reprocess, or a previous batch of ours was rolled back):
    // the cached catalog and id counter may be stale.
    if (v != mainVersion_) {
      reloadMainState();
      mainVersion_ = v;
    }
  }

  void reloadMainState() {
    catalog_ = loadCatalog(*main_);
    persisted_ = catalog_;
    MessageId next = 1;
    {
      Cursor c(getNextId_);
      if (c->step()) next = c->int64(0);
    }
    // Ids the journal's owner reserved are not ours to hand out, unless we are that owner (the
    // lock says the previous owner is gone, or it is this instance).
    if (!journal_) {
      Cursor c(getReserved_);
      if (c->step()) next = std::max(next, c->int64(0));
    }
    for (const auto& [day, r] : catalog_) next = std::max(next, r.maxId + 1);
    // The frontier day's range in main.db may lag behind its file (see commitAll); opening it
    // here folds its real range in below.
    if (const int frontier = frontierDay(catalog_); frontier != 0) openPartition(frontier, false);
    // Partitions committed before a failed main.db commit may hold ids main.db never saw.
    for (auto& [day, p] : parts_) {
      Cursor c(p->minMax);
      if (!c->step() || c->isNull(1)) continue;
      next = std::max(next, c->int64(1) + 1);
      // Only days main.db knows: a file another process dropped may still be open here.
      auto it = catalog_.find(day);
      if (it == catalog_.end()) continue;
      it->second.minId = std::min(it->second.minId, c->int64(0));
      it->second.maxId = std::max(it->second.maxId, c->int64(1));
    }
    // The counter only moves forward: ids the journal thread took may be in no file yet.
    raiseNextId(next);
  }

  // Whether this batch must write the catalog and the id counter to main.db. Appending to the
  // frontier day only moves its max_id and the counter, which readers and the open-time repair
  // can do without (ids above every range are looked up in the frontier day, and the counter is
  // moved past the highest id in the files), so that is written only every kCatalogLag ids.
  // Anything else (a new day, a lower min_id, another day growing) is written at once, together
  // with every lagging range, so the frontier rule stays true for readers.
  bool catalogMustBeWritten() const {
    if (dirtyDays_.empty()) return false;
    const int frontier = frontierDay(persisted_);
    for (int day : dirtyDays_) {
      const auto p = persisted_.find(day);
      if (p == persisted_.end() || day != frontier) return true;
      const Range& r = catalog_.at(day);
      if (r.minId < p->second.minId || r.maxId - p->second.maxId >= kCatalogLag) return true;
    }
    return false;
  }

  void writeCatalog() {
    for (const auto& [day, r] : catalog_) {
      const auto p = persisted_.find(day);
      if (p != persisted_.end() && p->second.minId == r.minId && p->second.maxId == r.maxId) {
        continue;
      }
      upsertPartition_.reset()
          .bind(1, std::int64_t{day})
          .bind(2, partitionFileName(day))
          .bind(3, r.minId)
          .bind(4, r.maxId)
          .run();
    }
    setNextId_.reset().bind(1, nextId_.load(std::memory_order_relaxed)).run();
  }

  // Partitions first, main.db after them: main.db must never reference rows that did not
  // commit.
  void commitPartitions() {
    for (auto& [day, p] : parts_) {
      if (!p->inTxn) continue;
      p->commit.reset().run();
      p->inTxn = false;
    }
  }

  void commitAll() {
    std::unique_lock oneState(commitMutex_);
    commitPartitions();
    // The events are committed: the senders may have them from memory. Before main.db's commit,
    // so that no sender finds a queue entry whose output is not held yet (were main.db's commit
    // to fail, the outputs held stay unused until their message leaves).
    for (auto& [id, event, output] : heldOutputs_) hot_.addOutput(id, event, std::move(output));
    heldOutputs_.clear();
    const bool writeRanges = catalogMustBeWritten();
    if (writeRanges) writeCatalog();
    mainCommit_.reset().run();
    if (writeRanges) persisted_ = catalog_;
    dirtyDays_.clear();
  }

  void rollbackAll() {
    for (auto& [day, p] : parts_) {
      if (!p->inTxn) continue;
      try {
        p->db->exec("ROLLBACK");
      } catch (const std::exception&) {
        // SQLite rolls back by itself on some errors; nothing is left to undo then.
      }
      p->inTxn = false;
    }
    if (main_->inTransaction()) {
      try {
        main_->exec("ROLLBACK");
      } catch (const std::exception&) {
        // As above.
      }
    }
    dirtyDays_.clear();
    coalesced_.clear();
    heldOutputs_.clear();
    mainVersion_ = -1;  // reload the catalog and id counter before the next batch
  }

  // ---------------------------------------------------------------- applying work
  void apply(Work& w) {
    switch (w.kind) {
      case Work::Kind::kIngest:
        applyIngest(w);
        break;
      case Work::Kind::kRouting:
        for (const auto& o : w.routing) applyRouting(o);
        break;
      case Work::Kind::kDeliveries:
        for (const auto& o : w.deliveries) applyDelivery(o);
        break;
      case Work::Kind::kReprocess:
        w.result = applyReprocess(w.ids);
        break;
      case Work::Kind::kReprocessDead:
        w.result = applyReprocessDead(w.destination);
        break;
      case Work::Kind::kRetention:
        break;  // runs on its own, see runRetention
      case Work::Kind::kControlNumbers:
        break;  // runs in batches of its own, see executeControlNumbers
      case Work::Kind::kFold:
        break;  // the writer loop folds before a batch
      case Work::Kind::kReserveIds:
        w.result = static_cast<std::size_t>(reserveIdBlock());
        break;
    }
  }

  // Inserts an inbound message. `routing`: its routing outcome, recorded in the same
  // transaction (see executeBatch): the message goes in with its routed status and never into
  // the routing inbox.
  void applyIngest(Work& w, const RoutingOutcome* routing = nullptr) {
    const MessageId id =
        w.journaled ? w.assignedId : nextId_.fetch_add(1, std::memory_order_relaxed);
    if (w.stored) {
      insertMessage(w, id, inboundView(w.stored->summary, w.stored->raw), routing);
    } else {
      insertMessage(w, id, inboundView(w.record, w.record.raw), routing);
    }
    w.assignedId = id;
  }

  // What the messages and bodies rows of an inbound message are written from: the record as a
  // listener committed it, or the message it became when it was handed to the writer.
  struct InboundView {
    Millis receivedAt;
    std::string_view channel, peer, messageType, triggerEvent, controlId, patientId,
        sendingApplication, sendingFacility, error, raw;
  };
  template <typename Fields>
  static InboundView inboundView(const Fields& f, std::string_view raw) {
    return {f.receivedAt,      f.channel,   f.peer,      f.messageType,
            f.triggerEvent,    f.controlId, f.patientId, f.sendingApplication,
            f.sendingFacility, f.error,     raw};
  }

  void insertMessage(const Work& w, MessageId id, const InboundView& m,
                     const RoutingOutcome* routing) {
    const int day = utcDay(m.receivedAt);
    WritePartition* p = openPartition(day, true);
    beginPartition(*p);
    const MessageStatus status = routing ? routing->status
                                 : w.record.status == MessageStatus::kRejected
                                     ? MessageStatus::kRejected
                                     : MessageStatus::kReceived;
    p->insertMessage.reset()
        .bind(1, id)
        .bind(2, m.channel)
        .bind(3, m.peer)
        .bind(4, m.receivedAt)
        .bind(5, m.messageType)
        .bind(6, m.triggerEvent)
        .bind(7, m.controlId)
        .bind(8, m.patientId)
        .bind(9, m.sendingApplication)
        .bind(10, m.sendingFacility)
        .bind(11, toString(status))
        .bind(12, routing ? std::string_view(routing->error) : m.error)
        .bind(13, static_cast<std::int64_t>(m.raw.size()))
        .run();
    p->insertBody.reset().bind(1, id).bindBlob(2, m.raw).run();
    if (routing) {
      coalesced_.emplace(id, p);
    } else if (status == MessageStatus::kReceived) {
      insertToRoute_.reset().bind(1, id).bind(2, std::int64_t{0}).run();
    }
    auto [it, inserted] = catalog_.try_emplace(day, Range{id, id});
    if (!inserted) {
      it->second.minId = std::min(it->second.minId, id);
      it->second.maxId = std::max(it->second.maxId, id);
    }
    dirtyDays_.insert(day);
  }

  void applyRouting(const RoutingOutcome& o) {
    // Inserted by this batch's fold together with this outcome (status and all): what is left
    // is its events and queue entries.
    if (auto c = coalesced_.find(o.messageId); c != coalesced_.end()) {
      WritePartition& p = *c->second;
      coalesced_.erase(c);
      recordRoute(p, o, true);
      return;
    }
    auto loc = locate(o.messageId);
    if (!loc) {
      sb::log::at(sb::log::Level::kWarn, kLog, "routing for unknown message {} ignored",
                  o.messageId);
      return;
    }
    // Taken out of the inbox first; a newer generation (reprocessed meanwhile) stays in it.
    deleteToRoute_.reset().bind(1, o.messageId).bind(2, std::int64_t{o.generation}).run();
    const bool wasInInbox = main_->changes() > 0;
    const bool current = o.generation == loc->generation;
    // Already recorded (the same outcome submitted twice): nothing left to do.
    if (current && !wasInInbox && loc->status != MessageStatus::kReceived) return;
    recordRoute(*loc->partition, o, current);
    if (current) {
      setStatus(*loc->partition, o.messageId, o.status, o.error);
      if (o.status == MessageStatus::kRouted && !o.enqueue.empty()) {
        hot_.routed(o.messageId);
      } else {
        hot_.erase(o.messageId);
      }
    }
  }

  // A routing outcome's events, and its queue entries when it routed the current generation.
  void recordRoute(WritePartition& p, const RoutingOutcome& o, bool current) {
    const Millis at = nowMillis();
    for (const auto& d : o.decisions) {
      addEvent(p, o.messageId, at, d.matched ? "route" : "filter", d.route,
               d.matched ? "matched" : "filtered", d.reason);
    }
    // The steps' events: an output queued unchanged is sent from its event (migration 0005).
    struct StepEvent {
      std::int64_t seq;
      const std::string* output;
      std::optional<std::int64_t> check;  // set when the output is first queued
    };
    std::vector<StepEvent> stepEvents;
    for (const auto& step : o.steps) {
      stepEvents.push_back(
          {addEvent(p, o.messageId, at, "transform", step.route, step.script, step.output),
           &step.output, std::nullopt});
    }
    if (!o.error.empty()) addEvent(p, o.messageId, at, "error", "", "error", o.error);
    if (!current) return;
    // Outputs for the same destination are numbered in the order they were produced.
    std::map<std::string_view, std::int64_t> parts;
    for (const auto& e : o.enqueue) {
      // Latest step first: the final output is the one usually queued.
      StepEvent* event = nullptr;
      for (auto it = stepEvents.rbegin(); e.payload && it != stepEvents.rend(); ++it) {
        if (*it->output == *e.payload) {
          event = &*it;
          break;
        }
      }
      auto& s = insertQueue_.reset()
                    .bind(1, o.messageId)
                    .bind(2, e.destination)
                    .bind(3, std::int64_t{o.generation});
      if (e.payload && !event) {
        s.bindBlob(4, *e.payload);
      } else {
        s.bindNull(4);
      }
      s.bind(5, parts[e.destination]++);
      if (event) {
        if (!event->check) {
          // Checked and held for the senders once, however many destinations send it.
          event->check = outputCheck(*event->output);
          heldOutputs_.emplace_back(o.messageId, event->seq,
                                    std::make_shared<const std::string>(*event->output));
        }
        s.bind(6, event->seq).bind(7, *event->check);
      } else {
        s.bindNull(6).bindNull(7);
      }
      s.run();
    }
  }

  void applyDelivery(const DeliveryOutcome& o) {
    // Only a pending entry changes, so an attempt recorded twice counts once.
    MessageId messageId = 0;
    std::string destination;
    {
      Cursor c(o.result == DeliveryResult::kDelivered ? markDelivered_
               : o.result == DeliveryResult::kRetry   ? markRetry_
                                                      : markDead_);
      switch (o.result) {
        case DeliveryResult::kDelivered:
          c->bind(1, o.queueId);
          break;
        case DeliveryResult::kRetry:
          c->bind(1, o.nextAttemptAt).bind(2, o.error).bind(3, o.queueId);
          break;
        case DeliveryResult::kDead:
          c->bind(1, o.error).bind(2, o.queueId);
          break;
      }
      if (!c->step()) return;  // unknown or no longer pending
      messageId = c->int64(0);
      destination = c->text(1);
    }
    auto loc = locate(messageId);
    if (!loc) return;
    const std::string_view outcome = o.result == DeliveryResult::kDelivered ? "delivered"
                                     : o.result == DeliveryResult::kRetry   ? "retry"
                                                                            : "dead";
    addEvent(*loc->partition, messageId, o.at != 0 ? o.at : nowMillis(), "deliver", destination,
             outcome, eventDetail(o.response, o.error));
    refreshStatus(messageId, loc);
  }

  std::size_t applyReprocess(const std::vector<MessageId>& ids) {
    std::size_t found = 0;
    const Millis at = nowMillis();
    for (MessageId id : ids) {
      auto loc = locate(id);
      if (!loc) continue;
      WritePartition& p = *loc->partition;
      beginPartition(p);
      std::int64_t generation = 0;
      {
        Cursor c(p.bumpGeneration);
        c->bind(1, id);
        c->step();
        generation = c->int64(0);
      }
      insertToRoute_.reset().bind(1, id).bind(2, generation).run();
      hot_.erase(id);
      addEvent(p, id, at, "reprocess", "", "reprocessed", fmt::format("generation {}", generation));
      ++found;
    }
    return found;
  }

  std::size_t applyReprocessDead(const std::string& destination) {
    struct Dead {
      std::int64_t queueId;
      MessageId messageId;
      std::int64_t generation;
      std::optional<std::string> payload;
      std::int64_t part;
      std::optional<std::int64_t> payloadEvent;
      std::optional<std::int64_t> payloadCheck;
    };
    std::vector<Dead> dead;
    {
      Cursor c(deadOf_);
      c->bind(1, destination);
      while (c->step()) {
        dead.push_back(
            Dead{c->int64(0), c->int64(1), c->int64(2),
                 c->isNull(3) ? std::nullopt : std::optional<std::string>(c->text(3)), c->int64(4),
                 c->isNull(5) ? std::nullopt : std::optional<std::int64_t>(c->int64(5)),
                 c->isNull(6) ? std::nullopt : std::optional<std::int64_t>(c->int64(6))});
      }
    }
    const Millis at = nowMillis();
    std::set<MessageId> touched;
    for (const auto& d : dead) {
      // Delete first: the new row has the same (message, destination, generation) identity.
      deleteQueue_.reset().bind(1, d.queueId).run();
      auto& s = requeue_.reset().bind(1, d.messageId).bind(2, destination).bind(3, d.generation);
      if (d.payload) {
        s.bindBlob(4, *d.payload);
      } else {
        s.bindNull(4);
      }
      s.bind(5, d.part);
      if (d.payloadEvent) {
        s.bind(6, *d.payloadEvent);
      } else {
        s.bindNull(6);
      }
      if (d.payloadCheck) {
        s.bind(7, *d.payloadCheck);
      } else {
        s.bindNull(7);
      }
      s.run();
      if (auto loc = locate(d.messageId)) {
        addEvent(*loc->partition, d.messageId, at, "reprocess", destination, "requeued",
                 "dead letter queued again");
      }
      touched.insert(d.messageId);
    }
    for (MessageId id : touched) refreshStatus(id);
    return dead.size();
  }

  // Drops whole day files older than the retention, in its own transaction.
  std::size_t runRetention(Millis now) {
    if (options_.retentionDays <= 0) return 0;
    const Millis cutoff = now - static_cast<Millis>(options_.retentionDays) * kDayMillis;
    std::vector<int> dropped;
    beginMain();
    try {
      const Catalog snapshot = catalog_;
      for (const auto& [day, range] : snapshot) {
        if (dayStartMillis(day) + kDayMillis > cutoff) break;  // catalog is ordered by day
        WritePartition* p = openPartition(day, false);
        if (p && holdsPending(*p, range)) {
          sb::log::at(sb::log::Level::kInfo, kLog,
                      "retention keeps partition {}: it holds pending deliveries", day);
          continue;
        }
        bool overlaps = false;
        for (const auto& [other, r] : catalog_) {
          if (other != day && r.minId <= range.maxId && r.maxId >= range.minId) overlaps = true;
        }
        if (!overlaps) {
          deleteQueueRange_.reset().bind(1, range.minId).bind(2, range.maxId).run();
          deleteToRouteRange_.reset().bind(1, range.minId).bind(2, range.maxId).run();
        } else if (p) {
          // Another day shares part of the id range: delete exactly this file's messages.
          std::vector<MessageId> ids;
          {
            Cursor c(p->ids);
            while (c->step()) ids.push_back(c->int64(0));
          }
          for (MessageId id : ids) {
            deleteQueueOf_.reset().bind(1, id).run();
            deleteToRouteOf_.reset().bind(1, id).run();
          }
        }
        deletePartition_.reset().bind(1, std::int64_t{day}).run();
        catalog_.erase(day);
        persisted_.erase(day);
        dropped.push_back(day);
      }
      mainCommit_.reset().run();
    } catch (...) {
      rollbackAll();
      throw;
    }
    for (int day : dropped) {
      parts_.erase(day);
      const auto base = options_.dataDir / partitionFileName(day);
      std::error_code ec;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(base.string() + suffix, ec);
      }
    }
    if (!dropped.empty()) {
      epoch_.fetch_add(1);
      sb::log::at(sb::log::Level::kInfo, kLog, "retention dropped {} partition(s)", dropped.size());
    }
    return dropped.size();
  }

  bool holdsPending(WritePartition& p, const Range& range) {
    std::vector<MessageId> pending;
    {
      Cursor c(pendingInRange_);
      c->bind(1, range.minId).bind(2, range.maxId);
      while (c->step()) pending.push_back(c->int64(0));
    }
    for (MessageId id : pending) {
      Cursor c(p.state);
      c->bind(1, id);
      if (c->step()) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- open-time repair
  // Makes main.db agree with the partition files after a crash between the partition and
  // main.db commits: every file is in the catalog with its id range, the id counter is past
  // every stored id, and every message still in status received is in the routing inbox.
  void reconcile() {
    static const std::regex kName(R"(messages-(\d{8})\.db)");
    std::vector<int> days;
    for (const auto& entry : std::filesystem::directory_iterator(options_.dataDir)) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, m, kName)) days.push_back(std::stoi(m[1].str()));
    }
    std::sort(days.begin(), days.end());
    beginMain();
    try {
      const std::set<int> present(days.begin(), days.end());
      for (const auto& [day, r] : Catalog(catalog_)) {
        if (!present.count(day)) {
          deletePartition_.reset().bind(1, std::int64_t{day}).run();
          catalog_.erase(day);
        }
      }
      std::size_t requeued = 0;
      std::size_t rerouted = 0;
      for (int day : days) {
        WritePartition* p = openPartition(day, false);
        if (!p) continue;
        {
          Cursor c(p->minMax);
          if (c->step() && !c->isNull(0)) {
            auto [it, inserted] = catalog_.try_emplace(day, Range{c->int64(0), c->int64(1)});
            if (!inserted) {
              it->second.minId = std::min(it->second.minId, c->int64(0));
              it->second.maxId = std::max(it->second.maxId, c->int64(1));
            }
            raiseNextId(it->second.maxId + 1);
            dirtyDays_.insert(day);
          }
        }
        std::vector<std::pair<MessageId, std::int64_t>> received;
        {
          Cursor c(p->received);
          while (c->step()) received.emplace_back(c->int64(0), c->int64(1));
        }
        for (const auto& [id, generation] : received) {
          Cursor c(selectToRoute_);
          c->bind(1, id);
          if (c->step()) continue;
          insertToRoute_.reset().bind(1, id).bind(2, generation).run();
          ++requeued;
        }
        // A message folded together with its routing is `routed` in its day file while its
        // queue entries are in main.db, committed after it: a crash in between leaves it routed
        // with nothing queued and nothing in to_route. Such a message is routed again.
        std::vector<std::pair<MessageId, std::int64_t>> routed;
        {
          Cursor c(p->routed);
          while (c->step()) routed.emplace_back(c->int64(0), c->int64(1));
        }
        for (const auto& [id, generation] : routed) {
          {
            Cursor c(countByStatus_);
            c->bind(1, id).bind(2, generation);
            if (c->step()) continue;
          }
          beginPartition(*p);
          setStatus(*p, id, MessageStatus::kReceived, "");
          insertToRoute_.reset().bind(1, id).bind(2, generation).run();
          ++rerouted;
        }
        trimPartitions();
      }
      for (int day : dirtyDays_) {
        const Range& r = catalog_.at(day);
        upsertPartition_.reset()
            .bind(1, std::int64_t{day})
            .bind(2, partitionFileName(day))
            .bind(3, r.minId)
            .bind(4, r.maxId)
            .run();
      }
      setNextId_.reset().bind(1, nextId_.load(std::memory_order_relaxed)).run();
      dirtyDays_.clear();
      // As in every batch (a crash before main.db's commit leaves the day files' repairs
      // received without an inbox row, which the next open puts back above).
      commitPartitions();
      mainCommit_.reset().run();
      persisted_ = catalog_;
      trimPartitions();
      if (requeued > 0) {
        sb::log::at(sb::log::Level::kWarn, kLog,
                    "recovered {} received message(s) missing from the routing inbox", requeued);
      }
      if (rerouted > 0) {
        sb::log::at(sb::log::Level::kWarn, kLog,
                    "{} message(s) routed just before a crash had no queue entries: routing them "
                    "again",
                    rerouted);
      }
    } catch (...) {
      rollbackAll();
      throw;
    }
    sb::log::at(sb::log::Level::kInfo, kLog, "store open at {}: {} partition(s), next id {}",
                options_.dataDir.string(), catalog_.size(), nextId_.load());
  }

  // ---------------------------------------------------------------- checkpoints
  // Copying the WAL back into the database file (and its fsyncs) runs on its own thread and
  // connections, so the writer thread only appends to the WAL. PASSIVE never blocks the writer.
  void requestCheckpoint(int day) {
    {
      std::lock_guard lock(checkpointMutex_);
      checkpointWanted_.insert(day);
    }
    checkpointCv_.notify_one();
  }

  void checkpointLoop() {
    std::map<int, std::unique_ptr<Db>> conns;
    std::uint64_t epoch = epoch_.load();
    while (true) {
      std::set<int> wanted;
      {
        std::unique_lock lock(checkpointMutex_);
        checkpointCv_.wait(lock, [&] { return checkpointStop_ || !checkpointWanted_.empty(); });
        if (checkpointStop_) return;
        wanted.swap(checkpointWanted_);
      }
      if (epoch != epoch_.load()) {
        conns.clear();  // retention removed files; do not keep them open
        epoch = epoch_.load();
      }
      for (int day : wanted) {
        try {
          auto it = conns.find(day);
          if (it == conns.end()) {
            const auto path =
                options_.dataDir / (day == 0 ? std::string("main.db") : partitionFileName(day));
            if (!std::filesystem::exists(path)) continue;
            if (conns.size() >= kMaxOpenPartitions) conns.erase(conns.begin());
            it = conns.emplace(day, std::make_unique<Db>(path, Db::Mode::kReadWrite)).first;
            // A connection finds the WAL only when it first reads; until then a checkpoint
            // reports "not in WAL mode" and copies nothing.
            it->second->exec("SELECT count(*) FROM sqlite_master");
          }
          const int rc = sqlite3_wal_checkpoint_v2(it->second->handle(), nullptr,
                                                   SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
          if (rc != SQLITE_OK && rc != SQLITE_BUSY) it->second->fail(rc, "checkpoint");
        } catch (const std::exception& e) {
          sb::log::at(sb::log::Level::kWarn, kLog, "checkpoint of {} failed: {}", day, e.what());
          conns.erase(day);
        }
      }
      // Every commit past the threshold asks again while readers keep the WAL from restarting;
      // each checkpoint syncs the database file, so at most one round per kCheckpointPause.
      std::unique_lock lock(checkpointMutex_);
      checkpointCv_.wait_for(lock, kCheckpointPause, [&] { return checkpointStop_; });
    }
  }

  // ---------------------------------------------------------------- writer thread
  void writerLoop() {
    bool wasBusy = false;
    while (true) {
      std::deque<Work> batch;
      bool closing = false;
      {
        std::unique_lock lock(mutex_);
        takeHandoff();
        if (queue_.empty()) {
          writerIdle_ = true;
          const auto ready = [&] { return !queue_.empty() || closed_ || foldWanted_; };
          if (unfolded_.empty()) {
            cv_.wait(lock, ready);
          } else {
            // Journaled messages wait at most the fold delay for their fold.
            cv_.wait_until(lock, foldDeadline_, ready);
          }
          writerIdle_ = false;
          wasBusy = false;
          takeHandoff();
        }
        closing = closed_ && queue_.empty();
        // Work that arrived while we were committing is taken at once (the batch filled by
        // itself); after idling, wait briefly so concurrent submitters share one commit.
        if (!wasBusy && !queue_.empty() && queuedWeight_ < maxBatch_ && !closed_ &&
            options_.maxCommitDelay.count() > 0) {
          writerGathering_ = true;
          cv_.wait_for(lock, options_.maxCommitDelay,
                       [&] { return queuedWeight_ >= maxBatch_ || closed_; });
          writerGathering_ = false;
          takeHandoff();
        }
        std::size_t weight = 0;
        while (!queue_.empty() && weight < maxBatch_) {
          const bool retention = queue_.front().kind == Work::Kind::kRetention;
          if (retention && !batch.empty()) break;  // retention runs alone
          // Control numbers commit with a full sync, which is switched on outside a
          // transaction, so they never share a batch with other work (nor it with them).
          const bool control = queue_.front().kind == Work::Kind::kControlNumbers;
          if (!batch.empty() && control != (batch.front().kind == Work::Kind::kControlNumbers)) {
            break;
          }
          weight += queue_.front().weight();
          queuedWeight_ -= queue_.front().weight();
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
          if (retention) break;
        }
      }
      if (closing) {
        foldJournal();
        if (journal_ && unfolded_.empty()) journal_->removeFile();
        return;
      }
      wasBusy = !batch.empty();
      // Everything journaled is folded before other work, so reprocess and retention always see
      // every acknowledged message, and a message committed directly (rejected input, or the
      // journal failing) lands after every journaled one before it. Routing and delivery
      // outcomes alone fold only what they route, in their own transaction (executeBatch).
      const bool foldRequested = !batch.empty() && !onlyOutcomes(batch);
      if (!unfolded_.empty() &&
          (foldRequested || unfolded_.size() >= kFoldRecords || unfoldedBytes_ >= kFoldBytes ||
           std::chrono::steady_clock::now() >= foldDeadline_)) {
        foldJournal();
      }
      completeFolds(batch);
      if (batch.empty()) continue;
      if (batch.size() == 1 && batch.front().kind == Work::Kind::kRetention) {
        Work& w = batch.front();
        try {
          w.promise->set_value(runRetention(w.now));
        } catch (...) {
          w.promise->set_exception(std::current_exception());
        }
        continue;
      }
      if (batch.front().kind == Work::Kind::kControlNumbers) {
        executeControlNumbers(batch);
        continue;
      }
      executeBatch(batch);
      trimPartitions();
    }
  }

  // Moves what the journal thread acknowledged into unfolded_ (writer thread, under mutex_).
  void takeHandoff() {
    foldWanted_ = false;
    if (handoff_.empty()) return;
    if (unfolded_.empty()) {
      foldDeadline_ = std::chrono::steady_clock::now() + options_.journalFoldDelay;
    }
    for (Work& w : handoff_) {
      unfoldedBytes_ += rawSize(w);
      unfolded_.push_back(std::move(w));
    }
    handoff_.clear();
  }

  // ---------------------------------------------------------------- ingest journal
  // The journal thread: appends inbound records to the journal in batches (whatever queued
  // while the previous append ran), hands them to the writer for folding and acknowledges them.
  // Records it cannot journal (no ids, a failed append, folds failing with a full backlog) go to
  // the writer's queue and commit straight into SQLite, after everything journaled before them.
  // With the journal thread asleep and nothing queued for it, the caller appends its record
  // itself: waking the journal thread and being woken again for the acknowledgement cost two
  // thread switches per message, most of a lone connection's round trip. Only at durability
  // process (an fdatasync would hold up the caller's other connections), only with an id free
  // in the reservation (taking a new block may wait for the writer), and never emptying a
  // folded journal file (an ftruncate of megabytes): the journal thread does that.
  bool appendHere(Work& w) {
    if (syncedJournal_) return false;
    {
      std::lock_guard lock(journalMutex_);
      if (journalClosed_ || journalAppending_ || !journalIdle_ || !journalQueue_.empty()) {
        return false;
      }
      journalAppending_ = true;
    }
    // Given back however the append ends, or the journal thread would wait forever. Notified
    // under the lock: once the role is back, close() may join the journal thread and return.
    struct GiveBack {
      SqliteStore& store;
      ~GiveBack() {
        const bool releaseDue =
            store.journal_->releaseDue(store.foldedThrough_.load(std::memory_order_acquire));
        std::lock_guard lock(store.journalMutex_);
        store.journalAppending_ = false;
        store.journalReleaseWanted_ = store.journalReleaseWanted_ || releaseDue;
        if (!store.journalQueue_.empty() || store.journalClosed_ || releaseDue) {
          store.journalCv_.notify_one();
        }
      }
    } giveBack{*this};
    // Other threads move the counter too (the writer's direct commits, other processes' ids):
    // take the id here, and hand over to the journal thread if the reservation ran out.
    const std::optional<MessageId> id = tryTakeIds(1);
    if (!id) return false;
    std::vector<Work>& batch = hereBatch_;
    batch.clear();
    batch.push_back(std::move(w));
    journalBatch(batch, *id);
    batch.clear();
    return true;
  }

  bool enqueueJournal(Work& w) {
    bool wake = false;
    {
      std::lock_guard lock(journalMutex_);
      if (journalClosed_) return false;
      journalQueue_.push_back(std::move(w));
      wake = journalIdle_ || (journalGathering_ && journalQueue_.size() >= maxBatch_);
    }
    if (wake) journalCv_.notify_one();
    return true;
  }

  void journalLoop() {
    std::vector<Work> batch;
    bool wasBusy = false;
    while (true) {
      batch.clear();
      {
        std::unique_lock lock(journalMutex_);
        if (journalQueue_.empty()) {
          journalIdle_ = true;
          // A caller appending its own record (appendHere) holds the journal until it is done.
          journalCv_.wait(lock, [&] {
            return (!journalQueue_.empty() || journalClosed_ || journalReleaseWanted_) &&
                   !journalAppending_;
          });
          journalIdle_ = false;
          wasBusy = false;
        }
        if (journalQueue_.empty() && journalClosed_) return;  // everything given was handled
        if (journalQueue_.empty()) {
          // Woken by appendHere: a folded file is worth emptying.
          journalReleaseWanted_ = false;
          lock.unlock();
          releaseJournal();
          continue;
        }
        // As the writer used to: after idling, wait briefly for company (durability power pays
        // an fdatasync per append).
        if (!wasBusy && journalQueue_.size() < maxBatch_ && !journalClosed_ &&
            options_.maxCommitDelay.count() > 0) {
          journalGathering_ = true;
          journalCv_.wait_for(lock, options_.maxCommitDelay,
                              [&] { return journalQueue_.size() >= maxBatch_ || journalClosed_; });
          journalGathering_ = false;
        }
        // A batch never needs more ids than one reservation block holds.
        while (!journalQueue_.empty() &&
               batch.size() < std::min<std::size_t>(maxBatch_, kIdBlock)) {
          batch.push_back(std::move(journalQueue_.front()));
          journalQueue_.pop_front();
        }
      }
      wasBusy = true;
      journalBatch(batch);
    }
  }

  // Empties the journal files whose records are all folded (the appender's job).
  void releaseJournal() {
    try {
      journal_->release(foldedThrough_.load(std::memory_order_acquire));
    } catch (const std::exception& e) {
      // Harmless: a replay skips records the store already holds.
      sb::log::at(sb::log::Level::kWarn, kLog, "ingest journal: {}", e.what());
    }
  }

  // Appends `batch` and acknowledges it. `taken`: the first id, already taken by appendHere
  // (which leaves emptying folded files to the journal thread).
  void journalBatch(std::vector<Work>& batch, std::optional<MessageId> taken = std::nullopt) {
    if (journal_->broken() || (foldFailing_.load(std::memory_order_acquire) &&
                               unfoldedCount_.load(std::memory_order_acquire) >= kFoldRecords)) {
      toWriter(batch);
      return;
    }
    const auto count = static_cast<MessageId>(batch.size());
    MessageId next = 0;
    try {
      next = taken ? *taken : takeIds(count);
    } catch (const std::exception& e) {
      sb::log::at(sb::log::Level::kWarn, kLog, "cannot reserve message ids: {}", e.what());
      toWriter(batch);
      return;
    }
    if (!taken) releaseJournal();
    std::vector<IngestJournal::Entry>& entries = journalEntries_;
    entries.clear();
    for (MessageId i = 0; i < count; ++i) {
      entries.emplace_back(next + i, &batch[static_cast<std::size_t>(i)].record);
    }
    try {
      journal_->append(entries);
    } catch (const std::exception& e) {
      sb::log::at(sb::log::Level::kError, kLog, "ingest journal: {}; committing directly",
                  e.what());
      // With the ids they were appended under: if the torn batch could not be cut off, a
      // replay finds those of its records that made it into the file already stored, instead
      // of storing them a second time under other ids.
      for (MessageId i = 0; i < count; ++i) {
        Work& w = batch[static_cast<std::size_t>(i)];
        w.journaled = true;
        w.assignedId = next + i;
      }
      toWriter(batch);
      return;
    }
    std::vector<std::pair<MessageId, MessageStore::CommitCallback>>& acks = journalAcks_;
    acks.clear();
    for (Work& w : batch) {
      w.journaled = true;
      w.assignedId = next++;
      acks.emplace_back(w.assignedId, std::move(w.done));
      w.done = nullptr;
    }
    // What the router and the fold read: the record's strings move into it.
    const auto handedAt = std::chrono::steady_clock::now();
    for (Work& w : batch) {
      w.stored = std::make_shared<const StoredMessage>(received(w.assignedId, w.record));
      w.handedAt = handedAt;
    }
    // Handed over before anyone hears of them, so a reader woken by an acknowledgement finds
    // them counted and asks for a fold that includes them. The router sees them in the same
    // step, so whatever it routes is in the writer's hands already.
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      for (Work& w : batch) {
        pendingRoute_.emplace(w.assignedId, w.stored);
        handoff_.push_back(std::move(w));
      }
      // fetch_add, not load + store: the writer subtracts a finished fold outside this lock.
      const std::size_t before = unfoldedCount_.fetch_add(batch.size(), std::memory_order_acq_rel);
      const std::size_t after = before + batch.size();
      // An idle writer with nothing unfolded sleeps without a deadline: wake it to start the
      // fold delay. A full backlog is folded at once.
      if (before == 0 || after >= kFoldRecords) {
        foldWanted_ = true;
        wake = writerIdle_;
      }
    }
    if (wake) cv_.notify_one();
    for (auto& [id, done] : acks) {
      if (!done) continue;
      try {
        done(id, std::string());
      } catch (const std::exception& e) {
        sb::log::at(sb::log::Level::kError, kLog, "commit callback threw: {}", e.what());
      } catch (...) {
        // Run by appendHere on a caller's thread too: nothing may escape into submitInbound.
        sb::log::at(sb::log::Level::kError, kLog, "commit callback threw a non-standard exception");
      }
    }
    acks.clear();
  }

  // The appender (the journal thread, or appendHere's caller): takes `count` consecutive ids
  // from the shared counter, all below the reservation committed in main.db (so no other
  // process can hold them), waiting for the writer's next block when the reservation is used up.
  MessageId takeIds(MessageId count) {
    while (true) {
      if (auto start = tryTakeIds(count)) return *start;
      if (!nextBlock_.valid()) nextBlock_ = askForIdBlock();
      reservedUntil_ = std::max(reservedUntil_, static_cast<MessageId>(nextBlock_.get()));
    }
  }

  // takeIds without waiting: nullopt when the reservation is used up and the next block is not
  // committed yet. A new block is asked for while half a block is left, so the appender rarely
  // waits for the writer.
  std::optional<MessageId> tryTakeIds(MessageId count) {
    MessageId start = nextId_.load(std::memory_order_relaxed);
    while (true) {
      if (start + count <= reservedUntil_) {
        if (nextId_.compare_exchange_weak(start, start + count, std::memory_order_relaxed)) break;
        continue;
      }
      // Used up: take the next block if the writer has committed it already.
      if (!nextBlock_.valid() ||
          nextBlock_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        return std::nullopt;
      }
      try {
        reservedUntil_ = std::max(reservedUntil_, static_cast<MessageId>(nextBlock_.get()));
      } catch (const std::exception& e) {
        sb::log::at(sb::log::Level::kWarn, kLog, "cannot reserve message ids: {}", e.what());
        return std::nullopt;  // takeIds asks again
      }
      start = nextId_.load(std::memory_order_relaxed);
    }
    if (!nextBlock_.valid() && reservedUntil_ - (start + count) < kIdBlock / 2) {
      try {
        nextBlock_ = askForIdBlock();
      } catch (const std::exception&) {
        // Closing: the next append that needs the block finds out.
      }
    }
    return start;
  }

  std::future<std::size_t> askForIdBlock() {
    Work w;
    w.kind = Work::Kind::kReserveIds;
    w.promise = std::make_shared<std::promise<std::size_t>>();
    auto f = w.promise->get_future();
    if (!enqueue(w)) throw std::runtime_error(unavailableReason());
    return f;
  }

  void toWriter(std::vector<Work>& batch) {
    for (Work& w : batch) {
      if (!enqueue(w) && w.done) w.done(std::nullopt, unavailableReason());
    }
  }

  // Rejected input (rare, and answered with a NAK an operator may look up at once) goes straight
  // into SQLite, so `switchboard messages` shows it as soon as the peer has its answer.
  bool journals(const Work& w) const {
    return journal_ && w.kind == Work::Kind::kIngest && w.record.status != MessageStatus::kRejected;
  }

  void raiseNextId(MessageId atLeast) {
    MessageId current = nextId_.load(std::memory_order_relaxed);
    while (current < atLeast &&
           !nextId_.compare_exchange_weak(current, atLeast, std::memory_order_relaxed)) {
    }
  }

  // Ids the journal thread hands out must never be handed out by another process: main.db's
  // `journal_reserved_until` is moved a block past the counter (in the batch's transaction,
  // which has just caught up with other processes' ids, and committed before the journal thread
  // hears of it); processes without the journal allocate above it.
  MessageId reserveIdBlock() {
    const MessageId until = nextId_.load(std::memory_order_relaxed) + kIdBlock;
    setReserved_.reset().bind(1, until).run();
    return until;
  }

  // Outcomes of routing keyed by message id, for messages a batch folds and routes at once.
  using RoutedAtFold = std::map<MessageId, const RoutingOutcome*>;

  // Inserts the journaled messages up to id `through` (a prefix of unfolded_) in the open
  // transaction, those with an outcome in `routed` with their routing. Returns how many.
  std::size_t foldInto(MessageId through, const RoutedAtFold& routed) {
    std::size_t count = 0;
    for (auto& w : unfolded_) {
      if (w.assignedId > through) break;
      const auto it = routed.find(w.assignedId);
      applyIngest(w, it == routed.end() ? nullptr : it->second);
      ++count;
    }
    return count;
  }

  // After the commit that folded the first `count` messages of unfolded_.
  void folded(std::size_t count, const RoutedAtFold& routed) {
    if (count == 0) return;
    // The journal thread empties journal files whose records are all folded.
    foldedThrough_.store(unfolded_[count - 1].assignedId, std::memory_order_release);
    unfoldedCount_.fetch_sub(count, std::memory_order_acq_rel);
    {
      // The router finds them in to_route, or they are routed.
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < count; ++i) pendingRoute_.erase(unfolded_[i].assignedId);
    }
    for (std::size_t i = 0; i < count; ++i) {
      Work& w = unfolded_[i];
      unfoldedBytes_ -= std::min(unfoldedBytes_, rawSize(w));
      const auto it = routed.find(w.assignedId);
      // Filtered or failed at routing: at its end, no reader wants it.
      if (it == routed.end()) {
        keepHot(w);
      } else if (it->second->status == MessageStatus::kRouted && !it->second->enqueue.empty()) {
        keepHot(w);
        hot_.routed(w.assignedId);
      }
    }
    unfolded_.erase(unfolded_.begin(), unfolded_.begin() + static_cast<std::ptrdiff_t>(count));
    // The fold delay runs from the oldest message still waiting; a fold that failed is not
    // retried before its time.
    if (!unfolded_.empty()) {
      foldDeadline_ = unfolded_.front().handedAt + options_.journalFoldDelay;
      if (foldFailing_.load(std::memory_order_relaxed)) {
        foldDeadline_ = std::max(foldDeadline_, foldRetryAt_);
      }
    } else {
      unfoldedBytes_ = 0;
    }
  }

  static std::size_t rawSize(const Work& w) {
    return w.stored ? w.stored->raw.size() : w.record.raw.size();
  }

  // One transaction for everything the journal holds. On failure the records stay (in memory
  // and in the journal) and the fold is tried again; a restart would fold them from the file.
  bool foldJournal() {
    if (unfolded_.empty()) return true;
    if (foldFailing_.load(std::memory_order_relaxed) &&
        std::chrono::steady_clock::now() < foldRetryAt_) {
      return false;
    }
    std::size_t count = 0;
    try {
      beginMain();
      count = foldInto(std::numeric_limits<MessageId>::max(), {});
      commitAll();
    } catch (const std::exception& e) {
      rollbackAll();
      foldFailing_.store(true, std::memory_order_release);
      foldRetryAt_ = std::chrono::steady_clock::now() + kFoldRetry;
      foldDeadline_ = foldRetryAt_;
      sb::log::at(sb::log::Level::kError, kLog,
                  "folding {} journaled message(s) into the store failed: {} (kept in the "
                  "journal, retrying)",
                  unfolded_.size(), e.what());
      return false;
    }
    foldFailing_.store(false, std::memory_order_release);
    folded(count, {});
    trimPartitions();
    return true;
  }

  // Answers the kFold requests of a batch (after the fold ran) and removes them from it.
  void completeFolds(std::deque<Work>& batch) {
    std::deque<Work> rest;
    for (Work& w : batch) {
      if (w.kind != Work::Kind::kFold) {
        rest.push_back(std::move(w));
        continue;
      }
      if (unfolded_.empty()) {
        w.promise->set_value(0);
      } else {
        w.promise->set_exception(std::make_exception_ptr(
            std::runtime_error("store: journaled messages could not be folded yet")));
      }
    }
    batch.swap(rest);
  }

  // At open: folds the records a crash left in the journal (those the store does not hold),
  // then empties it. Runs before the writer thread starts.
  void replayJournal() {
    auto records = journal_->readAll();
    std::size_t replayed = 0;
    if (!records.empty()) {
      beginMain();
      try {
        for (auto& [id, record] : records) {
          if (holdsMessage(id, record.receivedAt)) continue;
          Work w;
          w.kind = Work::Kind::kIngest;
          w.journaled = true;
          w.assignedId = id;
          w.record = std::move(record);
          applyIngest(w);
          raiseNextId(id + 1);
          ++replayed;
        }
        commitAll();
      } catch (...) {
        rollbackAll();
        throw;
      }
      trimPartitions();
    }
    journal_->reset();
    if (replayed > 0) {
      sb::log::at(sb::log::Level::kWarn, kLog,
                  "recovered {} acknowledged message(s) from the ingest journal", replayed);
    }
  }

  // After the commit of an ingest: the message goes on to the router, which reads it from
  // memory (see hot_messages.h). Moves the record out of `w`.
  void keepHot(Work& w) {
    if (w.kind != Work::Kind::kIngest || w.assignedId == 0) return;
    if (w.stored) {
      hot_.add(std::move(w.stored));
      return;
    }
    if (w.record.status == MessageStatus::kRejected) return;
    hot_.add(received(w.assignedId, w.record));
  }

  // A message as stored with status received at generation 0; the record's strings move in.
  static StoredMessage received(MessageId id, InboundRecord& r) {
    StoredMessage m;
    MessageSummary& s = m.summary;
    s.id = id;
    s.channel = std::move(r.channel);
    s.peer = std::move(r.peer);
    s.receivedAt = r.receivedAt;
    s.messageType = std::move(r.messageType);
    s.triggerEvent = std::move(r.triggerEvent);
    s.controlId = std::move(r.controlId);
    s.patientId = std::move(r.patientId);
    s.sendingApplication = std::move(r.sendingApplication);
    s.sendingFacility = std::move(r.sendingFacility);
    s.status = MessageStatus::kReceived;
    s.error = std::move(r.error);
    s.sizeBytes = static_cast<std::int64_t>(r.raw.size());
    s.generation = 0;
    m.raw = std::move(r.raw);
    return m;
  }

  bool holdsMessage(MessageId id, Millis receivedAt) {
    WritePartition* p = openPartition(utcDay(receivedAt), false);
    if (!p) return false;
    beginPartition(*p);
    Cursor c(p->state);
    c->bind(1, id);
    return c->step();
  }

  static bool onlyOutcomes(const std::deque<Work>& batch) {
    return std::all_of(batch.begin(), batch.end(), [](const Work& w) {
      return w.kind == Work::Kind::kRouting || w.kind == Work::Kind::kDeliveries;
    });
  }

  // The journaled messages this batch routes (the router takes them before their fold), with
  // their outcomes: the batch folds unfolded_ up to the last of them and inserts those already
  // routed, so a message routed within the fold delay is written once with its final routing
  // instead of as received, put in to_route, taken out and updated. Messages behind it in
  // unfolded_ that are not routed yet go in as received, as a fold would put them.
  RoutedAtFold routedAtFold(const std::deque<Work>& batch) const {
    RoutedAtFold routed;
    if (unfolded_.empty() || !onlyOutcomes(batch)) return routed;
    RoutedAtFold outcomes;
    for (const Work& w : batch) {
      if (w.kind != Work::Kind::kRouting) continue;
      for (const auto& o : w.routing) {
        if (o.generation == 0) outcomes.emplace(o.messageId, &o);  // the first outcome counts
      }
    }
    if (outcomes.empty()) return routed;
    for (const Work& w : unfolded_) {
      if (w.assignedId > outcomes.rbegin()->first) break;
      if (auto it = outcomes.find(w.assignedId); it != outcomes.end()) routed.insert(*it);
    }
    return routed;
  }

  void executeBatch(std::deque<Work>& batch) {
    const RoutedAtFold routed = routedAtFold(batch);
    bool routingWaits = false;
    try {
      beginMain();
    } catch (const std::exception& e) {
      // The write lock stayed busy past the timeout (or the disk is gone): retrying item by
      // item would only wait again for each, so the whole batch fails at once.
      rollbackAll();
      sb::log::at(sb::log::Level::kError, kLog, "cannot start a write transaction: {}", e.what());
      for (auto& w : batch) complete(w, std::current_exception());
      return;
    }
    try {
      const std::size_t foldedHere = routed.empty() ? 0 : foldInto(routed.rbegin()->first, routed);
      for (auto& w : batch) apply(w);
      commitAll();
      coalesced_.clear();
      if (foldedHere > 0) foldFailing_.store(false, std::memory_order_release);
      // Before the callbacks: a router told its batch committed must not find them unfolded.
      folded(foldedHere, routed);
      for (auto& w : batch) complete(w, nullptr);
      for (auto& w : batch) keepHot(w);
      return;
    } catch (const std::exception& e) {
      rollbackAll();
      // What the batch would have folded is folded on its own, so the outcomes below apply to
      // stored messages. If that fails too, its routing outcomes fail (the router backs off and
      // routes the messages again) rather than being ignored for messages not stored yet.
      routingWaits = !routed.empty() && !foldJournal();
      if (batch.size() == 1) {
        sb::log::at(sb::log::Level::kError, kLog, "commit failed: {}", e.what());
        complete(batch.front(), std::current_exception());
        return;
      }
      sb::log::at(sb::log::Level::kWarn, kLog, "batch of {} failed ({}); retrying one by one",
                  batch.size(), e.what());
    }
    // Isolate the failing work so one bad item does not fail its whole batch.
    for (auto& w : batch) {
      if (routingWaits && w.kind == Work::Kind::kRouting) {
        complete(w, std::make_exception_ptr(std::runtime_error(
                        "store: the messages routed are not folded yet (the fold is failing)")));
        continue;
      }
      if (!w.journaled) w.assignedId = 0;  // a journaled record keeps the id it was given
      w.result = 0;
      try {
        beginMain();
        apply(w);
        commitAll();
        complete(w, nullptr);
        keepHot(w);
      } catch (const std::exception& e) {
        rollbackAll();
        sb::log::at(sb::log::Level::kError, kLog, "commit failed: {}", e.what());
        complete(w, std::current_exception());
      }
    }
  }

  // ---------------------------------------------------------------- control numbers
  static void checkControlNumberKey(std::string_view partner, std::string_view kind) {
    if (partner.empty()) throw std::invalid_argument("store: control numbers need a partner");
    if (kind != "ISA" && kind != "GS" && kind != "ST") {
      throw std::invalid_argument(
          fmt::format("store: unknown control number kind \"{}\" (ISA, GS or ST)", kind));
    }
  }

  // One transaction for a batch of reservations, committed with synchronous=FULL whatever the
  // store's durability: at NORMAL a power cut may lose the last commits, and a number handed out
  // (and sent in an interchange) but lost from main.db would be handed out again, which a partner
  // rejects as a duplicate interchange. The batch shares one fsync, so concurrent reservations do
  // not queue one fsync each. A refusal (maximum passed, going backwards) fails only its own item.
  void executeControlNumbers(std::deque<Work>& batch) {
    const bool switchSync = options_.durability != Durability::kPower;
    std::vector<std::exception_ptr> refused(batch.size());
    try {
      if (switchSync) main_->exec("PRAGMA synchronous=FULL");
      beginMain();
      for (std::size_t i = 0; i < batch.size(); ++i) refused[i] = applyControlNumbers(batch[i]);
      mainCommit_.reset().run();
    } catch (const std::exception& e) {
      rollbackAll();
      restoreSynchronous(switchSync);
      sb::log::at(sb::log::Level::kError, kLog, "control numbers not committed: {}", e.what());
      for (auto& w : batch) complete(w, std::current_exception());
      return;
    }
    restoreSynchronous(switchSync);
    for (std::size_t i = 0; i < batch.size(); ++i) complete(batch[i], refused[i]);
  }

  void restoreSynchronous(bool switched) {
    if (!switched) return;
    try {
      main_->exec("PRAGMA synchronous=NORMAL");
    } catch (const std::exception& e) {
      // Only costs speed: later commits would also be fully synced.
      sb::log::at(sb::log::Level::kWarn, kLog, "cannot restore synchronous=NORMAL: {}", e.what());
    }
  }

  // Applies one reservation (or setNext) inside the open transaction. Returns the refusal, if
  // any, instead of throwing it: the other reservations of the batch still commit. Database
  // errors throw and fail the whole batch.
  std::exception_ptr applyControlNumbers(Work& w) {
    std::int64_t next = 1;
    {
      Cursor c(selectControl_);
      c->bind(1, w.partner).bind(2, w.controlKind);
      if (c->step()) next = c->int64(0);
    }
    std::int64_t newNext = 0;
    if (w.count == 0) {
      if (w.next < next) {
        return std::make_exception_ptr(std::runtime_error(fmt::format(
            "store: refusing to move the next {} control number for partner \"{}\" back from {} "
            "to {}: numbers from {} on may already have been sent",
            w.controlKind, w.partner, next, w.next, w.next)));
      }
      newNext = w.next;
    } else {
      if (next + w.count - 1 > kMaxControlNumber) {
        return std::make_exception_ptr(std::runtime_error(fmt::format(
            "store: {} control numbers for partner \"{}\" are exhausted: reserving {} from {} "
            "would pass the maximum {}; an operator must agree a new sequence with the partner",
            w.controlKind, w.partner, w.count, next, kMaxControlNumber)));
      }
      newNext = next + w.count;
      w.result = static_cast<std::size_t>(next);
    }
    if (newNext != next) {
      upsertControl_.reset().bind(1, w.partner).bind(2, w.controlKind).bind(3, newNext).run();
    }
    return nullptr;
  }

  static std::string describe(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "store: unknown error";
    }
  }

  void complete(Work& w, const std::exception_ptr& error) {
    if (w.kind == Work::Kind::kIngest) {
      if (!w.done) return;
      try {
        if (error) {
          w.done(std::nullopt, describe(error));
        } else {
          w.done(w.assignedId, std::string());
        }
      } catch (const std::exception& e) {
        sb::log::at(sb::log::Level::kError, kLog, "commit callback threw: {}", e.what());
      }
      return;
    }
    if (w.finished) {
      try {
        w.finished(error);
      } catch (const std::exception& e) {
        sb::log::at(sb::log::Level::kError, kLog, "commit callback threw: {}", e.what());
      }
      return;
    }
    if (error) {
      w.promise->set_exception(error);
    } else {
      w.promise->set_value(w.result);
    }
  }

  Options options_;
  std::size_t maxBatch_;  // at least 1, so a batch always makes progress

  // Writer thread state (touched only by the writer thread after construction).
  std::unique_ptr<Db> main_;
  std::map<int, std::unique_ptr<WritePartition>> parts_;
  Catalog catalog_;    // the real id ranges
  Catalog persisted_;  // the ranges as main.db has them (the frontier's may lag)
  std::set<int> dirtyDays_;
  // The next message id, shared with the journal thread (which takes ids only below the
  // reservation it holds, see takeIds). It only moves forward; ids of rolled-back work are
  // left as gaps.
  std::atomic<MessageId> nextId_{1};
  std::int64_t mainVersion_ = -1;
  std::uint64_t clock_ = 0;
  Stmt mainBegin_, mainCommit_, dataVersion_, getNextId_, setNextId_, upsertPartition_,
      deletePartition_, insertToRoute_, selectToRoute_, deleteToRoute_, insertQueue_,
      markDelivered_, markRetry_, markDead_, countByStatus_, deadOf_, deleteQueue_, requeue_,
      pendingInRange_, deleteQueueRange_, deleteToRouteRange_, deleteQueueOf_, deleteToRouteOf_,
      selectControl_, upsertControl_, getReserved_, setReserved_;

  WalTarget mainWal_;

  // Ingest journal. The files are the appender's once the threads run — the journal thread, or
  // a submitter holding the role in appendHere — (the writer removes them after the journal
  // thread stopped); unfolded_ and the fold state are the writer's.
  std::unique_ptr<IngestJournal> journal_;
  std::deque<Work> unfolded_;  // acknowledged, not in SQLite yet; ids ascending
  // Messages this batch's fold inserted with their routing, and where (see applyRouting).
  std::map<MessageId, WritePartition*> coalesced_;
  // Transform outputs the batch queued from their events, held for the senders once the day
  // files commit (see commitAll).
  std::vector<std::tuple<MessageId, std::int64_t, std::shared_ptr<const std::string>>> heldOutputs_;
  std::size_t unfoldedBytes_ = 0;
  std::chrono::steady_clock::time_point foldDeadline_{};
  std::chrono::steady_clock::time_point foldRetryAt_{};
  std::atomic<bool> foldFailing_{false};
  std::atomic<MessageId> foldedThrough_{0};  // every journaled id up to this is folded
  // Acknowledged from the journal and not folded yet (handed over or in unfolded_).
  std::atomic<std::size_t> unfoldedCount_{0};

  // Journal thread.
  std::mutex journalMutex_;
  std::condition_variable journalCv_;
  std::deque<Work> journalQueue_;
  bool journalIdle_ = false;
  bool journalGathering_ = false;
  bool journalClosed_ = false;
  bool journalAppending_ = false;      // appendHere() is appending: the journal thread waits
  bool journalReleaseWanted_ = false;  // appendHere() left a folded file to empty
  bool syncedJournal_ = false;         // durability power: every append waits for the disk
  std::vector<Work> hereBatch_;        // appendHere()'s, reused while it holds the journal
  std::thread journalThread_;
  MessageId reservedUntil_ = 0;  // ids below this are reserved for the journal in main.db
  std::future<std::size_t> nextBlock_;
  std::vector<IngestJournal::Entry> journalEntries_;  // journalBatch()'s, reused
  std::vector<std::pair<MessageId, MessageStore::CommitCallback>> journalAcks_;

  // Checkpoint thread.
  std::mutex checkpointMutex_;
  std::condition_variable checkpointCv_;
  std::set<int> checkpointWanted_;
  bool checkpointStop_ = false;
  std::thread checkpointer_;

  // Submission queue.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Work> queue_;
  std::size_t queuedWeight_ = 0;
  bool writerIdle_ = false;
  bool writerGathering_ = false;
  std::deque<Work> handoff_;  // acknowledged by the journal thread, for the writer to fold
  // Journaled and not folded yet (in handoff_ or unfolded_): the router takes them from here.
  std::map<MessageId, std::shared_ptr<const StoredMessage>> pendingRoute_;
  bool foldWanted_ = false;  // the journal thread asks the idle writer to look at handoff_
  bool closed_ = false;
  std::mutex closeMutex_;
  std::thread writer_;

  // Messages on their way through routing and delivery, read from memory instead of the files.
  HotMessages hot_{kHotBytes};

  // Read contexts, pooled; bumped epoch makes them close files retention removed.
  std::mutex readerMutex_;
  std::vector<std::unique_ptr<ReadContext>> readers_;
  std::atomic<std::uint64_t> epoch_{0};
  // Held exclusively by the writer from its first file commit to its last, and shared by a
  // reader that combines files (get: the status and events of a day's file with the queue in
  // main.db). SQLite makes each file's commit atomic, not a batch's commits across files.
  std::shared_mutex commitMutex_;
};

// Replaces SQLite's automatic checkpoint (which would run on the writer thread after a commit).
int onWalCommit(void* arg, sqlite3* db, const char*, int pages) {
  auto* target = static_cast<WalTarget*>(arg);
  if (pages >= kBackstopCheckpointPages) {
    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (pages >= kCheckpointPages) {
    target->store->requestCheckpoint(target->day);
  }
  return SQLITE_OK;
}

}  // namespace

}  // namespace sb::store::sqlite

namespace sb::store {

std::unique_ptr<MessageStore> openSqliteStore(const Options& options) {
  // Process-wide SQLite setting, applied before the first connection: memory statistics take a
  // global mutex on every allocation, which the writer and readers would contend on.
  static std::once_flag configured;
  std::call_once(configured, [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite::installSqliteMemory();  // per-thread free lists (sqlite_memory.h)
    sqlite::installWalBuffer();     // one write per commit instead of two per page (wal_buffer.h)
  });
  return std::make_unique<sqlite::SqliteStore>(options);
}

}  // namespace sb::store
