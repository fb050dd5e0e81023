#include "channels/sftp/sftp_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace sb::channels::sftp {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kConnectionKeys = {
    KeySpec{"url", ValueType::kString, true, "",
            "sftp://host[:port]/folder/ (the remote folder; /~/folder/ is inside the login's "
            "home folder)"},
    KeySpec{"user", ValueType::kString, true, "", "login name"},
    KeySpec{"private_key", ValueType::kString, false, "",
            "private key file (OpenSSH or PEM; ed25519, ecdsa or rsa), relative to the config "
            "file; this or `password`"},
    KeySpec{"public_key", ValueType::kString, false, "derived from the private key",
            "public key file of `private_key`"},
    KeySpec{"key_passphrase", ValueType::kString, false, "",
            "passphrase of an encrypted private key; use env(\"NAME\")"},
    KeySpec{"password", ValueType::kString, false, "",
            "password login instead of a key; use env(\"NAME\")"},
    KeySpec{"known_hosts", ValueType::kString, true, "",
            "OpenSSH known_hosts file holding the server's host key (ed25519 or ecdsa first); "
            "an unknown or changed key is refused and the file is never written"},
    KeySpec{"connect_timeout", ValueType::kNumber, false, "10", "seconds to connect and log in"},
    KeySpec{"timeout", ValueType::kNumber, false, "300",
            "seconds one request (a listing, a file, an upload) may take"},
};

// A long listing larger than this is refused rather than held in memory (about 200,000 names).
constexpr std::size_t kMaxListingBytes = 32u << 20;

constexpr long kBufferBytes = 256 * 1024;

// curl_global_init is not thread-safe; a function-local static runs it once. Never undone.
void globalInit() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw std::runtime_error(fmt::format("curl_global_init: {}", curl_easy_strerror(rc)));
  }
}

// Percent-encodes a decoded remote path for the URL: '/' and the RFC 3986 unreserved
// characters stay, so "/~/" keeps its meaning and a name can never add a query or fragment.
std::string encodePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct StringList {
  curl_slist* list = nullptr;
  StringList() = default;
  StringList(const StringList&) = delete;
  StringList& operator=(const StringList&) = delete;
  ~StringList() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) throw std::bad_alloc();
    list = next;
  }
};

struct Sink {
  std::string* out = nullptr;
  std::size_t limit = 0;
  bool overflow = false;
};

std::size_t onData(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->out->size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR)
  }
  sink->out->append(data, n);
  return n;
}

struct Source {
  std::string_view rest;
};

