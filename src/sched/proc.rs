//! The scheduler proper: global state, the M loop, finding work, spinning, parking,
//! readying, stop-the-world and `gomaxprocs`. See the module essay in `sched/mod.rs`.

use super::g::{Entry, G, GPtr, status};
use super::m::{Action, M, current_m, set_current_m};
use super::note::Note;
use super::p::{GFREE_LOCAL_MAX, P, STACK_CACHE_MAX, pstate};
use super::protocol::{pstatus, spin, timerwait};
use crate::arch;
use crate::mem::stack;
use crate::time::{TimerTarget, nanotime};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicUsize, Ordering};

/// Upper bound on `gomaxprocs`.
pub(crate) const MAX_PROCS: usize = 1024;
/// Upper bound on OS threads (like Go's `debug.SetMaxThreads` default).
const MAX_THREADS: usize = 10_000;
/// sysmon retakes the P of a goroutine that ran this long without a scheduling event.
pub(crate) const FORCE_PREEMPT_NS: i64 = 10_000_000;
/// Size of the OS stack of every M (the scheduler and timer callbacks run there).
const M_STACK_SIZE: usize = 512 * 1024;

/// State guarded by the scheduler lock.
pub(crate) struct Locked {
    /// Idle Ps and idle Ms.
    pub pidle: Vec<*const P>,
    pub midle: Vec<*const M>,
    /// Global run queue.
    pub runq: VecDeque<GPtr>,
    /// Ms created (sysmon excluded); idle ones; idle ones that hold a locked goroutine
    /// (signed: `startlockedm` uncounts its target before the target may have counted itself).
    pub mcount: usize,
    pub nmidle: usize,
    pub nmidlelocked: isize,
    /// Ps still to stop for a pending stop-the-world.
    pub stop_wait: usize,
    pub next_mid: u64,
}

// SAFETY: the raw pointers name Ps and Ms, which are leaked ('static) and Sync.
unsafe impl Send for Locked {}

pub(crate) struct Sched {
    pub lock: Mutex<Locked>,
    /// Ps by id; entries are allocated once and never freed. Entries < `gomaxprocs` are live.
    pub allp: [AtomicPtr<P>; MAX_PROCS],
    pub gomaxprocs: AtomicUsize,
    /// Number of Ps on `pidle` (readable without the lock).
    pub npidle: CachePadded<AtomicUsize>,
    /// Number of Ms spinning (looking for work while holding a P).
    pub nmspinning: CachePadded<AtomicUsize>,
    /// Length of the global run queue (readable without the lock).
    pub runq_len: AtomicUsize,
    /// A stop-the-world is in progress: Ms must give up their Ps.
    pub stw_pending: AtomicBool,
    pub stw_note: Note,
    /// Serialises stop-the-world callers.
    pub stw_lock: Mutex<()>,
    /// The idle M that sleeps for the runtime: until the earliest timer, in `epoll_wait`
    /// when it also holds the poll role; and that deadline (i64::MAX: none).
    pub idle_waiter: AtomicPtr<M>,
    pub idle_wait_until: AtomicI64,
    /// Live goroutines spawned or ended without a P (foreign threads); the rest are
    /// counted per P (`P::ngoroutine`). See [`num_goroutine`].
    pub ngoroutine: CachePadded<AtomicI64>,
    pub goid_gen: AtomicI64,
    pub stack_size: AtomicUsize,
    /// Free Gs beyond the per-P caches (free stacks: `mem::stack::STACK_POOL`).
    pub gfree: Mutex<Vec<GPtr>>,
    pub sysmon_note: Note,
    pub sysmon_idle: AtomicBool,
    /// Deadlock detection is on while `gort_main`'s goroutine runs.
    pub main_active: AtomicBool,
    /// Threads the runtime does not own that are inside gort (blocked in a call, or
    /// queueing a goroutine): they could wake goroutines, so they rule out a deadlock
    /// verdict.
    pub foreign_blocked: AtomicI64,
    /// Ms inside gort_blocking_enter/exit.
    pub nsyscall: AtomicI64,
    pub start_time: AtomicI64,
}

// SAFETY: every field is an atomic, a lock, or (Note) internally synchronised.
unsafe impl Sync for Sched {}

pub(crate) static SCHED: Sched = Sched {
    lock: Mutex::new(Locked {
        pidle: Vec::new(),
        midle: Vec::new(),
        runq: VecDeque::new(),
        mcount: 0,
        nmidle: 0,
        nmidlelocked: 0,
        stop_wait: 0,
        next_mid: 1,
    }),
    allp: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_PROCS],
    gomaxprocs: AtomicUsize::new(0),
    npidle: CachePadded::new(AtomicUsize::new(0)),
    nmspinning: CachePadded::new(AtomicUsize::new(0)),
    runq_len: AtomicUsize::new(0),
    stw_pending: AtomicBool::new(false),
    stw_note: Note::new(),
    stw_lock: Mutex::new(()),
    idle_waiter: AtomicPtr::new(ptr::null_mut()),
    idle_wait_until: AtomicI64::new(i64::MAX),
    ngoroutine: CachePadded::new(AtomicI64::new(0)),
    goid_gen: AtomicI64::new(1),
    stack_size: AtomicUsize::new(stack::DEFAULT_STACK_SIZE),
    gfree: Mutex::new(Vec::new()),
    sysmon_note: Note::new(),
    sysmon_idle: AtomicBool::new(false),
    main_active: AtomicBool::new(false),
    foreign_blocked: AtomicI64::new(0),
    nsyscall: AtomicI64::new(0),
    start_time: AtomicI64::new(0),
};

/// The live P with id `i` (< gomaxprocs at the time of the call).
#[inline]
pub(crate) fn allp(i: usize) -> &'static P {
    // SAFETY: entries below the high-water mark are set before gomaxprocs exposes them and
    // never freed.
    unsafe { &*SCHED.allp[i].load(Ordering::Acquire) }
}

pub(crate) fn gomaxprocs() -> usize {
    SCHED.gomaxprocs.load(Ordering::Acquire)
}

/// Ps with nothing to run right now (a hint: the collector marks on their CPUs).
pub(crate) fn idle_ps() -> usize {
    SCHED.npidle.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// Runtime start-up
// ---------------------------------------------------------------------------------------

/// Creates the first `n` Ps (all idle) and starts sysmon. Called once, from `init`.
pub(crate) fn start(nprocs: usize, stack_size: usize) {
    SCHED.stack_size.store(stack_size, Ordering::Relaxed);
    SCHED.start_time.store(nanotime(), Ordering::Relaxed);
    let mut l = SCHED.lock.lock();
    for i in 0..nprocs {
        let p = ensure_p(i);
        p.status.store(pstate::IDLE, Ordering::Release);
        l.pidle.push(p);
    }
    SCHED.npidle.store(nprocs, Ordering::SeqCst);
    SCHED.gomaxprocs.store(nprocs, Ordering::Release);
    drop(l);
    super::signals::install();
    super::sysmon::start();
}

fn ensure_p(i: usize) -> &'static P {
    let cur = SCHED.allp[i].load(Ordering::Acquire);
    if !cur.is_null() {
        // SAFETY: never freed.
        return unsafe { &*cur };
    }
    let p: &'static P = Box::leak(Box::new(P::new(i)));
    SCHED.allp[i].store(p as *const P as *mut P, Ordering::Release);
    p
}

// ---------------------------------------------------------------------------------------
// P ownership
// ---------------------------------------------------------------------------------------

/// Makes `m` the owner of `p` in the RUNNING state. The caller must have exclusive
/// rights to `p` (just taken from the idle list, or handed over through `nextp`).
pub(crate) fn acquirep(m: &M, p: &P) {
    // Before the epoch is published: a taker of this epoch finds its owner's flag here.
    p.owner_m.store(m as *const M as *mut M, Ordering::Relaxed);
    let w = pstatus::acquire(&*p.status);
    m.p.set(p);
    m.p_word.set(w);
    super::sysmon::wake_if_idle();
    crate::debug::trace::proc(p.id, true);
}

/// Drops `m`'s P, leaving it in the IDLE state but on no list; returns it.
pub(crate) fn releasep(m: &M) -> &'static P {
    let p = m.p.get();
    assert!(!p.is_null(), "releasep without a P");
    // SAFETY: Ps are 'static.
    let p: &'static P = unsafe { &*p };
    crate::debug::trace::proc(p.id, false);
    pstatus::set(&*p.status, m.p_word.get(), pstate::IDLE);
    m.p.set(ptr::null());
    m.p_word.set(0);
    p
}

/// Puts an IDLE P on the idle list (or stops it, during stop-the-world).
pub(crate) fn pidleput(l: &mut Locked, p: &'static P) {
    if SCHED.stw_pending.load(Ordering::SeqCst) {
        let w = p.status.load(Ordering::Acquire) & !0xff;
        p.status.store(w | pstate::STOPPED, Ordering::Release);
        l.stop_wait -= 1;
        if l.stop_wait == 0 {
            SCHED.stw_note.wakeup();
        }
        return;
    }
    l.pidle.push(p);
    SCHED.npidle.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn pidleget(l: &mut Locked) -> Option<&'static P> {
    let p = l.pidle.pop()?;
    SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: Ps are 'static.
    Some(unsafe { &*p })
}

/// The calling context, as seen by a runtime entry point.
pub(crate) enum Ctx {
    /// A thread the runtime does not own.
    Foreign,
    /// An M's scheduler stack (timer callbacks): `m.p` is RUNNING or null.
    G0(&'static M),
    /// A goroutine that entered the runtime. Its P, if any, is now RUNNING; `leave`
    /// hands it back to user code.
    Goroutine(&'static M, *mut G),
}

impl Ctx {
    /// The caller's M, if it has one.
    pub(crate) fn m(&self) -> Option<&'static M> {
        match self {
            Ctx::Foreign => None,
            Ctx::G0(m) | Ctx::Goroutine(m, _) => Some(m),
        }
    }

    /// The P the caller may use for queue operations, if any.
    pub(crate) fn p(&self) -> Option<&'static P> {
        match self {
            Ctx::Foreign => None,
            // SAFETY: Ps are 'static.
            Ctx::G0(m) | Ctx::Goroutine(m, _) => unsafe { m.p.get().as_ref() },
        }
    }
}

/// Enters the runtime: in a goroutine, turns its P from USER to RUNNING so sysmon cannot
/// take it while runtime code uses it. If sysmon took it already, tries to pick up an
/// idle P (like Go's exitsyscall fast path); otherwise continues without one.
pub(crate) fn enter() -> Ctx {
    let m = current_m();
    if m.is_null() {
        return Ctx::Foreign;
    }
    // SAFETY: Ms are leaked at creation, so the reference is 'static.
    let m: &'static M = unsafe { &*m };
    let g = m.curg.get();
    if g.is_null() {
        return Ctx::G0(m);
    }
    enter_goroutine(m, g)
}

