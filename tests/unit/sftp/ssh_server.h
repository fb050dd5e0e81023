// A real OpenSSH server for the SFTP tests: /usr/sbin/sshd on 127.0.0.1 with a generated host
// key and a generated user key (ed25519), run as the current user, its SFTP operations logged to
// a file (sftp-server -l VERBOSE) so tests can see which files were opened and renamed. And a
// TCP relay in front of it that can drop a connection after a number of bytes, to cut a
// transfer in the middle.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace sb::test {

class SshServer {
 public:
  struct Options {
    bool readOnly = false;  // sftp-server -R: every write is refused (permission denied)
  };
  SshServer() : SshServer(Options{}) {}
  explicit SshServer(Options options);
  ~SshServer();
  SshServer(const SshServer&) = delete;
  SshServer& operator=(const SshServer&) = delete;

  // sshd, sftp-server and ssh-keygen are installed (tools/install-deps.sh).
  static bool available();

  unsigned short port() const { return port_; }
  const std::string& user() const { return user_; }
  // A folder for the test's remote files: an absolute path, also the path in sftp:// URLs.
  std::filesystem::path root() const { return dir_.path() / "remote"; }
  std::filesystem::path userKey() const { return dir_.path() / "user_key"; }
  // known_hosts naming this server's host key for 127.0.0.1:`port` (another port: a relay).
  std::filesystem::path knownHosts(unsigned short port = 0) const;
  // known_hosts with a different key for this host: a changed (or spoofed) server.
  std::filesystem::path wrongKnownHosts() const;
  // known_hosts without any entry for this host.
  std::filesystem::path otherHostKnownHosts() const;
  // "sftp://127.0.0.1:<port><root>/<sub>/" (port 0: this server).
  std::string url(const std::string& sub, unsigned short port = 0) const;
  // The SFTP operations log ("open", "rename", "remove" lines with paths).
  std::string sftpLog() const;
  // Lets the key of this public key file log in too.
  void authorize(const std::filesystem::path& publicKeyFile) const;
  std::string sshdLog() const;

 private:
  TempDir dir_;
  unsigned short port_ = 0;
  std::string user_;
  pid_t pid_ = -1;
};

// Forwards 127.0.0.1:port() to 127.0.0.1:target. cutAfter(n) makes the next connection that
// carries more than n bytes from the server close abruptly at that point (once).
class TcpRelay {
 public:
  explicit TcpRelay(unsigned short target);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;
  unsigned short port() const { return port_; }
  void cutAfter(std::uint64_t serverBytes) { cutAt_ = serverBytes; }
  int cuts() const { return cuts_; }
  int connections() const { return connections_; }

 private:
  void acceptLoop();
  void pump(int client);
  unsigned short target_;
  unsigned short port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> cutAt_{0};
  std::atomic<int> cuts_{0};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace sb::test
