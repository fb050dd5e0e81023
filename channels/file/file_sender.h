// File destination: writes each delivered message as one file, atomically (a temporary name in
// the same folder, then rename), so a reader of the folder never sees half a message.
#pragma once

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
  SendResult send(const store::QueueItem& item) override;

 private:
  FileSenderOptions options_;
};

SenderFactory fileSenderFactory();

}  // namespace sb::channels::file
