// docs/lua-api.md is tested like code: every ```lua block that starts with "-- example" runs in a
// fresh runtime with `msg` set to the ADT^A01 fixture, every "-- x12 example" with `x` set to
// the 837P fixture, and must not raise.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

// The blocks whose first line is `marker`.
std::vector<std::string> examples(const std::string& markdown,
                                  const std::string& marker = "-- example") {
  std::vector<std::string> out;
  std::istringstream in(markdown);
  std::string line;
  std::string block;
  bool inExample = false;
  bool afterFence = false;
  while (std::getline(in, line)) {
    if (afterFence) {
      afterFence = false;
      inExample = line == marker;
      block.clear();
      continue;
    }
    if (line == "```lua") {
      afterFence = true;
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      if (inExample) out.push_back(block);
      inExample = false;
      continue;
    }
    if (inExample) block += line + "\n";
  }
  return out;
}

TEST(LuaApiDoc, ExamplesRun) {
  const auto blocks = examples(sb::test::readFile(sb::test::sourceDir() / "docs" / "lua-api.md"));
  EXPECT_GE(blocks.size(), 15u);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    LuaRuntime rt(testing::defaultOptions());
    auto parsed =
        hl7::Message::parseOwned(sb::test::readFile(sb::test::fixturePath("hl7v2/ADT-A01-01.hl7")));
    ASSERT_TRUE(parsed.ok());
    auto message = std::make_shared<hl7::Message>(std::move(*parsed.message));
    const auto r = testing::eval(rt, "local msg = ...\n" + blocks[i], {Value{message}});
    EXPECT_TRUE(r.ok()) << "example " << i + 1 << " failed: " << testing::errorOf(r) << "\n"
                        << blocks[i];
  }
}

// The X12 blocks run with `x` set to the 837P fixture.
TEST(LuaApiDoc, X12ExamplesRun) {
  const auto blocks =
      examples(sb::test::readFile(sb::test::sourceDir() / "docs" / "lua-api.md"), "-- x12 example");
  EXPECT_GE(blocks.size(), 6u);
  const std::string raw =
      sb::test::readFile(sb::test::fixturePath("x12/valid/837P_professional.x12"));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    LuaRuntime rt(testing::defaultOptions());
    const auto r = testing::eval(rt, "local x = ...\n" + blocks[i], {Value{X12Text{raw}}});
    EXPECT_TRUE(r.ok()) << "x12 example " << i + 1 << " failed: " << testing::errorOf(r) << "\n"
                        << blocks[i];
  }
}

}  // namespace
}  // namespace sb::transforms
