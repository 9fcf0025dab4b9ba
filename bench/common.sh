# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the bench scripts (from the project's root): a temporary directory and the processes
# started, both gone on exit; the Debian packages a script needs; the release binary; free ports;
# resident memory; a private redis-server.
export LC_ALL=C
tmp=$(mktemp -d "/tmp/cachedash-$(basename "$0" .sh).XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mb() { awk '{printf "%.1f", $1/1024}' <<<"$(ps -o rss= -p "$1")"; }
# start_redis: a redis-server on a free loopback port, no persistence; sets rp, redis_pid, redis_url.
start_redis() {
    rp=$(free_port)
    redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning \
        > "$tmp/redis.log" 2>&1 &
    redis_pid=$!; pids+=("$redis_pid")
    redis_url="redis://127.0.0.1:$rp"
    for _ in $(seq 50); do redis-cli -p "$rp" ping > /dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$(basename "$0"): redis-server did not start (see $tmp/redis.log)" >&2
    exit 1
}
# need_packages PKG...: installs the Debian packages that are missing.
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}
# release_binary: builds (if needed) and prints the path of the release build's cachedash.
release_binary() { echo "$(scripts/build.sh --release --target cachedash | tail -n 1)/src/cachedash"; }
log() { echo "# $*" >&2; }
wait_http() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 never answered" >&2; exit 1; }
