//! Goroutine dumps: Go's `goroutine N [state, M minutes]:` blocks with symbolized frames
//! and a "created by" line, for crashes (uncaught panic, fatal error, deadlock, stack
//! overflow, SIGQUIT), for `gort_dump_goroutines` and for `hangwarn`.
//!
//! # What a block says
//! ```text
//! (each location line starts with a tab; shown here as spaces)
//! goroutine 7 [chan receive, 3 minutes, locked to thread]:
//! gort_chan_recv(...)
//!     /src/gort/src/ffi/chan.rs:142 +0x4d
//! worker(...)
//!     /src/app/worker.c:12 +0x1d
//! created by main_goroutine in goroutine 1
//!     /src/app/main.c:30 +0x45
//! ```
//! Frames come from a frame-pointer walk ([`super::unwind`]) and are named by the
//! symbolizer ([`super::symbolize`]): function, `file:line` where the object has line
//! tables, and the offset into the function (Go's `+0x1d`); without line tables the
//! second line is `object+0xOFFSET`, which `addr2line -e object 0xOFFSET` resolves. The
//! runtime's own frames (Rust code of gort, core, std and the crates it uses) are hidden,
//! as Go hides `runtime.*` frames, except at `GORT_TRACEBACK=system`; the exported
//! `gort_*` function a goroutine is blocked in stays, since it says what it waits on.
//! The wait time appears from one minute on, as in Go.
//!
//! # `GORT_TRACEBACK`
//! Go's GOTRACEBACK: `none` (no goroutine blocks), `single` (the default: an uncaught
//! panic shows the panicking goroutine; fatal errors, deadlocks and SIGQUIT show all),
//! `all` (every dump shows every goroutine), `system` (all, with runtime frames), `crash`
//! (system, then `abort()`, so the kernel writes a core dump). `0`, `1` and `2` are
//! accepted as `none`, `all` and `system`, as Go does.
//!
//! # Never allocate, never lock
//! A dump runs where anything may be broken: in a signal handler, with the heap's lock
//! held by the crashing thread, or with other threads stopped anywhere. So this module
//! allocates nothing and takes no lock: output goes through a fixed buffer straight to
//! the fd ([`FdOut`]); goroutines are found in `ALLGS`, which readers walk without its
//! lock; the stacks of goroutines that may run meanwhile are read with
//! [`Reader::Careful`](super::unwind::Reader) (a racing goroutine yields odd frames, never
//! a fault). `gort_dump_goroutines` is the exception that can afford consistency: it
//! stops the world in chunks and copies the frames out before writing anything (writing
//! with the world stopped could block for ever on a pipe a stopped goroutine reads).

use super::symbolize::{Symbol, symbolize};
use super::unwind::{self, Pcs, Reader};
use crate::sched::g::{ALLGS, G, status};
use std::sync::atomic::{AtomicU8, Ordering};

/// How much a dump shows (`GORT_TRACEBACK`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Level {
    None = 1,
    Single = 2,
    All = 3,
    System = 4,
    Crash = 5,
}

/// The parsed `GORT_TRACEBACK`; 0 until first read.
static LEVEL: AtomicU8 = AtomicU8::new(0);

impl Level {
    pub(crate) fn parse(v: &[u8]) -> Option<Level> {
        Some(match v {
            b"none" | b"0" => Level::None,
            b"single" | b"" => Level::Single,
            b"all" | b"1" => Level::All,
            b"system" | b"2" => Level::System,
            b"crash" => Level::Crash,
            _ => return None,
        })
    }

