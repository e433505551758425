//! The semaphore table: wait queues keyed by the address of a 32- or 64-bit word in the
//! caller's memory. Every primitive of `sync` blocks through it, so a zero-initialised
//! `gort_mutex` needs no allocation and no constructor: its address is its identity.
//!
//! `BUCKETS` buckets, each a lock and a hash map from address to an intrusive FIFO of
//! [`Record`]s. Records live on the blocked waiter's stack; a waker pops one under the
//! bucket lock, claims the waiter's wait word ([`Waiter::claim`]), fills in the record and
//! wakes it — the same protocol as channels (`sched::waiter`).
//!
//! Go keeps one treap per bucket with one node per address, and walks it on every
//! acquire and release; with thousands of distinct addresses in one bucket (a tree of
//! WaitGroups, golang/go#38420) the walk dominates. Here the address lookup is a hash map
//! probe, O(1) however many addresses share a bucket, and each bucket counts its waiters
//! (`nwait`) so a release with nobody waiting never takes the lock.
//!
//! Invariants (per bucket, under its lock):
//! - `nwait` = the number of records in the bucket's queues (it is also read without the
//!   lock, SeqCst, by the release fast path: see [`semrelease`]).
//! - A record is in a queue exactly when its `queued` flag is set; whoever unlinks it
//!   clears the flag and decrements `nwait`.
//! - A queue is removed from the map when it becomes empty, so the map holds only
//!   addresses somebody waits on.

use crate::sched::{NO_DEADLINE, Waiter, Woken};
use crossbeam_utils::CachePadded;
use parking_lot::lock_api::RawMutex as _;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Buckets of the table. More than Go's 251: fewer unrelated waiters share a lock.
const BUCKETS: usize = 1021;

/// A blocked waiter's entry in a queue. Every field but `waiter` is protected by the lock
/// of the bucket it is (or was last) queued in.
pub(crate) struct Record {
    pub waiter: Waiter,
    /// What the waiter waits for: a cond ticket, a counting semaphore's `n`.
    pub payload: u64,
    /// Set by the waker that claimed it: the waiter was given what it waited for.
    pub granted: bool,
    /// When a wait sampled by the mutex profile began (`nanotime`), else 0: the waker
    /// that releases it records the delay (`debug::profile::mutex_event`). Written by the
    /// waiter before it queues the record, read by the waker under the bucket lock.
    pub t0: i64,
    queued: bool,
    next: *mut Record,
    prev: *mut Record,
}

impl Record {
    pub(crate) fn new(waiter: Waiter, payload: u64) -> Record {
        Record { waiter, payload, granted: false, t0: 0, queued: false, next: ptr::null_mut(), prev: ptr::null_mut() }
    }
}

/// An intrusive doubly linked FIFO of records.
pub(crate) struct Queue {
    head: *mut Record,
    tail: *mut Record,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.head.is_null()
    }
    pub(crate) fn front(&self) -> Option<&Record> {
        // SAFETY: members are valid while queued (the bucket lock is held by our caller).
        unsafe { self.head.as_ref() }
    }
}

/// Multiplicative hashing of addresses: keys are already unique; SipHash is wasted work.
#[derive(Default)]
struct AddrHasher(u64);
impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only usize keys")
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (v as u64 >> 2).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) struct Bucket {
    lock: parking_lot::RawMutex,
    /// Records queued in this bucket (see the module invariants).
    nwait: AtomicU32,
    /// Protected by `lock`.
    queues: UnsafeCell<HashMap<usize, Queue, BuildHasherDefault<AddrHasher>>>,
}

// SAFETY: `queues` (and the records it points to) are only touched under `lock`.
unsafe impl Sync for Bucket {}

static TABLE: [CachePadded<Bucket>; BUCKETS] = [const {
    CachePadded::new(Bucket {
        lock: parking_lot::RawMutex::INIT,
        nwait: AtomicU32::new(0),
        queues: UnsafeCell::new(HashMap::with_hasher(BuildHasherDefault::new())),
    })
}; BUCKETS];

pub(crate) fn bucket(addr: usize) -> &'static Bucket {
    &TABLE[(addr >> 3) % BUCKETS]
}

/// The bucket of `addr`, locked; the lock is released on drop, or by [`Locked::park`].
pub(crate) struct Locked {
    b: &'static Bucket,
    addr: usize,
    held: bool,
}

impl Bucket {
    pub(crate) fn nwait(&self) -> u32 {
        self.nwait.load(Ordering::SeqCst)
    }
}

pub(crate) fn lock(addr: usize) -> Locked {
    let b = bucket(addr);
    b.lock.lock();
    Locked { b, addr, held: true }
}