/// [`enter`] for a caller that already knows it is goroutine `g` on `m`.
#[inline]
fn enter_goroutine(m: &'static M, g: *mut G) -> Ctx {
    let p = m.p.get();
    if !p.is_null() {
        // SAFETY: Ps are 'static.
        let pr = unsafe { &*p };
        if let Some(nw) = pstatus::owner_cas(&*pr.status, m.p_word.get(), pstate::RUNNING) {
            m.p_word.set(nw);
            return Ctx::Goroutine(m, g);
        }
        // Retaken by sysmon or stopped for stop-the-world: it is not ours any more.
        m.p.set(ptr::null());
        m.p_word.set(0);
    }
    if SCHED.npidle.load(Ordering::Relaxed) > 0 && !SCHED.stw_pending.load(Ordering::Relaxed) {
        let mut l = SCHED.lock.lock();
        if let Some(p) = pidleget(&mut l) {
            drop(l);
            acquirep(m, p);
        }
    }
    Ctx::Goroutine(m, g)
}

/// Leaves the runtime back into goroutine code: the P returns to USER.
pub(crate) fn leave(ctx: &Ctx) {
    if let Ctx::Goroutine(m, _) = ctx {
        let p = m.p.get();
        if !p.is_null() {
            // SAFETY: Ps are 'static; we own this one (RUNNING).
            let w = pstatus::set(&*unsafe { &*p }.status, m.p_word.get(), pstate::USER);
            m.p_word.set(w);
        }
    }
}

/// True when runtime code runs on a goroutine's stack while that goroutine's M holds its
/// P RUNNING (between `enter` and `leave`, e.g. timers fired during a direct switch).
fn runtime_holds_p() -> bool {
    let m = current_m();
    if m.is_null() {
        return false;
    }
    // SAFETY: Ms are never freed.
    let m = unsafe { &*m };
    !m.curg.get().is_null() && !m.p.get().is_null() && (m.p_word.get() & 0xff) == pstate::RUNNING
}

/// True when the caller is a goroutine.
pub(crate) fn in_goroutine() -> bool {
    let m = current_m();
    // SAFETY: Ms are never freed.
    !m.is_null() && !unsafe { &*m }.curg.get().is_null()
}

/// The running goroutine, or null.
pub(crate) fn current_g() -> *mut G {
    let m = current_m();
    if m.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: Ms are never freed.
    unsafe { &*m }.curg.get()
}

// ---------------------------------------------------------------------------------------
// Run queues
// ---------------------------------------------------------------------------------------

pub(crate) fn globrunq_put(l: &mut Locked, g: *mut G) {
    l.runq.push_back(GPtr(g));
    spin::publish_global_len(&SCHED.runq_len, l.runq.len());
}

/// Queues a batch at the global queue's tail, in order (a P's local queue overflowing).
pub(crate) fn globrunq_put_batch(batch: Vec<GPtr>) {
    let mut l = SCHED.lock.lock();
    l.runq.extend(batch);
    spin::publish_global_len(&SCHED.runq_len, l.runq.len());
}

pub(crate) fn globrunq_put_locked(g: *mut G) {
    let mut l = SCHED.lock.lock();
    globrunq_put(&mut l, g);
}

/// Takes a batch from the global queue into `p` (owned by the caller): one to run, plus up
/// to a fair share for the local queue.
fn globrunq_get(l: &mut Locked, p: &P, max: usize) -> Option<*mut G> {
    let n = l.runq.len();
    if n == 0 {
        return None;
    }
    let mut take = (n / gomaxprocs().max(1) + 1).min(n).min(128);
    if max > 0 {
        take = take.min(max);
    }
    // Never overflow the local queue here: that would need the lock we hold.
    take = take.min(super::p::LOCAL_RUNQ_CAP.saturating_sub(p.runq_len()).max(1));
    let g = l.runq.pop_front().map(|g| g.0);
    for _ in 1..take {
        if let Some(x) = l.runq.pop_front() {
            // SAFETY: the caller owns p.
            unsafe { p.runq_put(x.0, false) };
        }
    }
    spin::publish_global_len(&SCHED.runq_len, l.runq.len());
    g
}

/// Makes a WAITING goroutine runnable. Callable from anywhere: a goroutine inside the
/// runtime, a scheduler stack, the idle waiter, or a foreign thread.
pub(crate) fn ready(g: *mut G) {
    // A thread the runtime does not own counts as "inside gort" while the goroutine is in
    // transit (RUNNABLE but in no queue yet), so deadlock detection cannot fire then.
    let m = current_m();
    let _foreign = ForeignInside::enter_if(m.is_null());
    // SAFETY: Gs are never freed.
    let gr = unsafe { &*g };
    super::tsan::release(g);
    if let Err(s) = gr.status.compare_exchange(status::WAITING, status::RUNNABLE, Ordering::AcqRel, Ordering::Acquire) {
        crate::fatal::fatal(&format!("ready of goroutine {} in state {}", gr.id(), status_name(s)));
    }
    crate::debug::trace::unblock(gr);
    if !m.is_null() {
        // SAFETY: Ms are never freed.
        let mr: &'static M = unsafe { &*m };
        let p = mr.p.get();
        if !p.is_null() && (mr.p_word.get() & 0xff) == pstate::RUNNING {
            // Runtime code (a scheduler stack, a park callback) holding its P.
            // SAFETY: we own p (RUNNING by this M).
            unsafe { (*p).runq_put(g, true) };
            wakep();
            return;
        }
        let cur = mr.curg.get();
        if !cur.is_null() {
            // A goroutine in user code (a channel send, a mutex unlock): enter the runtime
            // so the P is ours, and queue the woken G in runnext, as Go's goready does —
            // it runs next, on this P, while its data is hot. The global queue would
            // serve it last (FIFO, and only one round in 61 when local work exists).
            let ctx = enter_goroutine(mr, cur);
            if let Some(p) = ctx.p() {
                // SAFETY: RUNNING by this M since enter.
                unsafe { p.runq_put(g, true) };
                leave(&ctx);
                wakep();
                return;
            }
            leave(&ctx);
        }
    }
    globrunq_put_locked(g);
    wakep();
}

/// [`ready`] for runtime code that holds its P and is about to look for work on it (the
/// netpoller's dispatch from `find_runnable` or `stopm`): the goroutine goes to `runnext`
/// and no other M is woken for it, since this one runs it next. Anywhere else, `ready`.
pub(crate) fn ready_local(g: *mut G) {
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms are never freed.
        let mr: &'static M = unsafe { &*m };
        let p = mr.p.get();
        if mr.curg.get().is_null() && !p.is_null() && (mr.p_word.get() & 0xff) == pstate::RUNNING {
            // SAFETY: Gs are never freed.
            let gr = unsafe { &*g };
            super::tsan::release(g);
            if let Err(s) =
                gr.status.compare_exchange(status::WAITING, status::RUNNABLE, Ordering::AcqRel, Ordering::Acquire)
            {
                crate::fatal::fatal(&format!("ready of goroutine {} in state {}", gr.id(), status_name(s)));
            }
            crate::debug::trace::unblock(gr);
            // SAFETY: we own p (RUNNING by this M, on its scheduler stack).
            unsafe { (*p).runq_put(g, true) };
            // More than the one we will run next: let an idle P help.
            // SAFETY: as above.
            if unsafe { (*p).runq_len() } > 1 {
                wakep();
            }
            return;
        }
    }
    ready(g)
}

/// Counts a foreign thread in `SCHED.foreign_blocked` for a scope (see `checkdead`).
pub(crate) struct ForeignInside(bool);

impl ForeignInside {
    pub(crate) fn enter_if(foreign: bool) -> ForeignInside {
        if foreign {
            SCHED.foreign_blocked.fetch_add(1, Ordering::SeqCst);
        }
        ForeignInside(foreign)
    }
}

impl Drop for ForeignInside {
    fn drop(&mut self) {
        // The last foreign thread leaving may be all that kept the last idle M's
        // `checkdead` quiet (e.g. gort_main's thread still inside `spawn_main` when its
        // goroutine already exited): nobody else would look again, so look now.
        if self.0
            && SCHED.foreign_blocked.fetch_sub(1, Ordering::SeqCst) == 1
            && SCHED.main_active.load(Ordering::SeqCst)
        {
            let l = SCHED.lock.lock();
            checkdead(&l);
        }
    }
}

pub(crate) fn status_name(s: u32) -> &'static str {
    match s {
        status::IDLE => "idle",
        status::RUNNABLE => "runnable",
        status::RUNNING => "running",
        status::WAITING => "waiting",
        status::DEAD => "dead",
        _ => "?",
    }
}

// ---------------------------------------------------------------------------------------
// Spinning Ms and wake-ups
// ---------------------------------------------------------------------------------------

/// Starts an M spinning if there is an idle P and nobody is spinning yet. Called whenever
/// new work appears; the spinning M either finds it or hands the search on, so work is
/// never left queued while a P is idle (no lost wake-ups).
pub(crate) fn wakep() {
    if spin::claim_wakeup(&*SCHED.npidle, &*SCHED.nmspinning) {
        startm(None, true);
    }
}

