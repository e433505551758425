//! `sync.Pool` (`gort_pool_*`): a cache of interchangeable objects, per P, emptied across
//! collections (Go's `sync.Pool`, with a bound and a `free_fn` because C objects may come
//! from `malloc`).
//!
//! # Concepts
//! - **Local**: one per P that used the pool: a *private* slot (the P's owner only) and a
//!   *chain* ([`chain`]): rings of object pointers that the owner pushes and pops at the
//!   head and any thread pops at the tail (steals). Gets and puts on one P touch only its
//!   own Local: no lock, no atomic read-modify-write on the private path.
//! - **Generation** (`Gen`): the Locals of every P, plus one *foreign* Local for threads
//!   without a P. A pool has a *primary* generation (where puts go), a *victim* (what
//!   the last collection moved out of the primary: gets still take from it, after the
//!   primary and before `new_fn`), and a list of *dropped* generations waiting for their
//!   objects to be handed to `free_fn`.
//! - **Pinning** ([`crate::sched::pin`]): a goroutine whose M holds its P in USER state
//!   raises its M's flag and checks that the P is still its own (Go's `procPin`, no
//!   atomic read-modify-write); sysmon and stop-the-world wait for the flag before they
//!   use a P they took. Inside, the Local of that P is the caller's alone.
//! - **The gate** ([`GATE`]): a reader/writer lock. Threads that cannot pin (foreign
//!   threads, goroutines in a blocking region or whose P was taken) hold it shared for a
//!   whole get or put, and use the foreign Local's head under the pool's `foreign_lock`.
//!   The collector holds it exclusively from before it stops the world until after the
//!   restart; `gort_pool_new`/`_free` take it exclusively to link and unlink a pool.
//!
//! # get / put (Go's algorithm)
//! put: pin; the primary generation (made on first use) and this P's Local (made on
//! first use); the private slot if empty, else the chain's head; unpin. A full chain
//! ([`chain::CHAIN_CAP`] objects) refuses it: the object is *dropped*, and `free_fn` runs on
//! it at once, on the calling thread, after unpinning.
//! get: pin; the private slot, else the chain's head (newest first); else steal from the
//! tails of every Local of the primary (the other Ps' and the foreign one), then the
//! victim: this P's private slot and every tail. A victim found empty is flagged so that
//! later gets skip it until the next collection. Unpin; nothing found: `new_fn(ctx)`
//! (or NULL), called unpinned.
//! Threads that cannot pin do the same under the gate, with the foreign Local as "their
//! own" (its chain only, under `foreign_lock`).
//!
//! # Collections (Go's `poolCleanup`, victim cache)
//! With the world stopped (the gate held), [`cleanup`] moves each pool's victim to its
//! dropped list and its primary to the victim; the next put makes a fresh primary. So an
//! object put before a collection survives that one (in the victim) and is dropped by the
//! next. Nothing is freed or called with the world stopped (the stopped threads may hold
//! malloc's lock); after the restart the collector starts the *drain goroutine*
//! ([`start_drainer`]), which calls `free_fn(obj, ctx)` for every object of every dropped
//! generation, then frees it. `free_fn` thus runs on a runtime goroutine, some time after
//! the collection returned (like a finalizer: `gort_gc` does not wait for it), one call at
//! a time; puts that drop an object for the bound call it on their own threads.
//!
//! Why the world stop is enough to move generations: every thread that may be inside a
//! pool's generations is either pinned (stop-the-world waits for its flag) or holds the
//! gate shared (the collector holds it exclusively). So at the stop nobody is inside one,
//! and after it nobody can reach a dropped generation: it is no longer the primary or
//! the victim. Dropped generations are touched only by the drainer and `gort_pool_free`,
//! which hold the pool's `drain` mutex (a gort mutex: `free_fn` may block).
//!
//! # Roots
//! The objects a pool holds are roots for the collector (they may be `gort_alloc`ed):
//! [`for_each_held_range`] reports every private slot and every ring of every generation
//! (primary, victim and dropped: an object waiting for its `free_fn` must stay alive) of
//! every pool. It is read with the world stopped and no lock (see `gc/roots.rs`), and is
//! valid in any frozen state: the pool list changes only under the exclusive gate, which
//! the collector holds; Locals, rings and generations are published after they are
//! complete (Release) and freed only after they are unreachable from the list; slots are
//! cleared after a pop's claim, so a pop stopped half-way has the object in its
//! registers. In the concurrent mode the first pause copies these ranges with the other
//! roots and cleans up in the same pause: an object put into a pool during the mark came
//! from a place the snapshot covers (a stack, a root, a heap object whose overwritten
//! fields the barrier shades) or was allocated black, exactly as for a store into a
//! registered root; nothing more is needed.
//!
//! # Bound
//! Without collections (`GORT_GC=off`, or a program that never allocates from the GC
//! heap) nothing ages out, so each Local holds at most 1 + [`chain::CHAIN_CAP`] = 2041
//! objects (the foreign Local 2040: it has no private slot); a put beyond that drops its
//! object (`free_fn` at once). A pool thus holds at most 2041 objects per P that used it,
//! plus 2040, per generation, two generations between collections.
//!
//! # Freeing a pool
//! `gort_pool_free` freezes the pool (cleanups skip it), takes its drain mutex (waiting
//! for the drain goroutine to finish with it), calls `free_fn` for every object left in
//! every generation, unlinks it and frees it. Using a pool during or after its free is a
//! program error; a freed pool's memory is poisoned first, so a later call usually finds
//! it out (a gort panic), and ASan always does.
//!
//! # Rejected
//! - A lock per P or per pool: the point of the design is that get/put on one P take none.
//! - Pinning by moving the P to RUNNING and back (a CAS pair, as `proc::enter` does):
//!   measured as the fallback without `membarrier` (`GORT_DEBUG=nomembarrier=1`), a
//!   get+put took about twice as long (20.7-29.7 ns against 10.7-14.1, 5 alternating
//!   runs on a busy machine); the flag is what sysmon's and stop-the-world's takes
//!   already wait for.
//! - Calling `free_fn` from the collector or with the world stopped: it is program code.
//! - Registering each ring in the runtime's `HELD` registry: its slow path takes the
//!   registry's lock, which a pinned thread must not wait for.

