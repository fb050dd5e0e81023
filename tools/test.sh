#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install, build, run every test.
#   1. Release build, all tests (unit, component, e2e with the real binary and real peers)
#   2. ASan+UBSan build, the unit-labelled tests
#   3. libFuzzer targets built with clang and run briefly on the fixtures
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

bash tools/install-deps.sh
# Real peers for interop tests (npm registry): @medplum/hl7's Hl7Server.
if [ -f tests/peers/package.json ]; then
  (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== Release build and all tests"
BUILD_DIR=build bash tools/build.sh -DSWITCHBOARD_BENCH=ON
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 900)

echo "== ASan+UBSan build, unit tests"
# -Werror gates the Release build above. Under -fsanitize, g++ 12 reports maybe-uninitialized in
# libstdc++'s own std::function/std::regex (a known false positive), so warnings stay warnings here.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_SANITIZE=ON \
  -DSWITCHBOARD_BENCH=OFF -DSWITCHBOARD_WERROR=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
# The suppressions' path is taken before the cd: "$PWD" inside the subshell would name build-asan,
# and LeakSanitizer reads the file only when it has a leak to report, so a wrong path went
# unnoticed until the libssh2 leak it is there for came up and the file could not be read.
LSAN_SUPPRESSIONS="$PWD/tools/lsan.supp"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$LSAN_SUPPRESSIONS:print_suppressions=0" ctest --output-on-failure -j"$JOBS" -L unit --timeout 900)

echo "== Fuzz targets (short run each)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DSWITCHBOARD_FUZZ=ON -DSWITCHBOARD_TESTS=OFF \
  -DSWITCHBOARD_BENCH=OFF -DSWITCHBOARD_WERROR=OFF >/dev/null
# Only the fuzz targets: the parsers are what peers feed, and they build on their own.
fuzz_targets=$(cmake --build build-fuzz --target help | sed -n 's/^\([a-z0-9_]*fuzz_[a-z0-9_]*\):.*/\1/p')
cmake --build build-fuzz -j"$JOBS" --target $fuzz_targets
for fuzzer in $(find build-fuzz -type f -name "fuzz_*" -perm -u+x); do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  corpus=$(mktemp -d)
  # Seeds: the fixtures of the parser's own format, good and broken.
  case "$name" in
    fuzz_x12) seeds="fixtures/x12/valid fixtures/x12/invalid" ;;
    *) seeds=fixtures/hl7v2 ;;
  esac
  # shellcheck disable=SC2086  # several seed folders
  "$fuzzer" -max_total_time=30 -max_len=65536 "$corpus" $seeds 2>&1 | tail -n 2
  rm -rf "$corpus"
  echo "$name: no crash in 30 s"
done
