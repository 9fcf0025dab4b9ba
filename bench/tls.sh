#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Cachedash against Redis over TLS (rediss://) beside the same against plain Redis: one private
# redis-server with a plain port and a TLS port (throw-away CA and server certificate made with
# openssl), two headless services (release build, permissive limiter), one on each port. Cached GET
# at 50 connections, in turns in one run (plain, tls, plain, tls), so that a busy spell of this shared
# machine weighs on both alike. Also the resident memory (VmRSS) of both services idle after startup
# and after the loads, and whether each has mapped the TLS backend (libssl, Qt's openssl plugin):
# the plain one should not. Not part of the test suite. Takes about a minute (ROUNDS x 2 x DURATION,
# plus a 1.5 s report computation per turn).
#
# Env: DURATION (wrk run length, default 10s; keep it under the report's 30 s TTL), ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
PERMISSIVE=1000000000
REGION=bench

need_packages wrk curl redis-server redis-tools openssl
bin=$(release_binary)
vmrss_mb() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
# maps_has PID REGEX -> yes/no: a mapped file of the process matches
maps_has() { if grep -qE "$2" "/proc/$1/maps"; then echo yes; else echo no; fi; }
to_ms() { awk -v t="$1" 'BEGIN{v=t; u=t; sub(/[a-z]+$/,"",v); sub(/^[0-9.]+/,"",u);
    f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:(u=="m")?60000:-1; if (f<0) print "NA"; else printf "%.2f", v*f}'; }

# Throw-away certificates, as tests/testlib/testcertificates.cpp makes them: a CA, and a server
# certificate for localhost signed by it.
certs="$tmp/certs"; mkdir -p "$certs"
(
    cd "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=Cachedash bench CA"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" > server.ext
    openssl req -new -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext \
        -out server.pem
) > "$tmp/openssl.log" 2>&1 || { cat "$tmp/openssl.log" >&2; echo "bench: openssl failed" >&2; exit 1; }

# One redis-server, a plain port and a TLS port: both services share the same server and data.
rp=$(free_port); tp=$(free_port)
redis-server --port "$rp" --tls-port "$tp" --bind 127.0.0.1 --tls-cert-file "$certs/server.pem" \
    --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.pem" --tls-auth-clients no \
    --save '' --appendonly no --daemonize no --loglevel warning > "$tmp/redis.log" 2>&1 &
redis_pid=$!; pids+=("$redis_pid")
for _ in $(seq 50); do redis-cli -p "$rp" ping > /dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$rp" ping > /dev/null 2>&1 || { cat "$tmp/redis.log" >&2; echo "bench: redis-server did not start" >&2; exit 1; }
redis-cli --tls --cacert "$certs/ca.pem" -h localhost -p "$tp" ping 2>/dev/null | grep -q PONG \
    || { cat "$tmp/redis.log" >&2; echo "bench: redis-server's TLS port $tp does not answer" >&2; exit 1; }

plain_url="redis://127.0.0.1:$rp"; tls_url="rediss://localhost:$tp"
pp=$(free_port); sp=$(free_port)
P="http://127.0.0.1:$pp"; T="http://127.0.0.1:$sp"
"$bin" --headless --port "$pp" --redis-url "$plain_url" --access-log off --rate-limit "$PERMISSIVE" \
    > "$tmp/plain.out" 2> "$tmp/plain.err" &
plain_pid=$!; pids+=("$plain_pid")
"$bin" --headless --port "$sp" --redis-url "$tls_url" --redis-ca-cert "$certs/ca.pem" --access-log off \
    --rate-limit "$PERMISSIVE" > "$tmp/tls.out" 2> "$tmp/tls.err" &
tls_pid=$!; pids+=("$tls_pid")
wait_http "$P/livez"; wait_http "$T/livez"
log "plain $P -> $plain_url, tls $T -> $tls_url, wrk -t2 -c50 -d$DURATION, $ROUNDS rounds"
# Both must really reach Redis (a TLS failure would show as BYPASS answers, not as an error).
for b in "$P" "$T"; do
    ok=0
    for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$b/healthz")" = 200 ] && { ok=1; break; }; sleep 0.1; done
    [ $ok = 1 ] || { echo "bench: $b/healthz: $(curl -s "$b/healthz")" >&2; cat "$tmp/plain.err" "$tmp/tls.err" >&2; exit 1; }
done
sleep 1
plain_idle=$(vmrss_mb "$plain_pid"); tls_idle=$(vmrss_mb "$tls_pid")

