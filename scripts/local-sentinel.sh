#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A local Sentinel setup to try Cachedash against: a master, a replica and three sentinels that
# watch it under the name "cachedash", on loopback, no persistence.
#   scripts/local-sentinel.sh start [FIRST_PORT]   master FIRST_PORT (default 6380), replica +1,
#                                                  sentinels 26380..26382 (FIRST_PORT + 20000..)
#   scripts/local-sentinel.sh stop  [FIRST_PORT]
# Then: cachedash --redis-url redis+sentinel://127.0.0.1:26380,127.0.0.1:26381,127.0.0.1:26382/cachedash
set -euo pipefail
action=${1:-start}
first=${2:-6380}
dir=${CACHEDASH_SENTINEL_DIR:-/tmp/cachedash-sentinel-$first}
master=$first
replica=$((first + 1))
sentinels=$(seq $((first + 20000)) $((first + 20002)))

case "$action" in
start)
    mkdir -p "$dir"
    redis-server --port "$master" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
        --pidfile "$dir/master.pid" --logfile "$dir/master.log"
    redis-server --port "$replica" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
        --replicaof 127.0.0.1 "$master" --pidfile "$dir/replica.pid" --logfile "$dir/replica.log"
    for s in $sentinels; do
        cat > "$dir/sentinel-$s.conf" <<CONF
port $s
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$s.pid
logfile $dir/sentinel-$s.log
sentinel monitor cachedash 127.0.0.1 $master 2
sentinel down-after-milliseconds cachedash 1000
sentinel failover-timeout cachedash 3000
CONF
        redis-server "$dir/sentinel-$s.conf" --sentinel
    done
    for p in $master $replica $sentinels; do
        for _ in $(seq 50); do redis-cli -p "$p" ping > /dev/null 2>&1 && break; sleep 0.1; done
    done
    list=$(for s in $sentinels; do printf '127.0.0.1:%s,' "$s"; done)
    echo "sentinels up: redis+sentinel://${list%,}/cachedash (master $master, replica $replica, files in $dir)"
    ;;
stop)
    for p in $sentinels $replica $master; do redis-cli -p "$p" shutdown nosave > /dev/null 2>&1 || true; done
    rm -rf "$dir"
    echo "sentinel setup stopped"
    ;;
*)
    echo "usage: $0 start|stop [FIRST_PORT]" >&2
    exit 2
    ;;
esac
