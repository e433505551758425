/*
 * check.h: the assertion macros of gort's C tests (they stay on in every build type).
 *
 *   CHECK(cond)      on failure prints "file:line: CHECK failed: cond" to stderr, exits 1
 *   CHECK_EQ(a, b)   on failure also prints both values (as long long), exits 1
 *   statm_bytes(i)   field i of /proc/self/statm in bytes: 0 address space, 1 resident
 *
 * Magic comments a test file may carry (read by c-tests/CMakeLists.txt and run_test.cmake):
 *   // EXPECT_EXIT: N           expected exit status (default 0)
 *   // EXPECT_STDERR: <regex>   must match the stderr output; may repeat. CMake regex
 *                               syntax: no \d or \s, write [0-9] and [ \t]
 *   // ENV: NAME=VALUE          set in the test's environment; may repeat
 *   // TIMEOUT: N               seconds
 *   // VALGRIND: yes            also run as test valgrind-<name> under valgrind
 *   // ASAN: yes                also build with -fsanitize=address against libgort built with
 *                               the `asan` feature (fiber-switch annotations): asan-<name>
 *   // TSAN: yes                also build with -fsanitize=thread against libgort built with
 *                               the `tsan` feature (fibers, happens-before): tsan-<name>,
 *                               which fails on any ThreadSanitizer report
 *   // LINK: shared             link libgort.so instead of libgort.a
 *   // SERIAL: yes              run alone, not in parallel with other tests (timing-sensitive)
 *   // CONCURRENT: yes          also run as concurrent-<name>: GORT_GCMODE=concurrent, and
 *                               gccheckmark=1 added to GORT_DEBUG (every mark verified)
 *   // OPENMP: yes              compile and link with OpenMP (-fopenmp); the test is not
 *                               registered where the compiler has none
 */
#ifndef GORT_CHECK_H
#define GORT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            fflush(stderr);                                                      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long check_a_ = (long long)(a);                                     \
        long long check_b_ = (long long)(b);                                     \
        if (check_a_ != check_b_) {                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);             \
            fflush(stderr);                                                      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Field `i` of /proc/self/statm (0: address space, 1: resident set) in bytes. */
static inline long long statm_bytes(int i) {
    long long v[2] = {0, 0};
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    CHECK_EQ(fscanf(f, "%lld %lld", &v[0], &v[1]), 2);
    fclose(f);
    return v[i] * sysconf(_SC_PAGESIZE);
}

#endif /* GORT_CHECK_H */