pub(crate) mod chain;

use crate::sched::pin::{Pinned, pin_or_rejoin};
use crate::sched::{Entry, MAX_PROCS};
use crossbeam_utils::CachePadded;
use parking_lot::{RwLock, RwLockWriteGuard};
use std::alloc::Layout;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

pub(crate) type NewFn = unsafe extern "C" fn(ctx: *mut c_void) -> *mut c_void;
pub(crate) type FreeFn = unsafe extern "C" fn(obj: *mut c_void, ctx: *mut c_void);

/// The most objects one Local holds (private slot + chain): the bound the docs state.
const LOCAL_CAP: usize = 1 + chain::CHAIN_CAP;
const _: () = assert!(LOCAL_CAP == 2041, "update the bound in the docs (here, gort_pool_new, README)");

const CHUNK: usize = 32;
/// Chunks for P ids from `CHUNK` on (the first `CHUNK` are `Gen::direct`).
const NCHUNKS: usize = MAX_PROCS.div_ceil(CHUNK) - 1;

/// Allocates a zeroed `T`, or null. Only for types made of atomics (and padding), for
/// which all-zero bytes are a valid value.
fn zalloc<T>() -> *mut T {
    // SAFETY: the layout has a non-zero size (every T used here has fields).
    unsafe { std::alloc::alloc_zeroed(Layout::new::<T>()) as *mut T }
}

/// Drops and frees what [`zalloc`] made.
///
/// # Safety
/// `p` came from `zalloc::<T>()` and is not used afterwards.
unsafe fn zfree<T>(p: *mut T) {
    // SAFETY: per the contract.
    unsafe {
        ptr::drop_in_place(p);
        std::alloc::dealloc(p as *mut u8, Layout::new::<T>());
    }
}

/// One P's share of a generation (or the foreign one).
struct Local {
    /// Owner only (the P's pinned owner); atomic so that the collector may read it.
    private: AtomicPtr<c_void>,
    chain: chain::Chain,
}

type Chunk = [AtomicPtr<CachePadded<Local>>; CHUNK];

