#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The three rate-limit algorithms (--rate-algorithm sliding-log, gcra, sliding-window-counter) side
# by side, in one run, against one private redis-server; headless release build, one service per
# algorithm. Prints Markdown tables with ratios to sliding-log:
#  1. Redis memory per client: at --rate-limit 1000/1m, 1,000 GET /reports/eu from one client (all
#     admitted), then MEMORY USAGE (SAMPLES 0: every element) of that client's rate:* key(s). Also the
#     seed FastAPI's sliding log under the same load, if the seed is at $PEER.
#  2. Redis CPU per request: at a permissive limit, cached GET /reports/eu with wrk -t2 -c50 (as
#     bench/run.sh), the algorithms in turns (ROUNDS x sliding-log, gcra, counter), FLUSHALL and a
#     fresh report before each turn: req/s, Redis's used_cpu_sys + used_cpu_user (INFO cpu) over the
#     run divided by the requests answered (all of Redis: the cache read and the sockets too), and
#     from INFO commandstats the EVALSHA calls and the scripts' own time (usec: wall time inside the
#     command) per request. Calls are below 1 per request: the limiter batches the checks of several
#     requests into one call. Redis, wrk and the services share the cores, so turns vary; compare means.
# Not part of the test suite. Takes about 2 minutes (ROUNDS x 3 x DURATION, plus about 30 s).
#
# Usage: bench/ratelimit.sh
# Env: DURATION (wrk run length, default 10s; under the report's 30 s TTL), ROUNDS (default 3),
#      PEER (the seed's directory), SKIP_SEED=1 to leave the seed out.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PEER=${PEER:-$(cd .. && pwd)/shared/peers/seed-fastapi}
PERMISSIVE=1000000000/10s
ALGOS=(sliding-log gcra sliding-window-counter)

need_packages wrk curl redis-server redis-tools
bin=$(release_binary)
start_redis
rcli() { redis-cli -p "$rp" "$@"; }

declare -A port pid R
# start_all LIMIT: one headless service per algorithm, all on the private Redis
start_all() {
    local a
    for a in "${ALGOS[@]}"; do
        port[$a]=$(free_port)
        "$bin" --headless --port "${port[$a]}" --redis-url "$redis_url" --access-log off --report-delay-ms 100 \
            --rate-limit "$1" --rate-algorithm "$a" > "$tmp/$a.out" 2> "$tmp/$a.err" &
        pid[$a]=$!; pids+=("${pid[$a]}")
    done
    for a in "${ALGOS[@]}"; do wait_http "http://127.0.0.1:${port[$a]}/livez"; done
}
stop_all() { local a; for a in "${ALGOS[@]}"; do kill "${pid[$a]}" 2>/dev/null || true; wait "${pid[$a]}" 2>/dev/null || true; done; }
# get1000 URL -> the statuses of 1,000 GETs on one keep-alive connection, as "200:1000"
get1000() {
    for _ in $(seq 1000); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1"; done > "$tmp/curl.cfg"
    curl -s -w '%{http_code}\n' -K "$tmp/curl.cfg" | sort | uniq -c | awk '{printf "%s%s:%s", (NR > 1) ? "," : "", $2, $1}'
}
# keys_mem -> "keys bytes_per_key total detail" over the rate:* keys (detail: key=type,bytes[,members])
keys_mem() {
    local k n=0 total=0 b detail="" t
    while read -r k; do
        b=$(rcli MEMORY USAGE "$k" SAMPLES 0); t=$(rcli TYPE "$k")
        [ "$t" = zset ] && t+=",$(rcli ZCARD "$k") members"
        n=$((n + 1)); total=$((total + b)); detail+="\`$k\` ($t, $b B) "
    done < <(rcli --scan --pattern 'rate:*')
    echo "$n $((n > 0 ? total / n : 0)) $total ${detail% }"
}

log "memory: --rate-limit 1000/1m, 1,000 GET /reports/eu per algorithm, redis $redis_url"
start_all 1000/1m
for a in "${ALGOS[@]}"; do
    rcli FLUSHALL > /dev/null
    R[st$a]=$(get1000 "http://127.0.0.1:${port[$a]}/reports/eu")
    R[mem$a]=$(keys_mem)
done
stop_all
if [ "${SKIP_SEED:-0}" != 1 ] && [ -x "$PEER/run.sh" ]; then
    log "memory: the seed FastAPI (RATE_LIMIT=1000, RATE_WINDOW=60)"
    rcli FLUSHALL > /dev/null; sp=$(free_port)
    RATE_LIMIT=1000 RATE_WINDOW=60 "$PEER/run.sh" "$sp" "$redis_url" --no-access-log --log-level warning \
        > "$tmp/seed.log" 2>&1 &
    seed_pid=$!; pids+=("$seed_pid")
    wait_http "http://127.0.0.1:$sp/docs"
    R[stseed]=$(get1000 "http://127.0.0.1:$sp/reports/eu"); R[memseed]=$(keys_mem)
    kill "$seed_pid"; wait "$seed_pid" 2>/dev/null || true
