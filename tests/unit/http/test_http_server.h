// A real HTTP/1.1 server (Boost.Beast, blocking, one thread per connection) on 127.0.0.1 with an
// ephemeral port, plain or TLS, that records every request and answers from a script. Lets the
// HTTP sender tests exercise libcurl end to end: keep-alive, TLS, timeouts, status handling.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sb::test {

struct ScriptedResponse {
  unsigned status = 200;
  std::string body = "ok";
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;  // read the request and never answer (the client has to time out)
};

struct RecordedRequest {
  int connection = 0;  // 1-based number of the TCP connection it arrived on
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string clientCertCn;                    // TLS: CN of the client certificate, if any
  // The header's value, or nullopt when absent.
  std::optional<std::string> header(const std::string& lowerName) const;
};

struct ServerTls {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::filesystem::path clientCa;  // with requireClientCert: CAs that issue client certificates
  bool requireClientCert = false;
};

class TestHttpServer {
 public:
  // port 0 picks a free port; a given port lets a test stop a server and start it again there.
  explicit TestHttpServer(std::optional<ServerTls> tls = std::nullopt, unsigned short port = 0);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  unsigned short port() const { return port_; }
  // Queues answers, used in order; once used up every request gets 200 "ok" (or the responder's
  // answer).
  void script(std::vector<ScriptedResponse> responses);
  // Answers computed from the request (e.g. a fake payer echoing the request's PayloadID), for
  // requests the script does not answer. Runs on the connection's thread.
  void respondWith(std::function<ScriptedResponse(const RecordedRequest&)> responder);
  std::vector<RecordedRequest> requests() const;
  int connectionsAccepted() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  unsigned short port_ = 0;
};

}  // namespace sb::test