std::size_t onRead(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* source = static_cast<Source*>(user);
  const std::size_t n = std::min(size * count, source->rest.size());
  std::copy_n(source->rest.data(), n, buffer);
  source->rest.remove_prefix(n);
  return n;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string Connection::hostPort() const {
  constexpr std::string_view kScheme = "sftp://";
  return origin.starts_with(kScheme) ? origin.substr(kScheme.size()) : origin;
}

std::span<const config::KeySpec> connectionKeys() {
  return kConnectionKeys;
}

std::string remoteFolder(const std::string& base, const std::string& value) {
  if (value.empty()) return value;
  std::string out = value.front() == '/' ? value : base + value;
  if (out.back() != '/') out.push_back('/');
  return out;
}

Connection readConnection(const config::Reader& r, const BuildContext& ctx) {
  Connection c;
  if (const std::string url = r.string("url"); r.has("url")) {
    globalInit();
    CURLU* u = curl_url();
    if (!u) throw std::bad_alloc();
    const auto part = [&](CURLUPart which, unsigned flags = 0) {
      char* text = nullptr;
      std::string value;
      if (curl_url_get(u, which, &text, flags) == CURLUE_OK && text) value = text;
      curl_free(text);
      return value;
    };
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
      r.fail("url", "is not a valid URL");
    } else if (lower(part(CURLUPART_SCHEME)) != "sftp") {
      r.fail("url", "must start with sftp://");
    } else if (!part(CURLUPART_USER).empty() || !part(CURLUPART_PASSWORD).empty()) {
      // Credentials in a URL end up in logs and `describe()`; they have their own keys.
      r.fail("url", "must not hold a user or password: use `user` and `private_key`/`password`");
    } else if (!part(CURLUPART_QUERY).empty() || !part(CURLUPART_FRAGMENT).empty()) {
      r.fail("url", "must not have a query or fragment");
    } else if (part(CURLUPART_HOST).empty()) {
      r.fail("url", "has no host");
    } else {
      c.origin = fmt::format("sftp://{}:{}", part(CURLUPART_HOST),
                             part(CURLUPART_PORT, CURLU_DEFAULT_PORT));
      c.folder = part(CURLUPART_PATH, CURLU_URLDECODE);
      if (c.folder.empty() || c.folder.back() != '/') c.folder.push_back('/');
      if (c.folder.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
        r.fail("url", "the folder must not contain line breaks");
      }
    }
    curl_url_cleanup(u);
  }
  c.user = r.string("user");
  c.password = r.string("password");
  const auto path = [&](std::string_view key) {
    const std::string value = r.string(key);
    if (value.empty()) return value;
    const std::string resolved = resolvePath(ctx.configDir, value).string();
    if (!std::filesystem::exists(resolved)) r.fail(key, "file not found: " + resolved);
    return resolved;
  };
  c.privateKey = path("private_key");
  c.publicKey = path("public_key");
  c.knownHosts = path("known_hosts");
  c.keyPassphrase = r.string("key_passphrase");
  if (c.privateKey.empty() && c.password.empty()) {
    r.fail("private_key", "a login needs `private_key` or `password`");
  }
  if (!c.privateKey.empty() && !c.password.empty()) {
    r.fail("password", "use either `password` or `private_key`, not both");
  }
  if (c.privateKey.empty() && (r.has("public_key") || r.has("key_passphrase"))) {
    r.fail(r.has("public_key") ? "public_key" : "key_passphrase", "needs `private_key`");
  }
  c.connectTimeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(r.number("connect_timeout", 10, 0.01, 600) * 1000));
  c.timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(r.number("timeout", 300, 0.01, 86400) * 1000));
  return c;
}

std::optional<RemoteEntry> parseListingLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  // Eight columns (mode, links, owner, group, size, month, day, time or year), one space, name.
  std::array<std::string_view, 8> columns;
  std::size_t pos = 0;
  for (auto& column : columns) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const std::size_t end = std::min(line.find(' ', pos), line.size());
    if (end == pos) return std::nullopt;
    column = line.substr(pos, end - pos);
    pos = end;
  }
  if (pos + 1 >= line.size()) return std::nullopt;
  RemoteEntry entry;
  entry.type = columns[0].front();
  const std::string_view size = columns[4];
  const auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), entry.size);
  if (ec != std::errc() || ptr != size.data() + size.size()) return std::nullopt;
  entry.stamp = fmt::format("{} {} {}", columns[5], columns[6], columns[7]);
  entry.name = std::string(line.substr(pos + 1));
  // A link is listed as "name -> target".
  if (entry.type == 'l') entry.name = entry.name.substr(0, entry.name.find(" -> "));
  return entry;
}

std::string commandPath(std::string_view remotePath) {
  if (remotePath == "/~" || remotePath == "/~/") {
    remotePath = ".";
  } else if (remotePath.starts_with("/~/")) {
    remotePath.remove_prefix(3);
  }
  std::string out = "\"";
  for (char c : remotePath) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

struct Client::Handle {
  CURL* easy = nullptr;
  std::array<char, CURL_ERROR_SIZE> error{};
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
  }
};

namespace {

// Only a key that known_hosts holds for this host is accepted; anything else is refused and
// nothing is ever added to the file (trust on first use would let a spoofed server in).
int onHostKey(CURL*, const curl_khkey*, const curl_khkey*, curl_khmatch match, void* user) {
  auto* state = static_cast<std::pair<bool, curl_khmatch>*>(user);
  state->first = true;
  state->second = match;
  return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* stopping = static_cast<const std::atomic<bool>*>(user);
  return stopping && stopping->load() ? 1 : 0;
}

}  // namespace

Client::Client(const Connection& connection, const std::atomic<bool>* stopping)
    : connection_(connection), stopping_(stopping), handle_(std::make_unique<Handle>()) {
  globalInit();
  handle_->easy = curl_easy_init();
  if (!handle_->easy) throw std::runtime_error("curl_easy_init failed");
}

