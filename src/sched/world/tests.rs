//! Stop/restart under load and the roots found with the world stopped. These share the
//! test process's runtime with every other unit test, whose goroutines and threads are
//! stopped too: nothing here counts threads exactly.

use super::*;
use crate::sched::{self, Entry};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

fn go(f: impl FnOnce() + Send + 'static) {
    sched::spawn(Entry::Rust(Box::new(f))).expect("spawn");
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(120), "stuck waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Spins for about `ns` on this thread (the world is stopped: no sleeping through it).
fn spin_ns(ns: i64) {
    let end = crate::time::nanotime() + ns;
    while crate::time::nanotime() < end {
        std::hint::spin_loop();
    }
}

/// Workers of every kind, each bumping its own counter until `stop`.
struct Load {
    stop: Arc<AtomicBool>,
    counters: Vec<Arc<AtomicU64>>,
    running: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(c_loops: usize, blocking: usize, foreign: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicUsize::new(0));
        let mut counters = Vec::new();
        let mut threads = Vec::new();
        for i in 0..c_loops + blocking + foreign {
            let c = Arc::new(AtomicU64::new(0));
            counters.push(c.clone());
            let (stop, running) = (stop.clone(), running.clone());
            let body = move || {
                running.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::Relaxed) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                running.fetch_sub(1, Ordering::SeqCst);
            };
            if i < c_loops {
                // A goroutine in a "C loop": it never enters the runtime.
                go(body);
            } else if i < c_loops + blocking {
                go(move || {
                    sched::proc::blocking_enter();
                    body();
                    sched::proc::blocking_exit();
                });
            } else {
                threads.push(std::thread::spawn(move || {
                    register_current_thread().unwrap();
                    body();
                }));
            }
        }
        let n = c_loops + blocking + foreign;
        wait_until("workers", || running.load(Ordering::SeqCst) == n);
        Load { stop, counters, running, threads }
    }

    /// Into a buffer allocated beforehand: nothing may allocate while the world is
    /// stopped (a stopped thread may hold the malloc arena lock we would need).
    fn snapshot(&self, out: &mut [u64]) {
        for (o, c) in out.iter_mut().zip(&self.counters) {
            *o = c.load(Ordering::Relaxed);
        }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        wait_until("workers to end", || self.running.load(Ordering::SeqCst) == 0);
    }
}

