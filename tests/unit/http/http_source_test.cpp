// The HTTP listener against a real SQLite store and a real HTTP client (libcurl): each body is
// committed before the answer, and every bad request gets its exact status and body. Core mode:
// CORE envelopes in and out, and RealTime requests answered from the store's delivery history.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "channels/common/hl7_ingest.h"
#include "channels/common/x12_ingest.h"
#include "channels/http/core_envelope.h"
#include "channels/http/http_source.h"
#include "core_test_peer.h"
#include "engine/config/lua_loader.h"
#include "parsers/x12/spec.h"
#include "test_certs.h"
#include "test_http_client.h"
#include "tests/support/test_support.h"

namespace sb::channels::http {
namespace {

using namespace std::chrono_literals;
using test::HttpCall;
using test::HttpResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class StoreSink final : public IngestSink {
 public:
  explicit StoreSink(const std::filesystem::path& dir) {
    store::Options o;
    o.dataDir = dir;
    store_ = store::openSqliteStore(o);
  }
  ~StoreSink() override { store_->close(); }
  store::MessageStore& store() override { return *store_; }
  void committed() override { ++wakes; }
  std::atomic<int> wakes{0};

 private:
  std::unique_ptr<store::MessageStore> store_;
};

// A store whose commits fail (a full disk), for the 503 answers; everything else is the real store.
class FailingStore final : public store::MessageStore {
 public:
  explicit FailingStore(store::MessageStore& real) : real_(real) {}
  void submitInbound(store::InboundRecord, CommitCallback done) override {
    done(std::nullopt, "disk I/O error");
  }
  store::MessageId insertInbound(store::InboundRecord) override {
    throw std::runtime_error("disk I/O error");
  }
  std::vector<store::StoredMessage> takeForRouting(std::size_t limit,
                                                   store::MessageId after) override {
    return real_.takeForRouting(limit, after);
  }
  void recordRouting(const std::vector<store::RoutingOutcome>& o) override {
    real_.recordRouting(o);
  }
  std::vector<store::QueueItem> pendingDeliveries(std::string_view d, std::size_t limit,
                                                  std::int64_t after) override {
    return real_.pendingDeliveries(d, limit, after);
  }
  void recordDeliveries(const std::vector<store::DeliveryOutcome>& o) override {
    real_.recordDeliveries(o);
  }
  store::QueueStats queueStats(std::string_view d) override { return real_.queueStats(d); }
  std::vector<store::MessageSummary> search(const store::SearchQuery& q) override {
    return real_.search(q);
  }
  std::optional<store::MessageDetail> get(store::MessageId id) override { return real_.get(id); }
  std::size_t reprocess(const std::vector<store::MessageId>& ids) override {
    return real_.reprocess(ids);
  }
  std::size_t reprocessDeadLetters(std::string_view d) override {
    return real_.reprocessDeadLetters(d);
  }
  std::size_t applyRetention(store::Millis now) override { return real_.applyRetention(now); }
  std::int64_t reserveControlNumbers(std::string_view partner, std::string_view kind,
                                     int count) override {
    return real_.reserveControlNumbers(partner, kind, count);
  }
  void setNextControlNumber(std::string_view partner, std::string_view kind,
                            std::int64_t next) override {
    real_.setNextControlNumber(partner, kind, next);
  }
  void close() override {}

 private:
  store::MessageStore& real_;
};

class FailingSink final : public IngestSink {
 public:
  explicit FailingSink(IngestSink& real) : store_(real.store()) {}
  store::MessageStore& store() override { return store_; }
  void committed() override {}

 private:
  FailingStore store_;
};

// The engine's I/O threads: two, so a waiting RealTime request and others run side by side.
class IoThreads {
 public:
  IoThreads() : work_(io.get_executor()) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io.run(); });
  }
  ~IoThreads() {
    work_.reset();
    io.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context io;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

constexpr std::string_view kToken = "s3cret-token";

std::string adt(const std::string& controlId) {
  return "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01^ADT_A01|" + controlId +
         "|P|2.5\rEVN|A01|20240101120000\rPID|1||PAT1^^^HOSP^MR||DOE^JANE||19800101|F\r"
         "PV1|1|I\r";
}

std::string x12Fixture(const std::string& name) {
  return test::readFile(test::fixturePath("x12/" + name));
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(sep);
    out += parts[i];
  }
  return out;
}

