#include "channels/common/inbound.h"

#include <rapidjson/document.h>

#include "channels/common/hl7_ingest.h"
#include "channels/common/x12_ingest.h"
#include "parsers/x12/spec.h"

namespace sb::channels {

PayloadFormat detectFormat(std::string_view p) {
  if (p.substr(0, 3) == "\xEF\xBB\xBF") p.remove_prefix(3);
  while (!p.empty() &&
         (p.front() == ' ' || p.front() == '\r' || p.front() == '\n' || p.front() == '\t')) {
    p.remove_prefix(1);
  }
  if (!p.empty() && (p.front() == '{' || p.front() == '[')) return PayloadFormat::kJson;
  auto startsSegment = [&](std::string_view id) {
    return p.size() > id.size() && p.substr(0, id.size()) == id &&
           !std::isalnum(static_cast<unsigned char>(p[id.size()]));
  };
  if (startsSegment("ISA") || startsSegment("GS") || startsSegment("ST"))
    return PayloadFormat::kX12;
  return PayloadFormat::kHl7v2;
}

store::InboundRecord jsonRecord(const std::string& channel, std::string payload) {
  store::InboundRecord r;
  r.channel = channel;
  r.receivedAt = store::nowMillis();
  rapidjson::Document doc;
  doc.Parse(payload.c_str(), payload.size());
  if (doc.HasParseError() || !(doc.IsObject() || doc.IsArray())) {
    r.status = store::MessageStatus::kRejected;
    r.error = "SB-401 body is not a JSON object or array";
  } else if (doc.IsObject()) {
    if (doc.HasMember("resourceType") && doc["resourceType"].IsString()) {
      r.messageType = doc["resourceType"].GetString();
    }
    if (doc.HasMember("id") && doc["id"].IsString()) r.controlId = doc["id"].GetString();
  }
  if (r.messageType.empty()) r.messageType = "JSON";
  r.raw = std::move(payload);
  return r;
}

InboundVerdict evaluateInbound(const std::string& channel, const std::string& payload) {
  InboundVerdict v;
  switch (detectFormat(payload)) {
    case PayloadFormat::kJson: {
      v.records.push_back(jsonRecord(channel, payload));
      v.accepted = v.records.back().status == store::MessageStatus::kReceived;
      return v;
    }
    case PayloadFormat::kX12: {
      x12::Document doc = x12::Document::parse(payload);
      doc.validate(x12::SpecLibrary::builtin());
      auto x = X12Ingest::evaluate(channel, doc, x12::AckNumbers{});
      v.records = std::move(x.records);
      for (const auto& a : x.acks) v.answer += a;
      // Partially accepted interchanges are routed: "accepted" means nothing was turned away.
      v.accepted = true;
      for (const auto& r : v.records)
        v.accepted = v.accepted && r.status != store::MessageStatus::kRejected;
      return v;
    }
    case PayloadFormat::kHl7v2:
      break;
  }
  auto h = Hl7Ingest::evaluate(channel, payload);
  v.records.push_back(std::move(h.record));
  v.answer = std::move(h.ack);
  v.accepted = h.accepted;
  return v;
}

}  // namespace sb::channels
