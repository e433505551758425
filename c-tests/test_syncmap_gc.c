/* Keys and values in a gort_syncmap are roots: GC-heap objects stored as keys or values
 * survive collections while they are in the map (no finalizer runs, contents intact), and
 * become collectable once deleted, replaced, cleared or the map is freed (their finalizers
 * run). Every map operation runs in a goroutine that then ends, so no stale copy of a
 * pointer on a live stack can keep an object alive (the stack scan is conservative). */
// VALGRIND: yes
// ASAN: yes
// CONCURRENT: yes
// TIMEOUT: 300
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { N = 200 };

struct obj {
    long id;
    long check;
};

static gort_syncmap *m;
static atomic_int finalized[2 * N]; /* ids 0..N-1 values, N..2N-1 keys */
static atomic_int total;

static void on_final(void *obj, void *arg) {
    struct obj *o = obj;
    long id = (long)(intptr_t)arg;
    CHECK_EQ(o->id, id);
    CHECK_EQ(o->check, ~id);
    atomic_fetch_add(&finalized[id], 1);
    atomic_fetch_add(&total, 1);
}

static uintptr_t make(long id) {
    struct obj *o = gort_alloc_noscan(sizeof *o);
    CHECK(o != NULL);
    o->id = id;
    o->check = ~id;
    CHECK_EQ(gort_set_finalizer(o, on_final, (void *)(intptr_t)id), 0);
    return (uintptr_t)o;
}

/* Runs f in a goroutine that ends before this returns. */
static void in_goroutine(void (*f)(void *), void *arg) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, 1);
    struct {
        void (*f)(void *);
        void *arg;
        gort_waitgroup *wg;
    } job = {f, arg, &wg};
    extern void run_job(void *);
    CHECK_EQ(gort_go(run_job, &job), 0);
    gort_waitgroup_wait(&wg);
    while (gort_num_goroutine() > 2) gort_gosched(); /* main + the finalizer goroutine */
}

void run_job(void *p) {
    struct {
        void (*f)(void *);
        void *arg;
        gort_waitgroup *wg;
    } *job = p;
    job->f(job->arg);
    gort_waitgroup_done(job->wg);
}

/* Even i: a value object under an integer key; odd i: an object key too. */
static void fill(void *arg) {
    (void)arg;
    for (long i = 0; i < N; i++) {
        uintptr_t k = (i % 2) ? make(N + i) : (uintptr_t)i;
        gort_syncmap_store(m, k, make(i));
    }
}

static void check_all_present(void *arg) {
    (void)arg;
    struct {
        int n;
    } c = {0};
    extern int count_visit(uintptr_t, uintptr_t, void *);
    gort_syncmap_range(m, count_visit, &c);
    CHECK_EQ(c.n, N);
}

int count_visit(uintptr_t k, uintptr_t v, void *ctx) {
    const struct obj *o = (const struct obj *)v;
    CHECK(o->check == ~o->id && o->id >= 0 && o->id < N);
    if (o->id % 2) {
        const struct obj *ko = (const struct obj *)k;
        CHECK_EQ(ko->id, N + o->id);
        CHECK_EQ(ko->check, ~(N + o->id));
    } else {
        CHECK_EQ(k, (uintptr_t)o->id);
    }
    (*(int *)ctx)++;
    return 1;
}

static void collect(int rounds) {
    for (int i = 0; i < rounds; i++) {
        gort_gc();
        gort_sleep(1000000);
    }
}

static void collect_until(int want) {
    for (int i = 0; i < 300 && atomic_load(&total) < want; i++) {
        gort_gc();
        gort_sleep(2000000);
    }
}

/* Deletes the entries of value ids 0..N/2-1 (even ones by integer key, odd ones by
   finding their object key with a range). */
static int delete_low(uintptr_t k, uintptr_t v, void *ctx) {
    const struct obj *o = (const struct obj *)v;
    if (o->id < N / 2) {
        if (o->id % 4 == 0) {
            CHECK_EQ(gort_syncmap_compare_and_delete(ctx, k, v), 1);
        } else {
            uintptr_t got;
            CHECK_EQ(gort_syncmap_load_and_delete(ctx, k, &got), 1);
            CHECK_EQ(got, v);
        }
    }
    return 1;
}
static void delete_half(void *arg) {
    (void)arg;
    gort_syncmap_range(m, delete_low, m);
}

static void clear_map(void *arg) {
    (void)arg;
    gort_syncmap_clear(m);
}

static void free_map(void *arg) {
    (void)arg;
    gort_syncmap_free(m);
    m = NULL;
}

static int run_main(void *arg) {
    (void)arg;
    m = gort_syncmap_new();
    CHECK(m != NULL);
    in_goroutine(fill, NULL);
    collect(5);
    CHECK_EQ(atomic_load(&total), 0); /* all alive: the map holds them */
    in_goroutine(check_all_present, NULL);

    /* Delete half: exactly their values (and object keys) are finalized. */
    in_goroutine(delete_half, NULL);
    int low_objects = N / 2 + N / 4; /* N/2 values, N/4 odd object keys */
    collect_until(low_objects);
    CHECK_EQ(atomic_load(&total), low_objects);
    for (long i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&finalized[i]), i < N / 2);
        if (i % 2) CHECK_EQ(atomic_load(&finalized[N + i]), i < N / 2);
    }

    /* Clear: the rest goes. */
    in_goroutine(clear_map, NULL);
    collect_until(N + N / 2);
    CHECK_EQ(atomic_load(&total), N + N / 2);

    /* Refill, then free the map: everything goes. */
    memset(finalized, 0, sizeof finalized);
    atomic_store(&total, 0);
    in_goroutine(fill, NULL);
    collect(3);
    CHECK_EQ(atomic_load(&total), 0);
    in_goroutine(free_map, NULL);
    collect_until(N + N / 2);
    CHECK_EQ(atomic_load(&total), N + N / 2);
    return 0;
}

int main(void) {
    return gort_main(run_main, NULL);
}