// MSH-7 (time) and MSH-10 (control id) of an ACK are made when it is built.
std::string stableAck(const std::string& ack) {
  const auto end = ack.find('\r');
  auto fields = split(ack.substr(0, end), '|');
  if (fields.size() > 9) {
    fields[6] = "<time>";
    fields[9] = "<id>";
  }
  return join(fields, '|') + (end == std::string::npos ? "" : ack.substr(end));
}

// ISA09/ISA10 and GS04/GS05 (date and time) of a TA1/999 are made when it is built.
std::string stableX12(const std::string& x12) {
  auto segments = split(x12, '~');
  for (auto& s : segments) {
    const auto start = s.find_first_not_of("\r\n");
    if (start == std::string::npos) continue;
    auto fields = split(s.substr(start), '*');
    if (fields[0] == "ISA" && fields.size() > 10) fields[9] = fields[10] = "<when>";
    if (fields[0] == "GS" && fields.size() > 5) fields[4] = fields[5] = "<when>";
    s = s.substr(0, start) + join(fields, '*');
  }
  return join(segments, '~');
}

// The TA1/999 that X12 ingest answers a fresh store's first interchange with (numbers 1, 1, 1).
std::string expectedX12Ack(const std::string& payload) {
  auto doc = x12::Document::parse(payload);
  doc.validate(x12::SpecLibrary::builtin());
  std::string out;
  for (const auto& a : X12Ingest::evaluate("http_in", doc, x12::AckNumbers{}).acks) out += a;
  return out;
}

class HttpSourceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (source_) source_->stop();
    source_.reset();
  }

  static HttpSourceOptions options() {
    HttpSourceOptions o;
    o.name = "http_in";
    o.path = "/in";
    o.auth = SourceAuth::kBearer;
    o.bearerToken = std::string(kToken);
    return o;
  }

  void start(HttpSourceOptions o) { start(std::move(o), sink_); }
  void start(HttpSourceOptions o, IngestSink& sink) {
    source_ = std::make_unique<HttpSource>(std::move(o), sink, io_.io);
    source_->start();
  }

  std::string url(const std::string& path = "/in", const std::string& scheme = "http") const {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, source_->port(), path);
  }

  HttpCall call(std::string body, std::vector<std::string> headers = {}) const {
    HttpCall c;
    c.url = url();
    c.body = std::move(body);
    c.headers = std::move(headers);
    c.headers.push_back(fmt::format("Authorization: Bearer {}", kToken));
    return c;
  }

  HttpResult post(std::string body, std::vector<std::string> headers = {}) {
    return test::httpCall(call(std::move(body), std::move(headers)));
  }

  HttpResult postCore(const test::CoreRequest& request) {
    return post(request.body, {"Content-Type: " + request.contentType});
  }

  store::MessageDetail detail(store::MessageId id) {
    auto d = sink_.store().get(id);
    EXPECT_TRUE(d) << "message " << id;
    return d ? *d : store::MessageDetail{};
  }

  std::size_t storedCount() {
    store::SearchQuery q;
    q.limit = 1000;
    return sink_.store().search(q).size();
  }

  // The I/O threads outlive the store: closing the store runs (and drops) the last commit
  // callbacks, which may hold the last reference to a session and its sockets and timers.
  IoThreads io_;
  test::TempDir dir_;
  StoreSink sink_{dir_.path()};
  std::unique_ptr<HttpSource> source_;
};

core::Envelope envelopeOf(const HttpResult& r) {
  const auto parsed = core::parseMultipart(r.header("content-type").value_or(""), r.body);
  EXPECT_TRUE(parsed.ok()) << parsed.errorCode << ": " << parsed.errorMessage << "\n" << r.body;
  return parsed.ok() ? *parsed.envelope : core::Envelope{};
}

// ---- message mode ----

TEST_F(HttpSourceTest, Hl7IsCommittedThenAnsweredWithTheAck) {
  start(options());
  const std::string message = adt("CTRL1");
  const auto r = post(message);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "x-application/hl7-v2+er7");
  EXPECT_EQ(stableAck(r.body), stableAck(Hl7Ingest::evaluate("http_in", message).ack));
  EXPECT_THAT(r.body, HasSubstr("\rMSA|AA|CTRL1\r"));
  const auto d = detail(1);
  EXPECT_EQ(d.message.raw, message);
  EXPECT_EQ(d.message.summary.channel, "http_in");
  EXPECT_EQ(d.message.summary.controlId, "CTRL1");
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kReceived);
  EXPECT_THAT(d.message.summary.peer, StartsWith("127.0.0.1:"));
  EXPECT_EQ(sink_.wakes, 1);
}

