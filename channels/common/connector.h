// The two kinds of connector and how they are built. Each connector folder (channels/mllp,
// channels/file, ...) provides factories; engine/registry.cpp lists them all by name.
//
// Senders return OK / RETRY / ERROR and the destination queue decides what happens next
// (backoff, dead letter): a sender never sleeps or retries on its own.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "engine/config/config_node.h"
#include "store/message_store.h"

namespace boost::asio {
class io_context;
}

namespace sb::channels {

enum class SendStatus {
  kOk,     // delivered
  kRetry,  // transient: try again after backoff
  kError,  // permanent: dead-letter now
};

struct SendResult {
  SendStatus status = SendStatus::kOk;
  std::string response;  // what the peer answered, kept with the attempt
  std::string error;     // for kRetry / kError, no PHI
  // For kRetry: the peer said when to come back (HTTP Retry-After); overrides the backoff.
  std::optional<std::int64_t> retryAfterMillis;
  static SendResult ok(std::string response = {}) {
    return {SendStatus::kOk, std::move(response), {}, std::nullopt};
  }
  static SendResult retry(std::string error, std::string response = {}) {
    return {SendStatus::kRetry, std::move(response), std::move(error), std::nullopt};
  }
  static SendResult fail(std::string error, std::string response = {}) {
    return {SendStatus::kError, std::move(response), std::move(error), std::nullopt};
  }
};

// Delivers queue items of one destination. Called from that destination's worker thread only.
class Sender {
 public:
  virtual ~Sender() = default;
  virtual SendResult send(const store::QueueItem& item) = 0;
};

// An inbound listener. Built (config validated) without side effects, started later.
class Source {
 public:
  virtual ~Source() = default;
  virtual void start() = 0;  // binds and accepts; throws std::runtime_error with the reason
  virtual void stop() = 0;
  virtual std::string describe() const = 0;  // "mllp 127.0.0.1:2575 (tls)" for the start-up log
};

// Where committed inbound messages go: the engine wakes its router.
class IngestSink {
 public:
  virtual ~IngestSink() = default;
  virtual store::MessageStore& store() = 0;
  virtual void committed() = 0;  // at least one message was committed: wake the router
};

struct BuildContext {
  std::filesystem::path configDir;  // relative certificate paths resolve here
  std::filesystem::path dataDir;    // relative output folders resolve here
  store::Durability durability = store::Durability::kProcess;
  boost::asio::io_context* io = nullptr;  // null when only checking the config
  IngestSink* sink = nullptr;             // null when only checking the config
};

struct SourceFactory {
  std::string type;
  std::span<const config::KeySpec> keys;
  std::string_view summary;
  // Validates through `reader` (errors go to its Errors); returns null when invalid.
  std::function<std::unique_ptr<Source>(const config::Reader& reader, const BuildContext& ctx)>
      create;
};

struct SenderFactory {
  std::string type;
  std::span<const config::KeySpec> keys;
  std::string_view summary;
  std::function<std::unique_ptr<Sender>(const config::Reader& reader, const BuildContext& ctx)>
      create;
};

// Resolves a path from the config: absolute stays, relative is taken from `base`.
std::filesystem::path resolvePath(const std::filesystem::path& base, const std::string& path);

}  // namespace sb::channels
