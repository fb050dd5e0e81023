#include "channels/file/file_sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <fmt/format.h>

#include "channels/common/placeholders.h"

namespace sb::channels::file {
namespace {

std::string safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '_');
  }
  if (out == "." || out == "..") out = "_";
  return out;
}

std::string utcStamp(store::Millis ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &utc);
  return fmt::format("{}{:03d}", buf, static_cast<int>(ms % 1000));
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

constexpr std::array kKeys = {
    config::KeySpec{"directory", config::ValueType::kString, true, "",
                    "output folder; relative paths are inside the data directory"},
    config::KeySpec{"filename", config::ValueType::kString, false, "{id}.hl7",
                    "file name template: {id} {seq} {channel} {type} {trigger} {control_id} "
                    "{received}"},
};

}  // namespace

std::string expandFilename(const std::string& pattern, const store::QueueItem& item) {
  const auto& s = item.summary;
  return safe(expandPlaceholders(pattern, [&](std::string_view key) -> std::optional<std::string> {
    if (key == "id") return fmt::format("{:012d}", item.messageId);
    if (key == "seq") return fmt::format("{:012d}", item.queueId);
    if (key == "channel") return safe(s.channel);
    if (key == "type") return safe(s.messageType);
    if (key == "trigger") return safe(s.triggerEvent);
    if (key == "control_id") return safe(s.controlId);
    if (key == "received") return utcStamp(s.receivedAt);
    return std::nullopt;
  }));
}

FileSender::FileSender(FileSenderOptions options) : options_(std::move(options)) {}

FileSender::~FileSender() {
  if (folder_ >= 0) ::close(folder_);
}

int FileSender::openFolder(std::string& error) {
  if (folder_ >= 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now < nextFolderCheck_) return folder_;
    // Still the folder the path names? Operators collect output with "mv out out.1; mkdir out"
    // (or just the move). The final rename goes to the path whatever this says; the check only
    // keeps the temporary files out of a moved folder.
    struct stat byPath {};
    if (::stat(options_.directory.c_str(), &byPath) == 0 && byPath.st_ino == folderInode_ &&
        byPath.st_dev == folderDevice_) {
      nextFolderCheck_ = now + kFolderCheckEvery;
      return folder_;
    }
    ::close(folder_);
    folder_ = -1;
  }
  // The folder is created on first use (and again if someone removed it), not checked for on
  // every message.
  std::error_code ec;
  std::filesystem::create_directories(options_.directory, ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", options_.directory.string(), ec.message());
    return -1;
  }
  folder_ = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat opened {};
  if (folder_ < 0 || ::fstat(folder_, &opened) != 0) {
    error = fmt::format("open {}: {}", options_.directory.string(), std::strerror(errno));
    if (folder_ >= 0) ::close(folder_);
    folder_ = -1;
    return -1;
  }
  folderInode_ = opened.st_ino;
  folderDevice_ = opened.st_dev;
  nextFolderCheck_ = std::chrono::steady_clock::now() + kFolderCheckEvery;
  return folder_;
}

SendResult FileSender::send(const store::QueueItem& item) {
  const std::string name = expandFilename(options_.filenameTemplate, item);
  // Dot-prefixed temporary name: folder watchers conventionally skip hidden files.
  const std::string tempName = fmt::format(".{}.{}.tmp", name, item.queueId);
  const auto inFolder = [&](const std::string& file) {
    return (options_.directory / file).string();
  };
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  std::string error;
  int fd = -1;
  for (int attempt = 0; attempt < 2 && fd < 0; ++attempt) {
    const int folder = openFolder(error);
    if (folder < 0) return SendResult::retry(error);
    fd = ::openat(folder, tempName.c_str(), kFlags, 0644);
    // ENOENT: the folder was removed (an open folder that is deleted takes no new files); it is
    // created and opened again once.
    if (fd < 0 && errno == ENOENT && attempt == 0) {
      ::close(folder_);
      folder_ = -1;
    } else if (fd < 0) {
      break;
    }
  }
  if (fd < 0) {
    return SendResult::retry(fmt::format("open {}: {}", inFolder(tempName), std::strerror(errno)));
  }
  bool ok = writeAll(fd, item.payload);
  if (ok && options_.fsync) ok = ::fsync(fd) == 0;
  const int savedErrno = errno;
  ::close(fd);
  if (!ok) {
    ::unlinkat(folder_, tempName.c_str(), 0);
    return SendResult::retry(
        fmt::format("write {}: {}", inFolder(tempName), std::strerror(savedErrno)));
  }
  // To the path, not relative to the open folder: if the folder was moved away since it was
  // opened ("mv out out.1; mkdir out"), the file goes to the folder the path names now, never
  // into the moved one. With the move alone, the path's folder is created and the rename runs
  // again (the temporary file is still in the moved folder, on the same filesystem).
  const std::string target = inFolder(name);
  int from = folder_;  // where the temporary file is
  std::string reopenError;
  int renamed = ::renameat(from, tempName.c_str(), AT_FDCWD, target.c_str());
  if (renamed != 0 && errno == ENOENT) {
    from = std::exchange(folder_, -1);
    if (openFolder(reopenError) >= 0) {
      renamed = ::renameat(from, tempName.c_str(), AT_FDCWD, target.c_str());
    }
  }
  const int e = errno;
  if (renamed != 0) ::unlinkat(from, tempName.c_str(), 0);
  if (from != folder_) ::close(from);
  if (renamed != 0) {
    return SendResult::retry(fmt::format("rename to {}: {}", target,
                                         reopenError.empty() ? std::strerror(e) : reopenError));
  }
  if (options_.fsync) {
    // The folder the file was renamed into: the one the path names.
    const int dir = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return SendResult::ok(name);
}

SenderFactory fileSenderFactory() {
  return SenderFactory{
      "file", kKeys, "writes each message as one file (atomic rename)",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Sender> {
        FileSenderOptions o;
        o.directory = resolvePath(ctx.dataDir, r.string("directory"));
        o.filenameTemplate = r.string("filename", o.filenameTemplate);
        if (o.filenameTemplate.find('/') != std::string::npos) {
          r.fail("filename", "must not contain '/'");
        }
        o.fsync = ctx.durability == store::Durability::kPower;
        return std::make_unique<FileSender>(std::move(o));
      }};
}

}  // namespace sb::channels::file