    /// The configured level (read from the environment once, with `getenv`, which neither
    /// allocates nor locks). An unknown value warns once and means `single`.
    pub(crate) fn get() -> Level {
        match LEVEL.load(Ordering::Relaxed) {
            1 => Level::None,
            2 => Level::Single,
            3 => Level::All,
            4 => Level::System,
            5 => Level::Crash,
            _ => {
                // SAFETY: getenv with a NUL-terminated name; the result is read at once.
                let p = unsafe { libc::getenv(c"GORT_TRACEBACK".as_ptr()) };
                let v = if p.is_null() {
                    &[][..]
                } else {
                    // SAFETY: getenv returns a NUL-terminated string.
                    unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes()
                };
                let l = Level::parse(v).unwrap_or_else(|| {
                    let mut m = crate::fatal::StackMsg::new();
                    m.push(b"gort: warning: unknown GORT_TRACEBACK \"").push(v);
                    m.push(b"\" (known: none, single, all, system, crash); using single\n");
                    crate::fatal::write_stderr(m.as_bytes());
                    Level::Single
                });
                LEVEL.store(l as u8, Ordering::Relaxed);
                l
            }
        }
    }
}

/// A buffered writer to a file descriptor that allocates nothing. Write errors end the
/// output silently (a dump to a closed pipe must not crash the crash).
pub(crate) struct FdOut {
    fd: i32,
    buf: [u8; 2048],
    len: usize,
    failed: bool,
    /// Set for [`FdOut::to_memory`]: the output goes into the caller's buffer, not `fd`.
    mem: Option<MemDest>,
}

/// The caller's buffer an [`FdOut`] fills instead of a file descriptor (`gort_stack`).
struct MemDest {
    ptr: *mut u8,
    cap: usize,
    written: usize,
    /// Some output did not fit.
    truncated: bool,
}

impl FdOut {
    pub(crate) const fn new(fd: i32) -> FdOut {
        FdOut { fd, buf: [0; 2048], len: 0, failed: false, mem: None }
    }

    /// An output into `[ptr, ptr + cap)` instead of an fd: what does not fit is dropped.
    /// [`FdOut::finish_memory`] says how much was written.
    ///
    /// # Safety
    /// `[ptr, ptr + cap)` must be writable for the life of the `FdOut` (`ptr` may be
    /// null when `cap` is 0).
    pub(crate) unsafe fn to_memory(ptr: *mut u8, cap: usize) -> FdOut {
        let mut o = FdOut::new(-1);
        o.mem = Some(MemDest { ptr, cap, written: 0, truncated: false });
        o
    }

    /// For [`FdOut::to_memory`]: flushes and returns the bytes written. When the text was
    /// cut, the cut never splits a UTF-8 sequence (a partial one at the end is dropped).
    pub(crate) fn finish_memory(&mut self) -> usize {
        self.flush();
        let Some(m) = &self.mem else { return 0 };
        let mut n = m.written;
        if m.truncated && n > 0 {
            // SAFETY: the first `written` bytes of the buffer were written by `flush`.
            let done = unsafe { std::slice::from_raw_parts(m.ptr, n) };
            // Back up over continuation bytes to the last lead byte; drop its sequence
            // if it is incomplete.
            let mut i = n - 1;
            while i > 0 && n - i < 4 && done[i] & 0xc0 == 0x80 {
                i -= 1;
            }
            let lead = done[i];
            let need = if lead < 0x80 {
                1
            } else if lead >= 0xf0 {
                4
            } else if lead >= 0xe0 {
                3
            } else if lead >= 0xc0 {
                2
            } else {
                1
            };
            if n - i < need {
                n = i;
            }
        }
        n
    }

    pub(crate) fn bytes(&mut self, mut b: &[u8]) -> &mut FdOut {
        while !b.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = b.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
        }
        self
    }

    pub(crate) fn dec(&mut self, v: i64) -> &mut FdOut {
        let mut t = [0u8; 20];
        let n = crate::fatal::fmt_i64(v, &mut t);
        self.bytes(&t[..n])
    }

    pub(crate) fn hex(&mut self, v: u64) -> &mut FdOut {
        let mut m = crate::fatal::StackMsg::new();
        m.push_hex(v);
        self.bytes(m.as_bytes())
    }

    pub(crate) fn flush(&mut self) {
        if let Some(m) = &mut self.mem {
            let n = self.len.min(m.cap - m.written);
            if n > 0 {
                // SAFETY: `to_memory`'s contract: the destination is writable up to `cap`.
                unsafe { std::ptr::copy_nonoverlapping(self.buf.as_ptr(), m.ptr.add(m.written), n) };
                m.written += n;
            }
            if n < self.len {
                m.truncated = true;
            }
            self.len = 0;
            return;
        }
        if !self.failed && super::write_all(self.fd, &self.buf[..self.len]).is_err() {
            self.failed = true;
        }
        self.len = 0;
    }

    /// True if every write so far reached the fd.
    pub(crate) fn ok(&self) -> bool {
        !self.failed
    }
}

