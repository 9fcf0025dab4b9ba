#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The first quick-start command: installs what is missing, builds, and starts cachedash.
# Arguments are passed to cachedash (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
dir=$(scripts/build.sh --target cachedash | tail -n 1)
exec "$dir/src/cachedash" "$@"
