/* gccheckmark names the store that skipped gort_store. While a concurrent mark walks a
 * long chain, the program moves a payload from the far end of the chain (not yet
 * scanned) into a box allocated during the mark (black: never scanned) with plain C
 * stores, and clears the old field, also plainly. The mark misses the payload; the
 * checker, re-marking with the world stopped, finds it reachable through the box and
 * ends the program naming the payload's type, the box's field and its offset. */
// ENV: GORT_GCMODE=concurrent
// ENV: GORT_DEBUG=gccheckmark=1
// ENV: GORT_MAXPROCS=2
// EXPECT_EXIT: 2
// EXPECT_STDERR: gccheckmark: object 0x[0-9a-f]+ of type payload \([0-9]+ bytes\) is reachable but was not marked
// EXPECT_STDERR: pointed to by field box\+8 of object 0x[0-9a-f]+ \(store into it with gort_store\)
// EXPECT_STDERR: fatal error: gccheckmark: [0-9]+ reachable object\(s\) not marked
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <stddef.h>
#include <stdint.h>

typedef struct clink {
    struct clink *next;
    struct payload *held;
} clink;
typedef struct payload {
    long value;
    struct payload *unused;
} payload;
typedef struct box {
    long tag;
    payload *content; /* offset 8 */
} box;

static const gort_type *link_t, *payload_t, *box_t;
static clink *chain; /* a registered root */
static box *boxes;  /* a registered root */

enum { CHAIN = 2000000 };
#define HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static void collect(void *arg) {
    (void)arg;
    gort_gc();
}

static int body(void *arg) {
    (void)arg;
    size_t link_ptrs[] = {offsetof(clink, next), offsetof(clink, held)};
    size_t payload_ptrs[] = {offsetof(payload, unused)};
    size_t box_ptrs[] = {offsetof(box, content)};
    link_t = gort_type_new("link", sizeof(clink), link_ptrs, 2);
    payload_t = gort_type_new("payload", sizeof(payload), payload_ptrs, 1);
    box_t = gort_type_new("box", sizeof(box), box_ptrs, 1);
    CHECK(link_t && payload_t && box_t);
    CHECK(gort_root_add(&chain, sizeof chain) == 0);
    CHECK(gort_root_add(&boxes, sizeof boxes) == 0);
    /* Each try builds a fresh chain whose last clink holds the payload; the mark walks it
     * from the head, one clink at a time, so the payload is found last. */
    for (int attempt = 0; attempt < 20; attempt++) {
        chain = NULL;
        clink *last = gort_new(link_t);
        CHECK(last != NULL);
        last->held = gort_new(payload_t);
        CHECK(last->held != NULL);
        chain = last;
        /* The program keeps the last clink's address hidden from the conservative stack
         * scan (the snapshot would otherwise grey it at once): only the chain holds it. */
        volatile uintptr_t hidden = (uintptr_t)last ^ HIDE;
        last = NULL;
        for (int i = 1; i < CHAIN; i++) {
            clink *l = gort_new(link_t);
            CHECK(l != NULL);
            l->next = chain; /* initialising a new object: fine without the barrier */
            chain = l;
        }
        CHECK(gort_go(collect, NULL) == 0);
        gort_sleep(5 * 1000 * 1000); /* the mark is under way (it takes far longer) */
        last = (clink *)(hidden ^ HIDE);
        box *b = gort_new(box_t);    /* allocated during the mark: black */
        CHECK(b != NULL);
        boxes = b;
        b->content = last->held; /* WRONG in the concurrent mode: must be gort_store */
        last->held = NULL;       /* WRONG too: the deletion the mark needed to see */
        gort_sleep(500 * 1000 * 1000);
    }
    return 0; /* not reached: the checker ends the program */
}

int main(void) { return gort_main(body, NULL); }
