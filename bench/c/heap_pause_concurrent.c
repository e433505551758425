/* heap_pause_concurrent: bench/c/heap_pause.c with gort's concurrent collector (the
 * GORT_GCMODE=concurrent in bench/heap/benchmarks.txt; Go's collector is always
 * concurrent). Go twin: the same program, `gobench heap_pause_concurrent`. */
#define BENCH_NAME "heap_pause_concurrent"
#include "heap_pause.c"