impl Drop for FdOut {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Where a goroutine's frames came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Frames {
    /// Walked (maybe zero frames: a chain the walk could not follow).
    Walked,
    /// Running on another thread that was not stopped: Go's "stack unavailable".
    Unavailable,
    /// Never ran: only "created by".
    NotStarted,
}

/// One goroutine as a dump shows it: a copy, so a chunk can be taken with the world
/// stopped and written after it restarts.
#[derive(Clone, Copy)]
pub(crate) struct Record {
    pub(crate) id: i64,
    /// "running", "runnable", or the wait reason.
    pub(crate) state: &'static str,
    pub(crate) wait_since: i64,
    pub(crate) locked: bool,
    pub(crate) parent: i64,
    pub(crate) created_pc: usize,
    pub(crate) frames: Frames,
    pub(crate) pcs: Pcs,
}

impl Record {
    /// The descriptor's fields, without frames.
    fn of(g: &G, running: bool) -> Record {
        let st = g.status();
        let state = if running || st == status::RUNNING {
            "running"
        } else if st == status::WAITING {
            g.wait_reason.get()
        } else {
            "runnable"
        };
        Record {
            id: g.id(),
            state,
            wait_since: if st == status::WAITING { g.wait_since.load(Ordering::Relaxed) } else { 0 },
            locked: !g.locked_m.load(Ordering::Relaxed).is_null(),
            parent: g.parent_id.load(Ordering::Relaxed),
            created_pc: g.created_pc.load(Ordering::Relaxed),
            frames: Frames::Unavailable,
            pcs: Pcs::new(),
        }
    }

    /// The calling goroutine (or thread), walked from here.
    #[inline(never)]
    pub(crate) fn current(g: *mut G) -> Record {
        let mut r = if g.is_null() {
            Record {
                id: 0,
                state: "running",
                wait_since: 0,
                locked: false,
                parent: 0,
                created_pc: 0,
                frames: Frames::Walked,
                pcs: Pcs::new(),
            }
        } else {
            // SAFETY: Gs are never freed.
            Record::of(unsafe { &*g }, true)
        };
        r.frames = Frames::Walked;
        // SAFETY: g is the running goroutine: its stack slot is not being written.
        let own = if g.is_null() { None } else { unsafe { (*g).stack() } };
        r.pcs = match own {
            Some(s) => unwind::here(s.lo() as usize, s.top() as usize, Reader::Direct),
            None => {
                // A thread's own stack: its bounds would cost pthread_getattr_np (which
                // allocates for the main thread), so guess generously and read carefully.
                let marker = 0u8;
                let sp = std::hint::black_box(&marker) as *const u8 as usize;
                unwind::here(sp.saturating_sub(1 << 20), sp.saturating_add(64 << 20), Reader::Careful)
            }
        };
        r
    }

