// X12 throughput over a set of files, read whole into memory first (as a channel does), so only
// the parser is timed. Two depths:
//   BM_ScanEnvelopes       Document::parse: segments, elements, ISA/GS/ST envelopes with their
//                          counts and control numbers. The same work node-x12's parse() does
//                          (tests/peers/x12_peer.mjs --bench), which run_peers.sh compares.
//   BM_ScanLoopsValidate   + validate(builtin specs): loop trees and element checks, what an
//                          inbound channel needs before it can answer a 999.
// SB_X12_BENCH_DIR overrides the input directory (default fixtures/x12/valid); every regular
// file in it is read. Wall-clock time, as the peer measures it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "parsers/x12/spec.h"
#include "parsers/x12/x12.h"

namespace {

const std::vector<std::string>& inputs() {
  static const std::vector<std::string> all = [] {
    const char* env = std::getenv("SB_X12_BENCH_DIR");
    const std::filesystem::path dir = env ? env : SB_X12_FIXTURES;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
    return out;
  }();
  return all;
}

std::int64_t totalBytes() {
  std::int64_t n = 0;
  for (const auto& f : inputs()) n += static_cast<std::int64_t>(f.size());
  return n;
}

void report(benchmark::State& state) {
  state.SetBytesProcessed(state.iterations() * totalBytes());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(inputs().size()));
  state.counters["files"] = static_cast<double>(inputs().size());
}

void BM_ScanEnvelopes(benchmark::State& state) {
  const auto& files = inputs();
  for (auto _ : state) {
    for (const auto& raw : files) {
      sb::x12::Document doc = sb::x12::Document::parse(raw);
      benchmark::DoNotOptimize(doc.interchanges().size());
    }
  }
  report(state);
}
BENCHMARK(BM_ScanEnvelopes)->UseRealTime();

void BM_ScanLoopsValidate(benchmark::State& state) {
  const auto& files = inputs();
  const sb::x12::SpecLibrary& specs = sb::x12::SpecLibrary::builtin();  // parsed once, outside
  for (auto _ : state) {
    for (const auto& raw : files) {
      sb::x12::Document doc = sb::x12::Document::parse(raw);
      doc.validate(specs);
      benchmark::DoNotOptimize(doc.findings().size());
    }
  }
  report(state);
}
BENCHMARK(BM_ScanLoopsValidate)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
