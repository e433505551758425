/* sync.Map, workload "mixed" at 1 P (see syncmap.h). Go twin: bench/go/syncmap.go. */
#include "syncmap.h"

int main(int argc, char **argv) {
    return syncmap_bench(argc, argv, "syncmap_mixed_p1", MIXED, 10000000);
}
