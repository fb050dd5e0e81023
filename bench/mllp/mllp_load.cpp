// MLLP load client: N connections, each sending M messages one after another (send, wait for the
// ACK), the way hospital systems send. Reports throughput and ACK latency percentiles as one JSON
// line. With --wait-dir it also waits until the engine delivered everything to a file
// destination and reports the end-to-end rate.
//
// The client shares the machine with the engine it measures (2 cores in CI), so it is kept
// lean: one blocking socket per connection and one thread each, a send and a receive per
// message (the product's mllp::Client, on Asio with timers and an idle-close check, took about
// twice the CPU per message), and delivered files are watched only once every ACK is in (an
// inotify watch charges the engine's file destination for each event it queues).
//
// usage: mllp_load --port P [--connections N] [--messages M] [--wait-dir DIR --expect K]
//                  FIXTURE...
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "channels/mllp/mllp.h"
#include "parsers/hl7v2/hl7v2.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> loadMessages(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    // Fixture files use LF; MLLP peers expect CR segment terminators.
    std::replace(text.begin(), text.end(), '\n', '\r');
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t next = text.find("\rMSH|", start + 1);
      std::string m =
          text.substr(start, next == std::string::npos ? std::string::npos : next + 1 - start);
      // Collapse blank lines the conversion may have produced.
      std::string clean;
      for (char c : m) {
        if (c == '\r' && (clean.empty() || clean.back() == '\r')) continue;
        clean.push_back(c);
      }
      // A message that asks for no acknowledgment (MSH-15 "NE") would stall a
      // send-and-wait client: leave those out of the load.
      auto parsed = sb::hl7::Message::parse(clean);
      if (parsed.ok() && parsed.message->header().acceptAckType != "NE") out.push_back(clean);
      if (next == std::string::npos) break;
      start = next + 1;
    }
  }
  return out;
}

// One MLLP connection to 127.0.0.1: send a frame, block until the reply frame is in (framing
// by the product's mllp::frame and FrameDecoder).
class BlockingConnection {
 public:
  explicit BlockingConnection(unsigned short port) : port_(port) {}
  ~BlockingConnection() { close(); }
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  // The reply's payload. Throws std::runtime_error.
  std::string exchange(const std::string& framed) {
    if (fd_ < 0) connect();
    for (std::size_t sent = 0; sent < framed.size();) {
      const ssize_t n = ::send(fd_, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) fail("send");
      sent += static_cast<std::size_t>(n);
    }
    while (frames_.empty()) {
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) fail(n == 0 ? "connection closed by the peer" : "recv");
      events_.clear();
      decoder_.feed(std::string_view(chunk, static_cast<std::size_t>(n)), events_);
      for (auto& e : events_) {
        if (e.kind == sb::mllp::FrameDecoder::Event::Kind::kFrame) {
          frames_.push_back(std::move(e.bytes));
        }
      }
    }
    std::string reply = std::move(frames_.front());
    frames_.pop_front();
    return reply;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    decoder_ = sb::mllp::FrameDecoder(kMaxReply);
    frames_.clear();
  }

 private:
  void connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval timeout{30, 0};  // a stalled peer fails the message instead of hanging the run
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      fail("connect");
    }
  }
  [[noreturn]] void fail(const char* what) {
    const std::string error = fmt::format("{}: {}", what, std::strerror(errno));
    close();
    throw std::runtime_error(error);
  }

  static constexpr std::size_t kMaxReply = 1 << 20;
  unsigned short port_;
  int fd_ = -1;
  sb::mllp::FrameDecoder decoder_{kMaxReply};
  std::vector<sb::mllp::FrameDecoder::Event> events_;  // feed()'s, reused
  std::deque<std::string> frames_;                     // replies decoded, not taken yet
};

// The number an HTTP sink wrote into its count file (0 while it has none).
std::size_t readCount(const std::string& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  in >> n;
  return n;
}

std::size_t countFiles(const std::filesystem::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string()[0] != '.') ++n;
  }
  return n;
}

