#include "channels/sftp/ledger.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace sb::channels::sftp {
namespace {

// Line format: "+ <sha256> <name>\n" opens an entry, "- <sha256> <name>\n" closes it. A torn
// last line (a crash inside a write) has no '\n' and is ignored.
bool parseLine(std::string_view line, char& mark, std::string& sha, std::string& name) {
  if (line.size() < 4 + 64 || (line[0] != '+' && line[0] != '-') || line[1] != ' ' ||
      line[2 + 64] != ' ') {
    return false;
  }
  mark = line[0];
  sha = std::string(line.substr(2, 64));
  name = std::string(line.substr(3 + 64));
  return !name.empty();
}

void writeAll(int fd, std::string_view data, const std::filesystem::path& file) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("write {}: {}", file.string(), std::strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void syncFolder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

std::string sha256Hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

Ledger::Ledger(std::filesystem::path file) : file_(std::move(file)) {
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot create {}: {}", file_.parent_path().string(), ec.message()));
  }
  std::size_t lines = 0;
  if (std::filesystem::exists(file_)) {
    std::ifstream in(file_, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("cannot read {}", file_.string()));
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    std::size_t pos = 0;
    while (pos < all.size()) {
      const std::size_t end = all.find('\n', pos);
      if (end == std::string::npos) break;
      char mark = 0;
      std::string sha, name;
      if (parseLine(std::string_view(all).substr(pos, end - pos), mark, sha, name)) {
        if (mark == '+') {
          open_.emplace(std::move(name), std::move(sha));
        } else {
          open_.erase({name, sha});
        }
      }
      ++lines;
      pos = end + 1;
    }
  }
  // Rewritten with the open entries only, so the file stays as small as the backlog of files
  // waiting to be archived. Written aside and renamed: a crash leaves the old or the new one.
  if (lines != open_.size()) {
    const auto temp = std::filesystem::path(file_.string() + ".new");
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw std::runtime_error(fmt::format("open {}: {}", temp.string(), std::strerror(errno)));
    }
    try {
      std::string out;
      for (const auto& [name, sha] : open_) out += fmt::format("+ {} {}\n", sha, name);
      writeAll(fd, out, temp);
      if (::fsync(fd) != 0) {
        throw std::runtime_error(fmt::format("fsync {}: {}", temp.string(), std::strerror(errno)));
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    if (::rename(temp.c_str(), file_.c_str()) != 0) {
      throw std::runtime_error(
          fmt::format("rename to {}: {}", file_.string(), std::strerror(errno)));
    }
    syncFolder(file_.parent_path());
  }
  fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("open {}: {}", file_.string(), std::strerror(errno)));
  }
  syncFolder(file_.parent_path());
}

Ledger::~Ledger() {
  if (fd_ >= 0) ::close(fd_);
}

bool Ledger::contains(const std::string& name, const std::string& sha256) const {
  return open_.count({name, sha256}) != 0;
}

void Ledger::append(char mark, const std::string& name, const std::string& sha256) {
  if (sha256.size() != 64 || name.empty() || name.find('\n') != std::string::npos) {
    throw std::invalid_argument("ledger entries need a SHA-256 and a one-line name");
  }
  writeAll(fd_, fmt::format("{} {} {}\n", mark, sha256, name), file_);
  if (::fdatasync(fd_) != 0) {
    throw std::runtime_error(fmt::format("fsync {}: {}", file_.string(), std::strerror(errno)));
  }
}

void Ledger::add(const std::string& name, const std::string& sha256) {
  append('+', name, sha256);
  open_.emplace(name, sha256);
}

void Ledger::close(const std::string& name, const std::string& sha256) {
  if (!contains(name, sha256)) return;
  append('-', name, sha256);
  open_.erase({name, sha256});
}

}  // namespace sb::channels::sftp
