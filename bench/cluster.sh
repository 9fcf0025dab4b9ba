#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Cachedash against a Redis Cluster of 3 primaries beside the same against one standalone Redis,
# in turns in one run (standalone, cluster, standalone, cluster), cached GET at 50 connections with
# a permissive limiter; then the seed's FastAPI service against the standalone Redis, for scale.
# Also counts, over 200 cached GETs one at a time, the Redis commands, socket writes and the nodes
# touched per GET in cluster mode. Not part of the test suite. Takes about 2 minutes.
#
# Env: DURATION (wrk run length, default 10s), PEER (the seed's directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
DURATION=${DURATION:-10s}
PEER=${PEER:-$(cd .. && pwd)/shared/peers/seed-fastapi}
PERMISSIVE=1000000000

need_packages wrk curl redis-server redis-tools python3-fastapi python3-uvicorn python3-redis python3-hiredis python3-uvloop python3-httptools
bin=$(release_binary)
rps() { wrk -t2 -c50 -d"$DURATION" "$1" 2>&1 | awk '/^Requests\/sec:/{printf "%.0f", $2}'; }
p99() { awk '$1=="99%"{print $2; exit}' "$tmp/wrk.txt"; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1==m{print $2}'; }

start_redis
# A cluster of 3 primaries on three free consecutive ports below 55535 (bus ports are +10000).
for _ in $(seq 50); do
    cp0=$(( (RANDOM % 20000) + 20000 ))
    ok=1
    for p in $cp0 $((cp0 + 1)) $((cp0 + 2)) $((cp0 + 10000)) $((cp0 + 10001)) $((cp0 + 10002)); do
        python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$p))" 2>/dev/null || ok=0
    done
    [ $ok = 1 ] && break
done
export CACHEDASH_CLUSTER_REPLICAS=0 CACHEDASH_CLUSTER_DIR="$tmp/cluster"
scripts/local-cluster.sh start "$cp0" >&2
trap 'scripts/local-cluster.sh stop "$cp0" > /dev/null; cleanup' EXIT
cluster_url="redis://127.0.0.1:$cp0"

port=$(free_port); base="http://127.0.0.1:$port"
run() { # URL -> req/s
    "$bin" --headless --port "$port" --redis-url "$1" --access-log off --rate-limit "$PERMISSIVE" \
        > "$tmp/cd.out" 2> "$tmp/cd.err" &
    local pid=$!
    wait_http "$base/livez"
    # A fresh report (30 s TTL): no expiry, and so no 1.5 s recomputation, inside a 10 s run.
    curl -s -o /dev/null -X POST "$base/reports/bench/refresh"
    curl -s -o /dev/null "$base/reports/bench"
    wrk -t2 -c50 -d"$DURATION" --latency "$base/reports/bench" > "$tmp/wrk.txt" 2>&1 || true
    awk '/^Requests\/sec:/{printf "%.0f", $2}' "$tmp/wrk.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
log "cached GET at 50 connections: standalone $redis_url, cluster $cluster_url, in turns"
s1=$(run "$redis_url"); s1p=$(p99)
c1=$(run "$cluster_url"); c1p=$(p99)
s2=$(run "$redis_url"); s2p=$(p99)
c2=$(run "$cluster_url"); c2p=$(p99)

log "per cached GET in cluster mode: commands, writes, nodes touched (200 GETs one at a time)"
"$bin" --headless --port "$port" --redis-url "$cluster_url" --access-log off --rate-limit "$PERMISSIVE" \
    > "$tmp/cd.out" 2> "$tmp/cd.err" &
pid=$!
wait_http "$base/livez"
region=bench
curl -s -o /dev/null "$base/reports/$region"
slot_report=$(redis-cli -p "$cp0" cluster keyslot "report:$region")
slot_limiter=$(redis-cli -p "$cp0" cluster keyslot "rate:sliding:127.0.0.1")
c0=$(metric "$base" cachedash_redis_commands_total); w0=$(metric "$base" cachedash_redis_writes_total)
for _ in $(seq 200); do curl -s -o /dev/null "$base/reports/$region"; done
c1n=$(metric "$base" cachedash_redis_commands_total); w1n=$(metric "$base" cachedash_redis_writes_total)
nodes=$(curl -s "$base/healthz" | python3 -c '
import json, sys
h = json.load(sys.stdin)
def owner(slot):
    for n in h["nodes"]:
        for r in n["slots"].split(","):
            a, _, b = r.partition("-")
            if int(a) <= slot <= int(b or a):
                return n["address"]
print(len({owner('"$slot_report"'), owner('"$slot_limiter"')}))')
kill "$pid"; wait "$pid" 2>/dev/null || true

log "the seed (FastAPI) against the standalone Redis, for scale"
sp=$(free_port)
if [ -x "$PEER/run.sh" ]; then
    RATE_LIMIT=$PERMISSIVE "$PEER/run.sh" "$sp" "$redis_url" --no-access-log --log-level warning > "$tmp/seed.log" 2>&1 &
    seed_pid=$!; pids+=("$seed_pid")
    wait_http "http://127.0.0.1:$sp/docs"
    curl -s -o /dev/null "http://127.0.0.1:$sp/reports/bench"
    seed=$(rps "http://127.0.0.1:$sp/reports/bench")
    kill "$seed_pid"; wait "$seed_pid" 2>/dev/null || true
else
    seed=0
fi

smean=$(( (s1 + s2) / 2 )); cmean=$(( (c1 + c2) / 2 ))
echo
echo "Cluster benchmark $(date -u +%Y-%m-%d), $(nproc) cores; wrk -t2 -c50 -d$DURATION; wrk, Redis (all nodes) and the server share the cores"
echo
echo "| cached GET, 50 conns | turn 1 req/s (p99) | turn 2 req/s (p99) | mean req/s |"
echo "|---|---|---|---|"
echo "| standalone Redis | $s1 ($s1p) | $s2 ($s2p) | $smean |"
echo "| cluster, 3 primaries | $c1 ($c1p) | $c2 ($c2p) | $cmean |"
echo "| seed (FastAPI), standalone | $seed | – | – |"
echo
awk -v c="$cmean" -v s="$smean" -v f="$seed" 'BEGIN{printf "cluster = %.0f %% of standalone (target >= 70 %%); cluster = %.1fx the seed on one Redis\n", 100*c/s, (f>0)?c/f:0}'
awk -v c=$((c1n - c0)) -v w=$((w1n - w0)) -v n="$nodes" 'BEGIN{printf "per cached GET in cluster mode (one at a time): %.2f Redis commands, %.2f socket writes, %d node(s) touched, so %d round trip(s) in parallel\n", c/200, w/200, n, n}'
