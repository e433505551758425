/* See cpuprof.h: the loop with the CPU profiler at 100 Hz. */
#define CPUPROF_ON 1
#define CPUPROF_NAME "cpuprof_on"
#include "cpuprof.h"
