#include "store/sqlite/ingest_journal.h"

#include "store/sqlite/crc32.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace sb::store::sqlite {
namespace {

constexpr std::uint32_t kMagic = 0x314A4253;  // "SBJ1" little-endian
constexpr std::size_t kHeaderBytes = 12;      // magic, payload length, CRC32 of the payload
constexpr std::uint32_t kMaxPayload = 1u << 30;

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void putString(std::string& out, const std::string& s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads fixed fields and length-prefixed strings out of one record's payload.
class Reader {
 public:
  Reader(const char* p, std::size_t n) : p_(p), end_(p + n) {}
  template <typename T>
  bool get(T& v) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(T)) return false;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool getString(std::string& s) {
    std::uint32_t n = 0;
    if (!get(n) || static_cast<std::size_t>(end_ - p_) < n) return false;
    s.assign(p_, n);
    p_ += n;
    return true;
  }
  bool atEnd() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

std::string readWhole(int fd, const std::filesystem::path& path) {
  std::string data;
  char chunk[65536];
  off_t at = 0;
  while (true) {
    const ssize_t n = ::pread(fd, chunk, sizeof chunk, at);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("store: cannot read", path);
    }
    if (n == 0) break;
    data.append(chunk, static_cast<std::size_t>(n));
    at += n;
  }
  return data;
}

// Every intact record of a journal's bytes, oldest first, up to the first torn or corrupt one.
std::vector<std::pair<MessageId, InboundRecord>> decodeAll(const std::string& data) {
  std::vector<std::pair<MessageId, InboundRecord>> out;
  std::size_t at = 0;
  while (data.size() - at >= kHeaderBytes) {
    std::uint32_t header[3];
    std::memcpy(header, data.data() + at, kHeaderBytes);
    const std::uint32_t length = header[1];
    if (header[0] != kMagic || length > kMaxPayload || data.size() - at - kHeaderBytes < length) {
      break;
    }
    const char* payload = data.data() + at + kHeaderBytes;
    if (crc32Of(std::string_view(payload, length)) != header[2]) break;
    Reader in(payload, length);
    MessageId id = 0;
    InboundRecord r;
    std::uint8_t rejected = 0;
    bool ok = in.get(id) && in.get(r.receivedAt) && in.get(rejected);
    for (std::string* s :
         {&r.channel, &r.peer, &r.messageType, &r.triggerEvent, &r.controlId, &r.patientId,
          &r.sendingApplication, &r.sendingFacility, &r.error, &r.raw}) {
      ok = ok && in.getString(*s);
    }
    if (!ok || !in.atEnd()) break;
    r.status = rejected != 0 ? MessageStatus::kRejected : MessageStatus::kReceived;
    out.emplace_back(id, std::move(r));
    at += kHeaderBytes + length;
  }
  return out;
}

// The records of both files in one list ordered by id. Each file is in id order already; the
// files take turns, so one file's records all precede or all follow a run of the other's.
std::vector<std::pair<MessageId, InboundRecord>> byId(
    std::vector<std::pair<MessageId, InboundRecord>> a,
    std::vector<std::pair<MessageId, InboundRecord>> b) {
  std::vector<std::pair<MessageId, InboundRecord>> out;
  out.reserve(a.size() + b.size());
  std::merge(std::make_move_iterator(a.begin()), std::make_move_iterator(a.end()),
             std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()),
             std::back_inserter(out),
             [](const auto& x, const auto& y) { return x.first < y.first; });
  return out;
}

}  // namespace

std::vector<std::filesystem::path> IngestJournal::paths(const std::filesystem::path& dataDir) {
  return {dataDir / "ingest.journal", dataDir / "ingest.journal.1"};
}