/// One generation of a pool's objects (see the module docs).
struct Gen {
    /// P id `i`'s Local is `direct[i]` for the first `CHUNK` ids (one load fewer on the
    /// hot path), else `chunks[i / CHUNK - 1][i % CHUNK]`. A chunk is published by CAS
    /// (two Ps may make it at once), a Local by its P's owner (Release); both are freed
    /// only with the generation.
    direct: Chunk,
    chunks: [AtomicPtr<Chunk>; NCHUNKS],
    /// 1 + the highest P id with a Local (thieves look at `[0, nlocals)`).
    nlocals: AtomicUsize,
    /// The Local of threads without a P: private slot unused, chain head under the
    /// pool's `foreign_lock`, tail stolen like any other.
    foreign: CachePadded<Local>,
    /// Next in the pool's dropped list (changed with the world stopped, or by the drainer
    /// under the shared gate).
    next: AtomicPtr<Gen>,
}

impl Gen {
    #[inline]
    fn local(&self, pid: usize) -> Option<&Local> {
        let chunk = if pid < CHUNK {
            &self.direct
        } else {
            // SAFETY: published chunks and Locals live as long as the generation.
            unsafe { self.chunks.get(pid / CHUNK - 1)?.load(Ordering::Acquire).as_ref() }?
        };
        // SAFETY: as above.
        unsafe { chunk[pid % CHUNK].load(Ordering::Acquire).as_ref() }.map(|l| &**l)
    }

    /// The Local of `pid`, made if needed. Called by the P's pinned owner only.
    #[inline]
    fn local_or_make(&self, pid: usize) -> Option<&Local> {
        match self.local(pid) {
            Some(l) => Some(l),
            None => self.make_local(pid),
        }
    }

    #[cold]
    #[inline(never)]
    fn make_local(&self, pid: usize) -> Option<&Local> {
        let mut chunk = &self.direct as *const Chunk as *mut Chunk;
        if pid >= CHUNK {
            chunk = self.make_chunk(&self.chunks[pid / CHUNK - 1])?;
        }
        let l = zalloc::<CachePadded<Local>>();
        if l.is_null() {
            return None;
        }
        // SAFETY: chunks live as long as the generation; only P `pid`'s owner writes
        // entry `pid`.
        unsafe { (*chunk)[pid % CHUNK].store(l, Ordering::Release) };
        self.nlocals.fetch_max(pid + 1, Ordering::AcqRel);
        // SAFETY: just published; lives as long as the generation.
        Some(unsafe { &**l })
    }

    /// The chunk in `slot`, made if needed.
    fn make_chunk(&self, slot: &AtomicPtr<Chunk>) -> Option<*mut Chunk> {
        let mut chunk = slot.load(Ordering::Acquire);
        if chunk.is_null() {
            let new = zalloc::<Chunk>();
            if new.is_null() {
                return None;
            }
            match slot.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => chunk = new,
                Err(won) => {
                    // SAFETY: ours, never published.
                    unsafe { zfree(new) };
                    chunk = won;
                }
            }
        }
        Some(chunk)
    }

    /// Pops the tail of every Local's chain, starting after `pid`, then the foreign
    /// one's. Any thread that is pinned or holds the gate.
    fn steal(&self, pid: Option<usize>) -> Option<*mut c_void> {
        let n = self.nlocals.load(Ordering::Acquire);
        let start = pid.map_or(0, |p| p + 1);
        for i in 0..n {
            if let Some(x) = self.local((start + i) % n).and_then(|l| l.chain.pop_tail()) {
                return Some(x);
            }
        }
        self.foreign.chain.pop_tail()
    }

    fn for_each_local(&self, f: &mut dyn FnMut(&Local)) {
        let chunks = self.chunks.iter().map(|c| c.load(Ordering::Acquire) as *const Chunk);
        for chunk in std::iter::once(&self.direct as *const Chunk).chain(chunks) {
            // SAFETY: as in `local`.
            let Some(chunk) = (unsafe { chunk.as_ref() }) else { continue };
            for l in chunk {
                // SAFETY: as in `local`.
                if let Some(l) = unsafe { l.load(Ordering::Acquire).as_ref() } {
                    f(l);
                }
            }
        }
        f(&self.foreign);
    }

    fn for_each_range(&self, f: &mut dyn FnMut(*const u8, usize)) {
        self.for_each_local(&mut |l| {
            f(&l.private as *const AtomicPtr<c_void> as *const u8, size_of::<usize>());
            l.chain.for_each_range(f);
        });
    }

    /// Takes every object out, `f` on each. The caller has the generation to itself.
    fn drain(&self, f: &mut dyn FnMut(*mut c_void)) {
        self.for_each_local(&mut |l| {
            let x = l.private.swap(ptr::null_mut(), Ordering::AcqRel);
            if !x.is_null() {
                f(x);
            }
            l.chain.drain(f);
        });
    }
}

