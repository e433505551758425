/* The fd layer: gort_read/gort_write park goroutines on pipes, deadlines, gort_close
 * waking blocked goroutines with GORT_EBADF, fd reuse, gort_fd_wait on foreign fds
 * (eventfd, both directions), EPIPE without SIGPIPE, foreign threads, many pipes at once. */
// VALGRIND: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void make_pipe(int p[2]) { CHECK(pipe2(p, O_CLOEXEC) == 0); }

/* --- a reader parks until a writer goroutine writes ------------------------------ */
typedef struct { int fd; gort_waitgroup *wg; ssize_t got; char buf[64]; } reader_arg;

static void reader(void *a) {
    reader_arg *r = a;
    r->got = gort_read(r->fd, r->buf, sizeof r->buf, GORT_FOREVER);
    gort_waitgroup_done(r->wg);
}

static void test_park_and_wake(void) {
    int p[2];
    make_pipe(p);
    gort_waitgroup wg = {0};
    reader_arg r = {.fd = p[0], .wg = &wg};
    gort_waitgroup_add(&wg, 1);
    gort_go(reader, &r);
    gort_sleep(2000000); /* let it park (not required for correctness) */
    CHECK_EQ(gort_write(p[1], "hello", 5, GORT_FOREVER), 5);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(r.got, 5);
    CHECK(memcmp(r.buf, "hello", 5) == 0);
    /* EOF */
    CHECK_EQ(gort_close(p[1]), 0);
    CHECK_EQ(gort_read(p[0], r.buf, sizeof r.buf, GORT_FOREVER), 0);
    CHECK_EQ(gort_close(p[0]), 0);
    CHECK_EQ(gort_close(p[0]), GORT_EBADF);
}

