#!/usr/bin/env bash
# check_pprof.sh <test_profiles binary> <scratch dir>: runs the program, then reads its
# three profiles with `go tool pprof -top` and checks that the functions that blocked
# are there. Exit 77 (skipped) when Go is not installed.
set -u
bin=$1
dir=$2
go=$(command -v go || true)
[ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
if [ -z "$go" ]; then
    echo "go not found: skipped"
    exit 77
fi
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$bin" "$dir" || { echo "test_profiles failed"; exit 1; }
export PPROF_TMPDIR="$dir" GOTOOLCHAIN=local GOFLAGS=
status=0
expect() { # profile, extra flags, pattern...
    local prof=$1 flags=$2
    shift 2
    local out
    out=$("$go" tool pprof -top $flags "$dir/$prof.pb" 2>&1) || { echo "pprof failed on $prof:"; echo "$out"; status=1; return; }
    for pat in "$@"; do
        if ! grep -Eq -- "$pat" <<<"$out"; then
            echo "$prof: missing /$pat/ in:"
            echo "$out"
            status=1
        fi
    done
}
expect goroutine "" "block_on_channel" "gort_chan_recv" "main_goroutine" "Type: goroutine"
expect block "-sample_index=delay" "wait_for_reply" "Type: delay"
expect block "-sample_index=contentions" "block_on_channel|wait_for_reply"
expect mutex "-sample_index=delay" "hold_mutex" "gort_mutex_unlock" "Type: delay"
[ $status -eq 0 ] && echo "pprof reads all three profiles"
exit $status
