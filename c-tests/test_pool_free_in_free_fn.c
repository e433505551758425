/* A free_fn called by the collection's drain goroutine that frees its own pool would wait
 * for itself (the free waits for the drain goroutine to finish with the pool): that is a
 * fatal error with a message instead of a hang. */
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: gort_pool_free: called from the pool's own free_fn
// TIMEOUT: 60
#include "check.h"
#include <gort.h>

static gort_pool *pool;
static char objs[4];

static void bad_free(void *obj, void *ctx) {
    (void)obj;
    (void)ctx;
    gort_pool_free(pool);
}

static int run(void *arg) {
    (void)arg;
    pool = gort_pool_new(NULL, bad_free, NULL);
    for (int i = 0; i < 4; i++) gort_pool_put(pool, &objs[i]);
    gort_gc();
    gort_gc(); /* dropped: the drain goroutine calls bad_free */
    for (int i = 0; i < 5000; i++) gort_sleep(1000000);
    fprintf(stderr, "free_fn never ran\n");
    return 1;
}

int main(void) { return gort_main(run, NULL); }
