#!/bin/sh
# doc_blocks.sh: the C and C++ code blocks of README.md and the examples in include/gort.h,
# as ctest tests (c-tests/DocTests.cmake registers one test per block and variant).
#
#   doc_blocks.sh list FILE                      one line per block: NAME KIND LINE
#   doc_blocks.sh extract FILE NAME OUT          writes the block as a program; prints LINE LANG
#   doc_blocks.sh run CONFIG FILE NAME MODE DIR  extracts, compiles and runs one block;
#                                                MODE: plain, asan or valgrind
#   doc_blocks.sh check-index INDEX FILE...      fails if FILE's blocks are not INDEX's
#
# What counts as a block, and how it becomes a program:
#   README.md (Markdown): every fence opened by a line "```c" (indented or not), and every
#     "```cpp" fence, which must be a complete C++17 program (kind cpp-program).
#     - A block that defines main() is a complete program: compiled as it is.
#     - Any other block (a fragment) must come right after (blank lines allowed) an HTML
#       comment that gives it a complete program to live in, invisible on a rendered page:
#           <!-- doc-test: wrap
#           ...C code, with a line holding only DOC_TEST_BLOCK where the block goes...
#           -->
#       A fragment without one fails its test, naming its line.
#     Blocks are named after the file and numbered in order: readme-1, readme-2, ...
#   gort.h (generated from the `///` docs of src/ffi/*.rs): an example is a doc comment
#     block "// ```c" ... "// ```"; each must be a complete program. Named after the
#     function it documents (doc-gort_main; a second example there: gort_main-2).
# Programs are compiled with #line directives pointing into FILE, so compiler errors,
# ASan and valgrind name FILE:LINE. A block passes when it compiles with the C tests'
# flags (-Wall -Wextra -Werror) and exits 0 with no ASan or valgrind error.
set -eu

die() {
    echo "doc_blocks.sh: $*" >&2
    exit 2
}

