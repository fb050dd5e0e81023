// The HTTP sender against a real HTTP server in the test process: request shape, status
// handling, Retry-After, keep-alive, timeouts, TLS and mutual TLS, the Idempotency-Key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <regex>

#include <fmt/format.h>

#include "channels/http/http_sender.h"
#include "engine/config/lua_loader.h"
#include "test_certs.h"
#include "test_http_server.h"
#include "tests/support/test_support.h"

namespace sb::channels::http {
namespace {

using test::ScriptedResponse;
using test::TestHttpServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Built {
  std::unique_ptr<Sender> sender;
  std::vector<std::string> errors;
};

// Builds a sender the way the engine does: a Lua `destination` section read through the
// factory's declared keys.
Built build(const std::string& keys, const std::string& name = "api") {
  // curl honours *_proxy variables; the test server is local and must be reached directly.
  static const bool noProxy = [] {
    for (const char* v :
         {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      ::unsetenv(v);
    }
    return true;
  }();
  (void)noProxy;
  static test::TempDir dir;
  const auto file = dir.path() / "config.lua";
  test::writeFile(file,
                  fmt::format("destination \"{}\" {{\n  type = \"http\",\n{}\n}}\n", name, keys));
  config::Errors errors;
  const auto loaded = config::loadFile(file, errors);
  Built b;
  if (loaded.sections.size() == 1) {
    const auto factory = httpSenderFactory();
    std::vector<config::KeySpec> specs = {
        config::KeySpec{"type", config::ValueType::kString, true, "", ""}};
    specs.insert(specs.end(), factory.keys.begin(), factory.keys.end());
    const config::Reader r(loaded.sections[0], specs, errors);
    BuildContext ctx;
    ctx.configDir = dir.path();
    ctx.dataDir = dir.path();
    b.sender = factory.create(r, ctx);
  }
  const std::string prefix = file.string() + ":1: destination '" + name + "': ";
  for (auto e : errors.items) {
    if (e.rfind(prefix, 0) == 0) e.erase(0, prefix.size());
    b.errors.push_back(e);
  }
  return b;
}

std::unique_ptr<Sender> sender(const std::string& keys, const std::string& name = "api") {
  auto b = build(keys, name);
  EXPECT_TRUE(b.errors.empty()) << ::testing::PrintToString(b.errors);
  return std::move(b.sender);
}

std::string url(const TestHttpServer& server, const std::string& path = "/in") {
  return fmt::format("url = \"http://127.0.0.1:{}{}\",", server.port(), path);
}

store::QueueItem item(store::MessageId id = 42, int generation = 0) {
  store::QueueItem q;
  q.queueId = 7;
  q.messageId = id;
  q.destination = "api";
  q.payload = R"({"resourceType":"Bundle"})";
  q.summary.id = id;
  q.summary.channel = "adt in";
  q.summary.messageType = "ADT";
  q.summary.triggerEvent = "A01";
  q.summary.controlId = "MSG 1/2";
  q.summary.patientId = "P&1 ?#";
  q.summary.generation = generation;
  return q;
}

TEST(HttpSender, PostExpandsAndUrlEncodesTheTemplate) {
  TestHttpServer server;
  auto s = sender(
      url(server, "/in/{channel}/{id}?ctl={control_id}&pid={patient_id}&ev={type}_{trigger}"));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kOk);
  EXPECT_EQ(r.response, "ok");
  EXPECT_EQ(r.error, "");
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/in/adt%20in/42?ctl=MSG%201%2F2&pid=P%261%20%3F%23&ev=ADT_A01");
  EXPECT_EQ(reqs[0].body, R"({"resourceType":"Bundle"})");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("content-length"), "25");
  EXPECT_EQ(reqs[0].header("expect"), std::nullopt);
  EXPECT_EQ(reqs[0].header("authorization"), std::nullopt);
}

TEST(HttpSender, PutAndPatchSendTheBody) {
  TestHttpServer server;
  for (const std::string method : {"PUT", "PATCH"}) {
    auto s = sender(url(server, "/Patient/{patient_id}") + "method = \"" + method + "\",");
    EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  }
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[1].method, "PATCH");
  for (const auto& req : reqs) {
    EXPECT_EQ(req.target, "/Patient/P%261%20%3F%23");
    EXPECT_EQ(req.body, R"({"resourceType":"Bundle"})");
  }
}