/// Frees the Locals of a chunk.
fn free_locals(chunk: &Chunk) {
    for l in chunk {
        let l = l.load(Ordering::Relaxed);
        if !l.is_null() {
            // SAFETY: made by zalloc in make_local, freed once, here (the generation is
            // being freed: ours alone).
            unsafe { zfree(l) };
        }
    }
}

impl Drop for Gen {
    fn drop(&mut self) {
        free_locals(&self.direct);
        for c in &self.chunks {
            let chunk = c.load(Ordering::Relaxed);
            if !chunk.is_null() {
                // SAFETY: as above.
                free_locals(unsafe { &*chunk });
                // SAFETY: made by zalloc in make_chunk, freed once, here.
                unsafe { zfree(chunk) };
            }
        }
    }
}

/// What `state` holds: a live pool, one being freed, a freed one (poisoned).
const LIVE: u64 = 0x706f_6f6c_6c69_7665;
const FREEING: u64 = 0x706f_6f6c_6672_6565;
const FREED: u64 = 0xdead_f00d_dead_f00d;

pub(crate) struct Pool {
    /// [`LIVE`], [`FREEING`] or [`FREED`]; a cheap check against use after free.
    state: AtomicU64,
    new_fn: Option<NewFn>,
    free_fn: Option<FreeFn>,
    ctx: usize,
    /// Where puts go (null until the first put after a collection). Set by CAS (pinned
    /// or under the shared gate), swapped out by cleanup (world stopped).
    primary: AtomicPtr<Gen>,
    /// The generation of before the last collection; set by cleanup only.
    victim: AtomicPtr<Gen>,
    /// A get found the victim empty (nothing is ever put there): skip it until the
    /// next cleanup, which clears this.
    victim_empty: AtomicBool,
    /// Generations waiting for `free_fn`, linked by `Gen::next`: pushed by cleanup,
    /// unlinked by the drainer (under the shared gate, holding `drain`).
    dropped: AtomicPtr<Gen>,
    /// Set by `gort_pool_free` (under the exclusive gate): cleanups and the drainer
    /// leave the pool alone.
    frozen: AtomicBool,
    /// The foreign Local's head side, for threads that cannot pin.
    foreign_lock: parking_lot::Mutex<()>,
    /// Held by whoever calls `free_fn` on dropped generations and by `gort_pool_free`.
    drain: crate::sync::Mutex,
    /// The goroutine id of the drainer holding `drain` (0: none), to refuse a
    /// `gort_pool_free` from the pool's own `free_fn` instead of deadlocking.
    drain_owner: AtomicI64,
    /// Links in [`POOLS`], changed under the exclusive gate; the collector follows
    /// `next` only.
    next: AtomicPtr<Pool>,
    prev: AtomicPtr<Pool>,
}

/// Threads that cannot pin hold it shared for a get or a put; the collector holds it
/// exclusively around its stop of the world; pool creation and freeing take it
/// exclusively to change [`POOLS`].
static GATE: RwLock<()> = RwLock::new(());
/// Every live pool (a doubly-linked list through `Pool::next`/`prev`), changed under the
/// exclusive gate; each pool is linked complete (Release), so the collector can walk it.
static POOLS: AtomicPtr<Pool> = AtomicPtr::new(ptr::null_mut());
/// The drain goroutine runs (or is being started).
static DRAINER: AtomicBool = AtomicBool::new(false);

/// The exclusive gate from a program thread: in a blocking region if it is a goroutine
/// holding its P (the collector may hold the gate for a whole cycle).
fn with_gate_write<R>(f: impl FnOnce() -> R) -> R {
    let entered = crate::sched::proc::blocking_enter_if_outside();
    let g = GATE.write();
    let r = f();
    drop(g);
    if entered {
        crate::sched::proc::blocking_exit();
    }
    r
}

