package main

// heap_overhead: peak RSS per live byte at GOGC=100. A table of slots holds N MiB
// (default 256) of pointer-free objects of 16 to 256 bytes (31 sizes, 8 apart,
// xorshift64*); then 4 × (number of slots) steps each replace a pseudo-random slot's
// object by a new one of a new size. Every object has its first and last word written.
// live_bytes is the peak of the exact bytes held (requested sizes + the slot table);
// bench/heap/run divides the peak RSS by it. Twin of bench/c/heap_overhead.c.

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
	"unsafe"
)

func init() { register("heap_overhead", 256, benchHeapOverhead) }

const overheadSizes = 31
const overheadAvg = 136 // mean of 16, 24, ..., 256

func overheadObj(size int, tag uint64) unsafe.Pointer {
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, tag)
	binary.LittleEndian.PutUint64(b[size-8:], tag)
	return unsafe.Pointer(unsafe.SliceData(b))
}

func benchHeapOverhead(n int64) (time.Duration, int64) {
	nslots := n * 1024 * 1024 / (overheadAvg + 8)
	slots := make([]unsafe.Pointer, nslots)
	sizes := make([]int32, nslots) // bookkeeping, not counted (malloc'd on the C side)
	rng := uint64(88172645463325252)
	steps := 4 * nslots
	live := uint64(nslots) * 8
	t0 := time.Now()
	for i := int64(0); i < nslots; i++ {
		size := 16 + 8*int(heapRand(&rng)%overheadSizes)
		slots[i] = overheadObj(size, uint64(i))
		sizes[i] = int32(size)
		live += uint64(size)
	}
	peak := live
	for s := int64(0); s < steps; s++ {
		r := heapRand(&rng)
		k := (r >> 8) % uint64(nslots)
		size := 16 + 8*int(r%overheadSizes)
		live -= uint64(sizes[k])
		slots[k] = overheadObj(size, uint64(s))
		sizes[k] = int32(size)
		live += uint64(size)
		if live > peak {
			peak = live
		}
	}
	elapsed := time.Since(t0)
	for i, p := range slots {
		b := unsafe.Slice((*byte)(p), sizes[i])
		if binary.LittleEndian.Uint64(b) != binary.LittleEndian.Uint64(b[sizes[i]-8:]) {
			fmt.Fprintf(os.Stderr, "heap_overhead: slot %d corrupted\n", i)
			os.Exit(1)
		}
	}
	resultExtra = fmt.Sprintf("live_bytes=%d num_gc=%d", peak, gcCycles())
	return elapsed, nslots + steps
}
