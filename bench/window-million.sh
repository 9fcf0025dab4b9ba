#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The window's memory after a million requests: the dashboard open under Xvfb, a permissive
# limiter, cached GETs from wrk (50 connections) until at least 1,000,000 have been answered.
# Prints the resident memory idle, every 10 s, and at the end, with the window's event-loop
# lateness. Not part of the test suite; takes about a minute and a half.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
TARGET=${TARGET:-1000000}
bin="$(scripts/build.sh --release --target cachedash | tail -n 1)/src/cachedash"

start_redis
wp=$(free_port)
XDG_CONFIG_HOME="$tmp/config" xvfb-run -a -s "-screen 0 1280x800x24" \
    "$bin" --port "$wp" --redis-url "$redis_url" --rate-limit 1000000000 > "$tmp/win.out" 2> "$tmp/win.err" &
pids+=($!); win_pid=$!
for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$wp/livez" && break; sleep 0.1; done
app=$(pgrep -f -n "$bin --port $wp")
curl -s -o /dev/null "http://127.0.0.1:$wp/reports/bench"; sleep 2
echo "idle: $(rss_mb "$app") MB"

done_requests=0
round=0
while [ "$done_requests" -lt "$TARGET" ]; do
    round=$((round + 1))
    n=$(wrk -t2 -c50 -d10s "http://127.0.0.1:$wp/reports/bench" | awk '/requests in/{print $1}')
    done_requests=$((done_requests + n))
    echo "after $done_requests requests: $(rss_mb "$app") MB"
done
sleep 2
echo "settled, $done_requests requests: $(rss_mb "$app") MB"
kill "$app"; wait "$win_pid" 2>/dev/null || true
sed -n 's/.*\(lateness over .*\)/window event loop: \1/p' "$tmp/win.err" | tail -n 1
