/* test_heap_take_alloc with the compare-and-swap fallback (as without membarrier(2)). */
// ENV: GORT_MAXPROCS=4
// ENV: GORT_DEBUG=nomembarrier=1
// TIMEOUT: 600
#include "test_heap_take_alloc.c"
