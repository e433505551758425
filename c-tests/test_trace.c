// gort_trace_start / gort_trace_stop: the execution trace as Chrome Trace Event JSON.
// Goroutines ping-pong, sleep, block on a mutex and sit in a blocking region; the trace
// is read back and checked: a JSON document (one event per line), a named track per
// goroutine, Ps starting, every GoBlock of a goroutine followed by its GoUnblock, a
// GoCreate and GoEnd per finished goroutine, the blocking region's B/E pair. Then the
// same through GORT_TRACE=FILE in a child process (written at exit).
// VALGRIND: yes
// ASAN: yes
#include "check.h"
#include "gort.h"
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define ROUNDS 50
#define MAXG 64

static void ponger(void *arg) {
    gort_chan **ch = arg;
    int v;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_EQ(gort_chan_recv(ch[0], &v), 1);
        CHECK_EQ(gort_chan_send(ch[1], &v), 0);
    }
}

static void in_region(void *arg) {
    gort_blocking_enter();
    usleep(1000);
    gort_blocking_exit();
    gort_sleep(100000);
    int v = 0;
    gort_chan_send(arg, &v);
}

static void workload(void) {
    gort_chan *ch[2] = {gort_chan_make(sizeof(int), 0), gort_chan_make(sizeof(int), 0)};
    gort_chan *done = gort_chan_make(sizeof(int), 1);
    CHECK_EQ(gort_go(ponger, ch), 0);
    CHECK_EQ(gort_go(in_region, done), 0);
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_EQ(gort_chan_send(ch[0], &i), 0);
        int v;
        CHECK_EQ(gort_chan_recv(ch[1], &v), 1);
    }
    int v;
    CHECK_EQ(gort_chan_recv(done, &v), 1);
    gort_chan_release(ch[0]);
    gort_chan_release(ch[1]);
    gort_chan_release(done);
    /* Both have sent their last value; let them finish, so their GoEnd is traced. */
    while (gort_num_goroutine() > 1) gort_gosched();
}

/* Reads `fd` from the start into a NUL-terminated buffer. */
static char *slurp(int fd) {
    off_t len = lseek(fd, 0, SEEK_END);
    CHECK(len > 0);
    char *s = calloc(1, (size_t)len + 1);
    CHECK(s != NULL);
    CHECK_EQ(pread(fd, s, (size_t)len, 0), len);
    return s;
}

static long field(const char *line, const char *key) {
    const char *p = strstr(line, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void check_trace(char *s, int expect_region) {
    size_t n = strlen(s);
    CHECK(strncmp(s, "{\"displayTimeUnit\"", 17) == 0);
    CHECK(n > 4 && strcmp(s + n - 4, "\n]}\n") == 0);
    int blocks[MAXG] = {0}, creates = 0, ends = 0, procs = 0, named = 0, b = 0, e = 0, running = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        long tid = field(line, "\"tid\":");
        int on_g = strstr(line, "\"pid\":1,") != NULL;
        if (strstr(line, "\"name\":\"GoBlock\"") && on_g && tid > 0 && tid < MAXG) {
            blocks[tid]++;
        } else if (strstr(line, "\"name\":\"GoUnblock\"") && on_g && tid > 0 && tid < MAXG) {
            /* An unblock always follows a block of the same goroutine (written in order). */
            CHECK(blocks[tid] > 0);
            blocks[tid]--;
        } else if (strstr(line, "\"name\":\"GoCreate\"")) {
            creates++;
        } else if (strstr(line, "\"name\":\"GoEnd\"")) {
            ends++;
        } else if (strstr(line, "\"name\":\"ProcStart\"")) {
            procs++;
        } else if (strstr(line, "\"name\":\"thread_name\"")) {
            named++;
        } else if (strstr(line, "\"ph\":\"B\",\"name\":\"blocking region\"")) {
            b++;
        } else if (strstr(line, "\"ph\":\"E\",\"name\":\"blocking region\"")) {
            e++;
        } else if (strstr(line, "\"ph\":\"X\",\"name\":\"running\"")) {
            running++;
        }
    }
    for (int g = 0; g < MAXG; g++) CHECK_EQ(blocks[g], 0); /* every block has its unblock */
    CHECK(creates >= 2 && ends >= 2);
    CHECK(procs >= 1);
    CHECK(named >= 3);
    CHECK(running >= ROUNDS);
    if (expect_region) CHECK(b == 1 && e == 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_trace_stop(), GORT_EINVAL); /* none runs */
    CHECK_EQ(gort_trace_start(-1), GORT_EBADF);
    int fd = memfd_create("trace", 0);
    CHECK(fd >= 0);
    CHECK_EQ(gort_trace_start(fd), 0);
    CHECK_EQ(gort_trace_start(fd), GORT_EBUSY);
    workload();
    CHECK_EQ(gort_trace_stop(), 0);
    char *s = slurp(fd);
    check_trace(s, 1);
    free(s);
    close(fd);
    return 0;
}

static int child_goroutine(void *arg) {
    (void)arg;
    workload();
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2) return gort_main(child_goroutine, NULL);
    /* GORT_TRACE=FILE in a child first (this process has not started the runtime yet). */
    char path[] = "/tmp/gort-trace-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("GORT_TRACE", path, 1);
        execl(argv[0], argv[0], "child", (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *s = slurp(fd);
    check_trace(s, 1);
    free(s);
    close(fd);
    unlink(path);
    return gort_main(main_goroutine, NULL);
}
