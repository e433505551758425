/* 10,000 concurrent idle TCP connections, each with a goroutine parked in gort_read; all
 * woken by writes, every one checked for its own data, then all closed. Two fds per
 * connection: the soft RLIMIT_NOFILE is raised to the hard limit, and if that is below
 * ~20,100 the test uses as many connections as fit (and says how many). */
// TIMEOUT: 180
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#define WANT 10000
#define SPARE 100 /* fds kept for the runtime, stdio, the listener */

static int nconn;
static int *client_fd, *server_fd;
static atomic_int got_right, accepted;
static gort_waitgroup readers, acceptor_done;
static int lfd;

/* The acceptor: takes exactly nconn connections. The peer's index arrives first. */
static void acceptor(void *arg) {
    (void)arg;
    for (int i = 0; i < nconn; i++) {
        int fd = gort_accept(lfd, gort_deadline_in(60LL * 1000000000));
        if (fd < 0) fprintf(stderr, "accept %d: %s\n", i, gort_strerror(fd));
        CHECK(fd >= 0);
        uint32_t idx;
        CHECK_EQ(gort_read(fd, &idx, sizeof idx, gort_deadline_in(60LL * 1000000000)), (ssize_t)sizeof idx);
        CHECK(idx < (uint32_t)nconn);
        CHECK_EQ(server_fd[idx], -1);
        server_fd[idx] = fd;
        atomic_fetch_add(&accepted, 1);
    }
    gort_waitgroup_done(&acceptor_done);
}

/* One per connection: parks in gort_read until the client side writes its payload. */
static void reader(void *arg) {
    int i = (int)(intptr_t)arg;
    uint64_t v = 0;
    ssize_t n = gort_read(server_fd[i], &v, sizeof v, GORT_FOREVER);
    if (n == (ssize_t)sizeof v && v == 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)) atomic_fetch_add(&got_right, 1);
    else fprintf(stderr, "conn %d: read %zd value %llx\n", i, n, (unsigned long long)v);
    CHECK_EQ(gort_close(server_fd[i]), 0); /* the server closes first: TIME_WAIT stays here */
    gort_waitgroup_done(&readers);
}

static int main_goroutine(void *arg) {
    (void)arg;
    lfd = gort_tcp_listen("127.0.0.1:0", 0);
    CHECK(lfd >= 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", gort_local_port(lfd));
    gort_waitgroup_add(&acceptor_done, 1);
    CHECK_EQ(gort_go(acceptor, NULL), 0);

    for (int i = 0; i < nconn; i++) {
        client_fd[i] = gort_tcp_dial(addr, gort_deadline_in(60LL * 1000000000));
        if (client_fd[i] < 0) fprintf(stderr, "dial %d: %s\n", i, gort_strerror(client_fd[i]));
        CHECK(client_fd[i] >= 0);
        uint32_t idx = (uint32_t)i;
        CHECK_EQ(gort_write(client_fd[i], &idx, sizeof idx, GORT_FOREVER), (ssize_t)sizeof idx);
    }
    gort_waitgroup_wait(&acceptor_done);
    CHECK_EQ(atomic_load(&accepted), nconn);
    CHECK_EQ(gort_close(lfd), 0);

    /* every connection gets a goroutine parked in gort_read */
    gort_waitgroup_add(&readers, nconn);
    for (int i = 0; i < nconn; i++) CHECK_EQ(gort_go(reader, (void *)(intptr_t)i), 0);
    gort_sleep(50000000); /* let them park (not needed for correctness) */
    CHECK(gort_num_goroutine() >= nconn);

    /* wake them all, in an order unlike the one they parked in */
    for (int k = 0; k < nconn; k++) {
        int i = (int)(((int64_t)k * 7919) % nconn);
        uint64_t v = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
        CHECK_EQ(gort_write(client_fd[i], &v, sizeof v, GORT_FOREVER), (ssize_t)sizeof v);
    }
    gort_waitgroup_wait(&readers);
    CHECK_EQ(atomic_load(&got_right), nconn);
    /* the clients see the servers' close as EOF, then close too */
    for (int i = 0; i < nconn; i++) {
        char c;
        CHECK_EQ(gort_read(client_fd[i], &c, 1, gort_deadline_in(60LL * 1000000000)), 0);
        CHECK_EQ(gort_close(client_fd[i]), 0);
    }
    return 0;
}

int main(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t need = 2 * WANT + SPARE;
    rlim_t target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (rl.rlim_cur < target) {
        rl.rlim_cur = target;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    nconn = WANT;
    if (rl.rlim_cur < need) nconn = (int)((rl.rlim_cur - SPARE) / 2);
    CHECK(nconn >= 1000);
    printf("connections: %d (RLIMIT_NOFILE soft %llu, hard %llu)\n", nconn, (unsigned long long)rl.rlim_cur,
           (unsigned long long)rl.rlim_max);
    fflush(stdout);
    client_fd = malloc(sizeof(int) * (size_t)nconn);
    server_fd = malloc(sizeof(int) * (size_t)nconn);
    for (int i = 0; i < nconn; i++) server_fd[i] = client_fd[i] = -1;
    CHECK_EQ(gort_main(main_goroutine, NULL), 0);
    printf("net_10k ok: %d connections\n", nconn);
    return 0;
}