/// Runs `p` (or an idle P) on an idle or new M. With `spinning`, the caller has already
/// counted the M in `nmspinning`.
pub(crate) fn startm(p: Option<&'static P>, spinning: bool) {
    let mut l = SCHED.lock.lock();
    let p = match p.or_else(|| pidleget(&mut l)) {
        Some(p) => p,
        None => {
            drop(l);
            if spinning {
                SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
    };
    if let Some(m) = l.midle.pop() {
        l.nmidle -= 1;
        // SAFETY: Ms are 'static.
        let m = unsafe { &*m };
        m.idle.store(false, Ordering::Release);
        // The timer/poll waiter keeps its role until it has woken up and given it back
        // itself (`leave_waiter_role`): were the role cleared here, another M going idle
        // could take it and block in epoll_wait too, and the break meant for this M could
        // wake that one instead, leaving this M asleep with a P nobody runs.
        let was_waiter = std::ptr::eq(SCHED.idle_waiter.load(Ordering::Acquire), m);
        drop(l);
        hand_to(m, p, spinning);
        if was_waiter {
            // It may be sleeping in epoll_wait rather than on its note.
            crate::netpoll::wake_poller();
        }
        return;
    }
    if l.mcount >= MAX_THREADS {
        drop(l);
        crate::fatal::fatal("thread exhaustion");
    }
    l.mcount += 1;
    let id = l.next_mid;
    l.next_mid += 1;
    drop(l);
    newm(id, p, spinning);
}

/// Hands `p` to the sleeping M `m` and wakes it.
fn hand_to(m: &M, p: &'static P, spinning: bool) {
    let tagged = if spinning { (p as *const P as usize | 1) as *mut P } else { p as *const P as *mut P };
    m.nextp.store(tagged, Ordering::Release);
    m.note.wakeup();
}

/// Takes the P handed to `m`, if any; returns whether it should spin.
fn take_nextp(m: &M) -> Option<(&'static P, bool)> {
    let t = m.nextp.swap(ptr::null_mut(), Ordering::Acquire);
    if t.is_null() {
        return None;
    }
    let spinning = (t as usize) & 1 == 1;
    // SAFETY: Ps are 'static and 8-aligned, so the low bit is our tag.
    Some((unsafe { &*(((t as usize) & !1) as *const P) }, spinning))
}

fn newm(id: u64, p: &'static P, spinning: bool) {
    let m: &'static M = Box::leak(Box::new(M::new(id)));
    hand_to(m, p, spinning);
    extern "C" fn body(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: newm passes a leaked ('static) M.
        let m: &'static M = unsafe { &*(arg as *const M) };
        mstart(m);
        std::ptr::null_mut()
    }
    if let Err(e) = spawn_thread(&format!("gort-m{id}"), M_STACK_SIZE, body, m as *const M as *mut libc::c_void) {
        crate::fatal::fatal(&format!("newm: cannot create an OS thread: {e}"));
    }
}

/// Starts a detached OS thread running `body(arg)`. Raw pthreads rather than std::thread:
/// runtime threads never exit or get joined, and std's join bookkeeping would only be
/// leaked (and reported by LeakSanitizer).
pub(crate) fn spawn_thread(
    name: &str,
    stack_size: usize,
    body: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void,
    arg: *mut libc::c_void,
) -> std::io::Result<()> {
    // TSan builds: the whole thread is runtime code (see `tsan::InRuntime`).
    #[cfg(feature = "tsan")]
    let (body, arg) = {
        type Start = (extern "C" fn(*mut libc::c_void) -> *mut libc::c_void, *mut libc::c_void);
        extern "C" fn unobserved_start(p: *mut libc::c_void) -> *mut libc::c_void {
            let _runtime = super::tsan::InRuntime::enter();
            // SAFETY: boxed below for this thread alone.
            let start = unsafe { Box::from_raw(p as *mut Start) };
            (start.0)(start.1)
        }
        let start: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void = unobserved_start;
        (start, Box::into_raw(Box::new((body, arg) as Start)) as *mut libc::c_void)
    };
    // SAFETY: standard pthread calls on a local attribute object; `body` and `arg` are valid
    // for the thread's lifetime per the callers.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, stack_size);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut tid: libc::pthread_t = std::mem::zeroed();
        let r = libc::pthread_create(&mut tid, &attr, body, arg);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        let mut cname = [0u8; 16];
        let n = name.len().min(15);
        cname[..n].copy_from_slice(&name.as_bytes()[..n]);
        libc::pthread_setname_np(tid, cname.as_ptr() as *const libc::c_char);
    }
    Ok(())
}

/// Thread body of every M.
fn mstart(m: &'static M) {
    set_current_m(m);
    // Before the first P: a stop of the world waits for that P, and takes the thread
    // registry only afterwards, so this never waits for a stopped world.
    super::world::register_m(m);
    m.g0_stack.set(super::asan::thread_stack_bounds());
    m.g0_fiber.set(super::tsan::current_fiber());
    // The thread's start (its TLS block's initialization) happens before the goroutines
    // that run on it touch that TLS (acquired in `after_switch`).
    super::tsan::release(m);
    super::signals::thread_init();
    // Wait for our first P (it was handed over before the thread started).
    let (p, spinning) = take_nextp(m).expect("a new M starts with a P");
    acquirep(m, p);
    if spinning {
        m.spinning.set(true);
    }
    schedule_loop(m);
}

fn reset_spinning(m: &M) {
    m.spinning.set(false);
    if spin::found_work(&*SCHED.nmspinning) {
        // We were the last spinner and found work: there may be more; hand the search on.
        wakep();
    }
}

// ---------------------------------------------------------------------------------------
// The M loop
// ---------------------------------------------------------------------------------------

fn schedule_loop(m: &'static M) -> ! {
    loop {
        if !m.locked_g.get().is_null() {
            // Our locked goroutine switched out: this M runs nothing else.
            let g = stoplockedm(m);
            execute(m, g, false);
            continue;
        }
        let (g, inherit) = find_runnable(m);
        if m.spinning.get() {
            reset_spinning(m);
        }
        // SAFETY: Gs are never freed.
        let lm = unsafe { &*g }.locked_m.load(Ordering::Acquire);
        if !lm.is_null() && !std::ptr::eq(lm, m) {
            // SAFETY: Ms are never freed.
            startlockedm(m, g, unsafe { &*lm });
            continue;
        }
        execute(m, g, inherit);
    }
}

/// Makes `g` (dequeued by us) the running goroutine of `m`, ready to be switched to. The
/// P stays RUNNING: the goroutine itself hands it to user code in [`after_switch`].
/// Unless `inherit` (it came from `runnext`), `g` starts a new time slice. Inlined into
/// both callers: it is on the path of every switch.
#[inline(always)]
/// `direct`: a goroutine-to-goroutine switch, right after the previous one left (the
/// trace stamps both with one clock reading).
fn prepare_run(m: &M, p: &P, g: *mut G, inherit: bool, direct: bool) {
    // SAFETY: we dequeued g, so we own it.
    let gr = unsafe { &*g };
    let tick = p.schedtick.load(Ordering::Relaxed).wrapping_add(1);
    p.schedtick.store(tick, Ordering::Relaxed);
    if !inherit {
        p.slice_tick.store(tick, Ordering::Relaxed);
    }
    gr.status.store(status::RUNNING, Ordering::Release);
    crate::debug::trace::start(gr, p.id, direct);
    if gr.fresh.get() {
        gr.fresh.set(false);
        // SAFETY: we own g; it has no stack yet (stacks are returned at exit).
        let slot = unsafe { &mut *gr.stack.get() };
        let st = slot.insert(stackalloc(p));
        // SAFETY: the stack is ours and unused; init_stack writes below its top.
        unsafe { *gr.sp.get() = arch::init_stack(st.top(), gstart) };
    }
    // Only once the stack slot is written: the CPU profiler's SIGPROF handler, interrupting
    // this thread anywhere, reads the slot of `curg` to bound its frame walk (a direct
    // switch runs this on the previous goroutine's stack). A compiler fence suffices: the
    // handler runs on this thread.
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    m.curg.set(g);
}

/// A stack for a goroutine about to start: from the P's cache, the global pool, or fresh.
fn stackalloc(p: &P) -> stack::Stack {
    // SAFETY: we own p.
    let cache = unsafe { &mut *p.stack_cache.get() };
    if let Some(s) = cache.pop() {
        return s;
    }
    stack::STACK_POOL.take(STACK_CACHE_MAX / 2, cache);
    if let Some(s) = cache.pop() {
        return s;
    }
    let size = SCHED.stack_size.load(Ordering::Relaxed);
    if let Some(s) = stack::alloc(size) {
        return s;
    }
    // Every slot is carved. The goroutine holds a reservation, so fewer goroutines live
    // than there are slots: an idle stack exists, in another P's cache or, for a moment,
    // with the scavenger. Idle Ps' caches are emptied at once, busy Ps empty theirs at
    // their next scheduling round (sysmon retakes a P stuck in C code within 10 ms).
    let since = crate::time::nanotime();
    loop {
        super::sysmon::flush_stack_caches();
        if let Some(s) = stack::STACK_POOL.take_one().or_else(|| stack::alloc(size)) {
            return s;
        }
        if crate::time::nanotime() - since > 60_000_000_000 {
            crate::fatal::fatal("out of memory: no stack for a goroutine that reserved one");
        }
        // SAFETY: plain sleep of this thread.
        unsafe { libc::usleep(1000) };
    }
}

/// Reserves a stack slot for a goroutine being spawned (see `stack::reserve`): from the
/// P's batch of reservations, else a new batch. False when the address space is
/// exhausted: `gort_go` reports `GORT_ENOMEM`.
fn reserve_stack(p: Option<&P>) -> bool {
    let size = SCHED.stack_size.load(Ordering::Relaxed);
    let Some(p) = p else {
        return stack::reserve(1, size) == 1 || {
            super::sysmon::flush_stack_caches(); // idle Ps give back their reservations
            stack::reserve(1, size) == 1
        };
    };
    let have = p.stack_reserved.get();
    if have > 0 {
        p.stack_reserved.set(have - 1);
        return true;
    }
    let mut got = stack::reserve(STACK_RESERVE_BATCH, size);
    if got == 0 {
        super::sysmon::flush_stack_caches();
        got = stack::reserve(1, size);
    }
    if got == 0 {
        return false;
    }
    p.stack_reserved.set(got - 1);
    true
}

/// Gives back the reservation of a goroutine that ended (or failed to spawn).
fn unreserve_stack(p: *const P) {
    if p.is_null() {
        stack::unreserve(1);
        return;
    }
    // SAFETY: the caller owns p.
    let p = unsafe { &*p };
    let have = p.stack_reserved.get() + 1;
    if have > 2 * STACK_RESERVE_BATCH {
        stack::unreserve(STACK_RESERVE_BATCH);
        p.stack_reserved.set(have - STACK_RESERVE_BATCH);
    } else {
        p.stack_reserved.set(have);
    }
}

/// Reservations a P takes from the arena at a time (one arena lock per this many spawns).
const STACK_RESERVE_BATCH: usize = 32;

/// Returns a dead goroutine's stack to the P's cache (or the global pool).
fn stackfree(p: *const P, s: stack::Stack) {
    if p.is_null() {
        stack::STACK_POOL.put(std::iter::once(s));
        return;
    }
    // SAFETY: we own p.
    let cache = unsafe { &mut *(*p).stack_cache.get() };
    cache.push(s);
    if cache.len() > STACK_CACHE_MAX {
        stack::STACK_POOL.put(cache.drain(STACK_CACHE_MAX / 2..));
    }
}

/// Moves the P's cached stacks to the global pool, where the scavenger can release them
/// once idle (it asks for this through `P::stack_flush`).
///
/// # Safety
/// The caller owns `p` (RUNNING, or taken off the idle list under the scheduler lock).
pub(crate) unsafe fn flush_stack_cache(p: &P) {
    p.stack_flush.store(false, Ordering::Relaxed);
    // SAFETY: per the contract.
    let cache = unsafe { &mut *p.stack_cache.get() };
    stack::STACK_POOL.put(cache.drain(..));
    // Spare reservations too: a spawn elsewhere may be out of address space.
    stack::unreserve(p.stack_reserved.replace(0));
}

/// Switches from g0 to `g` and, when it switches back, carries out what it asked for.
/// `inherit`: `g` came from `runnext` and continues the current time slice.
fn execute(m: &'static M, g: *mut G, inherit: bool) {
    // SAFETY: we hold the P.
    let p = unsafe { &*m.p.get() };
    prepare_run(m, p, g, inherit, false);
    // SAFETY: g's stack slot is ours to read (we are about to run it).
    let (lo, size) = unsafe { super::g::stack_bounds(g) };
    super::asan::start_switch(m.g0_asan.as_ptr(), lo, size);
    // SAFETY: Gs are never freed; g is ours to run.
    super::tsan::switch_to_goroutine(unsafe { &(*g).tsan_fiber });
    // SAFETY: g's saved sp is valid (fresh frame or saved by its last switch out); g0's
    // slot is ours.
    unsafe { arch::switch(m.g0_sp.get(), *(*g).sp.get(), g as usize) };
    super::asan::finish_switch(m.g0_asan.get());
    // Back on g0. The goroutine entered the runtime first, so our P (if we still have one)
    // is RUNNING. It may not be `g`: goroutines switch among themselves directly.
    let g = m.curg.replace(ptr::null_mut());
    let action = m.action.replace(Action::None);
    complete(m, g, action);
}

/// Carries out what a goroutine that switched out asked for. Runs on g0 or, after a
/// direct switch, on the incoming goroutine's stack; either way with the P RUNNING.
fn complete(m: &'static M, g: *mut G, action: Action) {
    // SAFETY: Gs are never freed; g has switched out and is ours until we queue it.
    let gr = unsafe { &*g };
    // SAFETY: g switched out; its stack slot is ours to read.
    if unsafe { gr.stack() }.is_some_and(|s| !s.canary_intact()) {
        super::signals::stack_overflow(gr.id());
    }
    match action {
        Action::Yield => {
            gr.spawn_streak.set(0);
            crate::debug::trace::sched(gr);
            gr.status.store(status::RUNNABLE, Ordering::Release);
            requeue(m, g, false);
        }
        Action::YieldNext => {
            crate::debug::trace::sched(gr);
            gr.status.store(status::RUNNABLE, Ordering::Release);
            requeue(m, g, true);
        }
        Action::Park { unlock, arg } => {
            gr.spawn_streak.set(0);
            // Release: whoever readies it learns of the park through the callback's
            // unlock (or a later Release) and CASes WAITING → RUNNABLE after that. No
            // Dekker pairs with this store, and SeqCst would cost an `xchg` per park.
            gr.status.store(status::WAITING, Ordering::Release);
            if let Some(f) = unlock
                && !f(g, arg)
            {
                crate::debug::trace::unblock(gr);
                gr.status.store(status::RUNNABLE, Ordering::Release);
                requeue(m, g, true);
            }
        }
        Action::Exit => gdestroy(m, g),
        Action::None => crate::fatal::fatal("goroutine switched out without an action"),
    }
}

/// First thing a goroutine does whenever it resumes: finish the switch that brought it
/// here, then give the P to user code.
#[inline]
fn after_switch() {
    let m = current_m();
    // SAFETY: we are a goroutine, so m is our (leaked, 'static) M.
    let m: &'static M = unsafe { &*m };
    // SAFETY: curg is us.
    super::asan::finish_switch(unsafe { &*m.curg.get() }.asan_fake.get());
    // Whoever readied or spawned us released on our descriptor; the thread we now run
    // on released on its M at its start.
    super::tsan::acquire(m.curg.get());
    super::tsan::acquire(m);
    if let Some((g, action)) = m.after.take() {
        complete(m, g, action);
        direct_switch_timers(m);
    }
    leave(&Ctx::Goroutine(m, m.curg.get()));
}

/// The timer check of the direct-switch path: every 16th round, or when sysmon saw a
/// timer overdue. Reading the clock on every round would cost a third of a yield; between
/// checks a timer can be late by at most 15 rounds, or by sysmon's period when rounds are
/// long (as in Go, where a busy P's timers also wait for its next scheduling point or
/// sysmon).
///
/// It runs after [`complete`], never before the switch: a goroutine parking on a channel
/// still holds the channel's lock until its park callback releases it, and a timer
/// callback may take that same lock (a user timer sending on its channel), which would
/// deadlock the thread against itself.
#[inline]
fn direct_switch_timers(m: &M) {
    let p = m.p.get();
    if p.is_null() {
        return;
    }
    // SAFETY: Ps are 'static; we hold this one (RUNNING) until `leave`.
    let p = unsafe { &*p };
    if p.schedtick.load(Ordering::Relaxed) & 15 == 0 || p.timer_nudge.load(Ordering::Relaxed) {
        p.check_timers();
    }
}

/// Puts a runnable G back on the local queue, or the global one without a P.
fn requeue(m: &M, g: *mut G, next: bool) {
    let p = m.p.get();
    if p.is_null() {
        globrunq_put_locked(g);
        wakep();
    } else {
        // SAFETY: we own p.
        unsafe { (*p).runq_put(g, next) };
        if !m.locked_g.get().is_null() {
            wakep();
        }
    }
}

/// Entry point of every goroutine, on its own stack.
unsafe extern "C" fn gstart(arg: usize) -> ! {
    // A new fiber: the runtime's code until the entry runs (see `tsan::InRuntime`).
    super::tsan::enter_runtime();
    after_switch();
    let g = arg as *mut G;
    // TSan: whatever goroutine used this stack slot before is no concern of ours (an
    // ordering edge from it would hide its races with us).
    if cfg!(feature = "tsan") {
        // SAFETY: g is us; our stack is ours.
        let (lo, size) = unsafe { super::g::stack_bounds(g) };
        super::tsan::new_memory(lo, size);
    }
    // SAFETY: we are g, running; the entry is ours to take.
    let entry = std::mem::replace(unsafe { &mut *(*g).entry.get() }, Entry::None);
    match entry {
        // SAFETY: the C caller of gort_go promised fn is callable with arg.
        Entry::C(f, a) => super::tsan::user_call(|| unsafe { f(a) }),
        Entry::Rust(b) => {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(b)).is_err() {
                crate::fatal::fatal("a Rust goroutine panicked");
            }
        }
        Entry::None => {}
    }
    goexit_final()
}

/// Ends the calling goroutine after its deferred calls have run.
pub(crate) fn goexit_final() -> ! {
    if crate::runtime::in_forked_child() {
        // The goroutine that called fork returned in the child: the scheduler's other
        // threads (and the locks they held) do not exist there.
        crate::runtime::forked_child_fatal("a goroutine returning");
    }
    crate::panic::run_all_defers();
    switch_away(Action::Exit);
    crate::fatal::fatal("dead goroutine resumed")
}

/// Switches the calling goroutine out with `action`: straight to the next goroutine of
/// the local run queue when there is one (one context switch, no scheduler round), else
/// to its M's scheduler (g0). Returns when the goroutine is next scheduled (never, for
/// `Action::Exit`).
pub(crate) fn switch_away(action: Action) {
    let m = current_m();
    // SAFETY: Ms are never freed.
    let g = if m.is_null() { ptr::null_mut() } else { unsafe { &*m }.curg.get() };
    if g.is_null() {
        crate::fatal::fatal("switch_away outside a goroutine");
    }
    // SAFETY: as above.
    switch_away_from(unsafe { &*m }, g, action);
}

/// [`switch_away`] for goroutine `g` running on `m`.
#[inline]
fn switch_away_from(m: &'static M, g: *mut G, action: Action) {
    let _ = enter_goroutine(m, g);
    // TSan destroys no fiber that ignores accesses: an exiting goroutine leaves the
    // runtime for good at the last moment, just before the switch.
    let exiting = matches!(action, Action::Exit);
    // An exiting goroutine is never resumed: ASan may drop its fake stack.
    // SAFETY: g is us.
    let save = if matches!(action, Action::Exit) { ptr::null_mut() } else { unsafe { &*g }.asan_fake.as_ptr() };
    if let Some((next, inherit)) = direct_next(m, matches!(action, Action::Yield)) {
        m.after.set(Some((g, action)));
        // SAFETY: we hold the P (RUNNING).
        prepare_run(m, unsafe { &*m.p.get() }, next, inherit, true);
        // SAFETY: next is ours and has its stack now.
        let (lo, size) = unsafe { super::g::stack_bounds(next) };
        super::asan::start_switch(save, lo, size);
        if exiting {
            super::tsan::leave_runtime();
        }
        // SAFETY: next was dequeued by us.
        super::tsan::switch_to_goroutine(unsafe { &(*next).tsan_fiber });
        // SAFETY: g is running (its sp slot is written by the switch); next was dequeued
        // by us and its saved sp is valid.
        unsafe { arch::switch((*g).sp.get(), *(*next).sp.get(), next as usize) };
    } else {
        m.action.set(action);
        let (lo, size) = m.g0_stack.get();
        super::asan::start_switch(save, lo, size);
        if exiting {
            super::tsan::leave_runtime();
        }
        super::tsan::switch_to(m.g0_fiber.get());
        // SAFETY: g is the running goroutine; g0's sp was saved when g0 last switched
        // into a goroutine on this M.
        unsafe { arch::switch((*g).sp.get(), *m.g0_sp.get(), 0) };
    }
    // Resumed, possibly on another M: nothing from before the switch is reused.
    after_switch();
}

/// One scheduling round in 61 takes from the global queue first, so that a P whose local
/// queue never empties (goroutines yielding to each other) cannot starve it. Both the
/// direct-switch path and `find_runnable` must use this same test for the same round:
/// `schedtick` is advanced only when the chosen G starts.
#[inline]
fn global_queue_turn(p: &P) -> bool {
    SCHED.runq_len.load(Ordering::Relaxed) > 0 && p.schedtick.load(Ordering::Relaxed) % 61 == 60
}

/// The goroutine to switch to directly, if the fast path applies: we hold a P, nothing
/// needs the scheduler's attention (locked thread, stop-the-world, the periodic global
/// queue check), and the local queue is not empty. A yielding goroutine hands over to
/// the oldest queued G (`local_next` with `yielding`), anything else to the newest. Also
/// returns whether the G inherits the time slice ([`local_next`]).
#[inline]
fn direct_next(m: &M, yielding: bool) -> Option<(*mut G, bool)> {
    let p = m.p.get();
    if p.is_null() || !m.locked_g.get().is_null() || SCHED.stw_pending.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: we hold the P (RUNNING).
    let p = unsafe { &*p };
    if global_queue_turn(p) {
        return None; // find_runnable takes from the global queue this round
    }
    // SAFETY: we own p.
    let (next, inherit) = unsafe { local_next(p, yielding) }?;
    // SAFETY: Gs are never freed.
    if !unsafe { &*next }.locked_m.load(Ordering::Acquire).is_null() {
        // SAFETY: we own p.
        unsafe { p.runq_put(next, true) };
        return None;
    }
    Some((next, inherit))
}

/// The owner's next G from its local queue, and whether it inherits the current time
/// slice: a `runnext` G does (Go's `inheritTime`), so goroutines waking each other into
/// `runnext` (a channel ping-pong, a mutex + cond pair) all run in one slice. Once sysmon
/// has found the slice 10 ms old with other work waiting (`P::slice_over`), the slice
/// ends here ([`end_slice`]) and what waited behind the pair runs: queued goroutines,
/// goroutines readied by timers. Without this a pair kept its P for ever, since each
/// readies the other into `runnext`, which is always taken first. A yielding goroutine
/// takes the oldest queued G, anything else the newest.
///
/// # Safety
/// The caller must own `p` (RUNNING).
#[inline(always)]
unsafe fn local_next(p: &P, yielding: bool) -> Option<(*mut G, bool)> {
    if p.slice_over.load(Ordering::Relaxed) {
        end_slice(p);
    }
    if let Some(g) = p.take_runnext() {
        return Some((g, true));
    }
    let g = if yielding {
        p.take_oldest()
    } else {
        // SAFETY: the caller owns p.
        unsafe { p.runq_get_queued() }
    }?;
    Some((g, false))
}

/// Ends the P's time slice: the `runnext` G goes to the global queue's tail, as a
/// preempted goroutine does in Go, so the local queue runs before the pair it belongs to
/// resumes. The caller may be a goroutine on its way out that still holds a channel
/// lock, so timers are not fired here: the nudge makes the check after the switch (or
/// `find_runnable`'s) look at them.
#[cold]
#[inline(never)]
fn end_slice(p: &P) {
    p.slice_over.store(false, Ordering::Relaxed);
    p.timer_nudge.store(true, Ordering::Relaxed);
    if let Some(g) = p.take_runnext() {
        globrunq_put_locked(g);
        wakep();
    }
}

/// Recycles a finished goroutine (on g0).
fn gdestroy(m: &'static M, g: *mut G) {
    // SAFETY: g is dead and ours.
    let gr = unsafe { &*g };
    crate::debug::trace::end(gr);
    super::tsan::destroy_fiber(&gr.tsan_fiber);
    if m.locked_g.get() == g {
        m.locked_g.set(ptr::null_mut());
    }
    gr.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
    gr.lock_count.set(0);
    // SAFETY: as above; nothing else touches a dead G's panic state or stack.
    if let Some(ps) = unsafe { (*gr.panic.get()).as_mut() } {
        ps.reset();
    }
    // SAFETY: as above.
    if let Some(s) = unsafe { (*gr.stack.get()).take() } {
        stackfree(m.p.get(), s);
    }
    unreserve_stack(m.p.get());
    gr.status.store(status::DEAD, Ordering::Release);
    count_goroutines(m.p.get(), -1);
    gfput(m.p.get(), g);
}

/// Counts `d` goroutines on `p` (owned by the caller) or, without a P, globally.
#[inline]
fn count_goroutines(p: *const P, d: i64) {
    if p.is_null() {
        SCHED.ngoroutine.fetch_add(d, Ordering::SeqCst);
    } else {
        // SAFETY: the caller owns p (RUNNING).
        unsafe { (*p).count_goroutines(d) };
    }
}

/// Live goroutines: the global count plus every P's (those beyond `gomaxprocs` too: a
/// goroutine may have started on a P that is gone and end on another). Exact when the
/// runtime is quiescent (`checkdead`, under the scheduler lock with every P idle);
/// otherwise a snapshot, as Go's `NumGoroutine` is.
pub(crate) fn num_goroutine() -> i64 {
    let mut n = SCHED.ngoroutine.load(Ordering::SeqCst);
    for slot in &SCHED.allp {
        let p = slot.load(Ordering::Acquire);
        if p.is_null() {
            break;
        }
        // SAFETY: Ps are never freed.
        n += unsafe { &*p }.ngoroutine.load(Ordering::Acquire);
    }
    n
}

fn gfput(p: *const P, g: *mut G) {
    if p.is_null() {
        SCHED.gfree.lock().push(GPtr(g));
        return;
    }
    // SAFETY: we own p; its gfree is owner-only.
    let list = unsafe { &mut *(*p).gfree.get() };
    list.push(GPtr(g));
    if list.len() > GFREE_LOCAL_MAX {
        let mut gl = SCHED.gfree.lock();
        gl.extend(list.drain(GFREE_LOCAL_MAX / 2..));
    }
}

/// A new descriptor, when no free one is left. With a P, a whole batch is made at once
/// (one lock of the list of all Gs and of the descriptor arena for many goroutines) and the rest goes
/// to the P's free list. None when out of memory.
fn gnew(p: Option<&P>) -> Option<*mut G> {
    let want = if p.is_some() { GFREE_LOCAL_MAX / 2 } else { 1 };
    // Room in the list of all Gs first: descriptors, once made, are never freed.
    let mut batch = super::g::ALLGS.push_batch(want, super::g::alloc_batch)?;
    let g = batch.pop()?.0;
    if let Some(p) = p {
        // SAFETY: we own p; its gfree is owner-only (and empty: gfget just failed).
        unsafe { &mut *p.gfree.get() }.extend(batch);
    }
    Some(g)
}

fn gfget(p: Option<&P>) -> Option<*mut G> {
    if let Some(p) = p {
        // SAFETY: we own p.
        let list = unsafe { &mut *p.gfree.get() };
        if list.is_empty() {
            let mut gl = SCHED.gfree.lock();
            let n = gl.len().min(GFREE_LOCAL_MAX / 2);
            let at = gl.len() - n;
            list.extend(gl.drain(at..));
        }
        return list.pop().map(|g| g.0);
    }
    SCHED.gfree.lock().pop().map(|g| g.0)
}

// ---------------------------------------------------------------------------------------
// Spawning
// ---------------------------------------------------------------------------------------

/// Creates a goroutine running `entry`; returns its id, or None when no descriptor or no
/// stack slot could be had (nothing is kept then). The stack itself is taken when the
/// goroutine first runs, but its slot is reserved here (`stack::reserve`), so running
/// out of address space is the spawner's error (`GORT_ENOMEM`), not a fatal one later.
pub(crate) fn spawn(entry: Entry) -> Option<i64> {
    spawn_with_id(entry, None, 0)
}

/// [`spawn`] for an export called from C: `created_pc` is the return address into the
/// caller, the "created by" line of goroutine dumps.
pub(crate) fn spawn_from(entry: Entry, created_pc: usize) -> Option<i64> {
    spawn_with_id(entry, None, created_pc)
}

static MAIN_ID_TAKEN: AtomicBool = AtomicBool::new(false);

/// Spawns `gort_main`'s goroutine: the first one gets id 1, like Go's main goroutine.
pub(crate) fn spawn_main(entry: Entry) -> Option<i64> {
    let id = if MAIN_ID_TAKEN.swap(true, Ordering::AcqRel) { None } else { Some(1) };
    spawn_with_id(entry, id, 0)
}

fn spawn_with_id(entry: Entry, forced_id: Option<i64>, created_pc: usize) -> Option<i64> {
    crate::runtime::ensure_init();
    // Runtime code running on a goroutine's stack with its P already RUNNING (a timer
    // callback fired from `after_switch`, e.g. `gort_after_func`) is not user code: it must
    // neither hand the P back to user code (`leave`) nor switch out for back-pressure.
    let nested = runtime_holds_p();
    let ctx = enter();
    // See `ready`: a new goroutine is counted before it is queued.
    let _foreign = ForeignInside::enter_if(matches!(ctx, Ctx::Foreign));
    let p = ctx.p();
    let Some(g) = gfget(p).or_else(|| gnew(p)).filter(|&g| {
        reserve_stack(p) || {
            gfput(p.map_or(ptr::null(), |p| p as *const P), g);
            false
        }
    }) else {
        if !nested {
            leave(&ctx);
        }
        return None;
    };
    // SAFETY: g is IDLE/DEAD and ours until queued.
    let gr = unsafe { &*g };
    let id = forced_id.unwrap_or_else(|| next_goid(p));
    gr.id.store(id, Ordering::Relaxed);
    // SAFETY: as above.
    unsafe { *gr.entry.get() = entry };
    gr.fresh.set(true);
    gr.asan_fake.set(ptr::null_mut());
    gr.wait_reason.set("");
    gr.spawn_streak.set(0);
    let parent = match ctx {
        // SAFETY: Gs are never freed; cur is the running goroutine.
        Ctx::Goroutine(_, cur) => unsafe { &*cur }.id(),
        _ => 0,
    };
    gr.parent_id.store(parent, Ordering::Relaxed);
    gr.created_pc.store(created_pc, Ordering::Relaxed);
    crate::debug::trace::create(gr, parent);
    // The spawner's writes (the argument it passes) happen before the goroutine starts.
    super::tsan::release(g);
    gr.status.store(status::RUNNABLE, Ordering::Release);
    count_goroutines(p.map_or(ptr::null(), |p| p as *const P), 1);
    match p {
        // SAFETY: we own p (RUNNING).
        Some(p) => unsafe { p.runq_put(g, true) },
        None => globrunq_put_locked(g),
    }
    let spawner = match ctx {
        Ctx::Goroutine(m, cur) if p.is_some() && !nested => Some((m, cur)),
        _ => None,
    };
    if !nested {
        leave(&ctx);
    }
    wakep();
    // Back-pressure: a goroutine that keeps spawning (SPAWN_STREAK in a row without
    // blocking) while the global queue grows runs its newest child before going on, so
    // queued descriptors stay bounded (spawn 1M: 160k queued at the peak without it). Fork
    // trees (a few children, then a wait) are left alone: suspending their parents
    // mid-spawn would hold more stacks, not fewer. Go has no such rule; its slower spawn
    // path keeps pace by itself.
    if let Some((m, cur)) = spawner {
        // SAFETY: cur is the running goroutine (us); Gs are never freed.
        let streak = unsafe { &*cur }.spawn_streak.get().saturating_add(1);
        // SAFETY: as above.
        unsafe { &*cur }.spawn_streak.set(streak);
        if streak > SPAWN_STREAK && SCHED.runq_len.load(Ordering::Relaxed) > SPAWN_BACKLOG {
            switch_away_from(m, cur, Action::YieldNext);
        }
    }
    Some(id)
}

/// Spawns in a row, and global run queue length, beyond which a spawning goroutine runs
/// its newest child first.
const SPAWN_STREAK: u32 = 64;
const SPAWN_BACKLOG: usize = 1024;

fn next_goid(p: Option<&P>) -> i64 {
    const BATCH: i64 = 16;
    match p {
        Some(p) => {
            if p.goid_next.get() == p.goid_end.get() {
                let start = SCHED.goid_gen.fetch_add(BATCH, Ordering::Relaxed) + 1;
                p.goid_next.set(start);
                p.goid_end.set(start + BATCH);
            }
            let id = p.goid_next.get();
            p.goid_next.set(id + 1);
            id
        }
        None => SCHED.goid_gen.fetch_add(1, Ordering::Relaxed) + 1,
    }
}

// ---------------------------------------------------------------------------------------
// Finding work
// ---------------------------------------------------------------------------------------

/// Returns a runnable G, with `m` holding a P in the RUNNING state, and whether it
/// inherits the time slice (see [`local_next`]). Sleeps the M when there is nothing to do.
fn find_runnable(m: &'static M) -> (*mut G, bool) {
    'top: loop {
        if m.p.get().is_null() {
            stopm(m);
        }
        // SAFETY: we hold the P.
        let p: &'static P = unsafe { &*m.p.get() };
        if SCHED.stw_pending.load(Ordering::SeqCst) {
            stop_for_stw(m);
            continue;
        }
        p.check_timers();
        if p.stack_flush.load(Ordering::Relaxed) {
            // SAFETY: we own p.
            unsafe { flush_stack_cache(p) };
        }
        // Fairness: now and then the global queue goes first, so a stream of local work
        // cannot starve it.
        if global_queue_turn(p) {
            let mut l = SCHED.lock.lock();
            if let Some(g) = globrunq_get(&mut l, p, 1) {
                return (g, false);
            }
        }
        // SAFETY: we own p.
        if let Some(next) = unsafe { local_next(p, false) } {
            return next;
        }
        if SCHED.runq_len.load(Ordering::SeqCst) > 0 {
            let mut l = SCHED.lock.lock();
            if let Some(g) = globrunq_get(&mut l, p, 0) {
                return (g, false);
            }
        }
        // Goroutines whose fds became ready (Go polls here too, before stealing), unless a
        // thread already sleeps in epoll_wait: it gets the events anyway, and a syscall per
        // scheduling miss is what this would cost.
        if crate::netpoll::has_waiters() && !crate::netpoll::poller_blocked() && crate::netpoll::poll_nonblocking() {
            // SAFETY: we own p; what the poll readied went to our runnext.
            if let Some(g) = unsafe { p.runq_get() } {
                return (g, false);
            }
        }
        // Steal, if not too many are spinning already (half the busy Ps at most).
        let n = gomaxprocs();
        let busy = n.saturating_sub(SCHED.npidle.load(Ordering::SeqCst));
        if m.spinning.get() || 2 * SCHED.nmspinning.load(Ordering::SeqCst) < busy {
            if !m.spinning.get() {
                m.spinning.set(true);
                SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(g) = steal_work(m, p, n) {
                return (g, false);
            }
        }
        // Nothing anywhere: give up the P.
        let mut l = SCHED.lock.lock();
        if SCHED.stw_pending.load(Ordering::SeqCst) {
            drop(l);
            continue;
        }
        if let Some(g) = globrunq_get(&mut l, p, 0) {
            return (g, false);
        }
        let p = releasep(m);
        pidleput(&mut l, p);
        drop(l);
        if m.spinning.get() {
            m.spinning.set(false);
            // Re-check after dropping the spinning count: work queued meanwhile by someone
            // who saw us spinning (and so did not wake anybody) must not be stranded.
            if spin::stop_spinning_and_recheck(&*SCHED.nmspinning, work_anywhere) {
                let mut l = SCHED.lock.lock();
                if let Some(p) = pidleget(&mut l) {
                    drop(l);
                    acquirep(m, p);
                    m.spinning.set(true);
                    SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                    continue 'top;
                }
            }
        }
        stopm(m);
    }
}

fn work_anywhere() -> bool {
    if spin::global_work(&SCHED.runq_len) {
        return true;
    }
    (0..gomaxprocs()).any(|i| !allp(i).runq_empty())
}

fn steal_work(m: &M, p: &'static P, n: usize) -> Option<*mut G> {
    let _ = m;
    let start = fastrand() as usize;
    for round in 0..4 {
        for k in 0..n {
            let victim = allp((start + k) % n);
            if ptr::eq(victim, p) {
                continue;
            }
            if round == 3 && victim.timers.timer0.load(Ordering::Acquire) <= nanotime() {
                // Fire the victim's expired timers; what they ready lands in our queue.
                victim.timers.run(nanotime());
                // SAFETY: we own p.
                if let Some(g) = unsafe { p.runq_get() } {
                    return Some(g);
                }
            }
            // SAFETY: we own p.
            if let Some(g) = unsafe { victim.steal_into(p, round == 3) } {
                return Some(g);
            }
        }
    }
    None
}

/// Earliest timer deadline on any live P.
pub(crate) fn earliest_timer() -> i64 {
    timerwait::earliest((0..gomaxprocs()).map(|i| &allp(i).timers.timer0))
}

/// Parks the M (which holds no P) until somebody hands it a P. One idle M at a time is
/// the idle waiter: it sleeps only until the earliest timer, then fires due timers.
fn stopm(m: &'static M) {
    loop {
        let mut waiter = false;
        {
            let mut l = SCHED.lock.lock();
            m.idle.store(true, Ordering::Release);
            l.midle.push(m);
            l.nmidle += 1;
            if timerwait::take_role(
                &SCHED.idle_waiter,
                m as *const M as *mut M,
                earliest_timer,
                crate::netpoll::has_waiters,
            ) {
                waiter = true;
            }
            if !waiter {
                checkdead(&l);
            }
        }
        // Events the poll waiter read; dispatched once this M may ready goroutines (it
        // holds a P, or has left the idle list).
        let mut events = crate::netpoll::Events::new();
        loop {
            if waiter {
                // Dekker with add_timer: publish our deadline, then re-read the heaps.
                timerwait::publish_deadline(&SCHED.idle_wait_until, earliest_timer);
            }
            let until = SCHED.idle_wait_until.load(Ordering::SeqCst);
            let timeout = if waiter && until != i64::MAX { Some(until - nanotime()) } else { None };
            if timeout.is_none_or(|t| t > 0) {
                if waiter && crate::netpoll::initialized() {
                    // The poll waiter: timers and fds in one sleep; `kick_waiter` breaks it.
                    crate::netpoll::poll(timeout, &mut events);
                } else {
                    m.note.sleep(timeout);
                }
            }
            if let Some((p, spinning)) = take_nextp(m) {
                // startm took us off the idle list; the waiter role is ours to give back.
                leave_waiter_role(m);
                acquirep(m, p);
                if spinning {
                    m.spinning.set(true);
                }
                crate::netpoll::dispatch(&mut events);
                return;
            }
            if waiter {
                break;
            }
        }
        // Idle waiter, woken by its deadline or a kick. Leave the idle list before firing
        // anything: a goroutine being readied is in no queue for a moment, and deadlock
        // detection must not count us idle then. Take an idle P if there is one, so what
        // the timers ready lands in our own queue.
        let p = {
            let mut l = SCHED.lock.lock();
            if !m.idle.load(Ordering::Acquire) {
                // startm picked us meanwhile; the P is on its way through nextp.
                drop(l);
                leave_waiter_role(m);
                let (p, spinning) = loop {
                    if let Some(x) = take_nextp(m) {
                        break x;
                    }
                    m.note.sleep(None);
                };
                acquirep(m, p);
                if spinning {
                    m.spinning.set(true);
                }
                crate::netpoll::dispatch(&mut events);
                return;
            }
            if let Some(i) = l.midle.iter().position(|&x| ptr::eq(x, m)) {
                l.midle.swap_remove(i);
                l.nmidle -= 1;
            }
            m.idle.store(false, Ordering::Release);
            SCHED.idle_waiter.store(ptr::null_mut(), Ordering::SeqCst);
            SCHED.idle_wait_until.store(i64::MAX, Ordering::SeqCst);
            pidleget(&mut l)
        };
        if let Some(p) = p {
            acquirep(m, p);
        }
        crate::netpoll::dispatch(&mut events);
        let now = nanotime();
        for i in 0..gomaxprocs() {
            allp(i).timers.run(now);
        }
        if !m.p.get().is_null() {
            return; // find_runnable takes it from here
        }
        // No P free: what the timers readied went to the global queue (busy Ps will take
        // it); go back to sleep.
    }
}

/// Gives up the timer/poll waiter role if `m` holds it (after `startm` handed it a P).
/// Under the scheduler lock, so that a new waiter's published deadline (stored after it
/// took the role, under the same lock) is never overwritten by our reset.
fn leave_waiter_role(m: &M) {
    let me = m as *const M as *mut M;
    if SCHED.idle_waiter.load(Ordering::SeqCst) != me {
        return;
    }
    let _l = SCHED.lock.lock();
    if SCHED.idle_waiter.load(Ordering::SeqCst) == me {
        SCHED.idle_waiter.store(ptr::null_mut(), Ordering::SeqCst);
        SCHED.idle_wait_until.store(i64::MAX, Ordering::SeqCst);
    }
}

/// Called after a timer was added with deadline `when`: makes sure some M will wake by then.
pub(crate) fn timer_added(when: i64) {
    if timerwait::must_kick(&SCHED.idle_wait_until, when) {
        kick_waiter();
    }
}

/// Wakes the timer/poll waiter so it re-evaluates its sleep, or starts an M if there is
/// none (which becomes the waiter if nothing else is to do).
fn kick_waiter() {
    if let Some(w) = timerwait::waiter_to_kick(&SCHED.idle_waiter) {
        // SAFETY: Ms are never freed; a kick to an M that stopped waiting is harmless.
        unsafe { &*w }.note.wakeup();
        // It may be sleeping in epoll_wait rather than on its note.
        crate::netpoll::wake_poller();
    } else {
        wakep();
    }
}

/// Called after a goroutine or thread queued itself on a poll descriptor: somebody must
/// be polling. The poll waiter, if any, re-evaluates (and switches from its futex to
/// epoll); otherwise an M is started, finds nothing, and becomes the poll waiter.
/// Busy Ps poll when they run out of work, and sysmon when nobody polled for 10 ms.
pub(crate) fn netpoll_waiter_added() {
    // The common case under load: a thread already sleeps in epoll_wait and the kernel
    // will hand it the event (the registration is in place before this call).
    if crate::netpoll::poller_blocked() {
        return;
    }
    let w = SCHED.idle_waiter.load(Ordering::SeqCst);
    if !w.is_null() {
        // SAFETY: Ms are never freed.
        unsafe { &*w }.note.wakeup();
    } else {
        wakep();
    }
}

/// Adds a timer entry to the caller's P (or P0 without one) and wakes a waiter if needed.
/// Returns the heap it went to (Ps are never freed), for a user timer to report the entry
/// stale there later ([`crate::time::TimerHeap::note_stale`]).
pub(crate) fn add_timer(when: i64, seq: u64, target: TimerTarget) -> &'static crate::time::TimerHeap {
    let m = current_m();
    // SAFETY: Ms are never freed.
    let p = if m.is_null() { ptr::null() } else { unsafe { &*m }.p.get() };
    // SAFETY: Ps are never freed.
    let p: &'static P = if p.is_null() { allp(0) } else { unsafe { &*p } };
    // `m.p` may name a P that `gort_gomaxprocs` destroyed while this goroutine ran C code
    // (it finds out at its next scheduler call): then P0, which always exists, takes it.
    let heap = match p.timers.push_unless_closed(when, seq, target) {
        Ok(_) => &p.timers,
        Err(target) => {
            let p0 = allp(0);
            p0.timers.push(when, seq, target);
            &p0.timers
        }
    };
    timer_added(when);
    heap
}

