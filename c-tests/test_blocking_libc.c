// Real blocking library calls in gort_blocking_enter/exit with one P: while a goroutine
// is blocked in read() on a pipe, and while goroutines resolve "localhost" with
// getaddrinfo(), the other goroutines keep running. Shown by progress counts, not time:
// the pipe is written only after a counting goroutine has advanced while the reader was
// blocked in read(). (Without the blocking region the P would come back only through
// sysmon's retake of a thread stuck in C, ~10 ms later.)
// VALGRIND: yes
// TSAN: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <netdb.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_long ticks;      /* the counting goroutine's progress */
static atomic_int stop_ticking;
static atomic_int reader_in_read, reader_done;
static int pipe_fds[2];

static void ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_ticking)) {
        atomic_fetch_add(&ticks, 1);
        gort_gosched();
    }
}

static void reader(void *arg) {
    (void)arg;
    char buf[16];
    atomic_store(&reader_in_read, 1);
    gort_blocking_enter();
    ssize_t n = read(pipe_fds[0], buf, sizeof buf); /* blocks the thread until written */
    gort_blocking_exit();
    CHECK_EQ(n, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    atomic_store(&reader_done, 1);
}

typedef struct lookup_arg {
    int rounds;
    gort_waitgroup *wg;
} lookup_arg;

static void resolver(void *arg) {
    lookup_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        gort_blocking_enter(); /* may read files, or ask a DNS server: blocks the thread */
        int rc = getaddrinfo("localhost", "80", &hints, &res);
        gort_blocking_exit();
        CHECK_EQ(rc, 0);
        CHECK(res != NULL);
        CHECK(res->ai_family == AF_INET || res->ai_family == AF_INET6);
        freeaddrinfo(res);
    }
    gort_waitgroup_done(a->wg);
}

/* Waits (yielding) until the ticker has advanced by `n` since `from`. */
static void wait_ticks_after(long from, long n) {
    while (atomic_load(&ticks) < from + n) gort_gosched();
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_gomaxprocs(0), 1);
    CHECK_EQ(pipe(pipe_fds), 0);
    CHECK_EQ(gort_go(ticker, NULL), 0);
    CHECK_EQ(gort_go(reader, NULL), 0);
    while (!atomic_load(&reader_in_read)) gort_gosched();

    /* The reader is in (or about to enter) read(), which only returns once we write: the
     * ticker and this goroutine share the one P meanwhile. */
    long before = atomic_load(&ticks);
    wait_ticks_after(before, 1000);
    CHECK(!atomic_load(&reader_done));
    CHECK_EQ(write(pipe_fds[1], "ping", 4), 4);
    while (!atomic_load(&reader_done)) gort_gosched();

    /* getaddrinfo from several goroutines, the ticker still counting. */
    enum { RESOLVERS = 3, ROUNDS = 20 };
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    lookup_arg la = {ROUNDS, &wg};
    gort_waitgroup_add(&wg, RESOLVERS);
    for (int i = 0; i < RESOLVERS; i++) CHECK_EQ(gort_go(resolver, &la), 0);
    before = atomic_load(&ticks);
    gort_waitgroup_wait(&wg);
    wait_ticks_after(before, 100);

    atomic_store(&stop_ticking, 1);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return 0;
}

int main(void) {
    struct gort_config cfg = {.maxprocs = 1}; /* one P, whatever the environment says */
    CHECK_EQ(gort_init(&cfg), 0);
    return gort_main(main_goroutine, NULL);
}
