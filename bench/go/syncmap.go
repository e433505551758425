package main

// The sync.Map benchmarks (issue 16): twins of bench/c/syncmap_<workload>_p<Ps>.c (the
// workloads are described in bench/c/syncmap.h). One goroutine per P runs N/Ps operations
// on one sync.Map, each drawing keys from its own xorshift generator (the same sequence as
// the C side). Reports ns per operation.

import (
	"runtime"
	"sync"
	"time"
)

const (
	smLoad = iota
	smMixed
	smLOS
)

const smPreload = 65536

var smSink uintptr

func init() {
	for _, p := range []string{"1", "2"} {
		register("syncmap_load_p"+p, 20_000_000, func(n int64) (time.Duration, int64) { return benchSyncMap(n, smLoad) })
		register("syncmap_mixed_p"+p, 10_000_000, func(n int64) (time.Duration, int64) { return benchSyncMap(n, smMixed) })
		register("syncmap_los_p"+p, 2_000_000, func(n int64) (time.Duration, int64) { return benchSyncMap(n, smLOS) })
	}
}

func benchSyncMap(n int64, kind int) (time.Duration, int64) {
	procs := runtime.GOMAXPROCS(0)
	var m sync.Map
	if kind != smLOS {
		for k := uintptr(0); k < smPreload; k++ {
			m.Store(k, k)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ops := n / int64(procs)
	t0 := time.Now()
	wg.Add(procs)
	for id := 0; id < procs; id++ {
		go func(id uintptr) {
			s := uint64(0x9e3779b97f4a7c15) * uint64(id+1)
			var acc uintptr
			for i := int64(0); i < ops; i++ {
				s ^= s << 13
				s ^= s >> 7
				s ^= s << 17
				x := s
				k := uintptr(x % smPreload)
				switch kind {
				case smLoad, smMixed:
					var store bool
					if kind == smLoad {
						store = (x>>32)%100 == 0
					} else {
						store = (x>>32)%2 == 0
					}
					if store {
						m.Store(k, uintptr(i))
					} else if v, ok := m.Load(k); ok {
						acc += v.(uintptr)
					}
				default:
					key := uintptr(i)*uintptr(procs) + id
					v, _ := m.LoadOrStore(key, key)
					acc += v.(uintptr)
				}
			}
			mu.Lock()
			smSink += acc
			mu.Unlock()
			wg.Done()
		}(uintptr(id))
	}
	wg.Wait()
	return time.Since(t0), ops * int64(procs)
}
