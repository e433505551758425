//! criterion benchmarks of the core's hot paths, through the exported functions (the same
//! ones C calls, linked from this crate), so a change inside the runtime is measured
//! without the C harness of `bench/` (which compares with Go). Run: `cargo bench`.
//!
//! Each measurement runs inside goroutines: `iter_custom` hands the iteration count to a
//! goroutine, which times the loop itself and sends the elapsed nanoseconds back on a
//! channel the benchmark thread (a thread the runtime does not own) blocks on.

use criterion::{Criterion, criterion_group, criterion_main};
use std::ffi::c_void;
use std::time::Duration;

// The C API, resolved against this crate's `#[no_mangle]` exports.
#[repr(C)]
struct Chan {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Case {
    chan: *mut Chan,
    dir: i32,
    elem: *mut c_void,
    ok: i32,
}
#[repr(C)]
#[derive(Default)]
struct Mutex {
    _opaque: [u32; 2],
}
#[repr(C)]
#[derive(Default)]
struct WaitGroup {
    _opaque: [u64; 3],
}

const GORT_RECV: i32 = 2;
const GORT_FOREVER: i64 = -1;

unsafe extern "C" {
    fn gort_go(f: extern "C" fn(*mut c_void), arg: *mut c_void) -> i32;
    fn gort_gosched();
    fn gort_now() -> i64;
    fn gort_chan_make(elem_size: usize, cap: usize) -> *mut Chan;
    fn gort_chan_release(c: *mut Chan);
    fn gort_chan_send(c: *mut Chan, elem: *const c_void) -> i32;
    fn gort_chan_recv(c: *mut Chan, out: *mut c_void) -> i32;
    fn gort_select(cases: *mut Case, n: usize, deadline: i64) -> i32;
    fn gort_mutex_lock(m: *mut Mutex);
    fn gort_mutex_unlock(m: *mut Mutex);
    fn gort_waitgroup_add(wg: *mut WaitGroup, delta: i64);
    fn gort_waitgroup_done(wg: *mut WaitGroup);
    fn gort_waitgroup_wait(wg: *mut WaitGroup);
}

// Keeps the crate (and its exports) in the link.
use gort as _;

/// What a timed goroutine gets: the loop count and where to send the elapsed time.
struct Job {
    iters: u64,
    result: *mut Chan,
    body: fn(u64),
}

extern "C" fn timed(arg: *mut c_void) {
    // SAFETY: `run` passes a Job that outlives this goroutine's send.
    let job = unsafe { &*(arg as *const Job) };
    // SAFETY: plain exported calls.
    let t0 = unsafe { gort_now() };
    (job.body)(job.iters);
    // SAFETY: as above.
    let elapsed = unsafe { gort_now() } - t0;
    // SAFETY: result carries i64s; the benchmark thread receives it.
    unsafe { gort_chan_send(job.result, &elapsed as *const i64 as *const c_void) };
}

/// Runs `body(iters)` in a goroutine and returns how long it took there.
fn run(iters: u64, body: fn(u64)) -> Duration {
    // SAFETY: plain exported calls; the job lives until the result arrives.
    unsafe {
        let result = gort_chan_make(8, 0);
        let job = Job { iters, result, body };
        assert_eq!(gort_go(timed, &job as *const Job as *mut c_void), 0);
        let mut elapsed = 0i64;
        assert_eq!(gort_chan_recv(result, &mut elapsed as *mut i64 as *mut c_void), 1);
        gort_chan_release(result);
        Duration::from_nanos(elapsed as u64)
    }
}

extern "C" fn nothing(arg: *mut c_void) {
    // SAFETY: spawn passes its wait group.
    unsafe { gort_waitgroup_done(arg as *mut WaitGroup) };
}

fn spawn(iters: u64) {
    let mut wg = WaitGroup::default();
    // SAFETY: the wait group outlives every goroutine (we wait for them).
    unsafe {
        for _ in 0..iters {
            gort_waitgroup_add(&mut wg, 1);
            assert_eq!(gort_go(nothing, &mut wg as *mut WaitGroup as *mut c_void), 0);
        }
        gort_waitgroup_wait(&mut wg);
    }
}

extern "C" fn yielder(arg: *mut c_void) {
    // SAFETY: `yield_pair` passes the iteration count and waits for our done.
    let (iters, wg) = unsafe { *(arg as *const (u64, *mut WaitGroup)) };
    for _ in 0..iters {
        // SAFETY: a plain exported call.
        unsafe { gort_gosched() };
    }
    // SAFETY: as above.
    unsafe { gort_waitgroup_done(wg) };
}

/// Two goroutines yielding to each other: one `gort_gosched` each per iteration.
fn yield_pair(iters: u64) {
    let mut wg = WaitGroup::default();
    let arg = (iters, &mut wg as *mut WaitGroup);
    // SAFETY: `arg` and `wg` outlive the other goroutine (we wait for it).
    unsafe {
        gort_waitgroup_add(&mut wg, 1);
        assert_eq!(gort_go(yielder, &arg as *const _ as *mut c_void), 0);
        for _ in 0..iters {
            gort_gosched();
        }
        gort_waitgroup_wait(&mut wg);
    }
}

extern "C" fn echo(arg: *mut c_void) {
    // SAFETY: `pingpong` passes its two channels and a wait group, and waits for our
    // done before it releases them.
    let (ping, pong, wg) = unsafe { *(arg as *const (*mut Chan, *mut Chan, *mut WaitGroup)) };
    let mut v = 0u64;
    // SAFETY: u64 channels, alive until we are done.
    unsafe {
        while gort_chan_recv(ping, &mut v as *mut u64 as *mut c_void) == 1 {
            gort_chan_send(pong, &v as *const u64 as *const c_void);
        }
        gort_waitgroup_done(wg);
    }
}

/// A round trip over two unbuffered channels per iteration.
fn pingpong(iters: u64) {
    unsafe extern "C" {
        fn gort_chan_close(c: *mut Chan) -> i32;
    }
    let mut wg = WaitGroup::default();
    // SAFETY: plain exported calls; the echo goroutine stops when ping is closed, and the
    // channels are released only after it is done.
    unsafe {
        let ping = gort_chan_make(8, 0);
        let pong = gort_chan_make(8, 0);
        let arg = (ping, pong, &mut wg as *mut WaitGroup);
        gort_waitgroup_add(&mut wg, 1);
        assert_eq!(gort_go(echo, &arg as *const _ as *mut c_void), 0);
        let mut v = 0u64;
        for i in 0..iters {
            gort_chan_send(ping, &i as *const u64 as *const c_void);
            gort_chan_recv(pong, &mut v as *mut u64 as *mut c_void);
        }
        gort_chan_close(ping);
        gort_waitgroup_wait(&mut wg);
        gort_chan_release(ping);
        gort_chan_release(pong);
    }
}

/// Buffered send then receive on one goroutine (no switch): the channel's fast path.
fn chan_buffered(iters: u64) {
    // SAFETY: plain exported calls on our own channel.
    unsafe {
        let c = gort_chan_make(8, 1);
        let mut v = 0u64;
        for i in 0..iters {
            gort_chan_send(c, &i as *const u64 as *const c_void);
            gort_chan_recv(c, &mut v as *mut u64 as *mut c_void);
        }
        gort_chan_release(c);
    }
}

/// A select over two buffered channels, one of them ready, then a receive to refill.
fn select2(iters: u64) {
    // SAFETY: plain exported calls on our own channels.
    unsafe {
        let a = gort_chan_make(8, 1);
        let b = gort_chan_make(8, 1);
        let mut v = 0u64;
        for i in 0..iters {
            gort_chan_send(if i % 2 == 0 { a } else { b }, &i as *const u64 as *const c_void);
            let mut cases = [
                Case { chan: a, dir: GORT_RECV, elem: &mut v as *mut u64 as *mut c_void, ok: 0 },
                Case { chan: b, dir: GORT_RECV, elem: &mut v as *mut u64 as *mut c_void, ok: 0 },
            ];
            gort_select(cases.as_mut_ptr(), 2, GORT_FOREVER);
        }
        gort_chan_release(a);
        gort_chan_release(b);
    }
}

/// An uncontended lock and unlock.
fn mutex(iters: u64) {
    let mut m = Mutex::default();
    for _ in 0..iters {
        // SAFETY: our own mutex.
        unsafe {
            gort_mutex_lock(&mut m);
            gort_mutex_unlock(&mut m);
        }
    }
}

/// A named loop body: runs its operation `iters` times.
type Body = (&'static str, fn(u64));

fn core(c: &mut Criterion) {
    let benches: [Body; 6] = [
        ("spawn", spawn),
        ("yield_pair", yield_pair),
        ("chan_pingpong", pingpong),
        ("chan_buffered", chan_buffered),
        ("select2", select2),
        ("mutex", mutex),
    ];
    for (name, body) in benches {
        c.bench_function(name, |b| b.iter_custom(|iters| run(iters, body)));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = core
}
criterion_main!(benches);
