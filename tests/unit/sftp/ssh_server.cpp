#include "ssh_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include <fmt/format.h>

namespace sb::test {
namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr const char* kSftpServer = "/usr/lib/openssh/sftp-server";
constexpr const char* kKeygen = "/usr/bin/ssh-keygen";

void keygen(const std::filesystem::path& file) {
  const auto r = runCommand(
      {kKeygen, "-q", "-t", "ed25519", "-N", "", "-C", "switchboard-test", "-f", file.string()});
  if (r.exitCode != 0) throw std::runtime_error("ssh-keygen failed for " + file.string());
}

// "ssh-ed25519 AAAA..." from a .pub file (without the comment).
std::string publicKey(const std::filesystem::path& pub) {
  std::string text = readFile(pub);
  const auto first = text.find(' ');
  const auto second = text.find(' ', first + 1);
  return text.substr(0, second == std::string::npos ? text.find('\n') : second);
}

pid_t spawnSshd(const std::filesystem::path& config, const std::filesystem::path& log) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Its own process group: the destructor ends sshd and every session it started, nothing
    // else.
    ::setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // sshd re-executes itself and so needs its absolute path.
    ::execl(kSshd, kSshd, "-D", "-e", "-f", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace

bool SshServer::available() {
  return ::access(kSshd, X_OK) == 0 && ::access(kSftpServer, X_OK) == 0 &&
         ::access(kKeygen, X_OK) == 0;
}

SshServer::SshServer(Options options) {
  if (!available()) throw std::runtime_error("OpenSSH server not installed");
  const auto& dir = dir_.path();
  std::filesystem::create_directories(root());
  keygen(dir / "host_key");
  keygen(dir / "other_host_key");
  keygen(userKey());
  writeFile(dir / "authorized_keys", readFile(dir / "user_key.pub"));
  // The SFTP server behind a wrapper, so its operation log goes to a file: a subsystem's stderr
  // would go to the client.
  writeFile(dir / "sftp-server.sh",
            fmt::format("#!/bin/sh\nexec {} -e -l VERBOSE{} 2>>'{}'\n", kSftpServer,
                        options.readOnly ? " -R" : "", (dir / "sftp.log").string()));
  ::chmod((dir / "sftp-server.sh").c_str(), 0755);
  if (const passwd* pw = ::getpwuid(::geteuid())) user_ = pw->pw_name;
  // As root sshd wants its privilege separation folder, which only the service normally makes.
  if (::geteuid() == 0) std::filesystem::create_directories("/run/sshd");

  // A free port can be taken by someone else before sshd binds it: try a few.
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = freePort();
    writeFile(dir / "sshd_config",
              fmt::format(R"(Port {}
ListenAddress 127.0.0.1
HostKey {}
AuthorizedKeysFile {}
PidFile none
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
LogLevel VERBOSE
Subsystem sftp {}
)",
                          port_, (dir / "host_key").string(), (dir / "authorized_keys").string(),
                          (dir / "sftp-server.sh").string()));
    const pid_t pid = spawnSshd(dir / "sshd_config", dir / "sshd.log");
    const bool up = waitFor(
        [&] {
          int status = 0;
          if (::waitpid(pid, &status, WNOHANG) == pid) return true;  // exited: see below
          return waitForPort(port_, std::chrono::milliseconds(50));
        },
        std::chrono::seconds(10));
    int status = 0;
    if (up && ::waitpid(pid, &status, WNOHANG) == 0) {
      pid_ = pid;
    } else {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  if (pid_ < 0) throw std::runtime_error("sshd did not start:\n" + sshdLog());
  writeFile(dir / "known_hosts",
            fmt::format("[127.0.0.1]:{} {}\n", port_, publicKey(dir / "host_key.pub")));
  writeFile(dir / "wrong_known_hosts",
            fmt::format("[127.0.0.1]:{} {}\n", port_, publicKey(dir / "other_host_key.pub")));
  writeFile(dir / "other_known_hosts",
            fmt::format("[127.0.0.2]:{} {}\n", port_, publicKey(dir / "host_key.pub")));
}

SshServer::~SshServer() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  // Sessions still open (a test that failed half-way) go with it.
  ::kill(-pid_, SIGKILL);
}

std::filesystem::path SshServer::knownHosts(unsigned short port) const {
  if (port == 0 || port == port_) return dir_.path() / "known_hosts";
  const auto file = dir_.path() / fmt::format("known_hosts_{}", port);
  writeFile(file,
            fmt::format("[127.0.0.1]:{} {}\n", port, publicKey(dir_.path() / "host_key.pub")));
  return file;
}

std::filesystem::path SshServer::wrongKnownHosts() const {
  return dir_.path() / "wrong_known_hosts";
}

std::filesystem::path SshServer::otherHostKnownHosts() const {
  return dir_.path() / "other_known_hosts";
}

std::string SshServer::url(const std::string& sub, unsigned short port) const {
  return fmt::format("sftp://127.0.0.1:{}{}/{}/", port ? port : port_, root().string(), sub);
}

std::string SshServer::sftpLog() const {
  const auto file = dir_.path() / "sftp.log";
  return std::filesystem::exists(file) ? readFile(file) : "";
}

void SshServer::authorize(const std::filesystem::path& publicKeyFile) const {
  const auto file = dir_.path() / "authorized_keys";
  writeFile(file, readFile(file) + readFile(publicKeyFile));
}

std::string SshServer::sshdLog() const {
  const auto file = dir_.path() / "sshd.log";
  return std::filesystem::exists(file) ? readFile(file) : "";
}

// ---------------------------------------------------------------------------------------------
TcpRelay::TcpRelay(unsigned short target) : target_(target) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 16) != 0) {
    throw std::runtime_error("relay: bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

TcpRelay::~TcpRelay() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listener_);
}

void TcpRelay::acceptLoop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    threads_.emplace_back([this, client] { pump(client); });
  }
}

void TcpRelay::pump(int client) {
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(target_);
  if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(server);
    ::close(client);
    return;
  }
  // No Nagle delay on relayed small packets (SFTP requests): the relay must not slow the
  // transfer down by itself.
  const int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::uint64_t fromServer = 0;
  char buf[65536];
  bool open = true;
  while (open && !stopping_) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = i == 0 ? client : server;
      const int to = i == 0 ? server : client;
      ssize_t n = ::read(from, buf, sizeof buf);
      if (n <= 0) {
        open = false;
        break;
      }
      if (i == 1) {
        const std::uint64_t cut = cutAt_.load();
        if (cut > 0 && fromServer + static_cast<std::uint64_t>(n) > cut) {
          // Part of this chunk, then the connection is gone: a transfer cut in the middle.
          std::uint64_t expected = cut;
          if (cutAt_.compare_exchange_strong(expected, 0)) {
            const auto keep = static_cast<std::size_t>(cut - fromServer);
            if (keep > 0) (void)!::write(to, buf, keep);
            ++cuts_;
            linger hard{1, 0};  // RST, like a network that went away
            ::setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            open = false;
            break;
          }
        }
        fromServer += static_cast<std::uint64_t>(n);
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
        if (w <= 0) {
          open = false;
          break;
        }
        off += w;
      }
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace sb::test
