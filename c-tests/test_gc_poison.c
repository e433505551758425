/* GORT_DEBUG=gcpoison=1, the first aid for a forgotten root: objects whose only pointers
 * sit where the collector does not look (malloc'ed memory) are freed, and their bytes read
 * 0xdb afterwards instead of silently keeping their old values. (Stacks are scanned
 * conservatively, so a stale copy of one address may keep one object alive: of 8 hidden
 * objects, at least 6 must come back poisoned.) */
// ENV: GORT_DEBUG=gcpoison=1
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MASK = 0x5a5a5a5a, N = 8 };

static __attribute__((noinline)) uintptr_t make_hidden(void) {
    unsigned char *p = gort_alloc_noscan(64);
    CHECK(p != NULL);
    memset(p, 0x11, 64);
    return (uintptr_t)p ^ MASK; /* no word anywhere points to it now */
}

int main(void) {
    uintptr_t *box = malloc(N * sizeof *box); /* malloc memory is not a root */
    CHECK(box != NULL);
    for (int k = 0; k < N; k++) box[k] = make_hidden();
    gort_gc();
    gort_gc();
    int poisoned = 0;
    for (int k = 0; k < N; k++) {
        const unsigned char *p = (const unsigned char *)(box[k] ^ MASK);
        int all = 1;
        for (int i = 0; i < 64; i++) all &= p[i] == 0xdb;
        if (all) {
            poisoned++;
        } else {
            for (int i = 0; i < 64; i++) CHECK_EQ(p[i], 0x11); /* kept alive: intact */
        }
    }
    CHECK(poisoned >= N - 2);
    free(box);
    return 0;
}
