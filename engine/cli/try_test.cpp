// `switchboard try CONFIG ROUTE FILE` shows every step one message takes through one route;
// `switchboard test [DIR]` runs route tests written as data (*.test.lua) and reports routes that
// no test covers; a test may mock what destinations answer (`respond`, engine/cli/route_mocks.h)
// and assert what their senders decide (`expect_delivery`) and what a CORE client gets back
// (`expect_reply`).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "channels/common/hl7_ingest.h"
#include "channels/common/inbound.h"
#include "channels/http/http_source.h"
#include "engine/cli/cli.h"
#include "engine/cli/route_mocks.h"
#include "engine/plan.h"
#include "parsers/hl7v2/hl7v2.h"
#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace sb::cli {
namespace {

std::optional<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A checked plan (no sockets, no store) with its pipeline, as `check` builds it.
struct Loaded {
  engine::Plan plan;
  std::unique_ptr<routes::Pipeline> pipeline;
};

// Route tests run on a fixed clock, 2026-01-01T12:00:00Z, so that outputs carrying "now" (X12
// envelope dates) have stable goldens; `try` shows the real clock.
constexpr std::int64_t kRouteTestTime = 1767268800;

std::unique_ptr<Loaded> loadForTry(const std::filesystem::path& config, config::Errors& errors,
                                   std::optional<std::int64_t> fixedTime = std::nullopt) {
  auto plan = engine::loadPlan(config, {}, errors);
  if (!plan) return nullptr;
  engine::Registry registry;
  engine::registerAll(registry);
  channels::BuildContext ctx;
  ctx.configDir = plan->settings.configFile.parent_path();
  ctx.dataDir = plan->settings.dataDir;
  if (!engine::buildPlan(*plan, registry, ctx, errors)) return nullptr;
  auto loaded = std::make_unique<Loaded>();
  loaded->plan = std::move(*plan);
  routes::PipelineOptions options = engine::pipelineOptions(loaded->plan);
  options.fixedTime = fixedTime;
  loaded->pipeline = std::make_unique<routes::Pipeline>(loaded->plan.routes, std::move(options));
  std::vector<std::string> scriptErrors;
  if (!loaded->pipeline->load(scriptErrors)) {
    for (auto& e : scriptErrors) errors.add(std::move(e));
    return nullptr;
  }
  return loaded;
}

// HL7 input files may use LF line ends; the engine sees what a sender would send, CR. X12 and
// JSON are taken as they are.
std::string asSent(std::string text) {
  if (channels::detectFormat(text) != channels::PayloadFormat::kHl7v2) return text;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i] == '\n' ? '\r' : text[i]);
  }
  return out;
}

// Canonical JSON: keys sorted, two-space indent, so goldens diff line by line.
void canonical(const rapidjson::Value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  if (v.IsObject()) {
    std::vector<std::pair<std::string, const rapidjson::Value*>> members;
    for (const auto& m : v.GetObject()) members.emplace_back(m.name.GetString(), &m.value);
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (members.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    for (std::size_t i = 0; i < members.size(); ++i) {
      rapidjson::Value key(members[i].first.c_str(),
                           static_cast<rapidjson::SizeType>(members[i].first.size()));
      out += pad + "  ";
      canonical(key, out, indent + 1);
      out += ": ";
      canonical(*members[i].second, out, indent + 1);
      out += i + 1 < members.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (v.IsArray()) {
    if (v.Empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      out += pad + "  ";
      canonical(v[i], out, indent + 1);
      out += i + 1 < v.Size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    out += buf.GetString();
  }
}

// Text to compare: canonical JSON when it parses as JSON, else the text with line ends unified.
std::string comparable(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (!doc.HasParseError() && (doc.IsObject() || doc.IsArray())) {
    std::string out;
    canonical(doc, out, 0);
    return out + "\n";
  }
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i] == '\r' ? '\n' : text[i]);
  }
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A line diff (longest common subsequence) shown as hunks with three lines of context:
// "-" only in the expected output, "+" only in the actual one.
std::string diff(const std::string& expected, const std::string& actual) {
  const auto a = lines(expected), b = lines(actual);
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Line {
    char mark;
    std::string text;
  };
  std::vector<Line> all;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      all.push_back({' ', a[i]});
      ++i, ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      all.push_back({'-', a[i++]});
    } else {
      all.push_back({'+', b[j++]});
    }
  }
  constexpr std::size_t kContext = 3;
  std::vector<bool> show(all.size(), false);
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (all[k].mark == ' ') continue;
    const std::size_t from = k >= kContext ? k - kContext : 0;
    for (std::size_t m = from; m < std::min(all.size(), k + kContext + 1); ++m) show[m] = true;
  }
  std::string out;
  bool skipped = false;
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (!show[k]) {
      skipped = true;
      continue;
    }
    if (skipped) out += "    ...\n";
    skipped = false;
    out += fmt::format("  {} {}\n", all[k].mark, all[k].text);
  }
  return out;
}

