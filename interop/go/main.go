// Go and gort in one process: a Go program links libgort.a through cgo. Go goroutines and
// gort goroutines exchange messages through gort channels from Go's threads, gort
// goroutines call back into Go, and both runtimes keep their fatal-error handling.
//
// Run as `interop <mode>`; the ctest tests (interop/go/CMakeLists.txt) run every mode and
// check its exit status and stderr:
//
//	exchange       everything that must work (exit 0)
//	go-overflow    Go's stack limit still ends a runaway recursion
//	gort-overflow  gort's guard still catches a C recursion in a gort goroutine
//	gort-deadlock  gort_main called from Go: gort cannot prove a deadlock among Go's
//	               threads and stays silent (as Go does inside a host); hangwarn reports it
package main

/*
#include "gort_side.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

// goRelay is called from gort goroutines (C, on gort's threads, locked to them); it calls
// back into gort and may park the calling gort goroutine there.
//
//export goRelay
func goRelay(ch *C.gort_chan, v C.long) {
	relayed.Add(1)
	C.gort_chan_send(ch, unsafe.Pointer(&v))
}

var relayed atomic.Int64

// echoes: Go goroutines, each with its own gort echo goroutine, make round trips through
// gort channels. Every cgo call that waits in gort blocks a Go thread, as a system call
// would; Go's scheduler hands that thread's P to another thread meanwhile.
func echoes(goroutines, rounds int) {
	pairs := make([]*C.echo_pair, goroutines)
	for i := range pairs {
		pairs[i] = (*C.echo_pair)(C.malloc(C.size_t(unsafe.Sizeof(C.echo_pair{}))))
		if C.echo_start(pairs[i]) != 0 {
			fail("echo_start failed")
		}
	}
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Add(1)
		go func(p *C.echo_pair, base int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				v := int64(base*rounds + r)
				if got := int64(C.echo_roundtrip(p, C.long(v))); got != 2*v {
					fail("echo: sent %d, got %d", v, got)
				}
			}
		}(pairs[i], i)
	}
	wg.Wait()
	for _, p := range pairs {
		C.echo_stop(p) // the echo goroutine ends; the pair stays allocated (it may still read it)
	}
}

// fanIn: gort goroutines send into one gort channel that Go goroutines drain.
func fanIn(senders, each, drainers int) {
	ch := C.gort_chan_make(C.size_t(unsafe.Sizeof(C.long(0))), 16)
	if C.fan_in_start(ch, C.int(senders), C.int(each)) != 0 {
		fail("fan_in_start failed")
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	per := senders * each / drainers
	for d := 0; d < drainers; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v C.long
			for i := 0; i < per; i++ {
				if C.gort_chan_recv(ch, unsafe.Pointer(&v)) != 1 {
					fail("fan-in: channel closed early")
				}
				total.Add(int64(v))
			}
		}()
	}
	wg.Wait()
	if got := total.Load(); got != int64(senders*each) {
		fail("fan-in: received %d, want %d", got, senders*each)
	}
}

// callbacks: gort goroutines (locked to their threads) call goRelay, which sends on a gort
// channel that a Go goroutine drains.
func callbacks(callers, each int) {
	long := C.size_t(unsafe.Sizeof(C.long(0)))
	relay := C.gort_chan_make(long, 0)
	done := C.gort_chan_make(long, C.size_t(callers))
	if C.callbacks_start(relay, done, C.int(callers), C.int(each)) != 0 {
		fail("callbacks_start failed")
	}
	var v C.long
	for i := 0; i < callers*each; i++ {
		C.gort_chan_recv(relay, unsafe.Pointer(&v))
	}
	for i := 0; i < callers; i++ {
		C.gort_chan_recv(done, unsafe.Pointer(&v))
	}
	if got := relayed.Load(); got != int64(callers*each) {
		fail("callbacks: goRelay ran %d times, want %d", got, callers*each)
	}
}

// collections: gort's collector stops every registered thread with its signal, Go's
// threads that called gort included, while Go goroutines run Go code (allocating, so Go's
// collector runs too) and keep calling gort.
func collections(cycles int) {
	const n = 20000
	C.heap_list_make(n)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var keep [][]byte
			for !stop.Load() {
				keep = append(keep, make([]byte, 256))
				if len(keep) > 1000 {
					keep = nil
				}
				C.gort_num_goroutine() // a gort call: this thread is registered
			}
		}()
	}
	for i := 0; i < cycles; i++ {
		C.gort_gc()
		runtime.GC()
	}
	stop.Store(true)
	wg.Wait()
	if got := int64(C.heap_list_sum()); got != n*(n+1)/2 {
		fail("heap list sum %d after collections, want %d", got, n*(n+1)/2)
	}
}

// goSignals: Go's own signal uses keep working with gort's handlers installed: a nil
// dereference is still a recoverable Go panic (gort's SIGSEGV handler passes faults that
// are not its own to Go's), and a goroutine in a tight loop is still preempted (SIGURG).
func goSignals() {
	recovered := func() (ok bool) {
		defer func() { ok = recover() != nil }()
		var p *int
		return *p == 0
	}()
	if !recovered {
		fail("a nil dereference in Go was not a recoverable panic")
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var stop atomic.Bool
	spun := make(chan struct{})
	go func() {
		x := 0
		for !stop.Load() { // no calls: only the preemption signal can stop it
			x++
		}
		_ = x
		close(spun)
	}()
	time.Sleep(20 * time.Millisecond) // needs the spinning goroutine to be preempted
	stop.Store(true)
	<-spun
}

func exchange() {
	goSignals() // before gort starts
	echoes(8, 2000)
	fanIn(4, 5000, 2)
	callbacks(4, 500)
	collections(10)
	goSignals() // after
	echoes(4, 500)
	fmt.Println("interop: ok")
}

func main() {
	mode := "exchange"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "exchange":
		exchange()
	case "go-overflow":
		echoes(2, 100)
		var recurse func(int) int
		recurse = func(n int) int { var pad [256]byte; pad[n%256] = 1; return recurse(n+1) + int(pad[0]) }
		recurse(0)
	case "gort-overflow":
		echoes(2, 100)
		C.overflow_in_goroutine()
		time.Sleep(10 * time.Second) // the overflow ends the process first
		fail("no stack overflow reported")
	case "gort-deadlock":
		go C.main_blocked_forever()
		time.Sleep(2500 * time.Millisecond) // hangwarn=1 has spoken by now
		fmt.Fprintln(os.Stderr, "interop: gort stayed silent about the deadlock")
		os.Exit(3)
	default:
		fail("unknown mode %q", mode)
	}
}