fi

log "CPU: --rate-limit $PERMISSIVE, cached GET, wrk -t2 -c50 -d$DURATION, $ROUNDS rounds"
start_all "$PERMISSIVE"
redis_cpu() { rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s += $2} END{printf "%.6f", s}'; }
# turn ALGO -> "rps requests redis_cpu_us evalsha_calls non2xx socket_errors evalsha_us", all per request
turn() {
    local base="http://127.0.0.1:${port[$1]}" out="$tmp/wrk.txt" c0 c1 n body
    rcli FLUSHALL > /dev/null
    curl -s -o /dev/null -X POST "$base/reports/eu/refresh"
    body=$(curl -s "$base/reports/eu"; curl -s "$base/reports/eu")
    grep -q '"cached":true' <<<"$body" || { echo "bench: $base did not answer from the cache: $body" >&2; exit 1; }
    rcli CONFIG RESETSTAT > /dev/null; c0=$(redis_cpu)
    wrk -t2 -c50 -d"$DURATION" "$base/reports/eu" > "$out" 2>&1 || true
    c1=$(redis_cpu)
    n=$(awk '/requests in/{print $1}' "$out")
    awk -v rps="$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")" -v n="${n:-0}" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}')" \
        -v e="$(rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_evalsha"{print $3, $5}')" \
        -v x="$(awk '/Non-2xx/{print $NF}' "$out")" -v s="$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' "$out")" \
        'BEGIN{ split(e, E, " "); if (n > 0) printf "%d %d %.2f %.3f %d %d %.2f", rps, n, c / n * 1e6, E[1] / n, x, s, E[2] / n
                else print "0 0 NA NA 0 0 NA" }'
}
for r in $(seq "$ROUNDS"); do
    for a in "${ALGOS[@]}"; do log "round $r: $a"; R[$a$r]=$(turn "$a"); done
done
stop_all

f() { awk -v i="$2" '{print $i}' <<<"${R[$1]}"; }
# meanf ALGO FIELD [FORMAT]: the mean of a field over the rounds
meanf() { for r in $(seq "$ROUNDS"); do f "$1$r" "$2"; done | awk -v p="${3:-%.2f}" '{s += $1; n++} END {printf p, s / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 > 0) printf "%.3gx", a / b; else print "-" }'; }
echo
echo "Rate-limit algorithms $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(redis-server --version | awk '{print $1, $3}')"
echo
echo "| memory, 1,000 GETs at 1000/1m | statuses | keys | bytes per key | total per client, B | vs sliding-log | key (type, MEMORY USAGE) |"
echo "|---|---|---|---|---|---|---|"
for a in "${ALGOS[@]}" ${R[memseed]:+seed}; do
    label=$a; [ "$a" = seed ] && label="seed FastAPI (sliding log)"
    echo "| $label | ${R[st$a]} | $(f "mem$a" 1) | $(f "mem$a" 2) | $(f "mem$a" 3) | $(ratio "$(f "mem$a" 3)" "$(f memsliding-log 3)") | $(cut -d' ' -f4- <<<"${R[mem$a]}") |"
done
echo
echo "| cached GET, 50 conns, $PERMISSIVE | $(for r in $(seq "$ROUNDS"); do printf 'turn %s: req/s, Redis CPU µs/req | ' "$r"; done)mean req/s | mean Redis CPU per request, µs | EVALSHA calls / script µs per request | non-2xx+socket errors |"
echo "|---|$(for _ in $(seq "$ROUNDS"); do printf -- '---|'; done)---|---|---|---|"
for a in "${ALGOS[@]}"; do
    row="| $a |"; errs=""
    for r in $(seq "$ROUNDS"); do row+=" $(f "$a$r" 1), $(f "$a$r" 3) |"; errs+="$(f "$a$r" 5)+$(f "$a$r" 6) "; done
    echo "$row $(meanf "$a" 1 %.0f) | $(meanf "$a" 3) | $(meanf "$a" 4 %.3f) / $(meanf "$a" 7) | ${errs% } |"
done
echo
for a in gcra sliding-window-counter; do
    echo "$a Redis CPU per request: $(ratio "$(meanf "$a" 3)" "$(meanf sliding-log 3)") sliding-log (script time alone: $(ratio "$(meanf "$a" 7)" "$(meanf sliding-log 7)")); req/s: $(ratio "$(meanf "$a" 1)" "$(meanf sliding-log 1)") sliding-log; memory per client: $(ratio "$(f "mem$a" 3)" "$(f memsliding-log 3)") sliding-log"
done
awk -v b="$(f memgcra 2)" 'BEGIN{printf "gcra bytes per key <= 100: %s (%d B)\n", (b <= 100) ? "met" : "NOT met", b}'
awk -v g="$(meanf gcra 3)" -v s="$(meanf sliding-log 3)" \
    'BEGIN{printf "gcra Redis CPU per request <= 0.5x sliding-log: %s (%.2fx)\n", (s > 0 && g / s <= 0.5) ? "met" : "NOT met", (s > 0) ? g / s : 0}'
