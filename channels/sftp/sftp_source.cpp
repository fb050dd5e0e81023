#include "channels/sftp/sftp_source.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "channels/common/file_ingest.h"
#include "common/log.h"

namespace sb::channels::sftp {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kSourceKeys = {
    KeySpec{"pattern", ValueType::kString, false, "*",
            "glob of the file names to take; `*` does not match a leading dot"},
    KeySpec{"format", ValueType::kString, false, "raw",
            "how a file becomes messages: \"raw\" (one message), \"hl7v2\" (each message of the "
            "file or batch) or \"x12\""},
    KeySpec{"poll_interval", ValueType::kNumber, false, "5", "seconds between two listings"},
    KeySpec{"stable_checks", ValueType::kInteger, false, "1",
            "listings in a row, one poll_interval apart, in which a file's size and time must "
            "not change before it is taken; 0 takes it at first sight"},
    KeySpec{"ignore_suffixes", ValueType::kStringList, false, ".tmp .part .filepart",
            "files ending so are uploads in progress and never taken"},
    KeySpec{"after", ValueType::kString, false, "archive",
            "what happens to a file once its messages are committed: \"archive\" or \"delete\""},
    KeySpec{"archive_folder", ValueType::kString, false, "",
            "remote folder committed files are moved to (relative: inside the url's folder); "
            "required with after = \"archive\""},
    KeySpec{"reply_folder", ValueType::kString, false, "none",
            "remote folder for the files a format answers with (X12 999/TA1)"},
    KeySpec{"max_file_bytes", ValueType::kInteger, false, "67108864",
            "larger files are left in place and logged as an error, never partly taken"},
};

std::span<const KeySpec> sourceKeys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> out(connectionKeys().begin(), connectionKeys().end());
    out.insert(out.begin() + 1, kSourceKeys.begin(), kSourceKeys.end());
    return out;
  }();
  return keys;
}

// A name usable as one local file name component.
std::string safeName(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") out = "_";
  return out;
}

std::string utcStamp() {
  const auto now = store::nowMillis();
  const std::time_t secs = static_cast<std::time_t>(now / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &utc);
  return fmt::format("{}{:03d}", buf, static_cast<int>(now % 1000));
}

std::string readLocal(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written and fsync'ed: a reply kept here must outlive a crash as surely as the ledger entry
// that follows it.
void writeLocal(const std::filesystem::path& file, const std::string& bytes) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error(fmt::format("open {}: {}", file.string(), std::strerror(errno)));
  std::string_view rest = bytes;
  bool ok = true;
  while (ok && !rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok)
    throw std::runtime_error(fmt::format("write {}: {}", file.string(), std::strerror(error)));
}

}  // namespace

bool wantedName(const SftpSourceOptions& options, const std::string& name) {
  if (name.empty() || name.find_first_of(std::string_view("\0\r\n/", 4)) != std::string::npos) {
    return false;
  }
  for (const auto& suffix : options.ignoreSuffixes) {
    if (!suffix.empty() && name.ends_with(suffix)) return false;
  }
  return ::fnmatch(options.pattern.c_str(), name.c_str(), FNM_PERIOD) == 0;
}

SftpSource::SftpSource(SftpSourceOptions options, IngestSink& sink)
    : options_(std::move(options)), sink_(sink) {}

SftpSource::~SftpSource() {
  stop();
}

void SftpSource::start() {
  ledger_ = std::make_unique<Ledger>(options_.stateDir / (safeName(options_.channel) + ".ledger"));
  if (ledger_->size() > 0) {
    log::at(log::Level::kInfo, "sftp",
            "channel {}: {} committed file(s) still to archive (from the ledger)", options_.channel,
            ledger_->size());
  }
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sb-sftp");
    run();
  });
}

void SftpSource::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string SftpSource::describe() const {
  return fmt::format("sftp {}{} ({}, format {}, every {} ms)", options_.connection.origin,
                     options_.connection.folder, options_.pattern, options_.format,
                     options_.pollInterval.count());
}

