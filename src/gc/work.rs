//! The mark phase's work: grey objects in fixed-size blocks, shared between workers.
//!
//! A worker keeps one block of its own and pushes and pops there with no atomics. A full
//! block goes on the shared `full` list, where idle workers take it (that is the load
//! balancing: Go's workbufs, not per-object stealing); an empty one goes back on `free`.
//! Blocks come from `mmap` in chunks and are kept for the next cycle: the world is stopped
//! while this runs, and a stopped thread may hold malloc's lock, so nothing here may call
//! malloc.
//!
//! Termination: a worker that finds its own block and `full` empty counts itself idle
//! (`idle += 1`) and waits for either a full block (it stops being idle and takes it) or
//! `idle == workers` (nobody has work and nobody can make more: done). A worker publishes
//! a block before it stops being busy, so `idle == workers` with `full` empty is final.

use crate::sched::rtlock::RtLock;
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Entries per block: a block is 4 KiB with its two header words.
const BLOCK_ENTRIES: usize = 4096 / 8 - 2;
/// Blocks per mmap chunk (1 MiB).
const CHUNK_BLOCKS: usize = 256;

#[repr(C)]
pub(crate) struct Block {
    next: *mut Block,
    len: usize,
    items: [usize; BLOCK_ENTRIES],
}

/// A singly linked list of blocks under a lock that only the collector's threads take
/// (never a mutator), so it is safe with the world stopped.
struct List {
    lock: RtLock,
    /// Protected by `lock`.
    head: UnsafeCell<*mut Block>,
    /// Number of blocks on the list (written under `lock`, read racily as a hint).
    len: AtomicUsize,
}

impl List {
    const fn new() -> List {
        List { lock: RtLock::new(), head: UnsafeCell::new(ptr::null_mut()), len: AtomicUsize::new(0) }
    }

    fn push(&self, b: *mut Block) {
        self.lock.lock();
        // SAFETY: we hold the lock; `b` is a block no one else references.
        unsafe {
            (*b).next = *self.head.get();
            *self.head.get() = b;
        }
        self.len.fetch_add(1, Ordering::Release);
        self.lock.unlock();
    }

    fn pop(&self) -> *mut Block {
        if self.len.load(Ordering::Acquire) == 0 {
            return ptr::null_mut();
        }
        self.lock.lock();
        // SAFETY: we hold the lock.
        let b = unsafe { *self.head.get() };
        if !b.is_null() {
            // SAFETY: we hold the lock and `b` is on the list.
            unsafe { *self.head.get() = (*b).next };
            self.len.fetch_sub(1, Ordering::Release);
        }
        self.lock.unlock();
        b
    }
}

// SAFETY: `head` is only touched under `lock`.
unsafe impl Sync for List {}

/// The shared side of the mark work.
pub(crate) struct Pool {
    full: List,
    free: List,
    /// Workers currently without work (see the module notes).
    idle: AtomicUsize,
    /// Workers taking part in this cycle.
    workers: AtomicUsize,
    /// Mark assists that found nothing shared to scan since a worker last shared: the
    /// background worker then shares half of its block (as it does for idle workers).
    hungry: AtomicUsize,
}

pub(crate) static POOL: Pool = Pool {
    full: List::new(),
    free: List::new(),
    idle: AtomicUsize::new(0),
    workers: AtomicUsize::new(0),
    hungry: AtomicUsize::new(0),
};

impl Pool {
    /// Before a cycle's workers start (single-threaded). `full` may already hold work:
    /// the roots and barrier finds of a concurrent mark, drained at its termination.
    pub(crate) fn begin(&self, workers: usize) {
        self.idle.store(0, Ordering::Relaxed);
        self.workers.store(workers, Ordering::Release);
    }

    fn get_empty(&self) -> *mut Block {
        let b = self.free.pop();
        if !b.is_null() {
            // SAFETY: a free block is ours once popped.
            unsafe { (*b).len = 0 };
            return b;
        }
        self.grow();
        self.free.pop()
    }

    /// Maps another chunk of blocks onto `free`. mmap is a system call, not malloc: safe
    /// with the world stopped.
    #[cold]
    fn grow(&self) {
        let p = map_or_die(CHUNK_BLOCKS * std::mem::size_of::<Block>(), "out of memory: mark work buffers");
        for i in 0..CHUNK_BLOCKS {
            // SAFETY: within the fresh mapping, block-aligned.
            self.free.push(unsafe { (p as *mut Block).add(i) });
        }
    }
}

/// Grey objects from mutators during a concurrent mark (the write barrier's finds): one
/// block under a lock, moved to `full` when it fills and when the collector flushes it.
/// Mutators take the lock only inside a no-suspend section, so the collector can take it
/// with the world stopped.
pub(crate) struct MutatorBuf {
    lock: RtLock,
    /// Protected by `lock`: null or a block being filled.
    cur: UnsafeCell<*mut Block>,
}

