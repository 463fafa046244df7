#!/usr/bin/env bash
# Runs KestrelWsTransport (samples/EchoServer), ASP.NET Core's WebSockets middleware (bench/Peers middleware) and a raw
# Kestrel echo (bench/Peers raw) under the same load from bench/LoadTool, and prints medians and ratios. Each server is
# pinned to one core and the load tool to the other (taskset). Every throughput scenario gets fresh servers, each warmed
# up with that scenario alone: a server warmed up with all the scenarios in turn (as this script did until 2026-11-26)
# measured the 32 B echo 10-20% lower after the deflate and bulk runs than after the echo alone.
# ORDER=interleaved (the default since the fifth session of 2026-11-26): the servers of a scenario are started together
# (all on SERVER_CPU, idle while another is measured), warmed up one after another, then measured in rounds, one run of
# each server per round, the order rotated every round. So the three servers of a ratio are measured within a minute of
# each other, and a slow minute of the machine (the raw echo moved 25% between whole runs of this script) touches them
# alike instead of landing on one server's three runs. ORDER=sequential: each server's runs in a row, one server after
# the other (the older way). Results (JSON per run, summary.md, server logs, environment.txt) go to OUT.
#
#   bench/run-comparison.sh                          # everything, defaults below (about 25 minutes)
#   DURATION=5 WARMUP=5 RUNS=1 IDLE_CONNECTIONS=1000 bench/run-comparison.sh   # a quick look
#   SERVERS="kestrelws middleware" SCENARIOS="echo" bench/run-comparison.sh
#   SERVERS="kestrelws middleware" SCENARIOS="deflate idle-deflate" bench/run-comparison.sh   # compression only
#
# Scenarios: echo, bulk, handshake, idle (as before), and for permessage-deflate (kestrelws and middleware only; the raw
# echo has no WebSocket):
#   deflate       three echo runs with the same JSON messages (--payload json, every echo checked byte for byte):
#                 echo-json (uncompressed, the reference), deflate (context takeover both ways, what browsers get by
#                 default) and deflate-nct (client_ and server_no_context_takeover); each reports msg/s and the wire
#                 bytes per payload byte in each direction.
#   idle-deflate  memory per idle connection that has exchanged one JSON message (--prime): idle-json (no
#                 compression), idle-deflate, idle-deflate-nct; each on a fresh server.
#   allocations   one echo and one handshake run per server with --server-allocations (what the server allocates per
#                 message and per handshake, by type; ALLOCATIONS_WARMUP s of warm-up, default 15), reported apart.
# The middleware is started with --compression true (DangerousEnableCompression, used only when a client offers it).
#
# Settings (environment): DURATION (s measured per run, default 10), WARMUP (s of warm-up of each scenario's fresh
# server, default 30), RUNS (default 3), IDLE_CONNECTIONS (default 10000), IDLE_DEFLATE_CONNECTIONS
# (default 2000), SCENARIOS (default "echo bulk handshake idle deflate idle-deflate allocations"), SERVERS (default "kestrelws
# middleware raw"), SERVER_CPU / TOOL_CPU (cores, default 0/1), ECHO_ARGS / BULK_ARGS / HANDSHAKE_ARGS / IDLE_ARGS /
# DEFLATE_ARGS / IDLE_DEFLATE_ARGS (load tool options), SKIP_BUILD=1 (reuse the last build), BIN (where the builds go,
# default artifacts/bench/bin), PORT_BASE (servers listen on PORT_BASE+1..3, default 5200), ORDER (interleaved or
# sequential, default interleaved), OUT (default
# artifacts/bench/comparison-<time>). DOTNET_* variables (DOTNET_gcServer=0, DOTNET_TieredPGO=0, ...) reach the servers
# unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-10}
# Each scenario's own code paths need tiered JIT and PGO to settle: measured with the handshake, 5 s of warm-up left
# our server at 9.5 k handshakes/s and 40 s at 12.0 k.
WARMUP=${WARMUP:-30}
RUNS=${RUNS:-3}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
IDLE_DEFLATE_CONNECTIONS=${IDLE_DEFLATE_CONNECTIONS:-2000}
SCENARIOS=${SCENARIOS:-"echo bulk handshake idle deflate idle-deflate allocations"}
ALLOCATIONS_WARMUP=${ALLOCATIONS_WARMUP:-15}
SERVERS=${SERVERS:-"kestrelws middleware raw"}
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
ECHO_ARGS=${ECHO_ARGS:-"--connections 64 --in-flight 16 --size 32"}
BULK_ARGS=${BULK_ARGS:-"--connections 8 --in-flight 1 --size 1048576"}
HANDSHAKE_ARGS=${HANDSHAKE_ARGS:-"--concurrency 32 --size 32"}
IDLE_ARGS=${IDLE_ARGS:-"--settle 5"}
DEFLATE_ARGS=${DEFLATE_ARGS:-"--connections 64 --in-flight 16 --payload json"}
IDLE_DEFLATE_ARGS=${IDLE_DEFLATE_ARGS:-"--settle 5 --prime --payload json"}
OUT=${OUT:-artifacts/bench/comparison-$(date +%Y%m%d-%H%M%S)}
BIN=${BIN:-artifacts/bench/bin}
PORT_BASE=${PORT_BASE:-5200}
ORDER=${ORDER:-interleaved}
case $ORDER in interleaved|sequential) ;; *) echo "ORDER is interleaved or sequential, not $ORDER" >&2; exit 2 ;; esac
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Idle holds up to 10,000 sockets in each process; the per-process limit here is 20,000.
ulimit -n 20000
if (( IDLE_CONNECTIONS + 200 > 20000 || IDLE_DEFLATE_CONNECTIONS + 200 > 20000 )); then
  echo "IDLE_CONNECTIONS=$IDLE_CONNECTIONS / IDLE_DEFLATE_CONNECTIONS=$IDLE_DEFLATE_CONNECTIONS do not fit the 20,000 open-file limit" >&2
  exit 2
