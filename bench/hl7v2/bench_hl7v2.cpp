// Parse + index throughput over the fixture mix. Every message's terminators are normalised to
// CR, the same input the peer benchmarks (peers/) read, so the numbers compare like for like.
// SB_HL7_BENCH_DIR overrides the fixture directory. Wall-clock time, as the peers measure it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "parsers/hl7v2/hl7v2.h"

namespace {

std::string normalise(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
    out += raw[i] == '\n' ? '\r' : raw[i];
  }
  return out;
}

const std::vector<std::string>& messages() {
  static const std::vector<std::string> all = [] {
    const char* env = std::getenv("SB_HL7_BENCH_DIR");
    const std::filesystem::path dir = env ? env : SB_HL7_FIXTURES;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".hl7") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      const std::string raw = ss.str();
      if (sb::hl7::isBatch(raw)) continue;
      out.push_back(normalise(raw));
    }
    return out;
  }();
  return all;
}

std::int64_t totalBytes() {
  std::int64_t n = 0;
  for (const auto& m : messages()) n += static_cast<std::int64_t>(m.size());
  return n;
}

// Parse and index, then read MSH-9, MSH-10 and PID-3 zero-copy.
void BM_ParseIndex(benchmark::State& state) {
  const auto& msgs = messages();
  const sb::hl7::Path msh9 = *sb::hl7::Path::parse("MSH-9");
  const sb::hl7::Path msh10 = *sb::hl7::Path::parse("MSH-10");
  const sb::hl7::Path pid3 = *sb::hl7::Path::parse("PID-3");
  for (auto _ : state) {
    for (const auto& raw : msgs) {
      sb::hl7::ParseResult r = sb::hl7::Message::parse(raw);
      const sb::hl7::Message& m = *r.message;
      benchmark::DoNotOptimize(m.getRaw(msh9));
      benchmark::DoNotOptimize(m.getRaw(msh10));
      benchmark::DoNotOptimize(m.getRaw(pid3));
    }
  }
  state.SetBytesProcessed(state.iterations() * totalBytes());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(msgs.size()));
}
BENCHMARK(BM_ParseIndex)->UseRealTime();

// Same, reading decoded values (allocating strings), as the peers do.
void BM_ParseGetDecoded(benchmark::State& state) {
  const auto& msgs = messages();
  for (auto _ : state) {
    for (const auto& raw : msgs) {
      sb::hl7::ParseResult r = sb::hl7::Message::parse(raw);
      const sb::hl7::Message& m = *r.message;
      benchmark::DoNotOptimize(m.get("MSH-9"));
      benchmark::DoNotOptimize(m.get("MSH-10"));
      benchmark::DoNotOptimize(m.get("PID-3"));
    }
  }
  state.SetBytesProcessed(state.iterations() * totalBytes());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(msgs.size()));
}
BENCHMARK(BM_ParseGetDecoded)->UseRealTime();

// Parse, validate and build the ACK: the per-message work of an inbound channel.
void BM_ParseValidateAck(benchmark::State& state) {
  const auto& msgs = messages();
  sb::hl7::AckOptions options;
  options.controlId = "BENCH";
  options.timestamp = "20260101000000";
  for (auto _ : state) {
    for (const auto& raw : msgs) {
      sb::hl7::ParseResult r = sb::hl7::Message::parse(raw);
      const auto findings = sb::hl7::validate(*r.message);
      benchmark::DoNotOptimize(
          sb::hl7::buildAck(*r.message, sb::hl7::AckCode::kAA, findings, options));
    }
  }
  state.SetBytesProcessed(state.iterations() * totalBytes());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(msgs.size()));
}
BENCHMARK(BM_ParseValidateAck)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
