// The Go side of gort's side-by-side benchmarks: one subcommand per benchmark, each doing
// the same work as bench/c/<name>.c and printing the same RESULT line.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func report(name string, elapsed time.Duration, ops int64) {
	fmt.Printf("RESULT name=%s ns_per_op=%.2f ops=%d\n", name, float64(elapsed.Nanoseconds())/float64(ops), ops)
}

func yield() {
	const n = 5000000
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	report("yield", time.Since(t0), 2*n)
}

func spawn() {
	const n = 1000000
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(n)
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			left.Add(-1)
			wg.Done()
		}()
	}
	wg.Wait()
	report("spawn", time.Since(t0), n)
}

var benchmarks = map[string]func(){
	"yield": yield,
	"spawn": spawn,
}

func main() {
	if len(os.Args) != 2 || benchmarks[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: gobench <benchmark>")
		os.Exit(2)
	}
	benchmarks[os.Args[1]]()
}