// Counts the files delivered into a folder without listing it: the file destination writes a
// hidden temporary file and renames it, so each delivery is one IN_MOVED_TO of a visible name;
// the names are counted once each.
// Listing a folder of 100,000 files every few milliseconds would take a core away from the
// engine being measured. Falls back to listing when the event queue overflowed.
class DeliveredFiles {
 public:
  explicit DeliveredFiles(std::filesystem::path dir) : dir_(std::move(dir)) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ >= 0 && inotify_add_watch(fd_, dir_.c_str(), IN_MOVED_TO | IN_CREATE) < 0) {
      ::close(fd_);
      fd_ = -1;
    }
    addListed();
  }
  ~DeliveredFiles() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::size_t count() {
    if (fd_ < 0) return countFiles(dir_);
    alignas(inotify_event) char buf[65536];
    bool overflowed = false;
    while (true) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
        if (e->mask & IN_Q_OVERFLOW) overflowed = true;
        if (e->len > 0 && e->name[0] != '.') names_.insert(e->name);
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    if (overflowed) addListed();
    return names_.size();
  }

 private:
  // By name: after an overflow the listing and the events that follow it overlap, and a
  // message delivered twice (at least once) is still one file.
  void addListed() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      const std::string name = e.path().filename().string();
      if (name[0] != '.') names_.insert(name);
    }
  }

  std::filesystem::path dir_;
  int fd_ = -1;
  std::unordered_set<std::string> names_;
};

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int connections = 1;
  int perConnection = 1000;
  std::string waitDir;
  std::string waitCountFile;
  std::size_t expect = 0;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--port")
      port = static_cast<unsigned short>(std::stoi(next()));
    else if (a == "--connections")
      connections = std::stoi(next());
    else if (a == "--messages")
      perConnection = std::stoi(next());
    else if (a == "--wait-dir")
      waitDir = next();
    else if (a == "--wait-count-file")
      waitCountFile = next();
    else if (a == "--expect")
      expect = std::stoul(next());
    else
      files.push_back(a);
  }
  const auto messages = loadMessages(files);
  if (port == 0 || messages.empty()) {
    std::cerr << "usage: mllp_load --port P [--connections N] [--messages M] "
                 "[--wait-dir DIR | --wait-count-file F] [--expect K] FIXTURE...\n";
    return 2;
  }
  std::vector<std::string> framed;
  for (const auto& m : messages) framed.push_back(sb::mllp::frame(m));
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      BlockingConnection client(port);
      latencies[c].reserve(perConnection);
      for (int i = 0; i < perConnection; ++i) {
        const auto& m = framed[(c * 7919 + i) % framed.size()];
        const auto t0 = Clock::now();
        try {
          const std::string ack = client.exchange(m);
          const auto summary = sb::hl7::readAck(ack);
          if (!summary || (summary->code != "AA" && summary->code != "CA")) ++failures;
        } catch (const std::exception&) {
          ++failures;
          client.close();
        }
        latencies[c].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double ackSeconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Watched from here on (the watch first, then a listing: nothing delivered in between is
  // missed); delivery cannot have finished before the last ACK.
  std::optional<DeliveredFiles> deliveredFiles;
  if (!waitDir.empty()) deliveredFiles.emplace(waitDir);
  double deliveredSeconds = 0;
  const auto delivered = [&] {
    return deliveredFiles ? deliveredFiles->count() : readCount(waitCountFile);
  };
  const bool waiting = !waitDir.empty() || !waitCountFile.empty();
  if (waiting) {
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    while (delivered() < expect && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    deliveredSeconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  const auto pct = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  const double total = static_cast<double>(connections) * perConnection;
  std::cout << fmt::format(
      "{{\"connections\":{},\"messages\":{},\"failures\":{},\"ack_seconds\":{:.3f},"
      "\"acked_per_sec\":{:.0f},\"p50_us\":{:.0f},\"p99_us\":{:.0f}{}}}\n",
      connections, static_cast<long>(total), failures.load(), ackSeconds, total / ackSeconds,
      pct(0.50), pct(0.99),
      !waiting ? std::string()
               : fmt::format(",\"delivered_seconds\":{:.3f},\"delivered_per_sec\":{:.0f},"
                             "\"delivered\":{}",
                             deliveredSeconds, total / deliveredSeconds, delivered()));
  return failures == 0 ? 0 : 1;
}
