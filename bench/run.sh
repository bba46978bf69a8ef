#!/usr/bin/env bash
# The benchmark harness: every scenario against Chinwag and every peer, on this machine, fairly.
#
# Usage:
#   bench/run.sh [--out DIR] [--runs N] [--scenarios LIST] [--targets LIST] [--quick]
#                [--chinwag-bin PATH] [--no-build]
#
#   --out DIR         where results go (default bench/results/<UTC date>-<host>)
#   --runs N          runs per target and scenario, interleaved across targets (default 3);
#                     bench/summarize.py reports the median
#   --scenarios LIST  comma-separated, from: noise,fanout,idle,durable,payload,slow,storm,chat
#                     (default all of them)
#   --targets LIST    comma-separated, from: chinwag,chinwag-nosync,chinwag-mem,chinwag-pg,
#                     chinwag-cluster,ws,uws,socketio,socketioxide
#                     (default chinwag,ws,uws,socketio,socketioxide; durable runs for chinwag*
#                     only)
#   --quick           short steps and small counts, to check the harness (not for publishing)
#   --chinwag-bin P   the chinwag binary to measure (default target/release/chinwag, built)
#   --no-build        do not run cargo build
#
# Fairness rules kept here: the server is pinned to CPU 0 and the generator to CPU 1 (taskset);
# the machine must be idle before every run (CPU busy < IDLE_MAX_PCT over 2 s, no cargo/rustc),
# waiting up to IDLE_WAIT_SECS, and the measured busy share is stored with every result;
# compression and TLS are off everywhere; Chinwag runs with persistence on (SQLite WAL,
# synchronous=FULL) and raised rate limits (see docs/benchmarks.md), `chinwag-nosync` with
# synchronous=NORMAL, `chinwag-mem` with synchronous=NORMAL and its data directory on tmpfs
# (/dev/shm: persistence off in effect, the SQLite work still done). `chinwag-pg` is one node on
# PostgreSQL and Redis, `chinwag-cluster` three nodes on them (all pinned to the server CPU,
# clients spread over the nodes round-robin, CPU and memory summed over the nodes; PostgreSQL and
# Redis are the machine's own services, not pinned, and not counted), each run in a schema and
# channel prefix of its own. All traffic stays on 127.0.0.x; every load step is bounded in time.
#
# Environment: IDLE_MAX_PCT (15), IDLE_WAIT_SECS (1800), SERVER_CPU (0), GEN_CPU (1),
# PAYLOAD_RUNS (default --runs), FANOUT_RATES (default 100,200,300,500,1000,2000 msg/s),
# CHAT_RATES (default 2000,5000,10000 sends/s), SLOW_RATE_<target> (the slow scenario's publish
# rate per target, msg/s; see slow_rate below), IDLE_N (default 10000; above 19000 the
# generator runs as several processes, IDLE_PROCS of them, default 4),
# PORT_OFFSET (added to every server port, default 0; the echo server of `noise` included),
# BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/test) and BENCH_REDIS_URL
# (redis://127.0.0.1:6379) for chinwag-pg and chinwag-cluster,
# BENCH_CHINWAG_VERSION (recorded instead of the git HEAD).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out="bench/results/$(date -u +%Y%m%d-%H%M)"
runs=3
scenarios="noise,fanout,idle,durable,payload,slow,storm,chat"
targets="chinwag,ws,uws,socketio,socketioxide"
quick=0
chinwag_bin="target/release/chinwag"
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --scenarios) scenarios="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --chinwag-bin) chinwag_bin="$2"; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

IDLE_MAX_PCT=${IDLE_MAX_PCT:-15}
IDLE_WAIT_SECS=${IDLE_WAIT_SECS:-1800}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PAYLOAD_RUNS=${PAYLOAD_RUNS:-$runs}
SECRET="chinwag-bench-token-secret-0123456789"

idle_n_env=${IDLE_N:-}
if [ "$quick" = 1 ]; then
  FANOUT_ARGS=(--members 200 --rates 100,1000 --step-secs 2)
  PAYLOAD_ARGS=(--members 200 --rates 200 --step-secs 2)
  IDLE_N=1000
  DURABLE_ARGS=(--senders 50 --window 4 --secs 3 --warmup-secs 1)
  NOISE_ARGS=(--count 2000 --gapped 200)
  SLOW_ARGS=(--members 200 --baseline-secs 3 --slow-secs 10 --recover-secs 20 --drain-secs 3)
  STORM_ARGS=(--connections 1000 --window-secs 1)
  CHAT_ARGS=(--users 1000 --warmup-secs 2 --secs 5)
  CHAT_RATE_LIST=${CHAT_RATES:-500}
