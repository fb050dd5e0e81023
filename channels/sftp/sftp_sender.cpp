#include "channels/sftp/sftp_sender.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "channels/file/file_sender.h"

namespace sb::channels::sftp {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kSenderKeys = {
    KeySpec{"filename", ValueType::kString, false, "{id}-{seq}.dat",
            "file name template: {id} {seq} {channel} {type} {trigger} {control_id} {received}; "
            "uploaded as name.part, then renamed"},
    KeySpec{"create_folders", ValueType::kBool, false, "false",
            "create the url's folder (and its parents) when it does not exist"},
};

constexpr std::array<std::string_view, 7> kPlaceholders = {
    "id", "seq", "channel", "type", "trigger", "control_id", "received"};

std::span<const KeySpec> senderKeys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> out(connectionKeys().begin(), connectionKeys().end());
    out.insert(out.begin() + 1, kSenderKeys.begin(), kSenderKeys.end());
    return out;
  }();
  return keys;
}

}  // namespace

std::vector<std::string> unknownFilenamePlaceholders(const std::string& pattern) {
  std::vector<std::string> out;
  for (auto open = pattern.find('{'); open != std::string::npos;
       open = pattern.find('{', open + 1)) {
    const auto close = pattern.find('}', open);
    if (close == std::string::npos) break;
    const std::string key = pattern.substr(open + 1, close - open - 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), key) == kPlaceholders.end()) {
      out.push_back(key);
    }
  }
  return out;
}

SftpSender::SftpSender(SftpSenderOptions options)
    : options_(std::move(options)), client_(options_.connection) {}

SendResult SftpSender::send(const store::QueueItem& item) {
  const std::string name = file::expandFilename(options_.filenameTemplate, item);
  const std::string& folder = options_.connection.folder;
  Result r = client_.put(folder, name, item.payload, options_.createFolders);
  if (!r && (r.fault == Fault::kNetwork || r.fault == Fault::kOther) &&
      client_.reusedConnection()) {
    // The connection kept from the last message may have been closed by the server while
    // idle: one more try on a fresh one before the queue's backoff.
    client_.disconnect();
    r = client_.put(folder, name, item.payload, options_.createFolders);
  }
  switch (r.fault) {
    case Fault::kNone:
      return SendResult::ok(folder + name);
    case Fault::kDenied:
      // Only the server's owner can change that; retrying would block the queue for nothing.
      return SendResult::fail(r.error + " (permission denied)");
    case Fault::kHostKey:
    case Fault::kLogin:
      // An operator can fix keys or known_hosts without touching the queue: keep retrying.
      client_.disconnect();
      return SendResult::retry(r.error);
    case Fault::kNotFound:
      return SendResult::retry(
          r.error + (options_.createFolders ? "" : " (create the folder, or set create_folders)"));
    default:
      client_.disconnect();
      return SendResult::retry(r.error);
  }
}

SenderFactory sftpSenderFactory() {
  return SenderFactory{
      "sftp", senderKeys(),
      "uploads each message as one file over SFTP (temporary name, then rename)",
      [](const config::Reader& r, const BuildContext& ctx) -> std::unique_ptr<Sender> {
        SftpSenderOptions o;
        o.connection = readConnection(r, ctx);
        o.filenameTemplate = r.string("filename", o.filenameTemplate);
        if (o.filenameTemplate.empty()) {
          r.fail("filename", "must not be empty");
        } else if (o.filenameTemplate.find('/') != std::string::npos) {
          r.fail("filename", "must not contain '/'");
        }
        for (const auto& key : unknownFilenamePlaceholders(o.filenameTemplate)) {
          r.fail("filename", fmt::format("unknown placeholder {{{}}}", key));
        }
        o.createFolders = r.boolean("create_folders", false);
        return std::make_unique<SftpSender>(std::move(o));
      }};
}

}  // namespace sb::channels::sftp
