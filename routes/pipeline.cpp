#include "routes/pipeline.h"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "parsers/x12/x12.h"

namespace sb::routes {

struct Pipeline::Compiled {
  transforms::FunctionRef filter;
  std::vector<transforms::FunctionRef> transforms;
};

namespace {

std::string toJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string describe(const transforms::Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "nil";
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* j = std::get_if<transforms::JsonText>(&v)) return j->text;
  if (const auto* x = std::get_if<transforms::X12Text>(&v)) return x->raw;
  if (const auto* m = std::get_if<std::shared_ptr<hl7::Message>>(&v)) return (*m)->serialize();
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return fmt::format("{}", std::get<double>(v));
}

bool truthy(const transforms::Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return false;
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  return true;
}

constexpr std::size_t kMaxStepOutput = 16 * 1024;

// One output addressed to one destination.
struct Output {
  std::string destination;
  std::optional<std::string> payload;  // nullopt: the raw inbound message
};

}  // namespace

Pipeline::Pipeline(const RouteTable& table, PipelineOptions options)
    : table_(table), options_(std::move(options)) {
  transforms::LuaOptions lua;
  lua.scriptFolders = options_.scriptFolders;
  lua.limits = options_.limits;
  lua.controlNumbers = options_.controlNumbers;
  lua.fixedTime = options_.fixedTime;
  lua_ = std::make_unique<transforms::LuaRuntime>(std::move(lua));
}

Pipeline::~Pipeline() = default;

bool Pipeline::load(std::vector<std::string>& errors) {
  compiled_.clear();
  const auto loadScript = [&](const Route& route, const std::string& spec,
                              transforms::FunctionRef& out) {
    // "mappings/adt.lua:patient" names the function `patient` of the table the script returns.
    std::string name = spec, entry;
    if (const auto colon = spec.rfind(':');
        colon != std::string::npos && colon >= 4 && spec.compare(colon - 4, 4, ".lua") == 0) {
      name = spec.substr(0, colon);
      entry = spec.substr(colon + 1);
    }
    std::optional<std::filesystem::path> found;
    for (const auto& folder : options_.scriptFolders) {
      if (std::filesystem::exists(folder / name)) {
        found = folder / name;
        break;
      }
    }
    if (!found) {
      errors.push_back(fmt::format("{}: route '{}': script '{}' not found in the script folders",
                                   route.where, route.name, name));
      return;
    }
    auto loaded = lua_->loadFile(*found, entry);
    if (!loaded.ok()) {
      errors.push_back(fmt::format("route '{}': {}", route.name, loaded.error->message));
      return;
    }
    out = loaded.function;
  };
  for (const auto& route : table_.routes()) {
    Compiled c;
    if (!route.filterScript.empty()) loadScript(route, route.filterScript, c.filter);
    for (const auto& t : route.transformScripts) {
      c.transforms.emplace_back();
      loadScript(route, t, c.transforms.back());
    }
    compiled_.push_back(std::move(c));
  }
  return errors.empty();
}

