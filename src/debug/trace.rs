//! The execution trace: what every goroutine and P did, when, as Chrome's Trace Event
//! JSON (opened by Perfetto, `chrome://tracing` and `about:tracing`).
//!
//! # What is recorded
//! A goroutine moves through states, and each move is one event:
//! create → runnable → running → blocked (reason) → runnable → running → … → end, with
//! yields and time-slice ends (running → runnable) and blocking regions
//! (`gort_blocking_enter/exit`) inside running. Ps start and stop. In the JSON:
//! - one track per goroutine (process "goroutines", thread id = goroutine id) holding a
//!   complete slice (`"ph":"X"`) per state it was in: `running`, `runnable`, or the wait
//!   reason (`chan receive`, `sleep`, `IO wait`, …), plus instants (`"ph":"i"`) `GoCreate`
//!   (args: parent), `GoBlock` (args: reason), `GoUnblock` (args: by, the waking goroutine,
//!   0 for a thread, a timer or the netpoller) and `GoEnd`;
//! - a blocking region as a `B`/`E` pair on the goroutine's track;
//! - one track per P (process "Ps") with a slice `G n` for each stretch a goroutine ran
//!   on it, and instants `ProcStart`/`ProcStop`.
//!
//! Netpoll waits and timers show as the blocked slices they end (`IO wait`, `sleep`).
//!
//! # How
//! Recording is cheap and conversion comes at the end, as with Go's binary trace and
//! `go tool trace`, except that the conversion is ours and runs in `gort_trace_stop`.
//! Each hook starts with one relaxed load of [`TRACING`]: nothing else happens when no
//! trace runs. A traced event is a 32-byte record ([`Ev`]: raw TSC stamp, goroutine,
//! one argument, the kind and the wait reason) appended to the calling thread's buffer
//! ([`Buf`]; with `membarrier`, taking it is a plain store, see [`Buf::claim`]). Nothing
//! is looked up when an event is recorded: where each state began is worked out later.
//! A full buffer (8192 events) goes to the `gort-trace` thread ([`Queue`]), which
//! appends it as is to the session's spool ([`Spool`]: an unlinked temporary file, or a
//! memfd), so memory stays flat however long the trace.
//!
//! `gort_trace_stop` spools what is left in the threads' buffers, maps the spool, merges
//! its chunks (each one thread's events in order) into one stream in time order, follows
//! each goroutine through its states ([`follow`]: the start of the state an event ends,
//! the P it ran on), and writes the JSON in 1 MiB pieces. Times are converted from TSC
//! stamps to `nanotime` nanoseconds ([`Clock`]) and written in microseconds with three
//! decimals.
//!
//! The split is what the 2x goal on a channel round trip (BENCHMARKS.md) needs: a round
//! trip is 6 events of 32 bytes, about 140 ns to record, against 12 JSON objects and about
//! 1 KB of text, which take about 1.2 µs to format however the work is spread. The cost is
//! a stop that takes as long as the formatting (0.1 µs per event) and a spool of 32 bytes
//! per event on disk meanwhile. The first version formatted while the program ran: the
//! program slowed to the formatter's pace (9x), and recording took a lock per event to
//! keep the streamed slices consistent (3x on its own).
//!
//! Events are formatted only at the stop, so a goroutine that exists before the trace
//! starts still gets a named track the first time it appears.
//!
//! Rejected: Go's binary trace format (only `go tool trace` reads it, and it changes
//! between releases); a global lock per event (measured: it serialises the Ps); JSON
//! formatted while the program runs (above).

use crate::sched::G;
use parking_lot::Mutex;
use std::cell::{Cell, UnsafeCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// True while a trace runs. Read by every hook.
static TRACING: AtomicBool = AtomicBool::new(false);
/// Bumped by every start: events of an earlier session left in a buffer are dropped.
static SESSION: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Create,
    Start,
    Block,
    Unblock,
    Sched,
    End,
    SyscallEnter,
    SyscallExit,
    ProcStart,
    ProcStop,
}

/// `Kind` by discriminant.
const KINDS: [Kind; 10] = [
    Kind::Create,
    Kind::Start,
    Kind::Block,
    Kind::Unblock,
    Kind::Sched,
    Kind::End,
    Kind::SyscallEnter,
    Kind::SyscallExit,
    Kind::ProcStart,
    Kind::ProcStop,
];

/// One recorded event, 32 bytes, spooled as is (see the module docs): no state looked
/// up when it is recorded, so recording takes no lock.
#[derive(Clone, Copy)]
#[repr(C)]
struct Ev {
    /// Raw stamp (see [`now`]).
    ts: i64,
    g: i64,
    /// Create: the parent; Unblock: the waker; Start, ProcStart, ProcStop: the P.
    other: i64,
    /// The wait reason of a Block or Unblock, a `&'static str`: its address (48 bits,
    /// a user-space pointer), its length (8 bits, clipped) and the kind (top 8 bits).
    meta: u64,
}

