// SFTP destination: uploads each message as one file into a remote folder, under a temporary
// name ("<name>.part") that is renamed to the final name once complete, so a reader polling the
// folder never takes half a file. One connection per destination, kept between messages.
#pragma once

#include <string>
#include <vector>

#include "channels/common/connector.h"
#include "channels/sftp/sftp_client.h"

namespace sb::channels::sftp {

struct SftpSenderOptions {
  Connection connection;
  // Placeholders as the file destination's: {id} {seq} {channel} {type} {trigger} {control_id}
  // {received}; unsafe characters become '_'. {seq} keeps split outputs of one message apart.
  std::string filenameTemplate = "{id}-{seq}.dat";
  bool createFolders = false;
};

// The placeholders in `pattern` the file name template does not know, for config validation.
std::vector<std::string> unknownFilenamePlaceholders(const std::string& pattern);

class SftpSender final : public Sender {
 public:
  explicit SftpSender(SftpSenderOptions options);
  SendResult send(const store::QueueItem& item) override;

 private:
  SftpSenderOptions options_;
  Client client_;
};

SenderFactory sftpSenderFactory();

}  // namespace sb::channels::sftp