TEST(HttpSender, HeadersBearerTokenAndContentType) {
  TestHttpServer server;
  auto s = sender(url(server) +
                  R"(content_type = "application/fhir+json",
                     bearer_token = "tok-123",
                     headers = { ["X-Source"] = "switchboard", ["X-Empty"] = "" },)");
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer tok-123");
  EXPECT_EQ(reqs[0].header("content-type"), "application/fhir+json");
  EXPECT_EQ(reqs[0].header("x-source"), "switchboard");
  EXPECT_EQ(reqs[0].header("x-empty"), "");
}

TEST(HttpSender, BasicAuth) {
  TestHttpServer server;
  auto s = sender(url(server) + R"(basic_auth = { user = "alice", password = "s3cr:et" },)");
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  // base64("alice:s3cr:et")
  EXPECT_EQ(reqs[0].header("authorization"), "Basic YWxpY2U6czNjcjpldA==");
}

TEST(HttpSender, KeepsTheConnectionAliveAcrossSends) {
  TestHttpServer server;
  auto s = sender(url(server));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(s->send(item(i)).status, SendStatus::kOk);
  EXPECT_EQ(server.connectionsAccepted(), 1);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& req : reqs) EXPECT_EQ(req.connection, 1);
}

TEST(HttpSender, SuccessStatusesAreOkWithTheBody) {
  TestHttpServer server;
  server.script({{200, "fine", {}}, {201, R"({"id":"9"})", {}}, {204, "", {}}});
  auto s = sender(url(server));
  for (const std::string expected : {"fine", R"({"id":"9"})", ""}) {
    const SendResult r = s->send(item());
    EXPECT_EQ(r.status, SendStatus::kOk);
    EXPECT_EQ(r.response, expected);
    EXPECT_EQ(r.error, "");
  }
}

TEST(HttpSender, ClientErrorsDeadLetterWithTheBodyKept) {
  TestHttpServer server;
  server.script({{400, R"({"issue":"invalid"})", {}}, {404, "no such endpoint", {}}});
  auto s = sender(url(server));
  const SendResult bad = s->send(item());
  EXPECT_EQ(bad.status, SendStatus::kError);
  EXPECT_EQ(bad.error, "HTTP 400");
  EXPECT_EQ(bad.response, R"({"issue":"invalid"})");
  EXPECT_EQ(bad.retryAfterMillis, std::nullopt);
  const SendResult missing = s->send(item());
  EXPECT_EQ(missing.status, SendStatus::kError);
  EXPECT_EQ(missing.error, "HTTP 404");
  EXPECT_EQ(missing.response, "no such endpoint");
}

TEST(HttpSender, TimeoutTooManyRequestsAndServerErrorsAreRetried) {
  TestHttpServer server;
  server.script({{408, "slow", {}}, {429, "busy", {}}, {503, "down", {}}, {500, "", {}}});
  auto s = sender(url(server));
  for (const auto& [error, body] : std::vector<std::pair<std::string, std::string>>{
           {"HTTP 408", "slow"}, {"HTTP 429", "busy"}, {"HTTP 503", "down"}, {"HTTP 500", ""}}) {
    const SendResult r = s->send(item());
    EXPECT_EQ(r.status, SendStatus::kRetry);
    EXPECT_EQ(r.error, error);
    EXPECT_EQ(r.response, body);
    EXPECT_EQ(r.retryAfterMillis, std::nullopt);
  }
}