impl Ev {
    fn new(kind: Kind, other: i64, ts: i64, g: i64, reason: &'static str) -> Ev {
        // Wait reasons are gort's own short ASCII names; a long one is not cut mid-character.
        let reason = if reason.len() > 255 { "(wait reason too long)" } else { reason };
        debug_assert!((reason.as_ptr() as u64) >> 48 == 0);
        let len = reason.len() as u64;
        let meta = (reason.as_ptr() as u64 & ((1 << 48) - 1)) | (len << 48) | ((kind as u64) << 56);
        Ev { ts, g, other, meta }
    }

    fn kind(&self) -> Kind {
        KINDS[(self.meta >> 56) as usize]
    }

    /// The P of a Start, ProcStart or ProcStop.
    fn p(&self) -> u32 {
        self.other as u32
    }

    fn reason(&self) -> &'static str {
        let ptr = (self.meta & ((1 << 48) - 1)) as *const u8;
        let len = ((self.meta >> 48) & 0xff) as usize;
        // SAFETY: made from a `&'static str` of at most 255 bytes by `new` (the binary's
        // static strings lie below 2^48), and spooled bytes are read back only by this
        // process, where the string still lives.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) }
    }
}

/// A thread's event buffer. Never freed; reused by later threads once its owner exits.
struct Buf {
    /// Held by the owner while appending and by `stop` while draining.
    busy: AtomicBool,
    /// The session the events belong to.
    session: Cell<u64>,
    /// Guarded by `busy`.
    events: UnsafeCell<Vec<Ev>>,
    /// True while a live thread owns this buffer.
    owned: AtomicBool,
}

// SAFETY: `events` and `session` are only touched with `busy` held.
unsafe impl Sync for Buf {}

impl Buf {
    /// The owner's side: takes the buffer to append, or returns false when the trace has
    /// ended meanwhile. With `membarrier` (see `sched::membarrier`) a plain store and a
    /// re-check of [`TRACING`] do, because `stop_trace` makes every thread execute a full
    /// barrier between clearing `TRACING` and taking the buffers: an owner's `busy` store
    /// is then either visible to it, or followed (after that barrier) by a load that sees
    /// the trace ended. Without it, the atomic swap of [`Buf::lock`] (about 7 ns here, a
    /// fifth of an event's cost).
    #[inline]
    fn claim(&self) -> bool {
        if crate::sched::membarrier::available() {
            self.busy.store(true, Ordering::Relaxed);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            if !on() {
                self.busy.store(false, Ordering::Release);
                return false;
            }
            return true;
        }
        self.lock();
        true
    }

    fn lock(&self) {
        while self.busy.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }

    fn unlock(&self) {
        self.busy.store(false, Ordering::Release);
    }
}

/// Every buffer ever made.
static BUFS: Mutex<Vec<&'static Buf>> = Mutex::new(Vec::new());

/// Gives the buffer back when its thread exits.
struct Owner(&'static Buf);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.owned.store(false, Ordering::Release);
    }
}

thread_local! {
    static MINE: Cell<Option<&'static Buf>> = const { Cell::new(None) };
    static OWNER: UnsafeCell<Option<Owner>> = const { UnsafeCell::new(None) };
}

/// Events per buffer before its thread writes them out.
const FLUSH_AT: usize = 8192;

fn my_buf() -> &'static Buf {
    if let Some(b) = MINE.with(|m| m.get()) {
        return b;
    }
    let b = {
        let mut all = BUFS.lock();
        match all.iter().find(|b| b.owned.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()) {
            Some(b) => *b,
            None => {
                let b: &'static Buf = Box::leak(Box::new(Buf {
                    busy: AtomicBool::new(false),
                    session: Cell::new(0),
                    events: UnsafeCell::new(Vec::new()),
                    owned: AtomicBool::new(true),
                }));
                all.push(b);
                b
            }
        }
    };
    MINE.with(|m| m.set(Some(b)));
    // SAFETY: only this thread touches its OWNER slot.
    OWNER.with(|o| unsafe { *o.get() = Some(Owner(b)) });
    b
}

#[cold]
fn emit(ev: Ev) {
    let session = SESSION.load(Ordering::Acquire);
    let b = my_buf();
    if !b.claim() {
        return;
    }
    // SAFETY: `busy` is held.
    let events = unsafe { &mut *b.events.get() };
    if b.session.get() != session {
        events.clear();
        b.session.set(session);
    }
    if events.capacity() == 0 {
        events.reserve_exact(FLUSH_AT);
    }
    events.push(ev);
    if events.len() < FLUSH_AT {
        b.unlock();
        return;
    }
    let full = std::mem::take(events);
    b.unlock();
    let fresh = hand_off(full, session);
    if !b.claim() {
        return;
    }
    // SAFETY: `busy` is held.
    let events = unsafe { &mut *b.events.get() };
    if events.capacity() == 0 {
        *events = fresh;
    }
    b.unlock();
}

