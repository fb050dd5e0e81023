#include "tests/e2e/e2e_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <stdexcept>

#include <fmt/format.h>

#include "parsers/hl7v2/hl7v2.h"

namespace sb::e2e {

std::string adtMessage(const std::string& controlId, const std::string& patientId) {
  return fmt::format(
      "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20261122083000||ADT^A01^ADT_A01|{}|P|2.5\r"
      "EVN|A01|20261122083000\r"
      "PID|1||{}^^^HOSP^MR||DOE^JANE^Q||19800101|F\r"
      "PV1|1|I|WARD^101^A\r",
      controlId, patientId);
}

std::string controlIdOf(const std::string& message) {
  auto parsed = hl7::Message::parse(message);
  if (!parsed.ok()) return {};
  return parsed.message->header().controlId;
}

RawClient::RawClient(unsigned short port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect failed");
  }
}

RawClient::~RawClient() {
  close();
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string RawClient::readFrame(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto start = buffer_.find('\x0b');
    if (start != std::string::npos) {
      const auto end = buffer_.find("\x1c\x0d", start);
      if (end != std::string::npos) {
        std::string payload = buffer_.substr(start + 1, end - start - 1);
        buffer_.erase(0, end + 2);
        return payload;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return {};
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

bool RawClient::closedByPeer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
  }
  return false;
}

Receiver::Receiver(unsigned short port) {
  mllp::ListenerOptions o;
  o.name = "test-receiver";
  o.port = port;
  listener_ = std::make_unique<mllp::Listener>(io_, o, *this);
  listener_->start();
  port_ = listener_->port();
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
}

Receiver::~Receiver() {
  stop();
}

void Receiver::stop() {
  if (listener_) listener_->stop();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  listener_.reset();
}

void Receiver::onMessage(const mllp::ConnectionInfo&, std::string payload, mllp::Reply reply) {
  std::string code;
  {
    std::lock_guard lock(mutex_);
    code = answer_;
    if (code == "AA" || code == "CA") received_.push_back(payload);
  }
  auto parsed = hl7::Message::parse(payload);
  if (!parsed.ok()) {
    reply(hl7::buildRejectAck(payload, *parsed.error));
    return;
  }
  const hl7::AckCode ack = code == "AA"   ? hl7::AckCode::kAA
                           : code == "AE" ? hl7::AckCode::kAE
                                          : hl7::AckCode::kAR;
  std::vector<hl7::Finding> findings;
  if (ack != hl7::AckCode::kAA) {
    hl7::Finding refusal;
    refusal.code = ErrorCode::kInternal;
    refusal.text = "test peer refuses";
    findings.push_back(std::move(refusal));
  }
  reply(hl7::buildAck(*parsed.message, ack, findings));
}

Engine::Engine(std::string configBody) {
  test::writeFile(configFile(), configBody);
}

Engine::~Engine() {
  stop();
}

void Engine::start() {
  process_ = std::make_unique<test::EngineProcess>(
      std::vector<std::string>{"run", configFile().string(), "--data-dir", dataDir().string()},
      logFile());
  for (auto port : waitPorts_) {
    if (!test::waitForPort(port, std::chrono::seconds(20))) {
      throw std::runtime_error(
          fmt::format("engine did not listen on {}; log:\n{}", port, test::readFile(logFile())));
    }
  }
}

void Engine::kill9() {
  if (process_) process_->kill9();
  process_.reset();
}

void Engine::reload() {
  if (process_) process_->signal(SIGHUP);
}

void Engine::stop() {
  if (process_) process_->terminate();
  process_.reset();
}

test::CommandResult Engine::cli(std::vector<std::string> args) {
  args.insert(args.begin(), test::binaryPath());
  args.push_back("--data-dir");
  args.push_back(dataDir().string());
  return test::runCommand(args);
}

std::vector<std::filesystem::path> listFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file() && !name.empty() && name[0] != '.') out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sb::e2e
