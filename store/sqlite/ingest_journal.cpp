#include "store/sqlite/ingest_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
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

std::uint32_t crcOf(const char* p, std::size_t n) {
  return static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n)));
}

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
    if (crcOf(payload, length) != header[2]) break;
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

}  // namespace

std::unique_ptr<IngestJournal> IngestJournal::open(const std::filesystem::path& dataDir,
                                                   bool syncEachAppend) {
  const auto path = dataDir / "ingest.journal";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) fail("store: cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return nullptr;  // another process owns it
    errno = e;
    fail("store: cannot lock", path);
  }
  return std::unique_ptr<IngestJournal>(new IngestJournal(path, fd, syncEachAppend));
}

IngestJournal::IngestJournal(std::filesystem::path path, int fd, bool sync)
    : path_(std::move(path)), fd_(fd), sync_(sync) {
  const off_t end = ::lseek(fd_, 0, SEEK_END);
  bytes_ = end > 0 ? static_cast<std::uint64_t>(end) : 0;
}

IngestJournal::~IngestJournal() {
  if (fd_ >= 0) ::close(fd_);
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
  const std::uint32_t header[3] = {kMagic, static_cast<std::uint32_t>(payload),
                                   crcOf(out.data() + at + kHeaderBytes, payload)};
  std::memcpy(out.data() + at, header, kHeaderBytes);
}

void IngestJournal::append(const std::vector<Entry>& entries) {
  // One buffer for the life of the journal: a batch is encoded without allocating once the
  // buffer has grown to the usual batch size. Large batches do not keep their memory.
  std::string& buf = buffer_;
  buf.clear();
  if (buf.capacity() > kKeptBufferBytes) buf.shrink_to_fit();
  std::size_t size = 0;
  for (const auto& [id, r] : entries) size += kHeaderBytes + 64 + r->raw.size() + 256;
  buf.reserve(size);
  for (const auto& [id, r] : entries) encode(id, *r, buf);
  const char* p = buf.data();
  std::size_t left = buf.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("store: cannot append to", path_);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  bytes_ += buf.size();
  if (sync_ && ::fdatasync(fd_) != 0) fail("store: cannot sync", path_);
}

std::vector<std::pair<MessageId, InboundRecord>> IngestJournal::readAll() const {
  return decodeAll(readWhole(fd_, path_));
}

std::vector<std::pair<MessageId, InboundRecord>> IngestJournal::readFile(
    const std::filesystem::path& dataDir) {
  const auto path = dataDir / "ingest.journal";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
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
  return decodeAll(data);
}

void IngestJournal::reset() {
  if (::ftruncate(fd_, 0) != 0) fail("store: cannot truncate", path_);
  bytes_ = 0;
}

void IngestJournal::removeFile() {
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

}  // namespace sb::store::sqlite
