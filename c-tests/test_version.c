// gort_version() names the library actually linked, and here, built from the same tree,
// it agrees with the header's GORT_VERSION_* macros (both come from Cargo.toml). It
// touches no runtime state: called first, it leaves gort_init free to configure the
// runtime, and it gives the same string in static storage on a plain thread, in a
// goroutine and in the child of a fork of the running runtime (where most gort calls are
// a fatal error).
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <string.h>
#include <sys/wait.h>

#if !defined(GORT_VERSION_MAJOR) || !defined(GORT_VERSION_MINOR) || !defined(GORT_VERSION_PATCH)
#error "gort.h must define GORT_VERSION_MAJOR, GORT_VERSION_MINOR and GORT_VERSION_PATCH"
#endif
/* Usable in #if, as version checks are written. */
#if GORT_VERSION_MAJOR < 0 || GORT_VERSION_MINOR < 0 || GORT_VERSION_PATCH < 0
#error "the GORT_VERSION_* macros must be non-negative integers"
#endif

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
static const char header_version[] =
    STRINGIFY(GORT_VERSION_MAJOR) "." STRINGIFY(GORT_VERSION_MINOR) "." STRINGIFY(GORT_VERSION_PATCH);

static const char *first_answer;

static void check_same_answer(void) {
    const char *v = gort_version();
    CHECK(v == first_answer); /* static storage: one string for every caller */
}

static void *plain_thread(void *arg) {
    (void)arg;
    check_same_answer();
    return NULL;
}

static void in_goroutine(void *arg) {
    check_same_answer();
    gort_waitgroup_done(arg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_same_answer();
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(in_goroutine, &wg), 0);
    gort_waitgroup_wait(&wg);

    /* The runtime runs: the child of a fork may call only the functions that touch no
       runtime state, gort_version among them. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        const char *v = gort_version();
        _exit(v == first_answer && strcmp(v, header_version) == 0 ? 0 : 3);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    return 0;
}

int main(void) {
    first_answer = gort_version();
    CHECK(first_answer != NULL);

    /* "MAJOR.MINOR.PATCH" and nothing else, equal to the header's numbers. */
    int major = -1, minor = -1, patch = -1, used = 0;
    CHECK_EQ(sscanf(first_answer, "%d.%d.%d%n", &major, &minor, &patch, &used), 3);
    CHECK_EQ(first_answer[used], '\0');
    CHECK_EQ(major, GORT_VERSION_MAJOR);
    CHECK_EQ(minor, GORT_VERSION_MINOR);
    CHECK_EQ(patch, GORT_VERSION_PATCH);
    if (strcmp(first_answer, header_version) != 0) {
        fprintf(stderr, "gort_version() = \"%s\", the header says \"%s\"\n", first_answer, header_version);
        return 1;
    }

    /* It did not start the runtime: a configuration is still accepted. */
    gort_config cfg = {.maxprocs = 2};
    CHECK_EQ(gort_init(&cfg), 0);
    CHECK_EQ(gort_gomaxprocs(0), 2);

    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);

    CHECK_EQ(gort_main(main_goroutine, NULL), 0);
    printf("gort %s (header %s)\n", first_answer, header_version);
    return 0;
}