/// Full buffers waiting for the writer thread (`gort-trace`, at the lowest priority),
/// which appends them to the spool. Past [`MAX_QUEUED`] waiting buffers the thread that
/// filled one spools it itself, so a stalled writer bounds memory. Spooled buffers are
/// reused (fresh ones cost a page-zeroing fault per 128 events).
struct Queue {
    chunks: std::collections::VecDeque<(u64, Vec<Ev>)>,
    /// The writer thread is spooling a chunk it took.
    busy: bool,
    /// The writer thread exists.
    started: bool,
    /// A stop waits for everything queued to be spooled.
    flushing: bool,
    /// Spooled buffers, empty, for reuse: a fresh 256 KiB buffer per 8192 events makes
    /// the kernel zero its pages on first touch.
    free: Vec<Vec<Ev>>,
}

const MAX_QUEUED: usize = (16 << 20) / (FLUSH_AT * std::mem::size_of::<Ev>());
/// Queued buffers at which the writer starts draining (see [`Queue`]).
const WRITE_BEHIND: usize = 1;

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    chunks: std::collections::VecDeque::new(),
    busy: false,
    started: false,
    flushing: false,
    free: Vec::new(),
});
static QUEUE_CV: parking_lot::Condvar = parking_lot::Condvar::new();

/// Gives a full buffer to the writer (or writes it, see [`Queue`]); returns an empty one
/// to fill next.
fn hand_off(mut evs: Vec<Ev>, session: u64) -> Vec<Ev> {
    let mut q = QUEUE.lock();
    if q.started && q.chunks.len() < MAX_QUEUED {
        q.chunks.push_back((session, evs));
        if q.chunks.len() >= WRITE_BEHIND {
            QUEUE_CV.notify_all();
        }
        return q.free.pop().unwrap_or_else(|| Vec::with_capacity(FLUSH_AT));
    }
    drop(q);
    spool_events(&evs, session);
    evs.clear();
    evs
}

/// Starts the writer thread once (it stays for later traces).
fn start_writer() -> bool {
    let mut q = QUEUE.lock();
    if q.started {
        return true;
    }
    extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
        // Spooling competes with the program for the CPU: it yields to the program's threads.
        // SAFETY: setpriority on this thread (Linux: PRIO_PROCESS with a thread id).
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
        let mut draining = false;
        loop {
            let mut q = QUEUE.lock();
            // Drain once WRITE_BEHIND buffers wait (or a stop asks: `flushing`), down to
            // empty; then wait for the next batch.
            while q.chunks.is_empty() || !(draining || q.flushing || q.chunks.len() >= WRITE_BEHIND) {
                draining = false;
                QUEUE_CV.wait(&mut q);
            }
            draining = true;
            let (session, mut evs) = q.chunks.pop_front().expect("not empty");
            q.busy = true;
            drop(q);
            spool_events(&evs, session);
            evs.clear();
            let mut q = QUEUE.lock();
            q.busy = false;
            if q.free.len() < 64 {
                q.free.push(evs);
            }
            drop(q);
            QUEUE_CV.notify_all();
        }
    }
    let counted = crate::sched::proc::helper_thread_starting();
    if crate::sched::proc::spawn_thread("gort-trace", 256 * 1024, body, std::ptr::null_mut()).is_err() {
        counted.cancel();
        return false; // the goroutines' threads write their own buffers then
    }
    q.started = true;
    true
}

/// Waits until the writer thread has written everything handed to it.
fn wait_writer_idle() {
    let mut q = QUEUE.lock();
    q.flushing = true;
    QUEUE_CV.notify_all();
    while !q.chunks.is_empty() || q.busy {
        QUEUE_CV.wait(&mut q);
    }
    q.flushing = false;
}

#[inline]
fn on() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// True while a trace runs.
pub(crate) fn tracing() -> bool {
    on()
}

/// Use the TSC for timestamps (set at trace start when the kernel's clocksource is the
/// TSC, i.e. it is invariant and synchronised across CPUs); else `nanotime`.
static USE_TSC: AtomicBool = AtomicBool::new(false);

/// An event's timestamp: raw TSC ticks (about 8 ns to read here, where the vDSO clock
/// costs 20: two thirds of a traced event) or `nanotime`; [`Clock`] converts.
#[inline]
fn now() -> i64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: rdtsc has no preconditions on x86_64.
        return unsafe { core::arch::x86_64::_rdtsc() } as i64;
    }
    crate::time::nanotime()
}