void SftpSource::run() {
  while (!stopping_) {
    try {
      poll();
    } catch (const std::exception& e) {
      report("", fmt::format("poll failed: {}", e.what()));
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.pollInterval, [this] { return stopping_.load(); });
  }
}

void SftpSource::report(const std::string& key, const std::string& error) {
  auto [it, fresh] = reported_.try_emplace(key, error);
  if (!fresh && it->second == error) {
    log::at(log::Level::kDebug, "sftp", "channel {}: {}", options_.channel, error);
    return;
  }
  it->second = error;
  log::at(log::Level::kError, "sftp", "channel {}: {}", options_.channel, error);
}

void SftpSource::clear(const std::string& key) {
  if (reported_.erase(key) != 0 && key.empty()) {
    log::at(log::Level::kInfo, "sftp", "channel {}: {} reachable again", options_.channel,
            options_.connection.hostPort());
  }
}

void SftpSource::poll() {
  const std::string& folder = options_.connection.folder;
  // One connection per poll: a server that drops idle sessions between polls costs nothing,
  // and one listing, its downloads and archives share the login.
  Client client(options_.connection, &stopping_);
  std::vector<RemoteEntry> entries;
  std::size_t unparsed = 0;
  const Result listed = client.list(folder, entries, &unparsed);
  if (!listed) {
    if (listed.fault != Fault::kStopped) {
      report("", listed.error + " (tried again every poll)");
    }
    return;
  }
  clear("");
  if (unparsed > 0) {
    report("#listing",
           fmt::format("list {}: {} line(s) not in the ls -l form were skipped", folder, unparsed));
  } else {
    clear("#listing");
  }

  std::set<std::string> present;
  std::map<std::string, Seen> next;
  std::vector<RemoteEntry> ready;
  for (auto& e : entries) {
    present.insert(e.name);
    if (e.type != '-' || !wantedName(options_, e.name)) continue;
    Seen seen{e.size, e.stamp, 0};
    if (const auto it = seen_.find(e.name);
        it != seen_.end() && it->second.size == e.size && it->second.stamp == e.stamp) {
      seen.stableFor = it->second.stableFor + 1;
    }
    if (seen.stableFor >= options_.stableChecks) ready.push_back(e);
    next.emplace(e.name, std::move(seen));
  }
  seen_ = std::move(next);
  // Entries and reports of files that left the folder (archived by us, or removed by someone)
  // have nothing left to protect or repeat.
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& entry : ledger_->entries()) {
    if (!present.count(entry.first)) gone.push_back(entry);
  }
  for (const auto& [name, sha] : gone) {
    ledger_->close(name, sha);
    std::error_code ec;
    if (const auto dir = outbox(name, sha); std::filesystem::exists(dir, ec)) {
      log::at(log::Level::kError, "sftp",
              "channel {}: {}{} left the folder before its replies were uploaded; they are kept "
              "in {}",
              options_.channel, folder, name, dir.string());
    }
  }
  std::erase_if(reported_, [&](const auto& r) {
    return !r.first.empty() && r.first.front() != '#' && !present.count(r.first);
  });

  // Name order: peers usually name files by time or sequence, and the order is repeatable.
  std::sort(ready.begin(), ready.end(),
            [](const RemoteEntry& a, const RemoteEntry& b) { return a.name < b.name; });
  for (const auto& e : ready) {
    if (stopping_) return;
    if (e.size > options_.maxFileBytes) {
      report(e.name, fmt::format("file {}{} has {} bytes, more than max_file_bytes ({}): left in "
                                 "place",
                                 folder, e.name, e.size, options_.maxFileBytes));
      continue;
    }
    take(client, e);
  }
}