PipelineResult Pipeline::run(const store::MessageSummary& summary, const std::string& raw,
                             bool trace) {
  PipelineResult result;
  std::vector<Output> outputs;
  bool taken = false;
  bool anyMatched = false;
  const auto fail = [&](std::string error) {
    result.status = store::MessageStatus::kError;
    result.error = std::move(error);
    result.enqueue.clear();
    return result;
  };
  // A trace note is a formatted string (one held a copy of every transform's output), so it is
  // built only when tracing (`switchboard try`): `detail` is text, or a function making it.
  const auto note = [&](const Route& route, const char* step, const auto& detail) {
    if (!trace) return;
    if constexpr (std::is_invocable_v<decltype(detail)>) {
      result.trace.push_back({route.name, step, detail()});
    } else {
      result.trace.push_back({route.name, step, std::string(detail)});
    }
  };
  const auto& routes = table_.routes();
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const Route& route = routes[i];
    if (!takesFrom(route, summary.channel)) continue;
    store::RouteDecision decision{route.name, false, {}};
    if (taken && table_.mode() == MatchMode::kFirst) {
      decision.reason = "an earlier route took the message (first-match)";
      result.decisions.push_back(std::move(decision));
      continue;
    }
    if (auto why = staticMismatch(route, summary)) {
      decision.reason = std::move(*why);
      note(route, "filter", decision.reason);
      result.decisions.push_back(std::move(decision));
      continue;
    }
    const Compiled& c = compiled_.at(i);
    // Scripts see a parsed message; each route gets its own copy so edits do not leak across.
    // X12 interchanges are parsed inside Lua (x12.parse), JSON becomes tables, HL7 v2 is parsed
    // here.
    transforms::Value message;
    if (c.filter.valid() || !c.transforms.empty()) {
      const auto first = raw.find_first_not_of(" \t\r\n");
      if (x12::readDelimiters(raw)) {
        message = transforms::X12Text{raw};
      } else if (first != std::string::npos && (raw[first] == '{' || raw[first] == '[')) {
        message = transforms::JsonText{raw};  // canonical JSON (e.g. a Claim to send as 837P)
      } else {
        auto parsed = hl7::Message::parseOwned(raw);
        if (!parsed.ok()) {
          return fail(fmt::format("route '{}': message does not parse: {}", route.name,
                                  parsed.error->text));
        }
        message = std::make_shared<hl7::Message>(std::move(*parsed.message));
      }
    }
    if (c.filter.valid()) {
      auto r = lua_->call(c.filter, {message});
      if (!r.ok()) return fail(fmt::format("route '{}' filter: {}", route.name, r.error->message));
      const bool accepted = !r.values.empty() && truthy(r.values[0]);
      std::string reason = r.values.size() > 1 ? describe(r.values[1])
                           : accepted          ? "filter script accepted"
                                               : "filter script refused";
      note(route, "filter",
           [&] { return fmt::format("{}: {}", accepted ? "accepted" : "refused", reason); });
      if (!accepted) {
        decision.reason = std::move(reason);
        result.decisions.push_back(std::move(decision));
        continue;
      }
      decision.reason = std::move(reason);
    } else {
      decision.reason = "filter passed";
      note(route, "filter", "accepted: static filter passed");
    }
    decision.matched = true;
    taken = anyMatched = true;
    result.decisions.push_back(decision);
    if (c.transforms.empty()) {
      for (const auto& d : route.destinations) outputs.push_back({d, std::nullopt});
      for (const auto& d : route.destinations) {
        note(route, "deliver-to", [&] { return d + " (raw message)"; });
      }
      continue;
    }
    transforms::Value value = message;
    for (std::size_t t = 0; t < c.transforms.size(); ++t) {
      auto r = lua_->call(c.transforms[t], {value});
      if (!r.ok()) {
        return fail(fmt::format("route '{}' transform {}: {}", route.name,
                                route.transformScripts[t], r.error->message));
      }
      value = r.values.empty() ? transforms::Value{} : std::move(r.values[0]);
      std::string output = describe(value);
      note(route, "transform",
           [&] { return fmt::format("{} -> {}", route.transformScripts[t], output); });
      // Kept with the message so `messages show` tells what each step made of it; very large
      // outputs are cut, the queue holds the final ones whole.
      if (output.size() > kMaxStepOutput) {
        const auto total = output.size();
        output.resize(kMaxStepOutput);
        output += fmt::format("... ({} bytes in all)", total);
      }
      result.steps.push_back({route.name, route.transformScripts[t], std::move(output)});
    }
    // Turn the final value into addressed outputs.
    std::vector<Output> produced;
    std::string error;
    // `whole` is the transform's own text when `body` is the entire output: it is already the
    // compact encoding (the encoder writes what RapidJSON's Writer would), so it is not written
    // again.
    const auto addJson = [&](const rapidjson::Value& body, const std::vector<std::string>& to,
                             const std::string* whole = nullptr) {
      std::string text = whole             ? *whole
                         : body.IsString() ? std::string(body.GetString(), body.GetStringLength())
                                           : toJson(body);
      if (body.IsObject() && body.HasMember("resourceType") && options_.schemaCheck) {
        if (auto bad = options_.schemaCheck(text)) {
          const auto& type = body["resourceType"];
          error = fmt::format("schema {} {}", type.IsString() ? type.GetString() : "?", *bad);
          note(route, "validate", error);
          return;
        }
        note(route, "validate",
             [&] { return fmt::format("{} valid", body["resourceType"].GetString()); });
      }
      for (const auto& d : to) produced.push_back({d, text});
    };
    if (std::holds_alternative<std::monostate>(value)) {
      note(route, "transform", "no output: nothing to deliver");
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      for (const auto& d : route.destinations) produced.push_back({d, *s});
    } else if (const auto* m = std::get_if<std::shared_ptr<hl7::Message>>(&value)) {
      for (const auto& d : route.destinations) produced.push_back({d, (*m)->serialize()});
    } else if (const auto* j = std::get_if<transforms::JsonText>(&value)) {
      rapidjson::Document doc;
      doc.Parse(j->text.c_str(), j->text.size());
      // A list of outputs splits the message; {to = ..., body = ...} addresses one output.
      const auto handle = [&](const rapidjson::Value& item, const std::string* whole) {
        if (item.IsObject() && item.HasMember("body")) {
          std::vector<std::string> to = route.destinations;
          if (item.HasMember("to")) {
            to.clear();
            const auto& t = item["to"];
            if (t.IsString()) to.emplace_back(t.GetString());
            if (t.IsArray()) {
              for (const auto& x : t.GetArray()) {
                if (x.IsString()) to.emplace_back(x.GetString());
              }
            }
            for (const auto& d : to) {
              if (std::find(route.destinations.begin(), route.destinations.end(), d) ==
                  route.destinations.end()) {
                error =
                    fmt::format("transform addressed '{}', which is not in the route's 'to'", d);
                return;
              }
            }
          }
          addJson(item["body"], to);
        } else {
          addJson(item, route.destinations, whole);
        }
      };
      if (doc.IsArray()) {
        for (const auto& item : doc.GetArray()) {
          handle(item, nullptr);
          if (!error.empty()) break;
        }
      } else {
        handle(doc, doc.IsObject() ? &j->text : nullptr);
      }
    } else {
      for (const auto& d : route.destinations) produced.push_back({d, describe(value)});
    }
    if (!error.empty()) return fail(fmt::format("route '{}': {}", route.name, error));
    for (const auto& o : produced) note(route, "deliver-to", o.destination);
    outputs.insert(outputs.end(), produced.begin(), produced.end());
  }
  // The raw message goes once to a destination even when several routes send it there.
  for (auto& o : outputs) {
    if (!o.payload) {
      const bool already = std::any_of(result.enqueue.begin(), result.enqueue.end(), [&](auto& e) {
        return e.destination == o.destination && !e.payload;
      });
      if (!already) result.enqueue.push_back({o.destination, std::nullopt});
    } else {
      result.enqueue.push_back({o.destination, std::move(*o.payload)});
    }
  }
  if (result.enqueue.empty()) {
    result.status = store::MessageStatus::kFiltered;
    if (result.decisions.empty()) {
      result.decisions.push_back(
          {"", false, fmt::format("no route takes messages from channel '{}'", summary.channel)});
    } else if (anyMatched) {
      result.decisions.push_back({"", false, "the matching routes' transforms produced no output"});
    }
  }
  return result;
}

}  // namespace sb::routes
