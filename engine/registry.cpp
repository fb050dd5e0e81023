#include "engine/registry.h"

#include "channels/file/file_sender.h"
#include "channels/http/http_sender.h"
#include "channels/http/http_source.h"
#include "channels/mllp/mllp_connector.h"
#include "channels/sftp/sftp_sender.h"
#include "channels/sftp/sftp_source.h"

namespace sb::engine {

const channels::SourceFactory* Registry::source(std::string_view type) const {
  for (const auto& f : sources_) {
    if (f.type == type) return &f;
  }
  return nullptr;
}

const channels::SenderFactory* Registry::sender(std::string_view type) const {
  for (const auto& f : senders_) {
    if (f.type == type) return &f;
  }
  return nullptr;
}

void registerAll(Registry& registry) {
  // Listeners
  registry.add(channels::mllp_connector::mllpSourceFactory());
  registry.add(channels::sftp::sftpSourceFactory());
  registry.add(channels::http::httpSourceFactory());
  // Senders
  registry.add(channels::mllp_connector::mllpSenderFactory());
  registry.add(channels::file::fileSenderFactory());
  registry.add(channels::http::httpSenderFactory());
  registry.add(channels::sftp::sftpSenderFactory());
}

}  // namespace sb::engine
