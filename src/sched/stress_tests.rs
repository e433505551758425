//! Stress tests of the scheduler's internals across all Ps (unit tests, since they use the
//! crate's private API): park/ready hand-offs (the
//! primitive channels and sync build on), spawning from foreign threads, timer storms,
//! and resizing gomaxprocs under load. All tests share one runtime (one per process).

use crate::sched::{self, Entry, G};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn go(f: impl FnOnce() + Send + 'static) {
    sched::spawn(Entry::Rust(Box::new(f))).expect("spawn");
}

/// Waits (on the test thread) until `counter` reaches `n`, failing after a generous limit.
fn wait_for(counter: &AtomicUsize, n: usize, what: &str) {
    let start = Instant::now();
    while counter.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < Duration::from_secs(120), "{what}: stuck at {}/{n}", counter.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A one-goroutine wait slot: the waiter parks and publishes itself from the park
/// callback (after it has switched out); the waker takes it and readies it.
struct Slot {
    waiter: AtomicPtr<G>,
    /// Set by the waker before it looks at `waiter`; the waiter checks it in its callback
    /// (Dekker), so a wake-up that comes first is not lost.
    signalled: AtomicUsize,
}

fn publish(g: *mut G, slot: usize) -> bool {
    // SAFETY: the test keeps the slot alive for as long as goroutines use it.
    let s = unsafe { &*(slot as *const Slot) };
    s.waiter.store(g, Ordering::SeqCst);
    if s.signalled.load(Ordering::SeqCst) != 0 {
        // Already signalled: take ourselves back unless the waker got us first.
        if s.waiter.compare_exchange(g, std::ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return false; // cancel the park
        }
    }
    true
}

impl Slot {
    fn new() -> Slot {
        Slot { waiter: AtomicPtr::new(std::ptr::null_mut()), signalled: AtomicUsize::new(0) }
    }
    fn wait(&self) {
        while self.signalled.swap(0, Ordering::SeqCst) == 0 {
            sched::park("test slot", Some(publish), self as *const Slot as usize);
        }
    }
    fn signal(&self) {
        self.signalled.store(1, Ordering::SeqCst);
        let g = self.waiter.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !g.is_null() {
            sched::ready(g);
        }
    }
}

#[test]
fn park_ready_ping_pong_across_ps() {
    const PAIRS: usize = 16;
    const ROUNDS: usize = 5_000;
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..PAIRS {
        let a = Arc::new(Slot::new());
        let b = Arc::new(Slot::new());
        let (a2, b2, d1, d2) = (a.clone(), b.clone(), done.clone(), done.clone());
        go(move || {
            for _ in 0..ROUNDS {
                b2.signal();
                a2.wait();
            }
            d1.fetch_add(1, Ordering::SeqCst);
        });
        go(move || {
            for _ in 0..ROUNDS {
                b.wait();
                a.signal();
            }
            d2.fetch_add(1, Ordering::SeqCst);
        });
    }
    wait_for(&done, 2 * PAIRS, "ping-pong");
}

#[test]
fn spawn_from_many_foreign_threads() {
    const THREADS: usize = 8;
    const PER: usize = 20_000;
    let done = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..THREADS)
        .map(|_| {
            let done = done.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    let d = done.clone();
                    go(move || {
                        if i % 7 == 0 {
                            sched::gosched();
                        }
                        d.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    wait_for(&done, THREADS * PER, "foreign spawns");
}

#[test]
fn nested_spawning_tree() {
    fn node(depth: u32, done: Arc<AtomicUsize>) {
        if depth == 0 {
            done.fetch_add(1, Ordering::SeqCst);
            return;
        }
        for _ in 0..4 {
            let d = done.clone();
            go(move || node(depth - 1, d));
        }
    }
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    go(move || node(7, d));
    wait_for(&done, 4usize.pow(7), "spawn tree");
}

#[test]
fn timer_storm_wakes_everyone_in_deadline_order_per_goroutine() {
    const N: usize = 5_000;
    let done = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let (d, bad) = (done.clone(), bad.clone());
        go(move || {
            let start = crate::time::nanotime();
            let ns = 100_000 + (i as i64 % 97) * 20_000;
            crate::time::sleep(ns);
            if crate::time::nanotime() - start < ns {
                bad.fetch_add(1, Ordering::SeqCst);
            }
            crate::time::sleep(ns / 2);
            d.fetch_add(1, Ordering::SeqCst);
        });
    }
    wait_for(&done, N, "sleepers");
    assert_eq!(bad.load(Ordering::SeqCst), 0, "a sleep returned early");
}

#[test]
fn gomaxprocs_changes_under_load() {
    let stop = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    for _ in 0..32 {
        let (stop, progress, live) = (stop.clone(), progress.clone(), live.clone());
        live.fetch_add(1, Ordering::SeqCst);
        go(move || {
            while stop.load(Ordering::SeqCst) == 0 {
                progress.fetch_add(1, Ordering::SeqCst);
                if progress.load(Ordering::Relaxed) % 3 == 0 {
                    crate::time::sleep(10_000);
                } else {
                    sched::gosched();
                }
            }
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
    let orig = sched::gomaxprocs();
    for n in [1usize, 4, 2, 8, 1, 3, orig] {
        let before = progress.load(Ordering::SeqCst);
        let old = sched::proc::set_gomaxprocs(n);
        assert!(old >= 1);
        assert_eq!(sched::gomaxprocs(), n);
        // Goroutines keep making progress at every size.
        wait_for(&progress, before + 1000, "progress after resize");
    }
    stop.store(1, Ordering::SeqCst);
    let start = Instant::now();
    while live.load(Ordering::SeqCst) > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "goroutines did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn blocking_calls_hand_off_the_p() {
    // More goroutines blocked in foreign calls than there are Ps: the others still run.
    let n = sched::gomaxprocs() + 2;
    let released = Arc::new(AtomicUsize::new(0));
    let blocked = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let (released, blocked) = (released.clone(), blocked.clone());
        go(move || {
            sched::proc::blocking_enter();
            blocked.fetch_add(1, Ordering::SeqCst);
            while released.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            sched::proc::blocking_exit();
            blocked.fetch_sub(1, Ordering::SeqCst);
        });
    }
    wait_for(&blocked, n, "blocked goroutines");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let r = ran.clone();
        go(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
    }
    wait_for(&ran, 100, "goroutines while others block");
    released.store(1, Ordering::SeqCst);
    let start = Instant::now();
    while blocked.load(Ordering::SeqCst) > 0 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(1));
    }
}