void SftpSource::take(Client& client, const RemoteEntry& entry) {
  const std::string& folder = options_.connection.folder;
  const std::string path = folder + entry.name;
  // Whatever happens next, a file of this name found at a later poll (left behind, or uploaded
  // anew) must prove again that it is finished.
  seen_.erase(entry.name);
  std::string bytes;
  const Result got = client.download(path, options_.maxFileBytes, bytes);
  if (!got) {
    if (got.fault != Fault::kStopped) {
      report(entry.name, got.error + " (nothing committed; the file is taken again next poll)");
    }
    return;
  }
  if (bytes.size() != entry.size) {
    // Written to since it was listed: it was not finished after all; watch it again.
    log::at(log::Level::kInfo, "sftp", "channel {}: file {} changed while read ({} -> {} bytes)",
            options_.channel, path, entry.size, bytes.size());
    return;
  }
  const std::string sha = sha256Hex(bytes);
  if (ledger_->contains(entry.name, sha)) {
    log::at(log::Level::kWarn, "sftp",
            "channel {}: file {} was committed before (ledger): archived without a second "
            "ingest",
            options_.channel, path);
    finish(client, entry.name, sha);
    return;
  }

  const std::size_t size = bytes.size();
  auto promise = std::make_shared<std::promise<FileIngestResult>>();
  auto future = promise->get_future();
  try {
    const auto& ingest = options_.ingest ? options_.ingest : ingestFile;
    ingest(options_.format, options_.channel, sink_,
           options_.connection.origin + options_.connection.folder, entry.name, std::move(bytes),
           [promise](FileIngestResult result) { promise->set_value(std::move(result)); });
  } catch (const std::exception& e) {
    report(entry.name, fmt::format("file {}: {}", path, e.what()));
    return;
  }
  // The poll thread waits for the commit; the io_context and the store's thread never wait.
  FileIngestResult result = future.get();
  if (!result.committed) {
    report(entry.name,
           fmt::format("file {}: not committed ({}); taken again next poll", path, result.error));
    return;
  }
  log::at(log::Level::kInfo, "sftp", "channel {}: file {} committed ({} bytes)", options_.channel,
          path, size);

  if (!result.replies.empty()) {
    if (options_.replyFolder.empty()) {
      log::at(log::Level::kInfo, "sftp",
              "channel {}: {} reply file(s) for {} dropped: no reply_folder", options_.channel,
              result.replies.size(), path);
    } else {
      // Kept locally before the ledger entry, so replies survive a restart until uploaded.
      try {
        const auto dir = outbox(entry.name, sha);
        std::filesystem::create_directories(dir);
        for (std::size_t i = 0; i < result.replies.size(); ++i) {
          writeLocal(dir / fmt::format("{:04d}-{}", i, safeName(result.replies[i].name)),
                     result.replies[i].bytes);
        }
        if (const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
          ::fsync(fd);  // the names too, not only the contents
          ::close(fd);
        }
      } catch (const std::exception& e) {
        report(entry.name + "#replies", fmt::format("replies of {} not kept: {}", path, e.what()));
      }
    }
  }
  try {
    ledger_->add(entry.name, sha);
  } catch (const std::exception& e) {
    // The messages are committed: archiving now is right; only a crash before it would
    // take the file again.
    report("#ledger", fmt::format("ledger: {}", e.what()));
  }
  finish(client, entry.name, sha);
}

std::filesystem::path SftpSource::outbox(const std::string& name, const std::string& sha) const {
  return options_.stateDir / (safeName(options_.channel) + ".replies") /
         fmt::format("{}-{}", sha.substr(0, 16), sha256Hex(name).substr(0, 16));
}

