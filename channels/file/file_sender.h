// File destination: writes each delivered message as one file, atomically (a temporary name in
// the same folder, then rename), so a reader of the folder never sees half a message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "channels/common/connector.h"

namespace sb::channels::file {

struct FileSenderOptions {
  std::filesystem::path directory;
  // Placeholders: {id} message id (12 digits), {seq} queue position (12 digits), {channel},
  // {type}, {trigger}, {control_id} (file-name-safe), {received} (UTC YYYYMMDDTHHMMSSmmm).
  std::string filenameTemplate = "{id}.hl7";
  bool fsync = false;  // durability "power": fsync file and folder before reporting delivered
};

// Expands the template for one item; characters unsafe in file names become '_'.
std::string expandFilename(const std::string& pattern, const store::QueueItem& item);

class FileSender final : public Sender {
 public:
  explicit FileSender(FileSenderOptions options);
  ~FileSender() override;
  FileSender(const FileSender&) = delete;
  FileSender& operator=(const FileSender&) = delete;
  SendResult send(const store::QueueItem& item) override;

 private:
  // The folder, kept open: temporary files are created relative to it, so the kernel walks the
  // folder's path once per message (for the final rename) instead of three times. Whether it is
  // still the folder the path names is checked at most every kFolderCheckEvery: a stat per
  // message was a sixth of the destination's CPU on tmpfs. -1 until first use or after the
  // folder went away or was moved (it is created and opened again).
  int openFolder(std::string& error);
  static constexpr std::chrono::milliseconds kFolderCheckEvery{250};
  FileSenderOptions options_;
  int folder_ = -1;
  ino_t folderInode_ = 0;
  dev_t folderDevice_ = 0;
  std::chrono::steady_clock::time_point nextFolderCheck_{};
};

SenderFactory fileSenderFactory();

}  // namespace sb::channels::file
