#!/usr/bin/env bash
# MLLP end to end: send → commit → ACK → delivered to the file destination, with 1 and 8
# connections at durability "process", beside @medplum/hl7's Hl7Server (parse + ACK, no store)
# driven by the same load client on the same messages in the same run. Also resident memory
# idle and under load. Prints one JSON line per run and a summary with ratios.
#
# usage: bench/mllp/run.sh [BUILD_DIR]   (default build; needs tests/peers installed: npm ci)
#   ROUTE_WORKERS=N sets engine.route_workers for the Lua runs (default: one per core).
#   OUT_BASE=/dev/shm puts the file destinations' folders there (e.g. tmpfs) instead of inside the
#   data directory, to separate the engine from the filesystem's file-creation cost (both the
#   plain and the Lua -> file runs).
#
# Run directories are removed only when the script ends: on ext4 without a journal, creating a
# file skips inodes freed in the last minute or more (recently_deleted in find_inode_bit), so
# deleting one run's thousands of files right before the next run slows that run's deliveries.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SB=$BUILD/switchboard
LOAD=$BUILD/bench/mllp/mllp_load
PEERS=tests/peers
[ -x "$SB" ] && [ -x "$LOAD" ] || { echo "build first: bash tools/build.sh" >&2; exit 2; }
[ -d "$PEERS/node_modules/@medplum/hl7" ] || (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)
mapfile -t FIXTURES < <(ls fixtures/hl7v2/*.hl7 | grep -v -i batch | grep -v -i bad | head -40)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do nc -z 127.0.0.1 "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

declare -A RESULT
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}" "${OUT_BASE:-/nonexistent}"/sb-bench-out."$$".*' EXIT

# The file destination's folder for a run in DIR: under OUT_BASE when set (removed at exit with
# the run directories), else inside the data directory.
destination_folder() {
  if [ -n "${OUT_BASE:-}" ]; then
    local folder="$OUT_BASE/sb-bench-out.$$.${1##*/}"  # the run directory's name is unique
    mkdir -p "$folder" && echo "$folder"
  else
    echo "$1/data/out"
  fi
}

run_switchboard() {
  local conns=$1 per=$2
  local dir; dir=$(mktemp -d)
  CLEANUP+=("$dir")
  local out; out=$(destination_folder "$dir")
  local port; port=$(free_port)
  cat >"$dir/bench.lua" <<CFG
engine { durability = "process", log_level = "warn" }
channel "in" { type = "mllp", listen = "127.0.0.1:$port" }
destination "out" { type = "file", directory = "$out" }
route "all" { from = "in", to = "out" }
CFG
  "$SB" run "$dir/bench.lua" --data-dir "$dir/data" 2>"$dir/engine.log" &
  local pid=$!
  wait_port "$port"
  sleep 1
  local idle; idle=$(rss_kb $pid)
  local result
  result=$("$LOAD" --port "$port" --connections "$conns" --messages "$per" \
        --wait-dir "$out" --expect $((conns * per)) "${FIXTURES[@]}")
  local peak; peak=$(hwm_kb $pid)
  kill -TERM $pid; wait $pid || true
  echo "{\"peer\":\"switchboard\",\"durability\":\"process\",\"rss_idle_kb\":$idle,\"rss_peak_kb\":$peak,${result:1}"
  RESULT[sb_$conns]=$(echo "$result" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["delivered_per_sec"])')
}

run_medplum() {
  local conns=$1 per=$2
  local port; port=$(free_port)
  node "$PEERS/medplum_hl7_server.mjs" "$port" >/dev/null &
  local pid=$!
  wait_port "$port"
  local out
  out=$("$LOAD" --port "$port" --connections "$conns" --messages "$per" "${FIXTURES[@]}")
  kill -TERM $pid; wait $pid || true
  echo "{\"peer\":\"@medplum/hl7 Hl7Server\",${out:1}"
  RESULT[mp_$conns]=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["acked_per_sec"])')
}