    /// A goroutine other than the caller. `careful`: it may run, exit or lose its stack
    /// while we look (crash dumps); otherwise the world is stopped.
    ///
    /// # Safety
    /// Unless `careful`, the world is stopped and `g` is not running on a live thread.
    pub(crate) unsafe fn other(g: &G, careful: bool) -> Record {
        let mut r = Record::of(g, false);
        let st = g.status();
        if st == status::RUNNING {
            return r;
        }
        if st == status::RUNNABLE && g.fresh.get() {
            r.frames = Frames::NotStarted;
            return r;
        }
        // SAFETY: a parked or queued G's stack slot is written only by whoever runs or
        // frees it next; with the world stopped nobody does, and a careful walk only reads
        // the bounds (a torn value gives a failed or odd walk, never a fault: the reads
        // themselves go through the kernel).
        let Some((lo, hi)) = (unsafe { g.stack() }).map(|s| (s.lo() as usize, s.top() as usize)) else {
            r.frames = Frames::NotStarted;
            return r;
        };
        // SAFETY: as above: the saved sp is published before the status leaves RUNNING.
        let sp = unsafe { *g.sp.get() } as usize;
        let reader = if careful { Reader::Careful } else { Reader::Direct };
        // SAFETY: with the world stopped the stack is mapped and frozen; careful reads
        // never fault.
        r.pcs = unsafe { unwind::from_saved_context(sp, lo, hi, reader) };
        r.frames = Frames::Walked;
        r
    }
}

/// True for frames of the runtime itself (hidden below `system`): gort's Rust code and
/// what it is built from. The exported `gort_*` functions are not internal.
pub(crate) fn is_internal(name: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 16] = [
        b"gort::",
        b"<gort::",
        b"core::",
        b"<core::",
        b"std::",
        b"<std::",
        b"alloc::",
        b"<alloc::",
        b"parking_lot",
        b"<parking_lot",
        b"crossbeam",
        b"<crossbeam",
        b"__rust",
        b"rust_",
        b"_R",
        b"gort_internal_",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Writes `frame(...)` and its location lines for one pc.
fn write_frame(out: &mut FdOut, sym: &Symbol, found: bool, pc: usize) {
    if found && !sym.name().is_empty() {
        out.bytes(sym.name());
    } else {
        out.bytes(b"??");
    }
    out.bytes(b"(...)\n\t");
    write_location(out, sym, found, pc);
}

/// `\tfile:line +0xOFF`, or `object+0xOFF` without line tables.
fn write_location(out: &mut FdOut, sym: &Symbol, found: bool, pc: usize) {
    if found && !sym.file().is_empty() && sym.line != 0 {
        out.bytes(sym.file()).bytes(b":").dec(sym.line as i64);
        out.bytes(b" +").hex(sym.fn_offset as u64).bytes(b"\n");
    } else if found && !sym.module().is_empty() {
        out.bytes(sym.module()).bytes(b"+").hex(sym.module_offset as u64).bytes(b"\n");
    } else {
        out.bytes(b"pc=").hex(pc as u64).bytes(b"\n");
    }
}

/// Writes one goroutine block, after a blank line (the separator of Go's dumps).
pub(crate) fn write_record(out: &mut FdOut, r: &Record, level: Level, now: i64) {
    out.bytes(b"\n");
    write_block(out, r, level, now);
}

/// Writes one goroutine block: `goroutine N [...]:`, frames, "created by".
fn write_block(out: &mut FdOut, r: &Record, level: Level, now: i64) {
    out.bytes(b"goroutine ").dec(r.id).bytes(b" [").bytes(r.state.as_bytes());
    if r.wait_since > 0 && now > r.wait_since {
        let minutes = (now - r.wait_since) / 60_000_000_000;
        if minutes >= 1 {
            out.bytes(b", ").dec(minutes).bytes(if minutes == 1 { b" minute" } else { b" minutes" });
        }
    }
    if r.locked {
        out.bytes(b", locked to thread");
    }
    out.bytes(b"]:\n");
    match r.frames {
        Frames::Unavailable => {
            out.bytes(b"\tgoroutine running on other thread; stack unavailable\n");
        }
        Frames::NotStarted => {}
        Frames::Walked => {
            let mut sym = Symbol::new();
            let mut shown = 0;
            for (i, &pc) in r.pcs.as_slice().iter().enumerate() {
                let found = symbolize(pc, i > 0, &mut sym);
                if level < Level::System && found && is_internal(sym.name()) {
                    continue;
                }
                if level < Level::System && !found && shown == 0 {
                    continue; // runtime glue below the first named frame
                }
                write_frame(out, &sym, found, pc);
                shown += 1;
            }
            if r.pcs.truncated {
                out.bytes(b"...additional frames elided...\n");
            }
        }
    }
    if r.parent != 0 || r.created_pc != 0 {
        let mut sym = Symbol::new();
        let found = r.created_pc != 0 && symbolize(r.created_pc, true, &mut sym);
        out.bytes(b"created by ");
        if found && !sym.name().is_empty() {
            out.bytes(sym.name());
        } else if r.created_pc == 0 {
            out.bytes(b"the runtime");
        } else {
            out.bytes(b"??");
        }
        if r.parent != 0 {
            out.bytes(b" in goroutine ").dec(r.parent);
        }
        out.bytes(b"\n");
        if r.created_pc != 0 {
            out.bytes(b"\t");
            write_location(out, &sym, found, r.created_pc);
        }
    }
}

/// What a crash dump shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scope {
    /// The current goroutine only (an uncaught panic at `single`).
    Current,
    /// Every goroutine (fatal errors, deadlocks, SIGQUIT, `all` and above).
    All,
}

