//! Tests of the root registry and of every runtime-held location.
//!
//! The enumeration is meant for a stopped world, and other tests run beside these in the
//! same process (making and freeing channels, goroutines, timers). So every enumeration
//! here runs in a forked child: a snapshot of the process in which every other thread is
//! frozen wherever it was — inside a channel operation holding its lock, halfway through
//! a registry insert, inside malloc — exactly as a signal-stopped world. The child must
//! finish (an alarm kills it if it blocks on a lock a frozen thread holds), must be able
//! to read every byte of every range it is given (a dangling range is a SIGSEGV), and
//! reports which of the words it was asked about it found.

use super::*;
use crate::chan::{self, Case, Chan, Dir};
use crate::sched::{Entry, NO_DEADLINE};
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A word that appears nowhere else: `tag` in the high bits, a per-process counter low.
fn magic(tag: u64) -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (0x5eed_0000_0000_0000 | (tag << 32) | NEXT.fetch_add(1, Ordering::Relaxed)) as usize
}

/// Enumerates the roots in a frozen snapshot of the process and returns, for each of
/// `words`, whether an aligned word of some reported range equals it. Panics if the
/// child crashed or hung.
fn found_in_snapshot(words: &[usize]) -> Vec<bool> {
    found_by(words, |f| {
        // SAFETY: called in the frozen child (found_by).
        unsafe {
            for_each_root(f);
            for_each_maybe_stale_root(f);
        }
    })
}

/// As [`found_in_snapshot`], for the ranges `enumerate` reports.
fn found_by(words: &[usize], enumerate: fn(&mut dyn FnMut(*const u8, usize))) -> Vec<bool> {
    assert!(words.len() <= 6);
    // SAFETY: fork; the child only enumerates, reads memory and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain calls in the child; `_exit` never returns.
        unsafe {
            libc::alarm(30);
            let mut found = 0i32;
            let mut check = |p: *const u8, len: usize| {
                assert!(len < 1 << 40, "absurd range length {len}");
                let start = (p as usize).next_multiple_of(8);
                let end = p as usize + len;
                let mut a = start;
                while a + 8 <= end {
                    let w = ptr::read_volatile(a as *const usize);
                    for (i, &want) in words.iter().enumerate() {
                        if w == want {
                            found |= 1 << i;
                        }
                    }
                    a += 8;
                }
            };
            enumerate(&mut check);
            libc::_exit(0x40 | found);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) & 0x40 != 0,
        "the snapshot's enumeration failed (status {status:#x}: a crash, a hang or a panic)"
    );
    let bits = libc::WEXITSTATUS(status) & 0x3f;
    (0..words.len()).map(|i| bits & (1 << i) != 0).collect()
}

fn found(word: usize) -> bool {
    found_in_snapshot(&[word])[0]
}

/// Waits (bounded) for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting for {what}");
}

// ---- registered ranges ------------------------------------------------------------------

#[test]
fn ranges_reject_overlap_empty_and_unknown_starts() {
    let buf = vec![0usize; 64].into_boxed_slice();
    let a = buf.as_ptr() as usize;
    assert_eq!(add_range(a + 64, 64), Ok(()));
    for (at, len) in [(a + 64, 64), (a + 32, 64), (a + 96, 8), (a + 120, 64), (a, 512)] {
        assert_eq!(add_range(at, len), Err(RootError::Invalid), "[{at:#x}, +{len}) overlaps");
    }
    assert_eq!(add_range(a, 0), Err(RootError::Invalid), "empty");
    assert_eq!(add_range(0, 8), Err(RootError::Invalid), "null");
    assert_eq!(add_range(usize::MAX - 8, 64), Err(RootError::Invalid), "wraps");
    // Touching ranges on either side are fine.
    assert_eq!(add_range(a + 32, 32), Ok(()));
    assert_eq!(add_range(a + 128, 8), Ok(()));
    assert_eq!(remove_range(a + 72), Err(RootError::Invalid), "inside a range, not its start");
    assert_eq!(remove_range(a), Err(RootError::Invalid), "no range there");
    for start in [a + 32, a + 64, a + 128] {
        assert_eq!(remove_range(start), Ok(()));
        assert_eq!(remove_range(start), Err(RootError::Invalid), "removed twice");
    }
}