#[test]
fn stop_and_restart_under_load() {
    crate::runtime::ensure_init();
    let load = Load::start(2 * sched::gomaxprocs(), 2, 3);
    // Threads registering, exiting (the destructor unregisters) or unregistering, all the
    // while.
    let churn_stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (churn_stop, churned) = (churn_stop.clone(), churned.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !churn_stop.load(Ordering::SeqCst) {
                i += 1;
                std::thread::spawn(move || {
                    register_current_thread().unwrap();
                    std::hint::black_box(i);
                    if i.is_multiple_of(2) {
                        unregister_current_thread().unwrap();
                    }
                })
                .join()
                .unwrap();
                churned.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut max_stop = 0;
    let mut max_restart = 0;
    let n = load.counters.len();
    let (mut before, mut during) = (vec![0; n], vec![0; n]);
    for round in 0..200 {
        let w = stop_world_for_gc();
        // Every worker is stopped: nothing moves while the world is stopped.
        load.snapshot(&mut before);
        spin_ns(20_000);
        load.snapshot(&mut during);
        let mut ranges = 0;
        let mut huge = 0;
        w.for_each_stack_root(&mut |_, len| {
            ranges += 1;
            huge += usize::from(len >= 1 << 30);
        });
        let stopped = w.threads_stopped;
        let unknown = w.unknown_stacks;
        max_stop = max_stop.max(w.stop_ns);
        max_restart = max_restart.max(w.restart());
        assert_eq!(during, before, "round {round}: a worker ran with the world stopped");
        assert!(stopped >= 3, "round {round}: {stopped} threads stopped");
        assert!(ranges > stopped && huge == 0, "round {round}: {ranges} ranges, {huge} huge, {unknown} stacks unknown");
        // And they run again.
        let mut now = vec![0; n];
        wait_until("workers to run again", || {
            load.snapshot(&mut now);
            now.iter().zip(&during).all(|(a, b)| a > b)
        });
    }
    churn_stop.store(true, Ordering::SeqCst);
    churner.join().unwrap();
    assert!(churned.load(Ordering::SeqCst) > 0);
    load.finish();
    eprintln!("stop_and_restart_under_load: max stop {max_stop} ns, max restart {max_restart} ns");
}

const MAGIC_REG: usize = 0x6a6f_7265_6721_0001;
const MAGIC_STACK: usize = 0x6a6f_7265_6721_0002;
const MAGIC_GSTACK: usize = 0x6a6f_7265_6721_0003;
const MAGIC_GSLEEP: usize = 0x6a6f_7265_6721_0004;

/// Spins until `*flag` is set, with `MAGIC_REG` in a callee-saved register only.
#[inline(never)]
fn spin_with_magic_in_register(flag: &AtomicBool) {
    let f = flag.as_ptr();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a byte of a live AtomicBool in a loop; r12 is declared as input.
    unsafe {
        std::arch::asm!(
            "2:", "pause", "cmp byte ptr [{f}], 0", "je 2b",
            f = in(reg) f, in("r12") MAGIC_REG, options(nostack, readonly)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above, with x20.
    unsafe {
        std::arch::asm!(
            "2:", "ldrb {t:w}, [{f}]", "cbz {t:w}, 2b",
            f = in(reg) f, t = out(reg) _, in("x20") MAGIC_REG, options(nostack, readonly)
        );
    }
}

/// Up to 16 `(start, len)` ranges reported that hold `word` at an aligned offset (no
/// allocation: the world is stopped).
fn ranges_holding(w: &StoppedWorld, word: usize) -> ([(usize, usize); 16], usize) {
    let mut hits = [(0usize, 0usize); 16];
    let mut n = 0;
    w.for_each_stack_root(&mut |p, len| {
        let start = (p as usize).next_multiple_of(8);
        let end = p as usize + len;
        let mut a = start;
        while a + 8 <= end {
            // SAFETY: the range was reported as readable stack or register memory.
            if unsafe { *(a as *const usize) } == word && n < hits.len() {
                hits[n] = (p as usize, len);
                n += 1;
                break;
            }
            a += 8;
        }
    });
    (hits, n)
}

#[test]
fn stack_roots_hold_registers_and_stack_values() {
    crate::runtime::ensure_init();
    let stop = Arc::new(AtomicBool::new(false));
    let bounds = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    // A foreign thread: MAGIC_REG only in a register, MAGIC_STACK only on its stack.
    let t = {
        let (stop, bounds) = (stop.clone(), bounds.clone());
        std::thread::spawn(move || {
            register_current_thread().unwrap();
            let (lo, size) = crate::sched::asan::thread_stack_bounds();
            let on_stack = std::hint::black_box([MAGIC_STACK; 2]);
            bounds.0.store(lo as usize, Ordering::SeqCst);
            bounds.1.store(lo as usize + size, Ordering::SeqCst);
            spin_with_magic_in_register(&stop);
            std::hint::black_box(&on_stack);
        })
    };
    // Goroutines with a value on their stacks: one yielding, one sleeping.
    let gbounds: Arc<[(AtomicUsize, AtomicUsize); 2]> = Arc::new(Default::default());
    for (k, magic) in [MAGIC_GSTACK, MAGIC_GSLEEP].into_iter().enumerate() {
        let (stop, gbounds) = (stop.clone(), gbounds.clone());
        go(move || {
            let mine = std::hint::black_box([magic; 2]);
            // SAFETY: our own stack slot, not written while we run.
            let st = unsafe { (*sched::current_g()).stack() }.unwrap();
            gbounds[k].0.store(st.lo() as usize, Ordering::SeqCst);
            gbounds[k].1.store(st.top() as usize, Ordering::SeqCst);
            while !stop.load(Ordering::SeqCst) {
                if k == 0 {
                    sched::gosched();
                } else {
                    sched::park_sleep(crate::time::nanotime() + 200_000);
                }
            }
            std::hint::black_box(&mine);
        });
    }
    wait_until("thread and goroutines", || {
        bounds.1.load(Ordering::SeqCst) != 0 && gbounds.iter().all(|b| b.1.load(Ordering::SeqCst) != 0)
    });
    let within = |(p, len): (usize, usize), lo: usize, hi: usize| lo <= p && p + len <= hi;
    let (lo, hi) = (bounds.0.load(Ordering::SeqCst), bounds.1.load(Ordering::SeqCst));
    for round in 0..100 {
        let w = stop_world_for_gc();
        let (regs, nregs) = ranges_holding(&w, MAGIC_REG);
        let (st, nst) = ranges_holding(&w, MAGIC_STACK);
        let (g0, ng0) = ranges_holding(&w, MAGIC_GSTACK);
        let (g1, ng1) = ranges_holding(&w, MAGIC_GSLEEP);
        w.restart();
        let (regs, st) = (&regs[..nregs], &st[..nst]);
        assert!(
            regs.iter().any(|&(p, len)| len == NREGS * 8 && !within((p, len), lo, hi)),
            "round {round}: the register value is not in a saved register file: {regs:x?}"
        );
        assert!(
            st.iter().any(|&(p, len)| within((p, len), lo, hi) && p + len == hi),
            "round {round}: the stack value is not in [sp, top) of the thread's stack {lo:x}..{hi:x}: {st:x?}"
        );
        for (k, found) in [&g0[..ng0], &g1[..ng1]].into_iter().enumerate() {
            let (glo, ghi) = (gbounds[k].0.load(Ordering::SeqCst), gbounds[k].1.load(Ordering::SeqCst));
            assert!(
                found.iter().any(|&(p, len)| within((p, len), glo, ghi) && p + len == ghi),
                "round {round}: goroutine {k}'s value is not in its stack {glo:x}..{ghi:x}: {found:x?}"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
}

const MAGIC_PARKED: usize = 0x6a6f_7265_6721_0006;

#[test]
fn a_parked_thread_is_held_without_a_signal_and_waits_for_the_restart() {
    crate::runtime::ensure_init();
    let word = Arc::new(AtomicU32::new(0));
    let rec_addr = Arc::new(AtomicUsize::new(0));
    let bounds = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let left = Arc::new(AtomicBool::new(false));
    let t = {
        let (word, rec_addr, bounds, left) = (word.clone(), rec_addr.clone(), bounds.clone(), left.clone());
        std::thread::spawn(move || {
            register_current_thread().unwrap();
            let (lo, size) = crate::sched::asan::thread_stack_bounds();
            bounds.0.store(lo as usize, Ordering::SeqCst);
            bounds.1.store(lo as usize + size, Ordering::SeqCst);
            let on_stack = std::hint::black_box([MAGIC_PARKED; 2]);
            rec_addr.store(REC.with(|r| r.get()) as usize, Ordering::SeqCst);
            parked(|| {
                while word.load(Ordering::SeqCst) == 0 {
                    crate::sched::note::futex_wait(&word, 0, None);
                }
            });
            left.store(true, Ordering::SeqCst);
            std::hint::black_box(&on_stack);
        })
    };
    wait_until("the thread to park", || {
        let r = rec_addr.load(Ordering::SeqCst) as *const ThreadRec;
        // SAFETY: records are never freed.
        !r.is_null() && unsafe { &*r }.park.load(Ordering::SeqCst) == park::PARKED
    });
    // SAFETY: as above.
    let rec = unsafe { &*(rec_addr.load(Ordering::SeqCst) as *const ThreadRec) };
    let (lo, hi) = (bounds.0.load(Ordering::SeqCst), bounds.1.load(Ordering::SeqCst));
    for round in 0..50 {
        let acked_before = rec.acked_round.load(Ordering::SeqCst);
        let w = stop_world_for_gc();
        let held = w.stopped.iter().any(|s| s.held && ptr::eq(s.rec, rec));
        let signalled = rec.signaled_round.load(Ordering::SeqCst) == w.round;
        let (found, n) = ranges_holding(&w, MAGIC_PARKED);
        if round == 49 {
            // Its sleep ends while the world is stopped: it must not leave `parked` yet.
            word.store(1, Ordering::SeqCst);
            crate::sched::note::futex_wake(&word);
            spin_ns(2_000_000);
        }
        let left_early = left.load(Ordering::SeqCst);
        w.restart();
        assert!(held, "round {round}: the parked thread was not held");
        assert!(!signalled, "round {round}: the parked thread was signalled");
        assert_eq!(rec.acked_round.load(Ordering::SeqCst), acked_before, "round {round}: its handler ran");
        assert!(
            found[..n].iter().any(|&(p, len)| lo <= p && p + len == hi),
            "round {round}: its stack value is not in [parked SP, top) of {lo:x}..{hi:x}: {:x?}",
            &found[..n]
        );
        assert!(!left_early, "the thread left `parked` while the world was stopped");
    }
    t.join().unwrap();
    assert!(left.load(Ordering::SeqCst));
}

#[test]
fn no_suspend_section_defers_the_stop() {
    crate::runtime::ensure_init();
    let entered = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let t = {
        let (entered, release, stop, count) = (entered.clone(), release.clone(), stop.clone(), count.clone());
        std::thread::spawn(move || {
            register_current_thread().unwrap();
            {
                let _section = no_suspend();
                entered.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            }
            while !stop.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    wait_until("the section", || entered.load(Ordering::SeqCst));
    let stopped = Arc::new(AtomicBool::new(false));
    let collector = {
        let (stopped, count) = (stopped.clone(), count.clone());
        std::thread::spawn(move || {
            let w = stop_world_for_gc();
            stopped.store(true, Ordering::SeqCst);
            let before = count.load(Ordering::Relaxed);
            spin_ns(20_000);
            assert_eq!(count.load(Ordering::Relaxed), before, "the thread ran on after its section");
            w.restart();
        })
    };
    // The collector cannot finish stopping while the section lasts (the thread is inside
    // it until released).
    std::thread::sleep(Duration::from_millis(20));
    assert!(!stopped.load(Ordering::SeqCst), "the world stopped while a thread was in a no-suspend section");
    release.store(true, Ordering::SeqCst);
    collector.join().unwrap();
    assert!(stopped.load(Ordering::SeqCst));
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
}

#[test]
fn registration_rules() {
    crate::runtime::ensure_init();
    std::thread::spawn(|| {
        assert_eq!(unregister_current_thread(), Err(Error::NotRegistered));
        register_current_thread().unwrap();
        register_current_thread().unwrap(); // idempotent
        assert_eq!(crate::sched::tls::state(), tstate::READY);
        unregister_current_thread().unwrap();
        assert_eq!(crate::sched::tls::state(), tstate::UNKNOWN);
        assert_eq!(unregister_current_thread(), Err(Error::NotRegistered));
        // The export check registers a thread again.
        check_thread("gort_test");
        assert_eq!(crate::sched::tls::state(), tstate::READY);
    })
    .join()
    .unwrap();
    // The thread-exit destructor unregisters. (By thread id: its record may already serve
    // a thread another test registered.)
    let tid = std::thread::spawn(|| {
        register_current_thread().unwrap();
        gettid()
    })
    .join()
    .unwrap();
    assert!(!REGISTRY.lock().live.iter().any(|r| r.tid.load(Ordering::SeqCst) == tid));
    // Goroutines are on Ms: they stay registered.
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    go(move || {
        let r = unregister_current_thread();
        d.store(if r == Err(Error::RuntimeThread) { 1 } else { 2 }, Ordering::SeqCst);
    });
    wait_until("the goroutine", || done.load(Ordering::SeqCst) != 0);
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

/// Not a test: prints stop and restart times (median, p90, max over 1000 rounds) with 2
/// goroutines busy in C loops and 3 foreign threads, idle (sleeping) then busy.
/// `cargo test --release --lib measure_stop_restart -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a test"]
fn measure_stop_restart() {
    crate::runtime::ensure_init();
    let stats = |v: &mut Vec<u64>| {
        v.sort_unstable();
        (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
    };
    for busy_foreign in [false, true] {
        let load = Load::start(2, 0, if busy_foreign { 3 } else { 0 });
        let stop = Arc::new(AtomicBool::new(false));
        let sleepers: Vec<_> = (0..if busy_foreign { 0 } else { 3 })
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    register_current_thread().unwrap();
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let (mut st, mut ps, mut rs, mut n) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..1000 {
            let w = stop_world_for_gc();
            st.push(w.stop_ns);
            ps.push(w.stop_ps_ns);
            n = w.threads_stopped;
            rs.push(w.restart());
            std::thread::sleep(Duration::from_micros(200));
        }
        stop.store(true, Ordering::SeqCst);
        for t in sleepers {
            t.join().unwrap();
        }
        load.finish();
        let kind = if busy_foreign { "busy" } else { "sleeping" };
        eprintln!(
            "2 goroutines in C loops, 3 {kind} foreign threads, {n} threads signalled: \
             stop (median, p90, max) {:?} ns, of which Ps {:?} ns; restart {:?} ns",
            stats(&mut st),
            stats(&mut ps),
            stats(&mut rs)
        );
    }
}

const MAGIC_CALLER: usize = 0x6a6f_7265_6721_0005;

#[test]
fn a_goroutine_stops_the_world_and_finds_its_own_stack() {
    crate::runtime::ensure_init();
    let load = Load::start(2, 1, 1);
    let result = Arc::new(AtomicUsize::new(0));
    let r = result.clone();
    go(move || {
        let mine = std::hint::black_box([MAGIC_CALLER; 2]);
        // SAFETY: our own stack slot, not written while we run.
        let st = unsafe { (*sched::current_g()).stack() }.unwrap();
        let (lo, hi) = (st.lo() as usize, st.top() as usize);
        let mut ok = 0;
        for _ in 0..50 {
            let w = stop_world_for_gc();
            let (hits, n) = ranges_holding(&w, MAGIC_CALLER);
            let stopped = w.threads_stopped;
            w.restart();
            // Once, from [sp, top) of our own stack (the G is covered, not scanned twice).
            let own = hits[..n].iter().filter(|&&(p, len)| lo <= p && p + len == hi).count();
            if own == 1 && stopped >= 3 {
                ok += 1;
            }
            sched::gosched();
        }
        std::hint::black_box(&mine);
        r.store(ok + 1, Ordering::SeqCst);
    });
    wait_until("the collecting goroutine", || result.load(Ordering::SeqCst) != 0);
    load.finish();
    assert_eq!(result.load(Ordering::SeqCst), 51, "rounds that found the caller's stack once");
}
