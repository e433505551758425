//! Pinning a goroutine to its P for a few instructions of runtime work on per-P data
//! (Go's `procPin`), without entering the runtime.
//!
//! A goroutine in user code holds its P as USER, which sysmon or stop-the-world may take
//! at any moment (a CAS on the P's status word). Per-P data that only the P's owner may
//! touch (the heap's allocation cache, a `sync.Pool`'s private slot and chain head) is
//! reached in one of three ways, the same as `mem::heap`'s `with_p_cache`:
//! - the P is RUNNING under this M (runtime code, g0): it is ours, nothing to do;
//! - USER, with `membarrier(2)`: raise the M's `in_heap_cache` flag, compiler fence, check
//!   that the status word is still the one we installed (`protocol::heapcache`; the
//!   argument is in `mem::heap`'s essay, "Allocating under a USER P"). Whoever takes the
//!   P waits for the flag to drop before touching the P (`P::wait_heap_cache_owner`), so
//!   the pinned section never overlaps a new owner, and stop-the-world never finds a
//!   thread inside one. Cost: two plain stores and a load;
//! - USER without `membarrier`: CAS the P to RUNNING and back (two `lock cmpxchg`).
//!
//! Anything else (a foreign thread, a blocking region, a P taken away) cannot pin; the
//! caller takes its slow path.
//!
//! Rules for a pinned section (the taker spins until it ends): it is short, it never
//! blocks, parks, switches goroutines or calls program code, and it takes no lock that
//! the collector holds while it stops the world (the heap's locks and gate, the root
//! registries' pools, the pool gate of `sync::pool`). `malloc` is allowed: no thread is
//! suspended by a signal before every P was taken, so nothing can hold malloc's lock
//! for ever while a taker waits for us.
//!
//! The flag is the heap cache's own (`M::in_heap_cache`): one flag per M, raised by at
//! most one section at a time (sections do not nest: neither calls the other).

use super::m::{M, current_m};
use super::membarrier;
use super::p::{P, pstate};
use super::protocol::{heapcache, pstatus};
use std::sync::atomic::{Ordering, compiler_fence};

enum Mode {
    /// The P was RUNNING already.
    Running,
    /// USER, flag raised.
    Flag,
    /// USER, moved to RUNNING by CAS; this is the RUNNING word to move back from.
    Cas(u64),
}

/// The calling goroutine's P, held until this is dropped (on the same thread: the raw
/// pointers make it neither `Send` nor `Sync`).
pub(crate) struct Pinned {
    m: *const M,
    p: *const P,
    mode: Mode,
}

impl Pinned {
    /// The P pinned.
    #[inline]
    pub(crate) fn p(&self) -> &P {
        // SAFETY: Ps are never freed.
        unsafe { &*self.p }
    }
}

/// Pins the calling goroutine to its P, or None if it has none it may use (see the
/// module docs).
#[inline]
pub(crate) fn pin() -> Option<Pinned> {
    let mp = current_m();
    // SAFETY: Ms are never freed.
    let m = unsafe { mp.as_ref() }?;
    let pp = m.p.get();
    // SAFETY: Ps are never freed.
    let p = unsafe { pp.as_ref() }?;
    let word = m.p_word.get();
    let mode = match word & 0xff {
        pstate::RUNNING => Mode::Running,
        pstate::USER if !m.curg.get().is_null() => {
            if membarrier::available() {
                debug_assert_eq!(m.in_heap_cache.load(Ordering::Relaxed), 0, "pinned sections do not nest");
                if !heapcache::owner_enter(&m.in_heap_cache, &*p.status, word, || compiler_fence(Ordering::SeqCst)) {
                    return None;
                }
                Mode::Flag
            } else {
                let running = pstatus::owner_cas(&*p.status, word, pstate::RUNNING)?;
                m.p_word.set(running);
                Mode::Cas(running)
            }
        }
        _ => return None,
    };
    Some(Pinned { m: mp, p: pp, mode })
}

/// [`pin`], and if that fails because sysmon took the P of a goroutine in user code (a C
/// loop that ran 10 ms without a scheduling event), rejoin the scheduler first
/// (`proc::rejoin_after_retake`: take an idle P, or queue the goroutine and sleep until
/// one runs it, as the allocator's slow path does) and pin again. Without this, a loop of
/// pool calls that lost its P would stay on the slow path for as long as it runs.
/// A safe point: the goroutine may park here.
#[inline]
pub(crate) fn pin_or_rejoin() -> Option<Pinned> {
    match pin() {
        Some(p) => Some(p),
        None => rejoin_and_pin(),
    }
}

#[cold]
fn rejoin_and_pin() -> Option<Pinned> {
    if super::proc::rejoin_after_retake() { pin() } else { None }
}

impl Drop for Pinned {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: Ms are never freed; this is the calling thread's M (Pinned is not Send).
        let m = unsafe { &*self.m };
        match self.mode {
            Mode::Running => {}
            Mode::Flag => heapcache::owner_exit(&m.in_heap_cache),
            Mode::Cas(running) => m.p_word.set(pstatus::set(&*self.p().status, running, pstate::USER)),
        }
    }
}
