// The document as JSON for `switchboard parse` and for people: envelopes, loop trees, findings.
// Segments are arrays: [id, element 1, element 2, ...] with elements as they appear (components
// keep the component separator).
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace sb::x12 {

namespace {

const char* levelName(Level l) {
  switch (l) {
    case Level::kInterchange:
      return "interchange";
    case Level::kGroup:
      return "group";
    case Level::kTransaction:
      return "transaction";
    case Level::kSegment:
      return "segment";
    case Level::kElement:
      return "element";
  }
  return "?";
}

template <typename W>
class JsonOut {
 public:
  JsonOut(const Document& doc, W& w) : doc_(doc), w_(w) {}

  void str(std::string_view s) { w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void key(const char* k) { w_.Key(k); }

  void segment(std::size_t index) {
    const Segment& s = doc_.segments()[index];
    w_.StartArray();
    for (std::size_t i = 0; i <= s.elementCount(); ++i) str(s.element(i));
    w_.EndArray();
  }

  void loop(const Transaction& t, std::uint32_t index) {
    const Loop& l = t.loops[index];
    w_.StartObject();
    if (!l.id.empty()) {
      key("loop");
      str(l.id);
      key("name");
      str(l.name);
    }
    key("content");
    w_.StartArray();
    for (const Loop::Item& item : l.items) {
      if (item.isLoop)
        loop(t, item.index);
      else
        segment(item.index);
    }
    w_.EndArray();
    w_.EndObject();
  }

  void transaction(const Transaction& t) {
    w_.StartObject();
    key("set");
    str(t.setId);
    key("control");
    str(t.controlNumber);
    key("convention");
    str(t.convention);
    if (t.spec) {
      key("guide");
      str(t.spec->label);
    }
    key("accepted");
    w_.Bool(!t.rejected);
    if (!t.loops.empty()) {
      key("tree");
      loop(t, 0);
    } else {
      key("segments");
      w_.StartArray();
      for (std::size_t i = t.st; i < doc_.transactionEnd(t); ++i) segment(i);
      w_.EndArray();
    }
    w_.EndObject();
  }

  void run() {
    w_.StartObject();
    key("interchanges");
    w_.StartArray();
    for (const Interchange& ic : doc_.interchanges()) {
      w_.StartObject();
      key("ISA");
      segment(ic.isa);
      key("control");
      str(ic.controlNumber);
      key("sender");
      str(ic.senderId);
      key("receiver");
      str(ic.receiverId);
      if (!ic.ta1.empty()) {
        key("TA1");
        w_.StartArray();
        for (std::size_t i : ic.ta1) segment(i);
        w_.EndArray();
      }
      key("groups");
      w_.StartArray();
      for (const Group& g : ic.groups) {
        w_.StartObject();
        key("GS");
        segment(g.gs);
        key("transactions");
        w_.StartArray();
        for (const Transaction& t : g.transactions) transaction(t);
        w_.EndArray();
        if (g.ge) {
          key("GE");
          segment(*g.ge);
        }
        w_.EndObject();
      }
      w_.EndArray();
      if (ic.iea) {
        key("IEA");
        segment(*ic.iea);
      }
      w_.EndObject();
    }
    w_.EndArray();
    key("findings");
    w_.StartArray();
    for (const Finding& f : doc_.findings()) {
      w_.StartObject();
      key("level");
      w_.String(levelName(f.level));
      key("code");
      str(f.x12Code);
      key("severity");
      w_.String(f.severity == Severity::kError ? "error" : "warning");
      if (f.segmentPosition > 0) {
        key("position");
        w_.Int(f.segmentPosition);
      }
      if (!f.segmentId.empty()) {
        key("segment");
        str(f.segmentId);
      }
      if (!f.loopId.empty()) {
        key("loop");
        str(f.loopId);
      }
      if (f.element > 0) {
        key("element");
        w_.Int(f.element);
      }
      key("message");
      str(f.message);
      w_.EndObject();
    }
    w_.EndArray();
    w_.EndObject();
  }

 private:
  const Document& doc_;
  W& w_;
};

}  // namespace

std::string Document::toJson(bool pretty) const {
  rapidjson::StringBuffer buf;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
    JsonOut(*this, w).run();
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    JsonOut(*this, w).run();
  }
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace sb::x12
