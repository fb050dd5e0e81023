#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/transforms/lua_test_util.h"

namespace sb::transforms {
namespace {

using testing::defaultOptions;
using testing::errorOf;
using testing::eval;
using testing::integer;
using testing::text;

std::shared_ptr<hl7::Message> fixture(const std::string& name) {
  auto parsed =
      hl7::Message::parseOwned(sb::test::readFile(sb::test::fixturePath("hl7v2/" + name)));
  EXPECT_TRUE(parsed.ok()) << name;
  return std::make_shared<hl7::Message>(std::move(*parsed.message));
}

class Hl7Binding : public ::testing::Test {
 protected:
  CallResult run(const std::string& body, const std::string& file = "ADT-A01-01.hl7") {
    message = fixture(file);
    return eval(rt, body, {Value{message}});
  }
  LuaRuntime rt{defaultOptions()};
  std::shared_ptr<hl7::Message> message;
};

TEST_F(Hl7Binding, NodeTreeIndexing) {
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][1]:value()")), "EVERYMAN&&&&Aniston");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][1][1]:value()")), "EVERYMAN");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][1][5]:value()")), "Aniston");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][2]:value()")), "ADAM");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5]:rep(2)[1][1]:value()")), "Josh");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[8]:value()")), "M");
  EXPECT_EQ(text(run("local msg = ... return msg.MSH[9][2]:value()")), "A01");
  EXPECT_EQ(text(run("local msg = ... return msg.MSH[1]:value()")), "|");
  EXPECT_EQ(text(run("local msg = ... return msg.MSH[2]:value()")), "^~\\&");
  EXPECT_EQ(integer(run("local msg = ... return msg.PID[3]:repCount()")), 2);
  EXPECT_EQ(text(run("local msg = ... return msg.PID.name")), "PID");
  // Missing parts of a present field read "", missing segments are nil.
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][1][9]:value()")), "");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg.ZZZ)")), "nil");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg.PID[300]:value())")), "nil");
}

TEST_F(Hl7Binding, NodeConversionsAndPaths) {
  EXPECT_EQ(text(run("local msg = ... return tostring(msg.PID[5][2])")), "ADAM");
  EXPECT_EQ(text(run("local msg = ... return 'Mr ' .. msg.PID[5][2] .. '!'")), "Mr ADAM!");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5]:rep(2)[1][5]:path()")), "PID-5[2].1.5");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[5][1]:path()")), "PID-5.1");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[3]:rep(1):path()")), "PID-3[1]");
  EXPECT_EQ(text(run("local msg = ... return msg:segment(7):path()")), "ROL");
  EXPECT_EQ(text(run("local msg = ... return msg:segment(12):path()")), "ROL[2]");
  EXPECT_EQ(text(run("local msg = ... return msg.PID[3]:raw()")),
            "PATID1234^5^M11^test1&2.16.1&HCD^MR^GOOD HEALTH HOSPITAL");
  EXPECT_EQ(integer(run("local msg = ... return #msg.PID[5]")), 15);    // components of rep 1
  EXPECT_EQ(integer(run("local msg = ... return #msg.PID[5][1]")), 5);  // subcomponents
  EXPECT_EQ(integer(run("local msg = ... return #msg.EVN")), 7);        // fields
  EXPECT_EQ(integer(run("local msg = ... return #msg.MSH")), 25);       // MSH-1 counts
}

TEST_F(Hl7Binding, PathGetAndCounts) {
  EXPECT_EQ(text(run("local msg = ... return msg:get('PID-5.1')")), "EVERYMAN&&&&Aniston");
  EXPECT_EQ(text(run("local msg = ... return msg:get('PID-5.1.1')")), "EVERYMAN");
  EXPECT_EQ(text(run("local msg = ... return msg:get('PID-3[2].1')")), "123456789");
  EXPECT_EQ(text(run("local msg = ... return msg:get('ROL[3]-4.2')")), "Phoeb");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg:get('ZZZ-1'))")), "nil");
  EXPECT_EQ(integer(run("local msg = ... return msg:count('ROL')")), 3);
  EXPECT_EQ(integer(run("local msg = ... return msg:count('ZZZ')")), 0);
  EXPECT_EQ(integer(run("local msg = ... return #msg")), 24);
  EXPECT_EQ(integer(run("local msg = ... return msg:repCount('PID-3')")), 2);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:get('bad') return v")),
            "test.lua:1: bad HL7 path 'bad': segment id must be 3 upper-case letters or digits");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:get('PID-x') return v")),
            "test.lua:1: bad HL7 path 'PID-x': bad field number");
}