/// Where a crash dump finds the calling goroutine's frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Current {
    /// Not shown first (a helper thread dumping the others).
    Skip,
    /// Walked from the dumping code's own frame.
    Here,
    /// Walked from an interrupted context: `(pc, frame pointer)` from a signal's
    /// ucontext (the handler may run on the alternate signal stack, off the goroutine's).
    Interrupted(usize, usize),
}

/// A crash dump to `fd`: the calling goroutine first (per `current`), then, for
/// [`Scope::All`] (or a level of `all` and above), every other live goroutine, read
/// carefully (nothing is stopped). Allocates nothing, takes no lock. Returns the level
/// used (the caller aborts at `crash`, [`crash_if_asked`]).
pub(crate) fn crash_dump(fd: i32, scope: Scope, current: Current) -> Level {
    let level = Level::get();
    if level == Level::None {
        return level;
    }
    let mut out = FdOut::new(fd);
    let now = crate::time::nanotime();
    let me = crate::sched::current_g();
    let shown_me = !me.is_null() && current != Current::Skip;
    if shown_me {
        let r = match current {
            Current::Interrupted(pc, fp) => {
                // SAFETY: Gs are never freed; the running goroutine's stack slot is not
                // being written (its thread is here, in the handler).
                let mut r = Record::of(unsafe { &*me }, true);
                // SAFETY: as above.
                if let Some(s) = unsafe { (*me).stack() } {
                    // Careful: a fault may have left the frame chain anywhere.
                    // SAFETY: careful reads never fault.
                    r.pcs = unsafe { unwind::walk(pc, fp, s.lo() as usize, s.top() as usize, Reader::Careful) };
                    r.frames = Frames::Walked;
                }
                r
            }
            _ => Record::current(me),
        };
        write_record(&mut out, &r, level, now);
    }
    if scope == Scope::All || level >= Level::All {
        for_each_live(|g| {
            if shown_me && std::ptr::eq(g, me) {
                return;
            }
            // SAFETY: Gs are never freed; careful walks tolerate anything.
            let r = unsafe { Record::other(&*g, true) };
            write_record(&mut out, &r, level, now);
        });
    }
    out.flush();
    level
}

/// Calls `f` on every goroutine that is alive (not dead, not being made), in id order is
/// not promised: ALLGS order (creation order of descriptors).
pub(crate) fn for_each_live(mut f: impl FnMut(*mut G)) {
    ALLGS.for_each(|g| {
        // SAFETY: Gs are never freed.
        let st = unsafe { &*g }.status();
        if st != status::DEAD && st != status::IDLE {
            f(g);
        }
    });
}

/// Goroutines per stop of the world in [`snapshot`]: bounds both the copy (about 600
/// bytes a goroutine) and each pause.
const SNAPSHOT_CHUNK: usize = 1024;

