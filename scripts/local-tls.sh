#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A local Redis that speaks TLS only, to try rediss:// against: throw-away certificates (a CA, a
# server certificate for localhost and 127.0.0.1, a client certificate), loopback, no persistence.
#   scripts/local-tls.sh start [PORT]   TLS on PORT (default 6380), no plain port
#   scripts/local-tls.sh stop  [PORT]
# Then: cachedash --redis-url rediss://localhost:6380 --redis-ca-cert /tmp/cachedash-tls-6380/ca.pem
# Env: CACHEDASH_TLS_AUTH_CLIENTS=yes to require a client certificate (mutual TLS: then also
#      --redis-client-cert .../client.pem --redis-client-key .../client.key).
set -euo pipefail
action=${1:-start}
port=${2:-6380}
dir=${CACHEDASH_TLS_DIR:-/tmp/cachedash-tls-$port}
auth=${CACHEDASH_TLS_AUTH_CLIENTS:-no}

# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA, valid for 30 days.
issue() {
    printf '%b' "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n$3" > "$dir/$1.ext"
    openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "$2" 2> /dev/null
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
        -extfile "$dir/$1.ext" -out "$dir/$1.pem" 2> /dev/null
}

case "$action" in
start)
    if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2> /dev/null; then
        echo "a TLS Redis already runs on $port (files in $dir): scripts/local-tls.sh stop $port first" >&2
        exit 1
    fi
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 30 \
        -subj "/CN=Cachedash local CA" 2> /dev/null
    issue server /CN=localhost 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
    issue client /CN=cachedash 'extendedKeyUsage=clientAuth\n'
    redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --tls-cert-file "$dir/server.pem" \
        --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.pem" --tls-auth-clients "$auth" \
        --save '' --appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    cli=(redis-cli --tls --cacert "$dir/ca.pem" --cert "$dir/client.pem" --key "$dir/client.key" -p "$port")
    for _ in $(seq 50); do "${cli[@]}" ping > /dev/null 2>&1 && break; sleep 0.1; done
    "${cli[@]}" ping > /dev/null || { echo "redis-server did not answer over TLS (log: $dir/redis.log)" >&2; exit 1; }
    echo "TLS Redis up: rediss://localhost:$port --redis-ca-cert $dir/ca.pem"
    [ "$auth" = no ] || echo "  client certificate: --redis-client-cert $dir/client.pem --redis-client-key $dir/client.key"
    ;;
stop)
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2> /dev/null || true
    rm -rf "$dir"
    echo "TLS Redis stopped"
    ;;
*)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
