package main

// Helpers shared by the heap benchmarks (heap_*.go), twins of bench/c/heap.h.

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
)

// heapRand is xorshift64*, the same sequence as heap_rand in bench/c/heap.h.
func heapRand(s *uint64) uint64 {
	x := *s
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*s = x
	return x * 0x2545F4914F6CDD1D
}

// pauseTracker keeps the longest GC pause over every cycle of the run. runtime.MemStats
// keeps the last 256 cycles' pauses, so poll must run at least once per 256 cycles (the
// heap benchmarks call it every few thousand allocations when the GC count moved; a poll
// that finds more than 256 new cycles fails the run rather than report a partial maximum).
// A cycle's PauseNs is the total stop-the-world time of that cycle (both of its pauses,
// sweep termination and mark termination, each from the moment stopping began), so the
// maximum is an upper bound of the longest single pause.
type pauseTracker struct {
	seen uint32
	max  uint64
}

func (t *pauseTracker) poll() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.NumGC-t.seen > uint32(len(ms.PauseNs)) {
		fmt.Fprintf(os.Stderr, "pauseTracker: %d GC cycles between two polls: pauses lost\n", ms.NumGC-t.seen)
		os.Exit(1)
	}
	for g := t.seen; g < ms.NumGC; g++ {
		if p := ms.PauseNs[g%uint32(len(ms.PauseNs))]; p > t.max {
			t.max = p
		}
	}
	t.seen = ms.NumGC
}

// gcCycles is the number of finished GC cycles, read without stopping the world
// (runtime/metrics), to decide cheaply when poll has something new to read.
var gcCyclesSample = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}

func gcCycles() uint64 {
	metrics.Read(gcCyclesSample)
	return gcCyclesSample[0].Value.Uint64()
}
