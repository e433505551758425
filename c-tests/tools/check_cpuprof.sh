#!/usr/bin/env bash
# check_cpuprof.sh <test_cpu_profile binary> <scratch dir>: runs the program with a
# profile file, then reads it with `go tool pprof`: spin_heavy (twice the work) and
# spin_light must get the CPU samples in a 2:1 proportion (within 15%), and the samples
# must carry `goroutine` labels that `-tagfocus` selects, one goroutine per function; in
# the second profile, a frameless leaf's samples must be charged to its caller.
# Exit 77 (skipped) when Go is not installed.
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
prof="$dir/cpu.pb"
GORT_MAXPROCS=2 "$bin" "$prof" || { echo "test_cpu_profile failed"; exit 1; }
export PPROF_TMPDIR="$dir" GOTOOLCHAIN=local GOFLAGS=
top=$("$go" tool pprof -top -sample_index=samples "$prof" 2>&1) || { echo "pprof failed:"; echo "$top"; exit 1; }
echo "$top"
# Flat sample counts of the two functions (first column of their rows).
flat() { awk -v f="$1" '$NF == f { print $1; exit }' <<<"$top"; }
heavy=$(flat spin_heavy)
light=$(flat spin_light)
if [ -z "$heavy" ] || [ -z "$light" ] || [ "$light" -eq 0 ]; then
    echo "spin_heavy ($heavy) or spin_light ($light) missing from the profile"
    exit 1
fi
# heavy/light must be 2 +- 15%: 1.7 <= heavy/light <= 2.3, in integers.
if [ $((heavy * 10)) -lt $((light * 17)) ] || [ $((heavy * 10)) -gt $((light * 23)) ]; then
    echo "proportion off: spin_heavy $heavy samples, spin_light $light (want 2:1 +-15%)"
    exit 1
fi
echo "proportion ok: spin_heavy $heavy, spin_light $light"
grep -q "Type: samples" <<<"$top" || { echo "not a cpu profile"; exit 1; }
cpu=$("$go" tool pprof -top "$prof" 2>&1)
grep -q "Type: cpu" <<<"$cpu" || { echo "no cpu sample type:"; echo "$cpu"; exit 1; }
# Labels: the goroutine ids, each selecting one of the two functions.
tags=$("$go" tool pprof -tags "$prof" 2>&1)
echo "$tags"
grep -q "goroutine:" <<<"$tags" || { echo "no goroutine label"; exit 1; }
ids=$(awk '/goroutine:/ { on = 1; next } on && /: *[0-9]+$/ { print $NF }' <<<"$tags")
found_heavy= found_light=
for id in $ids; do
    t=$("$go" tool pprof -top -tagfocus="goroutine=$id" "$prof" 2>&1)
    h=$(grep -c ' spin_heavy$' <<<"$t")
    l=$(grep -c ' spin_light$' <<<"$t")
    if [ "$h" -gt 0 ] && [ "$l" -gt 0 ]; then
        echo "goroutine $id has both functions"
        exit 1
    fi
    [ "$h" -gt 0 ] && found_heavy=$id
    [ "$l" -gt 0 ] && found_light=$id
done
if [ -z "$found_heavy" ] || [ -z "$found_light" ]; then
    echo "-tagfocus=goroutine=N does not select the spinning goroutines (ids: $ids)"
    exit 1
fi
echo "labels ok: spin_heavy in goroutine $found_heavy, spin_light in goroutine $found_light"
# The frameless leaf: samples in leaf_mix (no frame record of its own) must still be
# charged to its caller, leaf_caller (at least 90% of the samples under it).
leaf=$("$go" tool pprof -top -sample_index=samples "$prof.leaf" 2>&1) || { echo "pprof failed on the leaf profile:"; echo "$leaf"; exit 1; }
echo "$leaf"
total=$(sed -n 's/.*Total samples = \([0-9]*\).*/\1/p' <<<"$leaf")
cum=$(awk '$NF == "leaf_caller" { print $4; exit }' <<<"$leaf")
if [ -z "$total" ] || [ -z "$cum" ] || [ "$total" -eq 0 ] || [ $((cum * 10)) -lt $((total * 9)) ]; then
    echo "leaf_caller holds $cum of $total samples: the caller of a frameless leaf was lost"
    exit 1
fi
echo "leaf ok: leaf_caller holds $cum of $total samples"
