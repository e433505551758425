package main

// cpuprof_off / cpuprof_on: two goroutines each run N/2 steps of a linear congruential
// generator, without and with the CPU profiler (pprof.StartCPUProfile, 100 Hz) writing to
// /dev/null: the twin of bench/c/cpuprof.h. Reports ns per step.

import (
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

func init() {
	register("cpuprof_off", 2_000_000_000, func(n int64) (time.Duration, int64) { return benchCPUProf(n, false) })
	register("cpuprof_on", 2_000_000_000, func(n int64) (time.Duration, int64) { return benchCPUProf(n, true) })
}

var cpuprofSink uint64

func benchCPUProf(n int64, on bool) (time.Duration, int64) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	t0 := time.Now()
	var f *os.File
	if on {
		var err error
		if f, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			panic(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			panic(err)
		}
	}
	for s := uint64(1); s <= 2; s++ {
		wg.Add(1)
		go func(x uint64) {
			for i := int64(0); i < n/2; i++ {
				x = x*6364136223846793005 + 1442695040888963407
			}
			mu.Lock()
			cpuprofSink += x
			mu.Unlock()
			wg.Done()
		}(s)
	}
	wg.Wait()
	if on {
		pprof.StopCPUProfile()
		f.Close()
	}
	return time.Since(t0), n
}
