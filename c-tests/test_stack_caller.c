// gort_stack (runtime.Stack) and gort_caller (runtime.Caller) through the header: the
// calling goroutine's block names the calling functions under "goroutine N [running]:";
// all=1 adds the parked goroutines with their wait reasons; a short buffer is filled up
// to its length and never past it; gort_caller at skip 0, 1, 2 names the test's own
// functions with lines in this file, and a skip past the stack's end gives 0.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// ENV: GORT_MAXPROCS=2
#include "check.h"
#include "gort.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define PARKED 3
#define CANARY 0x5a

static gort_chan *never;
static gort_waitgroup started = GORT_WAITGROUP_INIT;

__attribute__((noinline)) static void park_here_forever(void *arg) {
    (void)arg;
    gort_waitgroup_done(&started);
    int v;
    gort_chan_recv(never, &v);
}

static size_t count(const char *text, size_t n, const char *needle) {
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(text + i, needle, k) == 0)
            c++;
    return c;
}

static int contains(const char *text, size_t n, const char *needle) { return count(text, n, needle) > 0; }

static char big[1 << 16];

__attribute__((noinline)) static size_t stack_leaf(char *buf, size_t len, int all) {
    size_t n = gort_stack(buf, len, all);
    __asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
    return n;
}

__attribute__((noinline)) static size_t stack_middle_into(char *buf, size_t len, int all) {
    size_t n = stack_leaf(buf, len, all);
    __asm__ volatile("" ::: "memory");
    return n;
}

__attribute__((noinline)) static size_t stack_middle(int all) {
    size_t n = stack_middle_into(big, sizeof big, all);
    __asm__ volatile("" ::: "memory");
    return n;
}

static void check_own_stack(void) {
    size_t n = stack_middle(0);
    CHECK(n > 0 && n < sizeof big);
    CHECK(memcmp(big, "goroutine ", 10) == 0);
    CHECK(contains(big, n, " [running]:\n"));
    /* The frames start at the caller of gort_stack. */
    const char *first = memchr(big, '\n', n);
    CHECK(first != NULL);
    CHECK(strncmp(first + 1, "stack_leaf(...)\n", 16) == 0);
    CHECK(contains(big, n, "stack_middle(...)\n"));
    CHECK(contains(big, n, "main_goroutine(...)\n"));
    CHECK(!contains(big, n, "gort_stack(...)"));
    CHECK(!contains(big, n, "park_here_forever"));
    CHECK(count(big, n, "goroutine ") == 1);
}

static void check_all_stacks(void) {
    size_t n = stack_middle(1);
    CHECK(n > 0 && n < sizeof big);
    CHECK(memcmp(big, "goroutine ", 10) == 0);
    CHECK(contains(big, n, "stack_leaf(...)\n"));
    CHECK(count(big, n, "park_here_forever(...)\n") == PARKED);
    CHECK(count(big, n, "[chan receive") == PARKED);
    CHECK(contains(big, n, "\n\ngoroutine "));
}

static void check_truncation(void) {
    /* Three walks from one call site (so every frame's offset is the same): the full
     * text, then into a buffer of exactly its length, then one byte shorter. */
    static char copy[1 << 16];
    static char exact[(1 << 16) + 1];
    static char shorter[(1 << 16) + 1];
    memset(copy, 0, sizeof copy); /* NUL-terminated for strstr */
    size_t full = 0, got[3] = {0, 0, 0};
    int passes = 3;
    __asm__ volatile("" : "+r"(passes)); /* not unrolled: one call site */
    for (int pass = 0; pass < passes; pass++) {
        char *dst = pass == 0 ? copy : pass == 1 ? exact : shorter;
        size_t len = pass == 0 ? sizeof copy - 1 : pass == 1 ? full : full - 1;
        if (pass > 0)
            memset(dst, CANARY, len + 1);
        got[pass] = stack_middle_into(dst, len, 0);
        if (pass == 0)
            full = got[0];
        CHECK(full > 1 && full < sizeof copy);
    }
    /* The frames up to this function's caller are the same in all three (the compiler
     * may copy the loop, so the offsets of the frames from here on may differ). */
    const char *own = strstr(copy, "stack_middle_into(...)\n");
    CHECK(own != NULL);
    const char *end = strchr(strchr(own, '\n') + 1, '\n'); /* its location line */
    CHECK(end != NULL);
    size_t same = (size_t)(end - copy) + 1;
    CHECK(got[1] <= full && got[1] + 8 >= full && got[1] >= same);
    CHECK(memcmp(exact, copy, same) == 0);
    CHECK_EQ((unsigned char)exact[full], CANARY);
    CHECK(got[2] <= full - 1 && got[2] + 8 >= full - 1);
    CHECK(memcmp(shorter, copy, got[2] < same ? got[2] : same) == 0);
    CHECK_EQ((unsigned char)shorter[full - 1], CANARY);
    char small[64 + 16];
    /* len 0: nothing written, NULL allowed. */
    CHECK_EQ(gort_stack(NULL, 0, 0), 0);
    memset(small, CANARY, sizeof small);
    CHECK_EQ(gort_stack(small, 0, 0), 0);
    CHECK_EQ((unsigned char)small[0], CANARY);
    /* len 1: "g" and nothing past it. */
    CHECK_EQ(gort_stack(small, 1, 0), 1);
    CHECK_EQ(small[0], 'g');
    CHECK_EQ((unsigned char)small[1], CANARY);
    /* len 64: a prefix of the full text, nothing past 64. */
    memset(small, CANARY, sizeof small);
    size_t n = gort_stack(small, 64, 1);
    CHECK(n <= 64 && n >= 61);
    CHECK(memcmp(small, "goroutine ", 10) == 0);
    for (size_t i = 64; i < sizeof small; i++)
        CHECK_EQ((unsigned char)small[i], CANARY);
    /* NULL with a length: nothing, no crash. */
    CHECK_EQ(gort_stack(NULL, 100, 0), 0);
}