std::string statusName(store::MessageStatus s) {
  return std::string(store::toString(s));
}

// What the router would see of a message the listener committed.
store::MessageSummary summaryOf(const store::InboundRecord& record) {
  store::MessageSummary s;
  s.channel = record.channel;
  s.messageType = record.messageType;
  s.triggerEvent = record.triggerEvent;
  s.controlId = record.controlId;
  s.patientId = record.patientId;
  s.sendingApplication = record.sendingApplication;
  s.sendingFacility = record.sendingFacility;
  return s;
}

constexpr config::KeySpec kTestKeys[] = {
    {"config", config::ValueType::kString, true, "", "the config file, relative to the test file"},
    {"channel", config::ValueType::kString, true, "", "the channel the input arrives on"},
    {"input", config::ValueType::kString, true, "", "the input message file"},
    {"expect", config::ValueType::kTable, false, "",
     "destination = golden file or list of golden files, in order"},
    {"expect_status", config::ValueType::kString, false, "routed",
     "routed, filtered, error or rejected"},
    {"expect_error", config::ValueType::kString, false, "", "text the error must contain"},
    {"respond", config::ValueType::kTable, false, "",
     "destination = the answer it gives: { status = 503, ... }, { ack = \"AE\" }, "
     "{ error = \"...\" }"},
    {"expect_delivery", config::ValueType::kTable, false, "",
     "destination = \"delivered\", \"retry\" or \"dead\" (or { outcome = ..., error = ..., "
     "retry_after = seconds }): what its sender decides from the respond answer"},
    {"expect_reply", config::ValueType::kStringOrTable, false, "",
     "CORE channel with reply_from: the golden Payload the client gets, or { status = 502, "
     "core_error = \"ReceiverError\" }"},
};

constexpr config::KeySpec kDeliveryKeys[] = {
    {"outcome", config::ValueType::kString, true, "", "delivered, retry or dead"},
    {"error", config::ValueType::kString, false, "", "text the sender's error must contain"},
    {"retry_after", config::ValueType::kNumber, false, "",
     "seconds the sender waits before the next attempt (HTTP Retry-After)"},
};

constexpr config::KeySpec kReplyKeys[] = {
    {"status", config::ValueType::kInteger, false, "200", "the HTTP status the client gets"},
    {"core_error", config::ValueType::kString, false, "Success", "the CORE ErrorCode"},
    {"golden", config::ValueType::kString, false, "", "the Payload the client gets"},
};

// expect_delivery.<destination>
struct WantDelivery {
  std::string outcome;
  std::optional<std::string> error;
  std::optional<double> retryAfter;
};

// What the client of a CORE RealTime channel gets once the reply_from destination's sender has
// decided: status and error code from channels::http::realTimeAnswer, the table the listener
// answers by (the delivered response as the Payload; dead 502, still retried 504).
struct Reply {
  long status = 200;
  std::string coreError = "Success";
  std::string payload;
  std::string why;  // for the errors: what happened
};

