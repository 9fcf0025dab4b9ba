#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A local Redis Cluster to try Cachedash against: 3 primaries and 3 replicas on loopback, no
# persistence, in a directory of its own.
#   scripts/local-cluster.sh start [FIRST_PORT]   ports FIRST_PORT..+5 (default 7000); bus ports +10000
#   scripts/local-cluster.sh stop  [FIRST_PORT]   the same FIRST_PORT (and CACHEDASH_CLUSTER_REPLICAS)
# Then: cachedash --redis-url redis://127.0.0.1:7000   (any node will do; more after commas)
# Env: CACHEDASH_CLUSTER_REPLICAS=0 for 3 primaries alone (ports FIRST_PORT..+2).
set -euo pipefail
action=${1:-start}
first=${2:-7000}
replicas=${CACHEDASH_CLUSTER_REPLICAS:-1}
dir=${CACHEDASH_CLUSTER_DIR:-/tmp/cachedash-cluster-$first}
ports=$(seq "$first" $((first + 3 * (1 + replicas) - 1)))

case "$action" in
start)
    mkdir -p "$dir"
    for p in $ports; do
        mkdir -p "$dir/$p"
        redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
            --cluster-node-timeout 2000 --cluster-require-full-coverage no --save '' --appendonly no --dir "$dir/$p" --daemonize yes \
            --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log"
    done
    for p in $ports; do
        for _ in $(seq 50); do redis-cli -p "$p" ping > /dev/null 2>&1 && break; sleep 0.1; done
    done
    nodes=()
    for p in $ports; do nodes+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes > "$dir/create.log"
    for p in $ports; do
        ok=0
        for _ in $(seq 100); do
            redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && { ok=1; break; }
            sleep 0.1
        done
        [ $ok = 1 ] || { echo "node $p never reached cluster_state:ok (logs in $dir/$p)" >&2; exit 1; }
    done
    echo "cluster up: redis://127.0.0.1:$first (nodes $first-$((first + 3 * (1 + replicas) - 1)), files in $dir)"
    ;;
stop)
    for p in $ports; do redis-cli -p "$p" shutdown nosave > /dev/null 2>&1 || true; done
    rm -rf "$dir"
    echo "cluster stopped"
    ;;
*)
    echo "usage: $0 start|stop [FIRST_PORT]" >&2
    exit 2
    ;;
esac
