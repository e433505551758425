/* sync.Map, workload "load" at 2 P (see syncmap.h). Go twin: bench/go/syncmap.go. */
#include "syncmap.h"

int main(int argc, char **argv) {
    return syncmap_bench(argc, argv, "syncmap_load_p2", LOAD, 20000000);
}
