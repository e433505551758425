/* sync.Map, workload "los" at 2 P (see syncmap.h). Go twin: bench/go/syncmap.go. */
#include "syncmap.h"

int main(int argc, char **argv) {
    return syncmap_bench(argc, argv, "syncmap_los_p2", LOS, 2000000);
}
