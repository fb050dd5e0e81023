#include <gtest/gtest.h>

#include <thread>

#include "mllp_test_util.h"
#include "test_certs.h"

namespace sb::mllp {
namespace {

using testing::clientFor;
using testing::IoThreads;
using testing::listenerOptions;
using testing::RecordingHandler;

class MllpTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sb::test::TempDir();
    certs_ = new sb::test::TestCerts(sb::test::makeTestCerts(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
    certs_ = nullptr;
    dir_ = nullptr;
  }

  static ListenerOptions tlsListener(bool mutual) {
    auto options = listenerOptions();
    options.tls.enabled = true;
    options.tls.certFile = certs_->serverCert.string();
    options.tls.keyFile = certs_->serverKey.string();
    if (mutual) {
      options.tls.requireClientCert = true;
      options.tls.caFile = certs_->caCert.string();
    }
    return options;
  }

  static ClientOptions tlsClient(std::uint16_t port) {
    auto options = clientFor(port);
    options.tls.enabled = true;
    options.tls.caFile = certs_->caCert.string();
    return options;
  }

  static ErrorCode failureCode(Client& client) {
    try {
      client.exchange("MSH|x");
    } catch (const TransportError& e) {
      return e.code;
    }
    return ErrorCode::kOk;
  }

  static sb::test::TempDir* dir_;
  static sb::test::TestCerts* certs_;
};

sb::test::TempDir* MllpTls::dir_ = nullptr;
sb::test::TestCerts* MllpTls::certs_ = nullptr;

TEST_F(MllpTls, RoundTrip) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(false), handler);
  listener.start();
  Client client(tlsClient(listener.port()));
  EXPECT_EQ(client.exchange("MSH|one"), "ACK|MSH|one");
  EXPECT_EQ(client.exchange("MSH|two"), "ACK|MSH|two");
  std::lock_guard lock(handler.mutex_);
  EXPECT_TRUE(handler.lastConn.clientCertSubject.empty());
}

TEST_F(MllpTls, ClientReconnectsWhenListenerClosedIdleConnection) {
  IoThreads io;
  RecordingHandler handler;
  auto listenerOpts = tlsListener(false);
  listenerOpts.idleTimeout = std::chrono::milliseconds(100);
  Listener listener(io.io(), listenerOpts, handler);
  listener.start();
  Client client(tlsClient(listener.port()));
  EXPECT_EQ(client.exchange("MSH|one"), "ACK|MSH|one");
  ASSERT_TRUE(sb::test::waitFor([&] { return listener.connectionCount() == 0; }, testing::kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // lets the FIN reach the client
  EXPECT_EQ(client.exchange("MSH|two"), "ACK|MSH|two");
}

TEST_F(MllpTls, HostNameCheckUsesLocalhostToo) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(false), handler);
  listener.start();
  auto options = tlsClient(listener.port());
  options.host = "localhost";
  Client client(options);
  EXPECT_EQ(client.exchange("MSH|one"), "ACK|MSH|one");
}

TEST_F(MllpTls, ClientRefusesWrongHostName) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(false), handler);
  listener.start();
  auto options = tlsClient(listener.port());
  options.tls.serverName = "not-this-host.example";
  Client client(options);
  EXPECT_EQ(failureCode(client), ErrorCode::kTransportTls);
  EXPECT_EQ(handler.messageCount(), 0u);
}

TEST_F(MllpTls, MutualTlsRoundTripWithClientCertificate) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(true), handler);
  listener.start();
  auto options = tlsClient(listener.port());
  options.tls.certFile = certs_->clientCert.string();
  options.tls.keyFile = certs_->clientKey.string();
  Client client(options);
  EXPECT_EQ(client.exchange("MSH|one"), "ACK|MSH|one");
  std::lock_guard lock(handler.mutex_);
  EXPECT_NE(handler.lastConn.clientCertSubject.find("CN=switchboard-test-client"),
            std::string::npos)
      << handler.lastConn.clientCertSubject;
}

TEST_F(MllpTls, MutualTlsRefusesClientWithoutCertificate) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(true), handler);
  listener.start();
  Client client(tlsClient(listener.port()));
  EXPECT_NE(failureCode(client), ErrorCode::kOk);
  EXPECT_EQ(handler.messageCount(), 0u);
}

TEST_F(MllpTls, MutualTlsRefusesCertificateFromAnotherCa) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(true), handler);
  listener.start();
  auto options = tlsClient(listener.port());
  options.tls.certFile = certs_->otherClientCert.string();
  options.tls.keyFile = certs_->otherClientKey.string();
  Client client(options);
  EXPECT_NE(failureCode(client), ErrorCode::kOk);
  EXPECT_EQ(handler.messageCount(), 0u);
}

TEST_F(MllpTls, ClientRefusesServerFromUnknownCa) {
  IoThreads io;
  RecordingHandler handler;
  auto listenerOpts = tlsListener(false);
  listenerOpts.tls.certFile = certs_->otherServerCert.string();
  listenerOpts.tls.keyFile = certs_->otherServerKey.string();
  Listener listener(io.io(), listenerOpts, handler);
  listener.start();
  Client client(tlsClient(listener.port()));
  EXPECT_EQ(failureCode(client), ErrorCode::kTransportTls);
  EXPECT_EQ(handler.messageCount(), 0u);
}

TEST_F(MllpTls, ClientWithoutVerificationAcceptsUnknownCa) {
  IoThreads io;
  RecordingHandler handler;
  auto listenerOpts = tlsListener(false);
  listenerOpts.tls.certFile = certs_->otherServerCert.string();
  listenerOpts.tls.keyFile = certs_->otherServerKey.string();
  Listener listener(io.io(), listenerOpts, handler);
  listener.start();
  auto options = tlsClient(listener.port());
  options.tls.verifyPeer = false;
  Client client(options);
  EXPECT_EQ(client.exchange("MSH|one"), "ACK|MSH|one");
}

TEST_F(MllpTls, PlainClientAgainstTlsListenerFailsAndListenerKeepsServing) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), tlsListener(false), handler);
  listener.start();
  Client plain(clientFor(listener.port()));
  EXPECT_NE(failureCode(plain), ErrorCode::kOk);
  Client client(tlsClient(listener.port()));
  EXPECT_EQ(client.exchange("MSH|still"), "ACK|MSH|still");
  EXPECT_EQ(handler.messageCount(), 1u);
}

TEST_F(MllpTls, TlsClientAgainstPlainListenerFails) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  auto options = tlsClient(listener.port());
  // The plain listener reads the ClientHello as junk and usually never answers it (a timeout),
  // unless its random bytes happen to contain a frame, whose answer then breaks the handshake.
  options.connectTimeout = std::chrono::milliseconds(500);
  Client client(options);
  const ErrorCode code = failureCode(client);
  EXPECT_TRUE(code == ErrorCode::kTransportTimeout || code == ErrorCode::kTransportTls)
      << static_cast<int>(code);
}

TEST_F(MllpTls, ListenerWithMissingCertificateThrows) {
  IoThreads io;
  RecordingHandler handler;
  auto options = tlsListener(false);
  options.tls.certFile = (dir_->path() / "missing.pem").string();
  EXPECT_THROW(Listener(io.io(), options, handler), std::runtime_error);
}

}  // namespace
}  // namespace sb::mllp