/// Converts event timestamps to `nanotime` nanoseconds: `ns0 + (stamp - stamp0) * scale`.
#[derive(Clone, Copy)]
struct Clock {
    stamp0: i64,
    ns0: i64,
    scale: f64,
}

impl Clock {
    /// Measures the stamp rate against `nanotime` for about a millisecond.
    fn calibrate() -> Clock {
        let tsc = cfg!(target_arch = "x86_64")
            && std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                .is_ok_and(|c| c.trim() == "tsc");
        USE_TSC.store(tsc, Ordering::Relaxed);
        let (s0, n0) = (now(), crate::time::nanotime());
        if !tsc {
            return Clock { stamp0: s0, ns0: s0, scale: 1.0 };
        }
        let mut n1 = n0;
        while n1 - n0 < 1_000_000 {
            std::hint::spin_loop();
            n1 = crate::time::nanotime();
        }
        let s1 = now();
        Clock { stamp0: s0, ns0: n0, scale: (n1 - n0) as f64 / (s1 - s0).max(1) as f64 }
    }

    fn ns(&self, stamp: i64) -> i64 {
        self.ns0 + ((stamp - self.stamp0) as f64 * self.scale) as i64
    }
}

/// A goroutine was made (by the running goroutine `parent`, 0 for none).
#[inline]
pub(crate) fn create(g: &G, parent: i64) {
    if on() {
        emit(Ev::new(Kind::Create, parent, now(), g.id(), ""));
    }
}

thread_local! {
    /// The stamp of this thread's last Block event, until the next Start: a goroutine
    /// switched to directly from a parking one starts at that stamp. A clock reading
    /// costs about 13 ns here, a fifth of a traced channel round trip's 6 events.
    static LEFT_AT: Cell<i64> = const { Cell::new(0) };
}

/// `g` starts running on P `p`; `direct`: switched to straight from a goroutine that
/// just left (if it parked, its Block stamp is this Start's too, some 30 ns early).
#[inline]
pub(crate) fn start(g: &G, p: usize, direct: bool) {
    if on() {
        let left = LEFT_AT.replace(0);
        let ts = if direct && left != 0 { left } else { now() };
        emit(Ev::new(Kind::Start, p as i64, ts, g.id(), ""));
    }
}

/// The running `g` is about to park for `reason`.
#[inline]
pub(crate) fn block(g: &G, reason: &'static str) {
    if on() {
        let ts = now();
        LEFT_AT.set(ts);
        emit(Ev::new(Kind::Block, 0, ts, g.id(), reason));
    }
}

/// The running `g` yields or its time slice ended: running → runnable.
#[inline]
pub(crate) fn sched(g: &G) {
    if on() {
        emit(Ev::new(Kind::Sched, 0, now(), g.id(), ""));
    }
}

/// The running `g` ends.
#[inline]
pub(crate) fn end(g: &G) {
    if on() {
        emit(Ev::new(Kind::End, 0, now(), g.id(), ""));
    }
}

/// The parked `g` was made runnable by whoever runs now.
#[inline]
pub(crate) fn unblock(g: &G) {
    if on() {
        let cur = crate::sched::current_g();
        // SAFETY: Gs are never freed.
        let by = if cur.is_null() { 0 } else { unsafe { &*cur }.id() };
        emit(Ev::new(Kind::Unblock, by, now(), g.id(), g.wait_reason.get()));
    }
}

/// The running goroutine enters (`true`) or leaves a blocking region.
#[inline]
pub(crate) fn syscall(enter: bool) {
    if on() {
        let cur = crate::sched::current_g();
        if cur.is_null() {
            return;
        }
        // SAFETY: Gs are never freed.
        let g = unsafe { &*cur }.id();
        let kind = if enter { Kind::SyscallEnter } else { Kind::SyscallExit };
        emit(Ev::new(kind, 0, now(), g, ""));
    }
}

/// P `p` starts (`true`) or stops running goroutines on some M.
#[inline]
pub(crate) fn proc(p: usize, start: bool) {
    if on() {
        let kind = if start { Kind::ProcStart } else { Kind::ProcStop };
        emit(Ev::new(kind, p as i64, now(), 0, ""));
    }
}

/// The recorded events of one session, in a file of their own (unlinked: `O_TMPFILE` in
/// `$TMPDIR` or /tmp, else a `memfd`), as written: each chunk one thread's events in
/// the order they happened.
struct Spool {
    fd: i32,
    /// Bytes written.
    len: u64,
    /// Each chunk's byte offset and event count.
    chunks: Vec<(u64, usize)>,
}

