//! Roots besides the stacks: the ranges the program registers (`gort_root_add`) and every
//! place the runtime holds the program's bytes.
//!
//! # What is enumerated
//! [`for_each_root`] reports byte ranges `(address, length)` that the collector scans
//! conservatively, word by word:
//! - **registered ranges** ([`add_range`]/[`remove_range`]);
//! - **goroutines** (every descriptor ever made, `sched::g::ALLGS`): the entry `(fn, arg)`
//!   of a goroutine not yet started (the payload bytes of its `entry` field, not the
//!   tag's word, whose padding is stale; and the captured bytes of a Rust closure entry),
//!   and its deferred calls `(fn, arg)` ([`crate::sched::g::G::for_each_held_range`]);
//! - **threads the runtime does not own** that deferred calls inside `gort_protect`: their
//!   deferred calls ([`THREAD_DEFERS`], [`crate::panic::for_each_held_range`]);
//! - **channels** ([`CHANNELS`], [`crate::chan::Chan::for_each_held_range`]): the elements
//!   buffered in the ring, and the element of every blocked sender, a select's send cases
//!   included (a sudog's `elem` points at the sender's memory, which may be malloc'd);
//!   the whole ring of a channel whose lock is held, reported apart
//!   ([`for_each_maybe_stale_root`]: its free slots hold elements received earlier);
//! - **pools** (`sync.Pool`, [`crate::sync::pool::for_each_held_range`]): every private
//!   slot and ring of every generation of every pool, dropped generations waiting for
//!   their `free_fn` included (the pool's own list, walked lock-free; see its essay);
//! - **other runtime-held bytes** ([`HELD`]): the function and argument of a
//!   `gort_after_func` timer, for as long as the timer exists (it may be reset and fire
//!   again), the `(wg, fn, arg)` of a `gort_waitgroup_go` goroutine until it starts, and
//!   the root word of every `gort_syncmap` (its trie lives on the GC heap and is traced
//!   from there, `sync/syncmap`).
//!   (`gort_main`'s argument, boxed inside the main goroutine's closure, is kept in the
//!   calling thread's frame instead, which is scanned with that thread's stack.)
//!
//! Not reported, on purpose: a receive's destination buffer (the caller's memory: receive
//! into a local or into registered memory), a timer channel's buffer (it holds a
//! deadline), netpoll records (fd numbers), semaphore and wait records (they live on the
//! waiter's stack, which is scanned with the stacks, and hold no program bytes). An
//! element passed to a send is the caller's until the runtime has it: while the send is
//! blocked it is reported through the sudog, once buffered through the ring; a caller
//! whose only copy of a pointer is in unregistered malloc memory while the send starts
//! has no root for it (keep it in a local, as for any C call). Finalizer arguments are
//! the finalizer table's (`gc/finalize.rs`).
//!
//! # Enumerating while the world is stopped by signals
//! The collector enumerates with every other thread stopped, and a thread stopped by a
//! signal may be anywhere: inside `malloc`, holding a channel lock halfway through an
//! update, in the middle of a registry insert. So enumeration takes **no lock** (not even
//! `try_lock`: unlocking a parking_lot mutex that has parked waiters takes the
//! parking-lot bucket lock, which a stopped thread may hold) and follows only structures
//! that are valid to read in *any* state a stopped thread can leave them in:
//! - **Registries** ([`Registry`]) are slot tables: chunks of `(pointer, word)` slots that
//!   are never freed, found through a fixed directory of chunk pointers and a published
//!   chunk count. A slot is published by storing its pointer last (Release), and cleared
//!   by storing null first (Release), *before* the object it names is freed. Whatever
//!   instruction a writer stopped at, a slot holds null or a pointer to a live object.
//!   The free-slot bookkeeping (per-thread caches, a locked pool) is never read by the
//!   collector, so a thread stopped inside it harms nothing. Adding and removing is a
//!   thread-local pop or push plus one store: what keeps `gort_chan_make`/`release`
//!   cheap. Rejected: intrusive lists under shard locks (a stopped thread halfway through
//!   an unlink leaves a list the collector cannot walk), a lock the collector would take
//!   (the world could never stop while a stopped thread holds it).
//! - **Channels** are read without their lock. If the lock is free, no thread is inside
//!   the channel and its state is consistent: the live elements of the ring are reported
//!   (not stale slots, which could keep garbage alive). If the lock is held, its holder
//!   is stopped somewhere in a critical section: the whole ring is reported (an element
//!   may be half copied, `qcount` not yet updated), as a maybe-stale root. Either way the sender queue is walked
//!   forwards: `WaitQ` links a sudog only after its own fields are set, and unlinks it
//!   from the forward chain with a single store before clearing anything (compiler
//!   fences, which order stores as a signal handler on the same thread sees them), so
//!   every frozen state is a proper forward chain. Every sudog on it is alive: its owner
//!   cannot leave the operation before it is unlinked under the lock. A receiver taking
//!   a blocked sender's element claims it *before* unlinking it and copies it before the
//!   unlink, so a receiver stopped halfway has not hidden the element from the walk.
//! - **Goroutines and defers**: the descriptors are found through `sched::g::ALLGS`, the
//!   append-only list of every G that the world stop also reads without a lock.
//!   Descriptors are never freed; the `entry` field is read as
//!   raw bytes (no dereference, so a torn write is harmless), and a Rust closure entry is
//!   dereferenced only when the goroutine is runnable and not started (the spawner wrote
//!   it before publishing RUNNABLE with Release, and only the goroutine itself takes it
//!   after becoming RUNNING). Deferred calls live in a [`crate::panic`] stack whose length
//!   is published after the element is written and whose buffer is replaced (grown,
//!   shrunk) before the old one is freed, so any frozen state reads as a valid prefix.
//! - **Registered ranges**: the overlap check needs a sorted map, kept under a mutex that
//!   only `add_range`/`remove_range` take; the collector reads the slot table beside it.
//!
//! Visibility: the world stop (part of `sched::world`) gives the happens-before edge from
//! each stopped thread's last instruction to the collector (the stopped thread's handler
//! or safe point publishes with Release, the stopper acquires); the compiler fences above
//! make "last instruction" mean the program order of the source.
//!
//! Interface note: [`for_each_root`] is an `unsafe fn` (the plan had it safe): called
//! while other threads run, it could read a channel being freed. `gc/mod.rs` exports
//! this module `pub(crate)`, because the hooks in `chan`, `sched`, `panic`, `time` and
//! `ffi` register with its registries.
//!
//! The ranges reported point into memory that stays mapped while the world is stopped:
//! malloc'd buffers freed only after their registry entry is cleared, stacks of
//! goroutines that are blocked (the scavenger unmaps only stacks no goroutine holds),
//! descriptors and registry chunks (never freed), static data.
//!
//! # Tests
//! The unit tests (`roots/tests.rs`) enumerate in a forked child: `fork` freezes every
//! other thread of the test process wherever it was — inside a channel operation with
//! its lock held, halfway through a registry insert, inside malloc — which is what a
//! signal-stopped world looks like. The child must finish (an alarm kills a hang), read
//! every byte of every range (a dangling one is a SIGSEGV) and find the words planted in
//! each kind of location, while other threads and goroutines churn channels, ranges,
//! spawns and defers.

