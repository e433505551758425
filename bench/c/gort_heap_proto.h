/* bench/c/gort_heap_proto.h: TEMPORARY prototypes of gort's garbage-collected heap API, the
 * calls the heap benchmarks use, written from the documented contract before the library
 * has them (issue 12). While libgort.a has no gort_new, bench/heap/run compiles the
 * HEAP_GORT programs with -c only (no link, nothing run), force-including this file
 * (-include) as long as include/gort.h does not declare gort_new, so that they keep
 * compiling against the documented API. Once gort.h declares these, the runner stops
 * including it: delete this file then.
 */
#ifndef GORT_BENCH_HEAP_PROTO_H
#define GORT_BENCH_HEAP_PROTO_H

#include <stddef.h>
#include <stdint.h>

typedef struct gort_type gort_type;
const gort_type *gort_type_new(const char *name, size_t size, const size_t *ptr_offsets,
                               size_t n_ptrs);
void *gort_new(const gort_type *t);
void *gort_new_array(const gort_type *t, size_t n);
void *gort_alloc_noscan(size_t size);
int gort_root_add(void *addr, size_t size);
int gort_root_remove(void *addr);
void gort_gc(void);
int gort_set_gc_percent(int percent);

typedef struct gort_memstats {
    size_t size;
    uint64_t heap_alloc;
    uint64_t heap_sys;
    uint64_t heap_released;
    uint64_t heap_objects;
    uint64_t total_alloc;
    uint64_t mallocs, frees;
    uint64_t stack_inuse;
    uint64_t sys;
    uint64_t next_gc;
    uint64_t last_gc_ns;
    uint64_t pause_total_ns;
    uint64_t pause_ns[256];
    uint64_t pause_max_ns;
    uint32_t num_gc;
    uint32_t num_forced_gc;
    double gc_cpu_fraction;
} gort_memstats;
void gort_read_memstats(gort_memstats *out);

#endif
