/* What becomes unreachable is freed, cycles included, and memstats and finalizers show it;
 * Go's finalizer semantics: a finalizer runs once, may resurrect its object, and objects
 * in a cycle of finalizers are never finalized; cleanups run and free at once; keep_alive
 * holds an object to the call. */
// VALGRIND: yes
// ASAN: yes
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pair {
    struct pair *other;
    long id;
};

static const gort_type *pair_type;
static volatile long cleaned, finalized;

static void on_cleanup(void *arg) {
    (void)arg;
    cleaned++;
}

static void on_finalize(void *obj, void *arg) {
    (void)arg;
    CHECK(obj != NULL);
    finalized++;
}

static gort_memstats stats(void) {
    gort_memstats m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    gort_read_memstats(&m);
    return m;
}

/* Collects until `*counter` reaches `want` (finalizers run in their own goroutine). */
static void collect_until(volatile long *counter, long want) {
    for (int i = 0; i < 200 && *counter < want; i++) {
        gort_gc();
        gort_sleep(1000000);
    }
}

static struct pair *resurrected;

static void resurrect(void *obj, void *arg) {
    (void)arg;
    resurrected = obj; /* a registered root: the object lives on */
    finalized++;
}

/* Allocates `n` two-object cycles with a cleanup each and drops them, in a frame of its
 * own so no stale pointer stays in the caller's. */
static __attribute__((noinline)) void make_cycles(int n) {
    for (int i = 0; i < n; i++) {
        struct pair *a = gort_new(pair_type), *b = gort_new(pair_type);
        CHECK(a != NULL && b != NULL);
        a->other = b;
        b->other = a;
        a->id = i;
        b->id = -i;
        CHECK_EQ(gort_add_cleanup(a, on_cleanup, NULL), 0);
        CHECK_EQ(gort_add_cleanup(b, on_cleanup, NULL), 0);
    }
}

static __attribute__((noinline)) void make_finalizer_cycle(void) {
    struct pair *a = gort_new(pair_type), *b = gort_new(pair_type);
    a->other = b;
    b->other = a;
    CHECK_EQ(gort_set_finalizer(a, on_finalize, NULL), 0);
    CHECK_EQ(gort_set_finalizer(b, on_finalize, NULL), 0);
}

static __attribute__((noinline)) void set_and_clear_finalizer(void) {
    struct pair *p = gort_new(pair_type);
    CHECK_EQ(gort_set_finalizer(p, on_finalize, NULL), 0);
    CHECK_EQ(gort_set_finalizer(p, NULL, NULL), 0);
    gort_keep_alive(p);
}

/* In a goroutine of its own that then ends: the scan is conservative, and a callee-saved
 * register of the calling goroutine could keep the last pointer it saw (saved in a frame
 * by a later call, or at a context switch) for as long as that goroutine lives; which
 * register, if any, depends on the build (ASan, frame pointers, the architecture). An
 * ended goroutine leaves no roots at all. */
static void make_resurrectable_in(void *wg) {
    struct pair *p = gort_new(pair_type);
    p->id = 42;
    CHECK_EQ(gort_set_finalizer(p, resurrect, NULL), 0);
    gort_waitgroup_done(wg);
}

static __attribute__((noinline)) void make_resurrectable(void) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(make_resurrectable_in, &wg), 0);
    gort_waitgroup_wait(&wg);
    while (gort_num_goroutine() > 1) gort_gosched(); /* it has ended, not just signalled */
}

static __attribute__((noinline)) void check_resurrected(void) {
    CHECK(resurrected != NULL);
    CHECK_EQ(resurrected->id, 42);
}

static __attribute__((noinline)) void drop_resurrected(void) {
    CHECK_EQ(gort_add_cleanup(resurrected, on_cleanup, NULL), 0);
    CHECK_EQ(gort_root_remove(&resurrected), 0);
    resurrected = NULL;
}

static struct pair *table[64];

static __attribute__((noinline)) void fill_table(void) {
    for (int i = 0; i < 64; i++) {
        table[i] = gort_new(pair_type);
        CHECK_EQ(gort_add_cleanup(table[i], on_cleanup, NULL), 0);
    }
}

