// gort_blocking_enter/exit around a blocking read(): with a single P, the goroutine
// blocked in read() must not stop the writer goroutine (which first sleeps) from running.
// TSAN: yes
// ENV: GORT_MAXPROCS=1
// VALGRIND: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <unistd.h>

static int fds[2];
static atomic_int got;

static void reader(void *arg) {
    (void)arg;
    char buf[8];
    gort_blocking_enter();
    ssize_t n = read(fds[0], buf, sizeof buf); /* blocks the thread, not the runtime */
    gort_blocking_exit();
    CHECK_EQ(n, 5);
    atomic_store(&got, 1);
}

static void writer(void *arg) {
    (void)arg;
    gort_sleep(20 * 1000000LL);
    CHECK_EQ(write(fds[1], "hello", 5), 5);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(pipe(fds), 0);
    gort_go(reader, NULL);
    gort_sleep(5 * 1000000LL); /* let the reader block first */
    gort_go(writer, NULL);
    while (!atomic_load(&got)) gort_sleep(1000000);
    /* Outside a goroutine the calls are no-ops. */
    return 0;
}

int main(void) {
    gort_blocking_enter();
    gort_blocking_exit();
    return gort_main(main_goroutine, NULL);
}