fi
for s in $SCENARIOS; do
  case $s in echo|bulk|handshake|idle|deflate|idle-deflate|allocations) ;; *) echo "unknown scenario $s" >&2; exit 2 ;; esac
done

mkdir -p "$OUT" "$OUT/allocations"
log() { printf '\n=== %s  %s\n' "$(date +%H:%M:%S)" "$*"; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "publishing Release builds to $BIN (a snapshot, so a rebuild by someone else cannot change a running server)"
  dotnet publish samples/EchoServer -c Release -o "$BIN/echoserver" --nologo -v quiet
  dotnet publish bench/Peers -c Release -o "$BIN/peers" --nologo -v quiet
  dotnet publish bench/LoadTool -c Release -o "$BIN/loadtool" --nologo -v quiet
fi

{
  echo "started: $(date -Is)"
  echo "command: ${BASH_SOURCE[0]} (ORDER=$ORDER DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS IDLE_CONNECTIONS=$IDLE_CONNECTIONS IDLE_DEFLATE_CONNECTIONS=$IDLE_DEFLATE_CONNECTIONS SCENARIOS='$SCENARIOS' SERVERS='$SERVERS' PORT_BASE=$PORT_BASE BIN=$BIN)"
  echo "echo: $ECHO_ARGS | bulk: $BULK_ARGS | handshake: $HANDSHAKE_ARGS | idle: $IDLE_ARGS | deflate: $DEFLATE_ARGS | idle-deflate: $IDLE_DEFLATE_ARGS"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
  echo "kernel: $(uname -r); cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
  echo "dotnet: $(dotnet --version); runtime: $(dotnet --list-runtimes | grep NETCore.App | tail -1)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  env | grep -E '^DOTNET_' | grep -v -E 'TELEMETRY|NOLOGO' || true
} > "$OUT/environment.txt"
cat "$OUT/environment.txt"

loadtool() { taskset -c "$TOOL_CPU" dotnet "$BIN/loadtool/LoadTool.dll" "$@"; }

SERVER_PID=""
# Servers started by the interleaved order, by label: pid, URL and client kind.
declare -A PIDS=() URLS=() CLIENTS=()
stop_pid() {
  local pid=$1
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }
stop_all() {
  stop_server
  for label in "${!PIDS[@]}"; do stop_pid "${PIDS[$label]}"; done
  PIDS=() URLS=() CLIENTS=()
}
trap stop_all EXIT

# Sets PORT, URL, CLIENT and starts the server pinned to SERVER_CPU; SERVER_PID is the dotnet process itself.
start_server() {
  local label=$1 log=$2
  case $label in
    kestrelws)  PORT=$(( PORT_BASE + 1 )); URL=ws://127.0.0.1:$PORT/echo; CLIENT=fast
                (cd "$BIN/echoserver" && exec taskset -c "$SERVER_CPU" dotnet EchoServer.dll --urls "http://127.0.0.1:$PORT") >"$log" 2>&1 & ;;
    middleware) PORT=$(( PORT_BASE + 2 )); URL=ws://127.0.0.1:$PORT/echo; CLIENT=fast
                (cd "$BIN/peers" && exec taskset -c "$SERVER_CPU" dotnet Peers.dll middleware --urls "http://127.0.0.1:$PORT" --compression true) >"$log" 2>&1 & ;;
    raw)        PORT=$(( PORT_BASE + 3 )); URL=tcp://127.0.0.1:$PORT; CLIENT=raw
                (cd "$BIN/peers" && exec taskset -c "$SERVER_CPU" dotnet Peers.dll raw --urls "http://127.0.0.1:$PORT") >"$log" 2>&1 & ;;
    *) echo "unknown server $label" >&2; exit 2 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$label did not start:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  echo "$label is not listening on $PORT after 20 s" >&2
  exit 1
}

