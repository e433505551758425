//! Parallel marking with the world stopped.
//!
//! The collector gathers every root range (thread and goroutine stacks, registers,
//! registered ranges, runtime-held bytes) into one job table, then wakes the mark worker
//! threads. Each worker claims root jobs by an atomic index and scans them word by word,
//! conservatively: a word that points into an allocated object (any byte of it) marks the
//! object grey; a word that points into the heap's arenas but not into an object is
//! reported as a false pointer (the allocator keeps large objects off such pages). Then
//! every worker drains grey objects ([`super::work`]), scanning each precisely: only the
//! slots its type declares are pointers, and a slot's value keeps alive the object it
//! points into.
//!
//! The inner loop, tuned for the common heap of many small objects (binary-trees: 16-byte
//! nodes, one cache miss per object): a grey object is queued as one word, its base with
//! its size class ([`heap::GreyRef`]), so scanning it reads the pointer bitmap directly
//! instead of looking the object up again; objects popped from the worker's LIFO block
//! wait in a FIFO ring of [`PREFETCH_RING`] entries, their first line prefetched, so the
//! misses of several objects overlap; a small object's pointer bits come as one word and
//! are walked without a closure per slot; and the mark bit is tested with a plain load
//! before the locked `or`. Measured and not kept: deferring each `try_mark` through a
//! second ring after a prefetch-for-write of its mark word (slower: the locked `or` costs
//! about the same with the line at hand, and the extra queue costs more), a prefetch at
//! push time as well as in the ring (no difference), and setting the mark bits of the objects one scan found in
//! the same mark word with one atomic `or` (no faster: the bookkeeping cost what the
//! saved locked instructions did).
//!
//! The ring's depth: 64. On heap_pause's scattered lists (each step to the next object a
//! new page) the misses are TLB misses too, and more of them in flight pay: the 256 MiB
//! stop-the-world pause fell from 167-175 ms with 8 entries to 114-121 with 16, 87-91 with
//! 32 and 84-91 with 64 (single runs; 93-140 ms in the 3-run table of BENCHMARKS.md); in
//! the concurrent mode, which marks without huge pages, the churn step went from 49 to
//! 32-36 ns and the program's share of the CPU during a cycle from 64-68% to 70-74%.
//! binary-trees (a tree allocated depth-first, where the LIFO order alone has locality)
//! stayed within its run-to-run noise in time (11.9-14.3 s for every depth tried) but its
//! share of the CPU in the concurrent mode fell from 37-39% to 31-32%. An earlier
//! measurement on another VM had found 8 as good as 16. A shallower ring for assists
//! alone (8) did not change binary-trees' share.
//!
//! Workers are plain threads made once, before the first stop (thread creation calls
//! malloc, which a stopped thread may hold); they sleep on a futex between cycles. The
//! collector's own thread is worker 0. Nothing here allocates with `malloc`.

use super::work::{POOL, Worker};
use crate::mem::heap::{self, GreyRef, Obj};
use crate::sched::Note;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Words below this are small integers, never heap addresses (the first page is never
/// mapped): skipped without a lookup.
const MIN_ADDR: usize = 4096;

/// A conservative root range to scan: `[start, start + len)`.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct RootJob {
    pub start: usize,
    pub len: usize,
}

/// The job table: mmap'd, grown by remapping (never malloc: the world is stopped).
pub(crate) struct Jobs {
    ptr: *mut RootJob,
    len: usize,
    cap: usize,
}

