/* Uses an installed gort: spawns goroutines from the main goroutine, prints OK and the
 * version of the library it runs with. */
#include <gort.h>
#include <stdatomic.h>
#include <stdio.h>

enum { WORKERS = 8 };
static atomic_int done;

static void worker(void *arg) {
    (void)arg;
    gort_sleep(1000000); /* 1 ms */
    atomic_fetch_add(&done, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    for (int i = 0; i < WORKERS; i++) {
        if (gort_go(worker, NULL) != 0) return 1;
    }
    for (int spins = 0; atomic_load(&done) < WORKERS; spins++) {
        if (spins > 10000) return 2; /* ~10 s */
        gort_sleep(1000000);
    }
    return 0;
}

int main(void) {
    int cpus = gort_num_cpu();
    if (cpus < 1) {
        fprintf(stderr, "gort_num_cpu() = %d\n", cpus);
        return 1;
    }
    int rc = gort_main(main_goroutine, NULL);
    if (rc != 0) {
        fprintf(stderr, "main goroutine returned %d\n", rc);
        return 1;
    }
    printf("OK (gort %s, %d CPUs, %d goroutines finished)\n", gort_version(), cpus, atomic_load(&done));
    return 0;
}
