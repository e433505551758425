//! The netpoller: goroutines park on file descriptors, one epoll instance wakes them.
//!
//! # Concepts
//! - **Poll descriptor** ([`PollDesc`]): one per fd *number*, in a table that grows in
//!   chunks and is never freed (so a pointer to one never dangles). It holds a reader
//!   and a writer side, each with a *ready* flag and a list of waiting records, plus the
//!   registration state and a sequence number `seq`.
//! - **Registration**: an fd joins the epoll set once (`EPOLL_CTL_ADD`, edge-triggered,
//!   `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`), the first time somebody waits on it or
//!   when gort creates it. The event's data word is `fd | seq << 32`.
//! - **The poll waiter**: the idle M that sleeps until the earliest timer (see
//!   `sched::proc::stopm`) sleeps in `epoll_wait` instead of on its futex once the
//!   netpoller exists, so one thread serves both timers and fds. An eventfd in the epoll
//!   set breaks that sleep ([`wake_poller`]) when work, an earlier timer or a new waiter
//!   arrives. Ms looking for work also poll without blocking before they steal, and
//!   sysmon polls when nobody has for 10 ms, so busy Ps cannot starve fd wake-ups.
//!
//! # The protocol for one wait (reader side; the writer side is the same)
//! 1. The operation (`read`) fails with `EAGAIN`. The waiter locks the descriptor; if
//!    it is closing → `EBADF`; it registers the fd if needed; if the side's *ready* flag
//!    is set (an edge arrived since the last wait), it clears it and retries the
//!    operation without sleeping.
//! 2. Otherwise it begins a wait on its wait word (`sched::waiter`), queues a record on
//!    its own stack in the side's list, counts itself in [`WAITERS`], and blocks; the
//!    descriptor lock is released only once the goroutine has switched out.
//! 3. An event for `(fd, seq)` locks the descriptor, checks `seq` (a stale event for a
//!    closed and reused fd number is dropped), and wakes *every* record of the side
//!    (claim, fill in the result, wake), or sets the side's ready flag if nobody waits.
//!    Edge-triggered events are never lost: an edge between the `EAGAIN` and step 2 sets
//!    the flag, which step 1 of the next attempt consumes.
//!    A hang-up (`EPOLLRDHUP`; for the writer, `EPOLLHUP` with it) is also remembered as
//!    a state (`Side::hup`) until the file is closed: a side that can never block again
//!    makes every later wait return at once. Under gVisor the hang-up edge can arrive
//!    before `read` stops saying `EAGAIN`, and no second edge follows.
//! 4. The deadline uses the waiter's own timer (step 2 passes it to `Waiter::block`): the
//!    timed-out waiter removes its record itself.
//!
//! # Closing
//! `gort_close` must not close the fd under an operation that is still using the number:
//! the number could be reused at once by another thread's `accept`, and the late
//! `read` would read someone else's socket. So, as Go's `fdMutex` does, every operation
//! holds a reference ([`FdRef`]) on the descriptor; `close` sets the *closing* bit,
//! bumps `seq`, removes the fd from the epoll set and wakes every waiter with `EBADF`,
//! and the last reference to go — `close` itself or the last operation — resets the
//! descriptor and only then calls `close(2)`, so the number cannot be reused while the
//! descriptor still describes the old file.
//!
//! # Invariants
//! - `WAITERS` = records queued on all descriptors + wakers between taking a record and
//!   readying its goroutine: a goroutine in transit is never invisible to deadlock
//!   detection (`checkdead` stays silent while `WAITERS > 0`).
//! - `refs & !CLOSING` = operations in flight; once `CLOSING` is set no new operation
//!   starts; the last reference out closes the fd.
//! - An event is acted on only if its `seq` equals the descriptor's current `seq`.
//!
//! # Alternatives rejected
//! - Level-triggered or one-shot registration: one `epoll_ctl` per wait (one-shot) or a
//!   storm of repeated events for fds nobody reads (level). Edge-triggered with a ready
//!   flag costs one `epoll_ctl` per fd lifetime.
//! - A descriptor allocated per fd and freed at close (Go's pollCache): the table indexed
//!   by fd number needs no lookup structure and never frees, so stale pointers are safe.
//! - One waiter per side (Go's `rg`/`wg`): gort's C API has no per-fd mutex above it, so
//!   several goroutines may wait on one fd (e.g. many acceptors on one listener); all are
//!   woken by an edge and retry.
//! - A dedicated poller thread: an extra hop (thread wake-up) on every event; the idle M
//!   that already waits for timers can wait for fds at the same cost.