impl Spool {
    fn open() -> Option<Spool> {
        let dir = std::env::var("TMPDIR").ok().filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
        let fd = std::ffi::CString::new(dir)
            .ok()
            // SAFETY: a NUL-terminated path; O_TMPFILE makes an unnamed file there.
            .map(|d| unsafe { libc::open(d.as_ptr(), libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC, 0o600) })
            .filter(|&fd| fd >= 0)
            // SAFETY: a NUL-terminated name; the memfd is ours.
            .or_else(|| Some(unsafe { libc::memfd_create(c"gort-trace".as_ptr(), libc::MFD_CLOEXEC) }))
            .filter(|&fd| fd >= 0)?;
        Some(Spool { fd, len: 0, chunks: Vec::new() })
    }

    /// Appends one chunk; false if the write failed.
    fn append(&mut self, evs: &[Ev]) -> bool {
        if evs.is_empty() {
            return true;
        }
        // SAFETY: `Ev` is plain data (repr(C), no padding: four 8-byte fields).
        let bytes = unsafe { std::slice::from_raw_parts(evs.as_ptr() as *const u8, std::mem::size_of_val(evs)) };
        if super::write_all(self.fd, bytes).is_err() {
            return false;
        }
        self.chunks.push((self.len, evs.len()));
        self.len += bytes.len() as u64;
        true
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Where the JSON goes, and what is needed to format it.
struct Writer {
    fd: i32,
    session: u64,
    /// Trace start (ns): slices that began earlier are clipped to it.
    t0: i64,
    /// Stamps to nanoseconds.
    clock: Clock,
    /// Goroutines whose track has been named.
    named: HashSet<i64>,
    /// Write failed: drop the rest.
    failed: bool,
    /// Formatting buffer, reused.
    out: Vec<u8>,
    /// The session's events until the stop converts them.
    spool: Spool,
}

static WRITER: Mutex<Option<Writer>> = Mutex::new(None);

/// Why a start or stop failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TraceError {
    /// `start`: a trace already runs. `stop`: none runs.
    State,
    /// Writing to the fd failed (errno).
    Io(i32),
}

/// `gort_trace_start`: begins a trace to `fd` (not closed by gort).
pub(crate) fn start_trace(fd: i32) -> Result<(), TraceError> {
    let mut w = WRITER.lock();
    if w.is_some() {
        return Err(TraceError::State);
    }
    let head = concat!(
        "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"gort\"},\"traceEvents\":[\n",
        "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,\"args\":{\"name\":\"goroutines\"}},\n",
        "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":2,\"tid\":0,\"args\":{\"name\":\"Ps\"}}"
    );
    let spool = Spool::open().ok_or(TraceError::Io(libc::ENOSPC))?;
    super::write_all(fd, head.as_bytes()).map_err(TraceError::Io)?;
    start_writer();
    let session = SESSION.fetch_add(1, Ordering::AcqRel) + 1;
    let clock = Clock::calibrate();
    let t0 = now();
    *w = Some(Writer { fd, session, t0, clock, named: HashSet::new(), failed: false, out: Vec::new(), spool });
    drop(w);
    TRACING.store(true, Ordering::SeqCst);
    super::update_observed();
    // The Ps running now: one ProcStart each, so their tracks begin at the start.
    for i in 0..crate::sched::gomaxprocs() {
        emit(Ev::new(Kind::ProcStart, i as i64, t0, 0, ""));
    }
    Ok(())
}

/// `gort_trace_stop`: spools what is still buffered, converts the session's events to
/// JSON (see the module docs), closes the JSON and ends the trace.
pub(crate) fn stop_trace() -> Result<(), TraceError> {
    if WRITER.lock().is_none() {
        return Err(TraceError::State);
    }
    TRACING.store(false, Ordering::SeqCst);
    super::update_observed();
    if crate::sched::membarrier::available() {
        // The other side of `Buf::claim`.
        crate::sched::membarrier::heavy_barrier();
    }
    let session = SESSION.load(Ordering::Acquire);
    wait_writer_idle();
    let bufs: Vec<&'static Buf> = BUFS.lock().clone();
    for b in bufs {
        b.lock();
        // SAFETY: `busy` is held.
        let events = unsafe { &mut *b.events.get() };
        if b.session.get() == session {
            spool_events(events, session);
            events.clear();
        }
        b.unlock();
    }
    let Some(mut w) = WRITER.lock().take() else { return Err(TraceError::State) };
    if !w.failed {
        convert(&mut w);
    }
    if w.failed {
        return Err(TraceError::Io(libc::EIO));
    }
    super::write_all(w.fd, b"\n]}\n").map_err(TraceError::Io)
}

/// Spools `evs`, one thread's events in order (nothing if the session is over).
fn spool_events(evs: &[Ev], session: u64) {
    let mut guard = WRITER.lock();
    let Some(w) = guard.as_mut() else { return };
    if w.session != session || w.failed {
        return;
    }
    if !w.spool.append(evs) {
        w.failed = true;
    }
}

/// A goroutine's state while converting: when its current state began (a stamp, 0:
/// before the trace) and the P it last ran on.
#[derive(Clone, Copy, Default)]
struct GState {
    since: i64,
    p: u32,
}

/// One spool chunk being read back: a window of its events, refilled by `pread`
/// (mapping the spool instead made the process's resident size grow by the whole spool
/// during the conversion).
struct Cursor {
    /// File offset of the next event not yet in `window`, and how many remain.
    off: u64,
    left: usize,
    window: Vec<Ev>,
    /// Index in `window` of the next event.
    at: usize,
}

/// Events a cursor reads at a time (4 KiB).
const WINDOW: usize = 128;

impl Cursor {
    fn new(off: u64, n: usize) -> Cursor {
        Cursor { off, left: n, window: Vec::with_capacity(WINDOW), at: 0 }
    }