// ---------------------------------------------------------------------------------------
// Parking
// ---------------------------------------------------------------------------------------

/// Parks the running goroutine. After it has switched out, the scheduler marks it
/// WAITING and calls `unlock(g, arg)` (typically releasing the lock of the wait queue the
/// G was put on); if that returns false the park is cancelled. Returns when readied.
pub(crate) fn park(reason: &'static str, unlock: Option<fn(*mut G, usize) -> bool>, arg: usize) {
    let g = current_g();
    assert!(!g.is_null(), "park outside a goroutine");
    // SAFETY: g is the running goroutine, so its M is current (and never freed).
    if unsafe { &*current_m() }.in_blocking.get() {
        blocked_inside_region(reason);
    }
    // SAFETY: g is the running goroutine.
    let gr = unsafe { &*g };
    gr.wait_reason.set(reason);
    gr.wait_since.store(super::sysmon::recent_now(), Ordering::Relaxed);
    if crate::debug::observed() {
        return park_observed(gr, reason, unlock, arg);
    }
    switch_away(Action::Park { unlock, arg });
}

/// [`park`] while the block profile or the execution trace is on.
#[cold]
#[inline(never)]
fn park_observed(gr: &G, reason: &'static str, unlock: Option<fn(*mut G, usize) -> bool>, arg: usize) {
    let t0 = crate::debug::profile::block_begin(reason);
    crate::debug::trace::block(gr, reason);
    switch_away(Action::Park { unlock, arg });
    if t0 != 0 {
        crate::debug::profile::block_end(t0);
    }
}