Reply coreReply(const std::string& replyFrom, const std::vector<channels::SendResult>& outcomes) {
  using channels::http::ReplyOutcome;
  const auto answer = [](ReplyOutcome o, std::string payload, std::string why) {
    const auto a = channels::http::realTimeAnswer(o);
    return Reply{a.status, std::string(a.errorCode), std::move(payload), std::move(why)};
  };
  if (outcomes.empty()) {
    return answer(ReplyOutcome::kNotSent, "",
                  fmt::format("the route sends nothing to '{}'", replyFrom));
  }
  const auto& d = outcomes.front();
  switch (d.status) {
    case channels::SendStatus::kOk:
      return answer(ReplyOutcome::kDelivered, d.response, "");
    case channels::SendStatus::kError:
      return answer(ReplyOutcome::kDead, "",
                    fmt::format("'{}' did not answer: {}", replyFrom, d.error));
    case channels::SendStatus::kRetry:
      break;
  }
  return answer(
      ReplyOutcome::kRetrying, "",
      fmt::format("'{}' is retried ({}); no reply within reply_timeout_ms", replyFrom, d.error));
}

constexpr std::string_view kOutcomes[] = {"delivered", "retry", "dead"};

}  // namespace

int tryRoute(const Args& args) {
  if (args.size() != 3) {
    std::cerr << "usage: switchboard try CONFIG ROUTE FILE\n";
    return 2;
  }
  config::Errors errors;
  auto loaded = loadForTry(args[0], errors);
  if (!loaded) {
    std::cerr << errors.joined();
    return 1;
  }
  const routes::Route* route = nullptr;
  for (const auto& r : loaded->plan.routes.routes()) {
    if (r.name == args[1]) route = &r;
  }
  if (!route) {
    std::cerr << "no route '" << args[1] << "' in " << args[0] << "\n";
    return 1;
  }
  const auto text = slurp(args[2]);
  if (!text) {
    std::cerr << args[2] << ": cannot read\n";
    return 1;
  }
  const std::string raw = asSent(*text);
  auto verdict = channels::evaluateInbound(route->sources.front(), raw);
  std::cout << "== parse\n";
  if (channels::detectFormat(raw) == channels::PayloadFormat::kX12) {
    x12::Document doc = x12::Document::parse(raw);
    doc.validate(x12::SpecLibrary::builtin());
    std::cout << doc.toJson() << "\n";
  } else if (auto parsed = hl7::Message::parse(raw); parsed.ok()) {
    std::cout << parsed.message->toJson() << "\n";
  }
  for (const auto& r : verdict.records) {
    if (!r.error.empty()) std::cout << "finding " << r.error << "\n";
  }
  if (!verdict.accepted) {
    std::cout << "== rejected at ingest; the sender would get:\n" << verdict.answer << "\n";
    return 1;
  }
  // Only this route: a one-route table over the same compiled scripts.
  routes::RouteTable single({*route}, routes::MatchMode::kAll);
  routes::Pipeline pipeline(single, engine::pipelineOptions(loaded->plan));
  std::vector<std::string> scriptErrors;
  pipeline.load(scriptErrors);
  bool failed = false;
  for (const auto& record : verdict.records) {
    const store::MessageSummary summary = summaryOf(record);
    const auto result = pipeline.run(summary, record.raw, true);
    std::cout << "== route " << route->name << " (channel " << summary.channel << ")\n";
    for (const auto& step : result.trace) {
      std::cout << fmt::format("{:<10} {}\n", step.step, step.detail);
    }
    std::cout << "== result: " << statusName(result.status);
    if (!result.error.empty()) std::cout << ": " << result.error;
    std::cout << "\n";
    for (const auto& e : result.enqueue) {
      std::cout << "-> " << e.destination << "\n" << (e.payload ? *e.payload : record.raw) << "\n";
    }
    failed = failed || result.status == store::MessageStatus::kError;
  }
  return failed ? 1 : 0;
}

