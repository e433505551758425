/* heap_binarytrees_concurrent: bench/c/heap_binarytrees.c with gort's concurrent collector (the
 * GORT_GCMODE=concurrent in bench/heap/benchmarks.txt; Go's collector is always
 * concurrent). Go twin: the same program, `gobench heap_binarytrees_concurrent`. */
#define BENCH_NAME "heap_binarytrees_concurrent"
#include "heap_binarytrees.c"