TEST_F(Hl7Binding, ValuesReadsManyComponentsInOneCall) {
  EXPECT_EQ(text(run("local msg = ... local a, b, c, d = msg:values('PID-3[1]', '.1', '.4.1', "
                     "'.4.2', '.5') return table.concat({a, b, c, d}, ',')")),
            "PATID1234,test1,2.16.1,MR");
  // Absent and empty both read nil, one result per sub-path.
  EXPECT_EQ(text(run("local msg = ... local n = select('#', msg:values('PID-3[2]', '.2', '.4.1', "
                     "'.9')) local a, b, c = msg:values('PID-3[2]', '.2', '.4.1', '.9') "
                     "return n .. tostring(a) .. tostring(b) .. tostring(c)")),
            "3nilUSSSAnil");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg:values('ZZZ-1', '.1'))")), "nil");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg:values('PID-300'))")), "nil");
  EXPECT_EQ(text(run("local msg = ... return tostring(msg:values('PID-3[7]', '.1'))")), "nil");
  // Without sub-paths: the value at the path itself; "" means the path itself too.
  EXPECT_EQ(text(run("local msg = ... return msg:values('PID-8')")), "M");
  EXPECT_EQ(text(run("local msg = ... return msg:values('PID-5.1')")), "EVERYMAN&&&&Aniston");
  EXPECT_EQ(text(run("local msg = ... local a, b = msg:values('PID-5[2]', '', '.1.1') "
                     "return a .. '|' .. b")),
            "Josh&&&&Bing^^stanley^^^^L^^^^^19241010^19241015|Josh");
  // MSH-1 and MSH-2 verbatim, as msg:get reads them.
  EXPECT_EQ(text(run("local msg = ... local a, b, c = msg:values('MSH-1', '', '.1', '.2') "
                     "return a .. b .. tostring(c)")),
            "||nil");
  EXPECT_EQ(text(run("local msg = ... return msg:values('MSH-2')")), "^~\\&");
  EXPECT_EQ(text(run("local msg = ... return msg:values('MSH-9', '.2')")), "A01");
}

TEST_F(Hl7Binding, ValuesDecodesEscapesAndSeesEdits) {
  const char* body = R"(
    local m = assert(hl7.new{ 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5',
                              'PID|1||A\\F\\B^\\H\\^x\\S\\y&z\\T\\w' })
    local a, b, c, d = m:values('PID-3', '.1', '.2', '.3.1', '.3.2')
    assert(a == 'A|B' and a == m:get('PID-3.1'), a)
    assert(b == nil and m:get('PID-3.2') == '')
    assert(c == 'x^y' and d == 'z&w', tostring(c) .. tostring(d))
    m:set('PID-3.2', 'new|value')
    assert(m:values('PID-3', '.2') == 'new|value')
    return 'ok')";
  EXPECT_EQ(text(run(body)), "ok");
}

// msg:values(path, sub) is msg:get(path .. sub) with "" read as nil, for every kind of path.
TEST_F(Hl7Binding, ValuesAgreesWithGet) {
  const char* body = R"(
    local msg = ...
    local checked = 0
    local function check(base, sub)
      local want = msg:get(base .. sub)
      if want == '' then want = nil end
      local got = msg:values(base, sub)
      if got ~= want then
        error(base .. sub .. ': ' .. tostring(got) .. ' ~= ' .. tostring(want))
      end
      checked = checked + 1
    end
    for _, seg in ipairs({ 'MSH', 'PID', 'PV1', 'ROL[2]', 'ZZZ' }) do
      for f = 1, 32 do
        for _, rep in ipairs({ '', '[1]', '[2]', '[3]' }) do
          local field = seg .. '-' .. f .. rep
          check(field, '')
          for c = 1, 7 do
            check(field, '.' .. c)
            check(field .. '.' .. c, '')
            for s = 1, 3 do
              check(field, '.' .. c .. '.' .. s)
              check(field .. '.' .. c, '.' .. s)
              check(field .. '.' .. c .. '.' .. s, '')
            end
          end
        end
      end
    end
    -- Several sub-paths in one call give the same values in order.
    local a, b, c, d = msg:values('PID-11', '.1', '.1.1', '.3', '.8')
    assert(a == msg:get('PID-11.1') and b == msg:get('PID-11.1.1') and c == msg:get('PID-11.3'))
    assert(d == nil)
    return checked)";
  const auto r = run(body);
  EXPECT_TRUE(r.ok()) << errorOf(r);
  EXPECT_EQ(integer(r), 5 * 32 * 4 * (1 + 7 * (2 + 3 * 3)));
}