/// Sleeps the running goroutine until `deadline` on a timer.
pub(crate) fn park_sleep(deadline: i64) {
    let g = current_g();
    // SAFETY: g is the running goroutine.
    unsafe { &*g }.sleep_until.set(deadline);
    park("sleep", Some(arm_sleep), 0);
}

/// Park callback of `park_sleep`: arms the timer only now that the G is WAITING, so the
/// timer cannot fire into a goroutine that is still running.
fn arm_sleep(g: *mut G, _: usize) -> bool {
    // SAFETY: g is parked and ours (the sleep protocol: nobody else wakes it).
    let gr = unsafe { &*g };
    let seq = gr.sleep_seq.fetch_add(1, Ordering::AcqRel) + 1;
    add_timer(gr.sleep_until.get(), seq, TimerTarget::Sleep(GPtr(g)));
    true
}

/// `gort_gosched`: hands the P to the oldest runnable goroutine of the local queue (or
/// `runnext`) and queues the caller behind it (see `local_next` with `yielding`).
pub(crate) fn gosched() {
    let m = current_m();
    // SAFETY: Ms are never freed.
    let g = if m.is_null() { ptr::null_mut() } else { unsafe { &*m }.curg.get() };
    if g.is_null() {
        std::thread::yield_now();
    } else {
        // SAFETY: as above.
        let mr = unsafe { &*m };
        if mr.in_blocking.get() {
            blocked_inside_region("gort_gosched");
        }
        switch_away_from(mr, g, Action::Yield);
    }
}

