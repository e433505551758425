// gort_rwmutex_trylock/tryrlock (Go's TryLock/TryRLock: readers share, a writer excludes,
// a pending writer makes TryRLock fail, a failed try leaves no trace), a stress mix of
// lock, rlock and both tries across every P, and gort_waitgroup_go (Go 1.25's
// WaitGroup.Go: done when fn returns, after fn's deferred calls, also when fn ends its
// goroutine with gort_goexit or recovers a panic itself; from a plain thread too).
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 180
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static const int64_t MS = 1000000;

/* --- the tries, one goroutine ------------------------------------------------------------ */
static void check_tries_alone(void) {
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    CHECK_EQ(gort_rwmutex_trylock(&rw), 1);
    CHECK_EQ(gort_rwmutex_trylock(&rw), 0);  /* writer in: no second writer */
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), 0); /* nor a reader */
    gort_rwmutex_unlock(&rw);
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), 1);
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), 1); /* readers share */
    gort_rwmutex_rlock(&rw);
    CHECK_EQ(gort_rwmutex_trylock(&rw), 0); /* readers in: no writer, and no trace left */
    gort_rwmutex_runlock(&rw);
    gort_rwmutex_runlock(&rw);
    CHECK_EQ(gort_rwmutex_trylock(&rw), 0); /* one reader still in */
    gort_rwmutex_runlock(&rw);
    /* The failed tries left nothing behind: a blocking writer and reader get in at once. */
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    gort_rwmutex_rlock(&rw);
    gort_rwmutex_runlock(&rw);
    CHECK_EQ(gort_rwmutex_trylock(&rw), 1);
    gort_rwmutex_unlock(&rw);
}

/* --- a pending writer makes TryRLock fail (readers cannot starve writers) ------------------ */
static atomic_int writer_in;
static void writer(void *arg) {
    gort_rwmutex *rw = arg;
    gort_rwmutex_lock(rw); /* waits for the reader below */
    atomic_store(&writer_in, 1);
    gort_rwmutex_unlock(rw);
}

static void check_pending_writer(void) {
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    gort_rwmutex_rlock(&rw);
    CHECK_EQ(gort_go(writer, &rw), 0);
    /* Until the writer announces itself, tries succeed; once it waits, they fail. */
    int64_t give_up = gort_deadline_in(60000 * MS);
    for (;;) {
        int r = gort_rwmutex_tryrlock(&rw);
        CHECK(r == 0 || r == 1);
        if (r == 0) break;
        gort_rwmutex_runlock(&rw);
        CHECK(gort_now() < give_up);
        gort_sleep(1 * MS);
    }
    CHECK_EQ(gort_rwmutex_trylock(&rw), 0);
    CHECK_EQ(atomic_load(&writer_in), 0);
    gort_rwmutex_runlock(&rw); /* the writer goes in */
    gort_rwmutex_rlock(&rw);   /* and out before this returns */
    CHECK_EQ(atomic_load(&writer_in), 1);
    gort_rwmutex_runlock(&rw);
}

/* --- stress: lock, rlock, trylock, tryrlock from goroutines on every P ---------------------- */
enum { WORKERS = 8, ROUNDS = 3000 };
static gort_rwmutex stress_rw;
static atomic_int readers_in, writers_in;
static long long guarded;     /* written only under the write lock */
static atomic_llong writes;   /* successful write locks, blocking or tried */
static atomic_llong try_fails;
static gort_waitgroup stress_wg;

/* Some sections yield while holding the lock, so that others find it taken: tries fail,
   blocking lockers park, readers queue behind waiting writers. */
static void write_section(uint32_t x) {
    CHECK_EQ(atomic_fetch_add(&writers_in, 1), 0);
    CHECK_EQ(atomic_load(&readers_in), 0);
    if (x % 8 == 0) gort_gosched();
    CHECK_EQ(atomic_load(&readers_in), 0);
    guarded++;
    atomic_fetch_add(&writes, 1);
    CHECK_EQ(atomic_fetch_sub(&writers_in, 1), 1);
}

static void read_section(uint32_t x) {
    atomic_fetch_add(&readers_in, 1);
    CHECK_EQ(atomic_load(&writers_in), 0);
    if (x % 8 == 0) gort_gosched();
    CHECK_EQ(atomic_load(&writers_in), 0);
    atomic_fetch_sub(&readers_in, 1);
}