use parking_lot::Mutex;
use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Why a range could not be registered or removed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum RootError {
    /// Overlaps a registered range, is empty or wraps around (add); starts no registered
    /// range (remove).
    Invalid,
    NoMemory,
}

// ---------------------------------------------------------------------------------------
// Registries: slot tables readable with the world stopped
// ---------------------------------------------------------------------------------------

/// Slots per chunk (16 bytes each: a chunk is 64 KiB).
const CHUNK_SLOTS: usize = 4096;
/// Chunks per registry: up to 64M live entries. The directory is 128 KiB of zero-filled
/// static memory, resident only where chunks were made.
const DIR_LEN: usize = 16384;
/// Slot indices a thread takes from, or gives back to, the pool at once.
const BATCH: usize = 32;
/// A thread's cache of free slot indices is trimmed back to `BATCH` beyond this.
const CACHE_MAX: usize = 2 * BATCH;

const _: () = assert!(CHUNK_SLOTS.is_multiple_of(BATCH), "a batch of fresh slots lies in one chunk");

/// One entry: an object (null: free) and a word whose meaning is the registry's.
struct Entry {
    /// Stored last on publication and first on removal (Release); see the module docs.
    ptr: AtomicPtr<u8>,
    /// Written before `ptr` is published; read after `ptr` (Acquire).
    word: AtomicUsize,
}