TEST_F(HttpSourceTest, X12IsCommittedThenAnsweredWithThe999) {
  start(options());
  const std::string payload = x12Fixture("valid/270_eligibility_request.x12");
  const auto r = post(payload);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/edi-x12");
  EXPECT_EQ(stableX12(r.body), stableX12(expectedX12Ack(payload)));
  EXPECT_THAT(r.body, HasSubstr("AK9*A*1*1*1~"));
  const auto d = detail(1);
  EXPECT_EQ(d.message.raw, payload);
  EXPECT_EQ(d.message.summary.messageType, "270");
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kReceived);
}

TEST_F(HttpSourceTest, RejectedInterchangeIsKeptAndAnswered400WithTheTa1) {
  start(options());
  const std::string payload = x12Fixture("invalid/env_iea02_not_isa13.x12");
  const auto r = post(payload);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/edi-x12");
  EXPECT_EQ(stableX12(r.body), stableX12(expectedX12Ack(payload)));
  EXPECT_THAT(r.body, HasSubstr("*R*001~"));
  EXPECT_EQ(detail(1).message.summary.status, store::MessageStatus::kRejected);
}

TEST_F(HttpSourceTest, JsonIsCommittedAndAnswered202WithItsId) {
  start(options());
  const std::string json = R"({"resourceType":"Patient","id":"p-1","schemaVersion":"1"})";
  const auto r = post(json);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"id":1})");
  const auto d = detail(1);
  EXPECT_EQ(d.message.raw, json);
  EXPECT_EQ(d.message.summary.messageType, "Patient");
  EXPECT_EQ(d.message.summary.controlId, "p-1");
}

TEST_F(HttpSourceTest, BrokenJsonIsKeptAndAnswered400WithTheReason) {
  start(options());
  const auto r = post("{\"resourceType\": ");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "SB-401 body is not a JSON object or array (kept as message 1)\n");
  EXPECT_EQ(detail(1).message.summary.status, store::MessageStatus::kRejected);
}

TEST_F(HttpSourceTest, EmptyBodyIs400) {
  start(options());
  const auto r = post("");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "the request has no body\n");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceTest, OtherPathIs404) {
  start(options());
  auto c = call(adt("C1"));
  c.url = url("/other");
  const auto r = test::httpCall(c);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "no such path; this channel takes POST /in\n");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceTest, QueryStringIsIgnored) {
  start(options());
  auto c = call(adt("C1"));
  c.url = url("/in?source=lab");
  EXPECT_EQ(test::httpCall(c).status, 200);
}

TEST_F(HttpSourceTest, OtherMethodIs405) {
  start(options());
  auto c = call("");
  c.method = "GET";
  const auto r = test::httpCall(c);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  EXPECT_EQ(r.body, "only POST is accepted\n");
}

TEST_F(HttpSourceTest, MissingOrWrongTokenIs401AndNothingIsStored) {
  start(options());
  HttpCall c;
  c.url = url();
  c.body = adt("C1");
  auto r = test::httpCall(c);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"http_in\"");
  EXPECT_EQ(r.body, "authentication required\n");
  c.headers = {"Authorization: Bearer wrong"};
  r = test::httpCall(c);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "authentication required\n");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceTest, BasicAuth) {
  auto o = options();
  o.auth = SourceAuth::kBasic;
  o.user = "lab";
  o.password = "pa:ss";
  start(o);
  HttpCall c;
  c.url = url();
  c.body = adt("C1");
  c.headers = {"Authorization: Basic bGFiOnBhOnNz"};  // lab:pa:ss
  EXPECT_EQ(test::httpCall(c).status, 200);
  c.headers = {"Authorization: Basic bGFiOnBhc3M="};  // lab:pass
  const auto r = test::httpCall(c);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"http_in\", charset=\"UTF-8\"");
  EXPECT_EQ(storedCount(), 1u);
}