mod fd;

pub(crate) use fd::{FdRef, close, read, write};

use crate::sched::{NO_DEADLINE, Waiter, Woken};
use parking_lot::RawMutex;
use parking_lot::lock_api::RawMutex as _;
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, Ordering};

/// Which side of a descriptor a wait is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// Why a wait (or an operation built on it) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Error {
    /// The fd was closed with [`close`] (before or during the wait), or is not an fd.
    Closed,
    /// The deadline had passed on entry and the operation would have blocked.
    WouldBlock,
    /// The deadline passed while waiting.
    TimedOut,
    /// A system call failed with this errno (e.g. `EPERM`: the fd cannot be polled).
    Os(i32),
}

/// Descriptors per table chunk; `MAX_FDS` numbers in all.
const CHUNK: usize = 4096;
const NCHUNKS: usize = 4096;
pub(crate) const MAX_FDS: usize = CHUNK * NCHUNKS;

/// `PollDesc::refs`: set once the fd is being closed; the rest counts operations in flight.
const CLOSING: u32 = 1 << 31;

/// A record of one waiting goroutine or thread; lives on the waiter's stack.
struct WaitRec {
    waiter: Waiter,
    /// Filled in by the waker before `wake`: [`RESULT_READY`], or `EBADF` (closed).
    /// 0 while untouched.
    result: i32,
}

const RESULT_READY: i32 = 1;

/// One side (reader or writer) of a descriptor. Protected by `PollDesc::lock`.
#[derive(Default)]
struct Side {
    /// An edge arrived while nobody waited; the next wait consumes it instead of sleeping.
    ready: bool,
    /// The side can never block again for this file (reader: the peer shut down its
    /// writing, `EPOLLRDHUP`; writer: the connection is gone both ways, `EPOLLHUP` with
    /// `EPOLLRDHUP`): every wait returns at once. Cleared only for a new file.
    hup: bool,
    waiting: Vec<*mut WaitRec>,
}

/// Protected by `PollDesc::lock`.
#[derive(Default)]
struct State {
    /// Generation of the fd number: bumped whenever the fd leaves the epoll set, so that
    /// events already read for the old file are recognised as stale.
    seq: u32,
    registered: bool,
    /// `O_NONBLOCK` has been checked (and set) for the file behind this number.
    nonblock: bool,
    /// fd 0, 1 or 2 found in blocking mode: left that way (its file description is shared
    /// with the parent shell, which would see its terminal turn non-blocking), and read
    /// and written through blocking calls in a blocking section instead.
    keep_blocking: bool,
    closing: bool,
    sides: [Side; 2],
}

pub(crate) struct PollDesc {
    fd: i32,
    lock: RawMutex,
    /// Protected by `lock`.
    state: UnsafeCell<State>,
    /// `CLOSING | operations in flight` (see [`FdRef`]). Atomic, lock-free.
    refs: AtomicU32,
    /// `send`/`recv` said ENOTSOCK: use `write(2)`/`read(2)` (a pipe, a tty, an eventfd).
    /// Read without the lock on every operation (Relaxed: a stale `false` costs one
    /// ENOTSOCK retry); set, and reset for a new file, under the lock.
    not_socket: AtomicBool,
}

// SAFETY: `state` is only touched under `lock`; the rest is atomic or immutable.
unsafe impl Sync for PollDesc {}
// SAFETY: as above.
unsafe impl Send for PollDesc {}

/// Locked view of a descriptor; unlocks on drop unless [`Locked::into_raw`] hands the
/// unlock to a park callback.
struct Locked<'a> {
    pd: &'a PollDesc,
}

impl PollDesc {
    fn lock(&self) -> Locked<'_> {
        self.lock.lock();
        Locked { pd: self }
    }
}

impl Locked<'_> {
    fn st(&mut self) -> &mut State {
        // SAFETY: we hold `lock`, which protects `state`.
        unsafe { &mut *self.pd.state.get() }
    }
    /// Keeps the lock held past this guard; whoever receives the descriptor unlocks it.
    fn into_raw(self) -> *const PollDesc {
        let p = self.pd as *const PollDesc;
        std::mem::forget(self);
        p
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock.
        unsafe { self.pd.lock.unlock() };
    }
}

