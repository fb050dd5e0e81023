// `switchboard messages` (list, search, show) and `switchboard reprocess`. Both open the store
// directly, so they work while the engine runs and when it does not.
#include <ctime>
#include <iostream>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/cli/cli.h"
#include "engine/plan.h"
#include "store/message_store.h"

namespace sb::cli {
namespace {

struct StoreArgs {
  std::string dataDir;
  std::string configFile;
};

bool storeOption(ArgReader& a, StoreArgs& s) {
  return a.option("--data-dir", s.dataDir) || a.option("--config", s.configFile);
}

std::filesystem::path resolveDataDir(const StoreArgs& s) {
  if (!s.dataDir.empty()) return s.dataDir;
  if (!s.configFile.empty()) {
    config::Errors errors;
    auto plan = engine::loadPlan(s.configFile, {}, errors);
    if (!plan) throw std::runtime_error(errors.joined());
    return plan->settings.dataDir;
  }
  return "data";
}

std::unique_ptr<store::MessageStore> openStore(const StoreArgs& s, bool readOnly) {
  const auto dir = resolveDataDir(s);
  if (!std::filesystem::exists(dir)) {
    throw std::runtime_error(fmt::format("no data directory at {}", dir.string()));
  }
  store::Options o;
  o.dataDir = dir;
  o.readOnly = readOnly;
  o.retentionDays = 0;  // the CLI never drops data
  return store::openSqliteStore(o);
}

// Accepts epoch milliseconds, "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]Z" (UTC), or a relative
// "-30m" / "-2h" / "-7d" from now.
std::optional<store::Millis> parseTime(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (text[0] == '-' && text.size() >= 3) {
    const long n = std::stol(text.substr(1, text.size() - 2));
    const char unit = text.back();
    const long factor = unit == 's'   ? 1000
                        : unit == 'm' ? 60000
                        : unit == 'h' ? 3600000
                        : unit == 'd' ? 86400000
                                      : 0;
    if (factor == 0) return std::nullopt;
    return store::nowMillis() - n * factor;
  }
  if (text.find('-') == std::string::npos) return std::stoll(text);
  std::tm tm{};
  int sec = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &sec) < 3) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = sec;
  return static_cast<store::Millis>(timegm(&tm)) * 1000;
}

std::string isoTime(store::Millis ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms % 1000));
}

void writeSummary(rapidjson::Writer<rapidjson::StringBuffer>& w, const store::MessageSummary& m) {
  const auto str = [&](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.Key("id");
  w.Int64(m.id);
  str("received_at", isoTime(m.receivedAt));
  str("channel", m.channel);
  str("peer", m.peer);
  str("message_type", m.messageType);
  str("trigger_event", m.triggerEvent);
  str("control_id", m.controlId);
  str("patient_id", m.patientId);
  str("sending_application", m.sendingApplication);
  str("sending_facility", m.sendingFacility);
  str("status", std::string(store::toString(m.status)));
  str("error", m.error);
  w.Key("size");
  w.Int64(m.sizeBytes);
  w.Key("generation");
  w.Int(m.generation);
}

int show(const StoreArgs& s, store::MessageId id, bool json) {
  auto st = openStore(s, true);
  auto detail = st->get(id);
  if (!detail) {
    std::cerr << "message " << id << " not found\n";
    return 1;
  }
  if (json) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    writeSummary(w, detail->message.summary);
    w.Key("raw");
    w.String(detail->message.raw.c_str(),
             static_cast<rapidjson::SizeType>(detail->message.raw.size()));
    w.Key("events");
    w.StartArray();
    for (const auto& e : detail->events) {
      w.StartObject();
      w.Key("at");
      w.String(isoTime(e.at).c_str());
      w.Key("step");
      w.String(e.step.c_str());
      w.Key("subject");
      w.String(e.subject.c_str());
      w.Key("outcome");
      w.String(e.outcome.c_str());
      w.Key("detail");
      w.String(e.detail.c_str(), static_cast<rapidjson::SizeType>(e.detail.size()));
      w.EndObject();
    }
    w.EndArray();
    w.Key("queue");
    w.StartArray();
    for (const auto& q : detail->queue) {
      w.StartObject();
      w.Key("destination");
      w.String(q.destination.c_str());
      w.Key("status");
      w.String(std::string(store::toString(q.status)).c_str());
      w.Key("attempts");
      w.Int(q.attempts);
      w.Key("last_error");
      w.String(q.lastError.c_str());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::cout << buf.GetString() << "\n";
    return 0;
  }
  const auto& m = detail->message.summary;
  std::cout << fmt::format(
      "message {}  {}  channel {}  from {}\n  {}^{}  control id {}  status {}{}\n", m.id,
      isoTime(m.receivedAt), m.channel, m.peer, m.messageType, m.triggerEvent, m.controlId,
      store::toString(m.status), m.error.empty() ? "" : "  error: " + m.error);
  std::cout << "history:\n";
  for (const auto& e : detail->events) {
    std::cout << fmt::format("  {}  {:<9} {:<16} {:<10} {}\n", isoTime(e.at), e.step, e.subject,
                             e.outcome, e.detail);
  }
  std::cout << "queue:\n";
  for (const auto& q : detail->queue) {
    std::cout << fmt::format("  {:<16} {:<9} attempts {}  {}\n", q.destination,
                             store::toString(q.status), q.attempts, q.lastError);
  }
  std::cout << "raw:\n";
  for (char c : detail->message.raw) std::cout << (c == '\r' ? '\n' : c);
  std::cout << "\n";
  return 0;
}

}  // namespace

