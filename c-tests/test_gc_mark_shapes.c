/* The marker scans objects of every shape: arrays of a 16-byte record whose pointer is
 * its second word, 1 to 70 elements long (every small class from 16 B to 1120 B, so slots
 * that fit one bitmap word, slots that straddle two, and slots of more than 64 words),
 * plus large arrays (48 KiB), chained into long lists (deep marking: one path of 2000
 * objects) with noscan buffers hanging off some slots. Goroutines on every P build lists
 * while collections run every 211 allocations with poisoned frees; then every tag and
 * buffer is checked after more forced collections: a live object the marker missed would
 * read 0xdb. */
// ENV: GORT_DEBUG=gcstress=211,gcpoison=1
// ASAN: yes
// TIMEOUT: 600
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rec {
    uint64_t tag;
    void *p;
};
static const gort_type *rec_type;

enum { LISTS = 4, LEN = 2000, BUF = 40 };

static size_t elems(int i) { return i % 97 == 0 ? 3000 : 1 + (size_t)(i * 7 % 70); }
static uint64_t tag(int list, int i, size_t j) { return ((uint64_t)list << 48) ^ ((uint64_t)i << 20) ^ j; }

/* Builds list `l` from its tail, so each array points to the one built before it. */
static struct rec *build(int l) {
    struct rec *next = NULL;
    for (int i = LEN - 1; i >= 0; i--) {
        size_t n = elems(i);
        struct rec *a = gort_new_array(rec_type, n);
        CHECK(a != NULL);
        for (size_t j = 0; j < n; j++) {
            a[j].tag = tag(l, i, j);
            if (j == n - 1) {
                a[j].p = next;
            } else if (j % 5 == 1) {
                unsigned char *b = gort_alloc_noscan(BUF);
                CHECK(b != NULL);
                memset(b, (int)(a[j].tag & 0x7f), BUF);
                a[j].p = b;
            }
        }
        next = a;
    }
    return next;
}

static void verify(int l, const struct rec *a) {
    for (int i = 0; i < LEN; i++) {
        CHECK(a != NULL);
        size_t n = elems(i);
        for (size_t j = 0; j < n; j++) {
            CHECK_EQ(a[j].tag, tag(l, i, j));
            if (j != n - 1 && j % 5 == 1) {
                const unsigned char *b = a[j].p;
                for (int k = 0; k < BUF; k++) CHECK_EQ(b[k], (unsigned char)(a[j].tag & 0x7f));
            } else if (j != n - 1) {
                CHECK(a[j].p == NULL);
            }
        }
        a = a[n - 1].p;
    }
    CHECK(a == NULL);
}

static struct rec *heads[LISTS];
static gort_waitgroup wg;

static void builder(void *arg) {
    int l = (int)(long)arg;
    struct rec *h = build(l);
    verify(l, h);
    CHECK_EQ(gort_root_add(&heads[l], sizeof heads[l]), 0);
    heads[l] = h;
    gort_waitgroup_done(&wg);
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct rec, p)};
    rec_type = gort_type_new("rec", sizeof(struct rec), ptrs, 1);
    CHECK(rec_type != NULL);
    for (int l = 0; l < LISTS; l++) {
        gort_waitgroup_add(&wg, 1);
        CHECK_EQ(gort_go(builder, (void *)(long)l), 0);
    }
    gort_waitgroup_wait(&wg);
    for (int r = 0; r < 3; r++) {
        gort_gc();
        for (int l = 0; l < LISTS; l++) verify(l, heads[l]);
    }
    return 0;
}

int main(void) { return gort_main(body, NULL); }