static TABLE: [AtomicPtr<PollDesc>; NCHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; NCHUNKS];

/// The descriptor of fd number `fd`, allocating its chunk on first use. None for numbers
/// out of range (negative or ≥ `MAX_FDS`).
pub(crate) fn desc(fd: i32) -> Option<&'static PollDesc> {
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    let (c, i) = (fd as usize / CHUNK, fd as usize % CHUNK);
    let mut chunk = TABLE[c].load(Ordering::Acquire);
    if chunk.is_null() {
        let fresh: Box<[PollDesc]> = (0..CHUNK)
            .map(|k| PollDesc {
                fd: (c * CHUNK + k) as i32,
                lock: RawMutex::INIT,
                state: UnsafeCell::new(State::default()),
                refs: AtomicU32::new(0),
                not_socket: AtomicBool::new(false),
            })
            .collect();
        let fresh = Box::into_raw(fresh) as *mut PollDesc;
        match TABLE[c].compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => chunk = fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from Box::into_raw of a CHUNK-long slice just above
                // and was never shared.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, CHUNK)) });
                chunk = winner;
            }
        }
    }
    // SAFETY: chunks hold CHUNK descriptors and are never freed.
    Some(unsafe { &*chunk.add(i) })
}

/// The descriptor of `fd` if its chunk exists (no allocation).
fn existing_desc(fd: i32) -> Option<&'static PollDesc> {
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    let chunk = TABLE[fd as usize / CHUNK].load(Ordering::Acquire);
    // SAFETY: as in `desc`.
    (!chunk.is_null()).then(|| unsafe { &*chunk.add(fd as usize % CHUNK) })
}

// ---------------------------------------------------------------------------------------
// The epoll instance
// ---------------------------------------------------------------------------------------

struct Poller {
    epfd: i32,
    /// eventfd in the epoll set: written to break an `epoll_wait`.
    breakfd: i32,
}

static POLLER: OnceLock<Poller> = OnceLock::new();
/// Records queued on all descriptors (+ wakers in transit); see the invariants above.
pub(crate) static WAITERS: AtomicI64 = AtomicI64::new(0);
/// A break is pending on `breakfd` (coalesces writes).
static WAKE_SIG: AtomicBool = AtomicBool::new(false);
/// Threads blocked in a (blocking) `epoll_wait` right now: while one is, a new fd waiter
/// needs no kick, the kernel hands its event to that thread.
static IN_EPOLL: AtomicI64 = AtomicI64::new(0);
/// When the last poll ran (sysmon polls when nobody has for 10 ms).
static LAST_POLL: AtomicI64 = AtomicI64::new(0);
/// Event data word that marks the eventfd.
const BREAK_TOKEN: u64 = u64::MAX;

fn poller() -> &'static Poller {
    POLLER.get_or_init(|| {
        // SAFETY: plain system calls; results checked.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            crate::fatal::fatal(&format!("netpoll: epoll_create1 failed: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: as above.
        let breakfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if breakfd < 0 {
            crate::fatal::fatal(&format!("netpoll: eventfd failed: {}", std::io::Error::last_os_error()));
        }
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: BREAK_TOKEN };
        // SAFETY: valid fds and event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, breakfd, &mut ev) } < 0 {
            crate::fatal::fatal(&format!("netpoll: epoll_ctl(eventfd) failed: {}", std::io::Error::last_os_error()));
        }
        LAST_POLL.store(crate::time::nanotime(), Ordering::Relaxed);
        Poller { epfd, breakfd }
    })
}

/// True once some fd has been waited on (the poll waiter then sleeps in `epoll_wait`).
#[inline]
pub(crate) fn initialized() -> bool {
    POLLER.get().is_some()
}

/// True while some goroutine or thread waits on an fd.
#[inline]
pub(crate) fn has_waiters() -> bool {
    WAITERS.load(Ordering::SeqCst) > 0
}

/// Breaks a blocking [`poll`] (now or the next one). Coalesced: one eventfd write until
/// the poller has read it.
pub(crate) fn wake_poller() {
    let Some(p) = POLLER.get() else { return };
    if WAKE_SIG.swap(true, Ordering::SeqCst) {
        return;
    }
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a valid u64 to our eventfd. EAGAIN (counter full)
    // still leaves it readable, which is all we need.
    unsafe { libc::write(p.breakfd, &one as *const u64 as *const libc::c_void, 8) };
}

