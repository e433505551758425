#!/bin/sh
# lib-exports: the libraries C programs link expose the C API and nothing else.
#   - lib/libgort.a defines no global symbol but gort_* ones of default visibility (no
#     __rust_alloc, rust_eh_personality, std or compiler_builtins symbol);
#   - libgort.so.X.Y.Z has the SONAME libgort.so.X and exports only gort_* symbols;
#   - the two define the same set, and it holds every function gort.h declares.
#   sh lib_exports.sh <readelf> <libgort.a> <libgort.so.X.Y.Z> <SONAME> <gort.h> <work dir>
set -eu
readelf=$1 archive=$2 shared=$3 soname=$4 header=$5 work=$6
rm -rf "$work"
mkdir -p "$work"
status=0

# Defined symbols that are not local, as "visibility name" (readelf -s -W columns:
# Num Value Size Type Bind Vis Ndx Name; archives add "File:" headers, skipped).
defined_globals() {
    awk '$1 ~ /^[0-9]+:$/ && $5 != "LOCAL" && $7 != "UND" && NF >= 8 { sub(/@.*/, "", $8); print $6, $8 }'
}

"$readelf" -s -W "$archive" | defined_globals | sort -u >"$work/archive.txt"
"$readelf" --dyn-syms -W "$shared" | defined_globals | sort -u >"$work/shared.txt"

for lib in archive shared; do
    if [ ! -s "$work/$lib.txt" ]; then
        echo "FAILED: $lib: no global symbols at all"
        status=1
    fi
    if grep -v '^DEFAULT gort_' "$work/$lib.txt" >"$work/$lib.extra.txt"; then
        echo "FAILED: $lib defines global symbols outside the C API ($(wc -l <"$work/$lib.extra.txt") of them):"
        head -n 20 "$work/$lib.extra.txt"
        status=1
    fi
done
if ! diff -u "$work/archive.txt" "$work/shared.txt"; then
    echo "FAILED: $archive and $shared define different symbols (diff above: - archive, + shared)"
    status=1
fi

# Every function the header declares (its declarations start in column 0 and are not the
# static inline helpers of its trailer) is defined.
grep -E '^[a-z].*[ *]gort_[a-z0-9_]+\(' "$header" | grep -v '^static ' |
    sed -E 's/^.*[ *](gort_[a-z0-9_]+)\(.*$/\1/' | sort -u >"$work/header.txt"
sed 's/^DEFAULT //' "$work/archive.txt" >"$work/archive.names.txt"
if [ ! -s "$work/header.txt" ]; then
    echo "FAILED: found no function declarations in $header"
    status=1
elif comm -23 "$work/header.txt" "$work/archive.names.txt" | grep . >"$work/missing.txt"; then
    echo "FAILED: declared in gort.h but not defined by $archive:"
    cat "$work/missing.txt"
    status=1
fi

got=$("$readelf" -d "$shared" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$got" != "$soname" ]; then
    echo "FAILED: $shared has SONAME '$got', not '$soname'"
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "PASSED: $(wc -l <"$work/archive.txt") gort_* symbols, the same in both libraries," \
        "$(wc -l <"$work/header.txt") functions of gort.h among them; SONAME $got"
fi
exit "$status"