#[test]
fn registered_range_is_reported_until_removed() {
    let w = magic(1);
    let mut buf = vec![0usize; 16].into_boxed_slice();
    buf[5] = w;
    let a = buf.as_ptr() as usize;
    assert!(!found(w));
    add_range(a, 16 * 8).unwrap();
    assert!(found(w));
    remove_range(a).unwrap();
    assert!(!found(w));
    // Only the registered bytes: a range ending just before the word misses it.
    add_range(a, 5 * 8).unwrap();
    assert!(!found(w));
    remove_range(a).unwrap();
}

#[test]
fn many_ranges() {
    const N: usize = 20_000;
    let buf = vec![0usize; 2 * N].into_boxed_slice();
    let a = buf.as_ptr() as usize;
    // Every other word, then the gaps; then every overlap attempt fails.
    for i in (0..2 * N).step_by(2) {
        add_range(a + i * 8, 8).unwrap();
    }
    for i in (1..2 * N).step_by(2) {
        add_range(a + i * 8, 8).unwrap();
    }
    for i in (0..2 * N).step_by(97) {
        assert_eq!(add_range(a + i * 8, 8), Err(RootError::Invalid));
        assert_eq!(add_range(a + i * 8 + 4, 8), Err(RootError::Invalid));
    }
    for i in 0..2 * N {
        remove_range(a + i * 8).unwrap();
    }
    assert_eq!(remove_range(a), Err(RootError::Invalid));
}

