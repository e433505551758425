/* Goroutines on every P allocate small objects (16-64 B) in tight loops of 30 ms without
 * a scheduling event, so sysmon retakes their USER Ps mid-loop, while the main goroutine
 * stops the world over and over (gort_gc, gort_gomaxprocs up and down). A P taken while
 * its goroutine is inside the P's heap cache must not be used by anybody until that
 * allocation is over: an object handed out twice shows up as a clobbered tag or a
 * duplicate address, and the heap's counters must balance exactly (every allocation
 * counted once in mallocs; after a collection only the kept objects are live). */
// ENV: GORT_MAXPROCS=4
// VALGRIND: yes
// TIMEOUT: 600
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WORKERS = 8, ROUNDS = 12, CAP = 1 << 15, NTYPES = 4 };

/* 16, 32, 48 and 64 bytes: a tag word and a pointer word (to itself), padded. */
struct obj {
    uint64_t tag;
    struct obj *next;
    uint64_t pad[6];
};
static const gort_type *types[NTYPES];

struct worker {
    int id;
    struct obj **kept; /* malloc'ed and registered as a root: the current batch */
    int nkept;
    int last_n; /* allocations in the last round: kept[i % CAP] for the last nkept */
    uint64_t allocs;
};
static struct worker workers[WORKERS];
static gort_waitgroup wg;
static atomic_int running = WORKERS;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t tag_of(int worker, int round, int i) {
    return (uint64_t)worker << 48 | (uint64_t)round << 32 | (uint64_t)i;
}

static void work(void *arg) {
    struct worker *w = arg;
    for (int r = 0; r < ROUNDS; r++) {
        /* A tight loop in "user code": no runtime call but gort_new for 30 ms, longer than
         * sysmon's 10 ms, so the P is retaken under the loop. */
        int64_t end = now_ns() + 30 * 1000000;
        int n = 0;
        while (n % 256 != 0 || now_ns() < end) {
            struct obj *o = gort_new(types[n % NTYPES]);
            CHECK(o != NULL);
            CHECK(o->tag == 0 && o->next == NULL); /* zeroed: nobody else wrote it */
            o->tag = tag_of(w->id, r, n);
            o->next = o;
            w->kept[n % CAP] = o; /* the older ones become garbage */
            n++;
        }
        int kept = n < CAP ? n : CAP;
        /* Drop what is left of the previous, longer batch (the root range covers all). */
        if (kept < w->nkept) memset(&w->kept[kept], 0, (size_t)(w->nkept - kept) * sizeof(struct obj *));
        w->nkept = kept;
        w->last_n = n;
        w->allocs += (uint64_t)n;
        for (int i = n - kept; i < n; i++) {
            struct obj *o = w->kept[i % CAP];
            CHECK(o->tag == tag_of(w->id, r, i));
            CHECK(o->next == o);
        }
        gort_gosched();
    }
    atomic_fetch_sub(&running, 1);
    gort_waitgroup_done(&wg);
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void read_stats(gort_memstats *m) {
    memset(m, 0, sizeof *m);
    m->size = sizeof *m;
    gort_read_memstats(m);
}

static int body(void *arg) {
    (void)arg;
    size_t ptrs[] = {offsetof(struct obj, next)};
    for (int t = 0; t < NTYPES; t++) types[t] = gort_type_new("obj", 16 * (size_t)(t + 1), ptrs, 1);
    for (int t = 0; t < NTYPES; t++) CHECK(types[t] != NULL);
    int procs = gort_gomaxprocs(0);
    gort_gc();
    gort_memstats before;
    read_stats(&before);
    gort_waitgroup_add(&wg, WORKERS);
    for (int i = 0; i < WORKERS; i++) {
        workers[i].id = i;
        workers[i].kept = calloc(CAP, sizeof(struct obj *));
        CHECK(workers[i].kept != NULL);
        CHECK_EQ(gort_root_add(workers[i].kept, CAP * sizeof(struct obj *)), 0);
        CHECK_EQ(gort_go(work, &workers[i]), 0);
    }
    /* Stop the world while they allocate: collections, and resizes that take every P. */
    for (int k = 0; atomic_load(&running) > 0; k++) {
        if (k % 3 == 2) {
            gort_gomaxprocs(k % 2 ? 1 : procs + 1);
            gort_gomaxprocs(procs);
        } else {
            gort_gc();
        }
        gort_sleep(2000000);
    }
    gort_waitgroup_wait(&wg);

    /* No object is held by two workers (or twice by one). */
    uint64_t allocs = 0;
    size_t total = 0;
    for (int i = 0; i < WORKERS; i++) {
        allocs += workers[i].allocs;
        total += (size_t)workers[i].nkept;
    }
    void **all = malloc(total * sizeof(void *));
    CHECK(all != NULL);
    size_t k = 0;
    for (int i = 0; i < WORKERS; i++)
        for (int j = 0; j < workers[i].nkept; j++) all[k++] = workers[i].kept[j];
    qsort(all, total, sizeof(void *), cmp_ptr);
    for (size_t i = 1; i < total; i++) CHECK(all[i] != all[i - 1]);
    free(all);

    /* The counters balance: every allocation counted once; after a collection the kept
     * batches are live (plus at most a few objects that a stale word on some stack pins). */
    gort_gc();
    gort_memstats after;
    read_stats(&after);
    CHECK_EQ(after.mallocs - before.mallocs, allocs);
    CHECK_EQ(after.heap_objects, after.mallocs - after.frees);
    CHECK(after.heap_objects - before.heap_objects >= total);
    if (after.heap_objects - before.heap_objects > total + 256)
        fprintf(stderr, "live %llu, kept %zu\n", (unsigned long long)(after.heap_objects - before.heap_objects), total);
    CHECK(after.heap_objects - before.heap_objects <= total + 256);
    for (int i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        for (int j = w->last_n - w->nkept; j < w->last_n; j++) CHECK(w->kept[j % CAP]->tag == tag_of(i, ROUNDS - 1, j));
        CHECK_EQ(gort_root_remove(workers[i].kept), 0);
        free(workers[i].kept);
    }
    return 0;
}

int main(void) { return gort_main(body, NULL); }