impl Jobs {
    pub(crate) const fn new() -> Jobs {
        Jobs { ptr: ptr::null_mut(), len: 0, cap: 0 }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `[start, start + len)`, split into pieces of at most 256 KiB so that one big
    /// registered range is shared between workers.
    pub(crate) fn push(&mut self, start: usize, len: usize) {
        const PIECE: usize = 256 << 10;
        let (mut s, end) = (start, start.saturating_add(len));
        while s < end {
            let n = (end - s).min(PIECE);
            if self.len == self.cap {
                self.grow();
            }
            // SAFETY: len < cap after grow; the table is ours.
            unsafe { self.ptr.add(self.len).write(RootJob { start: s, len: n }) };
            self.len += 1;
            s += n;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let new_cap = (self.cap * 2).max(4096);
        let p = super::work::map_or_die(new_cap * std::mem::size_of::<RootJob>(), "out of memory: GC root table");
        if !self.ptr.is_null() {
            // SAFETY: the old table holds `len` jobs; the new one has room; then unmapped.
            unsafe {
                ptr::copy_nonoverlapping(self.ptr, p as *mut RootJob, self.len);
                libc::munmap(self.ptr as *mut libc::c_void, self.cap * std::mem::size_of::<RootJob>());
            }
        }
        self.ptr = p as *mut RootJob;
        self.cap = new_cap;
    }

    pub(crate) fn get(&self, i: usize) -> RootJob {
        assert!(i < self.len);
        // SAFETY: i < len.
        unsafe { self.ptr.add(i).read() }
    }
}

// SAFETY: the table is written by the collector only before workers start and read by
// them only while it does not change.
unsafe impl Sync for Jobs {}
// SAFETY: as above.
unsafe impl Send for Jobs {}

/// Copies of root ranges, for a concurrent mark: the first pause copies every root
/// range (a `memcpy`, fast) instead of scanning it (a lookup per word), and the
/// background worker scans the copies while the program runs. The copies are the
/// snapshot, so what the program writes to its roots and stacks afterwards does not
/// matter. One mapping, reused and grown between cycles (never malloc: the world is
/// stopped while it is filled).
pub(crate) struct RootCopies {
    ptr: *mut u8,
    cap: usize,
    /// Bytes the last `take` needed: the next cycle maps at least this much (and a
    /// quarter more) before its pause.
    last_need: usize,
}

impl RootCopies {
    pub(crate) const fn new() -> RootCopies {
        RootCopies { ptr: ptr::null_mut(), cap: 0, last_need: 0 }
    }

    /// Before the pause, with the world running: makes room for what the last cycle
    /// copied and a quarter more, with its pages already faulted in, so that the pause
    /// itself neither maps nor faults (with 10,000 goroutines the first pause took 64 ms
    /// where the following ones, copying into touched pages, took 14).
    pub(crate) fn reserve(&mut self) {
        let want = self.last_need + self.last_need / 4;
        if want > self.cap {
            self.remap(want, libc::MAP_POPULATE);
        }
    }

    fn remap(&mut self, bytes: usize, extra_flags: libc::c_int) {
        if !self.ptr.is_null() {
            // SAFETY: our own mapping of `cap` bytes, no copy in use (the last cycle ended).
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.cap) };
            self.ptr = ptr::null_mut();
            self.cap = 0;
        }
        let cap = bytes.next_multiple_of(1 << 20);
        let p = super::work::map_with_or_die(cap, extra_flags, "out of memory: GC root snapshot");
        self.ptr = p;
        self.cap = cap;
    }

    /// Copies every job's range and points the job at its copy. World stopped; the
    /// ranges are readable. Returns the bytes copied.
    pub(crate) fn take(&mut self, jobs: &mut Jobs) -> usize {
        let word = std::mem::size_of::<usize>();
        let need: usize = (0..jobs.len()).map(|i| jobs.get(i).len.next_multiple_of(word) + word).sum();
        self.last_need = need;
        if need > self.cap {
            // More than `reserve` foresaw: map now (mmap is a system call, not malloc),
            // populated in one call rather than a page fault per page of the copy.
            self.remap(need, libc::MAP_POPULATE);
        }
        let mut at = 0;
        for i in 0..jobs.len() {
            let j = jobs.get(i);
            // Keep the words' alignment: the copy starts at the same offset in a word.
            let skew = j.start % word;
            // SAFETY: the source range is readable (see above); the destination lies in our
            // mapping (`need` bytes were counted for it, skew included); no overlap.
            unsafe {
                let dst = self.ptr.add(at + skew);
                copy_root_bytes(j.start as *const u8, dst, j.len);
                // SAFETY: i < len.
                jobs.ptr.add(i).write(RootJob { start: dst as usize, len: j.len });
            }
            at += (skew + j.len).next_multiple_of(word);
        }
        at
    }
}