/* --- deadlines -------------------------------------------------------------------- */
static void test_deadlines(void) {
    int p[2];
    make_pipe(p);
    char c;
    CHECK_EQ(gort_read(p[0], &c, 1, 0), GORT_EAGAIN);                 /* non-blocking */
    int64_t t0 = gort_now();
    CHECK_EQ(gort_read(p[0], &c, 1, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    CHECK(gort_now() - t0 >= 5000000);                                /* not early */
    CHECK_EQ(gort_fd_wait(p[0], GORT_READABLE, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    /* data already there: a past deadline still reads it */
    CHECK_EQ(gort_write(p[1], "x", 1, 0), 1);
    CHECK_EQ(gort_read(p[0], &c, 1, 0), 1);
    CHECK_EQ(c, 'x');
    /* fill the pipe: a non-blocking write reports EAGAIN, a timed one ETIMEDOUT */
    static char big[1 << 20];
    ssize_t w = gort_write(p[1], big, sizeof big, gort_deadline_in(20 * 1000000));
    CHECK_EQ(w, GORT_ETIMEDOUT);
    CHECK_EQ(gort_write(p[1], big, 1, 0), GORT_EAGAIN);
    CHECK_EQ(gort_fd_wait(p[1], GORT_WRITABLE, 0), GORT_EAGAIN);
    gort_close(p[0]);
    gort_close(p[1]);
}

/* --- gort_close wakes blocked goroutines ------------------------------------------ */
static void test_close_wakes(void) {
    int p[2];
    make_pipe(p);
    gort_waitgroup wg = {0};
    reader_arg r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (reader_arg){.fd = p[0], .wg = &wg};
        gort_waitgroup_add(&wg, 1);
        gort_go(reader, &r[i]);
    }
    gort_sleep(5000000);
    CHECK_EQ(gort_close(p[0]), 0);
    gort_waitgroup_wait(&wg);
    for (int i = 0; i < 4; i++) CHECK_EQ(r[i].got, GORT_EBADF);
    /* the number is free again: a new pipe may reuse it, and works normally */
    int q[2];
    make_pipe(q);
    CHECK_EQ(gort_write(q[1], "ok", 2, GORT_FOREVER), 2);
    char b[2];
    CHECK_EQ(gort_read(q[0], b, 2, GORT_FOREVER), 2);
    gort_close(q[0]);
    gort_close(q[1]);
    gort_close(p[1]);
}

/* --- fd reuse: stale readiness of a closed fd never wakes the new one -------------- */
static void test_reuse(void) {
    for (int i = 0; i < 200; i++) {
        int p[2];
        make_pipe(p);
        CHECK_EQ(gort_write(p[1], "z", 1, 0), 1);         /* an edge on the old file */
        CHECK_EQ(gort_fd_wait(p[0], GORT_READABLE, GORT_FOREVER), GORT_READABLE);
        int old = p[0];
        gort_close(p[0]);
        gort_close(p[1]);
        make_pipe(p);                                       /* likely the same numbers */
        char c;
        if (p[0] == old) CHECK_EQ(gort_read(p[0], &c, 1, 0), GORT_EAGAIN);
        gort_close(p[0]);
        gort_close(p[1]);
    }
}

/* --- gort_fd_wait on an fd gort does not manage ----------------------------------- */
static void ev_poster(void *a) {
    int fd = *(int *)a;
    gort_sleep(1000000);
    uint64_t one = 1;
    CHECK(write(fd, &one, 8) == 8);
}

static void test_fd_wait_foreign(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ(gort_fd_wait(fd, GORT_READABLE | GORT_WRITABLE, GORT_FOREVER) & GORT_WRITABLE, GORT_WRITABLE);
    for (int i = 0; i < 20; i++) {
        gort_go(ev_poster, &fd);
        int ev = gort_fd_wait(fd, GORT_READABLE, GORT_FOREVER);
        CHECK_EQ(ev, GORT_READABLE);
        uint64_t v;
        CHECK(read(fd, &v, 8) == 8); /* the library reads it itself */
        CHECK_EQ(v, 1);
    }
    /* closed behind gort's back and reopened: the wait re-arms, no hang */
    close(fd);
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    gort_go(ev_poster, &fd);
    CHECK_EQ(gort_fd_wait(fd, GORT_READABLE, GORT_FOREVER), GORT_READABLE);
    close(fd);
    CHECK_EQ(gort_fd_wait(-1, GORT_READABLE, 0), GORT_EBADF);
    CHECK_EQ(gort_fd_wait(0, 0, 0), GORT_EINVAL);
    CHECK_EQ(gort_fd_wait(0, 4, 0), GORT_EINVAL);
    CHECK_EQ(gort_read(0, NULL, 1, 0), GORT_EINVAL);
    CHECK_EQ(gort_write(1, NULL, 1, 0), GORT_EINVAL);
    CHECK_EQ(gort_close(-5), GORT_EBADF);
}

/* --- EPIPE, not SIGPIPE ------------------------------------------------------------ */
static void test_epipe(void) {
    int p[2];
    make_pipe(p);
    gort_close(p[0]);
    CHECK_EQ(gort_write(p[1], "x", 1, GORT_FOREVER), GORT_EPIPE);
    gort_close(p[1]);
}

/* --- a foreign thread blocks in gort_read; a goroutine feeds it --------------------- */
typedef struct { int fd; ssize_t got; char buf[8]; } thread_arg;
static void *thread_reader(void *a) {
    thread_arg *t = a;
    t->got = gort_read(t->fd, t->buf, sizeof t->buf, GORT_FOREVER);
    return NULL;
}
static void late_writer(void *a) {
    int fd = *(int *)a;
    gort_sleep(3000000);
    gort_write(fd, "thread", 6, GORT_FOREVER);
}
static void test_foreign_thread(void) {
    int p[2];
    make_pipe(p);
    thread_arg t = {.fd = p[0]};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_reader, &t) == 0);
    gort_go(late_writer, &p[1]);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(t.got, 6);
    CHECK(memcmp(t.buf, "thread", 6) == 0);
    gort_close(p[0]);
    gort_close(p[1]);
}

/* --- many pipes: a ring of goroutines passing a token, across all Ps ---------------- */
#define RING 64
#define LAPS 50
static int ring[RING][2];
static gort_waitgroup ring_wg;

static void ring_node(void *a) {
    int i = (int)(intptr_t)a;
    for (int lap = 0; lap < LAPS; lap++) {
        uint32_t v;
        CHECK_EQ(gort_read(ring[i][0], &v, 4, GORT_FOREVER), 4);
        CHECK_EQ(v, (uint32_t)(lap * RING + i));
        v++;
        if (!(i == RING - 1 && lap == LAPS - 1))
            CHECK_EQ(gort_write(ring[(i + 1) % RING][1], &v, 4, GORT_FOREVER), 4);
    }
    gort_waitgroup_done(&ring_wg);
}

static void test_ring(void) {
    for (int i = 0; i < RING; i++) make_pipe(ring[i]);
    gort_waitgroup_add(&ring_wg, RING);
    for (int i = 0; i < RING; i++) gort_go(ring_node, (void *)(intptr_t)i);
    uint32_t v = 0;
    CHECK_EQ(gort_write(ring[0][1], &v, 4, GORT_FOREVER), 4);
    gort_waitgroup_wait(&ring_wg);
    for (int i = 0; i < RING; i++) {
        gort_close(ring[i][0]);
        gort_close(ring[i][1]);
    }
}

/* --- a blocking standard stream stays blocking (it is shared with the shell) ---------- */
static void stdin_feeder(void *a) {
    int fd = *(int *)a;
    gort_sleep(2000000);
    CHECK(write(fd, "in", 2) == 2);
}
static void test_stdio_stays_blocking(void) {
    int p[2];
    make_pipe(p);
    int saved = dup(0);
    CHECK(saved >= 0);
    CHECK(dup2(p[0], 0) == 0);
    char b[8];
    CHECK_EQ(gort_read(0, b, sizeof b, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    gort_go(stdin_feeder, &p[1]);
    CHECK_EQ(gort_read(0, b, sizeof b, GORT_FOREVER), 2);
    CHECK(memcmp(b, "in", 2) == 0);
    CHECK_EQ(fcntl(0, F_GETFL) & O_NONBLOCK, 0);
    CHECK_EQ(gort_write(2, "", 0, GORT_FOREVER), 0);
    CHECK_EQ(fcntl(2, F_GETFL) & O_NONBLOCK, 0);
    /* restore stdin; fd 0 now describes another file: close through gort forgets it */
    CHECK_EQ(gort_close(0), 0);
    CHECK(dup2(saved, 0) == 0);
    close(saved);
    close(p[0]);
    gort_close(p[1]);
}

static int main_goroutine(void *arg) {
    (void)arg;
    fprintf(stderr, "%s\n", "test_park_and_wake");
    test_park_and_wake();
    fprintf(stderr, "%s\n", "test_deadlines");
    test_deadlines();
    fprintf(stderr, "%s\n", "test_close_wakes");
    test_close_wakes();
    fprintf(stderr, "%s\n", "test_reuse");
    test_reuse();
    fprintf(stderr, "%s\n", "test_fd_wait_foreign");
    test_fd_wait_foreign();
    fprintf(stderr, "%s\n", "test_epipe");
    test_epipe();
    fprintf(stderr, "%s\n", "test_foreign_thread");
    test_foreign_thread();
    fprintf(stderr, "%s\n", "test_ring");
    test_ring();
    fprintf(stderr, "%s\n", "test_stdio_stays_blocking");
    test_stdio_stays_blocking();
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(main_goroutine, NULL), 0);
    puts("fd ok");
    return 0;
}