else
  FANOUT_ARGS=(--members 1000 --rates "${FANOUT_RATES:-100,200,300,500,1000,2000}" --step-secs 5)
  PAYLOAD_ARGS=(--members 1000 --rates 200 --step-secs 5)
  IDLE_N=10000
  DURABLE_ARGS=(--senders 200 --window 4 --secs 10 --warmup-secs 2)
  NOISE_ARGS=(--count 20000 --gapped 2000)
  # The slow phase is long enough for Chinwag's limits to cut the slow members off (their kernel
  # buffers and the 8,192-frame queue fill at the publish rate; about 55 s at 250 msg/s); for
  # Chinwag it ends 5 s after the last cut-off.
  SLOW_ARGS=(--members 1000 --baseline-secs 20 --slow-secs 90 --recover-secs 60)
  STORM_ARGS=(--connections 10000 --window-secs 1)
  CHAT_ARGS=(--users 10000 --warmup-secs 5 --secs 30)
  CHAT_RATE_LIST=${CHAT_RATES:-2000,5000,10000}
fi
IDLE_N=${idle_n_env:-$IDLE_N}
IDLE_PROCS=${IDLE_PROCS:-4}

# The slow scenario runs each server at half of the load it sustains: half the highest fan-out
# rate (1,000 members) at which it delivered 100 % without saturating its core in
# docs/benchmarks.md. Override with SLOW_RATE_<target> (dashes as underscores).
slow_rate() {
  local var="SLOW_RATE_${1//-/_}" def
  case "$1" in chinwag*) def=250 ;; uws) def=1000 ;; *) def=50 ;; esac
  echo "${!var:-$def}"
}
PAYLOAD_SIZES=(100 1024 16384 65536)

if [ "$build" = 1 ]; then
  cargo build --release -p chinwag -p chinwag-bench
fi
bench_bin="$root/target/release/chinwag-bench"
[ -x "$bench_bin" ] || { echo "missing $bench_bin: cargo build --release -p chinwag-bench" >&2; exit 1; }
if [[ ",$targets," =~ ,(ws|uws|socketio), ]] && [ ! -d bench/peers/node_modules ]; then
  bench/install-peers.sh node
fi
sioxide_bin="$root/bench/peers/socketioxide/target/release/chinwag-bench-peer-socketioxide"
if [[ ",$targets," =~ ,socketioxide, ]] && { [ "$build" = 1 ] || [ ! -x "$sioxide_bin" ]; }; then
  bench/install-peers.sh socketioxide
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# The share of both CPUs that was busy over 2 s, from /proc/stat.
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local total=0 idle=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(( (100 * (total - idle)) / (total > 0 ? total : 1) ))
}

builds_running() {
  local name
  for name in cargo rustc cc1 rust-lld ld; do pgrep -x "$name" >/dev/null && return 0; done
  return 1
}

# Wait until nothing else runs; prints the last busy share.
BUSY=0
wait_idle() {
  local waited=0
  while true; do
    BUSY=$(busy_pct)
    if [ "$BUSY" -lt "$IDLE_MAX_PCT" ] && ! builds_running; then
      return 0
    fi
    if [ "$waited" -ge "$IDLE_WAIT_SECS" ]; then
      log "machine still busy (${BUSY} %) after ${IDLE_WAIT_SECS} s: running anyway, recorded"
      return 0
    fi
    [ $((waited % 60)) -eq 0 ] && log "waiting for an idle machine (busy ${BUSY} %)"
    sleep 8; waited=$((waited + 10))
  done
}

SERVER_PID=""
DATA_DIR=""
MORE_PIDS=""
MORE_ADDRS=""
BENCH_SCHEMA=""
BENCH_POSTGRES_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
port_of() {
  local p
  case "$1" in chinwag) p=18080 ;; chinwag-nosync) p=18081 ;; chinwag-mem) p=18082 ;;
    chinwag-pg) p=18083 ;; chinwag-cluster) p=18084 ;; ws) p=19001 ;; uws) p=19003 ;; socketio) p=19002 ;; socketioxide) p=19004 ;; esac
  echo $((p + ${PORT_OFFSET:-0}))
}
protocol_of() { case "$1" in chinwag*) echo chinwag ;; socketioxide) echo socketio ;; *) echo "$1" ;; esac; }

