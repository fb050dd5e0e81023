// The ceiling of the MLLP benchmark: a listener that answers every frame with a fixed ACK at
// once (no parse, no store). Run beside switchboard and @medplum/hl7 it shows how much of the
// end-to-end time is the load client and loopback TCP themselves.
// usage: mllp_echo PORT
#include <csignal>
#include <iostream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include "channels/mllp/mllp.h"

namespace {

class Echo : public sb::mllp::MessageHandler {
 public:
  void onMessage(const sb::mllp::ConnectionInfo&, std::string, sb::mllp::Reply reply) override {
    reply("MSH|^~\\&|ECHO|ECHO|||20260101000000||ACK^A01^ACK|1|P|2.5\rMSA|AA|1\r");
  }
  void onOversized(const sb::mllp::ConnectionInfo&, std::string, std::size_t,
                   sb::mllp::Reply reply) override {
    reply("");
  }
  void onTruncated(const sb::mllp::ConnectionInfo&, std::string) override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: mllp_echo PORT\n";
    return 2;
  }
  boost::asio::io_context io;
  Echo echo;
  sb::mllp::ListenerOptions options;
  options.name = "echo";
  options.port = static_cast<std::uint16_t>(std::stoi(argv[1]));
  sb::mllp::Listener listener(io, options, echo);
  listener.start();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) {
    listener.stop();
    io.stop();
  });
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  return 0;
}