struct Chunk {
    slots: [Entry; CHUNK_SLOTS],
}

/// Slot indices nobody uses, and where fresh ones start. Only the slow paths of adding
/// and removing touch it ([`Registry::refill`], `give_slot_slow`, and a thread's caches
/// going back at exit), under the registry's `pool` lock; never the collector.
struct Pool {
    free: Vec<u32>,
    fresh: usize,
}

/// A registered slot, to be given back with [`Registry::remove`] exactly once. Holds
/// the index + 1, so that `Option<Slot>` is 4 bytes (a channel keeps one in padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(NonZeroU32);

/// A set of objects the collector must visit, readable without locks while the world is
/// stopped (see the module docs). Cheap to add to and remove from: a per-thread cache of
/// free slot indices makes both a thread-local pop/push plus one atomic store.
pub(crate) struct Registry {
    /// Which of a thread's caches ([`THREAD_CACHES`]) serves this registry.
    id: usize,
    /// Chunk `i` once made (never freed); written once, under `pool`, before `nchunks`
    /// covers it.
    dir: [AtomicPtr<Chunk>; DIR_LEN],
    /// Chunks published in `dir` (Release after the directory entry).
    nchunks: AtomicUsize,
    /// Free slots beyond the threads' caches.
    pool: Mutex<Pool>,
}

/// Number of registries (each has its cache in every thread's [`ThreadCaches`]).
const NREG: usize = 4;

/// Registered root ranges (`gort_root_add`): `(address, length)`.
static USER_RANGES: Registry = Registry::new(0);
/// Other bytes the runtime holds for the program: `(address, length)` ([`HeldRoot`]).
pub(crate) static HELD: Registry = Registry::new(1);
/// Live channels whose elements have a size (`(chan, 0)`), [`crate::chan::Chan`].
pub(crate) static CHANNELS: Registry = Registry::new(2);
/// Panic states of threads the runtime does not own that have deferred calls
/// (`(state, 0)`), [`crate::panic`].
pub(crate) static THREAD_DEFERS: Registry = Registry::new(3);

static REGISTRIES: [&Registry; NREG] = [&USER_RANGES, &HELD, &CHANNELS, &THREAD_DEFERS];

/// Each thread's caches of free slot indices, one per registry. Only the owning thread
/// touches them; on thread exit they go back to the pools.
struct ThreadCaches {
    lists: [UnsafeCell<Vec<u32>>; NREG],
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        // A thread-local destructor, run at thread exit outside any export.
        let _runtime = crate::sched::tsan::InRuntime::enter();
        for (reg, list) in REGISTRIES.iter().zip(self.lists.iter_mut()) {
            let list = list.get_mut();
            if !list.is_empty() {
                reg.pool.lock().free.append(list);
            }
        }
    }
}

thread_local! {
    static THREAD_CACHES: ThreadCaches = const {
        ThreadCaches { lists: [const { UnsafeCell::new(Vec::new()) }; NREG] }
    };
}

impl Registry {
    const fn new(id: usize) -> Registry {
        Registry {
            id,
            dir: [const { AtomicPtr::new(ptr::null_mut()) }; DIR_LEN],
            nchunks: AtomicUsize::new(0),
            pool: Mutex::new(Pool { free: Vec::new(), fresh: 0 }),
        }
    }

    fn entry(&self, slot: u32) -> &Entry {
        let i = slot as usize;
        let chunk = self.dir[i / CHUNK_SLOTS].load(Ordering::Acquire);
        debug_assert!(!chunk.is_null());
        // SAFETY: a slot index is handed out only after its chunk was published, and
        // chunks are never freed.
        unsafe { &(*chunk).slots[i % CHUNK_SLOTS] }
    }

    /// Publishes `(ptr, word)` in a free slot. `ptr` must be non-null and stay valid for
    /// what the registry's visitor reads until [`Registry::remove`]. None when out of
    /// memory (or 64M entries).
    #[inline]
    pub(crate) fn add(&self, ptr: *const u8, word: usize) -> Option<Slot> {
        debug_assert!(!ptr.is_null());
        let cached = THREAD_CACHES.try_with(|c| {
            // SAFETY: only this thread touches its caches, and nothing here re-enters.
            unsafe { (*c.lists[self.id].get()).pop() }
        });
        let slot = match cached {
            Ok(Some(s)) => s,
            _ => self.take_slot_slow()?,
        };
        let e = self.entry(slot);
        e.word.store(word, Ordering::Relaxed);
        e.ptr.store(ptr as *mut u8, Ordering::Release);
        Some(Slot(NonZeroU32::new(slot + 1).expect("indices stay below 2^26")))
    }