Client::~Client() = default;

void Client::disconnect() {
  if (handle_->easy) curl_easy_cleanup(handle_->easy);
  handle_->easy = curl_easy_init();
  if (!handle_->easy) throw std::runtime_error("curl_easy_init failed");
}

bool Client::reusedConnection() const {
  long connects = 0;
  curl_easy_getinfo(handle_->easy, CURLINFO_NUM_CONNECTS, &connects);
  return connects == 0;
}

Result Client::perform(std::string_view what) {
  CURL* c = handle_->easy;
  const Connection& o = connection_;
  if (o.knownHosts.empty()) {
    // Without the file libcurl would not check the host key at all: never connect so.
    return {Fault::kHostKey, fmt::format("sftp {}: {}: no known_hosts file", o.hostPort(), what)};
  }
  // Every option of every request is set here or by the caller right after, so nothing of one
  // request (an upload flag, a quote list) leaks into the next on the reused handle.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, handle_->error.data());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "sftp");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connectTimeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  // libssh2 keeps up to one buffer of SFTP reads/writes in flight: the 16 KiB default makes a
  // round trip per 16 KiB.
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, kBufferBytes);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, kBufferBytes);
  curl_easy_setopt(c, CURLOPT_USERNAME, o.user.c_str());
  if (o.password.empty()) {
    curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES, static_cast<long>(CURLSSH_AUTH_PUBLICKEY));
    curl_easy_setopt(c, CURLOPT_SSH_PRIVATE_KEYFILE, o.privateKey.c_str());
    curl_easy_setopt(c, CURLOPT_SSH_PUBLIC_KEYFILE,
                     o.publicKey.empty() ? nullptr : o.publicKey.c_str());
    curl_easy_setopt(c, CURLOPT_KEYPASSWD,
                     o.keyPassphrase.empty() ? nullptr : o.keyPassphrase.c_str());
  } else {
    curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES,
                     static_cast<long>(CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD));
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  }
  // What the host key check saw, for a clear error when the key is refused.
  std::pair<bool, curl_khmatch> hostKey{false, CURLKHMATCH_OK};
  curl_easy_setopt(c, CURLOPT_SSH_KNOWNHOSTS, o.knownHosts.c_str());
  curl_easy_setopt(c, CURLOPT_SSH_KEYFUNCTION, &onHostKey);
  curl_easy_setopt(c, CURLOPT_SSH_KEYDATA, &hostKey);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stopping_));
  handle_->error[0] = '\0';

  const CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_SSH_KEYDATA, nullptr);

  if (rc == CURLE_OK) return {};
  const std::string detail = handle_->error[0] ? handle_->error.data() : curl_easy_strerror(rc);
  const std::string where = fmt::format("sftp {}: {}", o.hostPort(), what);
  Result result;
  result.error = fmt::format("{}: {}", where, detail);
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
      result.fault = Fault::kHostKey;
      if (hostKey.first && hostKey.second == CURLKHMATCH_MISMATCH) {
        result.error = fmt::format(
            "{}: host key refused: it differs from the one in {} (changed key or another "
            "server)",
            where, o.knownHosts);
      } else if (hostKey.first) {
        result.error =
            fmt::format("{}: host key refused: {} has no key for this host", where, o.knownHosts);
      }
      break;
    case CURLE_LOGIN_DENIED:
      result.fault = Fault::kLogin;
      result.error = fmt::format("{}: login refused for user {} (check the key or password): {}",
                                 where, o.user, detail);
      break;
    case CURLE_REMOTE_ACCESS_DENIED:
      result.fault = Fault::kDenied;
      break;
    case CURLE_REMOTE_FILE_NOT_FOUND:
      result.fault = Fault::kNotFound;
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      result.fault = Fault::kStopped;
      break;
    case CURLE_QUOTE_ERROR:
      // The command's SFTP status only survives as text ("rename command failed: ...").
      if (detail.find("Permission denied") != std::string::npos) {
        result.fault = Fault::kDenied;
      } else if (detail.find("No such file") != std::string::npos) {
        result.fault = Fault::kNotFound;
      } else {
        result.fault = Fault::kCommand;
      }
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSH:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_UPLOAD_FAILED:
    case CURLE_REMOTE_DISK_FULL:
      result.fault = Fault::kNetwork;
      break;
    default:
      result.fault = Fault::kOther;
      break;
  }
  return result;
}

