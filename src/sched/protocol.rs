//! The scheduler's lock-free protocols, as small functions generic over the atomics they
//! use. The runtime calls them on std's atomics (from `p.rs`, `proc.rs`, `sysmon.rs` and
//! the timer heaps); the loom models at the bottom of this file (`--cfg loom`, ctest
//! `cargo-loom`) call the very same functions on loom's, and explore every interleaving
//! of the threads that take part:
//! - [`runnext`]: the owner fills and takes its P's `runnext` slot with plain stores where
//!   it can; thieves take it out with a CAS. No G is lost or run twice.
//! - [`pstatus`]: the P status word `epoch << 8 | state`, moved by its owner, by sysmon's
//!   retake and by stop-the-world. At most one party owns a P at a time, a retake always
//!   leaves someone holding it, and the old owner learns of the loss.
//! - [`spin`]: spinning Ms and `wakep`. A G queued while the last spinner gives up is
//!   either found by that spinner's re-check or makes the queuer start a new M.
//! - [`heapcache`]: a goroutine allocating from its USER P's heap cache, and sysmon or
//!   stop-the-world taking that P: an asymmetric Dekker pair (plain store, compiler
//!   barrier, plain load against CAS, `membarrier`, load). The taker never uses a P
//!   whose cache the old owner is still in.
//! - [`timerwait`]: the idle M sleeping until the earliest timer (the idle waiter) and
//!   whoever adds a timer. A new earlier timer is covered by the waiter's deadline, or
//!   its adder kicks the waiter.
//!
//! Where a protocol is a Dekker pair (each side stores its own word, then loads the
//! other's) the accesses are `SeqCst`: the single total order of SeqCst operations is
//! what makes one side see the other. loom treats SeqCst loads and stores as mere
//! Acquire/Release (its README, "SeqCst accesses"; tokio-rs/loom#180), which would report
//! lost wake-ups that cannot happen. So the models' atomics put a SeqCst fence before and
//! after every operation whose ordering is `SeqCst`, which is at least as strong as a
//! SeqCst access and which loom does model; operations with weaker orderings get no
//! fence. A weakened ordering in the code below thus weakens the model too, but only
//! where no neighbouring SeqCst operation's fence still covers it: the models catch one
//! side of a Dekker pair losing SeqCst, not always a single access.

use std::sync::atomic::Ordering;

/// The operations the protocols need from an atomic cell. Implemented for std's atomics
/// here and for loom's in the models.
pub(crate) trait Atom {
    type V: Copy + PartialEq;
    fn load(&self, o: Ordering) -> Self::V;
    fn store(&self, v: Self::V, o: Ordering);
    fn swap(&self, v: Self::V, o: Ordering) -> Self::V;
    fn cas(&self, cur: Self::V, new: Self::V, ok: Ordering, err: Ordering) -> Result<Self::V, Self::V>;
}

/// An atomic counter (the scheduler's `npidle`, `nmspinning`, `runq_len`).
pub(crate) trait Counter: Atom<V = usize> {
    fn fetch_sub(&self, v: usize, o: Ordering) -> usize;
}

macro_rules! std_atom {
    ($($t:ty => $v:ty),* $(,)?) => {$(
        impl Atom for $t {
            type V = $v;
            #[inline]
            fn load(&self, o: Ordering) -> $v {
                <$t>::load(self, o)
            }
            #[inline]
            fn store(&self, v: $v, o: Ordering) {
                <$t>::store(self, v, o)
            }
            #[inline]
            fn swap(&self, v: $v, o: Ordering) -> $v {
                <$t>::swap(self, v, o)
            }
            #[inline]
            fn cas(&self, cur: $v, new: $v, ok: Ordering, err: Ordering) -> Result<$v, $v> {
                self.compare_exchange(cur, new, ok, err)
            }
        }
    )*};
}

std_atom!(
    std::sync::atomic::AtomicU64 => u64,
    std::sync::atomic::AtomicI64 => i64,
    std::sync::atomic::AtomicUsize => usize,
    std::sync::atomic::AtomicU32 => u32,
);

impl<T> Atom for std::sync::atomic::AtomicPtr<T> {
    type V = *mut T;
    #[inline]
    fn load(&self, o: Ordering) -> *mut T {
        std::sync::atomic::AtomicPtr::load(self, o)
    }
    #[inline]
    fn store(&self, v: *mut T, o: Ordering) {
        std::sync::atomic::AtomicPtr::store(self, v, o)
    }
    #[inline]
    fn swap(&self, v: *mut T, o: Ordering) -> *mut T {
        std::sync::atomic::AtomicPtr::swap(self, v, o)
    }
    #[inline]
    fn cas(&self, cur: *mut T, new: *mut T, ok: Ordering, err: Ordering) -> Result<*mut T, *mut T> {
        self.compare_exchange(cur, new, ok, err)
    }
}