std::unique_ptr<IngestJournal> IngestJournal::open(const std::filesystem::path& dataDir,
                                                   bool syncEachAppend) {
  const auto files = paths(dataDir);
  Segment segments[2];
  // The lock on the first file says who owns both. A previous owner shutting down removes the
  // second file and then the first: a lock taken on a first file that was removed meanwhile
  // (it is no longer the file the path names) is dropped and taken again on the new one.
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(files[0].c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) fail("store: cannot open", files[0]);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) return nullptr;  // another process owns it
      errno = e;
      fail("store: cannot lock", files[0]);
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) == 0 && ::stat(files[0].c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      segments[0].path = files[0];
      segments[0].fd = fd;
      break;
    }
    ::close(fd);
    if (attempt == 10) {
      errno = EAGAIN;
      fail("store: the ingest journal keeps being replaced:", files[0]);
    }
  }
  for (int i = 1; i < 2; ++i) {
    Segment& s = segments[i];
    s.path = files[static_cast<std::size_t>(i)];
    s.fd = ::open(s.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s.fd < 0) {
      const int e = errno;
      ::close(segments[0].fd);
      errno = e;
      fail("store: cannot open", s.path);
    }
  }
  if (syncEachAppend) {
    // Both names must survive a power loss before a record is acknowledged from either file.
    const int dir = ::open(dataDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return std::unique_ptr<IngestJournal>(
      new IngestJournal(std::move(segments[0]), std::move(segments[1]), syncEachAppend));
}

IngestJournal::IngestJournal(Segment first, Segment second, bool sync)
    : segments_{std::move(first), std::move(second)}, sync_(sync) {
  for (Segment& s : segments_) {
    const off_t end = ::lseek(s.fd, 0, SEEK_END);
    s.bytes = end > 0 ? static_cast<std::uint64_t>(end) : 0;
    // What a previous owner left is not known to be folded until the store replays it and
    // calls reset().
    s.lastId = s.bytes > 0 ? std::numeric_limits<MessageId>::max() : 0;
  }
  active_ = segments_[0].bytes > 0 || segments_[1].bytes == 0 ? 0 : 1;
}

IngestJournal::~IngestJournal() {
  for (Segment& s : segments_) {
    if (s.fd >= 0) ::close(s.fd);
  }
}

void IngestJournal::encode(MessageId id, const InboundRecord& r, std::string& out) {
  const std::size_t at = out.size();
  out.append(kHeaderBytes, '\0');
  put<std::int64_t>(out, id);
  put<std::int64_t>(out, r.receivedAt);
  put<std::uint8_t>(out, r.status == MessageStatus::kRejected ? 1 : 0);
  for (const std::string* s :
       {&r.channel, &r.peer, &r.messageType, &r.triggerEvent, &r.controlId, &r.patientId,
        &r.sendingApplication, &r.sendingFacility, &r.error, &r.raw}) {
    putString(out, *s);
  }
  const std::size_t payload = out.size() - at - kHeaderBytes;
  const std::uint32_t header[3] = {
      kMagic, static_cast<std::uint32_t>(payload),
      crc32Of(std::string_view(out.data() + at + kHeaderBytes, payload))};
  std::memcpy(out.data() + at, header, kHeaderBytes);
}

void IngestJournal::append(const std::vector<Entry>& entries) {
  if (broken_)
    throw std::runtime_error("store: the ingest journal is unusable after a failed append");
  if (entries.empty()) return;
  // One buffer for the life of the journal: a batch is encoded without allocating once the
  // buffer has grown to the usual batch size. Large batches do not keep their memory.
  std::string& buf = buffer_;
  buf.clear();
  if (buf.capacity() > kKeptBufferBytes) buf.shrink_to_fit();
  std::size_t size = 0;
  for (const auto& [id, r] : entries) size += kHeaderBytes + 64 + r->raw.size() + 256;
  buf.reserve(size);
  for (const auto& [id, r] : entries) encode(id, *r, buf);
  Segment& s = segments_[active_];
  const char* p = buf.data();
  std::size_t left = buf.size();
  try {
    while (left > 0) {
      const ssize_t n = ::write(s.fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("store: cannot append to", s.path);
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    if (sync_ && ::fdatasync(s.fd) != 0) fail("store: cannot sync", s.path);
  } catch (...) {
    // Cut the torn batch off: records appended later must not sit behind it, where a replay
    // (which stops at the first torn record) would never reach them.
    const int e = errno;
    if (::ftruncate(s.fd, static_cast<off_t>(s.bytes)) != 0) broken_ = true;
    errno = e;
    throw;
  }
  s.bytes += buf.size();
  s.lastId = std::max(s.lastId, entries.back().first);
}

std::vector<std::pair<MessageId, InboundRecord>> IngestJournal::readAll() const {
  auto out = decodeAll(readWhole(segments_[0].fd, segments_[0].path));
  auto second = decodeAll(readWhole(segments_[1].fd, segments_[1].path));
  return byId(std::move(out), std::move(second));
}

std::vector<std::pair<MessageId, InboundRecord>> IngestJournal::readFile(
    const std::filesystem::path& dataDir) {
  std::vector<std::pair<MessageId, InboundRecord>> files[2];
  int i = 0;
  for (const auto& path : paths(dataDir)) {
    std::vector<std::pair<MessageId, InboundRecord>>& out = files[i++];
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail("store: cannot open", path);
    }
    std::string data;
    try {
      data = readWhole(fd, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    out = decodeAll(data);
  }
  return byId(std::move(files[0]), std::move(files[1]));
}

void IngestJournal::empty(Segment& s) {
  if (::ftruncate(s.fd, 0) != 0) fail("store: cannot truncate", s.path);
  s.bytes = 0;
  s.lastId = 0;
}

bool IngestJournal::worthEmptying(const Segment& s, MessageId foldedThrough) const {
  if (s.bytes == 0 || s.lastId > foldedThrough) return false;
  // The file being appended to is emptied only once it is worth it, not after every fold.
  return &s != &segments_[active_] || s.bytes >= rotateBytes_;
}

bool IngestJournal::worthSwitching() const {
  return segments_[active_].bytes >= rotateBytes_ && segments_[1 - active_].bytes == 0;
}

bool IngestJournal::releaseDue(MessageId foldedThrough) const {
  for (const Segment& s : segments_) {
    if (worthEmptying(s, foldedThrough)) return true;
  }
  return worthSwitching();
}

void IngestJournal::release(MessageId foldedThrough) {
  for (Segment& s : segments_) {
    if (worthEmptying(s, foldedThrough)) empty(s);
  }
  if (worthSwitching()) active_ = 1 - active_;
}

void IngestJournal::reset() {
  for (Segment& s : segments_) empty(s);
  active_ = 0;
}

void IngestJournal::removeFile() {
  // The second file first, the locked one last: a process that takes the lock after this finds
  // no second file of ours to append to.
  for (int i = 1; i >= 0; --i) {
    std::error_code ignored;
    std::filesystem::remove(segments_[i].path, ignored);
  }
}

}  // namespace sb::store::sqlite
