package main

// store: N pointer stores into a heap slice of 1024 slots, with the collector idle: Go's
// compiler checks the write-barrier flag before each store, as gort.h's inline gort_store
// does. The values come from a table of 64 pointers. C twin: bench/c/store.c. Reports ns
// per store.

import "time"

func init() { register("store", 1_000_000_000, benchStore) }

type storeSlot struct{ p *storeSlot }

//go:noinline
func storeLoop(slots []*storeSlot, values []*storeSlot, n int64) {
	for i := int64(0); i < n; i++ {
		slots[i&1023] = values[i&63]
	}
}

func benchStore(n int64) (time.Duration, int64) {
	slots := make([]*storeSlot, 1024)
	values := make([]*storeSlot, 64)
	for i := range values {
		values[i] = &storeSlot{}
	}
	storeLoop(slots, values, n/10)
	t0 := time.Now()
	storeLoop(slots, values, n)
	return time.Since(t0), n
}
