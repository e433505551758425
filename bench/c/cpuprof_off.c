/* See cpuprof.h: the loop without the profiler. */
#define CPUPROF_ON 0
#define CPUPROF_NAME "cpuprof_off"
#include "cpuprof.h"