# The load tool runs a throughput scenario of this script is made of, one per line: "result name|command|options".
# The result name is the scenario the load tool writes into its JSON (it names content-mode runs itself).
runs_of() {
  case $1 in
    echo) echo "echo|echo|$ECHO_ARGS" ;;
    bulk) echo "bulk|bulk|$BULK_ARGS" ;;
    handshake) echo "handshake|handshake|$HANDSHAKE_ARGS" ;;
    deflate)
      echo "echo-json|echo|$DEFLATE_ARGS"
      echo "deflate|echo|$DEFLATE_ARGS --deflate"
      echo "deflate-nct|echo|$DEFLATE_ARGS --deflate --no-context-takeover" ;;
  esac
}

# The idle variants of idle-deflate, each on a fresh server: "result name|options".
idle_deflate_runs() {
  echo "idle-json|$IDLE_DEFLATE_ARGS"
  echo "idle-deflate|$IDLE_DEFLATE_ARGS --deflate"
  echo "idle-deflate-nct|$IDLE_DEFLATE_ARGS --deflate --no-context-takeover"
}

# Whether a server speaks WebSocket (the raw echo does not: no compression scenarios for it).
has_websocket() { [[ $1 != raw ]]; }

# One measured run of a throughput scenario ("result name|command|options") against a running server.
measure() {
  local label=$1 pid=$2 url=$3 client=$4 name=$5 command=$6 args=$7 run=$8
  log "$label: $name, run $run of $RUNS"
  # shellcheck disable=SC2086
  loadtool "$command" "$url" --client "$client" $args --warmup 2 --duration "$DURATION" \
    --server-pid "$pid" --label "$label" --json "$OUT/$label-$name-$run.json" \
    | grep -E 'messages/s|MB/s|handshakes/s|latency|errors|CPU|accepted|payload / wire|differing|PROBLEM' \
    || echo "($label $name run $run reported errors or failed)"
}