# wait_port PORT PID NAME: until PORT accepts connections (and PID still runs).
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      sleep 0.5
      kill -0 "$2" 2>/dev/null && return 0
      break
    fi
    sleep 0.05
  done
  echo "server $3 did not start; see $out/server-$3.log" >&2
  exit 1
}

# start_nodes TARGET PORT N: N Chinwag nodes on PostgreSQL and Redis, ports PORT, PORT+1, ...
start_nodes() {
  local target=$1 port=$2 n=$3 i
  BENCH_SCHEMA="chinwag_bench_$(date +%s%N)"
  DATA_DIR=$(mktemp -d /tmp/chinwag-bench-data.XXXXXX)
  MORE_PIDS="" MORE_ADDRS=""
  for i in $(seq 0 $((n - 1))); do
    mkdir -p "$DATA_DIR/$i"
    CHINWAG_AUTH__TOKEN_SECRET="$SECRET" \
    CHINWAG_LOG=warn \
    CHINWAG_LIMITS__REQUESTS_PER_SECOND=1000000 \
    CHINWAG_LIMITS__USER_REQUESTS_PER_SECOND=1000000 \
    CHINWAG_STORE__URL="$BENCH_POSTGRES_URL" CHINWAG_STORE__SCHEMA="$BENCH_SCHEMA" \
    CHINWAG_BROKER__URL="$BENCH_REDIS_URL" CHINWAG_BROKER__PREFIX="$BENCH_SCHEMA:" \
      taskset -c "$SERVER_CPU" "$chinwag_bin" serve --listen "127.0.0.1:$((port + i))" \
      --data-dir "$DATA_DIR/$i" >"$out/server-$target-$i.log" 2>&1 &
    local pid=$!
    # The first node creates the schema; the others start once it is there.
    wait_port "$((port + i))" "$pid" "$target-$i"
    if [ "$i" = 0 ]; then
      SERVER_PID=$pid
    else
      MORE_PIDS="${MORE_PIDS:+$MORE_PIDS,}$pid"
      MORE_ADDRS="${MORE_ADDRS:+$MORE_ADDRS,}127.0.0.1:$((port + i))"
    fi
  done
}

start_server() {
  local target=$1 port
  port=$(port_of "$target")
  # A server left over (or someone else's) on the port would be measured instead of ours.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use by another process: stop it first" >&2
    exit 1
  fi
  case "$target" in
    chinwag-pg) start_nodes "$target" "$port" 1; return 0 ;;
    chinwag-cluster) start_nodes "$target" "$port" 3; return 0 ;;
    chinwag|chinwag-nosync|chinwag-mem)
      local sync=true base=/tmp
      [ "$target" != chinwag ] && sync=false
      [ "$target" = chinwag-mem ] && base=/dev/shm
      DATA_DIR=$(mktemp -d "$base/chinwag-bench-data.XXXXXX")
      CHINWAG_AUTH__TOKEN_SECRET="$SECRET" \
      CHINWAG_LOG=warn \
      CHINWAG_LIMITS__REQUESTS_PER_SECOND=1000000 \
      CHINWAG_LIMITS__USER_REQUESTS_PER_SECOND=1000000 \
      CHINWAG_STORE__SYNCHRONOUS_FULL=$sync \
        taskset -c "$SERVER_CPU" "$chinwag_bin" serve --listen "127.0.0.1:$port" --data-dir "$DATA_DIR" \
        >"$out/server-$target.log" 2>&1 &
      SERVER_PID=$! ;;
    ws|uws|socketio)
      local script=$target-server.js
      taskset -c "$SERVER_CPU" node "bench/peers/$script" "$port" >"$out/server-$target.log" 2>&1 &
      SERVER_PID=$! ;;
    socketioxide)
      taskset -c "$SERVER_CPU" "$sioxide_bin" "$port" >"$out/server-$target.log" 2>&1 &
      SERVER_PID=$! ;;
  esac
  wait_port "$port" "$SERVER_PID" "$target"
}