    /// Clears the slot: the collector no longer visits its object. Call before freeing
    /// the object.
    #[inline]
    pub(crate) fn remove(&self, slot: Slot) {
        let slot = slot.0.get() - 1;
        self.entry(slot).ptr.store(ptr::null_mut(), Ordering::Release);
        let kept = THREAD_CACHES.try_with(|c| {
            // SAFETY: as in `add`.
            let list = unsafe { &mut *c.lists[self.id].get() };
            if list.len() < CACHE_MAX {
                list.push(slot);
                true
            } else {
                false
            }
        });
        if kept != Ok(true) {
            self.give_slot_slow(slot);
        }
    }

    #[cold]
    #[inline(never)]
    fn take_slot_slow(&self) -> Option<u32> {
        let cached = THREAD_CACHES.try_with(|c| {
            // SAFETY: as in `add`.
            let list = unsafe { &mut *c.lists[self.id].get() };
            self.refill(list, BATCH);
            list.pop()
        });
        match cached {
            Ok(s) => s,
            // The thread is exiting and its caches are gone: straight from the pool.
            Err(_) => {
                let mut one = Vec::new();
                self.refill(&mut one, 1);
                one.pop()
            }
        }
    }

    /// A full cache gives half back to the pool; a thread that is exiting gives straight
    /// to the pool.
    #[cold]
    #[inline(never)]
    fn give_slot_slow(&self, slot: u32) {
        let kept = THREAD_CACHES.try_with(|c| {
            // SAFETY: as in `add`.
            let list = unsafe { &mut *c.lists[self.id].get() };
            list.push(slot);
            let mut pool = self.pool.lock();
            pool.free.extend(list.drain(BATCH..));
        });
        if kept.is_err() {
            self.pool.lock().free.push(slot);
        }
    }

    /// Moves up to `n` free slots into `list` (fewer only when out of memory).
    fn refill(&self, list: &mut Vec<u32>, n: usize) {
        if list.try_reserve(n).is_err() {
            return;
        }
        let mut pool = self.pool.lock();
        let take = pool.free.len().min(n);
        let at = pool.free.len() - take;
        list.extend(pool.free.drain(at..));
        if !list.is_empty() {
            return;
        }
        // Carve a fresh batch; it lies in one chunk, made now if this batch starts it.
        let start = pool.fresh;
        let c = start / CHUNK_SLOTS;
        if c >= DIR_LEN {
            return;
        }
        if start.is_multiple_of(CHUNK_SLOTS) {
            // SAFETY: Chunk is made of atomics, for which all-zero bytes are valid
            // (null pointers, zero words); the layout has a non-zero size.
            let chunk = unsafe { std::alloc::alloc_zeroed(Layout::new::<Chunk>()) } as *mut Chunk;
            if chunk.is_null() {
                return;
            }
            self.dir[c].store(chunk, Ordering::Release);
            self.nchunks.store(c + 1, Ordering::Release);
        }
        pool.fresh = start + BATCH;
        // Handed out lowest first.
        list.extend((start..start + BATCH).rev().map(|s| s as u32));
    }

