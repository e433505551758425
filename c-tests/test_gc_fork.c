/* Collection never deadlocks a program that forks: goroutines allocate and collect on
 * every P while the main thread forks children that exec or _exit at once (both only
 * async-signal-safe work, as the fork rule allows), many times over. Every child must
 * exit normally, and the goroutines' lists must stay intact. */
// ENV: GORT_DEBUG=gcstress=101
// ASAN: yes
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

struct node {
    struct node *next;
    uint64_t value;
};
static const gort_type *node_type;
static atomic_int stop;
static gort_waitgroup wg;

static void churn(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        struct node *head = NULL;
        uint64_t sum = 0;
        for (int i = 0; i < 200; i++) {
            struct node *n = gort_new(node_type);
            CHECK(n != NULL);
            n->value = seed * 1000003u + (uint64_t)i;
            sum += n->value;
            n->next = head;
            head = n;
        }
        uint64_t again = 0;
        for (struct node *n = head; n; n = n->next) again += n->value;
        CHECK(again == sum);
        if (seed == 1) gort_gc();
        gort_gosched();
    }
    gort_waitgroup_done(&wg);
}

/* Forks from a plain thread (registered: it made a gort call), so a fork can land while
 * the world is being stopped, stopped, or restarted. */
static void *forker(void *arg) {
    (void)arg;
    CHECK_EQ(gort_thread_register(), 0); /* a thread the collector stops and scans */
    for (int i = 0; i < 60; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (i % 2) execl("/bin/true", "true", (char *)NULL);
            _exit(0);
        }
        int status = 0;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    return NULL;
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct node, next)};
    node_type = gort_type_new("node", sizeof(struct node), ptrs, 1);
    CHECK(node_type != NULL);
    for (int i = 1; i <= 4; i++) {
        gort_waitgroup_add(&wg, 1);
        CHECK_EQ(gort_go(churn, (void *)(uintptr_t)i), 0);
    }
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, forker, NULL), 0);
    gort_blocking_enter();
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_blocking_exit();
    atomic_store(&stop, 1);
    gort_waitgroup_wait(&wg);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