/// A goroutine inside `gort_blocking_enter`/`exit` tried to park or yield: its P is handed
/// on (or about to be), and the region's bookkeeping would be lost by the switch (the
/// next `gort_blocking_exit` would then be reported as unpaired). A fatal error naming
/// the mistake, as `gort_blocking_enter` inside a region is.
#[cold]
fn blocked_inside_region(what: &str) -> ! {
    crate::fatal::fatal(&format!(
        "goroutine blocked in gort ({what}) inside a blocking region: only calls that do not block (or other \
         blocking C code) belong between gort_blocking_enter and gort_blocking_exit"
    ))
}

// ---------------------------------------------------------------------------------------
// Locked goroutines (gort_lock_os_thread)
// ---------------------------------------------------------------------------------------

pub(crate) fn lock_os_thread() {
    let m = current_m();
    let g = current_g();
    if g.is_null() {
        return; // a plain thread is always "locked" to itself
    }
    // SAFETY: we are g, running on m.
    let (m, gr) = unsafe { (&*m, &*g) };
    gr.lock_count.set(gr.lock_count.get() + 1);
    gr.locked_m.store(m as *const M as *mut M, Ordering::Release);
    m.locked_g.set(g);
}

pub(crate) fn unlock_os_thread() {
    let m = current_m();
    let g = current_g();
    if g.is_null() {
        return;
    }
    // SAFETY: as above.
    let (m, gr) = unsafe { (&*m, &*g) };
    if gr.lock_count.get() == 0 {
        return; // Go ignores an unlock without a lock
    }
    gr.lock_count.set(gr.lock_count.get() - 1);
    if gr.lock_count.get() == 0 {
        gr.locked_m.store(ptr::null_mut(), Ordering::Release);
        m.locked_g.set(ptr::null_mut());
    }
}