static __attribute__((noinline)) void make_big_garbage(void) {
    for (int i = 0; i < 64; i++) {
        void *p = gort_alloc_noscan(1 << 20);
        CHECK(p != NULL);
        memset(p, 1, 1 << 20);
    }
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct pair, other)};
    pair_type = gort_type_new("pair", sizeof(struct pair), ptrs, 1);
    CHECK(pair_type != NULL);

    /* Cycles with cleanups: all freed. */
    gort_gc();
    gort_memstats before = stats();
    make_cycles(5000);
    gort_memstats mid = stats();
    CHECK(mid.heap_objects >= before.heap_objects + 10000);
    CHECK(mid.mallocs >= before.mallocs + 10000);
    /* Conservative stack scanning may keep a pair or two through a stale word. */
    collect_until(&cleaned, 9990);
    CHECK(cleaned >= 9990 && cleaned <= 10000);
    gort_gc();
    gort_memstats after = stats();
    CHECK(after.heap_objects < mid.heap_objects - 9000);
    CHECK(after.frees >= before.frees + 9000);
    CHECK(after.num_gc > mid.num_gc);
    CHECK(after.num_forced_gc >= after.num_gc - mid.num_gc);
    CHECK(after.pause_ns[(after.num_gc + 255) % 256] > 0);
    CHECK(after.pause_max_ns >= after.pause_ns[(after.num_gc + 255) % 256]);
    CHECK(after.pause_total_ns >= after.pause_max_ns);
    CHECK(after.last_gc_ns > 0 && (int64_t)after.last_gc_ns <= gort_now());
    CHECK(after.total_alloc >= mid.total_alloc);
    CHECK(after.heap_sys >= after.heap_alloc);
    CHECK(after.sys >= after.heap_sys);
    CHECK(after.next_gc > 0);

    /* A cycle of finalizable objects is never finalized (Go's rule). */
    finalized = 0;
    make_finalizer_cycle();
    for (int i = 0; i < 10; i++) gort_gc();
    gort_sleep(10000000);
    CHECK_EQ(finalized, 0);

    /* Resurrection: the finalizer stores the object in a root; it stays usable and its
     * finalizer does not run again. */
    CHECK_EQ(gort_root_add(&resurrected, sizeof resurrected), 0);
    make_resurrectable();
    collect_until(&finalized, 1);
    CHECK_EQ(finalized, 1);
    check_resurrected();
    for (int i = 0; i < 5; i++) gort_gc();
    gort_sleep(10000000);
    CHECK_EQ(finalized, 1);
    check_resurrected();
    /* Dropping the root frees it; a cleanup proves it. */
    cleaned = 0;
    drop_resurrected();
    collect_until(&cleaned, 1);
    CHECK_EQ(cleaned, 1);

    /* Clearing a finalizer: it never runs. */
    finalized = 0;
    set_and_clear_finalizer();
    for (int i = 0; i < 5; i++) gort_gc();
    CHECK_EQ(finalized, 0);

    /* A registered range keeps a whole array of pointers' targets; removing it frees them. */
    {
        CHECK_EQ(gort_root_add(table, sizeof table), 0);
        cleaned = 0;
        fill_table();
        for (int i = 0; i < 5; i++) gort_gc();
        gort_sleep(10000000);
        CHECK_EQ(cleaned, 0);
        CHECK_EQ(gort_root_remove(table), 0);
        memset(table, 0, sizeof table);
        collect_until(&cleaned, 62);
        CHECK(cleaned >= 62 && cleaned <= 64);
    }

    /* gc_percent and the memory limit: set and read back. */
    CHECK_EQ(gort_set_gc_percent(50), 100);
    CHECK_EQ(gort_set_gc_percent(100), 50);
    CHECK(gort_set_memory_limit(-1) == INT64_MAX);
    CHECK(gort_set_memory_limit(1LL << 40) == INT64_MAX);
    CHECK(gort_set_memory_limit(INT64_MAX) == 1LL << 40);

    /* Freeing OS memory after dropping a big heap. */
    make_big_garbage();
    gort_free_os_memory();
    gort_memstats freed = stats();
    CHECK(freed.heap_released >= 32u << 20);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
