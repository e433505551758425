/* GORT_DEBUG=gcpoison=1, the first aid for a forgotten root: an object whose only
 * pointer sits where the collector does not look (malloc'ed memory) is freed, and its
 * bytes read 0xdb afterwards instead of silently keeping their old values. */
// ENV: GORT_DEBUG=gcpoison=1
#include "check.h"
#include <gort.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MASK = 0x5a5a5a5a };

static __attribute__((noinline)) uintptr_t make_hidden(void) {
    unsigned char *p = gort_alloc_noscan(64);
    CHECK(p != NULL);
    memset(p, 0x11, 64);
    return (uintptr_t)p ^ MASK; /* no word anywhere points to it now */
}

int main(void) {
    uintptr_t *box = malloc(sizeof *box); /* malloc memory is not a root */
    CHECK(box != NULL);
    *box = make_hidden();
    gort_gc();
    gort_gc();
    const unsigned char *p = (const unsigned char *)(*box ^ MASK);
    for (int i = 0; i < 64; i++) CHECK_EQ(p[i], 0xdb);
    free(box);
    return 0;
}
