#include "store/sqlite/setup_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sb::store::sqlite {

SetupLock::SetupLock(const std::filesystem::path& dataDir, Kind kind) {
  const auto path = dataDir / "setup.lock";
  if (kind == Kind::kExclusive) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      throw std::runtime_error(
          fmt::format("store: cannot open {}: {}", path.string(), std::strerror(errno)));
    }
  } else {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;
  }
  // Held for milliseconds (a file's creation and migrations); flock is released by the kernel
  // if the holder dies, so a kill -9 during setup never leaves it stuck.
  while (::flock(fd_, kind == Kind::kExclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
      sb::log::at(sb::log::Level::kWarn, "store",
                  "{} cannot be locked ({}): opening without the setup lock", path.string(),
                  std::strerror(e));
      return;
    }
    throw std::runtime_error(
        fmt::format("store: cannot lock {}: {}", path.string(), std::strerror(e)));
  }
}

SetupLock::~SetupLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace sb::store::sqlite