// SAFETY: used by the collector thread only.
unsafe impl Send for RootCopies {}

/// Copies root bytes: `memcpy`, except in the ASan build, where `memcpy` is checked and
/// a thread stack holds poisoned redzones between its locals (the scan itself reads them
/// word by word, unchecked): there, word by word with plain loads. Under valgrind the
/// copied words may be undefined, which is fine (the scan declares each loaded word
/// defined).
///
/// # Safety
/// `len` bytes readable at `src`, writable at `dst`, not overlapping; `src` and `dst`
/// have the same offset within a word.
unsafe fn copy_root_bytes(src: *const u8, dst: *mut u8, len: usize) {
    if !cfg!(feature = "asan") {
        // SAFETY: per the contract.
        unsafe { ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    let word = std::mem::size_of::<usize>();
    let mut i = 0;
    while i < len {
        if (src as usize + i).is_multiple_of(word) && i + word <= len {
            // SAFETY: per the contract; aligned and inside both ranges.
            unsafe { ptr::write((dst.add(i)) as *mut usize, ptr::read_volatile(src.add(i) as *const usize)) };
            i += word;
        } else {
            // SAFETY: per the contract.
            unsafe { dst.add(i).write(ptr::read_volatile(src.add(i))) };
            i += 1;
        }
    }
}

/// What one marking pass found.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct MarkResult {
    pub marked_bytes: usize,
}

/// Scans `[start, start+len)` conservatively, greying every object a word points into.
///
/// # Safety
/// The range is readable for the whole scan.
#[inline]
pub(crate) unsafe fn scan_conservative(start: usize, len: usize, w: &mut Worker) {
    let word = std::mem::size_of::<usize>();
    let mut p = (start + word - 1) & !(word - 1);
    let end = start.saturating_add(len);
    let mut batch = [None::<Obj>; ROOT_BATCH];
    let mut n = 0;
    while p + word <= end {
        // SAFETY: per the contract, [start, end) is readable; p is aligned and inside.
        let v = unsafe { load_word(p) };
        if v >= MIN_ADDR {
            match heap::find_object(v) {
                Some(o) if !o.is_marked() => {
                    batch[n] = Some(o);
                    n += 1;
                    if n == ROOT_BATCH {
                        batch.iter().flatten().for_each(|&o| grey(o, w));
                        n = 0;
                    }
                }
                Some(_) => {}
                None => heap::note_false_pointer(v),
            }
        }
        p += word;
    }
    batch[..n].iter().flatten().for_each(|&o| grey(o, w));
}

/// Root words looked up before their objects are marked: the lookups (plain loads, often
/// misses) of a whole batch overlap, where each locked `or` of a mark would otherwise
/// hold the next word's lookup back until it completes.
const ROOT_BATCH: usize = 16;

/// Reads the word at `p` for the collector. Under valgrind the copy is declared defined
/// (see [`crate::mem::valgrind::make_mem_defined`]).
///
/// # Safety
/// `p` is aligned and readable.
#[inline]
pub(crate) unsafe fn load_word(p: usize) -> usize {
    // SAFETY: per the contract.
    let mut v = unsafe { ptr::read_volatile(p as *const usize) };
    if crate::mem::valgrind::on_valgrind() {
        crate::mem::valgrind::make_mem_defined(&mut v as *mut usize as usize, std::mem::size_of::<usize>());
        // SAFETY: our own local.
        v = unsafe { ptr::read_volatile(&v) };
    }
    v
}

#[inline]
fn grey(o: Obj, w: &mut Worker) {
    if o.try_mark() {
        w.marked_bytes += o.size();
        if !o.is_noscan() {
            w.push(o.grey_ref().to_word());
        }
    }
}

/// Greys the object `v` points into, if it is a heap object.
#[inline(always)]
fn grey_word(v: usize, w: &mut Worker) {
    if v >= MIN_ADDR
        && let Some(t) = heap::find_object(v)
    {
        grey(t, w);
    }
}

/// Scans one grey object precisely, from its pointer bitmap (or a large object's type).
#[inline]
fn scan_object(r: GreyRef, w: &mut Worker) {
    w.scanned += 1;
    if let Some((base, mut bits)) = r.pointer_bits()
        && !crate::mem::valgrind::on_valgrind()
    {
        // The common case (small objects): one bitmap word, no closure per slot, and
        // plain loads (valgrind's path, which declares each loaded word defined, is below).
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // SAFETY: the slot lies inside a live heap object.
            let v = unsafe { ptr::read_volatile((base + k * 8) as *const usize) };
            grey_word(v, w);
        }
        return;
    }
    let found = r.for_each_pointer_slot(|slot| {
        // SAFETY: the slot lies inside a live heap object.
        let v = unsafe { load_word(slot) };
        grey_word(v, w);
    });
    if found.is_none() {
        crate::fatal::fatal("GC: grey object vanished");
    }
}

