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
//! Each hook starts with one relaxed load of [`TRACING`]: nothing else happens when no
//! trace runs. A traced event is one 56-byte record appended to the calling thread's
//! buffer ([`Buf`]: a spin flag the owner takes uncontended, and which `trace_stop`
//! takes to drain it). A full buffer (8192 events) goes to the `gort-trace` writer
//! thread ([`Queue`]), which formats and writes it; the rest at `gort_trace_stop`, which
//! first waits for the writer to finish what it was given. Each buffer is written in
//! time order; buffers of different threads interleave (trace viewers sort by time). Times are
//! `nanotime` (the vDSO clock), written in microseconds with three decimals. The start
//! of each slice is kept per goroutine in a sharded side table ([`STATES`]), cleared
//! when the goroutine ends and when a trace starts.
//!
//! Events are formatted only when written, so a goroutine that exists before the trace
//! starts still gets a named track the first time it appears.
//!
//! Rejected: Go's binary trace format (only `go tool trace` reads it, and it changes
//! between releases); a global lock per event (measured: it serialises the Ps).

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

/// One recorded event.
#[derive(Clone, Copy)]
struct Ev {
    kind: Kind,
    /// The P (for Start, the slice's P; ProcStart/Stop: the P).
    p: u32,
    ts: i64,
    /// Start of the state this event ends (0: unknown).
    since: i64,
    g: i64,
    /// Create: the parent; Unblock: the waker.
    other: i64,
    /// Block/Unblock: the wait reason.
    reason: &'static str,
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
    b.lock();
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
    b.lock();
    // SAFETY: `busy` is held.
    let events = unsafe { &mut *b.events.get() };
    if events.capacity() == 0 {
        *events = fresh;
    }
    b.unlock();
}

