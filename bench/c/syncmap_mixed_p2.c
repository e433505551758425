/* sync.Map, workload "mixed" at 2 P (see syncmap.h). Go twin: bench/go/syncmap.go. */
#include "syncmap.h"

int main(int argc, char **argv) {
    return syncmap_bench(argc, argv, "syncmap_mixed_p2", MIXED, 10000000);
}