    /// The next event, reading more when the window is used up; None at the chunk's end
    /// (or when a read fails: `failed` is set).
    fn peek(&mut self, fd: i32, failed: &mut bool) -> Option<&Ev> {
        if self.at == self.window.len() {
            if self.left == 0 {
                return None;
            }
            let n = self.left.min(WINDOW);
            self.window.clear();
            let bytes = n * std::mem::size_of::<Ev>();
            // SAFETY: reads whole `Ev`s (plain data) into the window's spare capacity,
            // then sets the length to what was read.
            let got = unsafe {
                libc::pread(fd, self.window.as_mut_ptr() as *mut libc::c_void, bytes, self.off as libc::off_t)
            };
            if got != bytes as isize {
                *failed = true;
                return None;
            }
            // SAFETY: `n` events were just read into the capacity.
            unsafe { self.window.set_len(n) };
            self.off += bytes as u64;
            self.left -= n;
            self.at = 0;
        }
        self.window.get(self.at)
    }
}

/// Reads the spool back, merges its chunks into one stream in time order (at equal
/// times a block before the unblock it enabled), follows each goroutine's state, and
/// writes the JSON.
fn convert(w: &mut Writer) {
    let fd = w.spool.fd;
    let mut failed = false;
    let mut cursors: Vec<Cursor> = w.spool.chunks.iter().map(|&(off, n)| Cursor::new(off, n)).collect();
    let key = |e: &Ev| (e.ts, e.kind() != Kind::Block);
    let mut heads = std::collections::BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some(e) = c.peek(fd, &mut failed) {
            heads.push(std::cmp::Reverse((key(e), i)));
        }
    }
    let mut states: std::collections::HashMap<i64, GState> = std::collections::HashMap::new();
    let mut out = std::mem::take(&mut w.out);
    out.clear();
    while let Some(std::cmp::Reverse((_, i))) = heads.pop() {
        let c = &mut cursors[i];
        let e = c.window[c.at];
        c.at += 1;
        if let Some(n) = c.peek(fd, &mut failed) {
            heads.push(std::cmp::Reverse((key(n), i)));
        }
        let (since, p) = follow(&mut states, &e);
        format_event(&mut out, w, &e, since, p);
        if out.len() >= 1 << 20 {
            if super::write_all(w.fd, &out).is_err() {
                failed = true;
            }
            out.clear();
        }
        if failed {
            break;
        }
    }
    if !failed && super::write_all(w.fd, &out).is_err() {
        failed = true;
    }
    w.failed |= failed;
    w.out = out;
}

/// The goroutine state machine: `e` ends `e.g`'s current state; returns when that state
/// began (0: unknown, before the trace) and the P the goroutine last ran on.
fn follow(states: &mut std::collections::HashMap<i64, GState>, e: &Ev) -> (i64, u32) {
    let kind = e.kind();
    match kind {
        Kind::SyscallEnter | Kind::SyscallExit | Kind::ProcStart | Kind::ProcStop => (0, e.p()),
        Kind::End => states.remove(&e.g).map_or((0, 0), |s| (s.since, s.p)),
        _ => {
            let s = states.entry(e.g).or_default();
            let old = *s;
            s.since = e.ts;
            match kind {
                Kind::Create => s.p = 0,
                Kind::Start => s.p = e.p(),
                _ => {}
            }
            (old.since, old.p)
        }
    }
}

fn push_dec(o: &mut Vec<u8>, v: i64) {
    let mut t = [0u8; 20];
    let n = crate::fatal::fmt_i64(v, &mut t);
    o.extend_from_slice(&t[..n]);
}