int messages(const Args& args) {
  ArgReader a(args);
  StoreArgs s;
  store::SearchQuery q;
  bool json = false;
  std::optional<store::MessageId> showId;
  try {
    std::string v;
    while (!a.done()) {
      if (storeOption(a, s)) continue;
      if (a.option("--channel", v)) {
        q.channel = v;
        continue;
      }
      if (a.option("--type", v)) {
        q.messageType = v;
        continue;
      }
      if (a.option("--trigger", v)) {
        q.triggerEvent = v;
        continue;
      }
      if (a.option("--control-id", v)) {
        q.controlId = v;
        continue;
      }
      if (a.option("--patient-id", v)) {
        q.patientId = v;
        continue;
      }
      if (a.option("--limit", v)) {
        q.limit = std::stoul(v);
        continue;
      }
      if (a.option("--before-id", v)) {
        q.beforeId = std::stoll(v);
        continue;
      }
      if (a.option("--since", v)) {
        q.from = parseTime(v);
        if (!q.from) throw std::invalid_argument("--since: unreadable time " + v);
        continue;
      }
      if (a.option("--until", v)) {
        q.to = parseTime(v);
        if (!q.to) throw std::invalid_argument("--until: unreadable time " + v);
        continue;
      }
      if (a.option("--status", v)) {
        q.status = store::parseMessageStatus(v);
        if (!q.status) throw std::invalid_argument("--status: unknown status " + v);
        continue;
      }
      if (a.flag("--json")) {
        json = true;
        continue;
      }
      if (a.peek() == "show" && a.i + 1 < args.size()) {
        showId = std::stoll(args[a.i + 1]);
        a.i += 2;
        continue;
      }
      throw std::invalid_argument("unknown argument " + a.peek());
    }
    if (showId) return show(s, *showId, json);
    auto st = openStore(s, true);
    const auto found = st->search(q);
    if (json) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartArray();
      for (const auto& m : found) {
        w.StartObject();
        writeSummary(w, m);
        w.EndObject();
      }
      w.EndArray();
      std::cout << buf.GetString() << "\n";
      return 0;
    }
    std::cout << fmt::format("{:>10}  {:<24}  {:<12}  {:<8}  {:<20}  {:<10}  {}\n", "ID",
                             "RECEIVED", "CHANNEL", "TYPE", "CONTROL ID", "STATUS", "ERROR");
    for (const auto& m : found) {
      std::cout << fmt::format("{:>10}  {:<24}  {:<12}  {:<8}  {:<20}  {:<10}  {}\n", m.id,
                               isoTime(m.receivedAt), m.channel,
                               m.messageType + (m.triggerEvent.empty() ? "" : "^" + m.triggerEvent),
                               m.controlId, store::toString(m.status), m.error);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "messages: " << e.what() << "\n"
              << "usage: switchboard messages [--data-dir DIR | --config FILE] [--channel C] "
                 "[--type T] [--trigger E] [--control-id ID] [--patient-id ID] [--status S] "
                 "[--since T] [--until T] [--limit N] [--before-id ID] [--json]\n"
                 "       switchboard messages [--data-dir DIR] show ID [--json]\n";
    return 2;
  }
}

int reprocess(const Args& args) {
  ArgReader a(args);
  StoreArgs s;
  std::string deadLetter;
  std::vector<store::MessageId> ids;
  try {
    while (!a.done()) {
      if (storeOption(a, s) || a.option("--dead-letter", deadLetter)) continue;
      const std::string& v = a.peek();
      std::size_t used = 0;
      const long long id = std::stoll(v, &used);
      if (used != v.size() || id <= 0) throw std::invalid_argument("not a message id: " + v);
      ids.push_back(id);
      ++a.i;
    }
    if (ids.empty() == deadLetter.empty()) {
      throw std::invalid_argument("give message ids or --dead-letter DESTINATION");
    }
    auto st = openStore(s, false);
    if (!deadLetter.empty()) {
      const auto n = st->reprocessDeadLetters(deadLetter);
      std::cout << n << " dead-lettered message(s) of " << deadLetter << " requeued\n";
      return 0;
    }
    const auto n = st->reprocess(ids);
    std::cout << n << " of " << ids.size() << " message(s) queued for routing again\n";
    return n == ids.size() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "reprocess: " << e.what() << "\n"
              << "usage: switchboard reprocess [--data-dir DIR | --config FILE] ID... | "
                 "--dead-letter DESTINATION\n";
    return 2;
  }
}

}  // namespace sb::cli