/// Full buffers waiting for the writer thread (`gort-trace`, at the lowest priority),
/// which formats and writes them. JSON is slow to write (about 90 bytes and 0.1 µs per
/// event, where recording one costs about 20 ns), so a busy program produces events
/// faster than any writer drains them, and something has to give. Measured on a traced
/// pingpong (1M round trips, 2 CPUs, 1 P; BENCHMARKS.md): holding the backlog in memory
/// (up to 512 MiB) cost 6-7x per round trip and 336 MiB, because the page faults of
/// fresh memory (expensive in a VM) cost more than formatting; a 16 MiB queue
/// ([`MAX_QUEUED`]) past which the thread that filled a buffer formats it itself costs
/// about 9x per round trip but finishes the whole run, trace written, in the least time and
/// 22 MiB. That is the choice: the program slows to the writer's pace instead of
/// growing. The writer drains as soon as [`WRITE_BEHIND`] buffers wait; written buffers
/// are reused (fresh ones cost a page-zeroing fault per 70 events).
struct Queue {
    chunks: std::collections::VecDeque<(u64, Vec<Ev>)>,
    /// The writer thread is formatting a chunk it took.
    busy: bool,
    /// The writer thread exists.
    started: bool,
    /// A stop waits for everything queued to be written.
    flushing: bool,
    /// Written buffers, empty, for reuse: a fresh 450 KiB buffer per 8192 events made
    /// the kernel zero its pages on first touch, a fifth of a traced pingpong's time.
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
    write_events(&evs, session);
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
        // Formatting is the trace's bulk work: it yields the CPU to the program's threads.
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
            write_events(&evs, session);
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

/// Where each traced goroutine's current state began and the P it last ran on, keyed
/// by goroutine id: kept beside the trace rather than in every G (it would cost each of
/// them 16 bytes, tracing or not: 3% on spawn-heavy benchmarks). 64 shards, so Ps that
/// trace at once rarely meet on a lock.
/// Goroutine id → (start of its current state, its last P).
type StateShard = Mutex<Option<std::collections::HashMap<i64, (i64, u32)>>>;

static STATES: [StateShard; 64] = [const { Mutex::new(None) }; 64];

/// Records that goroutine `g`'s new state begins at `ts` (on P `p`, if given); returns
/// when the previous one began (0: unknown) and the P it last ran on. `end`: forget it.
fn transition(g: i64, ts: i64, p: Option<u32>, end: bool) -> (i64, u32) {
    let mut shard = STATES[(g as u64 % 64) as usize].lock();
    let map = shard.get_or_insert_with(std::collections::HashMap::new);
    if end {
        return map.remove(&g).unwrap_or((0, 0));
    }
    let e = map.entry(g).or_insert((0, 0));
    let old = *e;
    *e = (ts, p.unwrap_or(old.1));
    old
}

/// A goroutine was made (by the running goroutine `parent`, 0 for none).
#[inline]
pub(crate) fn create(g: &G, parent: i64) {
    if on() {
        let ts = now();
        transition(g.id(), ts, Some(0), false);
        emit(Ev { kind: Kind::Create, p: 0, ts, since: 0, g: g.id(), other: parent, reason: "" });
    }
}

/// `g` starts running on P `p`.
#[inline]
pub(crate) fn start(g: &G, p: usize) {
    if on() {
        let ts = now();
        let (since, _) = transition(g.id(), ts, Some(p as u32), false);
        emit(Ev { kind: Kind::Start, p: p as u32, ts, since, g: g.id(), other: 0, reason: "" });
    }
}

/// The running `g` is about to park for `reason`.
#[inline]
pub(crate) fn block(g: &G, reason: &'static str) {
    if on() {
        left_cpu(g, Kind::Block, reason);
    }
}

/// The running `g` yields or its time slice ended: running → runnable.
#[inline]
pub(crate) fn sched(g: &G) {
    if on() {
        left_cpu(g, Kind::Sched, "");
    }
}

/// The running `g` ends.
#[inline]
pub(crate) fn end(g: &G) {
    if on() {
        left_cpu(g, Kind::End, "");
    }
}

#[cold]
fn left_cpu(g: &G, kind: Kind, reason: &'static str) {
    let ts = now();
    let (since, p) = transition(g.id(), ts, None, kind == Kind::End);
    emit(Ev { kind, p, ts, since, g: g.id(), other: 0, reason });
}

/// The parked `g` was made runnable by whoever runs now.
#[inline]
pub(crate) fn unblock(g: &G) {
    if on() {
        let ts = now();
        let (since, _) = transition(g.id(), ts, None, false);
        let cur = crate::sched::current_g();
        // SAFETY: Gs are never freed.
        let by = if cur.is_null() { 0 } else { unsafe { &*cur }.id() };
        emit(Ev { kind: Kind::Unblock, p: 0, ts, since, g: g.id(), other: by, reason: g.wait_reason.get() });
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
        emit(Ev { kind, p: 0, ts: now(), since: 0, g, other: 0, reason: "" });
    }
}

/// P `p` starts (`true`) or stops running goroutines on some M.
#[inline]
pub(crate) fn proc(p: usize, start: bool) {
    if on() {
        let kind = if start { Kind::ProcStart } else { Kind::ProcStop };
        emit(Ev { kind, p: p as u32, ts: now(), since: 0, g: 0, other: 0, reason: "" });
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
    super::write_all(fd, head.as_bytes()).map_err(TraceError::Io)?;
    start_writer();
    for shard in &STATES {
        *shard.lock() = None;
    }
    let session = SESSION.fetch_add(1, Ordering::AcqRel) + 1;
    let clock = Clock::calibrate();
    let t0 = now();
    *w = Some(Writer { fd, session, t0, clock, named: HashSet::new(), failed: false, out: Vec::new() });
    drop(w);
    TRACING.store(true, Ordering::SeqCst);
    super::update_observed();
    // The Ps running now: one ProcStart each, so their tracks begin at the start.
    for i in 0..crate::sched::gomaxprocs() {
        emit(Ev { kind: Kind::ProcStart, p: i as u32, ts: t0, since: 0, g: 0, other: 0, reason: "" });
    }
    Ok(())
}

/// `gort_trace_stop`: writes what is buffered, closes the JSON and ends the trace.
pub(crate) fn stop_trace() -> Result<(), TraceError> {
    if WRITER.lock().is_none() {
        return Err(TraceError::State);
    }
    TRACING.store(false, Ordering::SeqCst);
    super::update_observed();
    let session = SESSION.load(Ordering::Acquire);
    let bufs: Vec<&'static Buf> = BUFS.lock().clone();
    let mut all = Vec::new();
    for b in bufs {
        b.lock();
        // SAFETY: `busy` is held.
        let events = unsafe { &mut *b.events.get() };
        if b.session.get() == session {
            all.append(events);
        }
        b.unlock();
    }
    // Time order; at equal times a block before the unblock it enabled.
    all.sort_by_key(|e| (e.ts, e.kind != Kind::Block));
    wait_writer_idle();
    write_events(&all, session);
    let Some(w) = WRITER.lock().take() else { return Err(TraceError::State) };
    if w.failed {
        return Err(TraceError::Io(libc::EIO));
    }
    super::write_all(w.fd, b"\n]}\n").map_err(TraceError::Io)
}

/// Formats `evs` and writes them (nothing if the session is over).
fn write_events(evs: &[Ev], session: u64) {
    let mut guard = WRITER.lock();
    let Some(w) = guard.as_mut() else { return };
    if w.session != session || w.failed {
        return;
    }
    let mut out = std::mem::take(&mut w.out);
    out.clear();
    for e in evs {
        format_event(&mut out, w, e);
    }
    if super::write_all(w.fd, &out).is_err() {
        w.failed = true;
    }
    w.out = out;
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

fn format_event(o: &mut Vec<u8>, w: &mut Writer, e: &Ev) {
    let g = e.g;
    if g != 0 && w.named.insert(g) {
        o.extend_from_slice(b",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":");
        push_dec(o, g);
        o.extend_from_slice(b",\"args\":{\"name\":\"goroutine ");
        push_dec(o, g);
        o.extend_from_slice(b"\"}}");
    }
    // The state this event ends began here (clipped to the trace's start); in ns.
    let since = w.clock.ns(e.since.max(w.t0).min(e.ts));
    let e = &Ev { ts: w.clock.ns(e.ts), ..*e };
    match e.kind {
        Kind::Create => {
            push_instant(o, "GoCreate", 1, g, e.ts);
            o.extend_from_slice(b",\"args\":{\"parent\":");
            push_dec(o, e.other);
            o.extend_from_slice(b"}}");
        }
        Kind::Start => {
            push_slice(o, "runnable", 1, g, since, e.ts);
            o.push(b'}');
        }
        Kind::Block | Kind::Sched | Kind::End => {
            push_slice(o, "running", 1, g, since, e.ts);
            o.push(b'}');
            // The P's track: who ran there, from when to when.
            o.extend_from_slice(b",\n{\"ph\":\"X\",\"name\":\"G ");
            push_dec(o, g);
            o.extend_from_slice(b"\",\"pid\":2,\"tid\":");
            push_dec(o, e.p as i64);
            o.extend_from_slice(b",\"ts\":");
            push_us(o, since);
            o.extend_from_slice(b",\"dur\":");
            push_us(o, e.ts - since);
            o.extend_from_slice(b",\"args\":{\"goroutine\":");
            push_dec(o, g);
            o.extend_from_slice(b"}}");
            match e.kind {
                Kind::Block => {
                    push_instant(o, "GoBlock", 1, g, e.ts);
                    o.extend_from_slice(b",\"args\":{\"reason\":");
                    push_json_str(o, e.reason);
                    o.extend_from_slice(b"}}");
                }
                Kind::End => {
                    push_instant(o, "GoEnd", 1, g, e.ts);
                    o.extend_from_slice(b",\"args\":{}}");
                }
                _ => {}
            }
        }
        Kind::Unblock => {
            push_slice(o, e.reason, 1, g, since, e.ts);
            o.push(b'}');
            push_instant(o, "GoUnblock", 1, g, e.ts);
            o.extend_from_slice(b",\"args\":{\"by\":");
            push_dec(o, e.other);
            o.extend_from_slice(b"}}");
        }
        Kind::SyscallEnter | Kind::SyscallExit => {
            let ph: &[u8] = if e.kind == Kind::SyscallEnter { b"B" } else { b"E" };
            o.extend_from_slice(b",\n{\"ph\":\"");
            o.extend_from_slice(ph);
            o.extend_from_slice(b"\",\"name\":\"blocking region\",\"pid\":1,\"tid\":");
            push_dec(o, g);
            o.extend_from_slice(b",\"ts\":");
            push_us(o, e.ts);
            o.push(b'}');
        }
        Kind::ProcStart | Kind::ProcStop => {
            let name = if e.kind == Kind::ProcStart { "ProcStart" } else { "ProcStop" };
            push_instant(o, name, 2, e.p as i64, e.ts);
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
