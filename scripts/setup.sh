#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian 12 packages Cachedash needs to build, test and run; installs only what is missing.
# Runs apt-get as root, through sudo when started by another user.
set -euo pipefail

packages=(
    # build (dpkg-dev: dpkg-shlibdeps, for the .deb's Depends)
    g++ cmake ninja-build pkgconf dpkg-dev
    qt6-base-dev qt6-httpserver-dev qt6-charts-dev qcoro-qt6-dev libhiredis-dev
    # Qt6HttpServer's CMake package needs Qt6WebSockets, and Qt6Charts' needs Qt6OpenGL,
    # but the -dev packages above do not depend on them.
    qt6-websockets-dev libqt6opengl6-dev
    # run and test: the Redis server (and redis-cli), curl for the walkthrough,
    # Xvfb for the window's screenshot
    redis-server redis-tools curl xvfb xauth openssl
    # fuzzing (scripts/fuzz.sh): clang, and the runtimes with libFuzzer (libclang_rt.fuzzer),
    # which clang only recommends
    clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}"
