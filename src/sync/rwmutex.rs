//! `gort_rwmutex`: Go's reader/writer mutex. Readers only touch `reader_count` when no
//! writer is around. A writer takes `w` (one writer at a time), then subtracts
//! `MAX_READERS` from `reader_count`: from then on new readers see a negative count and
//! queue on `reader_sem` — a pending writer blocks new readers, so writers cannot starve.
//! The writer waits on `writer_sem` for the readers that were already in (`reader_wait`
//! counts them down); unlock adds `MAX_READERS` back and releases the queued readers.

use super::mutex::Mutex;
use super::semtable::{semacquire, semrelease};
use crate::sched::NO_DEADLINE;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

const MAX_READERS: i32 = 1 << 30;

#[repr(C)]
pub struct RwMutex {
    /// Held by the writer (or the writer-to-be) for the whole write.
    w: Mutex,
    /// The writer sleeps here until the departing readers are gone.
    writer_sem: AtomicU32,
    /// Readers that arrived while a writer was pending sleep here.
    reader_sem: AtomicU32,
    /// Readers in (and queued); minus MAX_READERS while a writer is pending or in.
    reader_count: AtomicI32,
    /// Readers the pending writer still waits for.
    reader_wait: AtomicI32,
}

impl Default for RwMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl RwMutex {
    pub const fn new() -> RwMutex {
        RwMutex {
            w: Mutex::new(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    pub fn rlock(&self) {
        if self.reader_count.fetch_add(1, Ordering::Acquire) + 1 < 0 {
            // A writer is pending: wait for it.
            semacquire(&self.reader_sem, false, "sync.RWMutex.RLock", NO_DEADLINE);
        }
    }

    pub fn runlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::Release) - 1;
        if r < 0 {
            self.runlock_slow(r);
        }
    }

    fn runlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            crate::fatal::fatal_with_dump("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending; the last departing reader wakes it.
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            semrelease(&self.writer_sem, false);
        }
    }

    pub fn lock(&self) {
        self.w.lock();
        // Announce the writer; r = the readers in at that moment.
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::AcqRel);
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            semacquire(&self.writer_sem, false, "sync.RWMutex.Lock", NO_DEADLINE);
        }
    }

    pub fn unlock(&self) {
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::Release) + MAX_READERS;
        if r >= MAX_READERS {
            crate::fatal::fatal_with_dump("sync: Unlock of unlocked RWMutex");
        }
        for _ in 0..r {
            semrelease(&self.reader_sem, false);
        }
        self.w.unlock();
    }
}
