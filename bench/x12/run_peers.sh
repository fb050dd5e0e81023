#!/usr/bin/env bash
# Builds and runs Switchboard's X12 benchmark (bench_x12) and an independent parser, npm node-x12
# (tests/peers/x12_peer.mjs --bench), on the same files in the same run, and prints one JSON line
# per input set and parser plus the ratios.
#
# Input sets:
#   fixtures   every file of fixtures/x12/valid (small files, envelope variety)
#   837P-large an 837P of ~LARGE_MB MB and
#   835-large  an 835 of ~LARGE_MB MB, both generated into a temp dir by make_large.py from the
#              valid 837P/835 fixtures (claims repeated, counts and the 835 balance kept right):
#              the sizes payers and clearinghouses actually exchange.
# Switchboard is measured twice: scan+envelopes (what node-x12's parse() also does: segments and
# the ISA/GS/ST object model) and scan+loops+validate (loop trees and element checks, which
# node-x12 does not have). The ratio against node-x12 is like for like for the first only.
#
# Environment: BUILD_DIR (default <repo>/build-bench), BENCH_BIN (skip the build and use this
# bench_x12), LARGE_MB (default 20), NODE_ITERATIONS (fixtures, default 20),
# NODE_LARGE_ITERATIONS (default 3), MIN_TIME (seconds per Switchboard benchmark, default 2),
# NODE_HEAP_MB (default 8192: node-x12 holds ~2.7 GB for a 20 MB file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
large_mb=${LARGE_MB:-20}
node_iterations=${NODE_ITERATIONS:-20}
node_large_iterations=${NODE_LARGE_ITERATIONS:-3}
min_time=${MIN_TIME:-2}
node_heap_mb=${NODE_HEAP_MB:-8192}
peers=$root/tests/peers

if [[ -z "${BENCH_BIN:-}" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BENCH=ON \
    -DSWITCHBOARD_TESTS=OFF >/dev/null
  cmake --build "$build" --target bench_x12 -j2 >/dev/null
  BENCH_BIN=$build/bench/x12/bench_x12
fi

if [[ ! -d "$peers/node_modules/node-x12" ]]; then
  (cd "$peers" && npm ci --no-audit --no-fund >/dev/null)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/837P-large" "$tmp/835-large"
python3 "$here/make_large.py" 837 "$root/fixtures/x12/valid/837P_professional.x12" \
  "$tmp/837P-large/837P_large.x12" "$large_mb"
python3 "$here/make_large.py" 835 "$root/fixtures/x12/valid/835_two_claims_balanced.x12" \
  "$tmp/835-large/835_large.x12" "$large_mb"

summary=()
run_set() {
  local name=$1 dir=$2 iterations=$3
  local ours peer
  ours=$(SB_X12_BENCH_DIR="$dir" "$BENCH_BIN" --benchmark_min_time="$min_time" \
    --benchmark_format=json 2>/dev/null)
  peer=$(node --max-old-space-size="$node_heap_mb" "$peers/x12_peer.mjs" --bench "$iterations" \
    "$dir"/*)
  summary+=("$(python3 - "$name" "$ours" "$peer" <<'PY'
import json, sys
name, ours, peer = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
by = {b["name"].split("/")[0]: b for b in ours["benchmarks"]}  # "/real_time" suffix
env = by["BM_ScanEnvelopes"]["bytes_per_second"] / 1e6
val = by["BM_ScanLoopsValidate"]["bytes_per_second"] / 1e6
print(json.dumps({"set": name, "parser": "switchboard", "what": "scan+envelopes",
                  "mb_per_s": round(env, 1)}))
print(json.dumps({"set": name, "parser": "switchboard", "what": "scan+loops+validate",
                  "mb_per_s": round(val, 1)}))
print(json.dumps({"set": name, "parser": "node-x12", "version": peer["version"],
                  "what": "parse (segments+envelopes)", "mb_per_s": round(peer["mb_per_s"], 2),
                  "bytes": peer["bytes"], "files": peer["files"],
                  "strict_files": peer["strict_files"]}))
print(json.dumps({"set": name,
                  "ratio_envelopes_ours_over_node_x12": round(env / peer["mb_per_s"], 1),
                  "ratio_validate_ours_over_node_x12": round(val / peer["mb_per_s"], 1)}))
PY
)")
}

run_set fixtures "$root/fixtures/x12/valid" "$node_iterations"
run_set 837P-large "$tmp/837P-large" "$node_large_iterations"
run_set 835-large "$tmp/835-large" "$node_large_iterations"
printf '%s\n' "${summary[@]}"
