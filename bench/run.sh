#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Side-by-side benchmark of cachedash and the seed's FastAPI service (../shared/peers/seed-fastapi),
# in one run, on loopback, against one private redis-server. Prints a Markdown table with ratios.
# Not part of the test suite. Takes about 4 minutes.
#
# Env: DURATION (wrk run length, default 10s), PEER (the seed's directory), SKIP_WINDOW=1 to leave
# out the window-mode run.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
DURATION=${DURATION:-10s}
PEER=${PEER:-$(cd .. && pwd)/shared/peers/seed-fastapi}
PERMISSIVE=1000000000

need_packages wrk curl redis-server xvfb xauth python3-fastapi python3-uvicorn python3-redis python3-hiredis python3-uvloop python3-httptools
[ -x "$PEER/run.sh" ] || { echo "bench: the seed peer is not at $PEER (set PEER)" >&2; exit 1; }
bin=$(release_binary)


cat > "$tmp/status.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. ":" .. v) end
  table.sort(parts)
  io.write("STATUS " .. table.concat(parts, ",") .. "\n")
end
LUA

# wrk_run URL CONNS -> "rps p50_ms p99_ms statuses socket_errors"
to_ms() { awk -v t="$1" 'BEGIN{v=t; u=t; sub(/[a-z]+$/,"",v); sub(/^[0-9.]+/,"",u);
    f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:(u=="m")?60000:-1; if (f<0) print "NA"; else printf "%.2f", v*f}'; }
wrk_run() {
    local out="$tmp/wrk.txt"
    wrk -t2 -c"$2" -d"$DURATION" --latency -s "$tmp/status.lua" "$1" > "$out" 2>&1 || true
    local rps p50 p99 status errors
    rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2; exit}' "$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2; exit}' "$out")")
    status=$(awk '/^STATUS/{print $2}' "$out")
    errors=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' "$out")
    echo "${rps:-0} ${p50:-NA} ${p99:-NA} ${status:-none} ${errors:-0}"
}
# curl_times URL N FILE: appends N times (s) of one request each, a fresh curl per request
curl_times() { for _ in $(seq "$2"); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done >> "$3"; }
# median_p95 FILE -> "median_ms p95_ms"
median_p95() {
    sort -g "$1" | awk '{t[NR]=$1*1000} END{m=(NR%2)?t[(NR+1)/2]:(t[NR/2]+t[NR/2+1])/2; printf "%.3f %.3f", m, t[int((95*NR+99)/100)]}'
}
# mean_rps RESULT... -> the mean of the results' req/s
mean_rps() { printf '%s\n' "$@" | awk '{s += $1; n++} END {printf "%.0f", s / n}'; }
# cold20 BASE REGION -> wall ms of 20 concurrent cold GETs
cold20() {
    local start end
    start=$(date +%s%N)
    for _ in $(seq 20); do curl -s -o /dev/null "$1/reports/$2" & done
    wait
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
warm() { curl -s -o /dev/null -X POST "$1/reports/bench/refresh"; curl -s -o /dev/null "$1/reports/bench"; }
# per_get BASE -> "commands_per_get command_mix" for 200 cached GETs
per_get() {
    warm "$1"
    redis-cli -p "$rp" CONFIG RESETSTAT > /dev/null
    for _ in $(seq 200); do curl -s -o /dev/null "$1/reports/bench"; done
    redis-cli -p "$rp" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_config|resetstat" {
        sub("cmdstat_","",$1); total += $3; mix = mix (mix==""?"":"+") $1 "=" $3/200 } END { printf "%.2f %s", total/200, mix }'
}

start_redis