# scan FILE ACTION [NAME OUT]: ACTION "list" prints NAME KIND LINE per block; "extract"
# writes block NAME to OUT and prints its fence's line. Exit 3: no such block; 4: the
# block is a fragment without a wrapper (the message names the line).
scan() {
    awk -v action="$2" -v want="${3-}" -v out="${4-}" -v path="$1" '
    function fail(line, msg) {
        printf "%s:%d: %s\n", path, line, msg > "/dev/stderr"
        failed = 1
        exit 4
    }
    function is_program(b,    i) {
        for (i = 1; i <= nlines[b]; i++)
            if (text[b, i] ~ /(^|[^A-Za-z0-9_])main[ \t]*\(/)
                return 1
        return 0
    }
    function finish(b,    base) {
        if (header) {
            base = name[b]
            count[base]++
            if (count[base] > 1)
                name[b] = base "-" count[base]
        } else {
            name[b] = stem "-" b
        }
        if (lang[b] == "cpp")
            kind[b] = is_program(b) ? "cpp-program" : "cpp-fragment"
        else if (is_program(b))
            kind[b] = "program"
        else if (wrapn[b] > 0)
            kind[b] = "wrapped"
        else
            kind[b] = "fragment"
    }
    function emit(b,    i, j, w) {
        if (header && kind[b] != "program")
            fail(fence[b], "an example in the header must be a complete program (with main)")
        if (kind[b] == "cpp-fragment")
            fail(fence[b], "a ```cpp block must be a complete program (with main)")
        if (kind[b] == "fragment")
            fail(fence[b], "this ```c block has no main() and no <!-- doc-test: wrap ... --> comment before it: make it a complete program or give it one (see c-tests/doc_blocks.sh)")
        if (kind[b] == "program" || kind[b] == "cpp-program") {
            printf "#line %d \"%s\"\n", fence[b] + 1, path > out
            for (i = 1; i <= nlines[b]; i++)
                print text[b, i] > out
            return
        }
        w = 0
        printf "#line %d \"%s\"\n", wline[b, 1], path > out
        for (j = 1; j <= wrapn[b]; j++) {
            if (wtext[b, j] ~ /^[ \t]*DOC_TEST_BLOCK[ \t]*$/) {
                w++
                printf "#line %d \"%s\"\n", fence[b] + 1, path > out
                for (i = 1; i <= nlines[b]; i++)
                    print text[b, i] > out
                if (j < wrapn[b])
                    printf "#line %d \"%s\"\n", wline[b, j + 1], path > out
            } else {
                print wtext[b, j] > out
            }
        }
        if (w != 1)
            fail(wline[b, 1], "a doc-test: wrap comment needs exactly one DOC_TEST_BLOCK line")
    }
    BEGIN {
        header = (path ~ /\.h$/)
        k = split(path, parts, "/")
        stem = tolower(parts[k])
        sub(/\.[^.]*$/, "", stem)
        n = 0; inblock = 0; other = 0; inwrap = 0; pendwrap = 0; needname = 0
    }
    {
        line = $0
        if (header) {
            if (inblock) {
                if (line !~ /^\/\//)
                    fail(fence[n], "example not closed by a // ``` line")
                if (line ~ /^\/\/ ```[ \t]*$/) {
                    inblock = 0; needname = n
                    next
                }
                sub(/^\/\/ ?/, "", line)
                text[n, ++nlines[n]] = line
                next
            }
            if (line ~ /^\/\/ ```c[ \t]*$/) {
                n++; fence[n] = NR; nlines[n] = 0; wrapn[n] = 0; inblock = 1; lang[n] = "c"
                next
            }
            if (needname && line !~ /^\/\// && match(line, /gort_[a-z0-9_]+[ \t]*\(/)) {
                name[needname] = substr(line, RSTART, RLENGTH)
                sub(/[ \t]*\($/, "", name[needname])
                finish(needname)
                needname = 0
            }
            next
        }
        # Markdown. A fence may be indented (in a list): its indentation is taken off the
        # lines of the block.
        if (inblock) {
            if (line ~ /^[ \t]*```[ \t]*$/) {
                inblock = 0; finish(n)
                next
            }
            if (substr(line, 1, length(indent)) == indent)
                line = substr(line, length(indent) + 1)
            text[n, ++nlines[n]] = line
            next
        }
        if (other) {
            if (line ~ /^[ \t]*```[ \t]*$/)
                other = 0
            next
        }
        if (inwrap) {
            if (line ~ /^[ \t]*-->[ \t]*$/) {
                inwrap = 0; pendwrap = 1
                next
            }
            wn++; wl[wn] = NR; wt[wn] = line
            next
        }
        if (line ~ /^<!--[ \t]*doc-test:[ \t]*wrap[ \t]*$/) {
            if (pendwrap)
                fail(wstart, "this doc-test: wrap comment is not followed by a ```c block")
            inwrap = 1; wn = 0; wstart = NR
            next
        }
        if (line ~ /^[ \t]*```(c|cpp)([ \t].*)?$/) {
            n++; fence[n] = NR; nlines[n] = 0; wrapn[n] = 0; inblock = 1
            lang[n] = line ~ /```cpp/ ? "cpp" : "c"
            indent = line
            sub(/```.*$/, "", indent)
            if (pendwrap) {
                wrapn[n] = wn
                for (j = 1; j <= wn; j++) { wline[n, j] = wl[j]; wtext[n, j] = wt[j] }
                pendwrap = 0
            }
            next
        }
        if (line ~ /^[ \t]*```/) {
            other = 1
            next
        }
        if (pendwrap && line !~ /^[ \t]*$/)
            fail(wstart, "this doc-test: wrap comment is not followed by a ```c block")
    }
    END {
        if (failed)
            exit 4
        if (inblock)
            fail(fence[n], "code block not closed")
        if (inwrap)
            fail(wstart, "doc-test: wrap comment not closed by a --> line")
        if (pendwrap)
            fail(wstart, "this doc-test: wrap comment is not followed by a ```c block")
        if (needname)
            fail(fence[needname], "no gort_ function declared after this example")
        for (b = 1; b <= n; b++) {
            if (action == "list") {
                print name[b], kind[b], fence[b]
            } else if (name[b] == want) {
                emit(b)
                close(out)
                print fence[b], lang[b]
                exit 0
            }
        }
        if (action == "extract")
            exit 3
    }' "$1"
}

cmd=${1-}
[ $# -ge 1 ] && shift
case $cmd in
list)
    [ $# -eq 1 ] || die "usage: list FILE"
    scan "$1" list
    ;;
extract)
    [ $# -eq 3 ] || die "usage: extract FILE NAME OUT"
    scan "$1" extract "$2" "$3"
    ;;
check-index)
    [ $# -ge 2 ] || die "usage: check-index INDEX FILE..."
    index=$1
    shift
    now=$(for f in "$@"; do scan "$f" list | sed "s|^|$f |"; done)
    if [ "$now" != "$(cat "$index")" ]; then
        echo "The doc blocks changed since CMake registered their tests. Registered:"
        cat "$index"
        echo "Now:"
        echo "$now"
        echo "Build again (it re-runs CMake), then run ctest."
        exit 1
    fi
    echo "$(echo "$now" | wc -l) doc blocks, all registered"
    ;;
run)
    [ $# -eq 5 ] || die "usage: run CONFIG FILE NAME MODE DIR"
    config=$1 file=$2 name=$3 mode=$4 dir=$5
    # CONFIG sets DOC_CC, DOC_CFLAGS, DOC_CXX, DOC_CXXFLAGS, DOC_LIBS, DOC_ASAN_LIBS,
    # DOC_VALGRIND.
    . "$config"
    mkdir -p "$dir"
    # Per mode: the variants of one block may run at the same time.
    src="$dir/$name-$mode.src"
    exe="$dir/$name-$mode"
    rm -f "$src" "$exe"
    status=0
    found=$(scan "$file" extract "$name" "$src") || status=$?
    if [ $status -eq 3 ]; then
        echo "$file: no doc block $name any more: build again (it re-runs CMake)"
        exit 1
    elif [ $status -ne 0 ]; then
        exit 1
    fi
    line=${found% *} lang=${found#* }
    # The compiler picks the language from the suffix.
    if [ "$lang" = cpp ]; then
        mv "$src" "$dir/$name-$mode.cpp" && src="$dir/$name-$mode.cpp"
        cc=$DOC_CXX base_flags=$DOC_CXXFLAGS
    else
        mv "$src" "$dir/$name-$mode.c" && src="$dir/$name-$mode.c"
        cc=$DOC_CC base_flags=$DOC_CFLAGS
    fi
    where="$file:$line: doc block $name"
    echo "$where ($mode)"
    case $mode in
    asan) flags="$base_flags -fsanitize=address -fno-omit-frame-pointer" libs=$DOC_ASAN_LIBS ;;
    plain | valgrind) flags=$base_flags libs=$DOC_LIBS ;;
    *) die "unknown mode $mode" ;;
    esac
    # shellcheck disable=SC2086 # the flag strings are word lists
    if ! $cc $flags -o "$exe" "$src" $libs; then
        echo "FAILED $where does not compile (errors above, at its lines)"
        exit 1
    fi
    status=0
    if [ "$mode" = valgrind ]; then
        # shellcheck disable=SC2086
        $DOC_VALGRIND "$exe" || status=$?
    else
        "$exe" || status=$?
    fi
    if [ $status -ne 0 ]; then
        case $mode in
        valgrind) [ $status -eq 99 ] && status="99 (valgrind found errors, above)" ;;
        asan) status="$status (ASan reports above, if any)" ;;
        esac
        echo "FAILED $where exited with status $status, expected 0"
        exit 1
    fi
    # Each program holds libgort's debug information: keep only failures' (for gdb).
    rm -f "$exe" "$src"
    echo "PASSED $where"
    ;;
*)
    die "usage: doc_blocks.sh list|extract|run|check-index ..."
    ;;
esac
