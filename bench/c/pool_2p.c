/* pool_2p: bench/c/pool.c at 2 Ps (bench/benchmarks.txt sets the Ps). */
#define POOL_NAME "pool_2p"
#include "pool.c"
