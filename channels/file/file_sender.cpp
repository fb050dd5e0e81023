#include "channels/file/file_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

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

SendResult FileSender::send(const store::QueueItem& item) {
  const std::string name = expandFilename(options_.filenameTemplate, item);
  const auto finalPath = options_.directory / name;
  // Dot-prefixed temporary name: folder watchers conventionally skip hidden files.
  const auto tempPath = options_.directory / fmt::format(".{}.{}.tmp", name, item.queueId);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  int fd = ::open(tempPath.c_str(), kFlags, 0644);
  if (fd < 0 && errno == ENOENT) {
    // The folder is created on first use (and again if someone removed it), not checked for
    // on every message.
    std::error_code ec;
    std::filesystem::create_directories(options_.directory, ec);
    if (ec)
      return SendResult::retry(
          fmt::format("cannot create {}: {}", options_.directory.string(), ec.message()));
    fd = ::open(tempPath.c_str(), kFlags, 0644);
  }
  if (fd < 0)
    return SendResult::retry(fmt::format("open {}: {}", tempPath.string(), std::strerror(errno)));
  bool ok = writeAll(fd, item.payload);
  if (ok && options_.fsync) ok = ::fsync(fd) == 0;
  const int savedErrno = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tempPath.c_str());
    return SendResult::retry(
        fmt::format("write {}: {}", tempPath.string(), std::strerror(savedErrno)));
  }
  if (::rename(tempPath.c_str(), finalPath.c_str()) != 0) {
    const int e = errno;
    ::unlink(tempPath.c_str());
    return SendResult::retry(fmt::format("rename to {}: {}", finalPath.string(), std::strerror(e)));
  }
  if (options_.fsync) {
    const int dirFd = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
      ::fsync(dirFd);
      ::close(dirFd);
    }
  }
  return SendResult::ok(finalPath.filename().string());
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