static void stress_worker(void *arg) {
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < ROUNDS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        switch (x % 4) {
        case 0:
            gort_rwmutex_lock(&stress_rw);
            write_section(x >> 8);
            gort_rwmutex_unlock(&stress_rw);
            break;
        case 1:
            gort_rwmutex_rlock(&stress_rw);
            read_section(x >> 8);
            gort_rwmutex_runlock(&stress_rw);
            break;
        case 2:
            if (gort_rwmutex_trylock(&stress_rw) == 1) {
                write_section(x >> 8);
                gort_rwmutex_unlock(&stress_rw);
            } else {
                atomic_fetch_add(&try_fails, 1);
            }
            break;
        default:
            if (gort_rwmutex_tryrlock(&stress_rw) == 1) {
                read_section(x >> 8);
                gort_rwmutex_runlock(&stress_rw);
            } else {
                atomic_fetch_add(&try_fails, 1);
            }
        }
        if (i % 64 == 0) gort_gosched();
    }
}

static void check_stress(void) {
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(gort_waitgroup_go(&stress_wg, stress_worker, (void *)(uintptr_t)(i + 1)), 0);
    gort_waitgroup_wait(&stress_wg);
    CHECK_EQ(guarded, atomic_load(&writes));
    CHECK(atomic_load(&writes) > 0);
    /* Nothing is left locked: both tries succeed on the idle lock. */
    CHECK_EQ(gort_rwmutex_trylock(&stress_rw), 1);
    gort_rwmutex_unlock(&stress_rw);
    CHECK_EQ(gort_rwmutex_tryrlock(&stress_rw), 1);
    gort_rwmutex_runlock(&stress_rw);
    printf("stress: %lld writes, %lld failed tries\n", (long long)atomic_load(&writes),
           (long long)atomic_load(&try_fails));
}

/* --- gort_waitgroup_go ---------------------------------------------------------------------- */
static atomic_int ran, deferred_ran;
static gort_waitgroup go_wg;

static void count(void *arg) {
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void note_defer(void *arg) {
    (void)arg;
    atomic_fetch_add(&deferred_ran, 1);
}

static void with_defer(void *arg) {
    (void)arg;
    gort_defer(note_defer, NULL);
    atomic_fetch_add(&ran, 1);
}

static void exits(void *arg) {
    (void)arg;
    gort_defer(note_defer, NULL);
    atomic_fetch_add(&ran, 1);
    gort_goexit();
    CHECK(0 && "unreachable: gort_goexit returned");
}

static void panics(void *arg) {
    (void)arg;
    gort_panic("recovered inside fn");
}

static void recovers(void *arg) {
    (void)arg;
    const char *msg = NULL;
    CHECK_EQ(gort_protect(panics, NULL, &msg), 1);
    atomic_fetch_add(&ran, 1);
}

static void *from_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) CHECK_EQ(gort_waitgroup_go(&go_wg, count, NULL), 0);
    return NULL;
}

static void check_waitgroup_go(void) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    for (int i = 0; i < 100; i++) CHECK_EQ(gort_waitgroup_go(&wg, count, NULL), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ran), 100);

    /* fn's deferred calls run before the done: once wait returns, all of them have run. */
    atomic_store(&ran, 0);
    for (int i = 0; i < 20; i++) CHECK_EQ(gort_waitgroup_go(&wg, with_defer, NULL), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ran), 20);
    CHECK_EQ(atomic_load(&deferred_ran), 20);

    /* gort_goexit in fn still counts as done (Go: "completed normally, or abruptly using
       goexit"), after its deferred calls. Without the done, this wait would never return. */
    atomic_store(&ran, 0);
    atomic_store(&deferred_ran, 0);
    for (int i = 0; i < 20; i++) CHECK_EQ(gort_waitgroup_go(&wg, exits, NULL), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ran), 20);
    CHECK_EQ(atomic_load(&deferred_ran), 20);

    /* A panic that fn recovers itself is no panic of the goroutine: done happens. */
    atomic_store(&ran, 0);
    for (int i = 0; i < 5; i++) CHECK_EQ(gort_waitgroup_go(&wg, recovers, NULL), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ran), 5);

    /* Mixed with add/done, and the wait group reused. */
    atomic_store(&ran, 0);
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_waitgroup_go(&wg, count, NULL), 0);
    gort_waitgroup_done(&wg);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ran), 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_tries_alone();
    check_pending_writer();
    check_stress();
    check_waitgroup_go();
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(main_goroutine, NULL), 0);
    /* From threads the runtime does not own. */
    atomic_store(&ran, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK_EQ(pthread_create(&t[i], NULL, from_thread, NULL), 0);
    for (int i = 0; i < 2; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    gort_waitgroup_wait(&go_wg); /* blocks this thread */
    CHECK_EQ(atomic_load(&ran), 20);
    return 0;
}
