#!/bin/sh
# Runs the C tests on aarch64 under qemu-user: builds libgort.a for
# aarch64-unknown-linux-gnu (cargo target dir target/aarch64), cross-compiles every
# c-tests/test_*.c that is cheap enough for emulation, and checks each exit status and
# stderr against its magic comments. Skips (exit 77) when the cross tools are missing:
#   rustup target add aarch64-unknown-linux-gnu
#   apt-get install gcc-aarch64-linux-gnu qemu-user
set -u
src=$1
work=$2
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || { echo "no aarch64-linux-gnu-gcc: skipped"; exit 77; }
command -v qemu-aarch64 >/dev/null 2>&1 || { echo "no qemu-aarch64: skipped"; exit 77; }
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' || { echo "no aarch64 Rust target: skipped"; exit 77; }
cd "$src" || exit 1
GORT_SKIP_HEADER=1 CARGO_TARGET_DIR="$src/target/aarch64" \
    cargo rustc --quiet --release --target aarch64-unknown-linux-gnu --lib --crate-type staticlib || exit 1
lib="$src/target/aarch64/aarch64-unknown-linux-gnu/release/libgort.a"
mkdir -p "$work"
failed=0
for f in c-tests/test_*.c; do
    name=$(basename "$f" .c)
    case "$name" in test_million|test_stack_scavenge|test_timer_order) continue ;; esac # too slow / timing-bound under emulation
    # Strict alternation on one P needs no 10 ms without a scheduling event (sysmon would
    # take the P); qemu-user's translation stalls sometimes exceed that: 2 failures in 40
    # runs at the start of issue 13's session as at its end.
    case "$name" in test_gosched) continue ;; esac
    # test_sched_order (the same strict round robin, K yielders): 4 failures in 6 runs
    # under qemu on the code from before issue 14 too, passing natively every time.
    case "$name" in test_sched_order) continue ;; esac
    # qemu-user runs a thread of its own in the process (/proc/self/task lists it), which
    # deadlock detection must take for a host thread that may still call in: it stays
    # silent, as documented, so the tests that expect a deadlock report cannot pass here.
    case "$name" in *deadlock*|test_sleep_long) continue ;; esac
    # These run themselves as child processes (one per scenario): exec of an aarch64
    # binary from inside qemu-user needs binfmt_misc, which CI machines need not have.
    case "$name" in test_traceback_modes|test_trace) continue ;; esac
    # Tests marked `// OPENMP: yes` build with -fopenmp, as c-tests/CMakeLists.txt does.
    omp=
    grep -Eq '^// OPENMP: *yes' "$f" && omp=-fopenmp
    aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE $omp -Iinclude -Ic-tests \
        "$f" "$lib" -lpthread -ldl -lm -lrt -lgcc_s -lutil -o "$work/$name" || { failed=1; continue; }
    want=$(sed -n 's|^// EXPECT_EXIT: *\([0-9]*\).*|\1|p' "$f"); want=${want:-0}
    envs=$(sed -n 's|^// ENV: *||p' "$f")
    # A hang gets SIGQUIT first: gort prints every goroutine's stack before it exits.
    env $envs QEMU_LD_PREFIX=/usr/aarch64-linux-gnu timeout -s QUIT -k 10 120 qemu-aarch64 "$work/$name" >"$work/$name.out" 2>"$work/$name.err"
    got=$?
    ok=1
    [ "$got" = "$want" ] || ok=0
    sed -n 's|^// EXPECT_STDERR: *||p' "$f" | while IFS= read -r re; do
        grep -Eq -- "$(printf '%s' "$re" | sed 's/\\\[/[[]/g; s/\\\]/[]]/g')" "$work/$name.err" || echo "stderr does not match: $re" > "$work/$name.miss"
    done
    [ -e "$work/$name.miss" ] && ok=0 && cat "$work/$name.miss" && rm -f "$work/$name.miss"
    # A program is 11 MB (libgort's debug information): keep only the failures' ones, so
    # that the whole run needs little disk.
    [ $ok = 1 ] && rm -f "$work/$name" "$work/$name.out" "$work/$name.err"
    lines=5
    [ "$got" = 124 ] && lines=150 # timed out: the goroutine dump
    if [ $ok = 1 ]; then echo "ok   $name"; else echo "FAIL $name (exit $got, want $want)"; tail -n $lines "$work/$name.err"; failed=1; fi
done
exit $failed
