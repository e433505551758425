package main

// heap_pause: the longest GC pause with a large live heap and churn. N MiB (default 256)
// of 32-byte objects {next, a, b, c} linked into 1024 lists (appended round-robin); then
// 4 × (number of objects) churn steps, each replacing the head of a pseudo-random list
// by a new object. Twin of bench/c/heap_pause.c. Reports ns per churn step and
// pause_max_ns, the longest GC pause of the whole run: runtime.MemStats.PauseNs of every
// cycle (see pauseTracker: an upper bound of the longest single stop-the-world pause).

import (
	"fmt"
	"os"
	"time"
)

func init() {
	register("heap_pause", 256, benchHeapPause)
	// The same run, compared with gort's concurrent mode (bench/c/heap_pause_concurrent.c).
	register("heap_pause_concurrent", 256, benchHeapPause)
}

const pauseLists = 1024

type obj32 struct {
	next    *obj32
	a, b, c uint64
}

func benchHeapPause(n int64) (time.Duration, int64) {
	heads := make([]*obj32, pauseLists)
	nobj := n * 1024 * 1024 / 32
	steps := 4 * nobj
	rng := uint64(88172645463325252)
	var pt pauseTracker
	cycles := gcCycles()
	// poll when the cycle count moved: checked every 4096 allocations (a cycle here takes
	// far longer than 4096 allocations), so no cycle's pause is missed.
	check := func() {
		if c := gcCycles(); c != cycles {
			cycles = c
			pt.poll()
		}
	}
	for i := int64(0); i < nobj; i++ {
		o := &obj32{a: uint64(i), next: heads[i%pauseLists]}
		heads[i%pauseLists] = o
		if i&4095 == 0 {
			check()
		}
	}
	t0 := time.Now()
	for s := int64(0); s < steps; s++ {
		k := heapRand(&rng) % pauseLists
		old := heads[k]
		heads[k] = &obj32{a: old.a, b: uint64(s), next: old.next}
		if s&4095 == 0 {
			check()
		}
	}
	elapsed := time.Since(t0)
	pt.poll()

	var count int64
	var sum uint64
	for _, h := range heads {
		for o := h; o != nil; o = o.next {
			count++
			sum += o.a
		}
	}
	if count != nobj || sum != uint64(nobj)*uint64(nobj-1)/2 {
		fmt.Fprintf(os.Stderr, "heap_pause: lists hold %d objects, sum %d: corrupted\n", count, sum)
		os.Exit(1)
	}
	resultExtra = fmt.Sprintf("pause_max_ns=%d num_gc=%d live_bytes=%d", pt.max, pt.seen, nobj*32+pauseLists*8)
	return elapsed, steps
}