fn unlock_bucket(arg: usize) {
    // SAFETY: arg is a &'static Bucket whose lock the parking waiter holds.
    unsafe { (*(arg as *const Bucket)).lock.unlock() };
}

impl Locked {
    fn queues(&mut self) -> &mut HashMap<usize, Queue, BuildHasherDefault<AddrHasher>> {
        // SAFETY: we hold the bucket lock.
        unsafe { &mut *self.b.queues.get() }
    }

    /// The queue of this address, if anybody waits on it.
    pub(crate) fn queue(&mut self) -> Option<&Queue> {
        let addr = self.addr;
        self.queues().get(&addr)
    }

    /// Queues `r` (at the back, or the front for `lifo`).
    ///
    /// # Safety
    /// `r` is in no queue and stays valid (pinned) until it is unlinked.
    pub(crate) unsafe fn push(&mut self, r: *mut Record, lifo: bool) {
        let addr = self.addr;
        let q = self.queues().entry(addr).or_insert(Queue { head: ptr::null_mut(), tail: ptr::null_mut() });
        // SAFETY: per the contract; members are valid under the lock.
        unsafe {
            (*r).queued = true;
            (*r).granted = false;
            if lifo {
                (*r).prev = ptr::null_mut();
                (*r).next = q.head;
                if q.head.is_null() {
                    q.tail = r
                } else {
                    (*q.head).prev = r
                }
                q.head = r;
            } else {
                (*r).next = ptr::null_mut();
                (*r).prev = q.tail;
                if q.tail.is_null() {
                    q.head = r
                } else {
                    (*q.tail).next = r
                }
                q.tail = r;
            }
        }
        handshake::announce_waiter(&self.b.nwait);
    }

    /// Unlinks `r` if it is still queued (a waiter cleaning up after a timeout).
    ///
    /// # Safety
    /// `r` is valid and, if queued, queued under this address.
    pub(crate) unsafe fn remove(&mut self, r: *mut Record) {
        // SAFETY: valid per the contract.
        if !unsafe { (*r).queued } {
            return;
        }
        let addr = self.addr;
        let q = self.queues().get_mut(&addr).expect("a queued record has a queue");
        // SAFETY: r is a member; members are valid under the lock.
        unsafe {
            let (p, n) = ((*r).prev, (*r).next);
            if p.is_null() {
                q.head = n
            } else {
                (*p).next = n
            }
            if n.is_null() {
                q.tail = p
            } else {
                (*n).prev = p
            }
            (*r).queued = false;
        }
        let empty = q.is_empty();
        if empty {
            self.queues().remove(&addr);
        }
        self.b.nwait.fetch_sub(1, Ordering::SeqCst);
    }

    /// Pops the first record for which `pick` returns true (scanning from the front),
    /// unlinked. The caller must then claim its waiter.
    pub(crate) fn pop_where(&mut self, mut pick: impl FnMut(&Record) -> bool) -> Option<*mut Record> {
        let addr = self.addr;
        let mut r = self.queues().get(&addr)?.head;
        while !r.is_null() {
            // SAFETY: members are valid under the lock.
            if pick(unsafe { &*r }) {
                // SAFETY: r is a member.
                unsafe { self.remove(r) };
                return Some(r);
            }
            // SAFETY: as above.
            r = unsafe { (*r).next };
        }
        None
    }

    /// Pops the front record and claims its waiter; records whose claim fails (their
    /// deadline won) are dropped and the next one is tried. Returns a claimed record: the
    /// caller fills it in and then calls [`wake`].
    pub(crate) fn pop_claimed(&mut self) -> Option<*mut Record> {
        while let Some(r) = self.pop_where(|_| true) {
            // SAFETY: just unlinked; valid until its waiter is woken.
            if unsafe { (*r).waiter.claim() } {
                return Some(r);
            }
        }
        None
    }

    /// Blocks the calling waiter on `r` (already queued with `w.begin()`'s `wait_gen`);
    /// the bucket lock is released once blocking is safe.
    pub(crate) fn park(mut self, w: Waiter, wait_gen: u64, reason: &'static str, deadline: i64) -> Woken {
        self.held = false;
        w.block(reason, wait_gen, deadline, unlock_bucket, self.b as *const Bucket as usize)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if self.held {
            // SAFETY: we hold it.
            unsafe { self.b.lock.unlock() };
        }
    }
}

/// Wakes the waiter of a record claimed by [`Locked::pop_claimed`] (or popped and claimed
/// by hand), after the caller filled it in. The record must not be touched afterwards.
///
/// # Safety
/// `r` was unlinked and claimed by the caller.
pub(crate) unsafe fn wake(r: *mut Record) {
    // SAFETY: per the contract the record is still valid (its waiter is blocked until woken).
    let w = unsafe { (*r).waiter };
    w.wake();
}

