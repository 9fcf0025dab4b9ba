#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Checks, unattended, that the README's curl walkthrough ("See the cache hit, the miss and the 429")
# still holds against the real service.
#
# It builds cachedash (scripts/build.sh --target cachedash), starts
#   cachedash --headless --port 8000 --private-redis --access-log off
# waits for /livez, then takes the commands from README.md's ```console blocks (the lines that
# start with "$ ", with the for-loop's continuation lines joined to its first line) and runs them in
# order with bash, as a reader would paste them. It checks the facts the README states, not the exact
# bytes (times, dates and Retry-After vary):
#   - the first GET of a report answers "cached":false and takes at least 1 s, the second "cached":true
#     with the same generated_at, and the GET after the refresh "cached":false again;
#   - redis-cli GET prints the stored report, redis-cli TTL prints 28 to 30;
#   - the refresh prints {"invalidated":true};
#   - the burst of 7 shows exactly five 200s, then 429s with a Retry-After from 1 to 10;
#   - curl -si shows 429 with RateLimit-Limit: 5, RateLimit-Remaining: 0, RateLimit-Policy: 5;w=10,
#     a Retry-After from 1 to 10 and {"detail":"Rate limit exceeded"}.
# The README's redis-cli commands use the default port 6379: the README relies on the private
# redis-server taking 6379 when that port is free, so this script needs 6379 free before it starts
# and checks afterwards that what answers there is the service's own private redis-server.
#
# Usage: scripts/check-readme.sh   (from any directory; needs ports 8000 and 6379 free, and the
# packages of scripts/setup.sh: it does not install them). Build output goes to a log file whose
# path is printed only when the build fails. One line per check, "ok: ..." or "FAILED: ...";
# the exit code is 1 when any check failed. The service (and with it its private redis-server) is
# stopped on exit, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

readme=README.md
port=8000
work=$(mktemp -d "${TMPDIR:-/tmp}/check-readme.XXXXXX")
service_pid=
failures=0

ok() { echo "ok: $*"; }
failed() { echo "FAILED: $*"; failures=$((failures + 1)); }
# For a fault that makes the remaining checks meaningless: report it and stop (cleanup runs on EXIT).
fatal() { failed "$*"; exit 1; }