/// Our locked goroutine is not running: give the P away and sleep until the goroutine is
/// runnable again and someone hands us a P to run it with.
fn stoplockedm(m: &'static M) -> *mut G {
    if !m.p.get().is_null() {
        let p = releasep(m);
        handoffp(p);
    }
    {
        let mut l = SCHED.lock.lock();
        l.nmidlelocked += 1;
        checkdead(&l);
    }
    let (p, _) = loop {
        m.note.sleep(None);
        if let Some(x) = take_nextp(m) {
            break x;
        }
    };
    // No `nmidlelocked -= 1` here: whoever handed us the P counted us as running already
    // (`startlockedm`), so the time this thread takes to wake up is not a moment in which
    // every M looks idle with our goroutine in no queue (deadlock detection).
    acquirep(m, p);
    // The G was dequeued by whoever handed us the P; the caller runs it.
    m.locked_g.get()
}

/// `g` is locked to `lm`: hand our P to `lm` so it can run `g`, and go idle.
fn startlockedm(m: &'static M, g: *mut G, lm: &'static M) {
    let _ = g; // lm runs its own locked_g, which is g
    let p = releasep(m);
    // `lm` counts as running from now on, though it is still asleep: between our `stopm`
    // and its wake-up (20 ms and more on a loaded machine) `checkdead` would otherwise
    // see every M idle and `g` in no queue, and report a deadlock (seen with a locked
    // goroutine rejoining after a collection). `lm` may not have counted itself idle yet
    // (it requeued `g` before reaching `stoplockedm`): the count may dip below zero for
    // that moment, which only makes the runtime look busier.
    SCHED.lock.lock().nmidlelocked -= 1;
    hand_to(lm, p, false);
    // Our P is gone; find_runnable parks us in stopm.
}

/// Hands a P whose M is going away (blocked, retaken) to whoever can use it.
pub(crate) fn handoffp(p: &'static P) {
    if !p.runq_empty() || SCHED.runq_len.load(Ordering::SeqCst) > 0 {
        startm(Some(p), false);
        return;
    }
    if SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) == 0
        && SCHED.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    {
        startm(Some(p), true);
        return;
    }
    let when = p.timers.timer0.load(Ordering::SeqCst);
    {
        let mut l = SCHED.lock.lock();
        pidleput(&mut l, p);
    }
    if when != i64::MAX {
        timer_added(when);
    }
}

// ---------------------------------------------------------------------------------------
// Blocking calls (gort_blocking_enter / exit)
// ---------------------------------------------------------------------------------------