TEST_F(HttpSourceTest, OversizedBodyIs413AndNothingIsStored) {
  auto o = options();
  o.maxBodyBytes = 1024;
  start(o);
  const auto r = post(std::string(2000, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "the body of 2000 bytes passes the limit of 1024 bytes (max_body_bytes)\n");
  EXPECT_EQ(storedCount(), 0u);
  // Chunked: no length up front, so the limit stops the read.
  const auto chunked = post(std::string(2000, 'x'), {"Transfer-Encoding: chunked"});
  EXPECT_EQ(chunked.status, 413);
  EXPECT_EQ(chunked.body, "the body passes the limit of 1024 bytes (max_body_bytes)\n");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceTest, ConnectionIsKeptAliveBetweenRequests) {
  start(options());
  test::HttpClient client;
  for (int i = 0; i < 3; ++i) {
    const auto r = client.call(call(adt(fmt::format("K{}", i))));
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr(fmt::format("MSA|AA|K{}", i)));
  }
  EXPECT_EQ(source_->connectionCount(), 1u);
}

TEST_F(HttpSourceTest, FailedCommitIs503WithRetryAfter) {
  FailingSink failing(sink_);
  start(options(), failing);
  const auto hl7 = post(adt("C1"));
  EXPECT_EQ(hl7.status, 503);
  EXPECT_EQ(hl7.header("retry-after"), "5");
  EXPECT_EQ(hl7.header("content-type"), "x-application/hl7-v2+er7");
  EXPECT_THAT(hl7.body, HasSubstr("\rMSA|AR|C1\r"));  // the sender resends on AR 207
  EXPECT_THAT(hl7.body, HasSubstr("207"));
  const auto json = post(R"({"resourceType":"Patient"})");
  EXPECT_EQ(json.status, 503);
  EXPECT_EQ(json.header("retry-after"), "5");
  EXPECT_EQ(json.body, "SB-301 the message could not be stored; resend later\n");
  const auto x12 = post(x12Fixture("valid/270_eligibility_request.x12"));
  EXPECT_EQ(x12.status, 503);
  EXPECT_EQ(x12.body, "SB-301 the interchange could not be stored; resend later\n");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceTest, ExpectContinueIsAnswered) {
  start(options());
  const auto r = post(adt("E1"), {"Expect: 100-continue"});
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("MSA|AA|E1"));
}

TEST_F(HttpSourceTest, ConnectionsBeyondTheLimitAreClosed) {
  auto o = options();
  o.maxConnections = 1;
  start(o);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket holder(io);
  holder.connect({boost::asio::ip::make_address("127.0.0.1"), source_->port()});
  ASSERT_TRUE(test::waitFor([&] { return source_->connectionCount() == 1; }, 5s));
  EXPECT_NE(post(adt("L1")).error, "");  // closed without an answer
  holder.close();
  ASSERT_TRUE(test::waitFor([&] { return source_->connectionCount() == 0; }, 5s));
  EXPECT_EQ(post(adt("L2")).status, 200);
  EXPECT_EQ(storedCount(), 1u);
}

TEST_F(HttpSourceTest, SlowHeadersAreCutOffByTheHeaderTimeout) {
  auto o = options();
  o.headerTimeout = 200ms;
  start(o);
  // A client that sends half a request line and stops is disconnected; the listener serves on.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), source_->port()});
  boost::asio::write(socket, boost::asio::buffer(std::string("POST /in HT")));
  ASSERT_TRUE(test::waitFor([&] { return source_->connectionCount() == 1; }, 5s));
  ASSERT_TRUE(test::waitFor([&] { return source_->connectionCount() == 0; }, 5s));
  // The listener closed it: the client reads end of stream.
  std::array<char, 16> buffer{};
  boost::system::error_code ec;
  socket.read_some(boost::asio::buffer(buffer), ec);
  EXPECT_EQ(ec, boost::asio::error::eof);
  EXPECT_EQ(post(adt("C2")).status, 200);
}

// ---- TLS ----

