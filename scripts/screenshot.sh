#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Renders the window under Xvfb, listening on port 8000 as the README says, after a fetch (a miss),
# a second fetch (a hit), a refresh, and a burst of 7 GETs (a miss again, then hits until the limit
# of 5 per 10 s refuses the rest), all sent with curl like any outside client, and saves it as
# docs/screenshot.png (or the path given). Port 8000 must be free.
# Needs a build (scripts/build.sh) and xvfb, xauth and imagemagick (installed here if missing).
# Env: CACHEDASH_SCREENSHOT_REDIS, the Redis options (default --private-redis), e.g.
#   "--redis-url rediss://localhost:6380 --redis-ca-cert /tmp/cachedash-tls-6380/ca.pem"
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshot.png}
for p in xvfb xauth imagemagick; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y -qq $missing >&2
fi
dir=$(scripts/build.sh --target cachedash | tail -n 1)
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

export XDG_CONFIG_HOME="$tmp/config"   # a fresh window layout, not the user's
xvfb-run -a -s "-screen 0 1280x800x24" sh -c '
    "$0" --port 8000 $3 > "$1/out.txt" 2> "$1/err.txt" &
    app=$!
    for i in $(seq 100); do grep -q Listening "$1/out.txt" 2>/dev/null && break; sleep 0.1; done
    base=$(sed -n "s/^Listening on //p" "$1/out.txt")
    [ -n "$base" ] || { cat "$1/err.txt" >&2; exit 1; }
    curl -s -o /dev/null "$base/reports/emea"                   # miss
    curl -s -o /dev/null "$base/reports/emea"                   # hit
    curl -s -o /dev/null -X POST "$base/reports/emea/refresh"   # invalidated
    for i in 1 2 3 4 5 6 7; do curl -s -o /dev/null "$base/reports/emea"; done   # a burst of 7
    sleep 1.2
    import -window root "$2"
    kill $app; wait $app
' "$dir/src/cachedash" "$tmp" "$out" "${CACHEDASH_SCREENSHOT_REDIS:---private-redis}" &
pid=$!
wait "$pid"
echo "wrote $out" >&2
