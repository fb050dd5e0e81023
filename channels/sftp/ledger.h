// The files an SFTP channel has committed but not yet archived or deleted on the server.
//
// Commit and archive are two systems: the engine can die, or the archive can fail, after the
// store has the messages and before the file is gone from the folder. The next poll would take
// the file again. An entry (file name + SHA-256 of its content) is appended and fsync'ed before
// archiving and closed once the file is archived, so a file found in the ledger is archived
// without a second ingest. Closed entries are dropped when the ledger is opened again.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <utility>

namespace sb::channels::sftp {

// Hex SHA-256.
std::string sha256Hex(std::string_view bytes);

class Ledger {
 public:
  // Loads the file (a missing file is an empty ledger) and rewrites it without closed entries.
  // Throws std::runtime_error when it cannot be read or written.
  explicit Ledger(std::filesystem::path file);
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  ~Ledger();

  bool contains(const std::string& name, const std::string& sha256) const;
  // Durable when it returns (written and fsync'ed); throws std::runtime_error otherwise.
  void add(const std::string& name, const std::string& sha256);
  // The file is archived or deleted: the entry is closed (also fsync'ed).
  void close(const std::string& name, const std::string& sha256);
  std::size_t size() const { return open_.size(); }
  const std::set<std::pair<std::string, std::string>>& entries() const { return open_; }
  const std::filesystem::path& path() const { return file_; }

 private:
  void append(char mark, const std::string& name, const std::string& sha256);
  std::filesystem::path file_;
  int fd_ = -1;
  std::set<std::pair<std::string, std::string>> open_;  // (name, sha256)
};

}  // namespace sb::channels::sftp
