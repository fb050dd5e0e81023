#!/usr/bin/env bash
# Builds and runs Switchboard's HL7 v2 parse benchmark and two peer parsers (@medplum/core on
# Node, python-hl7 on Debian's /usr/bin/python3) on the same messages in the same run, and
# prints one JSON line per parser plus the ratios.
#
# Environment: BUILD_DIR (default <repo>/build-bench), BENCH_BIN (skip the build and use this
# bench_hl7v2), FIXTURES (default <repo>/fixtures/hl7v2), MEDPLUM_ITERATIONS, PYTHON_ITERATIONS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
fixtures=${FIXTURES:-$root/fixtures/hl7v2}
medplum_iterations=${MEDPLUM_ITERATIONS:-1000}
python_iterations=${PYTHON_ITERATIONS:-50}
python=/usr/bin/python3  # the pyenv python3 on PATH lacks the Debian hl7 module

if [[ -z "${BENCH_BIN:-}" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BENCH=ON \
    -DSWITCHBOARD_TESTS=OFF >/dev/null
  cmake --build "$build" --target bench_hl7v2 -j2 >/dev/null
  BENCH_BIN=$build/bench/hl7v2/bench_hl7v2
fi

if [[ ! -d "$here/peers/node_modules/@medplum/core" ]]; then
  (cd "$here/peers" && npm ci --no-audit --no-fund >/dev/null)
fi

ours=$(SB_HL7_BENCH_DIR="$fixtures" "$BENCH_BIN" --benchmark_filter='^BM_ParseIndex/' \
  --benchmark_min_time=3 --benchmark_format=json 2>/dev/null |
  "$python" -c '
import json, sys
b = json.load(sys.stdin)["benchmarks"][0]
print(json.dumps({"parser": "switchboard", "mb_per_s": b["bytes_per_second"] / 1e6,
                  "msgs_per_s": b["items_per_second"]}))')
medplum=$(node "$here/peers/medplum_bench.mjs" "$fixtures" "$medplum_iterations")
pyhl7=$("$python" "$here/peers/python_hl7_bench.py" "$fixtures" "$python_iterations")

echo "$ours"
echo "$medplum"
echo "$pyhl7"
"$python" - "$ours" "$medplum" "$pyhl7" <<'PY'
import json, sys
ours, medplum, pyhl7 = (json.loads(a) for a in sys.argv[1:4])
print(json.dumps({
    "ratio_mb_ours_over_medplum": round(ours["mb_per_s"] / medplum["mb_per_s"], 1),
    "ratio_mb_ours_over_python_hl7": round(ours["mb_per_s"] / pyhl7["mb_per_s"], 1),
    "ratio_msgs_ours_over_medplum": round(ours["msgs_per_s"] / medplum["msgs_per_s"], 1),
    "ratio_msgs_ours_over_python_hl7": round(ours["msgs_per_s"] / pyhl7["msgs_per_s"], 1),
}))
PY
