#!/usr/bin/env bash
# dev.sh - the two commands of the README.
#   ./dev.sh start   install what is missing, build, start a demo server
#   ./dev.sh test    install what is missing, build, run the whole test suite
# Runs as root on Debian 12 (or as a user with sudo for the install step).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES="build-essential meson ninja-build pkg-config libmicrohttpd-dev libxml2-dev libical-dev liblmdb-dev libcrypt-dev libunistring-dev zlib1g-dev tzdata"
TEST_PACKAGES="python3 python3-pytest python3-requests python3-caldav vdirsyncer litmus curl lmdb-utils"

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {   # build DIR [meson options...]
    local dir=$1; shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
    ninja -C "$dir" >/dev/null
}

case "${1:-}" in
start)
    install_missing $BUILD_PACKAGES
    build build
    data=${VISITDAV_DATA:-./visitdav-data}
    # The example organisation, customers and rules (conf/demo.conf), so the
    # demo shows team calendars, masked colleagues' visits and the rules.
    exec ./build/server/visitdavd --config conf/demo.conf --data "$data" --demo "${@:2}"
    ;;
test)
    install_missing $BUILD_PACKAGES $TEST_PACKAGES
    build build
    status=0
    meson test -C build --print-errorlogs --num-processes 2 >build/test-output.txt 2>&1 || status=$?
    # The same unit and protocol tests on a sanitizer build (address, undefined).
    if [ "${VISITDAV_SKIP_ASAN:-}" != 1 ]; then
        build build-asan -Db_sanitize=address,undefined -Db_lundef=false
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            meson test -C build-asan --print-errorlogs --suite unit --suite protocol \
            >build-asan/test-output.txt 2>&1 || status=$?
    fi
    # A release build (-O3) must compile without warnings too: the optimiser
    # finds warnings (maybe-uninitialized) that -O2 does not.
    build build-release --buildtype=release || status=$?
    /usr/bin/python3 tools/test_summary.py build build-asan
    exit $status
    ;;
*)
    echo "usage: ./dev.sh start [visitdavd options] | ./dev.sh test" >&2
    exit 2
    ;;
esac