impl Pool {
    /// A new pool, linked into [`POOLS`].
    pub(crate) fn create(new_fn: Option<NewFn>, free_fn: Option<FreeFn>, ctx: *mut c_void) -> *mut Pool {
        let p = Box::into_raw(Box::new(Pool {
            state: AtomicU64::new(LIVE),
            new_fn,
            free_fn,
            ctx: ctx as usize,
            primary: AtomicPtr::new(ptr::null_mut()),
            victim: AtomicPtr::new(ptr::null_mut()),
            victim_empty: AtomicBool::new(false),
            dropped: AtomicPtr::new(ptr::null_mut()),
            frozen: AtomicBool::new(false),
            foreign_lock: parking_lot::Mutex::new(()),
            drain: crate::sync::Mutex::new(),
            drain_owner: AtomicI64::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            prev: AtomicPtr::new(ptr::null_mut()),
        }));
        with_gate_write(|| {
            let head = POOLS.load(Ordering::Relaxed);
            // SAFETY: p is ours; head is live (list members are unlinked before freeing,
            // under this lock).
            unsafe {
                (*p).next.store(head, Ordering::Relaxed);
                if let Some(h) = head.as_ref() {
                    h.prev.store(p, Ordering::Relaxed);
                }
            }
            POOLS.store(p, Ordering::Release);
        });
        p
    }

    /// False once `gort_pool_free` started on it (or, usually, after it).
    #[inline]
    pub(crate) fn is_live(&self) -> bool {
        self.state.load(Ordering::Relaxed) == LIVE
    }

    #[inline]
    fn primary(&self) -> Option<&Gen> {
        // SAFETY: a generation stays allocated while it is reachable from the pool by a
        // thread that is pinned or holds the gate (module docs).
        unsafe { self.primary.load(Ordering::Acquire).as_ref() }
    }

    /// The primary generation, made if there is none.
    fn primary_or_make(&self) -> Option<&Gen> {
        if let Some(g) = self.primary() {
            return Some(g);
        }
        self.make_primary()
    }

