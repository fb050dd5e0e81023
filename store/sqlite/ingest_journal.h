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
//
// The journal is two files, `ingest.journal` and `ingest.journal.1`, appended to in turns: the
// owner appends while the store folds concurrently, so under steady load there is never a
// moment when everything appended is folded. When the file being appended to has grown past
// the rotation size and the other one is empty, appends move to the other file; a file is
// emptied once every record in it is folded (release()). A replay reads both, by id.
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
  // Appends the records (ids ascending, above every id appended before) with one write, and one
  // fdatasync when syncing. Throws std::system_error; a failed append is cut off again, so the
  // records after it are not hidden behind a torn one at replay. When even that fails the
  // journal is broken() and must not be appended to any more.
  void append(const std::vector<Entry>& entries);
  bool broken() const { return broken_; }
  // Every intact record of both files, ordered by id; reading a file stops at its first torn or
  // corrupt record.
  std::vector<std::pair<MessageId, InboundRecord>> readAll() const;
  // The same for a process that does not own the journal (the CLI reading next to the engine):
  // no lock, nothing changed; absent files read as empty.
  static std::vector<std::pair<MessageId, InboundRecord>> readFile(
      const std::filesystem::path& dataDir);
  // Tells the journal that every record with an id up to `foldedThrough` is in the store: a
  // file holding only such records is emptied (the one being appended to only once it is past
  // the rotation size), and appends move to the other file when this one is past it. Throws
  // std::system_error when a file cannot be emptied (harmless: a replay skips folded records).
  void release(MessageId foldedThrough);
  // Whether release(foldedThrough) would empty a file or move appends to the other one.
  bool releaseDue(MessageId foldedThrough) const;
  // Empties both files (everything in them is in the store).
  void reset();
  // Bytes in both files.
  std::uint64_t bytes() const { return segments_[0].bytes + segments_[1].bytes; }
  // Removes the files (clean shutdown with everything folded); the lock goes with the close.
  void removeFile();

  // Size past which appends move to the other file, and past which a fully folded file is
  // emptied. Tests make it small.
  void setRotateBytes(std::uint64_t bytes) { rotateBytes_ = bytes; }

  // The record encoding, exposed for tests.
  static void encode(MessageId id, const InboundRecord& record, std::string& out);

 private:
  struct Segment {
    std::filesystem::path path;
    int fd = -1;
    std::uint64_t bytes = 0;
    MessageId lastId = 0;  // the highest id in the file; 0 when it holds none
  };
  IngestJournal(Segment first, Segment second, bool sync);
  void empty(Segment& s);
  // What release() does: empty `s` (all folded; the file being appended to only once it is
  // past the rotation size), and move appends to the other file.
  bool worthEmptying(const Segment& s, MessageId foldedThrough) const;
  bool worthSwitching() const;
  static std::vector<std::filesystem::path> paths(const std::filesystem::path& dataDir);

  Segment segments_[2];
  int active_ = 0;  // the file appends go to
  bool sync_ = false;
  bool broken_ = false;
  std::uint64_t rotateBytes_ = 4u * 1024 * 1024;
  static constexpr std::size_t kKeptBufferBytes = 4u * 1024 * 1024;
  std::string buffer_;  // append()'s encoding buffer, reused
};

}  // namespace sb::store::sqlite
