#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace sb::test {

std::filesystem::path sourceDir() {
  return SB_SOURCE_DIR;
}
std::filesystem::path fixturePath(const std::string& relative) {
  return sourceDir() / "fixtures" / relative;
}
std::string binaryPath() {
  return SB_BINARY_PATH;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto candidate = base / ("sbtest-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

unsigned short freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool waitForPort(unsigned short port, std::chrono::milliseconds timeout) {
  return waitFor(
      [port] {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
      },
      timeout);
}

namespace {
pid_t spawn(const std::vector<std::string>& argv, int stdoutFd, int stderrFd) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (stdoutFd >= 0) ::dup2(stdoutFd, 1);
    if (stderrFd >= 0) ::dup2(stderrFd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}
}  // namespace

CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                         bool withStderr) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = spawn(argv, pipefd[1], withStderr ? pipefd[1] : -1);
  ::close(pipefd[1]);
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  char buf[65536];
  int status = 0;
  bool exited = false;
  while (true) {
    ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n > 0) {
      result.out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (n == 0 && exited) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    struct timespec ts {
      0, 2 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  ::close(pipefd[0]);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

EngineProcess::EngineProcess(std::vector<std::string> args, std::filesystem::path logFile) {
  args.insert(args.begin(), binaryPath());
  int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_ = spawn(args, fd, fd);
  ::close(fd);
}

EngineProcess::~EngineProcess() {
  if (pid_ > 0) terminate();
}

void EngineProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void EngineProcess::signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

void EngineProcess::terminate() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    struct timespec ts {
      0, 20 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  kill9();
}

bool EngineProcess::running() {
  if (pid_ <= 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

}  // namespace sb::test
