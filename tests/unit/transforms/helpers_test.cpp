#include <gtest/gtest.h>

#include <regex>

#include <fmt/format.h>

#include "tests/unit/transforms/lua_test_util.h"
#include "transforms/lua/helpers.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

class Helpers : public ::testing::Test {
 protected:
  LuaRuntime rt{defaultOptions()};
};

TEST_F(Helpers, Sha256) {
  EXPECT_EQ(text(eval(rt, "return crypto.sha256('abc')")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(text(eval(rt, "return crypto.sha256('')")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(Helpers, Base64) {
  EXPECT_EQ(text(eval(rt, "return base64.encode('hello')")), "aGVsbG8=");
  EXPECT_EQ(text(eval(rt, "return base64.encode('hell')")), "aGVsbA==");
  EXPECT_EQ(text(eval(rt, "return base64.encode('hel')")), "aGVs");
  EXPECT_EQ(text(eval(rt, "return base64.encode('')")), "");
  EXPECT_EQ(text(eval(rt, "return base64.decode('aGVsbG8=')")), "hello");
  EXPECT_EQ(text(eval(rt, "return base64.decode('aGVs\\r\\nbA==')")), "hell");
  EXPECT_EQ(text(eval(rt, "return select(2, base64.decode('aGV'))")),
            "base64.decode: invalid base64 text");
  EXPECT_EQ(text(eval(rt, "return select(2, base64.decode('a=Vs'))")),
            "base64.decode: invalid base64 text");
  const std::string binary("\x00\xff\x10\x80", 4);
  EXPECT_EQ(text(eval(rt, "return base64.decode(base64.encode(...))", {Value{binary}})), binary);
}

TEST_F(Helpers, Uuid) {
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "www.example.com")
  EXPECT_EQ(text(eval(rt, "return uuid.v5('dns', 'www.example.com')")),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2");
  EXPECT_EQ(
      text(eval(rt, "return uuid.v5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')")),
      "2ed6657d-e927-568b-95e1-2665a8aea6a2");
  EXPECT_EQ(errorOf(eval(rt, "return uuid.v5('nope', 'x')")),
            "test.lua:1: uuid.v5: namespace must be a UUID or dns, url, oid, x500");
  const std::string a = text(eval(rt, "return uuid.v4()"));
  const std::string b = text(eval(rt, "return uuid.v4()"));
  const std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(a, v4)) << a;
  EXPECT_TRUE(std::regex_match(b, v4)) << b;
  EXPECT_NE(a, b);
}

TEST_F(Helpers, LogFunctions) {
  EXPECT_TRUE(
      eval(rt, "log.debug('d', 1) log.info('control id', 'X1') log.warn('w') log.error('e')").ok());
}

TEST(HelpersFiles, ReadScriptFileStaysInsideTheFolders) {
  sb::test::TempDir dir;
  sb::test::writeFile(dir.path() / "scripts" / "tables" / "sex.csv", "code,display\nF,Female\n");
  sb::test::writeFile(dir.path() / "scripts" / "big.txt", std::string(2000, 'x'));
  sb::test::writeFile(dir.path() / "secret.txt", "secret");
  LuaOptions options;
  options.scriptFolders.push_back(dir.path() / "scripts");
  options.limits.maxScriptFileBytes = 1000;
  LuaRuntime rt(options);
  EXPECT_EQ(text(eval(rt, "return sb_read_script_file('tables/sex.csv')")),
            "code,display\nF,Female\n");
  EXPECT_EQ(text(eval(rt, "return select(2, sb_read_script_file('../secret.txt'))")),
            "'../secret.txt' is not a relative name inside the script folders");
  EXPECT_EQ(text(eval(rt, "return select(2, sb_read_script_file(...))",
                      {Value{(dir.path() / "secret.txt").string()}})),
            fmt::format("'{}' is not a relative name inside the script folders",
                        (dir.path() / "secret.txt").string()));
  EXPECT_EQ(text(eval(rt, "return select(2, sb_read_script_file('big.txt'))")),
            "'big.txt' is larger than 1000 bytes");
  EXPECT_EQ(text(eval(rt, "return select(2, sb_read_script_file('none.csv'))")),
            "'none.csv' not found in the script folders");
}

TEST_F(Helpers, TimeHl7ToIso) {
  const std::pair<const char*, const char*> cases[] = {
      {"2026", "2026"},
      {"202601", "2026-01"},
      {"20260102", "2026-01-02"},
      {"2026010212", "2026-01-02T12"},
      {"202601021230", "2026-01-02T12:30"},
      {"20260102123045", "2026-01-02T12:30:45"},
      {"20260102123045.1234", "2026-01-02T12:30:45.1234"},
      {"20260102123045+0215", "2026-01-02T12:30:45+02:15"},
      {"198908181126+0215", "1989-08-18T11:26+02:15"},
      {"20260102123045.5-0500", "2026-01-02T12:30:45.5-05:00"},
      {"20260102+0100", "2026-01-02"},
  };
  for (const auto& [hl7, iso] : cases) {
    EXPECT_EQ(text(eval(rt, "return require('sb.time').toIso(...)", {Value{std::string(hl7)}})),
              iso)
        << hl7;
  }
  for (const char* bad : {"2026013", "20261301", "2026-01-02", "20260102123045+02",
                          "202601021230.5", "20260102126000"}) {
    EXPECT_EQ(text(eval(rt, "return select(2, require('sb.time').toIso(...))",
                        {Value{std::string(bad)}})),
              fmt::format("not an HL7 timestamp: {}", bad));
  }
}

TEST_F(Helpers, TimeIsoToHl7) {
  const std::pair<const char*, const char*> cases[] = {
      {"2026", "2026"},
      {"2026-01", "202601"},
      {"2026-01-02", "20260102"},
      {"2026-01-02T12", "2026010212"},
      {"2026-01-02T12:30", "202601021230"},
      {"2026-01-02T12:30:45", "20260102123045"},
      {"2026-01-02T12:30:45.123", "20260102123045.123"},
      {"2026-01-02T12:30:45Z", "20260102123045+0000"},
      {"2026-01-02T12:30:45.5-05:00", "20260102123045.5-0500"},
      {"1989-08-18T11:26+02:15", "198908181126+0215"},
  };
  for (const auto& [iso, hl7] : cases) {
    EXPECT_EQ(text(eval(rt, "return require('sb.time').fromIso(...)", {Value{std::string(iso)}})),
              hl7)
        << iso;
  }
  for (const char* bad : {"2026-1-02", "2026-01-02 12:30", "2026-13-01", "2026-01-02T12:30:45+0"}) {
    EXPECT_EQ(text(eval(rt, "return select(2, require('sb.time').fromIso(...))",
                        {Value{std::string(bad)}})),
              fmt::format("not an ISO 8601 timestamp: {}", bad));
  }
}

TEST_F(Helpers, TimeToFhir) {
  EXPECT_EQ(text(eval(rt, "return require('sb.time').toFhir('20260102')")), "2026-01-02");
  EXPECT_EQ(text(eval(rt, "return require('sb.time').toFhir('202601021230', 'Z')")),
            "2026-01-02T12:30:00Z");
  EXPECT_EQ(text(eval(rt, "return require('sb.time').toFhir('2026010212+0100')")),
            "2026-01-02T12:00:00+01:00");
  EXPECT_EQ(text(eval(rt, "return select(2, require('sb.time').toFhir('202601021230'))")),
            "timestamp has a time but no zone: 202601021230");
  const std::string now = text(eval(rt, "return require('sb.time').now()"));
  EXPECT_TRUE(std::regex_match(now, std::regex("20[0-9]{12}\\+0000"))) << now;
}

TEST_F(Helpers, Str) {
  const char* script =
      "local s = require('sb.str') return "
      "s.trim('  a b \\t'), table.concat(s.split('a,,b', ','), '|'), s.padLeft('7', 3, '0'), "
      "s.padRight('ab', 4, '.'), s.title(\"mary-ann O'BRIEN\"), s.replace('a.b.c', '.', '::'), "
      "tostring(s.startsWith('ADT^A01', 'ADT')), tostring(s.endsWith('x.csv', '.csv')), "
      "tostring(s.isBlank(' \\t')), s.truncate('abcdef', 3), s.ltrim('  x '), s.rtrim(' x  ')";
  const auto r = eval(rt, script);
  ASSERT_TRUE(r.ok()) << errorOf(r);
  const std::vector<std::string> expected = {"a b",     "a||b", "007",  "ab..", "Mary-Ann O'Brien",
                                             "a::b::c", "true", "true", "true", "abc",
                                             "x ",      " x"};
  ASSERT_EQ(r.values.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(text(r, i), expected[i]) << i;
}

TEST(HelpersCodes, LoadsCsvTablesFromTheScriptFolders) {
  sb::test::TempDir dir;
  sb::test::writeFile(dir.path() / "tables" / "sex.csv",
                      "code,display,fhir\r\nF,Female,female\r\nM,Male,male\r\n\"U\",\"Unknown, "
                      "\"\"not said\"\"\",unknown\r\n");
  LuaOptions options = defaultOptions();
  options.scriptFolders.push_back(dir.path());
  LuaRuntime rt(options);
  const auto r = eval(rt,
                      "local codes = require('sb.codes') local t = codes.load('tables/sex.csv') "
                      "return t:lookup('F'), t:lookup('M', 'fhir'), t:lookup('U'), "
                      "t:lookup('X', 'fhir', 'unknown'), tostring(t:lookup('X')), #t.rows, "
                      "tostring(codes.load('tables/sex.csv') == t)");
  ASSERT_TRUE(r.ok()) << errorOf(r);
  EXPECT_EQ(text(r, 0), "Female");
  EXPECT_EQ(text(r, 1), "male");
  EXPECT_EQ(text(r, 2), "Unknown, \"not said\"");
  EXPECT_EQ(text(r, 3), "unknown");
  EXPECT_EQ(text(r, 4), "nil");
  EXPECT_EQ(integer(r, 5), 3);
  EXPECT_EQ(text(r, 6), "true");
  EXPECT_EQ(errorOf(eval(rt, "local t = require('sb.codes').load('../x.csv') return t")),
            "test.lua:1: codes.load: '../x.csv' is not a relative name inside the script folders");
}

TEST(HelpersCpp, Base64AndUuidFunctions) {
  EXPECT_EQ(base64Encode("any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
  EXPECT_EQ(base64Decode("YW55IGNhcm5hbCBwbGVhcw=="), "any carnal pleas");
  EXPECT_EQ(base64Decode("YW55=GNh"), std::nullopt);
  EXPECT_EQ(uuidV5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "http://python.org/"),
            "4c565f0d-3f5a-5890-b41b-20cf47701c5e");
  EXPECT_EQ(uuidV5("not-a-uuid", "x"), std::nullopt);
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace sb::transforms