// SAFETY: `cur` is only touched under `lock`.
unsafe impl Sync for MutatorBuf {}

pub(crate) static MUTATOR_BUF: MutatorBuf = MutatorBuf { lock: RtLock::new(), cur: UnsafeCell::new(ptr::null_mut()) };

impl MutatorBuf {
    /// Queues one grey object. The caller is inside a no-suspend section.
    pub(crate) fn push(&self, obj: usize) {
        self.lock.lock();
        // SAFETY: we hold the lock; the block is the buffer's own.
        unsafe {
            let cur = &mut *self.cur.get();
            if cur.is_null() {
                *cur = POOL.get_empty();
            } else if (**cur).len == BLOCK_ENTRIES {
                POOL.full.push(*cur);
                *cur = POOL.get_empty();
            }
            let b = &mut **cur;
            b.items[b.len] = obj;
            b.len += 1;
        }
        self.lock.unlock();
    }

    /// Moves what is queued to the shared `full` list, where workers take it.
    pub(crate) fn flush(&self) {
        self.lock.lock();
        // SAFETY: we hold the lock.
        unsafe {
            let cur = &mut *self.cur.get();
            if !cur.is_null() && (**cur).len > 0 {
                POOL.full.push(std::mem::replace(cur, ptr::null_mut()));
            }
        }
        self.lock.unlock();
    }
}

/// Full grey blocks waiting on the shared list.
pub(crate) fn shared_blocks() -> usize {
    POOL.full.len.load(Ordering::Acquire)
}

/// `bytes` of fresh zeroed memory straight from the OS, for the collector's own tables:
/// `mmap` is a system call, not `malloc`, so it is safe with the world stopped. Out of
/// memory there is a fatal error (`what` says whose).
pub(super) fn map_or_die(bytes: usize, what: &str) -> *mut u8 {
    map_with_or_die(bytes, 0, what)
}

/// As [`map_or_die`], with more `mmap` flags (`MAP_POPULATE`, `MAP_NORESERVE`).
pub(super) fn map_with_or_die(bytes: usize, extra_flags: libc::c_int, what: &str) -> *mut u8 {
    // SAFETY: an anonymous private mapping; failure is checked.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        crate::fatal::fatal(what);
    }
    p as *mut u8
}

/// One worker's view: its current block.
pub(crate) struct Worker {
    cur: *mut Block,
    /// Bytes of objects this worker marked (summed into the cycle's live heap).
    pub(crate) marked_bytes: usize,
    /// Objects this worker scanned.
    pub(crate) scanned: usize,
}

impl Worker {
    pub(crate) fn new() -> Worker {
        Worker { cur: POOL.get_empty(), marked_bytes: 0, scanned: 0 }
    }

    #[inline]
    pub(crate) fn push(&mut self, obj: usize) {
        // SAFETY: `cur` is this worker's own block.
        let b = unsafe { &mut *self.cur };
        if b.len == BLOCK_ENTRIES {
            POOL.full.push(self.cur);
            self.cur = POOL.get_empty();
            // SAFETY: a fresh block from the pool, ours.
            let b = unsafe { &mut *self.cur };
            b.items[0] = obj;
            b.len = 1;
            return;
        }
        b.items[b.len] = obj;
        b.len += 1;
    }

