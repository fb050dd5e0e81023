#!/usr/bin/env bash
# Installs what Switchboard needs to build, test and benchmark on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-dev libssl-dev openssl libsqlite3-dev sqlite3 zlib1g-dev liblua5.4-dev
  rapidjson-dev libfmt-dev libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-hl7 netcat-openbsd procps
  openssh-server openssh-client
)
# Node.js runs the npm test peers (@medplum/hl7). Machines that already have a Node.js (e.g.
# from NodeSource, with its own npm) keep it: Debian's npm package conflicts with those.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