Result Client::list(const std::string& folder, std::vector<RemoteEntry>& out,
                    std::size_t* unparsed) {
  CURL* c = handle_->easy;
  const std::string url = connection_.origin + encodePath(folder);
  std::string text;
  Sink sink{&text, kMaxListingBytes, false};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 0L);
  curl_easy_setopt(c, CURLOPT_QUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTQUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  Result r = perform(fmt::format("list {}", folder));
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  if (sink.overflow) {
    return {Fault::kTooLarge, fmt::format("sftp {}: list {}: listing larger than {} bytes",
                                          connection_.hostPort(), folder, kMaxListingBytes)};
  }
  if (!r) return r;
  out.clear();
  if (unparsed) *unparsed = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = std::string_view(text).substr(pos, end - pos);
    if (auto entry = parseListingLine(line)) {
      if (entry->name != "." && entry->name != "..") out.push_back(std::move(*entry));
    } else if (unparsed && !line.empty()) {
      ++*unparsed;
    }
    pos = end + 1;
  }
  return r;
}

Result Client::download(const std::string& path, std::size_t maxBytes, std::string& out) {
  CURL* c = handle_->easy;
  const std::string url = connection_.origin + encodePath(path);
  out.clear();
  Sink sink{&out, maxBytes, false};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 0L);
  curl_easy_setopt(c, CURLOPT_QUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTQUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  Result r = perform(fmt::format("download {}", path));
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  if (sink.overflow) {
    out.clear();
    return {Fault::kTooLarge, fmt::format("sftp {}: download {}: larger than {} bytes",
                                          connection_.hostPort(), path, maxBytes)};
  }
  if (!r) out.clear();
  return r;
}

Result Client::put(const std::string& folder, const std::string& name, std::string_view bytes,
                   bool createFolders) {
  CURL* c = handle_->easy;
  const std::string temp = folder + name + ".part";
  const std::string final = folder + name;
  const std::string url = connection_.origin + encodePath(temp);
  StringList after;
  // OpenSSH refuses to rename onto an existing file, and a file of that name can only be an
  // earlier attempt of this same delivery (or one the template did not keep apart): the new
  // copy replaces it. '*' ignores the usual "no such file".
  after.add("*rm " + commandPath(final));
  after.add(fmt::format("rename {} {}", commandPath(temp), commandPath(final)));
  Source source{bytes};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 0L);
  curl_easy_setopt(c, CURLOPT_QUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTQUOTE, after.list);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &onRead);
  curl_easy_setopt(c, CURLOPT_READDATA, &source);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(bytes.size()));
  curl_easy_setopt(c, CURLOPT_FTP_CREATE_MISSING_DIRS,
                   static_cast<long>(createFolders ? CURLFTP_CREATE_DIR : CURLFTP_CREATE_DIR_NONE));
  Result r = perform(fmt::format("upload {}", final));
  curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt(c, CURLOPT_POSTQUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_READDATA, nullptr);
  curl_easy_setopt(c, CURLOPT_FTP_CREATE_MISSING_DIRS, static_cast<long>(CURLFTP_CREATE_DIR_NONE));
  return r;
}

Result Client::commands(const std::vector<std::string>& commands) {
  CURL* c = handle_->easy;
  // The commands run before the request's own (empty) transfer on the configured folder.
  const std::string url = connection_.origin + encodePath(connection_.folder);
  StringList list;
  for (const auto& command : commands) list.add(command);
  std::string ignored;
  Sink sink{&ignored, kMaxListingBytes, false};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 0L);
  curl_easy_setopt(c, CURLOPT_QUOTE, list.list);
  curl_easy_setopt(c, CURLOPT_POSTQUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  std::string what;
  for (const auto& command : commands) what += (what.empty() ? "" : "; ") + command;
  Result r = perform(what);
  curl_easy_setopt(c, CURLOPT_QUOTE, nullptr);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  return r;
}

}  // namespace sb::channels::sftp
