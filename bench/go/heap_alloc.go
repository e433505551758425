package main

// heap_alloc: small-object allocation. N objects of 16 to 64 bytes (7 sizes, 8 apart,
// picked by xorshift64*), each a struct whose first word is a pointer (left nil) and whose
// second word is written; every new object goes into slot i mod 65536 of a table, so the
// newest 64K objects stay live and the one replaced becomes garbage. Twin of
// bench/c/heap_alloc.c. Reports ns per allocation.

import (
	"fmt"
	"os"
	"time"
	"unsafe"
)

func init() { register("heap_alloc", 20_000_000, benchHeapAlloc) }

const allocWindow = 65536

type (
	ao16 struct {
		p *byte
		w [1]uint64
	}
	ao24 struct {
		p *byte
		w [2]uint64
	}
	ao32 struct {
		p *byte
		w [3]uint64
	}
	ao40 struct {
		p *byte
		w [4]uint64
	}
	ao48 struct {
		p *byte
		w [5]uint64
	}
	ao56 struct {
		p *byte
		w [6]uint64
	}
	ao64 struct {
		p *byte
		w [7]uint64
	}
)

// allocObj returns a new zeroed object of 16 + 8k bytes with its second word set to v.
func allocObj(k uint64, v uint64) unsafe.Pointer {
	switch k {
	case 0:
		o := new(ao16)
		o.w[0] = v
		return unsafe.Pointer(o)
	case 1:
		o := new(ao24)
		o.w[0] = v
		return unsafe.Pointer(o)
	case 2:
		o := new(ao32)
		o.w[0] = v
		return unsafe.Pointer(o)
	case 3:
		o := new(ao40)
		o.w[0] = v
		return unsafe.Pointer(o)
	case 4:
		o := new(ao48)
		o.w[0] = v
		return unsafe.Pointer(o)
	case 5:
		o := new(ao56)
		o.w[0] = v
		return unsafe.Pointer(o)
	default:
		o := new(ao64)
		o.w[0] = v
		return unsafe.Pointer(o)
	}
}

// word1 reads an object's second word (the value allocObj wrote).
func word1(p unsafe.Pointer) uint64 { return (*ao16)(p).w[0] }

func benchHeapAlloc(n int64) (time.Duration, int64) {
	ring := make([]unsafe.Pointer, allocWindow)
	rng := uint64(88172645463325252)
	var sum uint64
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		o := allocObj(heapRand(&rng)%7, uint64(i))
		slot := &ring[i&(allocWindow-1)]
		if *slot != nil {
			sum += word1(*slot)
		}
		*slot = o
	}
	elapsed := time.Since(t0)
	for _, p := range ring {
		if p != nil {
			sum += word1(p)
		}
	}
	if want := uint64(n) * uint64(n-1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "heap_alloc: wrong sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	resultExtra = fmt.Sprintf("num_gc=%d", gcCycles())
	return elapsed, n
}