pub(crate) fn blocking_enter() {
    let m = current_m();
    if m.is_null() || current_g().is_null() {
        return;
    }
    // SAFETY: Ms are never freed.
    let m = unsafe { &*m };
    if !m.p.get().is_null() && m.p_word.get() & 0xff == pstate::SYSCALL {
        crate::fatal::fatal("gort_blocking_enter inside a blocking region (regions do not nest)");
    }
    SCHED.nsyscall.fetch_add(1, Ordering::SeqCst);
    m.in_blocking.set(true);
    crate::debug::trace::syscall(true);
    let p = m.p.get();
    if p.is_null() {
        return;
    }
    // SAFETY: Ps are 'static.
    let pr = unsafe { &*p };
    pr.syscalltick.store(pr.syscalltick.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    if let Some(nw) = pstatus::owner_cas(&*pr.status, m.p_word.get(), pstate::SYSCALL) {
        m.p_word.set(nw);
    } else {
        m.p.set(ptr::null());
        m.p_word.set(0);
    }
    super::sysmon::wake_if_idle();
}

/// Enters a blocking region unless the caller is not a goroutine or is in one already;
/// true if it entered (the caller then calls [`blocking_exit`]). For runtime waits that
/// must keep the goroutine on its thread (the collector's requesters: a C caller reads
/// `errno` on the thread it called from) without holding a P the world stop would wait
/// for.
pub(crate) fn blocking_enter_if_outside() -> bool {
    let m = current_m();
    if m.is_null() || current_g().is_null() {
        return false;
    }
    // SAFETY: Ms are never freed.
    let m = unsafe { &*m };
    if m.p.get().is_null() || m.p_word.get() & 0xff == pstate::SYSCALL {
        return false;
    }
    blocking_enter();
    true
}

pub(crate) fn blocking_exit() {
    let m = current_m();
    if m.is_null() || current_g().is_null() {
        return;
    }
    // SAFETY: Ms are never freed.
    let m = unsafe { &*m };
    // Outside a region the goroutine's M holds its P in USER state (even if sysmon took it
    // meanwhile: m.p is stale then, not null). Going on would unbalance nsyscall, which
    // deadlock detection trusts: a throw, as Go's exitsyscall makes of a bad call.
    if !m.p.get().is_null() && m.p_word.get() & 0xff != pstate::SYSCALL {
        crate::fatal::fatal("gort_blocking_exit without gort_blocking_enter (regions do not nest)");
    }
    SCHED.nsyscall.fetch_sub(1, Ordering::SeqCst);
    m.in_blocking.set(false);
    crate::debug::trace::syscall(false);
    let p = m.p.get();
    if !p.is_null() {
        // SAFETY: Ps are 'static.
        if let Some(nw) = pstatus::owner_cas(&*unsafe { &*p }.status, m.p_word.get(), pstate::USER) {
            m.p_word.set(nw);
            return;
        }
        m.p.set(ptr::null());
        m.p_word.set(0);
    }
    // Our P was handed on while we were blocked. Get another, or queue ourselves and let
    // this thread sleep until a P is free (as Go's exitsyscall does): the number of
    // goroutines running user code stays within gomaxprocs.
    let ctx = enter();
    if m.p.get().is_null() {
        switch_away(Action::Yield);
    } else {
        leave(&ctx);
    }
}

/// A goroutine in user code whose P sysmon retook (a C loop that ran 10 ms without a
/// scheduling event) comes back to the scheduler at a runtime call that may block, the
/// allocator's slow path: it takes an idle P, or queues itself and lets this thread sleep
/// until a P runs it (Go's exitsyscall), so no more than gomaxprocs threads run goroutines.
/// Without this, each retake adds a thread that allocates through the heap's shared,
/// locked cache for as long as its loop runs: binary-trees ran 9 such threads on 2 CPUs.
/// Returns true if the caller holds a P now; false (nothing done) on a foreign thread, on
/// g0 and inside a blocking region, which keep running without one.
#[cold]
pub(crate) fn rejoin_after_retake() -> bool {
    // SAFETY: Ms are never freed.
    let Some(m) = (unsafe { current_m().as_ref() }) else { return false };
    let g = m.curg.get();
    if g.is_null() || m.in_blocking.get() {
        return false;
    }
    let ctx = enter_goroutine(m, g);
    if m.p.get().is_null() {
        switch_away_from(m, g, Action::Yield);
    } else {
        leave(&ctx);
    }
    true
}

// ---------------------------------------------------------------------------------------
// Stop the world and gomaxprocs
// ---------------------------------------------------------------------------------------

/// Stops every P. The caller holds `stw_lock`, taken *before* it entered the runtime (a
/// goroutine waiting for the lock with its P RUNNING would keep another stopper waiting
/// for that P for ever); on return every live P is STOPPED (the caller's own included).
/// Runs with the caller's P, if any, RUNNING.
pub(crate) fn stop_the_world(m: Option<&'static M>) {
    let n = gomaxprocs();
    {
        let mut l = SCHED.lock.lock();
        l.stop_wait = n;
        SCHED.stw_pending.store(true, Ordering::SeqCst);
        if let Some(m) = m
            && !m.p.get().is_null()
        {
            let p = releasep(m);
            let w = p.status.load(Ordering::Acquire) & !0xff;
            p.status.store(w | pstate::STOPPED, Ordering::Release);
            l.stop_wait -= 1;
        }
        while let Some(p) = l.pidle.pop() {
            SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
            // SAFETY: Ps are 'static.
            let p = unsafe { &*p };
            let w = p.status.load(Ordering::Acquire) & !0xff;
            p.status.store(w | pstate::STOPPED, Ordering::Release);
            l.stop_wait -= 1;
        }
    }
    loop {
        // Ps running user code or blocked calls cannot be asked; take them.
        for i in 0..n {
            let p = allp(i);
            let s = p.status.load(Ordering::Acquire);
            if pstatus::take(&*p.status, s, pstate::STOPPED) {
                p.wait_heap_cache_owner(s);
                let mut l = SCHED.lock.lock();
                l.stop_wait -= 1;
            }
        }
        if SCHED.lock.lock().stop_wait == 0 {
            break;
        }
        // RUNNING Ps stop themselves at their next scheduling point (stop_for_stw / pidleput).
        SCHED.stw_note.sleep(Some(50_000));
    }
}

/// An M that noticed a pending stop-the-world gives up its P.
fn stop_for_stw(m: &'static M) {
    if m.spinning.get() {
        m.spinning.set(false);
        SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
    let p = releasep(m);
    let mut l = SCHED.lock.lock();
    pidleput(&mut l, p); // records STOPPED while stw_pending
}

/// Ends a stop-the-world with `newn` Ps; the caller's M, if any, gets one of them.
pub(crate) fn start_the_world(m: Option<&'static M>, newn: usize) {
    let oldn = gomaxprocs();
    let p0 = allp(0);
    // Ps going away: move their work to the global queue and their timers to P0.
    for i in newn..oldn {
        let p = allp(i);
        let mut l = SCHED.lock.lock();
        // SAFETY: stopped Ps are owned by the stopper (us).
        while let Some(g) = unsafe { p.runq_get() } {
            globrunq_put(&mut l, g);
        }
        drop(l);
        p.timers.drain_into(&p0.timers);
        // SAFETY: as above.
        let gl = unsafe { &mut *p.gfree.get() };
        SCHED.gfree.lock().extend(gl.drain(..));
        // SAFETY: as above.
        let sc = unsafe { &mut *p.stack_cache.get() };
        stack::STACK_POOL.put(sc.drain(..));
        stack::unreserve(p.stack_reserved.replace(0));
        let w = p.status.load(Ordering::Acquire) & !0xff;
        p.status.store(w | pstate::DEAD, Ordering::Release);
    }
    for i in oldn..newn {
        let p = ensure_p(i);
        p.timers.reopen();
        let w = p.status.load(Ordering::Acquire) & !0xff;
        p.status.store(w | pstate::STOPPED, Ordering::Release);
    }
    SCHED.gomaxprocs.store(newn, Ordering::Release);
    let mut keep: Option<&'static P> = None;
    let mut wake: Vec<&'static P> = Vec::new();
    {
        let mut l = SCHED.lock.lock();
        SCHED.stw_pending.store(false, Ordering::SeqCst);
        for i in (0..newn).rev() {
            let p = allp(i);
            if m.is_some() && keep.is_none() {
                keep = Some(p);
                continue;
            }
            let w = p.status.load(Ordering::Acquire) & !0xff;
            p.status.store(w | pstate::IDLE, Ordering::Release);
            if p.runq_empty() {
                pidleput(&mut l, p);
            } else {
                wake.push(p);
            }
        }
    }
    if let (Some(m), Some(p)) = (m, keep) {
        acquirep(m, p);
    }
    for p in wake {
        startm(Some(p), false);
    }
    if SCHED.runq_len.load(Ordering::SeqCst) > 0 {
        wakep();
    }
    let t = earliest_timer();
    if t != i64::MAX {
        timer_added(t);
    }
}

/// `gort_gomaxprocs`: sets the number of Ps (n > 0) and returns the previous value.
pub(crate) fn set_gomaxprocs(n: usize) -> usize {
    crate::runtime::ensure_init();
    let n = n.clamp(1, MAX_PROCS);
    let guard = SCHED.stw_lock.lock();
    let ctx = enter();
    let m = ctx.m();
    stop_the_world(m);
    let old = gomaxprocs();
    start_the_world(m, n);
    drop(guard);
    leave(&ctx);
    old
}

// ---------------------------------------------------------------------------------------
// Deadlock detection and dumps
// ---------------------------------------------------------------------------------------

/// Called with the scheduler lock held when an M goes idle. If no M is running, nothing is
/// queued, no timer is pending, no blocking call is in progress and the process has no
/// thread besides gort's own and the one waiting in gort_main (a host thread could still
/// call in), every goroutine is asleep for good.
fn checkdead(l: &Locked) {
    if looks_dead(l) {
        // Confirmed by sysmon a moment later (`confirm_deadlock`): the verdict rests partly
        // on /proc/self/task, and a thread the host has just created can be missing from
        // it for a moment (seen under gVisor); a real deadlock is still there later.
        DEADLOCK_SUSPECT.store(true, Ordering::SeqCst);
        SCHED.sysmon_note.wakeup();
    }
}

/// Set by [`checkdead`]; sysmon re-checks after [`DEADLOCK_CONFIRM_NS`].
pub(crate) static DEADLOCK_SUSPECT: AtomicBool = AtomicBool::new(false);
/// How long a deadlock must persist before it is reported.
pub(crate) const DEADLOCK_CONFIRM_NS: i64 = 20_000_000;

/// sysmon, [`DEADLOCK_CONFIRM_NS`] after a suspicion: reports the deadlock if it is still
/// there.
pub(crate) fn confirm_deadlock() {
    let l = SCHED.lock.lock();
    if !looks_dead(&l) {
        return;
    }
    if num_goroutine() == 0 {
        // gort_main's goroutine is gone without returning: it called gort_goexit.
        crate::fatal::fatal("no goroutines (main called gort_goexit) - deadlock!");
    }
    crate::fatal::fatal_with_dump("all goroutines are asleep - deadlock!");
}

/// The deadlock test: with the scheduler lock held, every goroutine is blocked for good.
fn looks_dead(l: &Locked) -> bool {
    if !SCHED.main_active.load(Ordering::SeqCst) {
        return false;
    }
    if l.mcount as isize > l.nmidle as isize + l.nmidlelocked {
        return false;
    }
    if SCHED.foreign_blocked.load(Ordering::SeqCst) > 0 || SCHED.nsyscall.load(Ordering::SeqCst) > 0 {
        return false;
    }
    // A channel registered with gort_signal_notify can be sent to from outside.
    if crate::debug::signal::notifying() {
        return false;
    }
    // A goroutine waiting on an fd can be woken from outside the process.
    if crate::netpoll::has_waiters() {
        return false;
    }
    if !l.runq.is_empty() || work_anywhere() || earliest_timer() != i64::MAX {
        return false;
    }
    // A thread of the host program that gort does not own may still call in later (send on
    // a channel, spawn): if any exists, we cannot know, so stay silent, as Go does when it
    // runs inside a host program. Ours: the Ms, the thread in gort_main, and the helpers
    // (sysmon, the scavenger, the collector and its mark threads once started).
    let ours = l.mcount + 1 + HELPER_THREADS.load(Ordering::SeqCst);
    thread_count().is_some_and(|n| n <= ours)
}

/// Threads the runtime made that run no program code: sysmon, the scavenger, the
/// collector and its mark helpers. Counted by deadlock detection as the runtime's own;
/// each is counted before it is created (see [`helper_thread_starting`]), so
/// /proc/self/task never lists one that is not counted.
static HELPER_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Call right before creating a helper thread; returns a guard to `cancel` if the
/// creation fails.
pub(crate) fn helper_thread_starting() -> HelperThreadCount {
    HELPER_THREADS.fetch_add(1, Ordering::SeqCst);
    HelperThreadCount(())
}

/// One counted helper thread (see [`helper_thread_starting`]).
pub(crate) struct HelperThreadCount(());

impl HelperThreadCount {
    /// The thread could not be created after all.
    pub(crate) fn cancel(self) {
        HELPER_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Threads in this process (entries of /proc/self/task), if that can be read.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

// ---------------------------------------------------------------------------------------
// Odds and ends
// ---------------------------------------------------------------------------------------

/// A cheap per-thread xorshift generator (victim order, select).
pub(crate) fn fastrand() -> u32 {
    thread_local! {
        static STATE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = (nanotime() as u32) | 1;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x
    })
}

/// Summary counters for schedtrace and tests.
pub(crate) struct SchedStats {
    pub gomaxprocs: usize,
    pub idleprocs: usize,
    pub threads: usize,
    pub spinning: usize,
    pub idlethreads: usize,
    pub runqueue: usize,
    pub local: Vec<usize>,
}

pub(crate) fn stats() -> SchedStats {
    let l = SCHED.lock.lock();
    let n = gomaxprocs();
    SchedStats {
        gomaxprocs: n,
        idleprocs: SCHED.npidle.load(Ordering::Relaxed),
        threads: l.mcount,
        spinning: SCHED.nmspinning.load(Ordering::Relaxed),
        idlethreads: l.nmidle,
        runqueue: l.runq.len(),
        local: (0..n).map(|i| allp(i).runq_len()).collect(),
    }
}
