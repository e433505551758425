// gort_profile_write: the goroutine, block and mutex profiles in pprof's protobuf
// format. The program makes known blocking (goroutines parked in block_on_channel,
// contention on a mutex held in hold_mutex) and writes the three profiles into the
// directory given as argv[1] (without one, into memory files); c-tests/tools/check_pprof.sh
// then reads them with `go tool pprof -top` and checks the functions appear. Run alone it
// checks what it can through the header: argument errors, rates, non-empty output.
#include "check.h"
#include "gort.h"
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#define PARKED 8

static gort_chan *never;
static gort_mutex mu = GORT_MUTEX_INIT;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;

__attribute__((noinline)) static void block_on_channel(void *arg) {
    (void)arg;
    int v;
    gort_chan_recv(never, &v);
}

__attribute__((noinline)) static void hold_mutex(void) {
    gort_mutex_lock(&mu);
    gort_sleep(200000); /* 0.2 ms inside: the others queue */
    gort_mutex_unlock(&mu);
}

static void contender(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) hold_mutex();
    gort_waitgroup_done(&wg);
}

/* A short-lived wait that completes, for the block profile. */
__attribute__((noinline)) static void wait_for_reply(gort_chan *c) {
    int v;
    gort_chan_recv(c, &v);
}

static void replier(void *arg) {
    gort_sleep(1000000);
    int v = 1;
    gort_chan_send(arg, &v);
}

static void write_profile(const char *dir, const char *name) {
    int fd;
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.pb", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    } else {
        fd = memfd_create(name, 0);
    }
    CHECK(fd >= 0);
    CHECK_EQ(gort_profile_write(name, fd), 0);
    off_t len = lseek(fd, 0, SEEK_CUR);
    CHECK(len > 20);
    close(fd);
}

static int main_goroutine(void *arg) {
    const char *dir = arg;
    CHECK_EQ(gort_set_block_profile_rate(1), 0);
    CHECK_EQ(gort_set_block_profile_rate(1), 1);
    CHECK_EQ(gort_set_mutex_profile_fraction(1), 0);
    CHECK_EQ(gort_set_mutex_profile_fraction(-1), 1); /* negative: read only */

    never = gort_chan_make(sizeof(int), 0);
    for (int i = 0; i < PARKED; i++) gort_go(block_on_channel, NULL);
    for (int i = 0; i < 10; i++) {
        gort_chan *c = gort_chan_make(sizeof(int), 0);
        gort_go(replier, c);
        wait_for_reply(c);
        gort_chan_release(c);
    }
    gort_waitgroup_add(&wg, 4);
    for (int i = 0; i < 4; i++) gort_go(contender, NULL);
    gort_waitgroup_wait(&wg);

    CHECK_EQ(gort_profile_write("heapz", 1), GORT_EINVAL);
    CHECK_EQ(gort_profile_write(NULL, 1), GORT_EINVAL);
    CHECK_EQ(gort_profile_write("goroutine", -1), GORT_EBADF);
    write_profile(dir, "goroutine");
    write_profile(dir, "block");
    write_profile(dir, "mutex");
    return 0;
}

int main(int argc, char **argv) { return gort_main(main_goroutine, argc > 1 ? argv[1] : NULL); }
