//! `gort_rwmutex`: Go's reader/writer mutex. Readers only touch `reader_count` when no
//! writer is around. A writer takes `w` (one writer at a time), then subtracts
//! `MAX_READERS` from `reader_count`: from then on new readers see a negative count and
//! queue on `reader_sem` — a pending writer blocks new readers, so writers cannot starve.
//! The writer waits on `writer_sem` for the readers that were already in (`reader_wait`
//! counts them down); unlock adds `MAX_READERS` back and releases the queued readers.

use super::mutex::Mutex;
use super::semtable::{semacquire, semrelease};
use crate::sched::NO_DEADLINE;
use crate::sched::tsan;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

const MAX_READERS: i32 = 1 << 30;

#[repr(C)]
pub(crate) struct RwMutex {
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
    pub(crate) const fn new() -> RwMutex {
        RwMutex {
            w: Mutex::new(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    // TSan: a writer's unlock releases on the lock itself, a reader's on `reader_count`;
    // readers acquire the first only, writers both. So readers are ordered after
    // writers and writers after everyone, but readers not among themselves.

    pub(crate) fn rlock(&self) {
        algo::rlock(self);
        tsan::acquire(self);
    }

    pub(crate) fn runlock(&self) {
        tsan::release(&self.reader_count);
        algo::runlock(self);
    }

    pub(crate) fn lock(&self) {
        algo::lock(self);
        tsan::acquire(self);
        tsan::acquire(&self.reader_count);
    }

    pub(crate) fn unlock(&self) {
        tsan::release(self);
        algo::unlock(self);
    }

    /// Go's `TryRLock`: read-locks if no writer holds or waits for the lock.
    pub(crate) fn try_rlock(&self) -> bool {
        let locked = algo::try_rlock(self);
        if locked {
            tsan::acquire(self);
        }
        locked
    }

    /// Go's `TryLock`: write-locks if nobody holds the lock and no writer waits for it.
    pub(crate) fn try_lock(&self) -> bool {
        let locked = algo::try_lock(self);
        if locked {
            tsan::acquire(self);
            tsan::acquire(&self.reader_count);
        }
        locked
    }
}

/// The runtime's [`algo::Env`]: the RWMutex's own words, the semaphore table, its Mutex.
impl algo::Env for RwMutex {
    #[inline]
    fn readers_add(&self, d: i32, o: Ordering) -> i32 {
        self.reader_count.fetch_add(d, o)
    }
    #[inline]
    fn readers_load(&self, o: Ordering) -> i32 {
        self.reader_count.load(o)
    }
    #[inline]
    fn readers_cas(&self, cur: i32, new: i32, o: Ordering) -> Result<i32, i32> {
        self.reader_count.compare_exchange(cur, new, o, Ordering::Relaxed)
    }
    #[inline]
    fn departing_add(&self, d: i32, o: Ordering) -> i32 {
        self.reader_wait.fetch_add(d, o)
    }
    fn reader_sleep(&self) {
        semacquire(&self.reader_sem, false, "sync.RWMutex.RLock", NO_DEADLINE);
    }
    fn reader_wake(&self) {
        semrelease(&self.reader_sem, false);
    }
    fn writer_sleep(&self) {
        semacquire(&self.writer_sem, false, "sync.RWMutex.Lock", NO_DEADLINE);
    }
    fn writer_wake(&self) {
        semrelease(&self.writer_sem, false);
    }
    fn writers_lock(&self) {
        self.w.lock();
    }
    fn writers_unlock(&self) {
        self.w.unlock();
    }
    fn writers_try_lock(&self) -> bool {
        self.w.try_lock()
    }
    fn misuse(&self, msg: &str) -> ! {
        crate::fatal::fatal_with_dump(msg)
    }
}

/// Go's RWMutex algorithm over abstract counters, semaphores and writer lock, so that the
/// loom model (`loom_models` below) checks the very code the runtime runs.
mod algo {
    use super::MAX_READERS;
    use std::sync::atomic::Ordering;

    pub(super) trait Env {
        /// `fetch_add` on the reader count.
        fn readers_add(&self, d: i32, o: Ordering) -> i32;
        /// Loads the reader count.
        fn readers_load(&self, o: Ordering) -> i32;
        /// `compare_exchange` on the reader count (`o` on success, Relaxed on failure).
        fn readers_cas(&self, cur: i32, new: i32, o: Ordering) -> Result<i32, i32>;
        /// `fetch_add` on the count of departing readers a pending writer waits for.
        fn departing_add(&self, d: i32, o: Ordering) -> i32;
        fn reader_sleep(&self);
        fn reader_wake(&self);
        fn writer_sleep(&self);
        fn writer_wake(&self);
        /// The mutex that serialises writers.
        fn writers_lock(&self);
        fn writers_unlock(&self);
        /// Takes the writers' mutex only if it is free now.
        fn writers_try_lock(&self) -> bool;
        fn misuse(&self, msg: &str) -> !;
    }

    #[inline]
    pub(super) fn rlock(e: &impl Env) {
        if e.readers_add(1, Ordering::Acquire) + 1 < 0 {
            // A writer is pending: wait for it.
            e.reader_sleep();
        }
    }

    #[inline]
    pub(super) fn runlock(e: &impl Env) {
        let r = e.readers_add(-1, Ordering::Release) - 1;
        if r < 0 {
            runlock_slow(e, r);
        }
    }

    #[cold]
    fn runlock_slow(e: &impl Env, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            e.misuse("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending; the last departing reader wakes it.
        if e.departing_add(-1, Ordering::AcqRel) - 1 == 0 {
            e.writer_wake();
        }
    }

    pub(super) fn lock(e: &impl Env) {
        e.writers_lock();
        // Announce the writer; r = the readers in at that moment.
        let r = e.readers_add(-MAX_READERS, Ordering::AcqRel);
        if r != 0 && e.departing_add(r, Ordering::AcqRel) + r != 0 {
            e.writer_sleep();
        }
    }

    /// Go's `TryRLock`: a reader may enter while the count is not negative (no writer
    /// pending or in); a CAS instead of `rlock`'s add, so failing leaves no trace.
    pub(super) fn try_rlock(e: &impl Env) -> bool {
        let mut c = e.readers_load(Ordering::Relaxed);
        loop {
            if c < 0 {
                return false;
            }
            // Acquire: pairs with the Release of the previous writer's unlock, as in rlock.
            match e.readers_cas(c, c + 1, Ordering::Acquire) {
                Ok(_) => return true,
                Err(cur) => c = cur,
            }
        }
    }

    /// Go's `TryLock`: the writers' mutex if free, then announce the writer only if no
    /// reader is in (a writer that had to wait for readers would not be a try).
    pub(super) fn try_lock(e: &impl Env) -> bool {
        if !e.writers_try_lock() {
            return false;
        }
        // AcqRel as in lock: acquires the departed readers' and writer's releases.
        if e.readers_cas(0, -MAX_READERS, Ordering::AcqRel).is_err() {
            e.writers_unlock();
            return false;
        }
        true
    }

    pub(super) fn unlock(e: &impl Env) {
        let r = e.readers_add(MAX_READERS, Ordering::Release) + MAX_READERS;
        if r >= MAX_READERS {
            e.misuse("sync: Unlock of unlocked RWMutex");
        }
        for _ in 0..r {
            e.reader_wake();
        }
        e.writers_unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::RwMutex;

    /// The tries on the runtime's instance, on a plain thread: readers share, a writer
    /// excludes, and a failed try leaves nothing behind.
    #[test]
    fn tries() {
        let rw = RwMutex::new();
        assert!(rw.try_lock());
        assert!(!rw.try_lock());
        assert!(!rw.try_rlock());
        rw.unlock();
        assert!(rw.try_rlock());
        assert!(rw.try_rlock());
        assert!(!rw.try_lock());
        rw.runlock();
        rw.runlock();
        rw.lock();
        rw.unlock();
        assert!(rw.try_lock());
        rw.unlock();
        assert_eq!(rw.reader_count.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}

/// loom model of the RWMutex algorithm (`--cfg loom`, ctest `cargo-loom`): the code
/// above over loom counters, the semaphore model, and a binary semaphore as the writers'
/// mutex (the Mutex has its own model).
#[cfg(all(test, loom))]
mod loom_models {
    use super::super::model_sema::Sema;
    use super::algo::{self, Env};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicI32, Ordering};

    struct ModelEnv {
        readers: AtomicI32,
        departing: AtomicI32,
        reader_sem: Sema,
        writer_sem: Sema,
        writers: Sema,
        /// The protected data: plain, so loom reports any read/write or write/write pair
        /// the lock failed to order.
        data: UnsafeCell<u64>,
    }
    // SAFETY: `data` is only touched under the modelled lock (or after the joins).
    unsafe impl Sync for ModelEnv {}
    // SAFETY: as above.
    unsafe impl Send for ModelEnv {}

    impl Env for ModelEnv {
        fn readers_add(&self, d: i32, o: Ordering) -> i32 {
            self.readers.fetch_add(d, o)
        }
        fn readers_load(&self, o: Ordering) -> i32 {
            self.readers.load(o)
        }
        fn readers_cas(&self, cur: i32, new: i32, o: Ordering) -> Result<i32, i32> {
            self.readers.compare_exchange(cur, new, o, Ordering::Relaxed)
        }
        fn departing_add(&self, d: i32, o: Ordering) -> i32 {
            self.departing.fetch_add(d, o)
        }
        fn reader_sleep(&self) {
            self.reader_sem.acquire(false)
        }
        fn reader_wake(&self) {
            self.reader_sem.release(false)
        }
        fn writer_sleep(&self) {
            self.writer_sem.acquire(false)
        }
        fn writer_wake(&self) {
            self.writer_sem.release(false)
        }
        fn writers_lock(&self) {
            self.writers.acquire(false)
        }
        fn writers_unlock(&self) {
            self.writers.release(false)
        }
        fn writers_try_lock(&self) -> bool {
            self.writers.try_acquire()
        }
        fn misuse(&self, msg: &str) -> ! {
            panic!("{msg}")
        }
    }

    fn model_env() -> Arc<ModelEnv> {
        Arc::new(ModelEnv {
            readers: AtomicI32::new(0),
            departing: AtomicI32::new(0),
            reader_sem: Sema::new(0),
            writer_sem: Sema::new(0),
            writers: Sema::new(1),
            data: UnsafeCell::new(0),
        })
    }

    /// TryLock and TryRLock beside a blocking writer and reader: whatever succeeds is
    /// ordered with everything else (loom reports an unordered access to `data`), every
    /// successful try is counted, a failed try leaves no trace, and all is clean at the end.
    #[test]
    fn loom_rwmutex_try_variants() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let e = model_env();
            let try_writer = {
                let e = e.clone();
                loom::thread::spawn(move || {
                    if !algo::try_lock(&*e) {
                        return 0;
                    }
                    // SAFETY: written under the write lock (what the model checks).
                    e.data.with_mut(|d| unsafe { *d += 1 });
                    algo::unlock(&*e);
                    1
                })
            };
            let try_reader = {
                let e = e.clone();
                loom::thread::spawn(move || {
                    if algo::try_rlock(&*e) {
                        // SAFETY: read under the read lock (what the model checks).
                        let v = e.data.with(|d| unsafe { *d });
                        assert!(v <= 2);
                        algo::runlock(&*e);
                    }
                })
            };
            algo::lock(&*e);
            // SAFETY: written under the write lock (what the model checks).
            e.data.with_mut(|d| unsafe { *d += 1 });
            algo::unlock(&*e);
            algo::rlock(&*e);
            // SAFETY: read under the read lock.
            let seen = e.data.with(|d| unsafe { *d });
            assert!((1..=2).contains(&seen));
            algo::runlock(&*e);
            let tried = try_writer.join().unwrap();
            try_reader.join().unwrap();
            // SAFETY: every thread has been joined.
            assert_eq!(e.data.with(|d| unsafe { *d }), 1 + tried);
            assert_eq!(e.readers.load(Ordering::Relaxed), 0);
            assert_eq!(e.departing.load(Ordering::Relaxed), 0);
            e.reader_sem.assert_clean(0);
            e.writer_sem.assert_clean(0);
            e.writers.assert_clean(1);
        });
    }

    /// Two readers and two writers: a reader never overlaps a writer, writers never
    /// overlap each other, every write is seen by the end, and everything is left clean.
    #[test]
    fn loom_rwmutex_readers_and_writers() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let e = model_env();
            let reader = |e: Arc<ModelEnv>| {
                loom::thread::spawn(move || {
                    algo::rlock(&*e);
                    // SAFETY: read under the read lock (what the model checks).
                    let v = e.data.with(|d| unsafe { *d });
                    assert!(v <= 2);
                    algo::runlock(&*e);
                })
            };
            let writer = |e: Arc<ModelEnv>| {
                loom::thread::spawn(move || {
                    algo::lock(&*e);
                    // SAFETY: written under the write lock (what the model checks).
                    e.data.with_mut(|d| unsafe { *d += 1 });
                    algo::unlock(&*e);
                })
            };
            let ts = [reader(e.clone()), writer(e.clone()), reader(e.clone())];
            let w2 = writer(e.clone());
            for t in ts {
                t.join().unwrap();
            }
            w2.join().unwrap();
            // SAFETY: every thread has been joined.
            assert_eq!(e.data.with(|d| unsafe { *d }), 2);
            assert_eq!(e.readers.load(Ordering::Relaxed), 0);
            assert_eq!(e.departing.load(Ordering::Relaxed), 0);
            e.reader_sem.assert_clean(0);
            e.writer_sem.assert_clean(0);
            e.writers.assert_clean(1);
        });
    }
}
