#include "test_http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/x509.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sb::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::optional<std::string> RecordedRequest::header(const std::string& lowerName) const {
  const auto it = headers.find(lowerName);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

struct TestHttpServer::State {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> ssl;
  std::thread acceptThread;
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::vector<std::thread> workers;
  // Sockets still open, so the destructor can wake workers blocked in a read. A worker removes
  // its descriptor before closing it, so a reused descriptor number is never shut down.
  std::vector<int> openFds;
  std::deque<ScriptedResponse> script;
  std::function<ScriptedResponse(const RecordedRequest&)> responder;
  std::vector<RecordedRequest> requests;
  int connections = 0;

  void acceptLoop() {
    for (;;) {
      tcp::socket socket(io);
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping) return;
      if (ec) continue;
      std::lock_guard lock(mu);
      const int id = ++connections;
      openFds.push_back(socket.native_handle());
      workers.emplace_back(
          [this, id, s = std::move(socket)]() mutable { serve(std::move(s), id); });
    }
  }

  void serve(tcp::socket socket, int id) {
    const int fd = socket.native_handle();
    if (ssl) {
      asio::ssl::stream<tcp::socket> stream(std::move(socket), *ssl);
      boost::system::error_code ec;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) {
        std::string cn;
        if (X509* cert = SSL_get1_peer_certificate(stream.native_handle())) {
          std::array<char, 256> buf{};
          if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf.data(),
                                        static_cast<int>(buf.size())) > 0) {
            cn = buf.data();
          }
          X509_free(cert);
        }
        exchange(stream, id, cn);
      }
      release(fd, stream.next_layer());
    } else {
      exchange(socket, id, {});
      release(fd, socket);
    }
  }

  void release(int fd, tcp::socket& socket) {
    std::lock_guard lock(mu);
    openFds.erase(std::remove(openFds.begin(), openFds.end(), fd), openFds.end());
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  template <typename Stream>
  void exchange(Stream& stream, int id, const std::string& clientCertCn) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> req;
      beast::error_code ec;
      bhttp::read(stream, buffer, req, ec);
      if (ec) return;
      ScriptedResponse answer;
      std::function<ScriptedResponse(const RecordedRequest&)> respond;
      RecordedRequest recorded;
      {
        std::lock_guard lock(mu);
        RecordedRequest r;
        r.connection = id;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        r.body = req.body();
        r.clientCertCn = clientCertCn;
        for (const auto& field : req) {
          std::string name(field.name_string());
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          r.headers[name] = std::string(field.value());
        }
        requests.push_back(r);
        if (!script.empty()) {
          answer = std::move(script.front());
          script.pop_front();
        } else if (responder) {
          respond = responder;
          recorded = std::move(r);
        }
      }
      if (respond) answer = respond(recorded);
      if (answer.hang) {
        // Hold the connection until the client gives up and closes it (or the server stops).
        std::array<char, 256> sink{};
        while (!ec) stream.read_some(asio::buffer(sink), ec);
        return;
      }
      bhttp::response<bhttp::string_body> res;
      res.version(11);
      res.result(answer.status);
      res.keep_alive(req.keep_alive());
      for (const auto& [name, value] : answer.headers) res.set(name, value);
      res.body() = std::move(answer.body);
      res.prepare_payload();
      bhttp::write(stream, res, ec);
      if (ec || !res.keep_alive()) return;
    }
  }
};

TestHttpServer::TestHttpServer(std::optional<ServerTls> tls, unsigned short port)
    : state_(std::make_unique<State>()) {
  if (tls) {
    auto& ctx = state_->ssl.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(tls->cert.string());
    ctx.use_private_key_file(tls->key.string(), asio::ssl::context::pem);
    if (tls->requireClientCert) {
      ctx.load_verify_file(tls->clientCa.string());
      ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  state_->acceptor.open(endpoint.protocol());
  // A restarted server binds the same port while old connections sit in TIME_WAIT.
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen();
  port_ = state_->acceptor.local_endpoint().port();
  state_->acceptThread = std::thread([s = state_.get()] { s->acceptLoop(); });
}

TestHttpServer::~TestHttpServer() {
  state_->stopping = true;
  // On Linux, shutdown() of a listening socket wakes a thread blocked in accept().
  ::shutdown(state_->acceptor.native_handle(), SHUT_RDWR);
  state_->acceptThread.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(state_->mu);
    for (const int fd : state_->openFds) ::shutdown(fd, SHUT_RDWR);
    workers = std::move(state_->workers);
  }
  for (auto& t : workers) t.join();
}

void TestHttpServer::script(std::vector<ScriptedResponse> responses) {
  std::lock_guard lock(state_->mu);
  for (auto& r : responses) state_->script.push_back(std::move(r));
}

void TestHttpServer::respondWith(
    std::function<ScriptedResponse(const RecordedRequest&)> responder) {
  std::lock_guard lock(state_->mu);
  state_->responder = std::move(responder);
}

std::vector<RecordedRequest> TestHttpServer::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

int TestHttpServer::connectionsAccepted() const {
  std::lock_guard lock(state_->mu);
  return state_->connections;
}

}  // namespace sb::test
