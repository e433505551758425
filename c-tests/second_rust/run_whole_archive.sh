#!/bin/sh
# whole-archive: lib/libgort.a links beside another Rust static library (this directory's
# crate, built here with cargo) with both archives under -Wl,--whole-archive, in either
# order, and the program runs. Exits 77 (ctest: skipped) when cargo is missing.
#   sh run_whole_archive.sh <cargo> <cc> <gort.h dir> <libgort.a> <work dir> <native libs>...
set -eu
cargo=$1 cc=$2 include=$3 gort_archive=$4 work=$5
shift 5
if ! command -v "$cargo" >/dev/null 2>&1; then
    echo "SKIP: cargo not found ($cargo)"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"

# --offline --locked: no network, and the source tree's Cargo.lock is left as it is.
echo "==> cargo build --release ($here)"
CARGO_TARGET_DIR="$work/target" "$cargo" build --release --offline --locked --manifest-path "$here/Cargo.toml"
other_archive="$work/target/release/libsecond_rust.a"

# link_and_run <name> <first archive> <second archive> <native libs>...
link_and_run() {
    exe="$work/both_rust-$1" first=$2 second=$3
    shift 3
    echo "==> link ($first, then $second, both whole)"
    "$cc" -std=c11 -Wall -Wextra -Werror -I"$include" "$here/both_rust.c" -o "$exe" \
        -Wl,--whole-archive "$first" "$second" -Wl,--no-whole-archive "$@"
    echo "==> run $exe"
    "$exe"
}
link_and_run gort-first "$gort_archive" "$other_archive" "$@"
link_and_run other-first "$other_archive" "$gort_archive" "$@"
echo "PASSED: libgort.a and a second Rust static library link together with --whole-archive"