class HttpSourceTls : public HttpSourceTest {
 protected:
  static void SetUpTestSuite() {
    certDir_ = new test::TempDir();
    certs_ = new test::TestCerts(test::makeTestCerts(certDir_->path()));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete certDir_;
  }
  HttpSourceOptions tlsOptions(bool mutual) const {
    auto o = options();
    o.tls.enabled = true;
    o.tls.certFile = certs_->serverCert.string();
    o.tls.keyFile = certs_->serverKey.string();
    if (mutual) {
      o.tls.requireClientCert = true;
      o.tls.caFile = certs_->caCert.string();
      o.auth = SourceAuth::kClientCert;
    }
    return o;
  }
  static test::TempDir* certDir_;
  static test::TestCerts* certs_;
};
test::TempDir* HttpSourceTls::certDir_ = nullptr;
test::TestCerts* HttpSourceTls::certs_ = nullptr;

TEST_F(HttpSourceTls, HttpsIsServed) {
  start(tlsOptions(false));
  auto c = call(adt("T1"));
  c.url = url("/in", "https");
  c.caFile = certs_->caCert.string();
  const auto r = test::httpCall(c);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("MSA|AA|T1"));
  // Plain HTTP to a TLS port gets no answer.
  auto plain = call(adt("T2"));
  EXPECT_NE(test::httpCall(plain).error, "");
  EXPECT_EQ(storedCount(), 1u);
}

TEST_F(HttpSourceTls, MutualTlsNeedsAClientCertificateFromTheCa) {
  start(tlsOptions(true));
  HttpCall c;
  c.url = url("/in", "https");
  c.body = adt("M1");
  c.caFile = certs_->caCert.string();
  EXPECT_NE(test::httpCall(c).error, "");  // no certificate: the handshake fails
  c.certFile = certs_->otherClientCert.string();
  c.keyFile = certs_->otherClientKey.string();
  EXPECT_NE(test::httpCall(c).error, "");  // a certificate from another CA
  c.certFile = certs_->clientCert.string();
  c.keyFile = certs_->clientKey.string();
  const auto r = test::httpCall(c);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(storedCount(), 1u);
}

// ---- core mode ----

class HttpSourceCore : public HttpSourceTest {
 protected:
  static HttpSourceOptions coreOptions() {
    auto o = options();
    o.mode = SourceMode::kCore;
    o.replyFrom = "payer";
    o.replyTimeout = 5000ms;
    return o;
  }

  // Plays the router: message `id` is queued to `destinations`.
  void route(store::MessageId id, const std::vector<std::string>& destinations) {
    store::RoutingOutcome routing;
    routing.messageId = id;
    store::RouteDecision decision;
    decision.route = "to_payer";
    decision.matched = true;
    routing.decisions.push_back(decision);
    for (const auto& d : destinations) {
      store::Enqueue enqueue;
      enqueue.destination = d;
      routing.enqueue.push_back(enqueue);
    }
    routing.status = store::MessageStatus::kRouted;
    sink_.store().recordRouting({routing});
  }

  // Plays a delivery worker: one attempt of message `id` to `destination` with `result`.
  void deliver(store::MessageId id, const std::string& destination, store::DeliveryResult result,
               const std::string& response) {
    auto& s = sink_.store();
    const auto items = s.pendingDeliveries(destination, 10);
    ASSERT_EQ(items.size(), 1u);
    store::DeliveryOutcome outcome;
    outcome.queueId = items[0].queueId;
    outcome.messageId = id;
    outcome.result = result;
    outcome.at = store::nowMillis();
    outcome.response = response;
    if (result != store::DeliveryResult::kDelivered) outcome.error = "HTTP 400";
    s.recordDeliveries({outcome});
  }

  void waitStored(store::MessageId id) {
    ASSERT_TRUE(test::waitFor([&] { return sink_.store().get(id).has_value(); }, 10s));
  }
};

TEST_F(HttpSourceCore, RealTimeIsAnsweredWithTheReplyFromTheDestination) {
  start(coreOptions());
  const std::string request270 = x12Fixture("valid/270_eligibility_request.x12");
  const std::string reply271 = x12Fixture("valid/271_eligibility_response.x12");
  const auto request = test::coreRequest(request270);
  auto answer = std::async(std::launch::async, [&] { return postCore(request); });
  waitStored(1);
  route(1, {"archive", "payer"});
  // The reply of another destination does not count.
  deliver(1, "archive", store::DeliveryResult::kDelivered, "not the reply");
  EXPECT_EQ(answer.wait_for(100ms), std::future_status::timeout);
  deliver(1, "payer", store::DeliveryResult::kDelivered, reply271);
  const auto r = answer.get();
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.payloadType, "X12_271_Response_005010X279A1");
  EXPECT_EQ(e.processingMode, "RealTime");
  EXPECT_EQ(e.payloadId, request.payloadId);
  EXPECT_EQ(e.senderId, "SWITCHBOARD");
  EXPECT_EQ(e.receiverId, "CLINIC");
  EXPECT_EQ(e.coreRuleVersion, "2.2.0");
  EXPECT_EQ(e.errorCode, "Success");
  EXPECT_EQ(e.payload, reply271);
  // The request was stored as it came: the X12 payload.
  const auto d = detail(1);
  EXPECT_EQ(d.message.raw, request270);
  EXPECT_EQ(d.message.summary.channel, "http_in");
}