/// How [`wait`] ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Waited {
    /// `recheck` succeeded once the record was queued: no wait happened.
    Rechecked,
    /// A waker claimed the record (`rec.granted` says what it gave).
    Woken,
    /// The deadline passed; the record is unlinked again.
    TimedOut,
}

/// Queues `rec` on `addr`'s queue (the caller holds `l`, the locked bucket), then runs
/// `recheck` under the lock — after the queue and `nwait` show the record, so a releaser
/// that changes state without the lock and then reads `nwait` cannot be missed — and
/// blocks unless it succeeds, until a waker claims `rec` or `deadline` passes.
pub(crate) fn wait(
    mut l: Locked,
    rec: &mut Record,
    lifo: bool,
    recheck: impl FnOnce() -> bool,
    reason: &'static str,
    deadline: i64,
) -> Waited {
    let w = rec.waiter;
    let wait_gen = w.begin();
    // SAFETY: rec lives in the caller's frame until this function returns, by which time
    // it is unlinked (by a waker, or here).
    unsafe { l.push(rec, lifo) };
    if recheck() {
        // SAFETY: queued above under this lock; nobody has seen it claimed.
        unsafe { l.remove(rec) };
        return Waited::Rechecked;
    }
    let addr = l.addr;
    match l.park(w, wait_gen, reason, deadline) {
        Woken::Claimed => Waited::Woken,
        Woken::TimedOut => {
            let mut l = lock(addr);
            // SAFETY: rec is ours; if still queued it is under this address.
            unsafe { l.remove(rec) };
            Waited::TimedOut
        }
    }
}

// --- the binary runtime semaphore (Go's semacquire / semrelease) --------------------------

/// The lock-free half of the semaphore: the release fast path reads `nwait` without the
/// bucket lock, so a releaser and an acquirer must never both miss each other (the
/// acquirer sleeping on a count the releaser just raised, with nobody to wake it). Each
/// writes its own word, then a SeqCst fence, then reads the other's word: a Dekker pair.
/// (SeqCst accesses alone would do in the memory model, and on x86 the RMW is already a
/// full barrier; the explicit fence is what loom can check — it does not model SeqCst
/// loads and stores, tokio-rs/loom#180 — and costs a few ns on paths that sleep or wake.)
/// Generic over the atomic so that the loom model below checks this very code.
pub(crate) mod handshake {
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(crate) trait Atomic32 {
        fn load(&self) -> u32;
        fn fetch_add(&self, v: u32) -> u32;
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32>;
        /// A SeqCst fence of the same world (std or loom).
        fn fence();
    }

    impl Atomic32 for AtomicU32 {
        #[inline]
        fn fence() {
            std::sync::atomic::fence(Ordering::SeqCst)
        }
        #[inline]
        fn load(&self) -> u32 {
            AtomicU32::load(self, Ordering::SeqCst)
        }
        #[inline]
        fn fetch_add(&self, v: u32) -> u32 {
            AtomicU32::fetch_add(self, v, Ordering::SeqCst)
        }
        #[inline]
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32> {
            self.compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
        }
    }

    /// Takes a unit if the count is positive.
    #[inline]
    pub(crate) fn try_acquire(sema: &impl Atomic32) -> bool {
        let mut v = sema.load();
        while v > 0 {
            match sema.cas_weak(v, v - 1) {
                Ok(_) => return true,
                Err(cur) => v = cur,
            }
        }
        false
    }

    /// Acquirer, step 1 (with its record queued): count itself as a waiter. Step 2 is
    /// [`try_acquire`] again; if that fails it may sleep.
    #[inline]
    pub(crate) fn announce_waiter<A: Atomic32>(nwait: &A) {
        nwait.fetch_add(1);
        A::fence();
    }

    /// Releaser: raise the count, then report whether anybody may be waiting (if so it
    /// must take the bucket lock and wake one).
    #[inline]
    pub(crate) fn release_then_check<A: Atomic32>(sema: &A, nwait: &A) -> bool {
        sema.fetch_add(1);
        A::fence();
        nwait.load() != 0
    }
}

use handshake::try_acquire;

