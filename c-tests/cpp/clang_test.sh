#!/bin/sh
# clang_test.sh: builds a C++ test with clang++ and runs it through run_test.cmake, for the
# clang-cpp17-* / clang-cpp20-* tests. Where clang++ is missing and the test may install
# packages (root, apt-get, GORT_TEST_NO_INSTALL unset), it installs Debian's clang first,
# once for all the tests (a lock serializes them); otherwise it skips (exit 77).
#
#   clang_test.sh STD SRC OUT INCLUDE_DIR TEST_DIR LIB RUN_TEST TIMEOUT CMAKE
set -eu
std=$1 src=$2 out=$3 inc=$4 testdir=$5 lib=$6 run_test=$7 timeout=$8 cmake=$9

find_clang() {
    for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

cxx=$(find_clang) || cxx=
if [ -z "$cxx" ] && [ -z "${GORT_TEST_NO_INSTALL-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    lock="${TMPDIR:-/tmp}/gort-clang-install.lock"
    failed="${TMPDIR:-/tmp}/gort-clang-install.failed"
    (
        flock 9
        # One attempt per boot of the machine's package state: the other clang tests wait
        # for it and skip at once if it failed.
        if ! find_clang >/dev/null && [ ! -e "$failed" ]; then
            echo "clang++ not found: installing Debian's clang (set GORT_TEST_NO_INSTALL=1 to skip instead)"
            DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends clang >/dev/null 2>&1 ||
                { timeout 120 apt-get update >/dev/null 2>&1 &&
                    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends clang >/dev/null 2>&1; } ||
                { echo "apt-get install clang failed"; touch "$failed"; }
        fi
    ) 9>"$lock"
    cxx=$(find_clang) || cxx=
fi
if [ -z "$cxx" ]; then
    echo "SKIPPED: no clang++ on this machine"
    exit 77
fi
mkdir -p "$(dirname "$out")"
"$cxx" -std=c++"$std" -Wall -Wextra -Wpedantic -Werror -g -O1 -fno-omit-frame-pointer -UNDEBUG \
    -I"$inc" -I"$testdir" "$src" "$lib" -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$out"
exec "$cmake" "-DEXE=$out" "-DSRC=$src" "-DTIMEOUT=$timeout" -P "$run_test"