TEST_F(HttpSourceCore, RealTimeWithoutAReplyInTimeIs504AndTheRequestStaysStored) {
  auto o = coreOptions();
  o.replyTimeout = 300ms;
  start(o);
  const auto request = test::coreRequest(x12Fixture("valid/270_eligibility_request.x12"));
  const auto r = postCore(request);
  EXPECT_EQ(r.status, 504);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.payloadType, "CoreEnvelopeError");
  EXPECT_EQ(e.errorCode, "ReceiverTimeout");
  EXPECT_EQ(e.errorMessage,
            "no reply from 'payer' within 300 ms; the request is kept as message 1 and stays "
            "queued");
  EXPECT_EQ(e.payloadId, request.payloadId);
  EXPECT_GE(r.elapsed, 300ms);
  EXPECT_EQ(detail(1).message.summary.status, store::MessageStatus::kReceived);
}

TEST_F(HttpSourceCore, RealTimeRoutedElsewhereIs502AtOnce) {
  start(coreOptions());
  const auto request = test::coreRequest(x12Fixture("valid/270_eligibility_request.x12"));
  auto answer = std::async(std::launch::async, [&] { return postCore(request); });
  waitStored(1);
  route(1, {"archive"});
  const auto r = answer.get();
  EXPECT_EQ(r.status, 502);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "ReceiverError");
  EXPECT_EQ(e.errorMessage, "the routes did not send the request (message 1) to 'payer'");
}

TEST_F(HttpSourceCore, RealTimeDeadLetteredIs502) {
  start(coreOptions());
  const auto request = test::coreRequest(x12Fixture("valid/270_eligibility_request.x12"));
  auto answer = std::async(std::launch::async, [&] { return postCore(request); });
  waitStored(1);
  route(1, {"payer"});
  deliver(1, "payer", store::DeliveryResult::kDead, "payer said no");
  const auto r = answer.get();
  EXPECT_EQ(r.status, 502);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "ReceiverError");
  EXPECT_EQ(e.errorMessage, "'payer' did not answer: HTTP 400 (message 1)");
}

TEST_F(HttpSourceCore, RealTimeRejectedInterchangeIsAnsweredWithItsTa1) {
  start(coreOptions());
  const std::string payload = x12Fixture("invalid/env_iea02_not_isa13.x12");
  const auto r = postCore(test::coreRequest(payload));
  EXPECT_EQ(r.status, 200);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "Success");
  EXPECT_EQ(e.payloadType, "X12_TA1_Response_00501X231A1");
  EXPECT_EQ(stableX12(e.payload), stableX12(expectedX12Ack(payload)));
  EXPECT_EQ(detail(1).message.summary.status, store::MessageStatus::kRejected);
}

TEST_F(HttpSourceCore, BatchIsAnsweredAtOnceWithThe999) {
  start(coreOptions());
  const std::string payload = x12Fixture("valid/270_eligibility_request.x12");
  const auto request = test::coreRequest(payload, "Batch");
  const auto r = postCore(request);
  EXPECT_EQ(r.status, 200);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "Success");
  EXPECT_EQ(e.processingMode, "Batch");
  EXPECT_EQ(e.payloadType, "X12_999_Response_005010X231A1");
  EXPECT_EQ(e.payloadId, request.payloadId);
  EXPECT_EQ(stableX12(e.payload), stableX12(expectedX12Ack(payload)));
  EXPECT_EQ(detail(1).message.raw, payload);
}

