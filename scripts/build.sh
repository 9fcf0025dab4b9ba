#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Configures and builds Cachedash. Usage: build.sh [--sanitize|--tsan|--release] [--target NAME]...
#   default      build/       RelWithDebInfo, warnings are errors
#   --release    build-release/  Release (what the benchmarks use)
#   --sanitize   build-asan/  Debug with AddressSanitizer and UndefinedBehaviorSanitizer
#   --tsan       build-tsan/  RelWithDebInfo with ThreadSanitizer. Not Debug: TSan already slows
#                code 5-15x, and -O0 on top would make the window's timed tests crawl; -O2 is also
#                the code the default build ships, and -g keeps file:line (inlined frames too) in reports.
# --target may be given more than once.
# Prints the build directory on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
args=(-DCACHEDASH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
target=()
while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
        --target) target+=(--target "$1"); shift ;;
        --sanitize) dir=build-asan; args=(-DCACHEDASH_WERROR=ON -DCACHEDASH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
        --tsan) dir=build-tsan; args=(-DCACHEDASH_WERROR=ON -DCACHEDASH_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
        --release) dir=build-release; args=(-DCACHEDASH_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DCACHEDASH_BUILD_TESTS=OFF) ;;
        *) echo "build.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

cmake -S . -B "$dir" -G Ninja "${args[@]}" >&2
cmake --build "$dir" --parallel "$(nproc)" "${target[@]}" >&2
echo "$dir"