std::string httpDate(std::time_t t) {
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buf;
}

TEST(HttpSender, RetryAfterSecondsAndHttpDateAreHonoured) {
  TestHttpServer server;
  const std::time_t now = std::time(nullptr);
  server.script({
      {503, "", {{"Retry-After", "120"}}},
      {429, "", {{"Retry-After", "7200"}}},
      // Two days ahead and a day behind: the cap and the floor, whatever the clock says.
      {503, "", {{"Retry-After", httpDate(now + 2 * 86400)}}},
      {503, "", {{"Retry-After", httpDate(now - 86400)}}},
      {503, "", {{"Retry-After", "whenever"}}},
  });
  auto s = sender(url(server));
  for (const std::optional<std::int64_t> expected :
       {std::optional<std::int64_t>(120'000), std::optional<std::int64_t>(3'600'000),
        std::optional<std::int64_t>(3'600'000), std::optional<std::int64_t>(0),
        std::optional<std::int64_t>()}) {
    const SendResult r = s->send(item());
    EXPECT_EQ(r.status, SendStatus::kRetry);
    EXPECT_EQ(r.retryAfterMillis, expected);
  }
}

TEST(HttpSender, ParseRetryAfterForms) {
  const std::time_t at = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parseRetryAfter("0", at), 0);
  EXPECT_EQ(parseRetryAfter(" 5 ", at), 5000);
  EXPECT_EQ(parseRetryAfter("3600", at), 3'600'000);
  EXPECT_EQ(parseRetryAfter("3601", at), 3'600'000);
  EXPECT_EQ(parseRetryAfter("99999999999999999999", at), 3'600'000);
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at - 90), 90'000);
  EXPECT_EQ(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", at - 90), 90'000);
  EXPECT_EQ(parseRetryAfter("Sun Nov  6 08:49:37 1994", at - 90), 90'000);
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at + 10), 0);
  EXPECT_EQ(parseRetryAfter("", at), std::nullopt);
  EXPECT_EQ(parseRetryAfter("soon", at), std::nullopt);
}

TEST(HttpSender, RedirectsAreNotFollowed) {
  TestHttpServer server;
  server.script({{301, "moved", {{"Location", "/elsewhere"}}}});
  auto s = sender(url(server));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kError);
  EXPECT_EQ(r.error, "HTTP 301: redirect not followed");
  EXPECT_EQ(r.response, "moved");
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/in");
}

TEST(HttpSender, ConnectionRefusedIsRetried) {
  const unsigned short port = test::freePort();
  auto s = sender(fmt::format("url = \"http://127.0.0.1:{}/in\",", port));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, StartsWith("HTTP transport error: Failed to connect to 127.0.0.1 port " +
                                  std::to_string(port)));
  EXPECT_EQ(r.response, "");
}

TEST(HttpSender, UnansweredRequestTimesOutAndIsRetried) {
  TestHttpServer server;
  ScriptedResponse hang;
  hang.hang = true;
  server.script({hang});
  auto s = sender(url(server) + "timeout = 1,");
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, StartsWith("HTTP transport error: Operation timed out after "));
  // The next message goes out on a fresh connection.
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  EXPECT_EQ(server.connectionsAccepted(), 2);
}