TEST_F(HttpSourceCore, BrokenEnvelopeIs400WithTheParsersErrorCodeAndIsKept) {
  start(coreOptions());
  core::Envelope e;
  e.payloadType = "X12_270_Request_005010X279A1";
  e.processingMode = "RealTime";
  e.timeStamp = core::nowTimeStamp();
  e.senderId = "CLINIC";
  e.receiverId = "SWITCHBOARD";
  e.coreRuleVersion = "2.2.0";
  e.payload = x12Fixture("valid/270_eligibility_request.x12");
  const auto encoded = core::encodeMultipart(e);  // no PayloadID
  const auto r = post(encoded.body, {"Content-Type: " + encoded.contentType});
  EXPECT_EQ(r.status, 400);
  const auto answer = envelopeOf(r);
  EXPECT_EQ(answer.payloadType, "CoreEnvelopeError");
  EXPECT_EQ(answer.errorCode, "PayloadIDRequired");
  EXPECT_EQ(answer.errorMessage, "the PayloadID field is missing (kept as message 1)");
  const auto d = detail(1);
  EXPECT_EQ(d.message.summary.status, store::MessageStatus::kRejected);
  EXPECT_EQ(d.message.summary.error, "CORE PayloadIDRequired: the PayloadID field is missing");
  EXPECT_EQ(d.message.raw, encoded.body);
}

TEST_F(HttpSourceCore, BodyThatIsNotMultipartIs400EnvelopeError) {
  start(coreOptions());
  const auto r =
      post(x12Fixture("valid/270_eligibility_request.x12"), {"Content-Type: application/edi-x12"});
  EXPECT_EQ(r.status, 400);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "EnvelopeError");
  EXPECT_EQ(e.errorMessage,
            "Content-Type \"application/edi-x12\" is not multipart/form-data (kept as message 1)");
}

TEST_F(HttpSourceCore, RealTimeOnAChannelWithoutReplyFromIsRefused) {
  auto o = coreOptions();
  o.replyFrom.clear();
  start(o);
  const auto r = postCore(test::coreRequest(x12Fixture("valid/270_eligibility_request.x12")));
  EXPECT_EQ(r.status, 400);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "ProcessingModeIllegal");
  EXPECT_EQ(e.errorMessage,
            "this channel takes Batch requests only (it has no reply_from) (kept as message 1)");
}

TEST_F(HttpSourceCore, UnauthorizedIs401WithACoreEnvelope) {
  start(coreOptions());
  const auto request = test::coreRequest(x12Fixture("valid/270_eligibility_request.x12"));
  HttpCall c;
  c.url = url();
  c.body = request.body;
  c.headers = {"Content-Type: " + request.contentType};
  const auto r = test::httpCall(c);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"http_in\"");
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.payloadType, "CoreEnvelopeError");
  EXPECT_EQ(e.errorCode, "UnAuthorized");
  EXPECT_EQ(e.errorMessage, "authentication required");
  EXPECT_EQ(storedCount(), 0u);
}

TEST_F(HttpSourceCore, EnvelopeCredentialsAreAcceptedWithBasicAuth) {
  auto o = coreOptions();
  o.auth = SourceAuth::kBasic;
  o.user = "clinic";
  o.password = "pw";
  start(o);
  const std::string payload = x12Fixture("valid/270_eligibility_request.x12");
  const auto withCredentials = [&](const std::string& password) {
    core::Envelope e;
    e.payloadType = "X12_270_Request_005010X279A1";
    e.processingMode = "Batch";
    e.payloadId = core::newPayloadId();
    e.timeStamp = core::nowTimeStamp();
    e.userName = "clinic";
    e.password = password;
    e.senderId = "CLINIC";
    e.receiverId = "SWITCHBOARD";
    e.coreRuleVersion = "2.2.0";
    e.payload = payload;
    const auto encoded = core::encodeMultipart(e);
    HttpCall c;
    c.url = url();
    c.body = encoded.body;
    c.headers = {"Content-Type: " + encoded.contentType};
    return test::httpCall(c);
  };
  const auto wrong = withCredentials("nope");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(envelopeOf(wrong).errorCode, "UnAuthorized");
  EXPECT_EQ(storedCount(), 0u);
  const auto right = withCredentials("pw");
  EXPECT_EQ(right.status, 200);
  EXPECT_EQ(envelopeOf(right).errorCode, "Success");
  EXPECT_EQ(storedCount(), 1u);
}

