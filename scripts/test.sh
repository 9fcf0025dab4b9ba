#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The second quick-start command: installs what is missing, builds, and runs the whole test suite.
# The tests start (and stop) their own private redis-server on free loopback ports.
# Usage: test.sh [--sanitize]   (--sanitize: the same suite built with ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=$(scripts/build.sh "$@" | tail -n 1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure --timeout 300 -j "$(nproc)"
