// Helpers shared by the tests: temporary directories, fixture paths, and the real switchboard
// binary started as a child process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sb::test {

std::filesystem::path sourceDir();
std::filesystem::path fixturePath(const std::string& relative);  // under fixtures/
std::string readFile(const std::filesystem::path& path);
void writeFile(const std::filesystem::path& path, const std::string& data);

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
unsigned short freePort();

// Runs a command to completion and captures its stdout (stderr goes to the test log).
struct CommandResult {
  int exitCode = -1;
  std::string out;
};
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::seconds timeout = std::chrono::seconds(120),
                         bool withStderr = false);

// The real `switchboard` binary as a child process; stderr goes to `logFile`.
class EngineProcess {
 public:
  EngineProcess(std::vector<std::string> args, std::filesystem::path logFile);
  ~EngineProcess();  // SIGTERM, then SIGKILL after a grace period
  void kill9();
  void signal(int signal);
  void terminate();  // SIGTERM and wait
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

std::string binaryPath();

// Polls `predicate` every 20 ms until it is true or `timeout` passes; returns its last value.
template <typename F>
bool waitFor(F predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    struct timespec ts {
      0, 20 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  return predicate();
}

// Waits until something accepts TCP connections on 127.0.0.1:port.
bool waitForPort(unsigned short port, std::chrono::milliseconds timeout);

}  // namespace sb::test
