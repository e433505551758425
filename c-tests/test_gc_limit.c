/* GORT_MEMLIMIT: a live heap that cannot fit under the limit makes allocation fail with
 * ENOMEM (after a collection tried), instead of growing without bound; garbage alone
 * never does. */
// ENV: GORT_MEMLIMIT=64MiB
// ASAN: yes
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <errno.h>
#include <gort.h>
#include <string.h>

static void *live[256];

/* errno as the calling thread has it now. A goroutine may resume on another thread
 * after any gort call (a P retaken by sysmon during the garbage loop below, a wait for
 * the collector), and C compilers keep errno's address from before a call: read it
 * through a call of its own, on the thread the allocation returned on. */
static __attribute__((noinline)) int errno_now(void) { return errno; }

static int body(void *arg) {
    (void)arg;
    CHECK(gort_set_memory_limit(-1) == 64LL << 20);
    /* Garbage: any amount is fine. */
    for (int i = 0; i < 500; i++) CHECK(gort_alloc_noscan(1 << 20) != NULL);
    /* Live data past the limit: refused. */
    CHECK_EQ(gort_root_add(live, sizeof live), 0);
    int got = 0;
    for (; got < 256; got++) {
        errno = 0;
        live[got] = gort_alloc_noscan(1 << 20);
        if (live[got] == NULL) break;
    }
    CHECK(got >= 40 && got < 80);
    CHECK_EQ(errno_now(), ENOMEM);
    /* Freeing room makes allocation work again. */
    memset(live, 0, sizeof live);
    CHECK(gort_alloc_noscan(1 << 20) != NULL);
    CHECK_EQ(gort_root_remove(live), 0);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