TEST_F(Hl7Binding, ValuesErrors) {
  const std::string expected =
      "': expected \".c\" or \".c.s\" after a field, \".s\" after a component";
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-x', '.1') return v")),
            "test.lua:1: bad HL7 path 'PID-x': bad field number");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3', '.x') return v")),
            "test.lua:1: bad HL7 path 'PID-3.x" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3', '1') return v")),
            "test.lua:1: bad HL7 path 'PID-31" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3', '.1.2.3') return v")),
            "test.lua:1: bad HL7 path 'PID-3.1.2.3" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3.1', '.1.1') return v")),
            "test.lua:1: bad HL7 path 'PID-3.1.1.1" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3.1.1', '.1') return v")),
            "test.lua:1: bad HL7 path 'PID-3.1.1.1" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3', '.0') return v")),
            "test.lua:1: bad HL7 path 'PID-3.0" + expected);
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID') return v")),
            "test.lua:1: msg:values needs a field path (\"PID-3[2]\")");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg:values('PID-3', {}) return v")),
            "test.lua:1: bad argument #2 to 'values' (string expected, got table)");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg.values({}, 'PID-3') return v")),
            "test.lua:1: bad argument #1 to 'values' (hl7 message expected, got table)");
  // Other userdata, ours included, are told apart by their metatable.
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg.values(msg.PID, 'PID-3') return v")),
            "test.lua:1: bad argument #1 to 'values' (hl7 message expected, got hl7.node)");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg.values(json.null, 'PID-3') return v")),
            "test.lua:1: bad argument #1 to 'values' (hl7 message expected, got json.null)");
  EXPECT_EQ(errorOf(run("local msg = ... local v = msg.PID.value(msg) return v")),
            "test.lua:1: bad argument #1 to 'value' (hl7 node expected, got hl7.message)");
}

TEST_F(Hl7Binding, HeaderTable) {
  EXPECT_EQ(text(run("local h = (...):header() return h.messageType .. '^' .. h.triggerEvent .. "
                     "' ' .. h.controlId .. ' ' .. h.version .. ' ' .. h.patientId")),
            "ADT^A01 MSG00001 2.8 PATID1234");
}

TEST_F(Hl7Binding, IterateSegments) {
  EXPECT_EQ(text(run("local msg = ... local out = {} for seg in msg:segments('ROL') do "
                     "out[#out + 1] = seg[4][2]:value() end return table.concat(out, ',')")),
            "Smith,Smith,Phoeb");
  EXPECT_EQ(
      text(run("local msg = ... local out = {} for seg, i in msg:each() do "
               "if i <= 5 then out[#out + 1] = seg.name end end return table.concat(out, ',')")),
      "MSH,SFT,EVN,PID,PD1");
  EXPECT_EQ(
      integer(run("local msg = ... local n = 0 for seg in msg:each() do n = n + 1 end return n")),
      24);
}

TEST_F(Hl7Binding, DecodedReadsEncodedWrites) {
  const std::string file = "escapes.hl7";
  EXPECT_EQ(text(run("return (...):get('PID-5.1')", file)), "O&Brien");
  EXPECT_EQ(text(run("return (...).PID[5][2]:value()", file)), "Mary^Ann");
  auto expected = fixture(file)->get("OBX-5");
  ASSERT_TRUE(expected.has_value());
  EXPECT_EQ(text(run("return (...):get('OBX-5')", file)), *expected);
  EXPECT_EQ(
      text(run("local msg = ... msg:set('PID-5.1', 'A|B^C') return msg:raw('PID-5.1')", file)),
      "A\\F\\B\\S\\C");
  EXPECT_EQ(
      text(run("local msg = ... msg:set('PID-5.1', 'A|B^C') return msg:get('PID-5.1')", file)),
      "A|B^C");
}

TEST_F(Hl7Binding, SettersEditTheSharedMessage) {
  const auto r =
      run("local msg = ... msg:set('PID-5.1.1', 'DOE') msg.PID[5][2] = 'JOHN' "
          "msg.PID[8]:set('F') msg.PV1[2] = 7 return msg");
  ASSERT_TRUE(r.ok()) << errorOf(r);
  EXPECT_EQ(message->get("PID-5.1.1"), "DOE");
  EXPECT_EQ(message->get("PID-5.2"), "JOHN");
  EXPECT_EQ(message->get("PID-8"), "F");
  EXPECT_EQ(message->get("PV1-2"), "7");
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(std::get<std::shared_ptr<hl7::Message>>(r.values[0]), message);
  EXPECT_EQ(errorOf(run("(...):set('MSH-2', 'x')")),
            "test.lua:1: MSH-1 and MSH-2 (the delimiters) cannot be set");
  EXPECT_EQ(errorOf(run("(...):set('PID', 'x')")),
            "test.lua:1: cannot set a whole segment; use msg:add and msg:remove");
  EXPECT_EQ(errorOf(run("(...).PID.x = 1")),
            "test.lua:1: HL7 nodes are assigned by number: seg[5] = \"x\", field[1] = \"x\"");
  EXPECT_EQ(errorOf(run("(...).PID[5] = {}")),
            "test.lua:1: HL7 values must be strings or numbers (got table)");
}

