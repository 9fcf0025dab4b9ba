#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Instructions the server executes per request, counted by valgrind's callgrind: unlike requests
# per second, the count hardly moves when the machine's neighbours are busy, so it shows what a
# change to the hot path is worth. A Release build runs headless under callgrind against a private
# redis-server; a small client sends N requests on 50 keep-alive connections, first a few to warm
# up, then the counted ones, for /livez, a cached GET (permissive limiter) and the 429 path (5 per
# 10 s). Each count is (instructions after warm-up + N) - (after warm-up), divided by N.
# Not part of the test suite; takes about three minutes. Env: N (default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
N=${N:-5000}
for p in valgrind redis-server curl python3; do
    command -v "$p" > /dev/null || {
        sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get install -y -qq valgrind redis-server curl python3 >&2
        break
    }
done
bin="$(scripts/build.sh --release --target cachedash | tail -n 1)/src/cachedash"

# load.py PORT PATH TOTAL: TOTAL requests over 50 keep-alive connections, each waiting for its answer.
cat > "$tmp/load.py" <<'PY'
import asyncio, sys
port, path, total = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
request = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode()
async def client(count):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
    writer.close()
async def main():
    await asyncio.gather(*[client(total // 50) for _ in range(50)])
asyncio.run(main())
PY

start_redis

# count PATH LIMIT -> instructions per request
count() {
    local port out total=()
    port=$(free_port)
    for requests in 0 "$N"; do
        out="$tmp/callgrind.$requests"
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --headless --port "$port" \
            --redis-url "$redis_url" --access-log off --rate-limit "$2" > /dev/null 2> "$tmp/server.log" &
        local pid=$!
        for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/livez" && break; sleep 0.2; done
        for _ in 1 2 3 4 5 6 7; do curl -s -o /dev/null "http://127.0.0.1:$port$1"; done
        python3 "$tmp/load.py" "$port" "$1" 500
        [ "$requests" -eq 0 ] || python3 "$tmp/load.py" "$port" "$1" "$requests"
        kill "$pid"; wait "$pid" 2>/dev/null || true
        total+=("$(awk '/^(summary|totals):/ {print $2; exit}' "$out")")
    done
    echo $(((total[1] - total[0]) / N))
}

livez=$(count /livez 1000000000)
cached=$(count /reports/bench 1000000000)
limited=$(count /reports/bench 5)
echo "Instructions per request in the server (callgrind, $N requests on 50 connections, $(date -u +%Y-%m-%d)):"
echo
echo "| route | instructions per request | share of /livez |"
echo "|---|---|---|"
echo "| GET /livez | $livez | 100 % |"
echo "| cached GET /reports/{region} | $cached | $((100 * cached / livez)) % |"
echo "| GET /reports/{region}, the 429 path | $limited | $((100 * limited / livez)) % |"
