#!/bin/sh
# The Go + gort test (interop/go), for ctest.
#
#   run_test.sh build GO SRC_DIR WORK_DIR INCLUDE_DIR LIBGORT_A
#       builds the Go program into WORK_DIR/interop with cgo against libgort.a, with Go's
#       caches under WORK_DIR (works on a fresh machine, touches no one's cache)
#   run_test.sh run WORK_DIR MODE EXPECT_EXIT [STDERR_REGEX...]
#       runs `interop MODE`; passes when it exits EXPECT_EXIT and stderr matches every regex
#
# Exit 77 (skipped) when Go is not installed.
set -u

case $1 in
build)
    go=$2 src=$3 work=$4 include=$5 lib=$6
    if [ -z "$go" ] || ! [ -x "$go" ]; then
        echo "go not found: skipping the Go + gort test"
        exit 77
    fi
    mkdir -p "$work"
    # Go's build cache does not look into libraries named in CGO_LDFLAGS: a -L of a path
    # naming libgort.a's hash makes a changed library relink the program.
    stamp=$(sha256sum "$lib" | cut -c1-16)
    cd "$src" || exit 1
    exec env GOCACHE="$work/gocache" GOPATH="$work/gopath" GOTOOLCHAIN=local GOFLAGS= \
        CGO_ENABLED=1 CGO_CFLAGS="-I$include -O2 -g -Wall -Werror" \
        CGO_LDFLAGS="$lib -lpthread -ldl -lm -L/nonexistent/libgort-$stamp" \
        "$go" build -o "$work/interop" .
    ;;
run)
    work=$2 mode=$3 expect=$4
    shift 4
    if ! [ -x "$work/interop" ]; then
        echo "no $work/interop (Go missing?): skipping"
        exit 77
    fi
    err=$work/$mode.stderr
    "$work/interop" "$mode" 2>"$err"
    rc=$?
    cat "$err" >&2
    if [ "$rc" != "$expect" ]; then
        echo "interop $mode: exit status $rc, expected $expect" >&2
        exit 1
    fi
    for re in "$@"; do
        if ! grep -Eq -- "$re" "$err"; then
            echo "interop $mode: stderr does not match: $re" >&2
            exit 1
        fi
    done
    exit 0
    ;;
esac
echo "usage: run_test.sh build|run ..." >&2
exit 2
