// gort_strerror returns a string in static storage for every int: the same pointer on
// every call, on every thread and in every goroutine, readable after any number of other
// calls (before the fix, unknown codes returned strerror's buffer, which glibc reuses and
// frees: a heap-use-after-free under ASan once another call on the thread replaced it).
// -INT_MIN overflowed. Checked over the int range's edges and every errno value.
// ASAN: yes
// VALGRIND: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

enum { GOROUTINES = 8 };

/* The codes to check: the edges, every plausible errno and a spread across the range. */
static int codes[2048];
static int ncodes;

static void add(int c) { codes[ncodes++] = c; }

static void build_codes(void) {
    int edges[] = {INT_MIN, INT_MIN + 1, INT_MIN + 2, -INT_MAX, -1000000, -65536, -4096, -4095,
                   -1000, -256, -255, -200, -135, -134, -133, INT_MAX, INT_MAX - 1, 1, 0};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) add(edges[i]);
    for (int c = -300; c < 0; c++) add(c);
    for (long c = INT_MIN; c < INT_MAX - 7919L * 1000000; c += 7919L * 1000000) add((int)c);
}

/* Everything is checked against what the first call returned: pointer and text. */
static const char *first_ptr[2048];
static char first_text[2048][128];

static void check_all(void) {
    for (int i = 0; i < ncodes; i++) {
        /* The pointer kept from the first call still reads the same text... */
        if (strcmp(first_ptr[i], first_text[i]) != 0) {
            fprintf(stderr, "gort_strerror(%d) changed from \"%s\" to \"%s\"\n", codes[i], first_text[i],
                    first_ptr[i]);
            CHECK(0);
        }
        /* ...and every later call returns that same pointer. */
        const char *s = gort_strerror(codes[i]);
        CHECK(s == first_ptr[i]);
    }
}

static void in_goroutine(void *arg) {
    gort_waitgroup *wg = arg;
    for (int round = 0; round < 20; round++) {
        check_all();
        gort_gosched(); /* may move to another thread between calls */
        /* strerror's own buffer changing under us must not matter. */
        (void)strerror(1000 + round);
    }
    gort_waitgroup_done(wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, GOROUTINES);
    for (int i = 0; i < GOROUTINES; i++) CHECK_EQ(gort_go(in_goroutine, &wg), 0);
    gort_waitgroup_wait(&wg);
    return 0;
}

int main(void) {
    build_codes();
    CHECK(ncodes <= 2048);
    for (int i = 0; i < ncodes; i++) {
        const char *s = gort_strerror(codes[i]);
        CHECK(s != NULL);
        CHECK(strlen(s) > 0 && strlen(s) < sizeof first_text[0]);
        first_ptr[i] = s;
        strcpy(first_text[i], s);
        (void)strerror(2000 + i); /* would reuse the buffer a strerror-backed answer points to */
    }
    check_all();
    /* Known texts: gort's own codes, other errnos, the rest. */
    CHECK(strcmp(gort_strerror(GORT_ETIMEDOUT), "deadline exceeded") == 0);
    CHECK(strcmp(gort_strerror(GORT_ENOHOST), "no such host") == 0);
    CHECK(strcmp(gort_strerror(0), "success") == 0);
    CHECK(strcmp(gort_strerror(INT_MAX), "success") == 0);
    CHECK(strcmp(gort_strerror(-ENOENT), "no such file or directory") == 0);
    CHECK(strcmp(gort_strerror(-ECONNREFUSED), "connection refused") == 0);
    CHECK(strcmp(gort_strerror(-EHWPOISON), "memory page has hardware error") == 0);
    CHECK(strcmp(gort_strerror(INT_MIN), "unknown error") == 0);
    CHECK(strcmp(gort_strerror(-134), "unknown error") == 0);
    CHECK(strcmp(gort_strerror(-41), "unknown error") == 0); /* no errno 41 on Linux */
    CHECK(gort_strerror(-100000) == gort_strerror(-5000));
    /* Every errno Linux defines has a description of its own. */
    for (int e = 1; e <= 133; e++) {
        if (e == 41 || e == 58) continue; /* unassigned numbers */
        CHECK(strcmp(gort_strerror(-e), "unknown error") != 0);
    }
    return gort_main(main_goroutine, NULL);
}