bool SftpSource::finish(Client& client, const std::string& name, const std::string& sha) {
  const std::string& folder = options_.connection.folder;
  const std::string path = folder + name;
  const auto dir = outbox(name, sha);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) files.push_back(f.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const std::string stored = file.filename().string();
      const std::string replyName = stored.substr(std::min<std::size_t>(5, stored.size()));
      const Result sent = client.put(options_.replyFolder, replyName, readLocal(file), false);
      if (!sent) {
        if (sent.fault != Fault::kStopped) {
          report(name, sent.error + fmt::format(" (reply to {}; {} stays until it is uploaded)",
                                                path, path));
        }
        return false;
      }
      std::filesystem::remove(file, ec);
    }
    std::filesystem::remove_all(dir, ec);
  }

  std::string target;
  Result done;
  if (options_.archive) {
    target = options_.archiveFolder + name;
    done = client.commands({fmt::format("rename {} {}", commandPath(path), commandPath(target))});
    if (done.fault == Fault::kCommand) {
      // Most likely an archived file of the same name (peers reuse names): keep both.
      target = fmt::format("{}{}.{}", options_.archiveFolder, name, utcStamp());
      done = client.commands({fmt::format("rename {} {}", commandPath(path), commandPath(target))});
    }
  } else {
    done = client.commands({"rm " + commandPath(path)});
  }
  if (!done) {
    if (done.fault != Fault::kStopped) {
      report(name, done.error + fmt::format(" ({} is committed; the ledger keeps it from being "
                                            "taken twice)",
                                            path));
    }
    return false;
  }
  reported_.erase(name);
  try {
    ledger_->close(name, sha);
  } catch (const std::exception& e) {
    report("#ledger", fmt::format("ledger: {}", e.what()));
  }
  if (options_.archive) {
    log::at(log::Level::kInfo, "sftp", "channel {}: file {} archived to {}", options_.channel, path,
            target);
  } else {
    log::at(log::Level::kInfo, "sftp", "channel {}: file {} deleted", options_.channel, path);
  }
  return true;
}

SourceFactory sftpSourceFactory() {
  return SourceFactory{
      "sftp", sourceKeys(),
      "polls a remote folder over SFTP; each finished file is committed, then archived or "
      "deleted",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Source> {
        SftpSourceOptions o;
        o.channel = r.section().name;
        o.connection = readConnection(r, ctx);
        o.pattern = r.string("pattern", o.pattern);
        if (o.pattern.empty()) r.fail("pattern", "must not be empty");
        o.format = r.string("format", o.format);
        if (!isKnownFileFormat(o.format)) {
          r.fail("format",
                 fmt::format("must be \"raw\", \"hl7v2\" or \"x12\", got \"{}\"", o.format));
        }
        o.pollInterval = std::chrono::milliseconds(
            static_cast<std::int64_t>(r.number("poll_interval", 5, 0.01, 86400) * 1000));
        o.stableChecks = static_cast<int>(r.integer("stable_checks", 1, 0, 1000));
        if (r.has("ignore_suffixes")) o.ignoreSuffixes = r.strings("ignore_suffixes");
        const std::string after = r.string("after", "archive");
        if (after != "archive" && after != "delete") {
          r.fail("after", fmt::format("must be \"archive\" or \"delete\", got \"{}\"", after));
        }
        o.archive = after == "archive";
        const std::string& folder = o.connection.folder;
        if (o.archive) {
          o.archiveFolder = remoteFolder(folder, r.string("archive_folder"));
          if (!r.has("archive_folder")) {
            r.fail("archive_folder", "is required with after = \"archive\"");
          } else if (o.archiveFolder == folder) {
            r.fail("archive_folder", "must not be the folder that is polled");
          }
        } else if (r.has("archive_folder")) {
          r.fail("archive_folder", "is only used with after = \"archive\"");
        }
        o.replyFolder = remoteFolder(folder, r.string("reply_folder"));
        if (!o.replyFolder.empty() && o.replyFolder == folder) {
          r.fail("reply_folder", "must not be the folder that is polled");
        }
        for (const auto& [key, value] :
             {std::pair<std::string_view, const std::string*>{"archive_folder", &o.archiveFolder},
              {"reply_folder", &o.replyFolder}}) {
          if (value->find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
            r.fail(key, "must not contain line breaks");
          }
        }
        o.maxFileBytes = static_cast<std::size_t>(r.integer(
            "max_file_bytes", static_cast<std::int64_t>(o.maxFileBytes), 1, std::int64_t{1} << 30));
        o.stateDir = ctx.dataDir / "sftp";
        if (!ctx.sink) return nullptr;  // only checking
        return std::make_unique<SftpSource>(std::move(o), *ctx.sink);
      }};
}

}  // namespace sb::channels::sftp
