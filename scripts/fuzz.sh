#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan) in build-fuzz/ and runs each one for a
# bounded time, starting from a copy of its seed corpus in fuzz/corpus/<target>/ (which it never
# writes to). Usage: fuzz.sh [SECONDS-PER-TARGET] [TARGET...]   (default: 20 seconds, all targets)
# Each run works in build-fuzz/runs/<target>/: its log, the corpus it grew, and any crash-*, leak-*,
# oom-* or timeout-* input. Exits non-zero when a target found one.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(region redisurl redisreply clientidentity httprequestscanner ratelimit)
seconds=${1:-20}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
case "$seconds" in
    '' | *[!0-9]* | 0) echo "fuzz.sh: seconds must be a whole number from 1 (got \"$seconds\")" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
    [ -d "fuzz/corpus/$t" ] || { echo "fuzz.sh: unknown target $t (known: ${all[*]})" >&2; exit 2; }
done

scripts/setup.sh
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >&2
cmake --build build-fuzz --parallel "$(nproc)" >&2

# A value of libFuzzer's final statistics (-print_final_stats), and a field of its last status line
# ("#N DONE cov: C ft: F corp: K/S lim: L exec/s: E rss: R").
# "-" when the run ended before there was one.
final_stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1 | grep . || echo -; }
field() { sed -nE "s/.* $2: ([^ ]+).*/\1/p" <<<"$1" | grep . || echo -; }

failed=()
summary=()
for t in "${targets[@]}"; do
    run=build-fuzz/runs/$t
    rm -rf "$run"
    mkdir -p "$run/corpus"
    cp fuzz/corpus/"$t"/* "$run/corpus/"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    echo "fuzz_$t: ${seconds}s from $(ls "$run/corpus" | wc -l) seeds"
    started=$SECONDS
    status=0
    build-fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$run/" "${dict[@]}" "$run/corpus" >"$run/log" 2>&1 || status=$?
    last=$(grep -E '^#[0-9]+' "$run/log" | tail -n 1 || true)
    line=$(printf '%-15s %9s execs %7s exec/s  cov %-4s ft %-5s corpus %-10s rss %-6s %3ss' "$t" \
        "$(final_stat "$run/log" number_of_executed_units)" "$(final_stat "$run/log" average_exec_per_sec)" \
        "$(field "$last" cov)" "$(field "$last" ft)" "$(field "$last" corp)" "$(field "$last" rss)" \
        "$((SECONDS - started))")
    artifacts=$(ls "$run" | grep -E '^(crash|leak|oom|timeout|slow-unit)-' || true)
    if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
        failed+=("$t")
        summary+=("$line  FAILED (exit $status)")
        echo "fuzz_$t FAILED (exit $status), from $run/log:" >&2
        grep -E 'invariant violated|ERROR:|SUMMARY:|runtime error' "$run/log" | head -n 5 >&2 || true
        for a in $artifacts; do
            echo "  input: $run/$a (reproduce: build-fuzz/fuzz_$t $run/$a)" >&2
        done
    else
        summary+=("$line  ok")
    fi
done

echo "== fuzzing summary (${seconds}s per target; logs, grown corpora and crashes in build-fuzz/runs/)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${failed[*]} found a problem" >&2
    exit 1
fi
