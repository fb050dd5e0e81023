// SFTP on libcurl (libssh2 underneath): the login both SFTP connectors share (URL, user, key,
// known_hosts), its config keys, and a small blocking client for the few operations they need:
// list a folder, download a file into memory, upload under a temporary name and rename, run
// rename/rm commands. The server's host key must be in known_hosts: an unknown or changed key is
// refused, and known_hosts is never written.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "channels/common/connector.h"

namespace sb::channels::sftp {

// Where and as whom to log in. Remote paths are decoded paths as in the URL: "/in/" is absolute,
// "/~/in/" is relative to the login's home folder. Folders end with '/'.
struct Connection {
  std::string origin;  // "sftp://host:port", no path
  std::string folder;  // the URL's folder, decoded, ending with '/'
  std::string user;
  std::string password;  // password login when set, otherwise the key
  std::string privateKey;
  std::string publicKey;  // optional: libssh2 derives it from the private key
  std::string keyPassphrase;
  std::string knownHosts;
  std::chrono::milliseconds connectTimeout{10'000};
  std::chrono::milliseconds timeout{300'000};  // one request: a listing, a download, an upload

  std::string hostPort() const;  // "host:port" for messages
};

// The keys of the login, in the order the docs show them; each connector adds its own.
std::span<const config::KeySpec> connectionKeys();
// Reads and checks the login keys (files must exist; relative paths are taken from the config
// folder). Errors go to the reader.
Connection readConnection(const config::Reader& r, const BuildContext& ctx);
// A folder key's value as a remote folder: absolute stays, relative is inside `base`; ends with
// '/'. Empty stays empty.
std::string remoteFolder(const std::string& base, const std::string& value);

// What went wrong, so each connector can decide between retrying and giving up.
enum class Fault {
  kNone,
  kNetwork,   // connect, timeout, connection lost: try again later
  kHostKey,   // the server's key is not in known_hosts, or differs from it
  kLogin,     // user, key or password refused
  kDenied,    // permission denied on the server
  kNotFound,  // no such file or folder
  kTooLarge,  // a download passed its size limit (and was stopped there)
  kCommand,   // a rename/rm failed for another reason (e.g. the target exists)
  kStopped,   // the caller is stopping
  kOther,
};

struct Result {
  Fault fault = Fault::kNone;
  std::string error;  // "sftp host:port: <what>: <detail>", file names but never contents
  explicit operator bool() const { return fault == Fault::kNone; }
};

struct RemoteEntry {
  std::string name;
  char type = '?';  // the long listing's first column: '-' file, 'd' folder, 'l' link
  std::uint64_t size = 0;
  std::string stamp;  // the listing's date column as shown, to notice rewrites of equal size
};

// One line of a long ("ls -l" style) listing as OpenSSH and most servers send it:
// "-rw-r--r--    1 owner    group        1234 Jan  1 12:00 name". nullopt for other lines.
std::optional<RemoteEntry> parseListingLine(std::string_view line);

// A remote path as an argument of an SFTP command (rename, rm): quoted, with '"' and '\'
// escaped; "/~/x" becomes "x" because commands run relative to the home folder.
std::string commandPath(std::string_view remotePath);

class Client {
 public:
  // `stopping`, when given, aborts a running request soon after it turns true.
  explicit Client(const Connection& connection, const std::atomic<bool>* stopping = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The folder's entries except "." and ".."; `unparsed` counts lines not in the long form.
  Result list(const std::string& folder, std::vector<RemoteEntry>& out,
              std::size_t* unparsed = nullptr);
  // The whole file into `out`; past `maxBytes` the transfer stops with kTooLarge.
  Result download(const std::string& path, std::size_t maxBytes, std::string& out);
  // Writes `<folder><name>.part`, then replaces `<folder><name>` with it (rm, then rename:
  // OpenSSH will not rename onto an existing file), so a reader never sees half a file.
  Result put(const std::string& folder, const std::string& name, std::string_view bytes,
             bool createFolders);
  // SFTP commands (see CURLOPT_QUOTE: "rename a b", "rm a", a leading '*' ignores a failure).
  Result commands(const std::vector<std::string>& commands);

  // The last request ran on a connection kept from an earlier one (which the server may have
  // dropped meanwhile: worth one immediate retry on a fresh connection).
  bool reusedConnection() const;
  void disconnect();

 private:
  struct Handle;
  Result perform(std::string_view what);
  Connection connection_;
  const std::atomic<bool>* stopping_;
  std::unique_ptr<Handle> handle_;
};

}  // namespace sb::channels::sftp