/// Nanoseconds as Chrome's microseconds, with three decimals.
fn push_us(o: &mut Vec<u8>, ns: i64) {
    push_dec(o, ns / 1000);
    let f = (ns % 1000).unsigned_abs();
    o.extend_from_slice(&[b'.', b'0' + (f / 100) as u8, b'0' + (f / 10 % 10) as u8, b'0' + (f % 10) as u8]);
}

fn push_json_str(o: &mut Vec<u8>, s: &str) {
    o.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => o.extend_from_slice(b"\\\""),
            b'\\' => o.extend_from_slice(b"\\\\"),
            c if c < 0x20 => {
                o.extend_from_slice(b"\\u00");
                o.push(b"0123456789abcdef"[(c >> 4) as usize]);
                o.push(b"0123456789abcdef"[(c & 15) as usize]);
            }
            c => o.push(c),
        }
    }
    o.push(b'"');
}

/// `,\n{"ph":"X","name":NAME,"pid":PID,"tid":TID,"ts":SINCE,"dur":D` (no closing brace).
fn push_slice(o: &mut Vec<u8>, name: &str, pid: i64, tid: i64, since: i64, ts: i64) {
    o.extend_from_slice(b",\n{\"ph\":\"X\",\"name\":");
    push_json_str(o, name);
    o.extend_from_slice(b",\"pid\":");
    push_dec(o, pid);
    o.extend_from_slice(b",\"tid\":");
    push_dec(o, tid);
    o.extend_from_slice(b",\"ts\":");
    push_us(o, since);
    o.extend_from_slice(b",\"dur\":");
    push_us(o, ts - since);
}

/// `,\n{"ph":"i","s":"t","name":"NAME","pid":PID,"tid":TID,"ts":TS` (no closing brace).
fn push_instant(o: &mut Vec<u8>, name: &str, pid: i64, tid: i64, ts: i64) {
    o.extend_from_slice(b",\n{\"ph\":\"i\",\"s\":\"t\",\"name\":\"");
    o.extend_from_slice(name.as_bytes());
    o.extend_from_slice(b"\",\"pid\":");
    push_dec(o, pid);
    o.extend_from_slice(b",\"tid\":");
    push_dec(o, tid);
    o.extend_from_slice(b",\"ts\":");
    push_us(o, ts);
}