if [[ $ORDER == interleaved ]]; then
  for s in $SCENARIOS; do
    [[ $s == idle || $s == idle-deflate || $s == allocations ]] && continue
    mapfile -t scenario_runs < <(runs_of "$s")
    for r in "${scenario_runs[@]}"; do
      IFS='|' read -r name command args <<< "$r"
      labels=()
      for label in $SERVERS; do
        if [[ $s == deflate ]] && ! has_websocket "$label"; then continue; fi
        labels+=("$label")
      done
      for label in "${labels[@]}"; do
        start_server "$label" "$OUT/$label.$name.server.log"
        PIDS[$label]=$SERVER_PID URLS[$label]=$URL CLIENTS[$label]=$CLIENT
        SERVER_PID=""
      done
      for label in "${labels[@]}"; do
        log "$label (pid ${PIDS[$label]}, core $SERVER_CPU): $name, warm-up ${WARMUP} s"
        # shellcheck disable=SC2086
        loadtool "$command" "${URLS[$label]}" --client "${CLIENTS[$label]}" $args --warmup 0 --duration "$WARMUP" --label "$label" >/dev/null || true
      done
      n=${#labels[@]}
      for run in $(seq "$RUNS"); do
        for i in $(seq 0 $(( n - 1 ))); do
          label=${labels[$(( (i + run - 1) % n ))]}
          measure "$label" "${PIDS[$label]}" "${URLS[$label]}" "${CLIENTS[$label]}" "$name" "$command" "$args" "$run"
        done
      done
      stop_all
    done
  done
fi

for label in $SERVERS; do
  runs=()
  for s in $SCENARIOS; do
    [[ $ORDER == interleaved ]] && break
    [[ $s == idle || $s == idle-deflate || $s == allocations ]] && continue
    if [[ $s == deflate ]] && ! has_websocket "$label"; then
      log "$label: no WebSocket, no $s scenario"
      continue
    fi
    mapfile -t -O "${#runs[@]}" runs < <(runs_of "$s")
  done

  for r in "${runs[@]}"; do
    IFS='|' read -r name command args <<< "$r"
    start_server "$label" "$OUT/$label.$name.server.log"
    log "$label (pid $SERVER_PID, core $SERVER_CPU): $name, warm-up ${WARMUP} s"
    # shellcheck disable=SC2086
    loadtool "$command" "$URL" --client "$CLIENT" $args --warmup 0 --duration "$WARMUP" --label "$label" >/dev/null || true
    for run in $(seq "$RUNS"); do
      measure "$label" "$SERVER_PID" "$URL" "$CLIENT" "$name" "$command" "$args" "$run"
    done
    stop_server
  done

  if [[ " $SCENARIOS " == *" idle "* ]]; then
    # A fresh server: its memory before the connections is its idle baseline. A few connections first, so the code
    # paths are compiled before the baseline is read.
    start_server "$label" "$OUT/$label.idle.server.log"
    log "$label (pid $SERVER_PID): idle, $IDLE_CONNECTIONS connections"
    loadtool idle "$URL" --client "$CLIENT" --connections 200 --settle 1 >/dev/null || true
    # shellcheck disable=SC2086
    loadtool idle "$URL" --client "$CLIENT" --connections "$IDLE_CONNECTIONS" $IDLE_ARGS \
      --server-pid "$SERVER_PID" --label "$label" --json "$OUT/$label-idle-1.json" \
      | grep -E 'opened|echoed|RSS|per connection|open files|errors' || echo "($label idle reported errors or failed)"
    stop_server
  fi

  if [[ " $SCENARIOS " == *" idle-deflate "* ]] && has_websocket "$label"; then
    # Memory per idle connection that exchanged one JSON message, without and with compression: each variant on a
    # fresh server, 200 connections of the same kind first (compiled paths, and the codec pools a server may keep).
    mapfile -t idle_runs < <(idle_deflate_runs)
    for r in "${idle_runs[@]}"; do
      IFS='|' read -r name args <<< "$r"
      start_server "$label" "$OUT/$label.$name.server.log"
      log "$label (pid $SERVER_PID): $name, $IDLE_DEFLATE_CONNECTIONS connections"
      # A short first round (200 connections, 1 s settle) brings in the code paths; the load tool takes --settle once.
      # shellcheck disable=SC2086
      loadtool idle "$URL" --client "$CLIENT" $(sed -E 's/--settle [0-9]+//' <<<"$args") --connections 200 --settle 1 >/dev/null \
        || echo "($label $name: the warm-up round failed)"
      # shellcheck disable=SC2086
      loadtool idle "$URL" --client "$CLIENT" $args --connections "$IDLE_DEFLATE_CONNECTIONS" \
        --server-pid "$SERVER_PID" --label "$label" --json "$OUT/$label-$name-1.json" \
        | grep -E 'opened|echoed|RSS|per connection|open files|accepted|errors|PROBLEM' || echo "($label $name reported errors or failed)"
      stop_server
    done
  fi
done

if [[ " $SCENARIOS " == *" allocations "* ]]; then
  # What each server allocates per echoed message and per handshake, by type: one run of each on a fresh server with
  # an EventPipe session sampling GC AllocationTick events (reported apart from the speed figures).
  for label in $SERVERS; do
    for r in "echo|$ECHO_ARGS" "handshake|$HANDSHAKE_ARGS"; do
      IFS='|' read -r name args <<< "$r"
      start_server "$label" "$OUT/$label.allocations-$name.server.log"
      log "$label (pid $SERVER_PID): allocations, $name"
      # shellcheck disable=SC2086
      loadtool "$name" "$URL" --client "$CLIENT" $args --warmup "$ALLOCATIONS_WARMUP" --duration "$DURATION" \
        --server-pid "$SERVER_PID" --server-allocations --label "$label" --json "$OUT/allocations/$label-$name.json" \
        | grep -E 'messages/s|handshakes/s|allocated|errors' || echo "($label allocations $name reported errors or failed)"
      stop_server
    done
  done
fi

log "summary ($OUT)"
echo "finished: $(date -Is)" >> "$OUT/environment.txt"
dotnet "$BIN/loadtool/LoadTool.dll" report "$OUT" --subject kestrelws --markdown "$OUT/summary.md" --json "$OUT/summary.json"
echo "Markdown table: $OUT/summary.md"

# PNG charts of this comparison (LoadTool chart: a bar chart per figure, the ratios against the issue's targets), by
# default into docs/benchmarks/ with stable names; CHARTS=dir writes them elsewhere, CHARTS= (empty) skips them.
CHARTS=${CHARTS-docs/benchmarks}
if [[ -n $CHARTS ]]; then
  log "charts ($CHARTS)"
  dotnet "$BIN/loadtool/LoadTool.dll" chart "$OUT" --to "$CHARTS" --subject kestrelws || { echo "charts failed (the results in $OUT are complete)" >&2; exit 1; }
fi