int test(const Args& args) {
  std::filesystem::path dir = "tests/routes";
  bool allowUntested = false;
  for (const auto& a : args) {
    if (a == "--allow-untested") {
      allowUntested = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "usage: switchboard test [DIR] [--allow-untested]\n";
      return 2;
    } else {
      dir = a;
    }
  }
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const auto name = it->path().filename().string();
    if (name.size() > 9 && name.substr(name.size() - 9) == ".test.lua") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::cerr << "no *.test.lua files under " << dir.string() << "\n";
    return 1;
  }
  static constexpr config::Declaration kTestDeclarations[] = {{"test", true}};
  std::map<std::filesystem::path, std::unique_ptr<Loaded>> configs;
  std::map<std::filesystem::path, std::set<std::string>> covered;
  int passed = 0, failed = 0;
  for (const auto& file : files) {
    config::Errors errors;
    auto loadedFile = config::loadFile(file, errors, kTestDeclarations);
    for (const auto& section : loadedFile.sections) {
      const config::Reader r(section, kTestKeys, errors);
      if (!errors.empty()) break;
      const auto base = file.parent_path();
      const auto configPath = std::filesystem::weakly_canonical(base / r.string("config"));
      auto& loaded = configs[configPath];
      if (!loaded) {
        config::Errors configErrors;
        loaded = loadForTry(configPath, configErrors, kRouteTestTime);
        if (!loaded) {
          std::cout << "FAIL " << section.name << "\n" << configErrors.joined();
          ++failed;
          configs.erase(configPath);
          continue;
        }
      }
      const auto input = slurp(base / r.string("input"));
      if (!input) {
        std::cout << "FAIL " << section.name << ": cannot read input " << r.string("input") << "\n";
        ++failed;
        continue;
      }
      // respond, expect_delivery and expect_reply name destinations of the config under test.
      config::Errors testErrors;
      const auto destinationPlan = [&](const std::string& name) -> const engine::DestinationPlan* {
        for (const auto& d : loaded->plan.destinations) {
          if (d.name == name) return &d;
        }
        return nullptr;
      };
      const auto noDestination = [&](const std::string& key, const std::string& name) {
        testErrors.add(fmt::format("{}: '{}.{}': no destination '{}' in {}", section.where(), key,
                                   name, name, r.string("config")));
      };
      const auto mapOf = [&](std::string_view key) -> const config::Node* {
        const config::Node* n = r.node(key);
        if (n && n->kind == config::Node::Kind::kList && !n->list.empty()) {
          testErrors.add(
              fmt::format("{}: '{}': must be a table of destination = ...", section.where(), key));
          return nullptr;
        }
        return n;
      };
      std::map<std::string, MockResponse> mocks;
      if (const config::Node* n = mapOf("respond")) {
        for (const auto& [d, node] : n->map) {
          const auto* plan = destinationPlan(d);
          if (!plan) {
            noDestination("respond", d);
          } else if (auto mock = readMock(section, d, node, *plan, base, testErrors)) {
            mocks.emplace(d, std::move(*mock));
          }
        }
      }
      std::map<std::string, WantDelivery> wantDelivery;
      if (const config::Node* n = mapOf("expect_delivery")) {
        for (const auto& [d, node] : n->map) {
          const std::string key = "expect_delivery." + d;
          if (!destinationPlan(d)) {
            noDestination("expect_delivery", d);
            continue;
          }
          WantDelivery w;
          if (node.kind == config::Node::Kind::kString) {
            w.outcome = node.text;
          } else if (node.kind == config::Node::Kind::kMap) {
            const config::Reader want(section, node, kDeliveryKeys, testErrors, key);
            w.outcome = want.string("outcome");
            if (want.has("error")) w.error = want.string("error");
            if (want.has("retry_after")) w.retryAfter = want.number("retry_after", 0, 0, 3600);
          }
          if (std::find(std::begin(kOutcomes), std::end(kOutcomes), w.outcome) ==
              std::end(kOutcomes)) {
            testErrors.add(fmt::format(
                "{}: '{}': must be \"delivered\", \"retry\" or \"dead\" (or a table "
                "{{ outcome = ..., error = ..., retry_after = ... }}){}",
                section.where(), key,
                node.kind == config::Node::Kind::kString ? fmt::format(", got \"{}\"", node.text)
                                                         : ""));
          }
          const config::Node* respond = r.node("respond");
          if (!respond || !respond->find(d)) {
            testErrors.add(fmt::format("{}: '{}': needs respond.{}, the answer to decide from",
                                       section.where(), key, d));
          }
          wantDelivery.emplace(d, std::move(w));
        }
      }
      std::string replyFrom;
      std::optional<Reply> wantReply;
      std::string replyGolden;
      if (const config::Node* n = r.node("expect_reply")) {
        const config::Section* channel = nullptr;
        for (const auto& s : loaded->plan.file.sections) {
          if (s.kind == "channel" && s.name == r.string("channel")) channel = &s;
        }
        const config::Node* mode = channel ? channel->body.find("mode") : nullptr;
        const config::Node* from = channel ? channel->body.find("reply_from") : nullptr;
        if (!mode || mode->text != "core" || !from) {
          testErrors.add(fmt::format(
              "{}: 'expect_reply': channel '{}' answers its clients itself (ACK, 999 or 202), "
              "not with a destination's response; expect_reply needs a CORE channel "
              "(mode = \"core\") with reply_from",
              section.where(), r.string("channel")));
        } else {
          replyFrom = from->text;
          wantReply.emplace();
          if (n->kind == config::Node::Kind::kString) {
            replyGolden = n->text;
          } else {
            const config::Reader want(section, *n, kReplyKeys, testErrors, "expect_reply");
            wantReply->status = want.integer("status", 200, 100, 599);
            wantReply->coreError = want.string("core_error", "Success");
            replyGolden = want.string("golden");
          }
          if (!mocks.count(replyFrom) && testErrors.empty()) {
            testErrors.add(fmt::format(
                "{}: 'expect_reply': needs respond.{}, the answer of the reply_from destination",
                section.where(), replyFrom));
          }
        }
      }
      if (!testErrors.empty()) {
        std::cout << "FAIL " << section.name << "\n" << testErrors.joined();
        ++failed;
        continue;
      }
      const std::string raw = asSent(*input);
      auto verdict = channels::evaluateInbound(r.string("channel"), raw);
      std::string status = "rejected", error;
      for (const auto& record : verdict.records) {
        if (!record.error.empty()) error = record.error;
      }
      std::map<std::string, std::vector<std::string>> actual;
      std::map<std::string, std::vector<channels::SendResult>> deliveries;
      if (verdict.accepted) {
        // Each message of the input (X12: each interchange) is routed in turn; the status is
        // the last one's, the first error wins.
        error.clear();
        for (const auto& record : verdict.records) {
          const store::MessageSummary summary = summaryOf(record);
          const auto result = loaded->pipeline->run(summary, record.raw);
          status = statusName(result.status);
          if (error.empty()) error = result.error;
          for (const auto& d : result.decisions) {
            if (d.matched) covered[configPath].insert(d.route);
          }
          for (const auto& e : result.enqueue) {
            const std::string& payload = e.payload ? *e.payload : record.raw;
            actual[e.destination].push_back(payload);
            if (const auto mock = mocks.find(e.destination); mock != mocks.end()) {
              deliveries[e.destination].push_back(mockedOutcome(
                  *destinationPlan(e.destination), mock->second, payload, kRouteTestTime));
            }
          }
        }
      }
      std::vector<std::string> problems;
      const std::string wantStatus = r.string("expect_status", "routed");
      if (status != wantStatus) {
        problems.push_back(fmt::format("status: expected {}, got {}{}", wantStatus, status,
                                       error.empty() ? "" : " (" + error + ")"));
      }
      const std::string wantError = r.string("expect_error");
      if (!wantError.empty() && error.find(wantError) == std::string::npos) {
        problems.push_back(
            fmt::format("error: expected to contain \"{}\", got \"{}\"", wantError, error));
      }
      std::map<std::string, std::vector<std::string>> expected;
      if (const config::Node* e = r.node("expect"); e && e->kind == config::Node::Kind::kMap) {
        for (const auto& [destination, goldens] : e->map) {
          if (goldens.kind == config::Node::Kind::kString) {
            expected[destination].push_back(goldens.text);
          } else {
            for (const auto& g : goldens.list) expected[destination].push_back(g.text);
          }
        }
      }
      std::set<std::string> destinations;
      for (const auto& [d, _] : expected) destinations.insert(d);
      for (const auto& [d, _] : actual) destinations.insert(d);
      for (const auto& d : destinations) {
        const auto& want = expected[d];
        const auto& got = actual[d];
        if (want.size() != got.size()) {
          problems.push_back(
              fmt::format("{}: expected {} output(s), got {}", d, want.size(), got.size()));
          continue;
        }
        for (std::size_t i = 0; i < want.size(); ++i) {
          const auto golden = slurp(base / want[i]);
          if (!golden) {
            problems.push_back(fmt::format("{}: cannot read golden {}", d, want[i]));
            continue;
          }
          const auto w = comparable(*golden), g = comparable(got[i]);
          if (w != g) {
            problems.push_back(
                fmt::format("{} output {} differs from {} (- expected, + actual):\n{}", d, i + 1,
                            want[i], diff(w, g)));
          }
        }
      }
      // What each mocked destination's sender decides.
      std::vector<std::string> report;
      for (const auto& [d, _] : mocks) {
        const auto& got = deliveries[d];
        if (got.empty()) {
          problems.push_back(
              fmt::format("{}: respond is given, but the route sends it nothing", d));
        }
        for (std::size_t i = 0; i < got.size(); ++i) {
          const std::string which = got.size() == 1 ? d : fmt::format("{} (output {})", d, i + 1);
          report.push_back(fmt::format("{}: {}", which, describeOutcome(got[i])));
          const auto w = wantDelivery.find(d);
          if (w == wantDelivery.end()) continue;
          const std::string outcome = outcomeName(got[i].status);
          if (outcome != w->second.outcome) {
            problems.push_back(fmt::format("{} delivery: expected {}, got {}", which,
                                           w->second.outcome, describeOutcome(got[i])));
          }
          if (w->second.error && got[i].error.find(*w->second.error) == std::string::npos) {
            problems.push_back(
                fmt::format("{} delivery: expected the error to contain \"{}\", "
                            "got \"{}\"",
                            which, *w->second.error, got[i].error));
          }
          if (w->second.retryAfter) {
            const auto wantMillis = static_cast<std::int64_t>(*w->second.retryAfter * 1000);
            if (got[i].retryAfterMillis != wantMillis) {
              problems.push_back(fmt::format(
                  "{} delivery: expected the next attempt in {} s (Retry-After), got {}", which,
                  *w->second.retryAfter,
                  got[i].retryAfterMillis
                      ? fmt::format("{} s", static_cast<double>(*got[i].retryAfterMillis) / 1000)
                      : std::string("the queue's backoff (no Retry-After)")));
            }
          }
        }
      }
      // What the client of a CORE RealTime channel gets back.
      if (wantReply) {
        const Reply got = coreReply(replyFrom, deliveries[replyFrom]);
        report.push_back(fmt::format("reply: HTTP {} {}{}", got.status, got.coreError,
                                     got.why.empty() ? "" : ": " + got.why));
        if (got.status != wantReply->status || got.coreError != wantReply->coreError) {
          problems.push_back(fmt::format("reply: expected HTTP {} {}, got HTTP {} {}{}",
                                         wantReply->status, wantReply->coreError, got.status,
                                         got.coreError, got.why.empty() ? "" : ": " + got.why));
        } else if (!replyGolden.empty()) {
          const auto golden = slurp(base / replyGolden);
          if (!golden) {
            problems.push_back(fmt::format("reply: cannot read golden {}", replyGolden));
          } else if (const auto w = comparable(*golden), g = comparable(got.payload); w != g) {
            problems.push_back(fmt::format("reply differs from {} (- expected, + actual):\n{}",
                                           replyGolden, diff(w, g)));
          }
        }
      }
      if (problems.empty()) {
        std::cout << "PASS " << section.name << "\n";
        ++passed;
      } else {
        std::cout << "FAIL " << section.name << " (" << section.file << ":" << section.line
                  << ")\n";
        for (const auto& p : problems) std::cout << "  " << p << "\n";
        ++failed;
      }
      for (const auto& line : report) std::cout << "  " << line << "\n";
    }
    if (!errors.empty()) {
      std::cout << "FAIL " << file.string() << "\n" << errors.joined();
      ++failed;
    }
  }
  int untested = 0;
  for (const auto& [configPath, loaded] : configs) {
    for (const auto& route : loaded->plan.routes.routes()) {
      if (!covered[configPath].count(route.name)) {
        std::cout << "UNTESTED route '" << route.name << "' (" << route.where << ")\n";
        ++untested;
      }
    }
  }
  std::cout << fmt::format("{} passed, {} failed\n", passed, failed);
  if (untested > 0 && !allowUntested) {
    std::cout << untested << " route(s) have no test (use --allow-untested to accept)\n";
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace sb::cli