/// Every live goroutine as a [`Record`], the caller's first, for dumps the program
/// survives (`gort_dump_goroutines`, the goroutine profile). The world is stopped once per
/// [`SNAPSHOT_CHUNK`] descriptors and the chunk copied out; `f` runs after the restart,
/// so it may write, allocate and lock. A chunk is consistent in itself; goroutines may
/// change between chunks (Go stops once for all; with a million goroutines that would be
/// a pause of a second and a copy of 600 MB).
pub(crate) fn snapshot(mut f: impl FnMut(&Record)) {
    let me = crate::sched::current_g();
    if !me.is_null() {
        f(&Record::current(me));
    }
    let mut buf: Vec<Record> = Vec::with_capacity(SNAPSHOT_CHUNK);
    let mut from = 0;
    while from < ALLGS.len() {
        buf.clear();
        let world = crate::sched::world::stop_world_for_gc();
        ALLGS.for_each_in(from, from + SNAPSHOT_CHUNK, |g| {
            // SAFETY: Gs are never freed.
            let gr = unsafe { &*g };
            let st = gr.status();
            if std::ptr::eq(g, me) || st == status::DEAD || st == status::IDLE {
                return;
            }
            // SAFETY: the world is stopped; a RUNNING G is handled from its thread's
            // interrupted registers instead.
            let mut r = unsafe { Record::other(gr, false) };
            if st == status::RUNNING {
                // SAFETY: as above: nobody writes the running G's stack slot now.
                if let Some(s) = unsafe { gr.stack() } {
                    let (lo, hi) = (s.lo() as usize, s.top() as usize);
                    if let Some((pc, fp)) = world.interrupted(g, lo, hi) {
                        // SAFETY: the stack is mapped and frozen while the world is stopped.
                        r.pcs = unsafe { unwind::walk(pc, fp, lo, hi, Reader::Direct) };
                        r.frames = Frames::Walked;
                    }
                }
            }
            buf.push(r); // within capacity: no allocation while stopped
        });
        world.restart();
        buf.sort_unstable_by_key(|r| r.id);
        for r in &buf {
            f(r);
        }
        from += SNAPSHOT_CHUNK;
    }
}

/// `gort_dump_goroutines`: every goroutine to `fd`, the program goes on. At
/// `GORT_TRACEBACK=none` it writes nothing. Returns false if a write failed.
pub(crate) fn dump_to(fd: i32) -> bool {
    let level = Level::get().min(Level::System);
    if level == Level::None {
        return true;
    }
    let level = level.max(Level::All);
    let now = crate::time::nanotime();
    let mut out = FdOut::new(fd);
    snapshot(|r| write_record(&mut out, r, level, now));
    out.flush();
    out.ok()
}

/// Drops the frames of `pcs` up to and including the first one in the function named
/// `export` (the export the program called: its caller is the first frame it wants).
/// Nothing is dropped if no such frame is among the first 32.
pub(crate) fn trim_through(pcs: &mut Pcs, export: &[u8]) {
    let mut sym = Symbol::new();
    let cut = pcs
        .as_slice()
        .iter()
        .take(32)
        .enumerate()
        .position(|(i, &pc)| symbolize(pc, i > 0, &mut sym) && sym.name() == export);
    if let Some(i) = cut {
        pcs.drop_front(i + 1);
    }
}