/* ---- gort_caller ---- */

static int line_of_call_in_level2; /* set just before the call, see below */

__attribute__((noinline)) static int caller_level2(int skip, uintptr_t *pc, const char **file, int *line,
                                                   const char **func) {
    line_of_call_in_level2 = __LINE__ + 1;
    int r = gort_caller(skip, pc, file, line, func);
    __asm__ volatile("" ::: "memory");
    return r;
}

__attribute__((noinline)) static int caller_level1(int skip, uintptr_t *pc, const char **file, int *line,
                                                   const char **func) {
    int r = caller_level2(skip, pc, file, line, func);
    __asm__ volatile("" ::: "memory");
    return r;
}

__attribute__((noinline)) static void check_caller(void) {
    static const char *want[] = {"caller_level2", "caller_level1", "check_caller"};
    for (int skip = 0; skip < 3; skip++) {
        uintptr_t pc = 0;
        const char *file = NULL, *func = NULL;
        int line = -1;
        CHECK_EQ(caller_level1(skip, &pc, &file, &line, &func), 1);
        CHECK(pc != 0);
        CHECK(func != NULL);
        if (strcmp(func, want[skip]) != 0) {
            fprintf(stderr, "skip %d: got %s, want %s\n", skip, func, want[skip]);
            exit(1);
        }
        /* Line tables: the call's line in this file (NULL/0 only without them). */
        if (file != NULL) {
            size_t fl = strlen(file), tl = strlen("test_stack_caller.c");
            CHECK(fl >= tl && strcmp(file + fl - tl, "test_stack_caller.c") == 0);
            CHECK(line > 0);
            if (skip == 0)
                CHECK_EQ(line, line_of_call_in_level2);
        } else {
            CHECK_EQ(line, 0);
        }
        /* Same call again: same static strings. */
        const char *func2 = NULL, *file2 = NULL;
        CHECK_EQ(caller_level1(skip, NULL, &file2, NULL, &func2), 1);
        CHECK(func2 == func && file2 == file);
    }
    /* Every out-parameter may be NULL. */
    CHECK_EQ(caller_level1(0, NULL, NULL, NULL, NULL), 1);
    /* Past the end of the stack, and negative: 0, outputs untouched. */
    uintptr_t pc = 7;
    const char *func = (const char *)&pc;
    CHECK_EQ(caller_level1(100000, &pc, NULL, NULL, &func), 0);
    CHECK_EQ(caller_level1(-1, &pc, NULL, NULL, &func), 0);
    CHECK(pc == 7 && func == (const char *)&pc);
}

/* A foreign thread: gort_caller walks its own stack; gort_stack has no goroutine. */
static void *foreign(void *arg) {
    (void)arg;
    const char *func = NULL;
    CHECK_EQ(caller_level1(1, NULL, NULL, NULL, &func), 1);
    CHECK(func != NULL && strcmp(func, "caller_level1") == 0);
    char b[16];
    CHECK_EQ(gort_stack(b, sizeof b, 0), 0);
    gort_thread_unregister();
    return NULL;
}

static int main_goroutine(void *arg) {
    (void)arg;
    never = gort_chan_make(sizeof(int), 0);
    gort_waitgroup_add(&started, PARKED);
    for (int i = 0; i < PARKED; i++)
        CHECK_EQ(gort_go(park_here_forever, NULL), 0);
    gort_waitgroup_wait(&started);
    for (int i = 0; i < 20; i++)
        gort_gosched(); /* let them reach the receive */
    check_own_stack();
    check_all_stacks();
    check_truncation();
    check_caller();
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, foreign, NULL), 0);
    gort_blocking_enter();
    pthread_join(t, NULL);
    gort_blocking_exit();
    return 0;
}

int main(void) {
    /* Leaves the parked goroutines behind: gort_main returns when main_goroutine does. */
    return gort_main(main_goroutine, NULL);
}