impl Counter for std::sync::atomic::AtomicUsize {
    #[inline]
    fn fetch_sub(&self, v: usize, o: Ordering) -> usize {
        std::sync::atomic::AtomicUsize::fetch_sub(self, v, o)
    }
}

/// A P's `runnext` slot. Only the P's owner puts a G in; thieves (other Ps' Ms, in their
/// last steal round) only take one out. So an empty slot stays empty until the owner
/// fills it, and with no thieves at all (one P) the owner may take it with a store.
pub(crate) mod runnext {
    use super::Atom;
    use std::ptr;
    use std::sync::atomic::Ordering;

    /// The owner puts `g` in the slot; returns the G it displaced, which the caller queues.
    /// An empty slot is filled with a Release store (no thief can fill it meanwhile), a
    /// full one swapped (a thief may be taking the old G at this very moment).
    #[inline]
    pub(crate) fn put<T, S: Atom<V = *mut T>>(slot: &S, g: *mut T) -> Option<*mut T> {
        if slot.load(Ordering::Relaxed).is_null() {
            slot.store(g, Ordering::Release);
            return None;
        }
        let old = slot.swap(g, Ordering::AcqRel);
        (!old.is_null()).then_some(old)
    }

    /// The owner takes the slot's G. `no_thieves()`: nobody else can take it (one P), so
    /// a store empties it; otherwise a CAS races with thieves.
    #[inline]
    pub(crate) fn take_owner<T, S: Atom<V = *mut T>>(slot: &S, no_thieves: impl FnOnce() -> bool) -> Option<*mut T> {
        let n = slot.load(Ordering::Relaxed);
        if n.is_null() {
            return None;
        }
        if no_thieves() {
            slot.store(ptr::null_mut(), Ordering::Relaxed);
            return Some(n);
        }
        slot.cas(n, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed).ok()
    }

    /// A thief takes the slot's G. `pause` runs between seeing a G and taking it (the
    /// caller sleeps there when the victim's M is running, so that it may run its G
    /// itself); the G is taken only if it is still there afterwards. The Acquire pairs
    /// with [`put`]'s Release: the thief sees the G as its readier left it.
    #[inline]
    pub(crate) fn steal<T, S: Atom<V = *mut T>>(slot: &S, pause: impl FnOnce()) -> Option<*mut T> {
        if slot.load(Ordering::Acquire).is_null() {
            return None;
        }
        pause();
        let n = slot.load(Ordering::Acquire);
        if n.is_null() {
            return None;
        }
        slot.cas(n, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed).ok()
    }
}

/// The P status word, `epoch << 8 | state` (states in `p::pstate`). Its owner moves it
/// between RUNNING, USER and SYSCALL; sysmon (retake) and stop-the-world take it from a
/// P in USER or SYSCALL with a CAS. Every acquisition bumps the epoch, so the word an
/// owner remembers can never match again once the P was taken from it, even if the P
/// went back to the same state under a new owner: a stale owner's CAS always fails.
pub(crate) mod pstatus {
    use super::Atom;
    use crate::sched::p::pstate;
    use std::sync::atomic::Ordering;

    const STATE: u64 = 0xff;

    /// The caller has the exclusive right to the P (it took it from the idle list, or it
    /// was handed over): a new epoch, RUNNING. Returns the word the owner remembers.
    #[inline]
    pub(crate) fn acquire(status: &impl Atom<V = u64>) -> u64 {
        let old = status.load(Ordering::Acquire);
        let w = (((old >> 8) + 1) << 8) | pstate::RUNNING;
        status.store(w, Ordering::Release);
        w
    }

    /// The owner (holding the P RUNNING, so nobody else may move the word) sets `state`:
    /// USER when it returns to user code, IDLE when it gives the P up. Release: whoever
    /// takes the P next sees everything the owner did with it.
    #[inline]
    pub(crate) fn set(status: &impl Atom<V = u64>, word: u64, state: u64) -> u64 {
        let w = (word & !STATE) | state;
        status.store(w, Ordering::Release);
        w
    }

    /// The owner, whose P may have been taken while it was in USER or SYSCALL, moves it
    /// from the remembered `word` to `state`. `None`: the P is not ours any more.
    #[inline]
    pub(crate) fn owner_cas(status: &impl Atom<V = u64>, word: u64, state: u64) -> Option<u64> {
        let w = (word & !STATE) | state;
        status.cas(word, w, Ordering::AcqRel, Ordering::Relaxed).ok().map(|_| w)
    }