TEST_F(HttpSourceCore, FailedCommitIs503ReceiverBusy) {
  FailingSink failing(sink_);
  start(coreOptions(), failing);
  const auto request = test::coreRequest(x12Fixture("valid/270_eligibility_request.x12"));
  const auto r = postCore(request);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("retry-after"), "5");
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "ReceiverBusy");
  EXPECT_EQ(e.errorMessage, "the request could not be stored; resend later");
  EXPECT_EQ(e.payloadId, request.payloadId);
}

TEST_F(HttpSourceCore, OversizedBodyIs413WithACoreEnvelope) {
  auto o = coreOptions();
  o.maxBodyBytes = 512;
  start(o);
  const auto r = postCore(test::coreRequest(x12Fixture("valid/270_eligibility_request.x12")));
  EXPECT_EQ(r.status, 413);
  const auto e = envelopeOf(r);
  EXPECT_EQ(e.errorCode, "EnvelopeError");
  EXPECT_THAT(e.errorMessage, HasSubstr("passes the limit of 512 bytes (max_body_bytes)"));
}

// ---- config ----

struct Built {
  std::vector<std::string> errors;
  bool built = false;
};

Built build(const std::string& keys) {
  static test::TempDir dir;
  const auto file = dir.path() / "config.lua";
  test::writeFile(file, fmt::format("channel \"in\" {{\n  type = \"http\",\n{}\n}}\n", keys));
  config::Errors errors;
  const auto loaded = config::loadFile(file, errors);
  Built b;
  if (loaded.sections.size() == 1) {
    const auto factory = httpSourceFactory();
    std::vector<config::KeySpec> specs = {
        config::KeySpec{"type", config::ValueType::kString, true, "", ""}};
    specs.insert(specs.end(), factory.keys.begin(), factory.keys.end());
    const config::Reader r(loaded.sections[0], specs, errors);
    BuildContext ctx;
    ctx.configDir = dir.path();
    factory.create(r, ctx);  // checking only: no io_context, no sink
    b.built = true;
  }
  const std::string prefix = file.string() + ":1: channel 'in': ";
  for (auto e : errors.items) {
    if (e.rfind(prefix, 0) == 0) e.erase(0, prefix.size());
    b.errors.push_back(e);
  }
  return b;
}

TEST(HttpSourceConfig, CredentialsOrAnExplicitNoneAreRequired) {
  EXPECT_EQ(build(R"(listen = "127.0.0.1:8080")").errors,
            (std::vector<std::string>{
                "'auth': no credentials: set basic_auth or bearer_token, or say who may post: "
                "auth = \"client_cert\" (with tls.require_client_cert) or auth = \"none\""}));
  EXPECT_TRUE(build(R"(listen = "127.0.0.1:8080", auth = "none")").errors.empty());
  EXPECT_TRUE(build(R"(listen = "127.0.0.1:8080", bearer_token = "t")").errors.empty());
  EXPECT_TRUE(build(R"(listen = "127.0.0.1:8080", basic_auth = { user = "u", password = "p" })")
                  .errors.empty());
}

TEST(HttpSourceConfig, InvalidValuesAreReported) {
  const auto b = build(R"(listen = "8080",
    path = "in",
    mode = "soap",
    auth = "client_cert",
    bearer_token = "",
    reply_from = "payer",
    max_body_bytes = 0,)");
  EXPECT_EQ(b.errors, (std::vector<std::string>{
                          "'listen': must be \"host:port\"",
                          "'path': must start with '/' and hold no '?', '#' or white space",
                          "'mode': must be \"message\" or \"core\", got \"soap\"",
                          "'max_body_bytes': must be between 1 and 1073741824",
                          "'bearer_token': must not be empty",
                          "'auth': \"client_cert\" needs tls = { require_client_cert = true, ... }",
                          "'auth': \"client_cert\" takes no basic_auth or bearer_token",
                          "'reply_from': is for mode = \"core\"",
                      }));
}

TEST(HttpSourceConfig, CoreModeWithReplyFrom) {
  EXPECT_TRUE(build(R"(listen = "127.0.0.1:8080", mode = "core", bearer_token = "t",
    reply_from = "payer", reply_timeout_ms = 1500)")
                  .errors.empty());
}

}  // namespace
}  // namespace sb::channels::http