/// Formats one event; `since`: when the state it ends began (stamp; 0 unknown), `p`: the
/// P its goroutine last ran on (for a ProcStart/Stop, the P).
fn format_event(o: &mut Vec<u8>, w: &mut Writer, e: &Ev, since: i64, p: u32) {
    let g = e.g;
    if g != 0 && w.named.insert(g) {
        o.extend_from_slice(b",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":");
        push_dec(o, g);
        o.extend_from_slice(b",\"args\":{\"name\":\"goroutine ");
        push_dec(o, g);
        o.extend_from_slice(b"\"}}");
    }
    // The state this event ends began here (clipped to the trace's start); in ns.
    let since = w.clock.ns(since.max(w.t0).min(e.ts));
    let ts = w.clock.ns(e.ts);
    let (kind, other, reason) = (e.kind(), e.other, e.reason());
    match kind {
        Kind::Create => {
            push_instant(o, "GoCreate", 1, g, ts);
            o.extend_from_slice(b",\"args\":{\"parent\":");
            push_dec(o, other);
            o.extend_from_slice(b"}}");
        }
        Kind::Start => {
            push_slice(o, "runnable", 1, g, since, ts);
            o.push(b'}');
        }
        Kind::Block | Kind::Sched | Kind::End => {
            push_slice(o, "running", 1, g, since, ts);
            o.push(b'}');
            // The P's track: who ran there, from when to when.
            o.extend_from_slice(b",\n{\"ph\":\"X\",\"name\":\"G ");
            push_dec(o, g);
            o.extend_from_slice(b"\",\"pid\":2,\"tid\":");
            push_dec(o, p as i64);
            o.extend_from_slice(b",\"ts\":");
            push_us(o, since);
            o.extend_from_slice(b",\"dur\":");
            push_us(o, ts - since);
            o.extend_from_slice(b",\"args\":{\"goroutine\":");
            push_dec(o, g);
            o.extend_from_slice(b"}}");
            match kind {
                Kind::Block => {
                    push_instant(o, "GoBlock", 1, g, ts);
                    o.extend_from_slice(b",\"args\":{\"reason\":");
                    push_json_str(o, reason);
                    o.extend_from_slice(b"}}");
                }
                Kind::End => {
                    push_instant(o, "GoEnd", 1, g, ts);
                    o.extend_from_slice(b",\"args\":{}}");
                }
                _ => {}
            }
        }
        Kind::Unblock => {
            push_slice(o, reason, 1, g, since, ts);
            o.push(b'}');
            push_instant(o, "GoUnblock", 1, g, ts);
            o.extend_from_slice(b",\"args\":{\"by\":");
            push_dec(o, other);
            o.extend_from_slice(b"}}");
        }
        Kind::SyscallEnter | Kind::SyscallExit => {
            let ph: &[u8] = if kind == Kind::SyscallEnter { b"B" } else { b"E" };
            o.extend_from_slice(b",\n{\"ph\":\"");
            o.extend_from_slice(ph);
            o.extend_from_slice(b"\",\"name\":\"blocking region\",\"pid\":1,\"tid\":");
            push_dec(o, g);
            o.extend_from_slice(b",\"ts\":");
            push_us(o, ts);
            o.push(b'}');
        }
        Kind::ProcStart | Kind::ProcStop => {
            let name = if kind == Kind::ProcStart { "ProcStart" } else { "ProcStop" };
            push_instant(o, name, 2, p as i64, ts);
            o.push(b'}');
        }
    }
}

/// `GORT_TRACE=FILE`: trace the whole run into FILE (written at exit by
/// an `atexit` handler). A file that cannot be created is a warning, not an error.
pub(crate) fn start_from_env() {
    let Ok(path) = std::env::var("GORT_TRACE") else { return };
    if path.is_empty() {
        return;
    }
    let Ok(cpath) = std::ffi::CString::new(path.clone()) else { return };
    // SAFETY: a NUL-terminated path; the fd is ours until exit.
    let fd =
        unsafe { libc::open(cpath.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o644) };
    if fd < 0 || start_trace(fd).is_err() {
        crate::fatal::write_stderr(format!("gort: warning: GORT_TRACE: cannot write {path}\n").as_bytes());
        return;
    }
    extern "C" fn at_exit() {
        let _ = stop_trace();
    }
    // SAFETY: registers a plain function run at normal exit.
    unsafe { libc::atexit(at_exit) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pack_and_unpack() {
        let e = Ev::new(Kind::Unblock, 42, 1234, 7, "chan receive");
        assert_eq!((e.kind(), e.other, e.ts, e.g, e.reason()), (Kind::Unblock, 42, 1234, 7, "chan receive"));
        assert_eq!(Ev::new(Kind::Start, 3, 1, 2, "").p(), 3);
        assert_eq!(std::mem::size_of::<Ev>(), 32);
    }

    #[test]
    fn goroutine_states_follow_the_events() {
        let mut st = std::collections::HashMap::new();
        assert_eq!(follow(&mut st, &Ev::new(Kind::Create, 1, 10, 5, "")), (0, 0));
        assert_eq!(follow(&mut st, &Ev::new(Kind::Start, 3, 20, 5, "")), (10, 0)); // runnable since 10
        assert_eq!(follow(&mut st, &Ev::new(Kind::Block, 0, 30, 5, "sleep")), (20, 3)); // ran on P 3
        assert_eq!(follow(&mut st, &Ev::new(Kind::Unblock, 0, 40, 5, "sleep")), (30, 3));
        assert_eq!(follow(&mut st, &Ev::new(Kind::ProcStop, 2, 45, 0, "")), (0, 2));
        assert_eq!(follow(&mut st, &Ev::new(Kind::End, 0, 50, 5, "")), (40, 3));
        assert!(st.is_empty());
        // A goroutine first seen mid-trace: its state began before the trace (0).
        assert_eq!(follow(&mut st, &Ev::new(Kind::Unblock, 0, 60, 9, "chan send")), (0, 0));
    }

    #[test]
    fn spooled_chunks_read_back_through_cursors() {
        let mut spool = Spool::open().expect("a spool");
        let a: Vec<Ev> = (0..300).map(|i| Ev::new(Kind::Sched, 0, i * 2, 1, "")).collect();
        let b: Vec<Ev> = (0..5).map(|i| Ev::new(Kind::Sched, 0, i * 2 + 1, 2, "")).collect();
        assert!(spool.append(&a) && spool.append(&b) && spool.append(&[]));
        assert_eq!(spool.chunks.len(), 2);
        let mut failed = false;
        for (&(off, n), want) in spool.chunks.iter().zip([&a, &b]) {
            let mut c = Cursor::new(off, n);
            let mut got = Vec::new();
            while let Some(e) = c.peek(spool.fd, &mut failed) {
                got.push((e.ts, e.g));
                c.at += 1;
            }
            assert_eq!(got, want.iter().map(|e| (e.ts, e.g)).collect::<Vec<_>>());
        }
        assert!(!failed);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut o = Vec::new();
        push_json_str(&mut o, "a\"b\\c\n");
        assert_eq!(o, b"\"a\\\"b\\\\c\\u000a\"");
        o.clear();
        push_us(&mut o, 1_234_567);
        o.push(b' ');
        push_us(&mut o, 5);
        assert_eq!(o, b"1234.567 0.005");
    }
}
