#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Formats the C++ sources with clang-format (style: .clang-format). Only .cpp and .h files: CMake
# files are not C++, and clang-format would mangle them. Usage: format.sh [--check] [FILE...]
#   no FILE   every tracked .cpp and .h file
#   --check   changes nothing; exits 1 and names the files that are not formatted
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "format.sh: clang-format is missing (apt-get install clang-format)" >&2; exit 2; }
check=false
if [ "${1:-}" = "--check" ]; then check=true; shift; fi
files=()
if [ $# -gt 0 ]; then
    for f in "$@"; do
        case "$f" in *.cpp|*.h) files+=("$f") ;; *) echo "format.sh: skipping $f (not C++)" >&2 ;; esac
    done
else
    mapfile -t files < <(git ls-files '*.cpp' '*.h')
fi
[ ${#files[@]} -gt 0 ] || exit 0
if $check; then
    clang-format --dry-run --Werror "${files[@]}"
else
    clang-format -i "${files[@]}"
fi