stop_server() {
  local pid
  for pid in $SERVER_PID ${MORE_PIDS//,/ }; do
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PID="" MORE_PIDS="" MORE_ADDRS=""
  if [ -n "$BENCH_SCHEMA" ]; then
    psql "$BENCH_POSTGRES_URL" -q -c "DROP SCHEMA IF EXISTS \"$BENCH_SCHEMA\" CASCADE" >/dev/null 2>&1 || true
    BENCH_SCHEMA=""
  fi
  if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
}
trap stop_server EXIT

# run_one FILE SCENARIO TARGET RUN EXTRA-ARGS...: one measured run, appended to $out/FILE.jsonl.
run_one() {
  local file=$1 scenario=$2 target=$3 run=$4; shift 4
  wait_idle
  local busy=$BUSY
  start_server "$target"
  log "$scenario $target run $run (machine busy ${busy} % before)"
  local line
  local nodes=()
  [ -n "$MORE_ADDRS" ] && nodes=(--more-addrs "$MORE_ADDRS" --more-pids "$MORE_PIDS")
  if line=$(taskset -c "$GEN_CPU" "$bench_bin" "$scenario" --target "$(protocol_of "$target")" \
      --addr "127.0.0.1:$(port_of "$target")" --server-pid "$SERVER_PID" --label "$target" \
      --token-secret "$SECRET" "${nodes[@]}" "$@"); then
    printf '{"run":%d,"machine_busy_pct_before":%d,"result":%s}\n' "$run" "$busy" "$line" >>"$out/$file.jsonl"
  else
    log "$scenario $target run $run FAILED"
    printf '{"run":%d,"machine_busy_pct_before":%d,"failed":true,"target":"%s"}\n' "$run" "$busy" "$target" >>"$out/$file.jsonl"
  fi
  stop_server
}

IFS=, read -r -a target_list <<<"$targets"
{
  echo "{\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\","
  echo "\"kernel\":\"$(uname -r)\",\"node\":\"$(node --version 2>/dev/null || echo none)\",\"git\":\"${BENCH_CHINWAG_VERSION:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo -dirty)}\","
  echo "\"chinwag_bin\":\"$chinwag_bin\",\"runs\":$runs,\"quick\":$quick}"
} | jq -c . >"$out/machine.json"

for scenario in ${scenarios//,/ }; do
  case "$scenario" in
    noise)
      wait_idle
      taskset -c "$SERVER_CPU" "$bench_bin" echo --listen "127.0.0.1:$((17999 + ${PORT_OFFSET:-0}))" --max-secs 120 &
      echo_pid=$!
      sleep 0.3
      taskset -c "$GEN_CPU" "$bench_bin" noise --addr "127.0.0.1:$((17999 + ${PORT_OFFSET:-0}))" "${NOISE_ARGS[@]}" >>"$out/noise.jsonl"
      wait "$echo_pid" || true ;;
    fanout)
      for run in $(seq 1 "$runs"); do
        for t in "${target_list[@]}"; do run_one fanout fanout "$t" "$run" "${FANOUT_ARGS[@]}"; done
      done ;;
    payload)
      for run in $(seq 1 "$PAYLOAD_RUNS"); do
        for size in "${PAYLOAD_SIZES[@]}"; do
          for t in "${target_list[@]}"; do run_one payload fanout "$t" "$run" "${PAYLOAD_ARGS[@]}" --payload "$size" \
            --stop-below-pct 0; done
        done
      done
      ;;
    idle)
      idle_extra=()
      [ "$IDLE_N" -gt 19000 ] && idle_extra=(--procs "$IDLE_PROCS")
      for run in $(seq 1 "$runs"); do
        for t in "${target_list[@]}"; do run_one idle idle "$t" "$run" --connections "$IDLE_N" "${idle_extra[@]}"; done
      done ;;
    slow)
      for run in $(seq 1 "$runs"); do
        for t in "${target_list[@]}"; do run_one slow slow "$t" "$run" "${SLOW_ARGS[@]}" --rate "$(slow_rate "$t")"; done
      done ;;
    storm)
      for run in $(seq 1 "$runs"); do
        for t in "${target_list[@]}"; do run_one storm storm "$t" "$run" "${STORM_ARGS[@]}"; done
      done ;;
    chat)
      for run in $(seq 1 "$runs"); do
        for rate in ${CHAT_RATE_LIST//,/ }; do
          for t in "${target_list[@]}"; do run_one chat chat "$t" "$run" "${CHAT_ARGS[@]}" --rate "$rate"; done
        done
      done ;;
    durable)
      for run in $(seq 1 "$runs"); do
        for t in "${target_list[@]}"; do
          case "$t" in chinwag*) run_one durable durable "$t" "$run" "${DURABLE_ARGS[@]}" ;; esac
        done
      done ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
log "results in $out"
python3 bench/summarize.py "$out" || true