    #[cold]
    #[inline(never)]
    fn make_primary(&self) -> Option<&Gen> {
        let new = zalloc::<Gen>();
        if new.is_null() {
            return None;
        }
        let g = match self.primary.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => new,
            Err(won) => {
                // SAFETY: ours, never published.
                unsafe { zfree(new) };
                won
            }
        };
        // SAFETY: as in `primary`.
        Some(unsafe { &*g })
    }

    /// `gort_pool_get`.
    #[inline]
    pub(crate) fn get(&self) -> *mut c_void {
        let x = match pin_or_rejoin() {
            Some(pinned) => self.get_pinned(&pinned),
            None => self.get_unpinned(),
        };
        if let Some(x) = x {
            crate::sched::tsan::acquire(x);
            return x;
        }
        match self.new_fn {
            // SAFETY: the program's constructor, with the context it gave.
            Some(f) => crate::sched::tsan::user_call(|| unsafe { f(self.ctx as *mut c_void) }),
            None => ptr::null_mut(),
        }
    }

    #[inline]
    fn get_pinned(&self, pinned: &Pinned) -> Option<*mut c_void> {
        let pid = pinned.p().id;
        if let Some(l) = self.primary().and_then(|g| g.local(pid)) {
            let x = l.private.load(Ordering::Relaxed);
            if !x.is_null() {
                l.private.store(ptr::null_mut(), Ordering::Relaxed);
                return Some(x);
            }
            if let Some(x) = l.chain.pop_head() {
                return Some(x);
            }
        }
        self.get_slow(Some(pid))
    }

    #[cold]
    #[inline(never)]
    fn get_unpinned(&self) -> Option<*mut c_void> {
        let _gate = GATE.read();
        if let Some(g) = self.primary() {
            let _l = self.foreign_lock.lock();
            if let Some(x) = g.foreign.chain.pop_head() {
                return Some(x);
            }
        }
        self.get_slow(None)
    }

    /// Steals from the primary, then takes from the victim. Pinned (`pid` is the P's id)
    /// or under the shared gate (`None`).
    #[cold]
    #[inline(never)]
    fn get_slow(&self, pid: Option<usize>) -> Option<*mut c_void> {
        if let Some(x) = self.primary().and_then(|g| g.steal(pid)) {
            return Some(x);
        }
        if self.victim_empty.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: as in `primary`.
        let victim = unsafe { self.victim.load(Ordering::Acquire).as_ref() }?;
        if let Some(l) = pid.and_then(|p| victim.local(p)) {
            let x = l.private.load(Ordering::Relaxed);
            if !x.is_null() {
                l.private.store(ptr::null_mut(), Ordering::Relaxed);
                return Some(x);
            }
        }
        if let Some(x) = victim.steal(pid) {
            return Some(x);
        }
        // Other Ps' private slots may still hold objects; their owners find them.
        if pid.is_some() || victim.nlocals.load(Ordering::Relaxed) == 0 {
            self.victim_empty.store(true, Ordering::Relaxed);
        }
        None
    }

    /// `gort_pool_put`: `x` is not null.
    #[inline]
    pub(crate) fn put(&self, x: *mut c_void) {
        crate::sched::tsan::release(x);
        let kept = match pin_or_rejoin() {
            Some(pinned) => self.put_pinned(&pinned, x),
            None => self.put_unpinned(x),
        };
        if !kept && let Some(f) = self.free_fn {
            // The pool is full here: the object is dropped, after unpinning.
            // SAFETY: the program's destructor, with the context it gave.
            crate::sched::tsan::user_call(|| unsafe { f(x, self.ctx as *mut c_void) });
        }
    }

    #[inline]
    fn put_pinned(&self, pinned: &Pinned, x: *mut c_void) -> bool {
        let Some(l) = self.primary_or_make().and_then(|g| g.local_or_make(pinned.p().id)) else { return false };
        if l.private.load(Ordering::Relaxed).is_null() {
            l.private.store(x, Ordering::Relaxed);
            return true;
        }
        l.chain.push_head(x)
    }

    #[cold]
    #[inline(never)]
    fn put_unpinned(&self, x: *mut c_void) -> bool {
        let _gate = GATE.read();
        let Some(g) = self.primary_or_make() else { return false };
        let _l = self.foreign_lock.lock();
        g.foreign.chain.push_head(x)
    }

    /// Calls `free_fn` on every object of `g` (nothing if there is none).
    fn drain_gen(&self, g: &Gen) {
        g.drain(&mut |x| {
            if let Some(f) = self.free_fn {
                crate::sched::tsan::acquire(x);
                // SAFETY: as in `put`.
                crate::sched::tsan::user_call(|| unsafe { f(x, self.ctx as *mut c_void) });
            }
        });
    }

    /// Drains and frees the pool's dropped generations. The caller holds `drain`.
    fn drain_dropped(&self) {
        loop {
            let g = {
                let _gate = GATE.read();
                self.dropped.load(Ordering::Acquire)
            };
            // SAFETY: dropped generations are freed only by holders of `drain` (us).
            let Some(dg) = (unsafe { g.as_ref() }) else { return };
            self.drain_gen(dg);
            {
                // Unlink (cleanup may have pushed newer ones in front of it meanwhile).
                let _gate = GATE.read();
                let mut link = &self.dropped;
                loop {
                    let cur = link.load(Ordering::Relaxed);
                    if cur == g {
                        link.store(dg.next.load(Ordering::Relaxed), Ordering::Release);
                        break;
                    }
                    debug_assert!(!cur.is_null(), "a dropped generation left its list");
                    // SAFETY: list members live until unlinked, by us.
                    link = unsafe { &(*cur).next };
                }
            }
            // SAFETY: unlinked: nobody reaches it any more (the collector included).
            unsafe { zfree(g) };
        }
    }

    /// True if `gort_pool_free` may go on; false if the pool is not live (freed twice),
    /// or if the caller is the pool's own `free_fn` in the drain goroutine (which holds
    /// the drain mutex the free would wait for).
    pub(crate) fn begin_free(&self) -> Result<(), &'static str> {
        let me = crate::sched::goid();
        if me != 0 && self.drain_owner.load(Ordering::Relaxed) == me {
            return Err("called from the pool's own free_fn");
        }
        self.state
            .compare_exchange(LIVE, FREEING, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| "pool freed twice or not a pool")
    }

    /// `gort_pool_free`, after [`Pool::begin_free`] succeeded.
    ///
    /// # Safety
    /// `p` came from [`Pool::create`]; nobody uses it during or after this call.
    pub(crate) unsafe fn free(p: *mut Pool) {
        // SAFETY: live until the end of this function.
        let pool = unsafe { &*p };
        with_gate_write(|| pool.frozen.store(true, Ordering::Relaxed));
        // The drain goroutine may be in one of our free_fn calls: wait for it.
        pool.drain.lock();
        let gens = [pool.primary.load(Ordering::Acquire), pool.victim.load(Ordering::Acquire)];
        for g in gens {
            // SAFETY: frozen: no cleanup moves them; nobody else uses the pool.
            if let Some(g) = unsafe { g.as_ref() } {
                pool.drain_gen(g);
            }
        }
        pool.drain_dropped();
        with_gate_write(|| {
            let next = pool.next.load(Ordering::Relaxed);
            let prev = pool.prev.load(Ordering::Relaxed);
            // SAFETY: neighbours are live list members (exclusive gate).
            unsafe {
                match prev.as_ref() {
                    Some(pr) => pr.next.store(next, Ordering::Release),
                    None => POOLS.store(next, Ordering::Release),
                }
                if let Some(n) = next.as_ref() {
                    n.prev.store(prev, Ordering::Relaxed);
                }
            }
        });
        pool.drain.unlock();
        for g in gens {
            if !g.is_null() {
                // SAFETY: unlinked from everything; drained.
                unsafe { zfree(g) };
            }
        }
        pool.state.store(FREED, Ordering::Relaxed);
        // SAFETY: made by Box::into_raw in create; unlinked; this is the only free.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Every pool in [`POOLS`].
///
/// # Safety
/// The caller holds the gate (either way) or the world is stopped with the collector
/// holding it.
unsafe fn for_each_pool(mut f: impl FnMut(&Pool)) {
    let mut p = POOLS.load(Ordering::Acquire);
    // SAFETY: list members are unlinked before they are freed, under the exclusive gate.
    while let Some(pool) = unsafe { p.as_ref() } {
        f(pool);
        p = pool.next.load(Ordering::Acquire);
    }
}

/// The collector holds this from before it stops the world until after the restart.
pub(crate) fn lock_for_gc() -> RwLockWriteGuard<'static, ()> {
    GATE.write()
}

