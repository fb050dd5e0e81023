#!/usr/bin/env bash
# Installs what Switchboard needs to build, test and benchmark on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates \
  libboost-dev libssl-dev openssl libsqlite3-dev sqlite3 liblua5.4-dev \
  rapidjson-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev \
  clang libclang-rt-14-dev \
  python3 python3-hl7 nodejs npm netcat-openbsd procps >/dev/null
