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
//! trace runs. A traced event is one 40-byte record appended to the calling thread's
//! buffer ([`Buf`]: a spin flag the owner takes uncontended, and which `trace_stop`
//! takes to drain it). A full buffer (8192 events) is formatted and written by the thread
//! that filled it, under the writer's lock; the rest at `gort_trace_stop`. Times are
//! `nanotime` (the vDSO clock), written in microseconds with three decimals. The start
//! of each slice travels in the goroutine (`G::trace_ts`, `G::trace_p`), written by
//! whoever owns the G at that moment (the status protocol orders the hand-over).
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
use std::fmt::Write as _;
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
                    events: UnsafeCell::new(Vec::with_capacity(FLUSH_AT)),
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
    events.push(ev);
    let full = (events.len() >= FLUSH_AT).then(|| std::mem::replace(events, Vec::with_capacity(FLUSH_AT)));
    b.unlock();
    if let Some(evs) = full {
        write_events(&evs, session);
    }
}

#[inline]
fn on() -> bool {
    TRACING.load(Ordering::Relaxed)
}

fn now() -> i64 {
    crate::time::nanotime()
}

/// A goroutine was made (by the running goroutine `parent`, 0 for none).
#[inline]
pub(crate) fn create(g: &G, parent: i64) {
    if on() {
        let ts = now();
        g.trace_ts.store(ts, Ordering::Relaxed);
        emit(Ev { kind: Kind::Create, p: 0, ts, since: 0, g: g.id(), other: parent, reason: "" });
    }
}

/// `g` starts running on P `p`.
#[inline]
pub(crate) fn start(g: &G, p: usize) {
    if on() {
        let ts = now();
        let since = g.trace_ts.swap(ts, Ordering::Relaxed);
        g.trace_p.store(p as u32, Ordering::Relaxed);
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
    let since = g.trace_ts.swap(ts, Ordering::Relaxed);
    let p = g.trace_p.load(Ordering::Relaxed);
    emit(Ev { kind, p, ts, since, g: g.id(), other: 0, reason });
}

/// The parked `g` was made runnable by whoever runs now.
#[inline]
pub(crate) fn unblock(g: &G) {
    if on() {
        let ts = now();
        let since = g.trace_ts.swap(ts, Ordering::Relaxed);
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
    /// Goroutines whose track has been named.
    named: HashSet<i64>,
    /// Write failed: drop the rest.
    failed: bool,
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

fn write_all(fd: i32, mut b: &[u8]) -> Result<(), i32> {
    while !b.is_empty() {
        // SAFETY: writes our own buffer to the caller's fd.
        let n = unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, b.len()) };
        if n < 0 {
            let e = crate::os::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
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
    write_all(fd, head.as_bytes()).map_err(TraceError::Io)?;
    let session = SESSION.fetch_add(1, Ordering::AcqRel) + 1;
    let t0 = now();
    *w = Some(Writer { fd, session, t0, named: HashSet::new(), failed: false });
    drop(w);
    TRACING.store(true, Ordering::SeqCst);
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
    write_events(&all, session);
    let Some(w) = WRITER.lock().take() else { return Err(TraceError::State) };
    if w.failed {
        return Err(TraceError::Io(libc::EIO));
    }
    write_all(w.fd, b"\n]}\n").map_err(TraceError::Io)
}

/// Formats `evs` and writes them (nothing if the session is over).
fn write_events(evs: &[Ev], session: u64) {
    let mut guard = WRITER.lock();
    let Some(w) = guard.as_mut() else { return };
    if w.session != session || w.failed {
        return;
    }
    let mut s = String::with_capacity(evs.len() * 160);
    for e in evs {
        format_event(&mut s, w, e);
    }
    if write_all(w.fd, s.as_bytes()).is_err() {
        w.failed = true;
    }
}

/// Microseconds, as Chrome's `ts` wants them.
fn us(ns: i64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn format_event(s: &mut String, w: &mut Writer, e: &Ev) {
    let g = e.g;
    if g != 0 && w.named.insert(g) {
        let _ = write!(
            s,
            ",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":{g},\"args\":{{\"name\":\"goroutine {g}\"}}}}"
        );
    }
    let ts = us(e.ts);
    // The state this event ends, as a complete slice on the goroutine's track.
    let slice = |s: &mut String, name: &str| {
        let since = e.since.max(w.t0).min(e.ts);
        let _ = write!(
            s,
            ",\n{{\"ph\":\"X\",\"name\":{},\"pid\":1,\"tid\":{g},\"ts\":{},\"dur\":{}}}",
            json_str(name),
            us(since),
            us(e.ts - since)
        );
    };
    let instant = |s: &mut String, name: &str, args: &str| {
        let _ = write!(
            s,
            ",\n{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"{name}\",\"pid\":1,\"tid\":{g},\"ts\":{ts},\"args\":{{{args}}}}}"
        );
    };
    let on_p = |s: &mut String| {
        let since = e.since.max(w.t0).min(e.ts);
        let _ = write!(
            s,
            ",\n{{\"ph\":\"X\",\"name\":\"G {g}\",\"pid\":2,\"tid\":{},\"ts\":{},\"dur\":{},\"args\":{{\"goroutine\":{g}}}}}",
            e.p,
            us(since),
            us(e.ts - since)
        );
    };
    match e.kind {
        Kind::Create => instant(s, "GoCreate", &format!("\"parent\":{}", e.other)),
        Kind::Start => slice(s, "runnable"),
        Kind::Block => {
            slice(s, "running");
            on_p(s);
            instant(s, "GoBlock", &format!("\"reason\":{}", json_str(e.reason)));
        }
        Kind::Unblock => {
            slice(s, e.reason);
            instant(s, "GoUnblock", &format!("\"by\":{}", e.other));
        }
        Kind::Sched => {
            slice(s, "running");
            on_p(s);
        }
        Kind::End => {
            slice(s, "running");
            on_p(s);
            instant(s, "GoEnd", "");
        }
        Kind::SyscallEnter | Kind::SyscallExit => {
            let ph = if e.kind == Kind::SyscallEnter { "B" } else { "E" };
            let _ = write!(s, ",\n{{\"ph\":\"{ph}\",\"name\":\"blocking region\",\"pid\":1,\"tid\":{g},\"ts\":{ts}}}");
        }
        Kind::ProcStart | Kind::ProcStop => {
            let name = if e.kind == Kind::ProcStart { "ProcStart" } else { "ProcStop" };
            let _ =
                write!(s, ",\n{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"{name}\",\"pid\":2,\"tid\":{},\"ts\":{ts}}}", e.p);
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
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(us(1_234_567), "1234.567");
        assert_eq!(us(5), "0.005");
    }
}