/// Go's `poolCleanup`, with the world stopped and the gate held ([`lock_for_gc`]):
/// victims to the dropped lists, primaries to the victims. True if something was
/// dropped: call [`start_drainer`] after the restart.
///
/// # Safety
/// As above. Takes no lock and allocates nothing.
pub(crate) unsafe fn cleanup() -> bool {
    let mut dropped = false;
    // SAFETY: per the contract.
    unsafe {
        for_each_pool(|pool| {
            if pool.frozen.load(Ordering::Relaxed) {
                return;
            }
            let old = pool.victim.swap(pool.primary.swap(ptr::null_mut(), Ordering::AcqRel), Ordering::AcqRel);
            pool.victim_empty.store(false, Ordering::Relaxed);
            if let Some(g) = old.as_ref() {
                g.next.store(pool.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
                pool.dropped.store(old, Ordering::Release);
                dropped = true;
            }
        })
    };
    dropped
}

/// Starts the drain goroutine unless it runs (after a cleanup that dropped something).
pub(crate) fn start_drainer() {
    if DRAINER.swap(true, Ordering::AcqRel) {
        return;
    }
    if crate::sched::spawn(Entry::Rust(Box::new(drain_all))).is_none() {
        // No memory for a goroutine: the work stays (rooted) for the next cleanup.
        DRAINER.store(false, Ordering::Release);
    }
}

/// A pool with dropped generations that nobody drains or frees, its `drain` mutex now
/// held by the caller.
fn pick() -> Option<&'static Pool> {
    let _gate = GATE.read();
    let mut found = None;
    // SAFETY: we hold the gate.
    unsafe {
        for_each_pool(|pool| {
            if found.is_none()
                && !pool.frozen.load(Ordering::Relaxed)
                && !pool.dropped.load(Ordering::Relaxed).is_null()
                && pool.drain.try_lock()
            {
                found = Some(pool as *const Pool);
            }
        })
    };
    // SAFETY: a pool whose drain mutex we hold is not freed (gort_pool_free takes it).
    found.map(|p| unsafe { &*p })
}

