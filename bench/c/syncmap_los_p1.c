/* sync.Map, workload "los" at 1 P (see syncmap.h). Go twin: bench/go/syncmap.go. */
#include "syncmap.h"

int main(int argc, char **argv) {
    return syncmap_bench(argc, argv, "syncmap_los_p1", LOS, 2000000);
}
