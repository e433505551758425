// A handler the program installed for the GC signal before gort started (a Go program's
// runtime has one on every signal) is kept: gort's handler passes it every signal gort did
// not send (kill, pthread_kill, sigqueue), and the collector's own stop signals never
// reach it, while collections stop goroutines in C loops and registered threads.
// VALGRIND: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static atomic_int program_handler_calls;
static atomic_int stop_spinning;

static void program_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig, (void)info, (void)ctx;
    atomic_fetch_add(&program_handler_calls, 1);
}

struct node {
    struct node *next;
    long value;
};

static void spin_in_c(void *arg) { /* a goroutine the collector must stop by signal */
    (void)arg;
    while (!atomic_load(&stop_spinning)) {
    }
}

static void *registered_thread(void *arg) {
    (void)arg;
    CHECK_EQ(gort_thread_register(), 0);
    while (!atomic_load(&stop_spinning)) {
    }
    return NULL;
}

static void wait_for_handler_calls(int n) {
    for (int i = 0; i < 5000 && atomic_load(&program_handler_calls) < n; i++) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&program_handler_calls), n);
}

int main(void) {
    int sig = SIGRTMIN + 7; /* gort's default GC signal */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = program_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(sig, &sa, NULL), 0);

    static struct node *list;
    static const size_t ptrs[] = {offsetof(struct node, next)};
    const gort_type *node_type = gort_type_new("node", sizeof(struct node), ptrs, 1);
    CHECK(node_type != NULL); /* the runtime has started: gort's handler is in place */
    struct sigaction now;
    CHECK_EQ(sigaction(sig, NULL, &now), 0);
    CHECK(now.sa_sigaction != program_handler);
    CHECK(now.sa_flags & SA_ONSTACK); /* Go's runtime requires it of every handler */

    gort_root_add(&list, sizeof list);
    for (long i = 1; i <= 10000; i++) {
        struct node *n = gort_new(node_type);
        n->value = i;
        n->next = list;
        list = n;
    }
    CHECK_EQ(gort_go(spin_in_c, NULL), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, registered_thread, NULL), 0);
    for (int i = 0; i < 20; i++) gort_gc();
    CHECK_EQ(atomic_load(&program_handler_calls), 0);

    CHECK_EQ(kill(getpid(), sig), 0);
    wait_for_handler_calls(1);
    CHECK_EQ(pthread_kill(t, sig), 0);
    wait_for_handler_calls(2);
    CHECK_EQ(sigqueue(getpid(), sig, (union sigval){.sival_int = 7}), 0);
    wait_for_handler_calls(3);

    gort_gc();
    atomic_store(&stop_spinning, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    long sum = 0;
    for (struct node *n = list; n; n = n->next) sum += n->value;
    CHECK_EQ(sum, 10000L * 10001 / 2);
    gort_memstats m = {.size = sizeof m};
    gort_read_memstats(&m);
    CHECK(m.num_gc >= 21);
    return 0;
}