/// The drain goroutine: `free_fn` for every object of every dropped generation, one pool
/// at a time, until none is left.
fn drain_all() {
    loop {
        match pick() {
            Some(pool) => {
                pool.drain_owner.store(crate::sched::goid(), Ordering::Relaxed);
                pool.drain_dropped();
                pool.drain_owner.store(0, Ordering::Relaxed);
                pool.drain.unlock();
            }
            None => {
                DRAINER.store(false, Ordering::Release);
                // A cleanup after our last look may have relied on us: take it back.
                let more = {
                    let _gate = GATE.read();
                    let mut more = false;
                    // SAFETY: we hold the gate.
                    unsafe {
                        for_each_pool(|p| {
                            more |= !p.frozen.load(Ordering::Relaxed) && !p.dropped.load(Ordering::Relaxed).is_null()
                        })
                    };
                    more
                };
                if !more || DRAINER.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        }
    }
}

/// Every private slot and ring of every generation of every pool (module docs, "Roots").
///
/// # Safety
/// The world is stopped (see `gc::roots::for_each_root`).
pub(crate) unsafe fn for_each_held_range(f: &mut dyn FnMut(*const u8, usize)) {
    // SAFETY: per the contract; see the module docs for why every state is readable.
    unsafe {
        for_each_pool(|pool| {
            for g in [pool.primary.load(Ordering::Acquire), pool.victim.load(Ordering::Acquire)] {
                if let Some(g) = g.as_ref() {
                    g.for_each_range(f);
                }
            }
            let mut d = pool.dropped.load(Ordering::Acquire);
            while let Some(g) = d.as_ref() {
                g.for_each_range(f);
                d = g.next.load(Ordering::Acquire);
            }
        })
    };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn obj(i: usize) -> *mut c_void {
        (i << 4) as *mut c_void
    }

    fn new_gen() -> *mut Gen {
        let g = zalloc::<Gen>();
        assert!(!g.is_null());
        g
    }

    #[test]
    fn locals_by_p_id() {
        let gp = new_gen();
        // SAFETY: ours until freed below.
        let g = unsafe { &*gp };
        assert!(g.local(0).is_none());
        for pid in [0, 5, 31, 32, 33, MAX_PROCS - 1] {
            let l = g.local_or_make(pid).expect("memory");
            assert!(std::ptr::eq(l, g.local(pid).unwrap()));
            l.private.store(obj(pid + 1), Ordering::Relaxed);
            assert!(l.chain.push_head(obj(10_000 + pid)));
        }
        assert_eq!(g.nlocals.load(Ordering::Relaxed), MAX_PROCS);
        assert!(g.local(6).is_none());
        // Thieves see the chains, never the private slots.
        let mut stolen = HashSet::new();
        while let Some(x) = g.steal(Some(5)) {
            assert!(stolen.insert(x as usize >> 4));
        }
        assert_eq!(stolen, [0, 5, 31, 32, 33, MAX_PROCS - 1].iter().map(|p| 10_000 + p).collect());
        // The root ranges cover every private slot and ring; drain takes the rest.
        let mut ranges = 0;
        g.for_each_range(&mut |_, n| ranges += n);
        assert_eq!(ranges, 7 * 8 + 6 * 8 * 8);
        let mut left = HashSet::new();
        g.drain(&mut |x| assert!(left.insert(x as usize >> 4)));
        assert_eq!(left, [0, 5, 31, 32, 33, MAX_PROCS - 1].iter().map(|p| p + 1).collect());
        // SAFETY: made by zalloc, used no more.
        unsafe { zfree(gp) };
    }

    #[test]
    fn foreign_local_is_stolen_last() {
        let gp = new_gen();
        // SAFETY: ours until freed below.
        let g = unsafe { &*gp };
        assert!(g.foreign.chain.push_head(obj(1)));
        assert!(g.local_or_make(1).unwrap().chain.push_head(obj(2)));
        assert_eq!(g.steal(None), Some(obj(2)));
        assert_eq!(g.steal(None), Some(obj(1)));
        assert_eq!(g.steal(None), None);
        // SAFETY: made by zalloc, used no more.
        unsafe { zfree(gp) };
    }
}
