#!/bin/sh
# header-drift: fails when the checked-in include/gort.h differs from what build.rs generated
# during the build. Exits 77 (ctest: skipped) outside a git checkout.
#   sh header_drift.sh <source dir>
src=${1:?usage: header_drift.sh <source dir>}
if ! command -v git >/dev/null 2>&1; then
    echo "SKIP: git is not installed"
    exit 77
fi
if [ "$(git -C "$src" rev-parse --is-inside-work-tree 2>/dev/null)" != "true" ]; then
    echo "SKIP: $src is not a git checkout"
    exit 77
fi
if git -C "$src" diff --exit-code -- include/gort.h; then
    echo "PASSED: include/gort.h matches the generated header"
else
    echo "FAILED: include/gort.h differs from what build.rs generates (diff above):"
    echo "        commit the regenerated header."
    exit 1
fi
