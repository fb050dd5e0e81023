// A minimal HTTP/1.1 sink for the end-to-end benchmark: keep-alive, answers 200 to everything,
// and writes the number of requests received so far into COUNT_FILE (so the load client can wait
// for "everything delivered").
// usage: http_sink PORT COUNT_FILE
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <utility>
#include <iostream>
#include <string>
#include <thread>

#include <utility>  // before Boost.Asio: its awaitable.hpp uses std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::atomic<long> gCount{0};
int gCountFd = -1;

void recordOne() {
  const long n = ++gCount;
  const std::string text = std::to_string(n) + "\n";
  // pwrite at 0 keeps the file one line long without truncating it each time.
  if (::pwrite(gCountFd, text.data(), text.size(), 0) < 0) std::perror("pwrite");
}

void serve(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (true) {
    http::request<http::string_body> request;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    recordOne();
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(request.keep_alive());
    response.body() = "{}";
    response.prepare_payload();
    http::write(socket, response, ec);
    if (ec || !request.keep_alive()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: http_sink PORT COUNT_FILE\n";
    return 2;
  }
  gCountFd = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (gCountFd < 0) {
    std::perror(argv[2]);
    return 1;
  }
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"),
                              static_cast<unsigned short>(std::stoi(argv[1]))});
  while (true) {
    tcp::socket socket(io);
    acceptor.accept(socket);
    std::thread(serve, std::move(socket)).detach();
  }
}