/// `gort_stack` (Go's `runtime.Stack`): the calling goroutine's block, or with `all`
/// every goroutine's (the world stopped in chunks, as for [`dump_to`]), into
/// `[ptr, ptr + cap)`, in the dump's format without its leading newline (blocks after
/// the first are preceded by a blank line, as in Go). The frames start at the caller of
/// the function named `export`. Runtime frames are hidden unless `GORT_TRACEBACK=system`
/// (or `crash`); `none` does not silence it. Text that does not fit is cut, never in the
/// middle of a UTF-8 sequence; no NUL is added. Returns the bytes written. A thread that
/// is not running a goroutine has no block of its own.
///
/// # Safety
/// `[ptr, ptr + cap)` must be writable (`ptr` may be null when `cap` is 0).
#[inline(never)]
pub(crate) unsafe fn stack_into(ptr: *mut u8, cap: usize, all: bool, export: &[u8]) -> usize {
    let level = Level::get().clamp(Level::All, Level::System);
    let now = crate::time::nanotime();
    // SAFETY: the caller's contract.
    let mut out = unsafe { FdOut::to_memory(ptr, cap) };
    let me = crate::sched::current_g();
    let mut first = true;
    let mut emit = |out: &mut FdOut, r: &Record| {
        if !first {
            out.bytes(b"\n");
        }
        first = false;
        write_block(out, r, level, now);
    };
    if all {
        let mut mine = !me.is_null();
        snapshot(|r| {
            if mine {
                // The first record is the caller's, walked from inside this function.
                mine = false;
                let mut r = *r;
                trim_through(&mut r.pcs, export);
                emit(&mut out, &r);
            } else {
                emit(&mut out, r);
            }
        });
    } else if !me.is_null() {
        let mut r = Record::current(me);
        trim_through(&mut r.pcs, export);
        emit(&mut out, &r);
    }
    out.finish_memory()
}

/// After a crash dump at `crash`: abort with the default SIGABRT action, so the kernel
/// writes a core dump (if the limits allow one).
pub(crate) fn crash_if_asked(level: Level) {
    if level == Level::Crash {
        // SAFETY: resets SIGABRT to its default action and aborts; both async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGABRT, &sa, std::ptr::null_mut());
            libc::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_as_go() {
        assert_eq!(Level::parse(b"none"), Some(Level::None));
        assert_eq!(Level::parse(b"0"), Some(Level::None));
        assert_eq!(Level::parse(b"1"), Some(Level::All));
        assert_eq!(Level::parse(b"2"), Some(Level::System));
        assert_eq!(Level::parse(b"crash"), Some(Level::Crash));
        assert_eq!(Level::parse(b""), Some(Level::Single));
        assert_eq!(Level::parse(b"everything"), None);
        assert!(Level::Single < Level::All && Level::All < Level::System);
    }

    #[test]
    fn runtime_frames_are_internal_api_frames_are_not() {
        assert!(is_internal(b"gort::sched::proc::park"));
        assert!(is_internal(b"<gort::chan::Chan as core::ops::Drop>::drop"));
        assert!(is_internal(b"std::panicking::try"));
        assert!(!is_internal(b"gort_chan_recv"));
        assert!(!is_internal(b"worker"));
        assert!(!is_internal(b"main"));
    }

    #[test]
    fn record_block_format() {
        let (rd, wr) = pipe();
        let mut r = Record::current(std::ptr::null_mut());
        r.id = 7;
        r.state = "chan receive";
        r.wait_since = 1;
        r.locked = true;
        r.parent = 1;
        let mut out = FdOut::new(wr);
        write_record(&mut out, &r, Level::System, 1 + 3 * 60_000_000_000);
        drop(out);
        // SAFETY: our pipe's write end.
        unsafe { libc::close(wr) };
        let text = read_all(rd);
        assert!(text.starts_with("\ngoroutine 7 [chan receive, 3 minutes, locked to thread]:\n"), "{text}");
        // Its own frame (the test function may be inlined into its caller: check the file).
        assert!(text.contains("src/debug/traceback.rs:"), "{text}");
        assert!(text.contains("created by the runtime in goroutine 1\n"), "{text}");
    }

    fn pipe() -> (i32, i32) {
        let mut fds = [0; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[0], fds[1])
    }

    fn read_all(fd: i32) -> String {
        let mut v = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            // SAFETY: reads into our buffer.
            let n = unsafe { libc::read(fd, b.as_mut_ptr() as *mut libc::c_void, b.len()) };
            if n <= 0 {
                break;
            }
            v.extend_from_slice(&b[..n as usize]);
        }
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        String::from_utf8_lossy(&v).into_owned()
    }
}
