#!/bin/bash
# Server memory per WebSocket with and without permessage-deflate, measured on samples/EchoServer.
# usage: bench/compression-memory/run.sh <compression true|false> <connections> [nocontext]
#   Needs: dotnet build samples/EchoServer; npm ci in tests/KestrelWsTransport.Interop/node (for Node's ws).
#   nocontext: the client offers server_no_context_takeover and client_no_context_takeover.
# Prints the server's RSS before and after opening the connections (each sent one ~2 KiB JSON message).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${PORT:-5190}
ulimit -n 20000
dotnet "$root/samples/EchoServer/bin/Debug/net10.0/EchoServer.dll" --contentRoot "$root/samples/EchoServer" \
  --urls "http://127.0.0.1:$port" --EchoServer:Compression "$1" --Logging:LogLevel:Default Warning > /tmp/compression-memory-server.log 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
sleep 3
before=$(awk '/VmRSS/ {print $2}' /proc/$spid/status)
NOCTX=${3:+1} node "$(dirname "$0")/probe.js" "ws://127.0.0.1:$port/echo" "$2" "$root/tests/KestrelWsTransport.Interop/node" > /tmp/compression-memory-client.log 2>&1 &
cpid=$!
for _ in $(seq 1 60); do grep -q ready /tmp/compression-memory-client.log && break; sleep 1; done
sleep 3
after=$(awk '/VmRSS/ {print $2}' /proc/$spid/status)
cat /tmp/compression-memory-client.log
echo "compression=$1 nocontext=${3:-no} connections=$2 rss_before_kib=$before rss_after_kib=$after per_connection_kib=$(( (after - before) / $2 ))"
kill $cpid 2>/dev/null || true