    /// Calls `f(ptr, word)` for every published entry.
    ///
    /// # Safety
    /// The world is stopped, or the caller otherwise knows that no entry it visits is
    /// removed and freed meanwhile (entries may be added and removed concurrently in the
    /// sense of a stopped thread having done part of an add or remove).
    pub(crate) unsafe fn for_each(&self, mut f: impl FnMut(*const u8, usize)) {
        let n = self.nchunks.load(Ordering::Acquire);
        for d in &self.dir[..n] {
            let chunk = d.load(Ordering::Acquire);
            // SAFETY: published chunks are never freed.
            for e in unsafe { &(*chunk).slots } {
                let p = e.ptr.load(Ordering::Acquire);
                if !p.is_null() {
                    f(p, e.word.load(Ordering::Relaxed));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runtime-held byte ranges
// ---------------------------------------------------------------------------------------

/// `[ptr, ptr + len)` is a root while this lives (in [`HELD`]): bytes the runtime keeps
/// for the program outside channels and goroutines. The memory must stay valid until the
/// `HeldRoot` is dropped: drop it before freeing that memory.
pub(crate) struct HeldRoot(Slot);

impl HeldRoot {
    /// None when out of memory (no slot could be had).
    pub(crate) fn new(ptr: *const u8, len: usize) -> Option<HeldRoot> {
        HELD.add(ptr, len).map(HeldRoot)
    }
}

impl Drop for HeldRoot {
    fn drop(&mut self) {
        HELD.remove(self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Registered ranges (gort_root_add / gort_root_remove)
// ---------------------------------------------------------------------------------------

/// The registered ranges by start address: `start → (length, slot in USER_RANGES)`. For
/// the overlap check; the collector reads [`USER_RANGES`] instead.
static RANGES: Mutex<BTreeMap<usize, (usize, Slot)>> = Mutex::new(BTreeMap::new());

/// Registers `[addr, addr + size)` as a root. `Invalid` if it is empty, wraps around the
/// address space or overlaps a registered range (touching one is fine).
pub(crate) fn add_range(addr: usize, size: usize) -> Result<(), RootError> {
    if addr == 0 || size == 0 {
        return Err(RootError::Invalid);
    }
    let end = addr.checked_add(size).ok_or(RootError::Invalid)?;
    let mut ranges = RANGES.lock();
    if let Some((&start, &(len, _))) = ranges.range(..=addr).next_back()
        && start + len > addr
    {
        return Err(RootError::Invalid);
    }
    if let Some((&start, _)) = ranges.range(addr..).next()
        && start < end
    {
        return Err(RootError::Invalid);
    }
    let slot = USER_RANGES.add(addr as *const u8, size).ok_or(RootError::NoMemory)?;
    ranges.insert(addr, (size, slot));
    Ok(())
}

/// Unregisters the range that starts at `addr`; `Invalid` if none does.
pub(crate) fn remove_range(addr: usize) -> Result<(), RootError> {
    let mut ranges = RANGES.lock();
    let (_, slot) = ranges.remove(&addr).ok_or(RootError::Invalid)?;
    USER_RANGES.remove(slot);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The enumeration
// ---------------------------------------------------------------------------------------

/// Calls `f(address, length)` for every registered range and every range of the
/// program's bytes the runtime holds (see the module docs), except the rings of channels
/// caught mid-operation, which [`for_each_maybe_stale_root`] reports: the collector's
/// roots are both. Ranges may be unaligned and may overlap each other or the stacks; the
/// collector scans the aligned words inside.
///
/// # Safety
/// The world is stopped (every thread but the caller is stopped, with the
/// happens-before edge the world stop provides), or quiescent: no thread frees what the
/// registries name meanwhile. Takes no lock.
pub(crate) unsafe fn for_each_root(f: &mut dyn FnMut(*const u8, usize)) {
    // SAFETY (all of them): per this function's contract; each registry's visitor reads only
    // what the module docs list as valid in any frozen state.
    unsafe {
        USER_RANGES.for_each(&mut *f);
        HELD.for_each(&mut *f);
        CHANNELS
            .for_each(|c, _| crate::chan::Chan::for_each_held_range(c as *const crate::chan::Chan, f, &mut |_, _| {}));
        crate::sched::g::ALLGS.for_each(|g| (*g).for_each_held_range(f));
        THREAD_DEFERS.for_each(|st, _| crate::panic::for_each_held_range(st as *const crate::panic::PanicState, f));
        crate::sync::pool::for_each_held_range(f);
    }
}

/// The roots that may hold stale words: the whole ring of every channel whose lock a
/// stopped thread holds (see [`crate::chan::Chan::for_each_held_range`]). The collector
/// scans them like any root; `gccheckmark` treats them as it treats stacks (an unmarked
/// object found only there is not a missed one: the slot may be free, its element long
/// received).
///
/// # Safety
/// As [`for_each_root`].
pub(crate) unsafe fn for_each_maybe_stale_root(f: &mut dyn FnMut(*const u8, usize)) {
    // SAFETY: as in for_each_root.
    unsafe {
        CHANNELS
            .for_each(|c, _| crate::chan::Chan::for_each_held_range(c as *const crate::chan::Chan, &mut |_, _| {}, f));
    }
}

#[cfg(test)]
mod tests;
