// What the end-to-end tests share: a running engine (the real binary) with a config written for
// the test, a raw TCP client for malformed traffic, and a downstream MLLP peer that records what
// it receives.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "channels/mllp/mllp.h"
#include "tests/support/test_support.h"

namespace sb::e2e {

// A minimal valid HL7 v2.5 ADT^A01 with the given control id (and patient id).
std::string adtMessage(const std::string& controlId, const std::string& patientId = "PAT1");

// Plain blocking TCP client for sending arbitrary bytes.
class RawClient {
 public:
  explicit RawClient(unsigned short port);
  ~RawClient();
  void send(std::string_view bytes);
  // Reads until one whole MLLP frame arrived; returns its payload. Empty on close or timeout.
  std::string readFrame(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the peer closed the connection within the timeout.
  bool closedByPeer(std::chrono::milliseconds timeout);
  void close();

 private:
  int fd_ = -1;
  std::string buffer_;
};

// A downstream MLLP peer (our listener in the test process) that records every payload it gets,
// in arrival order, and answers with the configured acknowledgment code.
class Receiver : public mllp::MessageHandler {
 public:
  explicit Receiver(unsigned short port = 0);
  ~Receiver() override;
  unsigned short port() const { return port_; }
  void setAnswer(const std::string& code) {
    std::lock_guard lock(mutex_);
    answer_ = code;
  }
  std::vector<std::string> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return received_.size();
  }
  void stop();

  void onMessage(const mllp::ConnectionInfo&, std::string payload, mllp::Reply reply) override;
  void onOversized(const mllp::ConnectionInfo&, std::string, std::size_t,
                   mllp::Reply reply) override {
    reply("");
  }
  void onTruncated(const mllp::ConnectionInfo&, std::string) override {}

 private:
  boost::asio::io_context io_;
  std::unique_ptr<mllp::Listener> listener_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::mutex mutex_;
  std::vector<std::string> received_;
  std::string answer_ = "AA";
};

// MSH-10 of a message.
std::string controlIdOf(const std::string& message);

// A temp dir with a config file, and the engine started on it.
class Engine {
 public:
  explicit Engine(std::string configBody);  // written to <dir>/switchboard.lua
  ~Engine();
  void start();  // waits until every `wait_port` accepts
  void kill9();
  void stop();
  void reload();  // SIGHUP: routes and scripts are loaded again from the config file
  void waitPort(unsigned short port) { waitPorts_.push_back(port); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path dataDir() const { return dir_.path() / "data"; }
  std::filesystem::path configFile() const { return dir_.path() / "switchboard.lua"; }
  std::filesystem::path logFile() const { return dir_.path() / "engine.log"; }
  // Runs `switchboard ARGS... --data-dir <data>` style CLI commands.
  test::CommandResult cli(std::vector<std::string> args);

 private:
  test::TempDir dir_;
  std::unique_ptr<test::EngineProcess> process_;
  std::vector<unsigned short> waitPorts_;
};

// Counts files directly in a folder (ignores hidden temporary files).
std::vector<std::filesystem::path> listFiles(const std::filesystem::path& dir);

}  // namespace sb::e2e