    /// sysmon or stop-the-world takes a P it saw as `seen`, if that was USER or SYSCALL
    /// and nothing moved it since. On success the caller owns the P (in `state`) and must
    /// hand it on.
    #[inline]
    pub(crate) fn take(status: &impl Atom<V = u64>, seen: u64, state: u64) -> bool {
        let st = seen & STATE;
        (st == pstate::USER || st == pstate::SYSCALL)
            && status.cas(seen, (seen & !STATE) | state, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

/// A goroutine's use of its P's heap cache while it holds the P in USER state, against
/// sysmon and stop-the-world taking that P: an asymmetric Dekker pair. The owner (hot,
/// every allocation) stores its flag and loads the status word with plain accesses and
/// only a compiler barrier in between ([`owner_enter`](heapcache::owner_enter)); the taker
/// (rare) follows its winning CAS with a *heavy* barrier, `membarrier(2)`, which executes
/// a full barrier on the owner's CPU, and then waits for the flag to clear
/// ([`taker_wait`](heapcache::taker_wait)). Either the owner sees the CAS and backs off,
/// or the taker sees the flag and waits: never neither. The argument is in `mem::heap`'s
/// essay ("Allocating under a USER P"); the barriers are parameters so that the loom
/// model can stand a SeqCst fence in for each.
pub(crate) mod heapcache {
    use super::Atom;
    use std::sync::atomic::Ordering;

    /// The owner, holding its P as `word` (USER), announces that it is about to use the
    /// P's cache, then checks that the P is still its own. `light_barrier` is a compiler
    /// barrier in the runtime (the heavy barrier supplies the CPU's). True: the cache is
    /// the caller's until [`owner_exit`]. False: the P was taken; the flag is down again.
    #[inline]
    pub(crate) fn owner_enter(
        flag: &impl Atom<V = u32>,
        status: &impl Atom<V = u64>,
        word: u64,
        light_barrier: impl FnOnce(),
    ) -> bool {
        flag.store(1, Ordering::Relaxed);
        light_barrier();
        if status.load(Ordering::Relaxed) == word {
            return true;
        }
        flag.store(0, Ordering::Release);
        false
    }

    /// The owner is done with the cache. Release: a taker that reads 0 sees every write
    /// the owner made to the cache.
    #[inline]
    pub(crate) fn owner_exit(flag: &impl Atom<V = u32>) {
        flag.store(0, Ordering::Release);
    }

    /// A taker that has just won its CAS on the owner's USER word: the heavy barrier,
    /// then wait (`pause` between looks) until the owner is out of the cache. Afterwards
    /// the cache belongs to the taker.
    #[inline]
    pub(crate) fn taker_wait(flag: &impl Atom<V = u32>, heavy_barrier: impl FnOnce(), mut pause: impl FnMut()) {
        heavy_barrier();
        while flag.load(Ordering::Acquire) != 0 {
            pause();
        }
    }
}

/// Spinning Ms and wake-ups (Go's protocol). Whoever queues work calls `wakep`, which
/// starts an M only if a P is idle and nobody spins ([`claim_wakeup`](spin::claim_wakeup)): a spinner will
/// find the work. A spinner that finds nothing puts its P on the idle list, stops
/// spinning, and only then re-checks the queues ([`stop_spinning_and_recheck`](spin::stop_spinning_and_recheck)). The
/// queuer stores its work, then reads `nmspinning`; the spinner decrements `nmspinning`,
/// then reads the queues: a Dekker pair, so at least one of them sees the other.
pub(crate) mod spin {
    use super::Counter;
    use std::sync::atomic::Ordering;

    /// `wakep`'s decision: true if the caller must start a spinning M, which it has just
    /// counted in `nmspinning`.
    #[inline]
    pub(crate) fn claim_wakeup(npidle: &impl Counter, nmspinning: &impl Counter) -> bool {
        if npidle.load(Ordering::SeqCst) == 0 {
            return false;
        }
        nmspinning.load(Ordering::SeqCst) == 0 && nmspinning.cas(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// A spinning M found work and stops spinning: true if it was the last spinner, and
    /// must hand the search on (`wakep`): there may be more work.
    #[inline]
    pub(crate) fn found_work(nmspinning: &impl Counter) -> bool {
        nmspinning.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// A spinning M that found nothing, its P already on the idle list, stops spinning and
    /// then re-checks every queue (`work_anywhere`): work queued meanwhile by somebody who
    /// saw it spinning, and so woke nobody, is found here. True: go back for it.
    #[inline]
    pub(crate) fn stop_spinning_and_recheck(nmspinning: &impl Counter, work_anywhere: impl FnOnce() -> bool) -> bool {
        nmspinning.fetch_sub(1, Ordering::SeqCst);
        work_anywhere()
    }

    /// Publishes the global queue's length (under the scheduler lock), for readers that
    /// do not take the lock.
    #[inline]
    pub(crate) fn publish_global_len(runq_len: &impl Counter, n: usize) {
        runq_len.store(n, Ordering::SeqCst);
    }

    /// Whether the global queue looked non-empty (without the lock).
    #[inline]
    pub(crate) fn global_work(runq_len: &impl Counter) -> bool {
        runq_len.load(Ordering::SeqCst) > 0
    }
}

/// The idle waiter: one idle M sleeps only until the earliest timer of all Ps. Under
/// the scheduler lock an idle M takes the role ([`take_role`](timerwait::take_role)) and publishes the deadline
/// it will sleep until ([`publish_deadline`](timerwait::publish_deadline)); whoever adds a timer stores the heap's
/// new earliest deadline ([`publish_timer0`](timerwait::publish_timer0)), then compares with the published one
/// ([`must_kick`](timerwait::must_kick)) and, if earlier, wakes the waiter ([`waiter_to_kick`](timerwait::waiter_to_kick)), or with no
/// waiter starts an M. The role and the deadline are stored before the heaps are read,
/// and the heap before the role and deadline are read: a Dekker pair, so either the
/// waiter's deadline covers the new timer or the adder kicks it.
pub(crate) mod timerwait {
    use super::Atom;
    use std::sync::atomic::Ordering;

    /// A heap's earliest deadline changed to `when` (i64::MAX: empty).
    #[inline]
    pub(crate) fn publish_timer0(timer0: &impl Atom<V = i64>, when: i64) {
        timer0.store(when, Ordering::SeqCst);
    }

    /// The earliest deadline of the given heaps (i64::MAX: none).
    #[inline]
    pub(crate) fn earliest<'a, A: Atom<V = i64> + 'a>(timer0s: impl Iterator<Item = &'a A>) -> i64 {
        timer0s.map(|t| t.load(Ordering::SeqCst)).min().unwrap_or(i64::MAX)
    }

    /// An M going idle (holding the scheduler lock) takes the waiter role if nobody holds
    /// it and there is something to wait for: a timer, or `other_reason` (fds to poll).
    #[inline]
    pub(crate) fn take_role<M, S: Atom<V = *mut M>>(
        role: &S,
        me: *mut M,
        earliest: impl Fn() -> i64,
        other_reason: impl FnOnce() -> bool,
    ) -> bool {
        if role.load(Ordering::SeqCst).is_null() && (earliest() != i64::MAX || other_reason()) {
            role.store(me, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// The waiter publishes the deadline it will sleep until, then re-reads the heaps
    /// until they agree. Returns the deadline (i64::MAX: none).
    #[inline]
    pub(crate) fn publish_deadline(wait_until: &impl Atom<V = i64>, earliest: impl Fn() -> i64) -> i64 {
        loop {
            let next = earliest();
            wait_until.store(next, Ordering::SeqCst);
            if earliest() >= next {
                return next;
            }
        }
    }

    /// After adding a timer for `when` (its heap's `timer0` published): does the waiter
    /// sleep past it, so that it must be kicked?
    #[inline]
    pub(crate) fn must_kick(wait_until: &impl Atom<V = i64>, when: i64) -> bool {
        when < wait_until.load(Ordering::SeqCst)
    }

    /// The M to kick, or `None`: there is no waiter, start an M instead (`wakep`).
    #[inline]
    pub(crate) fn waiter_to_kick<M, S: Atom<V = *mut M>>(role: &S) -> Option<*mut M> {
        let w = role.load(Ordering::SeqCst);
        (!w.is_null()).then_some(w)
    }
}

/// loom models of the protocols above (`RUSTFLAGS="--cfg loom" cargo test --release --lib
/// loom_`, the ctest `cargo-loom`): each runs the functions above, as the runtime calls
/// them, on loom's atomics, with the data the protocol hands over as loom cells (so a
/// missing Acquire/Release or a second owner is reported as a data race).
#[cfg(all(test, loom))]
mod loom_models {
    use super::{Atom, Counter, heapcache, pstatus, runnext, spin, timerwait};
    use crate::sched::p::pstate;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
    use loom::sync::{Arc, Mutex};
    use std::ptr;

    /// A SeqCst operation of the model: fenced on both sides (see the module doc: loom
    /// models SeqCst fences, not SeqCst accesses).
    fn seq<R>(o: Ordering, op: impl FnOnce() -> R) -> R {
        if o == Ordering::SeqCst {
            fence(Ordering::SeqCst);
        }
        let r = op();
        if o == Ordering::SeqCst {
            fence(Ordering::SeqCst);
        }
        r
    }

    macro_rules! loom_atom {
        ($t:ty => $v:ty) => {
            impl Atom for $t {
                type V = $v;
                fn load(&self, o: Ordering) -> $v {
                    seq(o, || <$t>::load(self, o))
                }
                fn store(&self, v: $v, o: Ordering) {
                    seq(o, || <$t>::store(self, v, o))
                }
                fn swap(&self, v: $v, o: Ordering) -> $v {
                    seq(o, || <$t>::swap(self, v, o))
                }
                fn cas(&self, cur: $v, new: $v, ok: Ordering, err: Ordering) -> Result<$v, $v> {
                    seq(ok, || self.compare_exchange(cur, new, ok, err))
                }
            }
        };
    }
    loom_atom!(AtomicU64 => u64);
    loom_atom!(AtomicI64 => i64);
    loom_atom!(AtomicUsize => usize);
    loom_atom!(AtomicPtr<ModelG> => *mut ModelG);
    loom_atom!(AtomicPtr<ModelM> => *mut ModelM);

    impl Counter for AtomicUsize {
        fn fetch_sub(&self, v: usize, o: Ordering) -> usize {
            seq(o, || AtomicUsize::fetch_sub(self, v, o))
        }
    }

    /// A goroutine: what its readier wrote before queueing it (`init`) and how often it
    /// was run.
    struct ModelG {
        init: UnsafeCell<u32>,
        runs: AtomicUsize,
    }

    /// An M, only ever named by address (the idle waiter role).
    struct ModelM;

    fn new_g() -> ModelG {
        ModelG { init: UnsafeCell::new(0), runs: AtomicUsize::new(0) }
    }

    /// Runs `g`: reads what its readier wrote, counts the run.
    fn run(g: *mut ModelG) {
        // SAFETY: the model's Gs outlive every thread (they are joined before the Gs go).
        let g = unsafe { &*g };
        // loom reports this read as a race unless the queue hand-over ordered it after
        // the readier's write.
        g.init.with(|v| assert_eq!(unsafe { *v }, 1, "a G run before it was readied"));
        g.runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Readies `g` (its readier writes it before it is queued).
    fn readied(g: &ModelG) -> *mut ModelG {
        // SAFETY: nobody else can reach the G before it is queued.
        g.init.with_mut(|v| unsafe { *v = 1 });
        g as *const ModelG as *mut ModelG
    }

    /// runnext: the owner readies two Gs in turn into `runnext` (the second pushes the
    /// first to its local queue), then takes `runnext` and runs what it holds, while a
    /// thief in its last round tries to take `runnext`. Every G runs exactly once, and a
    /// thief sees the G as its readier left it. (The thief's pause is a sleep: nothing
    /// to model, loom already lets the owner run anything in between.)
    #[test]
    fn loom_runnext_no_g_lost_or_run_twice() {
        static THIEF_STOLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        loom::model(|| {
            let gs = Arc::new([new_g(), new_g()]);
            let slot = Arc::new(AtomicPtr::<ModelG>::new(ptr::null_mut()));
            let thief = {
                let (gs, slot) = (gs.clone(), slot.clone());
                loom::thread::spawn(move || {
                    let _keep = gs;
                    if let Some(g) = runnext::steal(&*slot, || {}) {
                        THIEF_STOLE.store(true, std::sync::atomic::Ordering::Relaxed);
                        run(g);
                    }
                })
            };
            let mut local_queue = Vec::new();
            for g in gs.iter() {
                if let Some(old) = runnext::put(&*slot, readied(g)) {
                    local_queue.push(old);
                }
            }
            // Several Ps: the owner must CAS against thieves.
            if let Some(g) = runnext::take_owner(&*slot, || false) {
                run(g);
            }
            for g in local_queue {
                run(g);
            }
            thief.join().unwrap();
            assert!(slot.load(Ordering::Relaxed).is_null(), "a G left in runnext");
            for g in gs.iter() {
                assert_eq!(g.runs.load(Ordering::Relaxed), 1, "a G lost or run twice");
            }
        });
        assert!(THIEF_STOLE.load(std::sync::atomic::Ordering::Relaxed), "the model never let the thief steal");
    }

    /// A P: its status word and the state only its owner may touch (its queues).
    struct ModelP {
        status: AtomicU64,
        owned: UnsafeCell<u64>,
    }

    fn touch(p: &ModelP) {
        // SAFETY: only the P's owner calls this; loom reports two owners at once.
        p.owned.with_mut(|v| unsafe { *v += 1 });
    }

    /// The P status word: M1 runs a goroutine on the P (runtime code RUNNING, user code
    /// USER, a blocking call SYSCALL and back, then the runtime again, finally dropping
    /// the P), while sysmon looks at it once and retakes it if it is in USER or SYSCALL,
    /// handing it to a second M that runs a goroutine on it (RUNNING → USER → RUNNING →
    /// IDLE, the same states M1 remembers, so only the epoch tells them apart). The P's
    /// own state is touched by one owner at a time (loom reports a race otherwise), M1
    /// learns of the loss exactly when the P was retaken, and the retaken P is run.
    #[test]
    fn loom_pstatus_one_owner_no_lost_handoff() {
        loom::model(|| {
            let p = Arc::new(ModelP { status: AtomicU64::new(pstate::IDLE), owned: UnsafeCell::new(0) });
            // M1 takes the P from the idle list.
            let mut w = pstatus::acquire(&p.status);
            let sysmon = {
                let p = p.clone();
                loom::thread::spawn(move || {
                    let seen = p.status.load(Ordering::Acquire);
                    if !pstatus::take(&p.status, seen, pstate::IDLE) {
                        return false;
                    }
                    // handoffp → startm: another M takes the P.
                    let w2 = pstatus::acquire(&p.status);
                    touch(&p);
                    let w2 = pstatus::set(&p.status, w2, pstate::USER);
                    let w2 = pstatus::owner_cas(&p.status, w2, pstate::RUNNING).expect("the new owner lost its P");
                    touch(&p);
                    pstatus::set(&p.status, w2, pstate::IDLE);
                    true
                })
            };
            touch(&p);
            w = pstatus::set(&p.status, w, pstate::USER);
            let mut still_ours = true;
            for state in [pstate::SYSCALL, pstate::USER, pstate::RUNNING] {
                match pstatus::owner_cas(&p.status, w, state) {
                    Some(nw) => w = nw,
                    None => {
                        still_ours = false;
                        break;
                    }
                }
            }
            if still_ours {
                touch(&p);
                pstatus::set(&p.status, w, pstate::IDLE);
            }
            let retaken = sysmon.join().unwrap();
            assert_eq!(still_ours, !retaken, "M1 kept a retaken P, or lost one nobody took");
            assert_eq!(p.status.load(Ordering::Relaxed) & 0xff, pstate::IDLE);
            // SAFETY: both threads are done.
            let touches = p.owned.with(|v| unsafe { *v });
            assert_eq!(touches, if retaken { 1 + 2 } else { 2 }, "the retaken P was not run");
        });
    }

    /// The P status word with two takers: M1's goroutine enters a blocking region
    /// (SYSCALL), leaves it (USER) and re-enters the runtime (RUNNING), while sysmon and
    /// a stop-the-world each look at the P once and try to take it (to IDLE and STOPPED).
    /// At most one of them wins, and M1 keeps the P exactly when neither did.
    #[test]
    fn loom_pstatus_retake_vs_stop_the_world() {
        loom::model(|| {
            let p = Arc::new(ModelP { status: AtomicU64::new(pstate::IDLE), owned: UnsafeCell::new(0) });
            let w = pstatus::acquire(&p.status);
            let mut w = pstatus::set(&p.status, w, pstate::USER);
            let takers: Vec<_> = [pstate::IDLE, pstate::STOPPED]
                .into_iter()
                .map(|to| {
                    let p = p.clone();
                    loom::thread::spawn(move || {
                        let seen = p.status.load(Ordering::Acquire);
                        let took = pstatus::take(&p.status, seen, to);
                        if took {
                            touch(&p); // the taker owns the P now
                        }
                        took
                    })
                })
                .collect();
            let mut still_ours = true;
            for state in [pstate::SYSCALL, pstate::USER, pstate::RUNNING] {
                match pstatus::owner_cas(&p.status, w, state) {
                    Some(nw) => w = nw,
                    None => {
                        still_ours = false;
                        break;
                    }
                }
            }
            if still_ours {
                touch(&p);
            }
            let wins = takers.into_iter().map(|t| usize::from(t.join().unwrap())).sum::<usize>();
            assert!(wins <= 1, "sysmon and stop-the-world both took the P");
            assert_eq!(still_ours, wins == 0, "M1 kept a taken P, or lost one nobody took");
        });
    }

    /// The heap cache under a USER P: M1's goroutine allocates twice from its P's cache
    /// (flag up, status re-checked, the cache touched, flag down) while sysmon looks at
    /// the P once, takes it if it is USER, and uses it (touches the cache) after the
    /// heavy barrier and the wait. `membarrier` cannot be modelled as what it is (a
    /// barrier the kernel runs on another thread), so the model puts a SeqCst fence into
    /// the owner's window between its store and its load, which is where the IPI matters
    /// (before the store, or after the load, the argument in `mem::heap` needs no fence
    /// on the owner: the kernel's barrier orders the CAS before the owner's load, or the
    /// owner's store before the taker's load). The taker's `membarrier` is a SeqCst
    /// fence too. loom reports two users of the cache at once as a data race.
    fn heapcache_model(owner_barrier: fn()) {
        loom::model(move || {
            let p = Arc::new(ModelP { status: AtomicU64::new(pstate::IDLE), owned: UnsafeCell::new(0) });
            let flag = Arc::new(AtomicU32::new(0));
            let w = pstatus::acquire(&p.status);
            let w = pstatus::set(&p.status, w, pstate::USER);
            let sysmon = {
                let (p, flag) = (p.clone(), flag.clone());
                loom::thread::spawn(move || {
                    let seen = p.status.load(Ordering::Acquire);
                    if !pstatus::take(&p.status, seen, pstate::IDLE) {
                        return false;
                    }
                    heapcache::taker_wait(&*flag, || fence(Ordering::SeqCst), loom::thread::yield_now);
                    touch(&p);
                    true
                })
            };
            let mut used = 0;
            for _ in 0..2 {
                if !heapcache::owner_enter(&*flag, &p.status, w, owner_barrier) {
                    break;
                }
                touch(&p);
                heapcache::owner_exit(&*flag);
                used += 1;
            }
            let taken = sysmon.join().unwrap();
            assert!(taken || used == 2, "the owner lost a P nobody took");
            // SAFETY: both threads are done.
            let touches = p.owned.with(|v| unsafe { *v });
            assert_eq!(touches, used + u64::from(taken));
        });
    }

    #[test]
    fn loom_heapcache_taker_waits_for_owner() {
        heapcache_model(|| fence(Ordering::SeqCst));
    }

    /// Without the owner's side of the barrier the pair breaks (both the owner's load
    /// misses the CAS and the taker's load misses the flag), and the model must say so.
    #[test]
    #[should_panic(expected = "Causality violation")]
    fn loom_heapcache_needs_the_owner_barrier() {
        heapcache_model(|| {});
    }

    /// Spinning: the last spinning M finds nothing (the global queue is empty under the
    /// scheduler lock), puts its P on the idle list, stops spinning and re-checks, while a
    /// thread queues a G on the global queue and calls `wakep`. Either the spinner's
    /// re-check finds the G or the queuer starts an M: never both miss.
    #[test]
    fn loom_spinning_no_lost_wakeup() {
        loom::model(|| {
            // The global queue's length under the scheduler lock; the other P is busy.
            let queue = Arc::new(Mutex::new(0usize));
            let runq_len = Arc::new(AtomicUsize::new(0));
            let npidle = Arc::new(AtomicUsize::new(0));
            let nmspinning = Arc::new(AtomicUsize::new(1));
            let queuer = {
                let (queue, runq_len, npidle, nmspinning) =
                    (queue.clone(), runq_len.clone(), npidle.clone(), nmspinning.clone());
                loom::thread::spawn(move || {
                    {
                        let mut q = queue.lock().unwrap();
                        *q += 1;
                        spin::publish_global_len(&*runq_len, *q);
                    }
                    spin::claim_wakeup(&*npidle, &*nmspinning)
                })
            };
            let take = || {
                let mut q = queue.lock().unwrap();
                if *q == 0 {
                    return false;
                }
                *q -= 1;
                spin::publish_global_len(&*runq_len, *q);
                true
            };
            let mut found = {
                let mut q = queue.lock().unwrap();
                if *q > 0 {
                    *q -= 1;
                    spin::publish_global_len(&*runq_len, *q);
                    true
                } else {
                    // releasep + pidleput, under the lock.
                    seq(Ordering::SeqCst, || npidle.fetch_add(1, Ordering::SeqCst));
                    false
                }
            };
            if !found && spin::stop_spinning_and_recheck(&*nmspinning, || spin::global_work(&*runq_len)) {
                // Back to the top of the loop with an idle P: it finds the G.
                found = take();
                assert!(found, "the re-check saw a G that is not there");
            }
            let woke = queuer.join().unwrap();
            assert!(
                found || woke,
                "lost wake-up: a G queued while the last spinner went idle, and nobody started an M"
            );
        });
    }

    /// Both protocols at once: a foreign thread adds a timer while the only M that could
    /// serve it is the last spinner, going idle. The adder finds no waiter and calls
    /// `wakep`, which sees the spinner still counted and starts nobody; the spinner stops
    /// spinning, finds no queued G, and in `stopm` takes the waiter role only if it sees
    /// a timer. The Dekker pair on `nmspinning` (adder: heap, then `nmspinning`; spinner:
    /// `nmspinning`, then heap) makes it see the new timer then, or the adder start an M.
    #[test]
    fn loom_timer_added_while_last_spinner_idles() {
        loom::model(|| {
            let timer0 = Arc::new(AtomicI64::new(i64::MAX));
            let wait_until = Arc::new(AtomicI64::new(i64::MAX));
            let role = Arc::new(AtomicPtr::<ModelM>::new(ptr::null_mut()));
            let npidle = Arc::new(AtomicUsize::new(0));
            let nmspinning = Arc::new(AtomicUsize::new(1));
            let runq_len = Arc::new(AtomicUsize::new(0));
            let note = Arc::new(AtomicBool::new(false));
            const WHEN: i64 = 5;
            let adder = {
                let (timer0, wait_until, role, npidle, nmspinning, note) = (
                    timer0.clone(),
                    wait_until.clone(),
                    role.clone(),
                    npidle.clone(),
                    nmspinning.clone(),
                    note.clone(),
                );
                loom::thread::spawn(move || {
                    timerwait::publish_timer0(&*timer0, WHEN);
                    if !timerwait::must_kick(&*wait_until, WHEN) {
                        return false;
                    }
                    match timerwait::waiter_to_kick(&*role) {
                        Some(_) => {
                            note.store(true, Ordering::Release);
                            false
                        }
                        None => spin::claim_wakeup(&*npidle, &*nmspinning),
                    }
                })
            };
            // find_runnable's end: the P goes on the idle list (under the scheduler lock),
            // then the spinner stops spinning and re-checks the queues.
            seq(Ordering::SeqCst, || npidle.fetch_add(1, Ordering::SeqCst));
            let work = spin::stop_spinning_and_recheck(&*nmspinning, || spin::global_work(&*runq_len));
            assert!(!work);
            // stopm.
            let mut me = ModelM;
            let earliest = || timerwait::earliest(std::iter::once(&*timer0));
            let took = timerwait::take_role(&*role, &mut me as *mut ModelM, earliest, || false);
            let deadline = if took { timerwait::publish_deadline(&*wait_until, earliest) } else { i64::MAX };
            let started_m = adder.join().unwrap();
            assert!(
                (took && (deadline <= WHEN || note.load(Ordering::Acquire))) || started_m,
                "lost timer: the last spinner went to sleep without it and the adder started no M"
            );
        });
    }

    /// The idle waiter: an idle M takes the waiter role and publishes its deadline while
    /// another thread adds a timer earlier than any (on a heap holding one later timer,
    /// or an empty one). Either the waiter's deadline is no later than the new timer, or
    /// the adder kicks it; if it did not become the waiter (nothing to wait for when it
    /// looked), the adder starts an M.
    #[test]
    fn loom_timer_waiter_no_missed_deadline() {
        for initial in [10, i64::MAX] {
            loom::model(move || {
                let timer0 = Arc::new(AtomicI64::new(initial));
                let wait_until = Arc::new(AtomicI64::new(i64::MAX));
                let role = Arc::new(AtomicPtr::<ModelM>::new(ptr::null_mut()));
                // The waiter's note: a kick sets it, and its sleep returns at once.
                let note = Arc::new(AtomicBool::new(false));
                const WHEN: i64 = 5;
                let adder = {
                    let (timer0, wait_until, role, note) =
                        (timer0.clone(), wait_until.clone(), role.clone(), note.clone());
                    loom::thread::spawn(move || {
                        // The push, under the heap lock (the only pusher here).
                        timerwait::publish_timer0(&*timer0, WHEN.min(initial));
                        // timer_added → kick_waiter.
                        if !timerwait::must_kick(&*wait_until, WHEN) {
                            return false;
                        }
                        match timerwait::waiter_to_kick(&*role) {
                            Some(_) => {
                                note.store(true, Ordering::Release);
                                false
                            }
                            None => true, // wakep
                        }
                    })
                };
                let mut me = ModelM;
                let earliest = || timerwait::earliest(std::iter::once(&*timer0));
                let took = timerwait::take_role(&*role, &mut me as *mut ModelM, earliest, || false);
                let deadline = if took { timerwait::publish_deadline(&*wait_until, earliest) } else { i64::MAX };
                let started_m = adder.join().unwrap();
                if took {
                    assert!(
                        deadline <= WHEN || note.load(Ordering::Acquire),
                        "missed deadline: the waiter sleeps until {deadline} and nobody kicked it"
                    );
                } else {
                    assert!(started_m, "lost wake-up: no waiter, and the adder started no M");
                }
            });
        }
    }
}