declare -A R
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
# turn NAME BASE PID: a fresh report (30 s TTL, so no recomputation inside the run) and an empty
# limiter window, then wrk -> "rps p50_ms p99_ms non2xx socket_errors server_cpu_us redis_cpu_us"
# (CPU time per answered request, less sensitive than req/s to the neighbours on a shared machine)
turn() {
    local out="$tmp/wrk.$1.txt"
    redis-cli -p "$rp" DEL "rate:sliding:127.0.0.1" > /dev/null
    curl -s -o /dev/null -X POST "$2/reports/$REGION/refresh"
    local body; body=$(curl -s "$2/reports/$REGION"; curl -s "$2/reports/$REGION")
    grep -q '"cached":true' <<<"$body" || { echo "bench: $2 did not answer from the cache: $body" >&2; exit 1; }
    local s0 r0 s1 r1
    s0=$(cpu_ticks "$3"); r0=$(cpu_ticks "$redis_pid")
    wrk -t2 -c50 -d"$DURATION" --latency "$2/reports/$REGION" > "$out" 2>&1 || true
    s1=$(cpu_ticks "$3"); r1=$(cpu_ticks "$redis_pid")
    local rps p50 p99 non2xx errors n scpu rcpu
    rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2; exit}' "$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2; exit}' "$out")")
    non2xx=$(awk '/Non-2xx/{print $NF}' "$out")
    errors=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' "$out")
    n=$(awk '/requests in/{print $1}' "$out")
    scpu=$(awk -v t=$((s1 - s0)) -v n="${n:-0}" -v k="$tck" 'BEGIN{if (n > 0) printf "%.1f", t/k/n*1e6; else print "NA"}')
    rcpu=$(awk -v t=$((r1 - r0)) -v n="${n:-0}" -v k="$tck" 'BEGIN{if (n > 0) printf "%.1f", t/k/n*1e6; else print "NA"}')
    echo "${rps:-0} ${p50:-NA} ${p99:-NA} ${non2xx:-0} ${errors:-0} $scpu $rcpu"
}
for r in $(seq "$ROUNDS"); do
    log "round $r: plain"; R[plain$r]=$(turn "plain$r" "$P" "$plain_pid")
    log "round $r: tls"; R[tls$r]=$(turn "tls$r" "$T" "$tls_pid")
done
sleep 1
plain_loaded=$(vmrss_mb "$plain_pid"); tls_loaded=$(vmrss_mb "$tls_pid")
plain_ssl=$(maps_has "$plain_pid" 'libssl\.so'); tls_ssl=$(maps_has "$tls_pid" 'libssl\.so')
plain_plugin=$(maps_has "$plain_pid" 'libqopensslbackend'); tls_plugin=$(maps_has "$tls_pid" 'libqopensslbackend')
# Where the TLS service's Redis connections go: the TLS port, or (wrongly) the plain one.
tls_conns=$(redis-cli -p "$rp" CLIENT LIST | grep -c "laddr=127.0.0.1:$tp " || true)

f() { awk -v i="$2" '{print $i}' <<<"${R[$1]}"; }
mean() { local s=0 r; for r in $(seq "$ROUNDS"); do s=$((s + $(f "$1$r" 1))); done; echo $((s / ROUNDS)); }
# meanf KEY FIELD: the mean of a decimal field over the rounds
meanf() { for r in $(seq "$ROUNDS"); do f "$1$r" "$2"; done | awk '{s += $1; n++} END {printf "%.1f", s / n}'; }
pm=$(mean plain); tm=$(mean tls)
echo
echo "TLS benchmark $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); wrk -t2 -c50 -d$DURATION --latency; wrk, Redis and both servers share the cores"
echo
echo "| cached GET /reports/$REGION, 50 conns | $(for r in $(seq "$ROUNDS"); do printf 'turn %s req/s (p50 / p99 ms) | ' "$r"; done)mean req/s | CPU per request, µs: server / Redis (mean) | non-2xx+socket errors per turn |"
echo "|---|$(for _ in $(seq "$ROUNDS"); do printf -- '---|'; done)---|---|---|"
for s in plain tls; do
    [ $s = plain ] && label="plain, $plain_url" || label="TLS, $tls_url"
    row="| $label |"
    nonok=""
    for r in $(seq "$ROUNDS"); do
        row+=" $(f "$s$r" 1) ($(f "$s$r" 2) / $(f "$s$r" 3)) |"
        nonok+="$(f "$s$r" 4)+$(f "$s$r" 5) "
    done
    [ $s = plain ] && m=$pm || m=$tm
    echo "$row $m | $(meanf "$s" 6) / $(meanf "$s" 7) | ${nonok% } |"
done
echo
awk -v t="$tm" -v p="$pm" 'BEGIN{r=(p>0)?100*t/p:0; printf "TLS = %.0f %% of plain (target >= 70 %%): %s\n", r, (r>=70)?"met":"NOT met"}'
# The same ratio from CPU time per request (server + Redis), for when the neighbours make req/s noisy.
awk -v ps="$(meanf plain 6)" -v pr="$(meanf plain 7)" -v ts="$(meanf tls 6)" -v tr="$(meanf tls 7)" 'BEGIN{
    if (ts + tr > 0) printf "by CPU per request (server + Redis): plain %.1f µs, TLS %.1f µs, so TLS = %.0f %% of plain when CPU-bound\n", ps + pr, ts + tr, 100 * (ps + pr) / (ts + tr)}'
echo
echo "| service | VmRSS idle after startup, MB | VmRSS idle after the loads, MB | libssl mapped | libqopensslbackend mapped |"
echo "|---|---|---|---|---|"
echo "| plain | $plain_idle | $plain_loaded | $plain_ssl | $plain_plugin |"
echo "| TLS | $tls_idle | $tls_loaded | $tls_ssl | $tls_plugin |"
echo
awk -v a="$plain_idle" -v b="$plain_loaded" 'BEGIN{m=(a>b)?a:b; printf "plain idle RSS <= 25 MB: %s (max %.1f MB)\n", (m<=25)?"met":"NOT met", m}'
echo "plain service without the TLS backend: $([ "$plain_ssl$plain_plugin" = nono ] && echo met || echo "NOT met")"
echo "TLS service's Redis connections on the TLS port $tp: $tls_conns"