/// Grey objects taken off the stack wait this many scans in a FIFO ring, their first
/// line prefetched, so the cache misses of several objects overlap instead of each
/// scan stalling on its own (the LIFO stack alone would scan an object right after
/// pushing it).
const PREFETCH_RING: usize = 64;

/// Asks the CPU to start loading the line at `addr` (a hint: no fault, no effect on
/// what the program computes).
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults, whatever the address; SSE is baseline on x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a prefetch hint never faults and touches no register but its input.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) addr, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr;
}

/// Drains grey objects until marking terminates for every worker.
fn drain(w: &mut Worker) {
    drain_until(w, Limit::None);
}

/// Objects scanned between two looks at the limit (the clock, an assist's budget) in
/// [`drain_until`].
const CLOCK_EVERY: usize = 64;

/// When [`drain_until`] stops before marking terminates.
#[derive(Clone, Copy)]
enum Limit {
    /// Never: a stop-the-world mark.
    None,
    /// At this `nanotime`: a background worker's slice.
    Deadline(i64),
    /// Once the worker marked this many bytes, or a world stop waits for the thread: a
    /// mark assist (which never waits for work, nor counts among the workers).
    Assist(usize),
}

/// Drains grey objects until marking terminates (true) or the limit says stop (false:
/// the objects left stay in the worker's block).
fn drain_until(w: &mut Worker, limit: Limit) -> bool {
    let mut ring = [0usize; PREFETCH_RING];
    let (mut head, mut len) = (0, 0);
    let mut until_check = CLOCK_EVERY;
    loop {
        if !matches!(limit, Limit::None) {
            until_check -= 1;
            if until_check == 0 {
                until_check = CLOCK_EVERY;
                let stop = match limit {
                    Limit::Deadline(d) => crate::time::nanotime() >= d,
                    Limit::Assist(budget) => w.marked_bytes >= budget || crate::sched::world::stop_pending(),
                    Limit::None => false,
                };
                if stop {
                    for k in 0..len {
                        w.push(ring[(head + k) % PREFETCH_RING]);
                    }
                    return false;
                }
            }
        }
        // Top the ring up from the worker's own block; only when both are empty does
        // the worker take shared work or wait (the ring is private: termination must
        // see it empty).
        while len < PREFETCH_RING {
            let Some(word) = w.pop_local() else { break };
            prefetch(GreyRef::from_word(word).base());
            ring[(head + len) % PREFETCH_RING] = word;
            len += 1;
        }
        let word = if len > 0 {
            let word = ring[head];
            head = (head + 1) % PREFETCH_RING;
            len -= 1;
            word
        } else {
            let next = if matches!(limit, Limit::Assist(_)) { w.pop_nowait() } else { w.pop() };
            match next {
                Some(word) => word,
                None => return true,
            }
        };
        scan_object(GreyRef::from_word(word), w);
        w.balance();
    }
}

