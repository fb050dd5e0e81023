#include <gtest/gtest.h>

#include <cstdio>

#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

class JsonBinding : public ::testing::Test {
 protected:
  // json.encode(json.decode(input))
  std::string roundTrip(const std::string& input) {
    return text(eval(rt, "return json.encode(assert(json.decode(...)))", {Value{input}}));
  }
  LuaRuntime rt{defaultOptions()};
};

TEST_F(JsonBinding, RoundTripKeepsArraysObjectsAndNull) {
  EXPECT_EQ(roundTrip(R"({"b":[],"a":{},"c":[1,null,"x",true,false,{"z":1,"y":[[]]}]})"),
            R"({"a":{},"b":[],"c":[1,null,"x",true,false,{"y":[[]],"z":1}]})");
  EXPECT_EQ(roundTrip("null"), "null");
  EXPECT_EQ(roundTrip("[]"), "[]");
  EXPECT_EQ(roundTrip(R"("\u00e9\n")"), "\"\xc3\xa9\\n\"");
}

TEST_F(JsonBinding, Numbers) {
  EXPECT_EQ(roundTrip("[1,-2,1.5,3.0,1e3,9007199254740993,18446744073709551615]"),
            "[1,-2,1.5,3.0,1000.0,9007199254740993,18446744073709553000.0]");
  EXPECT_EQ(
      text(eval(rt, "local v = json.decode('[7, 7.5]') return math.type(v[1]) .. math.type(v[2])")),
      "integerfloat");
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode(0/0) return s")),
            "test.lua:1: json.encode: NaN and infinity have no JSON form");
}

TEST_F(JsonBinding, DecodedValuesInLua) {
  EXPECT_EQ(text(eval(rt,
                      "local v = json.decode('{\"a\":[10,20,null]}') "
                      "return tostring(#v.a) .. ' ' .. tostring(v.a[3] == json.null) .. ' ' .. "
                      "tostring(json.null) .. ' ' .. tostring(json.isArray(v.a)) .. ' ' .. "
                      "tostring(json.isArray(v)) .. ' ' .. getmetatable(v.a)")),
            "3 true null true false json.array");
}

TEST_F(JsonBinding, EncodeSortsKeysAndMarksArrays) {
  EXPECT_EQ(text(eval(rt, "return json.encode({b = 1, a = 2, c = {z = 1, y = 2}})")),
            R"({"a":2,"b":1,"c":{"y":2,"z":1}})");
  EXPECT_EQ(text(eval(rt, "return json.encode({})")), "{}");
  EXPECT_EQ(text(eval(rt, "return json.encode(json.array())")), "[]");
  EXPECT_EQ(text(eval(rt, "return json.encode(json.array({1, 2}))")), "[1,2]");
  EXPECT_EQ(text(eval(rt, "return json.encode({'a', 'b', json.null})")), R"(["a","b",null])");
  EXPECT_EQ(text(eval(rt, "return json.encode({x = json.null})")), R"({"x":null})");
  EXPECT_EQ(text(eval(rt, "return json.encode('a\"b')")), R"("a\"b")");
  EXPECT_EQ(text(eval(rt, "return json.encode({a = {1}}, {pretty = true})")),
            "{\n    \"a\": [\n        1\n    ]\n}");
}

// Many keys and deep nesting: every table's entries share one buffer while the encoder recurses.
TEST_F(JsonBinding, EncodeLargeNestedTables) {
  const char* body = R"(
    local t = {}
    for i = 100, 1, -1 do
      t[string.format('k%03d', i)] = { { b = { i, { c = i + 1 } }, a = i }, json.array() }
    end
    local deep = { v = 'x' }
    for _ = 1, 40 do deep = { deep, { n = 1, m = { 2 } } } end
    t.zdeep = deep
    return json.encode(t))";
  std::string want = "{";
  for (int i = 1; i <= 100; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%03d", i);
    want.append("\"").append(key).append("\":[{\"a\":").append(std::to_string(i));
    want.append(",\"b\":[").append(std::to_string(i)).append(",{\"c\":");
    want.append(std::to_string(i + 1)).append("}]},[]],");
  }
  std::string deep = R"({"v":"x"})";
  for (int k = 0; k < 40; ++k) {
    std::string outer(1, '[');
    outer.append(deep).append(R"(,{"m":[2],"n":1}])");
    deep.swap(outer);
  }
  want.append("\"zdeep\":").append(deep).append("}");
  EXPECT_EQ(text(eval(rt, body)), want);
}

// The exact bytes of every escape class and number form: outputs are compared byte for byte by
// golden tests and idempotency keys, so the encoder must never change them.
TEST_F(JsonBinding, EncodeEscapesAndNumbersExactly) {
  EXPECT_EQ(text(eval(rt, R"(return json.encode("\0\1\31\b\t\n\f\r\"\\/\127 \u{e9}\u{1F600}"))")),
            "\"\\u0000\\u0001\\u001F\\b\\t\\n\\f\\r\\\"\\\\/\x7f \xc3\xa9\xf0\x9f\x98\x80\"");
  EXPECT_EQ(text(eval(rt,
                      "return json.encode({0.1, -0.0, 1e-7, 1e300, 123456789.125, 2^53, "
                      "-1.5e-300, 5e-324, 1/3, 100.0, 1e21, 1e22, 0.000001})")),
            "[0.1,-0.0,1e-7,1e300,123456789.125,9007199254740992.0,-1.5e-300,5e-324,"
            "0.3333333333333333,100.0,1e21,1e22,0.000001]");
  EXPECT_EQ(text(eval(rt, "return json.encode({math.mininteger, math.maxinteger, 0, -7})")),
            "[-9223372036854775808,9223372036854775807,0,-7]");
  EXPECT_EQ(text(eval(rt, "return json.encode({['a\\nb'] = {[''] = true}, ['\\1'] = false})")),
            R"({"\u0001":false,"a\nb":{"":true}})");
}

