#!/usr/bin/env bash
# Soak of samples/EchoServer under bench/LoadTool (issue 7; a documented command, not part of CI).
#
#   bench/soak.sh                                    # 10,000 connections, 180 s of traffic (about 6 minutes in all)
#   CONNECTIONS=1000 DURATION=30 bench/soak.sh       # a quick validation
#   SOAK_ARGS="--deflate" bench/soak.sh              # the same with permessage-deflate
#
# Publishes Release builds of the sample and the load tool to BIN (a snapshot: a rebuild by someone else cannot
# change a running server), raises the open-file limit (ulimit -n 20000), starts the sample, runs `LoadTool soak`
# against its /echo with --server-pid, stops the sample by its PID and prints the figures. The load tool checks that
# every message sent is echoed exactly once, in order and intact, closes every connection with a close handshake, and
# reads the sample's RSS, GC heap (a full GC induced over EventPipe) and open files at baseline, under load and after
# close until they are back within the tolerances.
#
# Settings (environment): CONNECTIONS (default 10000), DURATION (s of traffic, default 180), WARMUP (s of warm-up
# traffic before the baseline, default 10), PORT (default 5310), SOAK_ARGS (more load tool options: --interval,
# --burst, --max-in-flight, --settle, --settle-max, --rss-tolerance, --heap-tolerance, --files-tolerance, --deflate,
# ...), SERVER_ARGS (more sample options), SKIP_BUILD=1, BIN (default artifacts/bench/soak-bin), OUT (default
# artifacts/bench/soak-<time>). DOTNET_* variables reach the sample unchanged.
# Exit code: the load tool's (0 clean; 3 a message or connection problem; 4 memory or handles not back; 1-2 could not run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNECTIONS=${CONNECTIONS:-10000}
DURATION=${DURATION:-180}
WARMUP=${WARMUP:-10}
PORT=${PORT:-5310}
SOAK_ARGS=${SOAK_ARGS:-}
SERVER_ARGS=${SERVER_ARGS:-}
BIN=${BIN:-artifacts/bench/soak-bin}
OUT=${OUT:-artifacts/bench/soak-$(date +%Y%m%d-%H%M%S)}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Both processes hold CONNECTIONS sockets; the per-process limit here is 20,000.
ulimit -n 20000
if (( CONNECTIONS + 200 > 20000 )); then
  echo "CONNECTIONS=$CONNECTIONS does not fit the 20,000 open-file limit" >&2
  exit 2
fi

mkdir -p "$OUT"
log() { printf '\n=== %s  %s\n' "$(date +%H:%M:%S)" "$*"; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "publishing Release builds to $BIN"
  dotnet publish samples/EchoServer -c Release -o "$BIN/echoserver" --nologo -v quiet
  dotnet publish bench/LoadTool -c Release -o "$BIN/loadtool" --nologo -v quiet
fi

{
  echo "started: $(date -Is)"
  echo "command: ${BASH_SOURCE[0]} (CONNECTIONS=$CONNECTIONS DURATION=$DURATION WARMUP=$WARMUP PORT=$PORT SOAK_ARGS='$SOAK_ARGS' SERVER_ARGS='$SERVER_ARGS')"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
  echo "kernel: $(uname -r); cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
  echo "dotnet: $(dotnet --version); runtime: $(dotnet --list-runtimes | grep NETCore.App | tail -1)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  env | grep -E '^DOTNET_' | grep -v -E 'TELEMETRY|NOLOGO' || true
} > "$OUT/environment.txt"
cat "$OUT/environment.txt"

SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

log "starting the sample on 127.0.0.1:$PORT"
# shellcheck disable=SC2086
(cd "$BIN/echoserver" && exec dotnet EchoServer.dll --urls "http://127.0.0.1:$PORT" $SERVER_ARGS) >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the sample did not start:"; cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done
echo "sample pid $SERVER_PID, open-file limit $(awk '/Max open files/ {print $4}' "/proc/$SERVER_PID/limits")"

log "soak: $CONNECTIONS connections, $DURATION s"
status=0
# shellcheck disable=SC2086
timeout $(( DURATION + WARMUP + 1200 )) dotnet "$BIN/loadtool/LoadTool.dll" soak "ws://127.0.0.1:$PORT/echo" \
  --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
  --label kestrelws --json "$OUT/soak.json" $SOAK_ARGS | tee "$OUT/soak.txt" || status=$?

log "stopping the sample (pid $SERVER_PID)"
stop_server
echo "finished: $(date -Is)" >> "$OUT/environment.txt"
if grep -qE 'fail|Exception' "$OUT/server.log"; then
  echo "server log lines with fail/Exception: $(grep -cE 'fail|Exception' "$OUT/server.log") (see $OUT/server.log)"
fi
echo "results: $OUT (soak.json, soak.txt, server.log); load tool exit code $status"
exit "$status"
