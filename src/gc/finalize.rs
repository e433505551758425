//! Finalizers (`gort_set_finalizer`, Go's `runtime.SetFinalizer`) and cleanups
//! (`gort_add_cleanup`, Go 1.24's `runtime.AddCleanup`).
//!
//! Both are records keyed by an object's base address, kept in maps beside the heap.
//! The collector treats them as follows, with the world stopped:
//! 1. Every record's `arg` is a conservative root (it is runtime-held program data).
//! 2. Before marking from the roots, the objects that each finalizable object points to
//!    are greyed, but not the object itself: what a finalizer may use stays alive, and
//!    the object is live only if something else reaches it. (Two finalizable objects in a
//!    cycle keep each other alive this way, so neither is ever finalized, as in Go.)
//! 3. After marking, each finalizable object left unmarked is *resurrected*: greyed and
//!    marked again, with everything it reaches, and its finalizer is queued and cleared.
//!    The object is freed by a later cycle if the finalizer did not store it anywhere.
//! 4. Then each object with cleanups that is still unmarked has them queued; the object
//!    is freed by this cycle's sweep (a cleanup's argument must not point to it: if it
//!    does, the argument keeps it alive and the cleanup never runs, as in Go).
//!
//! Queued work runs in one finalizer goroutine at a time, started when work is queued
//! and ending when the queue is empty. The queue is a root too, so an object waiting for
//! its finalizer survives the cycles that come before the finalizer runs.
//!
//! The maps and the queue use `malloc`. The collector takes their locks before it stops
//! the world and changes them only after it restarts it (stopped threads may hold
//! malloc's locks); in between it only reads them and writes into space reserved
//! beforehand.

use crate::sched::Entry;
use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(crate) type FinalizerFn = unsafe extern "C" fn(obj: *mut c_void, arg: *mut c_void);
pub(crate) type CleanupFn = unsafe extern "C" fn(arg: *mut c_void);

#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Finalizer {
    pub f: FinalizerFn,
    pub arg: usize,
}

#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Cleanup {
    pub f: CleanupFn,
    pub arg: usize,
}

/// Work for the finalizer goroutine. `#[repr(C)]` words, scanned as a root while queued.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) enum Job {
    Finalize { f: FinalizerFn, obj: usize, arg: usize },
    Cleanup { f: CleanupFn, arg: usize },
}

#[derive(Default)]
pub(crate) struct Specials {
    pub finalizers: HashMap<usize, Finalizer>,
    pub cleanups: HashMap<usize, Vec<Cleanup>>,
}

pub(crate) static SPECIALS: Mutex<Option<Specials>> = Mutex::new(None);
pub(crate) static QUEUE: Mutex<VecDeque<Job>> = Mutex::new(VecDeque::new());
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Finalizers and cleanups run so far (for tests and gctrace).
pub(crate) static RUN_COUNT: AtomicU64 = AtomicU64::new(0);

fn specials() -> MutexGuard<'static, Option<Specials>> {
    let mut g = SPECIALS.lock();
    if g.is_none() {
        *g = Some(Specials { finalizers: HashMap::new(), cleanups: HashMap::new() });
    }
    g
}

/// Sets (`Some`) or clears (`None`) the finalizer of the object at `base`. Returns the
/// previous one. The caller checked that `base` starts a heap object.
pub(crate) fn set_finalizer(base: usize, f: Option<Finalizer>) -> Option<Finalizer> {
    let mut g = specials();
    let s = g.as_mut().expect("initialised");
    match f {
        Some(f) => s.finalizers.insert(base, f),
        None => s.finalizers.remove(&base),
    }
}

pub(crate) fn add_cleanup(base: usize, c: Cleanup) {
    let mut g = specials();
    g.as_mut().expect("initialised").cleanups.entry(base).or_default().push(c);
}

/// What the collector found dead, in space reserved before the world stopped.
pub(crate) struct Found {
    pub finalize: Vec<usize>,
    pub cleanup: Vec<usize>,
}

impl Found {
    /// Reserves room for every record (with the world running).
    pub(crate) fn reserve(s: &Specials) -> Found {
        Found { finalize: Vec::with_capacity(s.finalizers.len()), cleanup: Vec::with_capacity(s.cleanups.len()) }
    }
}

/// After the world restarted: removes the records of what `found` lists and queues
/// their work; starts the finalizer goroutine if needed.
pub(crate) fn queue_found(s: &mut Specials, found: Found) {
    let mut jobs = Vec::with_capacity(found.finalize.len() + found.cleanup.len());
    for base in found.finalize {
        if let Some(f) = s.finalizers.remove(&base) {
            jobs.push(Job::Finalize { f: f.f, obj: base, arg: f.arg });
        }
    }
    for base in found.cleanup {
        if let Some(cs) = s.cleanups.remove(&base) {
            jobs.extend(cs.into_iter().map(|c| Job::Cleanup { f: c.f, arg: c.arg }));
        }
    }
    if jobs.is_empty() {
        return;
    }
    QUEUE.lock().extend(jobs);
    start_runner();
}

fn start_runner() {
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    if crate::sched::spawn(Entry::Rust(Box::new(run_queue))).is_none() {
        // No memory for a goroutine: the work stays queued (and rooted) for the next try.
        RUNNING.store(false, Ordering::Release);
    }
}

/// The finalizer goroutine: runs queued work in order until the queue is empty.
fn run_queue() {
    loop {
        let job = QUEUE.lock().pop_front();
        match job {
            Some(Job::Finalize { f, obj, arg }) => {
                // SAFETY: the user registered `f` for this object with this argument; the
                // object is alive (resurrected, and referenced from this frame).
                crate::sched::tsan::user_call(|| unsafe { f(obj as *mut c_void, arg as *mut c_void) });
                RUN_COUNT.fetch_add(1, Ordering::Relaxed);
            }
            Some(Job::Cleanup { f, arg }) => {
                // SAFETY: as above, for a cleanup and its argument.
                crate::sched::tsan::user_call(|| unsafe { f(arg as *mut c_void) });
                RUN_COUNT.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                RUNNING.store(false, Ordering::Release);
                // Work queued after our last look but before the store saw RUNNING set
                // and relied on us: take it back if nobody else has.
                if QUEUE.lock().is_empty() || RUNNING.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        }
    }
}

/// Whether finalizer work is queued or running (gort_gc waits for nothing; tests poll).
#[allow(dead_code, reason = "tests")]
pub(crate) fn busy() -> bool {
    RUNNING.load(Ordering::Acquire) || !QUEUE.lock().is_empty()
}