/// Waits until `*sema > 0`, then decrements it. `lifo` queues the waiter at the front
/// (a mutex waiter that has already waited once). Returns false if `deadline` passed.
pub(crate) fn semacquire(sema: &AtomicU32, lifo: bool, reason: &'static str, deadline: i64) -> bool {
    if try_acquire(sema) {
        return true;
    }
    let addr = sema as *const AtomicU32 as usize;
    // Contended: the mutex profile may sample this wait (one load when it is off).
    let t0 = crate::debug::profile::mutex_wait_begin(reason);
    loop {
        if deadline != NO_DEADLINE && deadline <= crate::time::nanotime() {
            return false;
        }
        let l = lock(addr);
        let mut rec = Record::new(Waiter::current(), 0);
        rec.t0 = t0;
        // The re-check runs with our record counted in `nwait` (Dekker with `semrelease`,
        // which increments the count before reading `nwait`): one of us sees the other.
        match wait(l, &mut rec, lifo, || try_acquire(sema), reason, deadline) {
            Waited::Rechecked => return true,
            Waited::TimedOut => return false,
            Waited::Woken if rec.granted || try_acquire(sema) => return true,
            Waited::Woken => {} // another acquirer got there first: wait again
        }
    }
}

/// Increments `*sema` and wakes one waiter, if any. With `handoff` the woken waiter is
/// given the unit directly (a starving mutex), so nobody can barge in between.
pub(crate) fn semrelease(sema: &AtomicU32, handoff: bool) {
    let addr = sema as *const AtomicU32 as usize;
    if !handshake::release_then_check(sema, &bucket(addr).nwait) {
        return;
    }
    let mut l = lock(addr);
    if l.queue().is_none() {
        return;
    }
    if let Some(r) = l.pop_claimed() {
        if handoff && try_acquire(sema) {
            // SAFETY: claimed by us; valid until woken.
            unsafe { (*r).granted = true };
        }
        // SAFETY: as above.
        let t0 = unsafe { (*r).t0 };
        // SAFETY: unlinked and claimed above.
        unsafe { wake(r) };
        drop(l);
        if t0 != 0 {
            // The contention this unlock ended, charged to the unlocker's stack (Go).
            crate::debug::profile::mutex_event(t0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn release_before_acquire_is_not_lost() {
        let s = AtomicU32::new(0);
        semrelease(&s, false);
        assert!(semacquire(&s, false, "test", NO_DEADLINE));
        assert_eq!(s.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn acquire_times_out_and_leaves_no_record() {
        let s = AtomicU32::new(0);
        assert!(!semacquire(&s, false, "test", crate::time::nanotime() + 1_000_000));
        assert!(!semacquire(&s, false, "test", 0));
        let addr = &s as *const AtomicU32 as usize;
        assert!(lock(addr).queue().is_none());
    }

    #[test]
    fn threads_pass_units_without_losing_any() {
        // Producers release N units in total; consumers acquire N in total.
        const N: usize = 20_000;
        let s = Arc::new(AtomicU32::new(0));
        let got = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (s, got) = (s.clone(), got.clone());
                std::thread::spawn(move || {
                    while got.load(Ordering::SeqCst) < N {
                        if semacquire(&s, false, "test", crate::time::nanotime() + 5_000_000) {
                            got.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..2)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..N / 2 {
                        semrelease(&s, i == 0);
                    }
                })
            })
            .collect();
        for t in producers {
            t.join().unwrap();
        }
        for t in consumers {
            t.join().unwrap();
        }
        assert_eq!(got.load(Ordering::SeqCst), N);
        assert_eq!(s.load(Ordering::SeqCst), 0);
    }
}

/// loom model of the release/acquire handshake (`--cfg loom`, ctest `cargo-loom`).
#[cfg(all(test, loom))]
mod loom_models {
    use super::handshake::{self, Atomic32};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU32, Ordering};

    struct L(AtomicU32);
    impl Atomic32 for L {
        fn load(&self) -> u32 {
            self.0.load(Ordering::SeqCst)
        }
        fn fetch_add(&self, v: u32) -> u32 {
            self.0.fetch_add(v, Ordering::SeqCst)
        }
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32> {
            self.0.compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
        }
        fn fence() {
            loom::sync::atomic::fence(Ordering::SeqCst)
        }
    }

    /// No lost wake-up: if the acquirer ends up sleeping (its re-check found no unit),
    /// the releaser must have seen it waiting, and so goes on to wake it.
    #[test]
    fn loom_release_never_misses_a_sleeper() {
        loom::model(|| {
            let sema = Arc::new(L(AtomicU32::new(0)));
            let nwait = Arc::new(L(AtomicU32::new(0)));
            let acquirer = {
                let (sema, nwait) = (sema.clone(), nwait.clone());
                loom::thread::spawn(move || {
                    if handshake::try_acquire(&*sema) {
                        return false; // fast path: no sleep
                    }
                    handshake::announce_waiter(&*nwait);
                    !handshake::try_acquire(&*sema) // true: goes to sleep
                })
            };
            let must_wake = handshake::release_then_check(&*sema, &*nwait);
            let sleeps = acquirer.join().unwrap();
            if sleeps {
                assert!(must_wake, "lost wake-up: the acquirer sleeps and the releaser saw no waiter");
            }
        });
    }
}