#[test]
fn concurrent_add_remove_stress_with_snapshots() {
    const THREADS: usize = 4;
    const WORDS: usize = 256;
    // One shared buffer: threads register disjoint slices of it, and all fight over one
    // contested range (at most one may hold it at a time).
    let buf: Arc<Box<[usize]>> = Arc::new(vec![0usize; THREADS * WORDS + 8].into_boxed_slice());
    let base = buf.as_ptr() as usize;
    let contested = base + THREADS * WORDS * 8;
    let holders = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // A sentinel registered throughout: every snapshot must see it.
    let sentinel = magic(2);
    let mut keep = vec![0usize; 4].into_boxed_slice();
    keep[1] = sentinel;
    add_range(keep.as_ptr() as usize, 32).unwrap();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (buf, holders, stop) = (buf.clone(), holders.clone(), stop.clone());
            std::thread::spawn(move || {
                let mine = buf.as_ptr() as usize + t * WORDS * 8;
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) || rounds < 100 {
                    for k in 0..WORDS / 4 {
                        add_range(mine + k * 32, 32).unwrap();
                    }
                    assert_eq!(add_range(mine + 8, 8), Err(RootError::Invalid));
                    if add_range(contested, 64).is_ok() {
                        assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders of one range");
                        holders.fetch_sub(1, Ordering::SeqCst);
                        remove_range(contested).unwrap();
                    }
                    for k in 0..WORDS / 4 {
                        remove_range(mine + k * 32).unwrap();
                    }
                    rounds += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        assert!(found(sentinel), "a registered range was missed while others came and went");
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    remove_range(keep.as_ptr() as usize).unwrap();
    // Everything came out again: the same ranges can be registered once more.
    for t in 0..THREADS {
        add_range(base + t * WORDS * 8, WORDS * 8).unwrap();
        remove_range(base + t * WORDS * 8).unwrap();
    }
}

#[test]
fn held_root_is_reported_while_it_lives() {
    let w = magic(3);
    let data = Box::new([0usize, w, 0]);
    let held = HeldRoot::new(data.as_ptr() as *const u8, 24).unwrap();
    assert!(found(w));
    drop(held);
    assert!(!found(w));
}

// ---- channels ---------------------------------------------------------------------------

fn as_bytes(w: &usize) -> *const u8 {
    w as *const usize as *const u8
}

#[test]
fn channel_buffer_reports_live_elements_or_the_whole_ring_when_locked() {
    let c = Chan::make(8, 4).unwrap();
    // SAFETY (test): we own the channel until the release at the end.
    let ch = unsafe { &*c };
    let (gone, kept1, kept2) = (magic(4), magic(4), magic(4));
    let mut out = 0usize;
    // SAFETY (test): 8-byte elements, live channel.
    unsafe {
        chan::send(ch, as_bytes(&gone), NO_DEADLINE).unwrap();
        chan::recv(ch, &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap();
        chan::send(ch, as_bytes(&kept1), NO_DEADLINE).unwrap();
        chan::send(ch, as_bytes(&kept2), NO_DEADLINE).unwrap();
    }
    assert_eq!(out, gone);
    out = 0;
    assert_eq!(found_in_snapshot(&[gone, kept1, kept2]), [false, true, true], "only the live elements");
    // Wrap around the ring's end: both parts are reported.
    let more = [magic(4), magic(4), magic(4)];
    for m in &more[..2] {
        // SAFETY (test): as above.
        unsafe { chan::send(ch, as_bytes(m), NO_DEADLINE).unwrap() };
    }
    // SAFETY (test): as above.
    unsafe { chan::recv(ch, &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap() };
    assert_eq!(out, kept1);
    // SAFETY (test): as above.
    unsafe { chan::send(ch, as_bytes(&more[2]), NO_DEADLINE).unwrap() };
    assert_eq!(ch.len(), 4);
    assert_eq!(found_in_snapshot(&[kept1, kept2, more[0], more[1], more[2]]), [false, true, true, true, true]);
    // SAFETY (test): as above.
    unsafe { chan::recv(ch, &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap() };
    assert_eq!(out, kept2);
    assert_eq!(found_in_snapshot(&[kept2, more[2]]), [false, true], "kept2's slot is stale");
    // A stopped thread holding the lock mid-operation: the whole ring, stale slots too.
    ch.hold_lock();
    let locked = found_in_snapshot(&[kept2, more[2]]);
    // SAFETY: called in the frozen child.
    let exact = found_by(&[kept2, more[2]], |f| unsafe { for_each_root(f) });
    // SAFETY: as above.
    let stale = found_by(&[kept2, more[2]], |f| unsafe { for_each_maybe_stale_root(f) });
    ch.drop_lock();
    assert_eq!(locked, [true, true], "a received element's stale slot is reported while locked");
    // ... as a root that may be stale (gccheckmark does not expect its objects marked).
    assert_eq!(exact, [false, false], "a locked ring is not reported as held for sure");
    assert_eq!(stale, [true, true], "a locked ring is reported whole as maybe stale");
    // Unlocked, nothing is maybe stale.
    // SAFETY: as above.
    assert_eq!(found_by(&[kept2, more[2]], |f| unsafe { for_each_maybe_stale_root(f) }), [false, false]);
    // Released: gone from the registry.
    // SAFETY (test): our reference.
    unsafe { Chan::release(c) };
    assert_eq!(found_in_snapshot(&[kept2, more[2]]), [false, false]);
}

/// Runs `send` on a thread of its own until the channel has a blocked sender; returns
/// the thread, to join after a receive unblocks it.
fn blocked_sender(c: *mut Chan, send: impl FnOnce(&Chan) + Send + 'static) -> std::thread::JoinHandle<()> {
    let addr = c as usize;
    let t = std::thread::spawn(move || send(unsafe { &*(addr as *const Chan) }));
    // SAFETY (test): the caller owns a reference until after the join.
    wait_for("a blocked sender", || unsafe { &*c }.blocked_senders() == 1);
    t
}

#[test]
fn blocked_senders_elements_are_reported_from_their_own_memory() {
    for cap in [0, 1] {
        let c = Chan::make(16, cap).unwrap();
        // SAFETY (test): our reference until the release below.
        let ch = unsafe { &*c };
        let filler = magic(5);
        if cap == 1 {
            // SAFETY (test): a 16-byte element buffer.
            unsafe { chan::send(ch, [filler, 0].as_ptr() as *const u8, NO_DEADLINE).unwrap() };
        }
        let w = magic(5);
        // The element lives in malloc'd memory: only the sudog leads to it.
        let t = blocked_sender(c, move |ch| {
            let elem = Box::new([0usize, w]);
            // SAFETY (test): a 16-byte element.
            unsafe { chan::send(ch, elem.as_ptr() as *const u8, NO_DEADLINE).unwrap() };
        });
        assert_eq!(found_in_snapshot(&[w, filler]), [true, cap == 1], "cap {cap}");
        let mut out = [0usize; 2];
        // SAFETY (test): as above.
        unsafe { chan::recv(ch, out.as_mut_ptr() as *mut u8, NO_DEADLINE).unwrap() };
        t.join().unwrap();
        if cap == 1 {
            assert_eq!(out, [filler, 0]);
            assert!(found(w), "moved into the ring");
            // SAFETY (test): as above.
            unsafe { chan::recv(ch, out.as_mut_ptr() as *mut u8, NO_DEADLINE).unwrap() };
        }
        assert_eq!(out, [0, w]);
        assert!(!found(w));
        // SAFETY (test): ours.
        unsafe { Chan::release(c) };
    }
}

#[test]
fn blocked_select_send_cases_are_reported() {
    let a = Chan::make(8, 0).unwrap();
    let b = Chan::make(8, 0).unwrap();
    let (wa, wb) = (magic(6), magic(6));
    let (aa, ba) = (a as usize, b as usize);
    let t = std::thread::spawn(move || {
        let (ea, eb) = (Box::new(wa), Box::new(wb));
        let mut cases = [
            Case { chan: aa as *const Chan, dir: Dir::SEND, elem: &*ea as *const usize as *mut u8, ok: -1 },
            Case { chan: ba as *const Chan, dir: Dir::SEND, elem: &*eb as *const usize as *mut u8, ok: -1 },
        ];
        // SAFETY (test): live channels, 8-byte elements.
        assert_eq!(unsafe { chan::select(&mut cases, NO_DEADLINE) }, Ok(1));
    });
    // SAFETY (test): ours until released below.
    wait_for("both cases queued", || unsafe { (&*a).blocked_senders() == 1 && (&*b).blocked_senders() == 1 });
    assert_eq!(found_in_snapshot(&[wa, wb]), [true, true]);
    let mut out = 0usize;
    // SAFETY (test): as above.
    unsafe { chan::recv(&*b, &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap() };
    t.join().unwrap();
    assert_eq!(out, wb);
    assert_eq!(found_in_snapshot(&[wa, wb]), [false, false]);
    // SAFETY (test): ours.
    unsafe {
        Chan::release(a);
        Chan::release(b);
    }
}

#[test]
fn channel_churn_with_snapshots() {
    // Threads make, use and release channels (blocking senders included) while snapshots
    // freeze them at random points: every snapshot must complete and read only live
    // memory, and a channel that lives throughout is always found.
    const THREADS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let stable = Chan::make(8, 2).unwrap();
    let w = magic(7);
    // SAFETY (test): ours until released below.
    unsafe { chan::send(&*stable, as_bytes(&w), NO_DEADLINE).unwrap() };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) || i < 1000 {
                    let c = Chan::make(8, i % 3).unwrap();
                    let addr = c as usize;
                    let v = i ^ t;
                    // SAFETY (test): each channel is used by this thread and one helper,
                    // and released after the helper is done.
                    unsafe {
                        let ch = &*c;
                        if i.is_multiple_of(3) {
                            let s = std::thread::spawn(move || {
                                let e = Box::new(v);
                                chan::send(&*(addr as *const Chan), &*e as *const usize as *const u8, NO_DEADLINE)
                                    .unwrap();
                            });
                            let mut out = 0usize;
                            chan::recv(ch, &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap();
                            s.join().unwrap();
                            assert_eq!(out, v);
                        } else {
                            chan::send(ch, as_bytes(&v), NO_DEADLINE).unwrap();
                        }
                        Chan::release(c);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..30 {
        assert!(found(w));
    }
    stop.store(true, Ordering::Relaxed);
    for h in workers {
        h.join().unwrap();
    }
    // SAFETY (test): ours.
    unsafe { Chan::release(stable) };
}

// ---- timers, goroutines, defers ----------------------------------------------------------

unsafe extern "C" fn ignore(_: *mut c_void) {}

#[test]
fn after_func_argument_is_reported_while_the_timer_exists() {
    let w = magic(8);
    #[derive(Clone, Copy)]
    struct Arg(usize);
    let arg = Arg(w);
    let t = crate::time::timer::Timer::after_func(
        3_600_000_000_000,
        Box::new(move || {
            let a = arg;
            Entry::C(ignore, a.0 as *mut c_void)
        }),
    );
    assert!(found(w));
    assert!(t.stop());
    assert!(found(w), "a stopped AfterFunc timer may be reset: its argument stays a root");
    drop(t);
    assert!(!found(w));
}

#[test]
fn unstarted_goroutine_entry_is_reported() {
    let w = magic(9);
    // A descriptor as `spawn` leaves it before any P runs it (not queued: it never runs).
    let g = crate::sched::g::ALLGS
        .push_batch(1, crate::sched::g::alloc_batch)
        .and_then(|mut b| b.pop())
        .expect("a descriptor")
        .0;
    // SAFETY (test): the descriptor is ours (never queued).
    let gr = unsafe { &*g };
    unsafe { *gr.entry.get() = Entry::C(ignore, w as *mut c_void) };
    gr.status.store(crate::sched::g::status::RUNNABLE, Ordering::Release);
    assert!(found(w));
    // Not the tag's word: its padding is stale and may make it read as an address (the
    // high half of a heap address above the tag once kept the heap's first object alive).
    // Not a magic value: magic(0xaa) comes after `w`'s, so its count is above 1.
    let tag_word = (magic(0xaa) & !0xffff_ffff) | 1;
    // SAFETY (test): as above; the padding after the u32 tag is ours to scribble on.
    unsafe { (gr.entry.get() as *mut u32).add(1).write((tag_word >> 32) as u32) };
    // SAFETY (test): as above.
    assert_eq!(unsafe { (gr.entry.get() as *const usize).read() }, tag_word);
    assert_eq!(found_in_snapshot(&[w, tag_word]), [true, false], "the payload only");
    // A Rust closure's captured bytes too, while RUNNABLE and fresh.
    let w2 = magic(9);
    // SAFETY (test): as above.
    unsafe {
        *gr.entry.get() = Entry::Rust(Box::new(move || {
            std::hint::black_box(w2);
        }))
    };
    assert_eq!(found_in_snapshot(&[w, w2]), [false, true]);
    // Taken (as gstart does): None, whose stale payload is not reported.
    // SAFETY (test): as above.
    drop(std::mem::replace(unsafe { &mut *gr.entry.get() }, Entry::C(ignore, w as *mut c_void)));
    drop(std::mem::replace(unsafe { &mut *gr.entry.get() }, Entry::None));
    assert!(!found(w));
    gr.status.store(crate::sched::g::status::DEAD, Ordering::Release);
}

#[test]
fn deferred_arguments_of_goroutines_and_threads_are_reported() {
    let (wg, wt) = (magic(10), magic(10));
    let gate = Chan::make(8, 0).unwrap() as usize;
    let ready = Arc::new(AtomicU64::new(0));
    // A goroutine that defers, then parks.
    let r = ready.clone();
    crate::sched::spawn(Entry::Rust(Box::new(move || {
        crate::panic::defer(ignore, wg as *mut c_void);
        r.fetch_add(1, Ordering::SeqCst);
        let mut out = 0usize;
        // SAFETY (test): the gate lives until both waiters are through.
        unsafe { chan::recv(&*(gate as *const Chan), &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap() };
    })))
    .expect("spawn");
    // A thread the runtime does not own, inside gort_protect, that defers and blocks.
    struct Job {
        w: usize,
        gate: usize,
        ready: Arc<AtomicU64>,
    }
    unsafe extern "C" fn body(arg: *mut c_void) {
        // SAFETY (test): a live Job.
        let job = unsafe { &*(arg as *const Job) };
        crate::panic::defer(ignore, job.w as *mut c_void);
        job.ready.fetch_add(1, Ordering::SeqCst);
        let mut out = 0usize;
        // SAFETY (test): as above.
        unsafe { chan::recv(&*(job.gate as *const Chan), &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap() };
    }
    let job = Job { w: wt, gate, ready: ready.clone() };
    let t = std::thread::spawn(move || {
        let mut msg = ptr::null();
        assert_eq!(crate::panic::protect(body, &job as *const Job as *mut c_void, &mut msg), 0);
    });
    wait_for("both deferred", || ready.load(Ordering::SeqCst) == 2);
    assert_eq!(found_in_snapshot(&[wg, wt]), [true, true]);
    let v = 0usize;
    for _ in 0..2 {
        // SAFETY (test): the gate is ours.
        unsafe { chan::send(&*(gate as *const Chan), as_bytes(&v), NO_DEADLINE).unwrap() };
    }
    t.join().unwrap();
    // The deferred calls ran: nothing is held any more (the goroutine may still be on its
    // way out; wait until its defer stack is empty).
    wait_for("the defers to run", || found_in_snapshot(&[wg, wt]) == [false, false]);
    // SAFETY (test): both receivers are through.
    unsafe { Chan::release(gate as *mut Chan) };
}

#[test]
fn goroutine_churn_on_all_ps_with_snapshots() {
    // Goroutines on every P spawn children (entries in every state of `spawn`), defer
    // calls, block on channels as senders and receivers and in selects, and release
    // their channels, while snapshots freeze them at random points.
    const WORKERS: usize = 8;
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicU64::new(0));
    for _ in 0..WORKERS {
        let (stop, finished) = (stop.clone(), finished.clone());
        crate::sched::spawn(Entry::Rust(Box::new(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) || i < 200 {
                let c = Chan::make(8, i % 2).unwrap() as usize;
                let idle = Chan::make(8, 0).unwrap() as usize;
                let v = magic(11);
                crate::sched::spawn(Entry::Rust(Box::new(move || {
                    crate::panic::defer(ignore, v as *mut c_void);
                    let e = Box::new(v);
                    let mut cases = [
                        Case { chan: c as *const Chan, dir: Dir::SEND, elem: &*e as *const usize as *mut u8, ok: -1 },
                        Case {
                            chan: idle as *const Chan,
                            dir: Dir::SEND,
                            elem: &*e as *const usize as *mut u8,
                            ok: -1,
                        },
                    ];
                    // SAFETY (test): both channels outlive this goroutine's use of them
                    // (the parent receives before releasing).
                    assert_eq!(unsafe { chan::select(&mut cases, NO_DEADLINE) }, Ok(0));
                })))
                .expect("spawn");
                let mut out = 0usize;
                // SAFETY (test): ours; released after the child's send completed.
                unsafe {
                    chan::recv(&*(c as *const Chan), &mut out as *mut usize as *mut u8, NO_DEADLINE).unwrap();
                    assert_eq!(out, v);
                    // The child may still be unlinking its other case from `idle`.
                    while (*(idle as *const Chan)).blocked_senders() != 0 {
                        crate::sched::gosched();
                    }
                    Chan::release(c as *mut Chan);
                    Chan::release(idle as *mut Chan);
                }
                i += 1;
            }
            finished.fetch_add(1, Ordering::SeqCst);
        })))
        .expect("spawn");
    }
    let w = magic(12);
    let keep = Box::new([w; 2]);
    let held = HeldRoot::new(keep.as_ptr() as *const u8, 16).unwrap();
    for _ in 0..30 {
        assert!(found(w));
    }
    stop.store(true, Ordering::Relaxed);
    wait_for("the workers", || finished.load(Ordering::SeqCst) == WORKERS as u64);
    drop(held);
}