start_cachedash() { # PORT [args] -> pid in $cd_pid
    local port=$1; shift
    "$bin" --headless --port "$port" --redis-url "$redis_url" --access-log off "$@" > "$tmp/cd.out" 2> "$tmp/cd.err" &
    cd_pid=$!; pids+=("$cd_pid")
    wait_http "http://127.0.0.1:$port/livez"
}
start_seed() { # PORT LIMIT -> pid in $seed_pid
    RATE_LIMIT=$2 "$PEER/run.sh" "$1" "$redis_url" --no-access-log --log-level warning > "$tmp/seed.log" 2>&1 &
    seed_pid=$!; pids+=("$seed_pid")
    wait_http "http://127.0.0.1:$1/docs"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

cp=$(free_port); sp=$(free_port)
C="http://127.0.0.1:$cp"; S="http://127.0.0.1:$sp"
log "cachedash $C, seed $S, redis $redis_url, wrk -t2 -d$DURATION"
start_cachedash "$cp" --rate-limit "$PERMISSIVE"
start_seed "$sp" "$PERMISSIVE"
cd_idle=$(rss_mb "$cd_pid"); seed_idle=$(rss_mb "$seed_pid")

declare -A R
log "cached GET, 10 connections"; warm "$C"; R[c10]=$(wrk_run "$C/reports/bench" 10)
warm "$S"; R[s10]=$(wrk_run "$S/reports/bench" 10)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
log "cached GET, 50 connections"; warm "$C"
cd_t0=$(cpu_ticks "$cd_pid"); redis_t0=$(cpu_ticks "$redis_pid")
R[c50]=$(wrk_run "$C/reports/bench" 50)
cd_t1=$(cpu_ticks "$cd_pid"); redis_t1=$(cpu_ticks "$redis_pid")
# CPU time per answered request, in microseconds (the same run's request count).
requests=$(awk '/requests in/{print $1}' "$tmp/wrk.txt")
tck=$(getconf CLK_TCK)
R[cpu]="$(awk -v t=$((cd_t1 - cd_t0)) -v n="$requests" -v k="$tck" 'BEGIN{printf "%.1f", t/k/n*1e6}') $(awk -v t=$((redis_t1 - redis_t0)) -v n="$requests" -v k="$tck" 'BEGIN{printf "%.1f", t/k/n*1e6}')"
warm "$S"; R[s50]=$(wrk_run "$S/reports/bench" 50)
log "/livez, 50 connections (QHttpServer's own ceiling)"
cd_t0=$(cpu_ticks "$cd_pid")
R[live]=$(wrk_run "$C/livez" 50)
cd_t1=$(cpu_ticks "$cd_pid")
R[livecpu]=$(awk -v t=$((cd_t1 - cd_t0)) -v n="$(awk '/requests in/{print $1}' "$tmp/wrk.txt")" -v k="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/k/n*1e6}')
# A second turn of each, so that the share of /livez compares runs made side by side.
log "cached GET and /livez again, in turns"
warm "$C"; R[c50b]=$(wrk_run "$C/reports/bench" 50); R[liveb]=$(wrk_run "$C/livez" 50)
R[c50mean]=$(mean_rps "${R[c50]}" "${R[c50b]}"); R[livemean]=$(mean_rps "${R[live]}" "${R[liveb]}")
log "one request at a time, in turns"
warm "$C"; warm "$S"
for _ in 1 2; do curl_times "$C/reports/bench" 100 "$tmp/cseq"; curl_times "$S/reports/bench" 100 "$tmp/sseq"; done
R[cseq]=$(median_p95 "$tmp/cseq"); R[sseq]=$(median_p95 "$tmp/sseq")
log "20 concurrent cold GETs"; R[ccold]=$(cold20 "$C" cold-c); R[scold]=$(cold20 "$S" cold-s)
log "Redis commands per cached GET"; R[cpg]=$(per_get "$C"); R[spg]=$(per_get "$S")
cd_loaded=$(rss_mb "$cd_pid"); seed_loaded=$(rss_mb "$seed_pid")
stop "$cd_pid"; stop "$seed_pid"

log "the 429 path, default limiter (5 per 10 s), 50 connections"
start_cachedash "$cp"; start_seed "$sp" 5
for _ in 1 2 3 4 5 6; do curl -s -o /dev/null "$C/reports/bench"; curl -s -o /dev/null "$S/reports/bench"; done
R[c429]=$(wrk_run "$C/reports/bench" 50); R[live429]=$(wrk_run "$C/livez" 50)
R[s429]=$(wrk_run "$S/reports/bench" 50)
R[c429b]=$(wrk_run "$C/reports/bench" 50); R[live429b]=$(wrk_run "$C/livez" 50)
R[c429mean]=$(mean_rps "${R[c429]}" "${R[c429b]}"); R[live429mean]=$(mean_rps "${R[live429]}" "${R[live429b]}")
stop "$cd_pid"; stop "$seed_pid"

if [ "${SKIP_WINDOW:-0}" != 1 ]; then
    # Window and headless take turns (headless, window, headless, window), so that a slower or
    # faster spell of this shared machine weighs on both sides of the ratio alike.
    log "window mode: cached GET at 50 connections with the dashboard open (Xvfb), in turns with headless"
    wp=$(free_port)
    run_window() {
        XDG_CONFIG_HOME="$tmp/config" xvfb-run -a -s "-screen 0 1280x800x24" \
            "$bin" --port "$wp" --redis-url "$redis_url" --rate-limit "$PERMISSIVE" > "$tmp/win.out" 2> "$tmp/win.err" &
        win_pid=$!; pids+=("$win_pid")
        wait_http "http://127.0.0.1:$wp/livez"
        app_pid=$(pgrep -f -n "^$bin --port $wp") || app_pid=$win_pid
        warm "http://127.0.0.1:$wp"; sleep 1
        win_idle=$(rss_mb "$app_pid")
        R[win$1]=$(wrk_run "http://127.0.0.1:$wp/reports/bench" 50)
        win_loaded=$(rss_mb "$app_pid")
        kill "$app_pid"; wait "$win_pid" 2>/dev/null || true
        R[lag$1]=$(sed -n 's/.*lateness over \([0-9]*\) samples: p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, worst \([0-9]*\) ms.*/\2 \3 \4/p' "$tmp/win.err")
    }
    run_headless() {
        start_cachedash "$cp" --rate-limit "$PERMISSIVE"; warm "$C"
        R[head$1]=$(wrk_run "$C/reports/bench" 50)
        stop "$cd_pid"
    }
    run_headless 1; run_window 1; run_headless 2; run_window 2
    R[win]="$(( ($(awk '{print $1}' <<<"${R[win1]}") + $(awk '{print $1}' <<<"${R[win2]}")) / 2 ))"
    R[winhead]="$(( ($(awk '{print $1}' <<<"${R[head1]}") + $(awk '{print $1}' <<<"${R[head2]}")) / 2 ))"
    # The worse of the two window runs, field by field.
    R[lag]=$(printf '%s\n%s\n' "${R[lag1]}" "${R[lag2]}" | awk '{for (i = 1; i <= 3; i++) if ($i > m[i]) m[i] = $i}
        END {print m[1] + 0, m[2] + 0, m[3] + 0}')
fi

f() { awk -v i="$2" '{print $i}' <<<"${R[$1]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 > 0) printf "%.1f×", a/b; else print "–" }'; }
echo
echo "Benchmark $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); wrk -t2 -d$DURATION; wrk, Redis and the server share the cores"
echo
echo "| scenario | cachedash | seed (FastAPI) | ratio |"
echo "|---|---|---|---|"
echo "| cached GET, 10 conns: req/s | $(f c10 1) | $(f s10 1) | $(ratio "$(f c10 1)" "$(f s10 1)") |"
echo "| cached GET, 10 conns: p50 / p99 ms | $(f c10 2) / $(f c10 3) | $(f s10 2) / $(f s10 3) | |"
echo "| cached GET, 10 conns: statuses, socket errors | $(f c10 4), $(f c10 5) | $(f s10 4), $(f s10 5) | |"
echo "| cached GET, 50 conns: req/s | $(f c50 1) | $(f s50 1) | $(ratio "$(f c50 1)" "$(f s50 1)") |"
echo "| cached GET, 50 conns: p50 / p99 ms | $(f c50 2) / $(f c50 3) | $(f s50 2) / $(f s50 3) | |"
echo "| cached GET, 50 conns: statuses, socket errors | $(f c50 4), $(f c50 5) | $(f s50 4), $(f s50 5) | |"
echo "| GET /livez, 50 conns: req/s (no Redis) | $(f live 1) | – | |"
echo "| cached GET vs /livez, two turns each: mean req/s | ${R[c50mean]} vs ${R[livemean]} | – | cached GET = $(awk -v a="${R[c50mean]}" -v b="${R[livemean]}" 'BEGIN{printf "%.0f %%", 100*a/b}') of /livez |"
echo "| CPU per request at 50 conns, µs: server / Redis | cached GET $(f cpu 1) / $(f cpu 2); /livez ${R[livecpu]} / 0 | – | |"
echo "| 429 path, 50 conns: req/s | $(f c429 1) | $(f s429 1) | $(ratio "$(f c429 1)" "$(f s429 1)") |"
echo "| 429 path, 50 conns: p99 ms, statuses | $(f c429 3), $(f c429 4) | $(f s429 3), $(f s429 4) | |"
echo "| 429 path vs /livez, two turns each: mean req/s | ${R[c429mean]} vs ${R[live429mean]} | – | 429 path = $(awk -v a="${R[c429mean]}" -v b="${R[live429mean]}" 'BEGIN{printf "%.0f %%", 100*a/b}') of /livez |"
echo "| one cached request at a time: median / p95 ms (200 curl, in turns of 100) | $(f cseq 1) / $(f cseq 2) | $(f sseq 1) / $(f sseq 2) | $(ratio "$(f sseq 1)" "$(f cseq 1)") faster |"
echo "| 20 concurrent cold GETs: wall ms | ${R[ccold]} | ${R[scold]} | |"
echo "| Redis commands per cached GET | $(f cpg 1) ($(f cpg 2)), 1 round trip | $(f spg 1) ($(f spg 2)), 2 round trips | |"
echo "| resident memory idle / after the loads, MB | $cd_idle / $cd_loaded | $seed_idle / $seed_loaded | |"
if [ -n "${R[win]:-}" ]; then
    echo "| window open, cached GET, 50 conns: req/s (mean of 2, in turns with headless) | ${R[win]} (headless in the same turns: ${R[winhead]}) | – | window = $(awk -v a="${R[win]}" -v b="${R[winhead]}" 'BEGIN{printf "%.0f %%", 100*a/b}') of headless |"
    echo "| window open: event-loop lateness p50 / p99 / worst ms (the worse run) | $(f lag 1) / $(f lag 2) / $(f lag 3) | – | |"
    echo "| window open: resident memory idle / after the load, MB | $win_idle / $win_loaded | – | |"
fi
