// Outbound X12 through the real binary: the PMS posts canonical Claim JSON to an HTTP listener,
// the example clearinghouse route makes an 837P with the standard mapping and writes it out.
// ISA13/GS06/ST02 come from the store: after a kill -9 and a restart the next claim gets the
// next numbers, never one handed out before.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"
#include "test_http_client.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<fs::path> filesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(X12Outbound, ClaimsBecome837PWithControlNumbersThatSurviveARestart) {
  test::TempDir dir;
  const unsigned short port = test::freePort();
  const auto config = dir.path() / "switchboard.lua";
  test::writeFile(config, fmt::format(R"(
engine {{ script_folders = {{ "{}", "{}" }} }}
channel "pms_claims" {{ type = "http", listen = "127.0.0.1:{}", path = "/claims", bearer_token = "t0ken" }}
destination "clearinghouse_claims" {{ type = "file", directory = "{}", filename = "{{id}}.x12" }}
route "claims_837p" {{
  from = "pms_claims",
  filter = {{ message_type = "Claim" }},
  transform = "partners/example_clearinghouse.lua:claim_837p",
  to = "clearinghouse_claims",
}}
)",
                                      (test::sourceDir() / "scripts" / "lua").string(),
                                      (test::sourceDir() / "examples" / "clearinghouse" / "scripts").string(),
                                      port, (dir.path() / "out").string()));
  const std::string claim = test::readFile(test::fixturePath("x12/mappings/claim.json"));
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "engine.log";
  auto post = [&] {
    test::HttpCall call;
    call.url = fmt::format("http://127.0.0.1:{}/claims", port);
    call.body = claim;
    call.headers = {"Authorization: Bearer t0ken", "Content-Type: application/json"};
    return test::httpCall(call);
  };
  {
    test::EngineProcess engine({"run", config.string(), "--data-dir", data.string()}, log);
    ASSERT_TRUE(test::waitFor([&] { return post().status == 202; }, 20s)) << test::readFile(log);
    ASSERT_TRUE(test::waitFor([&] { return filesIn(dir.path() / "out").size() == 1; }, 20s))
        << test::readFile(log);
    engine.kill9();
  }
  {
    test::EngineProcess engine({"run", config.string(), "--data-dir", data.string()}, log);
    ASSERT_TRUE(test::waitFor([&] { return post().status == 202; }, 20s)) << test::readFile(log);
    ASSERT_TRUE(test::waitFor([&] { return filesIn(dir.path() / "out").size() == 2; }, 20s))
        << test::readFile(log);
  }
  std::vector<std::string> isa13;
  for (const auto& file : filesIn(dir.path() / "out")) {
    const std::string text = test::readFile(file);
    x12::Document doc = x12::Document::parse(text);
    doc.validate(x12::SpecLibrary::builtin());
    for (const auto& f : doc.findings()) ADD_FAILURE() << file << ": " << f.message;
    ASSERT_EQ(doc.interchanges().size(), 1u);
    isa13.push_back(doc.interchanges()[0].controlNumber);
    EXPECT_EQ(doc.interchanges()[0].receiverId, "EXAMPLECH");
  }
  EXPECT_EQ(isa13, (std::vector<std::string>{"000000001", "000000002"}));
}

}  // namespace
}  // namespace sb::e2e
