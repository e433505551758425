// gort_dump_goroutines: every goroutine with its state, symbolized frames (function,
// file:line), and "created by" naming the spawning function and goroutine; the program
// goes on. The dump is read back from a memfd and checked, then also written to stderr
// for the regexes below (Go's format).
// EXPECT_STDERR: goroutine 1 \[running\]:
// EXPECT_STDERR: goroutine [0-9]+ \[chan receive\]:
// EXPECT_STDERR: parked_worker\(\.\.\.\)
// EXPECT_STDERR: test_traceback_dump\.c:[0-9]+ \+0x[0-9a-f]+
// EXPECT_STDERR: created by main_goroutine in goroutine 1
// EXPECT_STDERR: goroutine [0-9]+ \[sleep \(forever\)\]:
// VALGRIND: yes
// ASAN: yes
#include "check.h"
#include "gort.h"
#include <string.h>
#include <sys/mman.h>

#define WORKERS 20

static gort_chan *work;

__attribute__((noinline)) static void parked_worker(void *arg) {
    (void)arg;
    int v;
    CHECK_EQ(gort_chan_recv(work, &v), 1);
}

__attribute__((noinline)) static void sleeper(void *arg) {
    (void)arg;
    gort_sleep_until(GORT_FOREVER); /* ends with the program */
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

static int main_goroutine(void *arg) {
    (void)arg;
    work = gort_chan_make(sizeof(int), 0);
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(gort_go(parked_worker, NULL), 0);
    /* Let every worker park. */
    for (int i = 0; i < 100; i++) gort_gosched();
    gort_sleep(5000000);
    CHECK_EQ(gort_go(sleeper, NULL), 0);
    gort_gosched();

    /* Dump until every worker has parked (on a loaded machine some may still be on
     * their way to the receive). */
    char *text = NULL;
    for (int attempt = 0; attempt < 10000; attempt++) {
        int fd = memfd_create("dump", 0);
        CHECK(fd >= 0);
        CHECK_EQ(gort_dump_goroutines(fd), 0);
        off_t len = lseek(fd, 0, SEEK_END);
        CHECK(len > 0);
        free(text);
        text = calloc(1, (size_t)len + 1);
        CHECK(text != NULL);
        CHECK_EQ(pread(fd, text, (size_t)len, 0), len);
        close(fd);
        if (count(text, "[chan receive]:") >= WORKERS && strstr(text, "[sleep (forever)]:") != NULL) break;
        gort_sleep(1000000);
    }

    /* The caller first, running, with its own frame. */
    CHECK(strncmp(text, "\ngoroutine 1 [running]:\n", 24) == 0);
    CHECK(strstr(text, "main_goroutine(...)") != NULL);
    /* Every worker: state, frame with file:line, created by. */
    CHECK(count(text, "[chan receive]:") >= WORKERS);
    CHECK(count(text, "parked_worker(...)\n\t") >= WORKERS);
    CHECK(count(text, "test_traceback_dump.c:") >= WORKERS);
    CHECK(count(text, "created by main_goroutine in goroutine 1\n") >= WORKERS);
    /* The runtime's own Rust frames are hidden at the default level. */
    CHECK(strstr(text, "gort::") == NULL);
    CHECK(strstr(text, "sleeper(...)") != NULL);
    free(text);

    /* Bad descriptors are refused; the program goes on. */
    CHECK_EQ(gort_dump_goroutines(-1), GORT_EBADF);
    CHECK_EQ(gort_dump_goroutines(1000000), GORT_EBADF);

    CHECK_EQ(gort_dump_goroutines(2), 0);

    int v = 0;
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(gort_chan_send(work, &v), 0);
    gort_chan_release(work);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