    /// The next grey object, from this worker's block, else a shared full block; None
    /// when marking has terminated (every worker idle and nothing shared).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<usize> {
        // SAFETY: `cur` is this worker's own block.
        let b = unsafe { &mut *self.cur };
        if b.len > 0 {
            b.len -= 1;
            return Some(b.items[b.len]);
        }
        self.refill()
    }

    /// The next grey object from this worker's own block only (never waits, never
    /// takes shared work): the prefetch ring's refill.
    #[inline]
    pub(crate) fn pop_local(&mut self) -> Option<usize> {
        // SAFETY: `cur` is this worker's own block.
        let b = unsafe { &mut *self.cur };
        if b.len > 0 {
            b.len -= 1;
            return Some(b.items[b.len]);
        }
        None
    }

    /// Shares half of a large private block when others are idle, so one worker that
    /// found a deep structure does not mark it alone.
    #[inline]
    pub(crate) fn balance(&mut self) {
        // SAFETY: `cur` is this worker's own block.
        let b = unsafe { &mut *self.cur };
        let wanted = POOL.idle.load(Ordering::Relaxed) > 0 || POOL.hungry.load(Ordering::Relaxed) > 0;
        if b.len >= 8 && wanted && POOL.full.len.load(Ordering::Relaxed) == 0 {
            let half = POOL.get_empty();
            let n = b.len / 2;
            // SAFETY: `half` is a fresh block of ours; the ranges do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(b.items.as_ptr().add(b.len - n), (*half).items.as_mut_ptr(), n);
                (*half).len = n;
            }
            b.len -= n;
            POOL.full.push(half);
            POOL.hungry.store(0, Ordering::Relaxed);
        }
    }

    /// The next grey object from this worker's block or a shared one, never waiting and
    /// never counted idle: for mark assists, which are not among the cycle's workers.
    pub(crate) fn pop_nowait(&mut self) -> Option<usize> {
        if let Some(w) = self.pop_local() {
            return Some(w);
        }
        let got = POOL.full.pop();
        if got.is_null() {
            return None;
        }
        POOL.free.push(std::mem::replace(&mut self.cur, got));
        self.pop_local()
    }

    /// Publishes this worker's private grey objects on `full` (before it sleeps or
    /// leaves while marking goes on without it).
    pub(crate) fn flush(&mut self) {
        // SAFETY: `cur` is this worker's own block.
        if unsafe { (*self.cur).len } > 0 {
            POOL.full.push(std::mem::replace(&mut self.cur, POOL.get_empty()));
        }
    }

    /// Whether shared grey blocks are waiting; if not, asks the background worker to
    /// share some (an assist calls this before it looks for work).
    pub(crate) fn shared_work() -> bool {
        if POOL.full.len.load(Ordering::Acquire) > 0 {
            return true;
        }
        POOL.hungry.fetch_add(1, Ordering::Relaxed);
        false
    }

    #[cold]
    fn refill(&mut self) -> Option<usize> {
        let got = POOL.full.pop();
        if !got.is_null() {
            POOL.free.push(std::mem::replace(&mut self.cur, got));
            return self.pop();
        }
        POOL.idle.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        loop {
            if POOL.full.len.load(Ordering::Acquire) > 0 {
                POOL.idle.fetch_sub(1, Ordering::AcqRel);
                let got = POOL.full.pop();
                if !got.is_null() {
                    POOL.free.push(std::mem::replace(&mut self.cur, got));
                    return self.pop();
                }
                POOL.idle.fetch_add(1, Ordering::AcqRel);
            }
            if POOL.idle.load(Ordering::Acquire) == POOL.workers.load(Ordering::Acquire) {
                return None;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        POOL.free.push(self.cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several threads each push a chain of items; every item is popped exactly once by
    /// somebody and all terminate. (Run alone: the pool is global.)
    #[test]
    fn every_item_popped_once_and_all_terminate() {
        let _serial = crate::gc::tests::SERIAL.lock();
        const WORKERS: usize = 4;
        const ITEMS: usize = 50_000;
        POOL.begin(WORKERS);
        let seen: Vec<AtomicUsize> = (0..WORKERS * ITEMS).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for w in 0..WORKERS {
                let seen = &seen;
                s.spawn(move || {
                    let mut wk = Worker::new();
                    // Only worker 0 starts with work: the others must get it by sharing.
                    if w == 0 {
                        for i in 0..WORKERS * ITEMS {
                            wk.push(i);
                        }
                    }
                    while let Some(i) = wk.pop() {
                        seen[i].fetch_add(1, Ordering::Relaxed);
                        wk.balance();
                    }
                });
            }
        });
        assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        assert_eq!(POOL.full.len.load(Ordering::Relaxed), 0);
    }

    /// What mutators queue through the barrier's buffer reaches the shared list, once
    /// each, when the buffer fills or is flushed; an assist's worker takes shared blocks
    /// without waiting and publishes what it has left. (Run alone: the pool is global.)
    #[test]
    fn mutator_buffer_and_assist_worker_hand_everything_over() {
        let _serial = crate::gc::tests::SERIAL.lock();
        POOL.begin(1);
        const N: usize = 3 * BLOCK_ENTRIES + 7;
        for i in 0..N {
            MUTATOR_BUF.push(i + 1);
        }
        assert_eq!(shared_blocks(), 3, "full blocks move to the shared list as they fill");
        MUTATOR_BUF.flush();
        assert_eq!(shared_blocks(), 4);
        let mut seen = vec![0u8; N + 1];
        let mut assist = Worker::new();
        let mut taken = 0;
        while let Some(v) = assist.pop_nowait() {
            seen[v] += 1;
            taken += 1;
            if taken == 5 {
                // Part-way, an assist leaves: what it holds goes back to the list.
                assist.flush();
                drop(assist);
                assist = Worker::new();
            }
        }
        assert!(seen[1..].iter().all(|&c| c == 1), "every item once");
        assert_eq!(shared_blocks(), 0);
        assert!(!Worker::shared_work());
        POOL.hungry.store(0, Ordering::Relaxed);
    }
}