TEST(HttpSender, ResponseBodyIsCapped) {
  TestHttpServer server;
  std::string big;
  for (int i = 0; i < 200'000; ++i) big.push_back(static_cast<char>('a' + i % 26));
  server.script({{200, big, {}}, {400, big, {}}});
  auto s = sender(url(server) + "max_response_bytes = 1000,");
  const SendResult ok = s->send(item());
  EXPECT_EQ(ok.status, SendStatus::kOk);
  EXPECT_EQ(ok.response, big.substr(0, 1000));
  const SendResult bad = s->send(item());
  EXPECT_EQ(bad.status, SendStatus::kError);
  EXPECT_EQ(bad.response, big.substr(0, 1000));
  // The rest of the body was read and dropped, so the connection stayed usable.
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  EXPECT_EQ(server.connectionsAccepted(), 1);
}

TEST(HttpSender, IdempotencyKeyIsStablePerMessageDestinationAndGeneration) {
  TestHttpServer server;
  server.script({{503, "", {}}, {200, "", {}}});
  {
    auto first = sender(url(server));
    EXPECT_EQ(first->send(item(42, 0)).status, SendStatus::kRetry);
    EXPECT_EQ(first->send(item(42, 0)).status, SendStatus::kOk);
  }
  // A new instance, as after a restart.
  EXPECT_EQ(sender(url(server))->send(item(42, 0)).status, SendStatus::kOk);
  EXPECT_EQ(sender(url(server), "other")->send(item(42, 0)).status, SendStatus::kOk);
  EXPECT_EQ(sender(url(server))->send(item(42, 1)).status, SendStatus::kOk);
  EXPECT_EQ(sender(url(server))->send(item(43, 0)).status, SendStatus::kOk);

  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6u);
  std::vector<std::string> keys;
  for (const auto& req : reqs) keys.push_back(req.header("idempotency-key").value_or("(none)"));
  // SHA-256("api:42:0") = 23e6c8872ae73e1046881fa27dc3824b..., version 8 and variant bits set.
  EXPECT_EQ(keys[0], "23e6c887-2ae7-8e10-8688-1fa27dc3824b");
  EXPECT_EQ(keys[1], keys[0]);  // the retry
  EXPECT_EQ(keys[2], keys[0]);  // after a restart
  EXPECT_NE(keys[3], keys[0]);  // another destination
  EXPECT_NE(keys[4], keys[0]);  // the message reprocessed (next generation)
  EXPECT_NE(keys[5], keys[0]);  // another message
  EXPECT_NE(keys[3], keys[4]);
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  for (const auto& key : keys) EXPECT_TRUE(std::regex_match(key, uuid)) << key;
  EXPECT_EQ(idempotencyKey("api", item(42, 0)), keys[0]);
  // The second output of a split message is its own delivery with its own stable key.
  auto second = item(42, 0);
  second.part = 1;
  EXPECT_NE(idempotencyKey("api", second), keys[0]);
  EXPECT_EQ(idempotencyKey("api", second), idempotencyKey("api", second));
}

TEST(HttpSender, IdempotencyHeaderCanBeRenamedOrDisabled) {
  TestHttpServer server;
  EXPECT_EQ(sender(url(server) + R"(idempotency_header = "X-Request-Id",)")->send(item()).status,
            SendStatus::kOk);
  EXPECT_EQ(sender(url(server) + R"(idempotency_header = "",)")->send(item()).status,
            SendStatus::kOk);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("x-request-id"), "23e6c887-2ae7-8e10-8688-1fa27dc3824b");
  EXPECT_EQ(reqs[0].header("idempotency-key"), std::nullopt);
  EXPECT_EQ(reqs[1].header("idempotency-key"), std::nullopt);
  EXPECT_EQ(reqs[1].header("x-request-id"), std::nullopt);
}

class HttpSenderTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    certs_ = new test::TestCerts(test::makeTestCerts(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }
  static std::string httpsUrl(const TestHttpServer& server) {
    return fmt::format("url = \"https://127.0.0.1:{}/in\",", server.port());
  }
  static test::ServerTls serverTls(bool requireClientCert = false) {
    return {certs_->serverCert, certs_->serverKey, certs_->caCert, requireClientCert};
  }
  static inline test::TempDir* dir_ = nullptr;
  static inline test::TestCerts* certs_ = nullptr;
};