cleanup() {
    if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
        # SIGTERM: cachedash stops its private redis-server itself (it does so even on SIGKILL).
        kill "$service_pid" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$service_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$service_pid" 2>/dev/null; then
            echo "check-readme: cachedash ($service_pid) did not stop on SIGTERM; killing it" >&2
            kill -9 "$service_pid" 2>/dev/null
        fi
        wait "$service_pid" 2>/dev/null
    fi
    # The private redis-server is the service's child; make sure it went with it.
    for pid in ${redis_pids:-}; do
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "check-readme: the private redis-server ($pid) outlived cachedash; stopping it" >&2
            kill "$pid" 2>/dev/null
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True when something accepts TCP connections on host:port.
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---- prerequisites
for tool in curl redis-cli; do
    command -v "$tool" >/dev/null || fatal "$tool is not installed (scripts/setup.sh installs it)"
done

# ---- the walkthrough's commands, from the README
# Each "$ " line starts a command; it takes the following lines while it ends with a backslash or is
# not yet a complete bash command (the for-loop up to its "done"). The other lines are the README's
# sample output.
commands=()
in_block=0
cmd=
while IFS= read -r line || [ -n "$line" ]; do
    if [ $in_block -eq 0 ]; then
        [[ "$line" == '```console'* ]] && in_block=1
        continue
    fi
    if [[ "$line" == '```'* ]]; then
        [ -n "$cmd" ] && commands+=("$cmd")
        cmd=
        in_block=0
        continue
    fi
    if [ -n "$cmd" ]; then
        if [[ "$cmd" == *\\ ]] || ! bash -n -c "$cmd" 2>/dev/null; then
            cmd+=$'\n'"$line"
            continue
        fi
        commands+=("$cmd")
        cmd=
    fi
    [[ "$line" == '$ '* ]] && cmd=${line#\$ }
done < "$readme"
[ ${#commands[@]} -gt 0 ] || fatal "no commands found in the \`\`\`console blocks of $readme"
for c in "${commands[@]}"; do
    bash -n -c "$c" 2>/dev/null || fatal "a command from $readme is not valid bash: $c"
done
ok "${#commands[@]} commands found in $readme's console blocks"

# The README tells the reader to wait 10 s between the walkthrough and the burst; this script does the
# same, so it must still say so.
if grep -q 'wait 10 s after the commands above' "$readme"; then
    ok "$readme still says to wait 10 s before the burst"
else
    failed "$readme no longer says \"wait 10 s after the commands above\": update the wait in this script"
fi

# ---- build and start
build_log="${TMPDIR:-/tmp}/check-readme-build.log"
if ! dir=$(scripts/build.sh --target cachedash 2>"$build_log" | tail -n 1) || [ ! -x "$dir/src/cachedash" ]; then
    tail -n 20 "$build_log" >&2
    fatal "the build failed (whole log: $build_log)"
fi
rm -f "$build_log"
ok "built $dir/src/cachedash"

# The README's commands say "localhost", which curl tries as ::1 and as 127.0.0.1: both must be free,
# or the walkthrough would talk to someone else's service.
for host in 127.0.0.1 ::1; do
    listening "$host" "$port" && fatal "port $port is busy on $host: stop what listens there first (ss -ltnp 'sport = :$port')"
done
# The README's redis-cli commands talk to 127.0.0.1:6379 and count on the private redis-server taking
# that port ("on 6379 if that port is free, so redis-cli works unchanged").
listening 127.0.0.1 6379 && fatal "port 6379 is busy: the README's redis-cli commands need the private redis-server there; stop what listens on 6379 first (ss -ltnp 'sport = :6379')"
ok "ports $port and 6379 are free"

service_log="$work/cachedash.log"
"$dir/src/cachedash" --headless --port "$port" --private-redis --access-log off >"$service_log" 2>&1 &
service_pid=$!
up=0
for _ in $(seq 1 150); do
    kill -0 "$service_pid" 2>/dev/null || break
    if curl -s -f -o /dev/null --max-time 1 "http://127.0.0.1:$port/livez"; then
        up=1
        break
    fi
    sleep 0.2
done
if [ $up -ne 1 ]; then
    sed 's/^/    cachedash: /' "$service_log" >&2
    fatal "cachedash did not answer /livez on port $port within 30 s"
fi
ok "cachedash answers /livez on port $port"

# What answers on 6379 must be the private redis-server this cachedash started (its child process).
redis_pids=$(ps -o pid=,comm= --ppid "$service_pid" | awk '$2 == "redis-server" { print $1 }' | tr '\n' ' ')
redis_pid_6379=$(redis-cli -p 6379 INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
if [ -n "$redis_pid_6379" ] && [[ " $redis_pids " == *" $redis_pid_6379 "* ]]; then
    ok "the private redis-server (pid $redis_pid_6379) is on 6379, so the README's redis-cli commands reach it"
else
    grep -i 'redis' "$service_log" | sed 's/^/    cachedash: /' >&2
    fatal "6379 is not the service's private redis-server (what answers there: pid '${redis_pid_6379:-nothing}'; the service's: '${redis_pids:-none}'): the README's redis-cli commands would miss it"
fi

# ---- run the commands in order, and check each
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2" | head -n 1; }

gets=0
first_generated=
seen=
for c in "${commands[@]}"; do
    kind=other
    case "$c" in
        *'for i in'*) kind=burst ;;
        *'curl -si'*) kind=headers ;;
        *'-X POST'*'/refresh'*) kind=refresh ;;
        *'redis-cli TTL'*) kind=ttl ;;
        *'redis-cli GET'*) kind=redis-get ;;
        *curl*'/reports/'*) kind='get' ;;
    esac
    if [ $kind = burst ]; then
        # As the README says: "wait 10 s after the commands above, which used part of your window".
        # The GETs above were admitted by the limiter (5 per 10 s per client, across regions); after
        # 10 s they have all left the window and the burst starts from an empty one.
        sleep 10
    fi
    out=$(bash -c "$c" 2>&1)
    rc=$?
    seen+=" $kind"
    short=$(head -n 1 <<<"$c")
    if [ $rc -ne 0 ]; then
        failed "\`$short\` exited with $rc: $(head -c 300 <<<"$out")"
        continue
    fi
    case $kind in
    get)
        gets=$((gets + 1))
        cached=$(field cached "$out")
        generated=$(field generated_at "$out")
        secs=$(sed -n 's/^(\([0-9.]*\)s)$/\1/p' <<<"$out")
        case $gets in
        1)
            first_generated=$generated
            if [ "$cached" = false ] && [ -n "$secs" ] && awk -v s="$secs" 'BEGIN { exit !(s >= 1) }'; then
                ok "first GET: \"cached\":false in ${secs}s (a miss, computed)"
            else
                failed "first GET: expected \"cached\":false taking >= 1 s, got: $out"
            fi ;;
        2)
            if [ "$cached" = true ] && [ "$generated" = "$first_generated" ]; then
                ok "second GET: \"cached\":true, same generated_at, in ${secs:-?}s (a hit)"
            else
                failed "second GET: expected \"cached\":true with generated_at $first_generated, got: $out"
            fi ;;
        *)
            if [ "$cached" = false ] && [ "$generated" != "$first_generated" ]; then
                ok "GET after the refresh: \"cached\":false, a new generated_at (computed again)"
            else
                failed "GET after the refresh: expected \"cached\":false with a new generated_at, got: $out"
            fi ;;
        esac ;;
    redis-get)
        if [ "$(field region "$out")" = '"emea"' ] && [ "$(field generated_at "$out")" = "$first_generated" ]; then
            ok "redis-cli GET: the stored report (same generated_at)"
        else
            failed "redis-cli GET: expected the stored emea report with generated_at $first_generated, got: $out"
        fi ;;
    ttl)
        if [[ "$out" =~ ^[0-9]+$ ]] && [ "$out" -ge 28 ] && [ "$out" -le 30 ]; then
            ok "redis-cli TTL: $out (28 to 30)"
        else
            failed "redis-cli TTL: expected 28 to 30, got: $out"
        fi ;;
    refresh)
        if [ "$out" = '{"invalidated":true}' ]; then
            ok "refresh: {\"invalidated\":true}"
        else
            failed "refresh: expected {\"invalidated\":true}, got: $out"
        fi ;;
    burst)
        mapfile -t codes < <(sed -n 's/^ HTTP \([0-9]*\) .*/\1/p' <<<"$out")
        mapfile -t waits < <(sed -n 's/^ HTTP [0-9]* Retry-After: *\([^ ]*\) *$/\1/p' <<<"$out")
        problem=
        for i in "${!codes[@]}"; do
            if [ "$i" -lt 5 ]; then
                [ "${codes[$i]}" = 200 ] || problem+="request $((i + 1)) got ${codes[$i]}, not 200; "
                [ -z "${waits[$i]:-}" ] || problem+="request $((i + 1)) has a Retry-After; "
            else
                [ "${codes[$i]}" = 429 ] || problem+="request $((i + 1)) got ${codes[$i]}, not 429; "
                w=${waits[$i]:-}
                { [[ "$w" =~ ^[0-9]+$ ]] && [ "$w" -ge 1 ] && [ "$w" -le 10 ]; } \
                    || problem+="request $((i + 1)) has Retry-After '$w', not 1 to 10; "
            fi
        done
        [ ${#codes[@]} -gt 5 ] || problem+="only ${#codes[@]} answers; "
        if [ -z "$problem" ]; then
            ok "burst: five 200s, then $(( ${#codes[@]} - 5 )) 429s with Retry-After ${waits[*]:5}"
        else
            failed "burst: $problem(codes: ${codes[*]}; output: $(tr '\n' '|' <<<"$out"))"
        fi ;;
    headers)
        head_part=$(tr -d '\r' <<<"$out")
        header() { sed -n "s/^$1: *//Ip" <<<"$head_part" | head -n 1; }
        problem=
        status=$(head -n 1 <<<"$head_part")
        [[ "$status" == 'HTTP/1.1 429 '* ]] || problem+="status line '$status'; "
        [ "$(header RateLimit-Limit)" = 5 ] || problem+="RateLimit-Limit '$(header RateLimit-Limit)'; "
        [ "$(header RateLimit-Remaining)" = 0 ] || problem+="RateLimit-Remaining '$(header RateLimit-Remaining)'; "
        [ "$(header RateLimit-Policy)" = '5;w=10' ] || problem+="RateLimit-Policy '$(header RateLimit-Policy)'; "
        ra=$(header Retry-After)
        { [[ "$ra" =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] && [ "$ra" -le 10 ]; } || problem+="Retry-After '$ra'; "
        [[ "$head_part" == *'{"detail":"Rate limit exceeded"}' ]] || problem+="body not {\"detail\":\"Rate limit exceeded\"}; "
        if [ -z "$problem" ]; then
            ok "curl -si: 429 with RateLimit-Limit: 5, RateLimit-Remaining: 0, RateLimit-Policy: 5;w=10, Retry-After: $ra"
        else
            failed "curl -si: unexpected $problem(output: $(tr '\n' '|' <<<"$head_part"))"
        fi ;;
    other)
        ok "\`$short\` ran (this script has no check for it)" ;;
    esac
done

# Every step the README shows must still be there, or the checks above would pass by omission.
for kind in get redis-get ttl refresh burst headers; do
    [[ " $seen " == *" $kind "* ]] || failed "$readme's walkthrough no longer has its '$kind' command; update this script"
done
[ $gets -ge 3 ] || failed "$readme's walkthrough has $gets report GETs before the burst, not 3; update this script"

if ! kill -0 "$service_pid" 2>/dev/null; then
    failed "cachedash exited during the walkthrough"
fi

if [ $failures -eq 0 ]; then
    echo "all checks passed"
else
    echo "$failures check(s) FAILED"
    exit 1
fi