// `at` a's, `middle`, then b's up to `width` plus the middle, inside `quote`s. Out of line:
// g++ 12 reports a false -Wrestrict when these appends are inlined into a loop.
[[gnu::noinline]] std::string between(std::size_t at, const std::string& middle,
                                      const std::string& quote, std::size_t width = 40) {
  std::string out = quote;
  out.append(at, 'a').append(middle).append(width - at, 'b').append(quote);
  return out;
}

// Special bytes at every offset of strings longer than the encoder's 16-byte blocks: each is
// escaped (or, for UTF-8, validated) wherever a block boundary falls.
TEST_F(JsonBinding, EncodeFindsSpecialBytesAtEveryOffset) {
  const std::pair<std::string, std::string> specials[] = {{"\"", "\\\""},
                                                          {"\\", "\\\\"},
                                                          {"\n", "\\n"},
                                                          {std::string(1, '\0'), "\\u0000"},
                                                          {"\x1f", "\\u001F"},
                                                          {"\xc3\xa9", "\xc3\xa9"},
                                                          {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}};
  for (const auto& [raw, escaped] : specials) {
    // Short strings (one block, read past their end) of every length, the special byte anywhere.
    for (std::size_t width = 0; width < 16; ++width) {
      for (std::size_t at = 0; at <= width; ++at) {
        const std::string input = between(at, raw, "", width);
        EXPECT_EQ(text(eval(rt, "return json.encode(...)", {Value{input}})),
                  between(at, escaped, "\"", width))
            << width << " " << at;
      }
    }
    for (std::size_t at = 0; at <= 40; ++at) {
      const std::string input = between(at, raw, "");
      EXPECT_EQ(text(eval(rt, "return json.encode(...)", {Value{input}})),
                between(at, escaped, "\""))
          << at;
    }
  }
  for (std::size_t at = 0; at <= 40; ++at) {
    const std::string input = between(at, "\xc3", "");  // a lead byte without continuation
    EXPECT_EQ(errorOf(eval(rt, "local s = json.encode(...) return s", {Value{input}})),
              "test.lua:1: json.encode: string is not valid UTF-8")
        << at;
  }
}

TEST_F(JsonBinding, EncodeErrors) {
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode({1, 2, x = 3}) return s")),
            "test.lua:1: json.encode: table mixes keys: use string keys (object) or 1..n (array)");
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode({[1] = 1, [3] = 3}) return s")),
            "test.lua:1: json.encode: table mixes keys: use string keys (object) or 1..n (array)");
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode({f = print}) return s")),
            "test.lua:1: json.encode: cannot encode a function value");
  EXPECT_EQ(errorOf(eval(rt, "local t = {} t.self = t local s = json.encode(t) return s")),
            "test.lua:1: json.encode: tables nested deeper than 1000 levels (a cycle?)");
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode('\\xff') return s")),
            "test.lua:1: json.encode: string is not valid UTF-8");
  // Invalid bytes after (and between) runs of ASCII, in values and in keys.
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode('abcdefghijklmnop\\xff') return s")),
            "test.lua:1: json.encode: string is not valid UTF-8");
  EXPECT_EQ(errorOf(eval(rt,
                         "local s = json.encode('abcdefgh\\xc3\\xa9abcdefgh\\xed\\xa0\\x80') "
                         "return s")),
            "test.lua:1: json.encode: string is not valid UTF-8");
  EXPECT_EQ(errorOf(eval(rt, "local s = json.encode({['abcdefgh12345678\\xc3'] = 1}) return s")),
            "test.lua:1: json.encode: key is not valid UTF-8");
  EXPECT_EQ(
      text(eval(rt, "return json.encode('abcdefgh\\xc3\\xa9abcdefghij\\xf0\\x9f\\x98\\x80')")),
      "\"abcdefgh\xc3\xa9"
      "abcdefghij\xf0\x9f\x98\x80\"");
}

TEST_F(JsonBinding, DecodeErrorsGiveTheOffset) {
  auto r = eval(rt, "return json.decode('{\"a\":1,}')");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[0]));
  EXPECT_EQ(text(r, 1), "json.decode: offset 7: Missing a name for object member.");
  EXPECT_EQ(text(eval(rt, "local v, err = json.decode('[1, 2') return err")),
            "json.decode: offset 5: Missing a comma or ']' after an array element.");
  EXPECT_EQ(text(eval(rt, "local v, err = json.decode('[1] x') return err")),
            "json.decode: offset 4: The document root must not be followed by other values.");
  EXPECT_EQ(text(eval(rt, "local v, err = json.decode('\"\\xff\"') return err")),
            "json.decode: offset 1: Invalid encoding in string.");
  EXPECT_EQ(text(eval(rt, "local v, err = json.decode(string.rep('[', 2000)) return err")),
            "json.decode: offset 1000: nesting deeper than 1000 levels");
}

TEST_F(JsonBinding, JsonArgumentThatDoesNotParse) {
  EXPECT_EQ(errorOf(eval(rt, "return ...", {Value{JsonText{"{"}}})),
            "bad JSON argument: offset 1: Missing a name for object member.");
}

}  // namespace
}  // namespace sb::transforms