TEST_F(HttpSenderTls, VerifiesTheServerAgainstTheCa) {
  TestHttpServer server(serverTls());
  auto s =
      sender(httpsUrl(server) + fmt::format("tls = {{ ca = \"{}\" }},", certs_->caCert.string()));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kOk) << r.error;
  EXPECT_EQ(r.response, "ok");
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
  EXPECT_EQ(server.connectionsAccepted(), 1);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].clientCertCn, "");
  EXPECT_EQ(reqs[0].header("host"), fmt::format("127.0.0.1:{}", server.port()));
}

TEST_F(HttpSenderTls, ServerNameIsCheckedInTheCertificateAndSentAsHost) {
  TestHttpServer server(serverTls());
  auto s =
      sender(httpsUrl(server) + fmt::format("tls = {{ ca = \"{}\", server_name = \"localhost\" }},",
                                            certs_->caCert.string()));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kOk) << r.error;
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("host"), fmt::format("localhost:{}", server.port()));
}

TEST_F(HttpSenderTls, UnknownCaIsRetriedWithTheTlsError) {
  TestHttpServer server(serverTls());
  auto s = sender(httpsUrl(server) +
                  fmt::format("tls = {{ ca = \"{}\" }},", certs_->otherCaCert.string()));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_EQ(
      r.error,
      "HTTP transport error: SSL certificate problem: unable to get local issuer certificate");
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpSenderTls, VerificationCanBeTurnedOff) {
  TestHttpServer server(serverTls());
  auto s = sender(httpsUrl(server) + fmt::format("tls = {{ ca = \"{}\", verify_peer = false }},",
                                                 certs_->otherCaCert.string()));
  EXPECT_EQ(s->send(item()).status, SendStatus::kOk);
}

TEST_F(HttpSenderTls, MutualTlsPresentsTheClientCertificate) {
  TestHttpServer server(serverTls(true));
  auto s =
      sender(httpsUrl(server) + fmt::format("tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }},",
                                            certs_->caCert.string(), certs_->clientCert.string(),
                                            certs_->clientKey.string()));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kOk) << r.error;
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].clientCertCn, "switchboard-test-client");
}

TEST_F(HttpSenderTls, MutualTlsWithoutAClientCertificateIsRetried) {
  TestHttpServer server(serverTls(true));
  auto s =
      sender(httpsUrl(server) + fmt::format("tls = {{ ca = \"{}\" }},", certs_->caCert.string()));
  const SendResult r = s->send(item());
  EXPECT_EQ(r.status, SendStatus::kRetry);
  EXPECT_THAT(r.error, StartsWith("HTTP transport error: "));
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpSenderConfig, DefaultsBuildWithoutErrors) {
  const auto b = build(R"(url = "https://example.org/fhir")");
  EXPECT_TRUE(b.errors.empty()) << ::testing::PrintToString(b.errors);
  EXPECT_NE(b.sender, nullptr);
}

TEST(HttpSenderConfig, InvalidValuesAreReported) {
  const auto b = build(R"(url = "ftp://example.org/{id}/{mrn}",
    method = "GET",
    bearer_token = "t",
    basic_auth = { user = "u", password = "p" },
    headers = { ["Content-Type"] = "text/plain", ["Bad Name"] = "x", ["X-Num"] = 1 },
    idempotency_header = "Bad:Header",
    tls = { verify_peer = false },
    timeout = 0,)");
  EXPECT_EQ(b.errors,
            (std::vector<std::string>{
                "'url': must start with http:// or https://",
                "'url': unknown placeholder {mrn}",
                "'method': must be \"POST\", \"PUT\" or \"PATCH\", got \"GET\"",
                "'idempotency_header': is not a valid header name",
                "'headers.Bad Name': is not a valid header name",
                "'headers.Content-Type': is set by the sender (content_type, bearer_token, "
                "basic_auth, idempotency_header)",
                "'headers.X-Num': must be a string",
                "'basic_auth': cannot be used together with bearer_token",
                "'tls': needs an https:// url",
                "'timeout': must be between 0.01 and 3600",
            }));
}

}  // namespace
}  // namespace sb::channels::http
