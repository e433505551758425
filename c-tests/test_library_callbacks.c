// A C library with threads of its own calls back into the program, which hands the events
// to goroutines: in the callback the library's threads (registered by their first gort
// call) block on a full channel until the consumer goroutines exist, take a gort mutex
// that goroutines also take, and start goroutines. After they have exited, a collection
// still works.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- the "library": a pool of threads that report events through a callback ---- */
typedef void (*event_callback)(int source, long seq, void *user);
enum { LIB_THREADS = 3, EVENTS_PER_THREAD = 400 };

typedef struct library {
    pthread_t threads[LIB_THREADS];
    event_callback cb;
    void *user;
} library;

typedef struct lib_thread_arg {
    library *lib;
    int source;
} lib_thread_arg;

static void *library_thread(void *arg) {
    lib_thread_arg *a = arg;
    for (long seq = 1; seq <= EVENTS_PER_THREAD; seq++) a->lib->cb(a->source, seq, a->lib->user);
    return NULL;
}

static lib_thread_arg lib_args[LIB_THREADS];

static void library_start(library *lib, event_callback cb, void *user) {
    lib->cb = cb;
    lib->user = user;
    for (int i = 0; i < LIB_THREADS; i++) {
        lib_args[i] = (lib_thread_arg){lib, i};
        CHECK_EQ(pthread_create(&lib->threads[i], NULL, library_thread, &lib_args[i]), 0);
    }
}

static void library_join(library *lib) {
    for (int i = 0; i < LIB_THREADS; i++) CHECK_EQ(pthread_join(lib->threads[i], NULL), 0);
}

/* ---- the program ---- */
typedef struct event {
    int source;
    long seq;
} event;

static gort_chan *events; /* of event */
static gort_mutex stats_lock = GORT_MUTEX_INIT;
static long last_seq[LIB_THREADS]; /* under stats_lock */
static long callbacks_seen;          /* under stats_lock */
static atomic_long consumed, every_100th;
static gort_waitgroup consumers_done = GORT_WAITGROUP_INIT;

static void on_every_100th(void *arg) {
    atomic_fetch_add(&every_100th, (long)arg);
}

/* Runs on the library's threads. */
static void on_event(int source, long seq, void *user) {
    (void)user;
    CHECK_EQ(gort_goid(), 0);
    gort_mutex_lock(&stats_lock);
    CHECK(seq > last_seq[source]); /* each library thread reports in order */
    last_seq[source] = seq;
    callbacks_seen++;
    gort_mutex_unlock(&stats_lock);
    if (seq % 100 == 0) CHECK_EQ(gort_go(on_every_100th, (void *)seq), 0);
    event e = {source, seq};
    CHECK_EQ(gort_chan_send(events, &e), 0); /* blocks this thread while the buffer is full */
}

static void consumer(void *arg) {
    (void)arg;
    for (event e; gort_chan_recv(events, &e) == 1;) {
        gort_mutex_lock(&stats_lock); /* the lock the library's threads take too */
        CHECK(e.seq <= last_seq[e.source]);
        gort_mutex_unlock(&stats_lock);
        atomic_fetch_add(&consumed, 1);
    }
    gort_waitgroup_done(&consumers_done);
}

int main(void) {
    events = gort_chan_make(sizeof(event), 8);
    CHECK(events != NULL);
    library lib;
    library_start(&lib, on_event, NULL);
    while (atomic_load(&consumed) == 0 && gort_chan_len(events) < 8) gort_sleep(1000000);
    /* The buffer is full (or nearly): the library's threads are blocked in the callback. */
    gort_waitgroup_add(&consumers_done, 2);
    for (int i = 0; i < 2; i++) CHECK_EQ(gort_go(consumer, NULL), 0);
    library_join(&lib);
    gort_chan_close(events);
    gort_waitgroup_wait(&consumers_done);
    CHECK_EQ(atomic_load(&consumed), LIB_THREADS * EVENTS_PER_THREAD);
    CHECK_EQ(callbacks_seen, LIB_THREADS * EVENTS_PER_THREAD);
    while (atomic_load(&every_100th) < LIB_THREADS * (100 + 200 + 300 + 400)) gort_sleep(1000000);
    gort_gc(); /* the library's threads exited (and unregistered) */
    gort_chan_release(events);
    return 0;
}
