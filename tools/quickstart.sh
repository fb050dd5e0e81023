#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install, build, run the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh -DSWITCHBOARD_TESTS=OFF -DSWITCHBOARD_BENCH=OFF
exec ./build/switchboard run examples/quickstart/switchboard.lua "$@"
