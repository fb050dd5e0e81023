// `switchboard send` (a test client) and `switchboard parse`.
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "channels/common/hl7_ingest.h"
#include "channels/common/inbound.h"
#include "channels/common/x12_ingest.h"
#include "channels/mllp/mllp.h"
#include "engine/cli/cli.h"
#include "engine/config/config_node.h"
#include "parsers/hl7v2/hl7v2.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace sb::cli {
namespace {

bool readWhole(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// Files keep messages one after another, often with LF line ends; MLLP peers expect CR.
// A new message starts at each line beginning with MSH.
std::vector<std::string> splitMessages(const std::string& text, bool normalize) {
  std::vector<std::string> out;
  std::string current;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    std::size_t next = end;
    if (next < text.size() && text[next] == '\r' && next + 1 < text.size() &&
        text[next + 1] == '\n') {
      next += 2;
    } else if (next < text.size()) {
      next += 1;
    }
    const std::string_view terminator(text.data() + end, next - end);
    if (line.substr(0, 3) == "MSH" && !current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
    if (!line.empty()) {
      current.append(line);
      current.append(normalize ? std::string_view("\r") : terminator);
    }
    pos = next;
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string printable(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c == '\r') c = '\n';
  }
  return out;
}

}  // namespace

int send(const Args& args) {
  ArgReader a(args);
  std::string target, ca, cert, key, serverName, timeout;
  bool tls = false, noVerify = false, raw = false;
  std::vector<std::string> files;
  try {
    while (!a.done()) {
      if (a.option("--mllp", target) || a.option("--ca", ca) || a.option("--cert", cert) ||
          a.option("--key", key) || a.option("--server-name", serverName) ||
          a.option("--timeout", timeout)) {
        continue;
      }
      if (a.flag("--tls")) {
        tls = true;
        continue;
      }
      if (a.flag("--no-verify")) {
        noVerify = true;
        continue;
      }
      if (a.flag("--raw")) {
        raw = true;
        continue;
      }
      if (!a.peek().empty() && a.peek()[0] == '-') {
        std::cerr << "send: unknown option " << a.peek() << "\n";
        return 2;
      }
      files.push_back(a.args[a.i++]);
    }
  } catch (const std::exception& e) {
    std::cerr << "send: " << e.what() << "\n";
    return 2;
  }
  mllp::ClientOptions options;
  if (target.empty() || files.empty() ||
      !config::parseHostPort(target, options.host, options.port)) {
    std::cerr << "usage: switchboard send --mllp HOST:PORT [--tls [--ca F] [--cert F --key F] "
                 "[--no-verify] [--server-name N]] [--timeout S] [--raw] FILE...\n";
    return 2;
  }
  options.tls.enabled = tls || !ca.empty() || !cert.empty();
  options.tls.caFile = ca;
  options.tls.certFile = cert;
  options.tls.keyFile = key;
  options.tls.verifyPeer = !noVerify;
  options.tls.serverName = serverName;
  if (!timeout.empty()) {
    options.responseTimeout =
        std::chrono::milliseconds(static_cast<long>(std::stod(timeout) * 1000));
  }
  mllp::Client client(options);
  int failures = 0, sent = 0, unreadable = 0;
  for (const auto& file : files) {
    std::string text;
    if (!readWhole(file, text)) {
      std::cerr << file << ": cannot read\n";
      ++unreadable;
      continue;
    }
    // A batch file is sent one message at a time, the way receivers expect it over MLLP.
    std::vector<std::string> messages;
    if (hl7::isBatch(text)) {
      const auto batch = hl7::splitBatch(text);
      for (const auto& f : batch.findings) std::cerr << file << ": " << f.text << "\n";
      for (auto m : batch.messages) {
        auto parts = splitMessages(std::string(m), !raw);
        messages.insert(messages.end(), parts.begin(), parts.end());
      }
    } else {
      messages = splitMessages(text, !raw);
    }
    for (const auto& m : messages) {
      ++sent;
      try {
        const std::string ack = client.exchange(m);
        std::cout << printable(ack);
        if (!ack.empty() && ack.back() != '\r') std::cout << "\n";
        const auto summary = hl7::readAck(ack);
        if (!summary || (summary->code != "AA" && summary->code != "CA")) ++failures;
      } catch (const mllp::TransportError& e) {
        std::cerr << file << ": " << errorInfo(e.code).id << " " << e.what() << "\n";
        ++failures;
        client.close();
      }
    }
  }
  std::cerr << sent << " sent, " << (sent - failures) << " accepted, " << failures
            << " not accepted"
            << (unreadable ? fmt::format(", {} file(s) unreadable", unreadable) : "") << "\n";
  return failures == 0 && unreadable == 0 ? 0 : 1;
}

namespace {

// X12: the loop tree as JSON; with --validate the findings and the TA1/999 that would be sent
// (with fixed control numbers 1). Returns false when something would be rejected.
bool parseX12(const std::string& file, std::string text, bool validate) {
  x12::Document doc = x12::Document::parseOwned(std::move(text));
  const x12::SpecLibrary& specs = x12::SpecLibrary::builtin();
  if (!validate) {
    doc.buildLoops(specs);
    std::cout << doc.toJson() << "\n";
    return doc.usable();
  }
  doc.validate(specs);
  const auto verdict = channels::X12Ingest::evaluate("cli", doc, x12::AckNumbers{});
  rapidjson::Document out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  rapidjson::Document tree;
  tree.Parse(doc.toJson().c_str());
  out.AddMember("file", rapidjson::Value(file.c_str(), a), a);
  out.AddMember("valid", verdict.accepted, a);
  rapidjson::Value findings(rapidjson::kArrayType);
  findings.CopyFrom(tree["findings"], a);
  out.AddMember("findings", findings, a);
  rapidjson::Value acks(rapidjson::kArrayType);
  for (const auto& ack : verdict.acks) acks.PushBack(rapidjson::Value(ack.c_str(), a), a);
  out.AddMember("acknowledgements", acks, a);
  rapidjson::Value status(rapidjson::kArrayType);
  for (const auto& r : verdict.records) {
    rapidjson::Value m(rapidjson::kObjectType);
    m.AddMember("control", rapidjson::Value(r.controlId.c_str(), a), a);
    m.AddMember("type", rapidjson::Value(r.messageType.c_str(), a), a);
    m.AddMember("guide", rapidjson::Value(r.triggerEvent.c_str(), a), a);
    m.AddMember("status", rapidjson::Value(std::string(store::toString(r.status)).c_str(), a), a);
    if (!r.error.empty()) m.AddMember("error", rapidjson::Value(r.error.c_str(), a), a);
    status.PushBack(m, a);
  }
  out.AddMember("interchanges", status, a);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  out.Accept(w);
  std::cout << buf.GetString() << "\n";
  return verdict.accepted;
}

}  // namespace

int parse(const Args& args) {
  bool validate = false;
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (a == "--validate") {
      validate = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "parse: unknown option " << a << "\n";
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: switchboard parse [--validate] FILE...\n";
    return 2;
  }
  int invalid = 0;
  for (const auto& file : files) {
    std::string text;
    if (!readWhole(file, text)) {
      std::cerr << file << ": cannot read\n";
      ++invalid;
      continue;
    }
    if (channels::detectFormat(text) == channels::PayloadFormat::kX12) {
      if (!parseX12(file, std::move(text), validate)) ++invalid;
      continue;
    }
    std::vector<std::string> messages;
    if (hl7::isBatch(text)) {
      const auto batch = hl7::splitBatch(text);
      for (const auto& f : batch.findings) {
        std::cerr << file << ": " << f.location.toString() << ": " << f.text << "\n";
        ++invalid;
      }
      for (auto m : batch.messages) messages.emplace_back(m);
    } else {
      messages.push_back(text);
    }
    for (auto& m : messages) {
      if (!validate) {
        auto parsed = hl7::Message::parse(m);
        if (!parsed.ok()) {
          std::cerr << file << ": " << errorInfo(parsed.error->code).id << " "
                    << parsed.error->location.toString() << ": " << parsed.error->text << "\n";
          ++invalid;
          continue;
        }
        std::cout << parsed.message->toJson() << "\n";
        continue;
      }
      auto verdict = channels::Hl7Ingest::evaluate("cli", m);
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartObject();
      w.Key("file");
      w.String(file.c_str());
      w.Key("valid");
      w.Bool(verdict.accepted);
      w.Key("findings");
      w.StartArray();
      for (const auto& f : verdict.findings) {
        w.StartObject();
        w.Key("code");
        w.String(errorInfo(f.code).id.data());
        w.Key("hl7_error_code");
        w.Int(errorInfo(f.code).hl7ErrorCode);
        w.Key("severity");
        w.String(f.severity == hl7::Severity::kError ? "error" : "warning");
        w.Key("location");
        w.String(f.location.toString().c_str());
        w.Key("text");
        w.String(f.text.c_str());
        w.EndObject();
      }
      w.EndArray();
      w.Key("ack");
      w.String(verdict.ack.c_str());
      w.EndObject();
      std::cout << buf.GetString() << "\n";
      if (!verdict.accepted) ++invalid;
    }
  }
  return invalid == 0 ? 0 : 1;
}

}  // namespace sb::cli
