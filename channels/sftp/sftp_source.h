// SFTP channel: polls a remote folder on its own thread and takes each finished file whole:
// download into memory, commit its messages (channels/common/file_ingest.h), then upload any
// replies and archive or delete the file. A file is removed from the folder only after its
// messages are committed, and a ledger in the data folder keeps a file from being taken twice
// when the engine stops between the commit and the archive (see channels/sftp/README.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "channels/common/connector.h"
#include "channels/common/file_ingest.h"
#include "channels/sftp/ledger.h"
#include "channels/sftp/sftp_client.h"

namespace sb::channels::sftp {

struct SftpSourceOptions {
  std::string channel;
  Connection connection;
  std::string pattern = "*";  // fnmatch glob on the file name; '*' skips dot files
  std::string format = "raw";
  std::chrono::milliseconds pollInterval{5'000};
  // Listings in a row, after the first sighting, that must show the same size and time before
  // a file is taken; 0 takes it at first sight (for peers that upload and then rename).
  int stableChecks = 1;
  std::vector<std::string> ignoreSuffixes = {".tmp", ".part", ".filepart"};
  bool archive = true;        // false: delete after commit
  std::string archiveFolder;  // remote folder, ends with '/'
  std::string replyFolder;    // remote folder for FileIngestResult::replies; empty: none
  std::size_t maxFileBytes = std::size_t{64} << 20;
  std::filesystem::path stateDir;  // <data>/sftp: the ledger and replies not yet uploaded
  // How a downloaded file is committed; empty: channels::ingestFile (tests put a seam here).
  std::function<void(std::string_view format, const std::string& channel, IngestSink& sink,
                     const std::string& peer, const std::string& fileName, std::string bytes,
                     FileIngestDone done)>
      ingest;
};

// True when the source would look at this name at all (pattern, temporary suffixes, one line).
bool wantedName(const SftpSourceOptions& options, const std::string& name);

class SftpSource final : public Source {
 public:
  SftpSource(SftpSourceOptions options, IngestSink& sink);
  ~SftpSource() override;
  SftpSource(const SftpSource&) = delete;
  SftpSource& operator=(const SftpSource&) = delete;

  void start() override;  // opens the ledger (throws on failure) and starts the poll thread
  void stop() override;   // aborts a running transfer and joins the thread
  std::string describe() const override;

 private:
  struct Seen {
    std::uint64_t size = 0;
    std::string stamp;
    int stableFor = 0;  // listings in a row with this size and time
  };
  void run();
  void poll();
  void take(Client& client, const RemoteEntry& entry);
  // Replies, then archive or delete, then the ledger entry is closed. False when a step failed
  // (the file stays and the next poll finishes the job).
  bool finish(Client& client, const std::string& name, const std::string& sha256);
  std::filesystem::path outbox(const std::string& name, const std::string& sha256) const;
  // Logs `error` for `key` once (until it changes or clears), so a server that stays down or a
  // file that cannot be archived does not fill the log every poll.
  void report(const std::string& key, const std::string& error);
  void clear(const std::string& key);

  SftpSourceOptions options_;
  IngestSink& sink_;
  std::unique_ptr<Ledger> ledger_;
  std::map<std::string, Seen> seen_;  // by file name, from the previous listing
  std::map<std::string, std::string> reported_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

SourceFactory sftpSourceFactory();

}  // namespace sb::channels::sftp
