// A libcurl client for tests that talk to Switchboard's HTTP listener (unit and e2e): one call
// at a time, the connection kept alive between calls of one client, TLS and client certificates.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb::test {

struct HttpCall {
  std::string url;
  std::string method = "POST";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::string caFile;                // https: the CA that issued the server's certificate
  std::string certFile, keyFile;     // https: a client certificate (mutual TLS)
  std::chrono::milliseconds timeout{30'000};
};

struct HttpResult {
  std::string error;  // transport failure (curl's reason); empty when the server answered
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased; the last value wins
  std::optional<std::string> header(const std::string& lowerName) const;
  std::chrono::milliseconds elapsed{0};
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpResult call(const HttpCall& call);

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

// One call on a fresh client.
HttpResult httpCall(const HttpCall& call);

}  // namespace sb::test
