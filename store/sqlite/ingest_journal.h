// The ingest journal: an append-only file in front of the SQLite store.
//
// Why: with a handful of connections each waiting for its ACK, a commit straight into SQLite
// carries only a few messages, and each commit rewrites a page of every search index (type,
// trigger, control id, patient id, ...) plus the table pages: ~5 pages per message. Appending
// the raw records to one file is a single write per batch; the writer then folds what the
// journal holds into SQLite in large transactions (every few milliseconds or when a reader
// needs it), where those index pages are shared by hundreds of messages.
//
// The durability contract does not change: a record is acknowledged only after its write()
// returned (durability process: in the OS, survives kill -9) or after fdatasync (durability
// power). When the engine restarts, records the store does not hold yet are folded in before
// anything else runs. Each record carries a CRC32, so a write torn by a crash (never
// acknowledged) ends the replay instead of being read as data.
//
// One process owns the journal (an exclusive flock); a second store instance on the same data
// directory (the CLI) finds it locked and commits straight into SQLite instead.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/message_store.h"

namespace sb::store::sqlite {

class IngestJournal {
 public:
  // Opens (creating) dataDir/ingest.journal and locks it. nullptr when another process holds
  // the lock. Throws std::system_error when the file cannot be opened.
  static std::unique_ptr<IngestJournal> open(const std::filesystem::path& dataDir,
                                             bool syncEachAppend);
  ~IngestJournal();
  IngestJournal(const IngestJournal&) = delete;
  IngestJournal& operator=(const IngestJournal&) = delete;

  using Entry = std::pair<MessageId, const InboundRecord*>;
  // Appends the records with one write (and one fdatasync when syncing). Throws
  // std::system_error; a failed append may leave a torn record, which a replay ignores and the
  // next reset() removes.
  void append(const std::vector<Entry>& entries);
  // Every intact record, oldest first; reading stops at the first torn or corrupt one.
  std::vector<std::pair<MessageId, InboundRecord>> readAll() const;
  // The same for a process that does not own the journal (the CLI reading next to the engine):
  // no lock, nothing changed; an absent file reads as empty.
  static std::vector<std::pair<MessageId, InboundRecord>> readFile(
      const std::filesystem::path& dataDir);
  // Empties the file once everything in it is in the store.
  void reset();
  // Bytes appended since the last reset.
  std::uint64_t bytes() const { return bytes_; }
  // Removes the file (clean shutdown with everything folded); the lock goes with the close.
  void removeFile();

  // The record encoding, exposed for tests.
  static void encode(MessageId id, const InboundRecord& record, std::string& out);

 private:
  IngestJournal(std::filesystem::path path, int fd, bool sync);
  std::filesystem::path path_;
  int fd_ = -1;
  bool sync_ = false;
  std::uint64_t bytes_ = 0;
  static constexpr std::size_t kKeptBufferBytes = 4u * 1024 * 1024;
  std::string buffer_;  // append()'s encoding buffer, reused
};

}  // namespace sb::store::sqlite