/// The background mark of a concurrent cycle, on the collector's thread: drains the
/// shared grey blocks in slices of `slice_ns`, sleeping between slices so that it uses
/// `duty` of one CPU (Go's fractional worker), until no grey object is left anywhere it
/// can see. Returns the bytes it marked.
pub(crate) fn mark_background(roots: &Jobs, duty: f64, slice_ns: i64) -> Background {
    let mut fig = Background::default();
    let cpu0 = thread_cpu_ns();
    let mut w = Worker::new();
    for i in 0..roots.len() {
        let j = roots.get(i);
        // SAFETY: the jobs point at the snapshot's copies, which live until the cycle ends.
        unsafe { scan_conservative(j.start, j.len, &mut w) };
        w.balance();
    }
    fig.dedicated_cpu_ns += thread_cpu_ns() - cpu0;
    loop {
        POOL.begin(1);
        let idle = crate::sched::proc::idle_ps() > 0;
        let cpu0 = thread_cpu_ns();
        let deadline = crate::time::nanotime() + slice_ns;
        let finished = drain_until(&mut w, Limit::Deadline(deadline));
        let cpu = thread_cpu_ns() - cpu0;
        if idle {
            fig.idle_cpu_ns += cpu;
        } else {
            fig.dedicated_cpu_ns += cpu;
        }
        let marked = std::mem::take(&mut w.marked_bytes);
        super::collector::add_marked(marked as u64);
        fig.marked += marked;
        if finished {
            super::work::MUTATOR_BUF.flush();
            if Worker::shared_work() {
                continue;
            }
            if super::barrier::ASSISTS_RUNNING.load(Ordering::SeqCst) == 0 {
                return fig;
            }
            // An assist holds grey objects it will publish when it ends.
            std::thread::yield_now();
            continue;
        }
        // Go's idle mark workers: a P with nothing to run lends its CPU to the mark, so
        // the worker sleeps (keeps to its 25%) only while every P has work.
        if duty < 1.0 && crate::sched::proc::idle_ps() == 0 {
            // Publish what is left, so assists can take it while this thread sleeps.
            w.flush();
            let pause = (slice_ns as f64 * (1.0 - duty) / duty) as i64;
            let ts = libc::timespec {
                tv_sec: (pause / 1_000_000_000) as libc::time_t,
                tv_nsec: (pause % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: a valid timespec; an early wake-up only shortens the pause.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        }
    }
}

/// What the background worker did in one concurrent mark.
#[derive(Default, Clone, Copy)]
pub(crate) struct Background {
    /// Bytes of objects it marked (the root copies' finds included).
    pub marked: usize,
    /// CPU time while every P had work (the share Go's dedicated and fractional workers
    /// take from the program), and while some P was idle (Go's idle workers: CPU time
    /// the program was not using).
    pub dedicated_cpu_ns: u64,
    pub idle_cpu_ns: u64,
}

/// CPU time of the calling thread.
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A mark assist: scans grey objects from the shared blocks until `budget` bytes of
/// objects are newly marked or none is left; publishes what it greyed and did not scan.
/// The caller is a mutator inside a no-suspend section. Returns the bytes it marked.
pub(crate) fn assist_mark(budget: u64) -> u64 {
    let mut w = Worker::new();
    drain_until(&mut w, Limit::Assist(budget as usize));
    w.flush();
    w.marked_bytes as u64
}

/// Greys the objects a finalizable object points to, but not the object itself (its
/// referents must survive for the finalizer; the object is reachable from its finalizer
/// only if something else makes it so). Called by the collector for each finalizer.
pub(crate) fn grey_referents(base: usize, w: &mut Worker) {
    if let Some(o) = heap::find_object(base) {
        o.for_each_pointer_slot(|slot| {
            // SAFETY: inside a heap object.
            let v = unsafe { load_word(slot) };
            grey_word(v, w);
        });
    }
}

/// Greys `base` itself (a finalizer's object being resurrected for its finalizer).
pub(crate) fn grey_object(base: usize, w: &mut Worker) {
    if let Some(o) = heap::find_object(base) {
        grey(o, w);
    }
}

/// The worker threads and the cycle they work on.
struct Crew {
    /// Incremented to start a round; workers wait for it to change.
    round: AtomicU32,
    /// Workers still busy in the current round.
    busy: AtomicUsize,
    done: Note,
    /// The round's job table and where the next unclaimed job is.
    jobs: AtomicUsize, // *const Jobs
    next_job: AtomicUsize,
    /// Per-round results, summed by the workers.
    marked_bytes: AtomicUsize,
    scanned: AtomicUsize,
    /// Helper threads started (the collector is worker 0).
    helpers: usize,
}

static CREW: OnceLock<Arc<Crew>> = OnceLock::new();
static CREW_STARTING: AtomicBool = AtomicBool::new(false);

/// Starts the helper threads (once, with the world running): one fewer than the number
/// of Ps, at most 7.
pub(crate) fn ensure_workers(procs: usize) {
    if CREW.get().is_some() || CREW_STARTING.swap(true, Ordering::AcqRel) {
        return;
    }
    let helpers = procs.clamp(1, 8) - 1;
    let crew = Arc::new(Crew {
        round: AtomicU32::new(0),
        busy: AtomicUsize::new(0),
        done: Note::new(),
        jobs: AtomicUsize::new(0),
        next_job: AtomicUsize::new(0),
        marked_bytes: AtomicUsize::new(0),
        scanned: AtomicUsize::new(0),
        helpers,
    });
    for i in 0..helpers {
        let c = crew.clone();
        let _counted = crate::sched::proc::helper_thread_starting(); // failure is fatal
        std::thread::Builder::new()
            .name(format!("gort-gc{}", i + 1))
            .spawn(move || helper_loop(&c))
            .unwrap_or_else(|_| crate::fatal::fatal("cannot start GC worker thread"));
    }
    let _ = CREW.set(crew);
}

fn helper_loop(c: &Crew) {
    // The crew is made before any round starts: round 0 has been seen. (Loading it here
    // instead would miss a round started before this thread first ran, and the
    // collector would wait for this helper for ever.)
    let mut seen = 0;
    loop {
        while c.round.load(Ordering::Acquire) == seen {
            crate::sched::note::futex_wait(&c.round, seen, None);
        }
        seen = c.round.load(Ordering::Acquire);
        crate::mem::valgrind::disable_error_reporting(true);
        work(c);
        crate::mem::valgrind::disable_error_reporting(false);
        if c.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            c.done.wakeup();
        }
    }
}

fn work(c: &Crew) {
    // SAFETY: the collector keeps the table alive and unchanged for the round.
    let jobs = unsafe { &*(c.jobs.load(Ordering::Acquire) as *const Jobs) };
    let mut w = Worker::new();
    loop {
        let i = c.next_job.fetch_add(1, Ordering::AcqRel);
        if i >= jobs.len() {
            break;
        }
        let j = jobs.get(i);
        // SAFETY: root ranges are readable while the world is stopped (the collector
        // gathered only live stacks, registered ranges and runtime-held buffers).
        unsafe { scan_conservative(j.start, j.len, &mut w) };
        // Share roots' finds early: others may already be idle.
        w.balance();
    }
    drain(&mut w);
    c.marked_bytes.fetch_add(w.marked_bytes, Ordering::Relaxed);
    c.scanned.fetch_add(w.scanned, Ordering::Relaxed);
}

/// Marks everything reachable from `jobs` (and from whatever `seed` greys), with the
/// helper threads if `parallel` (the end of a concurrent mark usually has little left,
/// and waking the helpers would cost more than it saves); returns when marking has
/// terminated. The world is stopped.
pub(crate) fn mark_with(jobs: &Jobs, parallel: bool, seed: impl FnOnce(&mut Worker)) -> MarkResult {
    let crew = if parallel { CREW.get().cloned() } else { None };
    let helpers = crew.as_ref().map_or(0, |c| c.helpers);
    POOL.begin(helpers + 1);
    let Some(c) = crew else {
        // No helpers (a single P, or before they started): mark alone.
        let mut w = Worker::new();
        seed(&mut w);
        for i in 0..jobs.len() {
            let j = jobs.get(i);
            // SAFETY: as in `work`.
            unsafe { scan_conservative(j.start, j.len, &mut w) };
        }
        drain(&mut w);
        return MarkResult { marked_bytes: w.marked_bytes };
    };
    c.jobs.store(jobs as *const Jobs as usize, Ordering::Release);
    c.next_job.store(0, Ordering::Release);
    c.marked_bytes.store(0, Ordering::Relaxed);
    c.scanned.store(0, Ordering::Relaxed);
    c.busy.store(helpers, Ordering::Release);
    // The seed goes first, into a worker of the collector's own that the helpers can
    // take work from once it overflows.
    let mut w0 = Worker::new();
    seed(&mut w0);
    c.round.fetch_add(1, Ordering::AcqRel);
    // SAFETY: wakes the helpers sleeping on `round`.
    unsafe {
        libc::syscall(libc::SYS_futex, c.round.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
    }
    crate::mem::valgrind::disable_error_reporting(true);
    loop {
        let i = c.next_job.fetch_add(1, Ordering::AcqRel);
        if i >= jobs.len() {
            break;
        }
        let j = jobs.get(i);
        // SAFETY: as in `work`.
        unsafe { scan_conservative(j.start, j.len, &mut w0) };
        w0.balance();
    }
    drain(&mut w0);
    crate::mem::valgrind::disable_error_reporting(false);
    while c.busy.load(Ordering::Acquire) != 0 {
        c.done.sleep(None);
    }
    MarkResult { marked_bytes: c.marked_bytes.load(Ordering::Relaxed) + w0.marked_bytes }
}

/// Threads that mark in a cycle (the collector and its helpers).
pub(crate) fn workers() -> usize {
    CREW.get().map_or(1, |c| c.helpers + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first pause's copies hold exactly the bytes of every root range, at the same
    /// offset within a word, and the jobs point at them.
    #[test]
    fn root_copies_keep_bytes_and_word_offsets() {
        let a: Vec<usize> = (0..1000).map(|i| i * 7919).collect();
        let b = [0xabu8; 37];
        let mut jobs = Jobs::new();
        jobs.push(a.as_ptr() as usize, std::mem::size_of_val(&a[..]));
        jobs.push(b.as_ptr() as usize + 3, 30); // starts mid-word, ends mid-word
        let mut copies = RootCopies::new();
        let copied = copies.take(&mut jobs);
        assert!(copied >= a.len() * 8 + 30);
        let j0 = jobs.get(0);
        assert_ne!(j0.start, a.as_ptr() as usize);
        // SAFETY: the copy holds j0.len bytes.
        let c0 = unsafe { std::slice::from_raw_parts(j0.start as *const usize, a.len()) };
        assert_eq!(c0, &a[..]);
        let j1 = jobs.get(1);
        assert_eq!(j1.start % 8, (b.as_ptr() as usize + 3) % 8);
        // SAFETY: as above.
        let c1 = unsafe { std::slice::from_raw_parts(j1.start as *const u8, j1.len) };
        assert_eq!(c1, &b[3..33]);
        // Reused (and grown) by the next cycle.
        let big = vec![1usize; 300_000];
        jobs.clear();
        jobs.push(big.as_ptr() as usize, big.len() * 8);
        copies.take(&mut jobs);
        let mut sum = 0;
        for i in 0..jobs.len() {
            let j = jobs.get(i);
            // SAFETY: each job points into the copy.
            sum += unsafe { std::slice::from_raw_parts(j.start as *const usize, j.len / 8) }.iter().sum::<usize>();
        }
        assert_eq!(sum, big.len());
    }
}
