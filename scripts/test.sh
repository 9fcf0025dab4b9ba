#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The second quick-start command: installs what is missing, builds, and runs the whole test suite.
# The tests start (and stop) their own private redis-server on free loopback ports.
# Usage: test.sh [--sanitize | --tsan]
#   --sanitize  the same suite built with ASan+UBSan
#   --tsan      only the tests that run our code on a second thread, built (those targets only) with
#               ThreadSanitizer; a test stops at its first report
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

build_args=("$@")
ctest_args=()
if [[ " $* " == *" --tsan "* ]]; then
    # The window with ServiceHost's service thread (and Qt's network and thread-pool threads), and
    # the two sides of the hand-over between them: RequestFeed with the log model, RedisObserver.
    tsan_tests=(tst_mainwindow tst_servicehost tst_requestlogmodel tst_redisobserver)
    for t in "${tsan_tests[@]}"; do
        build_args+=(--target "$t")
    done
    ctest_args=(-R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$")
    # ignore_noninstrumented_modules: the allocator and memcpy calls that Qt, glib and hiredis (not
    # built with TSan) make are not checked, while their pthread synchronisation still counts.
    # tests/tsan.supp: the hand-overs inside Qt that TSan cannot see (it says why, entry by entry).
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$PWD/tests/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
fi
dir=$(scripts/build.sh "${build_args[@]}" | tail -n 1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure --timeout 300 -j "$(nproc)" "${ctest_args[@]}"