TEST_F(Hl7Binding, EncodeIsByteIdenticalWhenUnmodified) {
  for (const auto& entry : std::filesystem::directory_iterator(sb::test::fixturePath("hl7v2"))) {
    if (entry.path().extension() != ".hl7") continue;
    const std::string raw = sb::test::readFile(entry.path());
    if (!hl7::Message::parse(raw).ok()) continue;
    const auto r =
        eval(rt, "local m = assert(hl7.parse(...)) return m:encode(), tostring(m)", {Value{raw}});
    EXPECT_EQ(text(r, 0), raw) << entry.path();
    EXPECT_EQ(text(r, 1), raw) << entry.path();
  }
}

TEST_F(Hl7Binding, AddAndRemoveSegments) {
  const std::string raw = sb::test::readFile(sb::test::fixturePath("hl7v2/z-segments.hl7"));
  const auto r = eval(rt,
                      "local m = hl7.parse(...) m:add('ZPI|2|new') local added = m:get('ZPI[2]-2') "
                      "local n = #m m:remove(n) local back = m:encode() "
                      "m:add('ZZZ|first', 2) local second = m:segment(2).name m:remove(2) "
                      "return added, n, back, second, m:encode()",
                      {Value{raw}});
  ASSERT_TRUE(r.ok()) << errorOf(r);
  EXPECT_EQ(text(r, 0), "new");
  EXPECT_EQ(integer(r, 1), 8);
  EXPECT_EQ(text(r, 2), raw);
  EXPECT_EQ(text(r, 3), "ZZZ");
  EXPECT_EQ(text(r, 4), raw);
  EXPECT_EQ(errorOf(eval(rt, "local m = hl7.parse(...) m:remove(99)", {Value{raw}})),
            "test.lua:1: segment index 99 out of range 1..7");
  EXPECT_EQ(errorOf(eval(rt, "local m = hl7.parse(...) m:remove(1)", {Value{raw}})),
            "test.lua:1: the first segment (MSH) cannot be removed");
  EXPECT_EQ(errorOf(eval(rt, "local m = hl7.parse(...) m:add('ZA|1\\rZB|2')", {Value{raw}})),
            "test.lua:1: msg:add expects one encoded segment (\"ZPI|1|...\")");
}

TEST_F(Hl7Binding, ParseErrorsAndNew) {
  const auto bad = hl7::Message::parseOwned("garbage");
  ASSERT_FALSE(bad.ok());
  const auto r = eval(rt, "return hl7.parse('garbage')");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[0]));
  EXPECT_EQ(text(r, 1), "SB-101: " + bad.error->text);

  const auto built = eval(rt,
                          "local m = hl7.new{'MSH|^~\\\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5', "
                          "'PID|1||123^^^H^MR'} return m:encode(), m:get('PID-3.4')");
  EXPECT_EQ(text(built, 0), "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1||123^^^H^MR\r");
  EXPECT_EQ(text(built, 1), "H");
  EXPECT_EQ(errorOf(eval(rt, "return hl7.new{}")),
            "test.lua:1: hl7.new expects a list of segments, MSH first");
}

TEST_F(Hl7Binding, CopyIsIndependent) {
  const auto r =
      run("local msg = ... local c = msg:copy() c:set('PID-8', 'F') return c:get('PID-8'), "
          "msg:get('PID-8')");
  EXPECT_EQ(text(r, 0), "F");
  EXPECT_EQ(text(r, 1), "M");
}

TEST_F(Hl7Binding, CustomAck) {
  const auto inbound = fixture("ADT-A01-01.hl7");
  hl7::AckOptions options;
  options.controlId = "ACK1";
  options.timestamp = "20260101000000";
  options.textMessage = "unknown ward";
  const std::string expected = hl7::buildAck(*inbound, hl7::AckCode::kAE, {}, options);
  EXPECT_EQ(text(run("return hl7.ack(..., 'AE', 'unknown ward', "
                     "{controlId = 'ACK1', timestamp = '20260101000000'})")),
            expected);
  EXPECT_EQ(errorOf(run("return hl7.ack(..., 'XX')")),
            "test.lua:1: unknown ACK code 'XX' (AA, AE, AR, CA, CE, CR)");
}

TEST_F(Hl7Binding, ValidateAndJson) {
  EXPECT_EQ(integer(run("return #(...):validate()")), 0);
  const auto json = fixture("minimal-v21.hl7")->toJson();
  EXPECT_EQ(text(run("return (...):json()", "minimal-v21.hl7")), json);
}

}  // namespace
}  // namespace sb::transforms