# With the standard Lua mapping: MLLP -> store -> Lua (ADT -> canonical Patient, validated) ->
# file, and -> HTTP to a local sink (keep-alive, one connection, like a PMS endpoint).
mapfile -t ADT_FIXTURES < <(ls fixtures/hl7v2/ADT-A0[1348]*.hl7 fixtures/hl7v2/ADT-A31*.hl7)
run_switchboard_lua() {
  local target=$1 conns=$2 per=$3
  local dir; dir=$(mktemp -d)
  local port; port=$(free_port)
  local sink_pid="" destination wait_args
  local workers=${ROUTE_WORKERS:+", route_workers = $ROUTE_WORKERS"}
  if [ "$target" = http ]; then
    local http_port; http_port=$(free_port)
    "$BUILD/bench/mllp/http_sink" "$http_port" "$dir/count" &
    sink_pid=$!
    wait_port "$http_port"
    destination="destination \"out\" { type = \"http\", url = \"http://127.0.0.1:$http_port/api/v1/patients/{patient_id}\", method = \"PUT\" }"
    wait_args=(--wait-count-file "$dir/count")
  else
    local out; out=$(destination_folder "$dir")
    destination="destination \"out\" { type = \"file\", directory = \"$out\", filename = \"{id}.json\" }"
    wait_args=(--wait-dir "$out")
  fi
  cat >"$dir/bench.lua" <<CFG
engine { durability = "process", log_level = "warn", script_folders = { "$PWD/scripts/lua" }$workers }
channel "in" { type = "mllp", listen = "127.0.0.1:$port" }
$destination
route "patient" { from = "in", transform = "mappings/adt.lua:patient", to = "out" }
CFG
  "$SB" run "$dir/bench.lua" --data-dir "$dir/data" 2>"$dir/engine.log" &
  local pid=$!
  wait_port "$port"
  local out
  out=$("$LOAD" --port "$port" --connections "$conns" --messages "$per" \
        "${wait_args[@]}" --expect $((conns * per)) "${ADT_FIXTURES[@]}")
  local peak; peak=$(hwm_kb $pid)
  kill -TERM $pid; wait $pid || true
  [ -n "$sink_pid" ] && { kill $sink_pid; wait $sink_pid 2>/dev/null || true; }
  echo "{\"peer\":\"switchboard+lua->$target\",\"route_workers\":\"${ROUTE_WORKERS:-default}\",\"rss_peak_kb\":$peak,${out:1}"
  RESULT[lua_${target}_$conns]=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["delivered_per_sec"])')
  rm -rf "$dir"
}

N1=${N1:-10000}
N8=${N8:-5000}
run_switchboard 1 "$N1"
run_medplum 1 "$N1"
run_switchboard 8 "$N8"
run_medplum 8 "$N8"
run_switchboard_lua file 8 "$N8"
run_switchboard_lua http 8 "$N8"
echo "{\"summary\":\"mllp + lua\",\"lua_file_8conn_delivered_per_sec\":${RESULT[lua_file_8]},\"lua_http_8conn_delivered_per_sec\":${RESULT[lua_http_8]}}"
python3 - "${RESULT[sb_1]}" "${RESULT[mp_1]}" "${RESULT[sb_8]}" "${RESULT[mp_8]}" <<'PY'
import sys
sb1, mp1, sb8, mp8 = map(float, sys.argv[1:])
print('{"summary":"mllp end to end","switchboard_1conn_delivered_per_sec":%.0f,'
      '"medplum_1conn_acked_per_sec":%.0f,"ratio_1conn":%.2f,'
      '"switchboard_8conn_delivered_per_sec":%.0f,"medplum_8conn_acked_per_sec":%.0f,'
      '"ratio_8conn":%.2f}' % (sb1, mp1, sb1 / mp1, sb8, mp8, sb8 / mp8))
PY