/// Events read by [`poll`], to be handed to [`dispatch`] once the caller may ready
/// goroutines (the poll waiter first leaves the idle list).
pub(crate) struct Events {
    buf: [libc::epoll_event; 128],
    n: usize,
}

impl Events {
    pub(crate) fn new() -> Events {
        Events { buf: [libc::epoll_event { events: 0, u64: 0 }; 128], n: 0 }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

/// Waits up to `timeout_ns` (None: forever; 0: just looks) for events and stores them in
/// `ev`. Returns true if it was broken by [`wake_poller`] or got events.
pub(crate) fn poll(timeout_ns: Option<i64>, ev: &mut Events) -> bool {
    let p = poller();
    let ms: i32 = match timeout_ns {
        None => -1,
        Some(t) if t <= 0 => 0,
        // Round up: waking early only to sleep again would spin.
        Some(t) => ((t + 999_999) / 1_000_000).min(i32::MAX as i64) as i32,
    };
    if ms != 0 {
        IN_EPOLL.fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: the buffer is valid for 128 events.
    let n = unsafe { libc::epoll_wait(p.epfd, ev.buf.as_mut_ptr(), ev.buf.len() as i32, ms) };
    if ms != 0 {
        IN_EPOLL.fetch_sub(1, Ordering::SeqCst);
    }
    LAST_POLL.store(crate::time::nanotime(), Ordering::Relaxed);
    ev.n = 0;
    if n <= 0 {
        return false; // timeout or EINTR
    }
    let mut woke = false;
    for i in 0..n as usize {
        let e = ev.buf[i];
        if e.u64 == BREAK_TOKEN {
            // Only a blocking poll consumes a break: it is meant for the poll waiter, and a
            // non-blocking poll by a busy M must not swallow it (the eventfd is
            // level-triggered, so it stays visible until the waiter reads it).
            if ms != 0 {
                let mut v: u64 = 0;
                // SAFETY: reading 8 bytes into a valid u64 from our non-blocking eventfd.
                unsafe { libc::read(p.breakfd, &mut v as *mut u64 as *mut libc::c_void, 8) };
                WAKE_SIG.store(false, Ordering::SeqCst);
                woke = true;
            }
            continue;
        }
        ev.buf[ev.n] = e;
        ev.n += 1;
    }
    woke || ev.n > 0
}

/// Acts on events read by [`poll`]: wakes the waiters of each ready side. The caller is
/// about to look for work on the P it holds (if any): the first goroutine woken goes to
/// that P's `runnext` without waking another M to run it (Go's findRunnable runs the first
/// goroutine netpoll returns itself); the others wake Ms as usual.
pub(crate) fn dispatch(ev: &mut Events) {
    let mut local = true;
    for i in 0..ev.n {
        let e = ev.buf[i];
        let (fd, seq) = (e.u64 as u32 as i32, (e.u64 >> 32) as u32);
        let Some(pd) = existing_desc(fd) else { continue };
        let bits = e.events as i32;
        let read = bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        let write = bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        let mut l = pd.lock();
        if l.st().seq != seq || !l.st().registered {
            continue; // the fd was closed (and maybe reused) since this event was read
        }
        // Hang-ups are states, not edges: remember them (see `Side::hup`).
        if bits & libc::EPOLLRDHUP != 0 {
            l.st().sides[0].hup = true;
            if bits & libc::EPOLLHUP != 0 {
                l.st().sides[1].hup = true;
            }
        }
        let mut woken: Vec<Waiter> = Vec::new();
        for (side, hit) in [(0, read), (1, write)] {
            if hit {
                wake_side(&mut l.st().sides[side], RESULT_READY, &mut woken);
            }
        }
        drop(l);
        finish_wakes_first_local(woken, &mut local);
    }
    ev.n = 0;
}

/// Polls without blocking and dispatches, if anyone waits on an fd. For Ms looking for
/// work and for sysmon. Returns true if it woke anybody up (or may have).
pub(crate) fn poll_nonblocking() -> bool {
    if !initialized() || !has_waiters() {
        return false;
    }
    let mut ev = Events::new();
    if !poll(Some(0), &mut ev) || ev.is_empty() {
        return false;
    }
    dispatch(&mut ev);
    true
}

/// True while some thread is blocked in `epoll_wait` (it will see any new event).
#[inline]
pub(crate) fn poller_blocked() -> bool {
    IN_EPOLL.load(Ordering::SeqCst) > 0
}

/// Nanoseconds since the last poll of any kind (sysmon's "nobody polled" check).
pub(crate) fn since_last_poll(now: i64) -> i64 {
    now - LAST_POLL.load(Ordering::Relaxed)
}

/// Under the descriptor lock: takes every record of `side`, claims each and fills in
/// `result`; the claimed waiters are woken by [`finish_wakes`] after the unlock. With
/// nobody waiting (and `result` ready) the edge is remembered in `ready`.
fn wake_side(side: &mut Side, result: i32, woken: &mut Vec<Waiter>) {
    let mut delivered = false;
    for rec in side.waiting.drain(..) {
        // SAFETY: a queued record is live: its waiter unlinks its records (under this
        // lock) before leaving its stack frame, unless a waker took them first, as we do.
        let r = unsafe { &mut *rec };
        let w = r.waiter;
        if w.claim() {
            r.result = result;
            woken.push(w);
            delivered = true;
        } else {
            // Its wait ended another way (deadline, or the other side of a two-sided
            // wait); the waiter will find this record gone.
            WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // An edge nobody took is kept for the next wait: edge-triggered epoll will not
    // report it again.
    if !delivered && result == RESULT_READY {
        side.ready = true;
    }
}

/// Wakes waiters claimed by [`wake_side`]; each leaves `WAITERS` only once readied.
fn finish_wakes(woken: Vec<Waiter>) {
    finish_wakes_first_local(woken, &mut false);
}

/// [`finish_wakes`], readying the first goroutine (while `*local`) for the calling M
/// itself (see [`dispatch`]).
fn finish_wakes_first_local(woken: Vec<Waiter>, local: &mut bool) {
    for w in woken {
        match w {
            Waiter::G(g) if *local => {
                *local = false;
                w.complete();
                crate::sched::proc::ready_local(g);
            }
            _ => w.wake(),
        }
        WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// Registration and waiting
// ---------------------------------------------------------------------------------------

use crate::os::errno;

/// Adds the fd to the epoll set if it is not there yet (under the descriptor lock).
/// With `refresh`, an fd we believe registered is re-armed with `EPOLL_CTL_MOD`, and
/// re-added if the kernel dropped it (the caller's library closed and reopened the number
/// behind gort's back): the `gort_fd_wait` path for fds gort does not manage.
fn register(l: &mut Locked<'_>, refresh: bool) -> Result<(), Error> {
    let fd = l.pd.fd;
    let st = l.st();
    if st.registered && !refresh {
        return Ok(());
    }
    let p = poller();
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: fd as u32 as u64 | (st.seq as u64) << 32,
    };
    let op = if st.registered { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
    // SAFETY: valid epoll fd and event struct; `fd` is the caller's.
    let mut rc = unsafe { libc::epoll_ctl(p.epfd, op, fd, &mut ev) };
    if rc < 0 {
        let e = errno();
        let retry = match (op, e) {
            // Already in the set (a dup of it, or registered by an earlier generation of
            // this number): take it over with our data word.
            (libc::EPOLL_CTL_ADD, libc::EEXIST) => Some(libc::EPOLL_CTL_MOD),
            (libc::EPOLL_CTL_MOD, libc::ENOENT) => Some(libc::EPOLL_CTL_ADD),
            _ => None,
        };
        if let Some(op2) = retry {
            // SAFETY: as above.
            rc = unsafe { libc::epoll_ctl(p.epfd, op2, fd, &mut ev) };
            if op2 == libc::EPOLL_CTL_ADD {
                // The kernel had dropped the registration: this is a new file, and the
                // old one's hang-up says nothing about it.
                for side in st.sides.iter_mut() {
                    side.hup = false;
                }
            }
        }
        if rc < 0 {
            let e = errno();
            return Err(if e == libc::EBADF { Error::Closed } else { Error::Os(e) });
        }
    }
    st.registered = true;
    Ok(())
}

/// How the I/O functions drive an fd.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoMode {
    /// Non-blocking: try the call, park on `EAGAIN`.
    NonBlocking,
    /// A blocking standard stream (see `State::keep_blocking`).
    KeepBlocking,
}

/// Puts `fd` in non-blocking mode once per fd lifetime (the I/O functions must never
/// block the thread), except a blocking fd 0-2, which is left alone as Go leaves it.
/// Gort's own sockets are created non-blocking and skip the syscalls.
pub(crate) fn io_mode(pd: &PollDesc) -> Result<IoMode, Error> {
    let mut l = pd.lock();
    if l.st().nonblock {
        return Ok(if l.st().keep_blocking { IoMode::KeepBlocking } else { IoMode::NonBlocking });
    }
    let fd = pd.fd;
    // SAFETY: fcntl on a caller-supplied fd; failures are reported.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::Closed);
    }
    let mut mode = IoMode::NonBlocking;
    if flags & libc::O_NONBLOCK == 0 {
        if fd <= 2 {
            mode = IoMode::KeepBlocking;
        } else {
            // SAFETY: as above.
            if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(Error::Os(errno()));
            }
        }
    }
    l.st().nonblock = true;
    l.st().keep_blocking = mode == IoMode::KeepBlocking;
    Ok(mode)
}

/// Marks a descriptor as describing a fresh non-blocking fd made by gort (a socket,
/// an accepted connection) and registers it: the "registered once per fd" path.
pub(crate) fn adopt(fd: i32) -> Result<(), Error> {
    let pd = desc(fd).ok_or(Error::Os(libc::EINVAL))?;
    let mut l = pd.lock();
    pd.not_socket.store(false, Ordering::Relaxed);
    let st = l.st();
    // Whatever this number described before (a file closed with plain close(2), whose
    // registration the kernel dropped) is forgotten: new generation, fresh registration.
    st.seq = st.seq.wrapping_add(1);
    st.registered = false;
    st.nonblock = true;
    st.closing = false;
    for side in st.sides.iter_mut() {
        side.ready = false;
        side.hup = false;
    }
    register(&mut l, false)
}

fn release_desc(arg: usize) {
    // SAFETY: `arg` is the descriptor whose lock `wait` kept held for us (into_raw).
    unsafe { (*(arg as *const PollDesc)).lock.unlock() };
}

/// Waits until `fd` is ready for `mode` (or may be: callers retry their operation), the
/// deadline passes ([`NO_DEADLINE`] for none; a deadline already passed gives
/// [`Error::WouldBlock`] unless an edge is pending), or the fd is closed. With `refresh`
/// the registration is re-armed first (see [`register`]). The caller holds an [`FdRef`].
pub(crate) fn wait(fd: i32, mode: Mode, deadline: i64, refresh: bool) -> Result<(), Error> {
    wait_any(fd, 1 << mode as u8, deadline, refresh).map(|_| ())
}

/// True if a call with this deadline may block (its deadline is ahead, or it has none):
/// a [`Error::WouldBlock`] it meets later (the deadline passed between two waits, or
/// while it copied data) is then a time-out, not a "would block" (gort.h's convention: a deadline
/// already passed on entry means non-blocking; one that passes during the call expires).
pub(crate) fn may_block(deadline: i64) -> bool {
    deadline == NO_DEADLINE || deadline > crate::time::nanotime()
}

/// [`wait`] inside an operation that began with `may_block` = [`may_block`]`(deadline)`:
/// a deadline that passed during the operation is reported as [`Error::TimedOut`].
pub(crate) fn wait_in_op(fd: i32, mode: Mode, deadline: i64, may_block: bool) -> Result<(), Error> {
    match wait(fd, mode, deadline, false) {
        Err(Error::WouldBlock) if may_block => Err(Error::TimedOut),
        r => r,
    }
}

/// Like [`wait`] for a set of sides (`1 << Mode::Read as u8 | 1 << Mode::Write as u8`):
/// returns the sides found ready (at least one).
pub(crate) fn wait_any(fd: i32, sides: u8, deadline: i64, refresh: bool) -> Result<u8, Error> {
    debug_assert!(sides != 0 && sides & !3 == 0);
    let pd = desc(fd).ok_or(Error::Closed)?;
    let mut l = pd.lock();
    if l.st().closing {
        return Err(Error::Closed);
    }
    register(&mut l, refresh)?;
    let mut ready = 0u8;
    for i in 0..2 {
        let side = &mut l.st().sides[i];
        if sides & (1 << i) != 0 && (std::mem::take(&mut side.ready) || side.hup) {
            ready |= 1 << i;
        }
    }
    if ready != 0 {
        return Ok(ready);
    }
    if deadline != NO_DEADLINE && deadline <= crate::time::nanotime() {
        return Err(Error::WouldBlock);
    }
    let waiter = Waiter::current();
    let wait_gen = waiter.begin();
    // One record per side; the first waker to claim the wait fills in its side's bit.
    let mut recs = [WaitRec { waiter, result: 0 }, WaitRec { waiter, result: 0 }];
    let recp: [*mut WaitRec; 2] = [&mut recs[0], &mut recs[1]];
    for (i, &rec) in recp.iter().enumerate() {
        if sides & (1 << i) != 0 {
            l.st().sides[i].waiting.push(rec);
            WAITERS.fetch_add(1, Ordering::SeqCst);
        }
    }
    // Somebody must be polling: the poll waiter (kicked, so it re-evaluates its sleep),
    // or a new M that becomes it.
    crate::sched::proc::netpoll_waiter_added();
    let raw = l.into_raw();
    let reason = match sides {
        1 => "IO wait (read)",
        2 => "IO wait (write)",
        _ => "IO wait",
    };
    let woken = waiter.block(reason, wait_gen, deadline, release_desc, raw as usize);
    // Unlink the records still queued (the other side's, or all of them on a timeout).
    let mut l = pd.lock();
    for (i, &rec) in recp.iter().enumerate() {
        let w = &mut l.st().sides[i].waiting;
        if let Some(k) = w.iter().position(|&r| r == rec) {
            w.swap_remove(k);
            WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    drop(l);
    match woken {
        Woken::TimedOut => Err(Error::TimedOut),
        Woken::Claimed => {
            let mut ready = 0u8;
            for (i, rec) in recs.iter().enumerate() {
                // SAFETY: the waker filled in its record before waking us and no longer
                // touches it; the other record is untouched.
                match unsafe { ptr::read_volatile(&rec.result) } {
                    0 => {}
                    RESULT_READY => ready |= 1 << i,
                    _ => return Err(Error::Closed),
                }
            }
            Ok(ready)
        }
    }
}

/// Wakes everybody waiting on the descriptor with `EBADF`, takes the fd out of the epoll
/// set and bumps `seq` (stale events are then ignored). Under `close`.
fn evict(pd: &PollDesc) {
    let mut l = pd.lock();
    let st = l.st();
    st.closing = true;
    let mut woken = Vec::new();
    for side in st.sides.iter_mut() {
        side.ready = false;
        side.hup = false;
        wake_side(side, libc::EBADF, &mut woken);
    }
    if st.registered {
        if let Some(p) = POLLER.get() {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: valid epoll fd; failure (the file is already gone) is harmless.
            unsafe { libc::epoll_ctl(p.epfd, libc::EPOLL_CTL_DEL, pd.fd, &mut ev) };
        }
        st.registered = false;
    }
    st.seq = st.seq.wrapping_add(1);
    drop(l);
    finish_wakes(woken);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_stable_and_bounded() {
        let a = desc(5).unwrap() as *const PollDesc;
        let b = desc(5).unwrap() as *const PollDesc;
        assert_eq!(a, b);
        assert_eq!(desc(5).unwrap().fd, 5);
        assert_eq!(desc(CHUNK as i32 + 3).unwrap().fd, CHUNK as i32 + 3);
        assert!(desc(-1).is_none());
        assert!(desc(MAX_FDS as i32).is_none());
    }

    #[test]
    fn edge_before_wait_is_not_lost() {
        let mut fds = [0; 2];
        // SAFETY: valid out-array for pipe2.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }, 0);
        adopt(fds[0]).unwrap();
        // SAFETY: writing one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(fds[1], b"x".as_ptr() as *const libc::c_void, 1) }, 1);
        let mut ev = Events::new();
        assert!(poll(Some(1_000_000_000), &mut ev));
        dispatch(&mut ev);
        // The edge arrived with nobody waiting: the flag makes a past deadline succeed.
        assert_eq!(wait(fds[0], Mode::Read, 0, false), Ok(()));
        assert_eq!(wait(fds[0], Mode::Read, 0, false), Err(Error::WouldBlock));
        assert_eq!(close(fds[0]), 0);
        assert!(wait(fds[0], Mode::Read, 0, false).is_err());
        assert_eq!(close(fds[1]), 0);
    }
}
