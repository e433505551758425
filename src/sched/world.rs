//! Stopping the world for the garbage collector: the thread registry, suspension by
//! signal, and the stack and register roots of every thread and goroutine.
//!
//! # Who can hold heap pointers
//! Three kinds of threads run program code: the runtime's Ms (running goroutines, or the
//! scheduler on their own stacks, g0), *registered* foreign threads (every thread that
//! called into gort, or `gort_thread_register`), and threads gort has never seen. The
//! last kind is invisible to the collector: a thread must register before it keeps heap
//! pointers that only its stack or registers hold (any gort call registers it). Runtime
//! helpers that run no program code (sysmon, the scavenger) are not registered and are
//! never stopped, like Go's sysmon.
//!
//! # The registry
//! One record per registered thread ([`ThreadRec`]): its kernel thread id, its own stack
//! bounds, its M (null for a foreign thread), and the suspension handshake words. Records
//! are never freed (a thread that unregisters leaves its record on a free list for the
//! next one), so a signal handler and the collector can hold plain pointers to them.
//! The list of live records sits under one lock, `REGISTRY`, which registration and
//! unregistration take briefly and which the collector holds from the moment it signals
//! until it has resumed every thread: so the set of threads cannot change under it, and
//! a thread registering or exiting during a collection simply waits (a registered thread
//! blocked on that lock is signalled and stopped like any other).
//!
//! Every export starts with [`check_thread`]: one load of a thread-local state byte,
//! `READY` for Ms and registered threads. Anything else takes a cold path that either
//! refuses the call in a forked child (the atfork child handler stores `FORKED` in the
//! surviving thread's byte; the global flag stays for new threads of the child and for
//! paths that pass no export) or registers the calling thread. A foreign thread is
//! unregistered when it exits, by a `pthread_key` destructor; Ms are registered at
//! creation and never exit.
//!
//! # The protocol
//! `stop_world_for_gc`:
//! 1. Takes `stw_lock` *before* entering the runtime (a goroutine waiting for it keeps its
//!    P in USER state, so a stopper can take that P), then stops every P with the
//!    existing cooperative machinery (`proc::stop_the_world`): idle Ps are taken off the
//!    idle list, Ps whose goroutine runs C code or sits in a blocking region are taken by a
//!    CAS of their status (USER/SYSCALL → STOPPED, no waiting for the C code, only for an
//!    allocation from the P's heap cache in progress: `P::wait_heap_cache_owner`), and Ps
//!    running runtime code stop themselves at their next scheduling point. Afterwards no
//!    thread is inside P-owned runtime state (run queues, per-P caches), no goroutine is
//!    half-way through a P-holding switch, and every P-owned structure belongs to the
//!    collector.
//! 2. Takes `REGISTRY` and starts a *round*: `ROUND` becomes odd. It allocates the little
//!    it needs for the scan (two vectors sized by the registry) now, before anything is
//!    suspended.
//! 3. Sends the GC signal (`rt_tgsigqueueinfo`, with a value that marks it as gort's) to
//!    every registered thread but itself: Ms whose
//!    goroutine lost its P (C loops, blocking regions, or runtime code without a P), idle
//!    Ms (an idle waiter may fire timers without a P, so idle is not the same as
//!    harmless), and foreign threads. Each target's `signaled_round` is set first and
//!    `PENDING` counts it. A thread that no longer exists (`ESRCH`: it ended without its
//!    exit destructor) is skipped; a full queue of real-time signals (`EAGAIN`) is waited
//!    out, never skipped. A thread asleep inside the runtime (a futex note: idle Ms, a
//!    thread waiting in `gort_main`, a goroutine waiting for the collector) is not
//!    signalled: it went to sleep through [`parked`], which recorded its callee-saved
//!    registers and stack pointer and set its record's `park` word to PARKED; the stopper
//!    CASes that word to HELD and counts the thread as stopped and acknowledged. If its
//!    sleep ends meanwhile, it waits inside `parked` for the restart, which makes it
//!    PARKED again. (This saves each such thread the signal, the handler and the two
//!    wake-ups: on a 2-CPU machine a collection of a small heap spent about a sixth of
//!    its pauses on them.)
//! 4. The handler copies the general registers into the record, records where the scan
//!    of the interrupted stack starts, acknowledges (`PENDING` down, a futex wake for the
//!    last one) and sleeps on the `ROUND` futex until the round changes. It is installed
//!    with `SA_ONSTACK`, as Go's runtime requires of every handler in its process (a
//!    registered thread may be one of a Go program's threads running Go code, whose
//!    goroutine stack has no room for a signal frame). On a thread without an alternate
//!    signal stack it runs on the interrupted stack: the kernel's signal frame, with the
//!    full register file (vector registers included) and the x86-64 red zone, lies
//!    between the interrupted SP and the handler's frame, and the scan starts at the
//!    handler's SP. On the alternate stack (every M has one) the scan starts at the
//!    interrupted SP less the red zone, and the alternate stack from the handler's SP to
//!    its top (the signal frame) is scanned too. Every other signal is blocked while it runs (its `sa_mask`), except the
//!    synchronous fault signals, so no program signal handler runs on a stopped thread.
//! 5. The collector sleeps on `PENDING` until it is zero, then works out which stack each
//!    stopped thread is on (its own, or a goroutine's) and returns a [`StoppedWorld`].
//!
//! `StoppedWorld::restart` bumps `ROUND` to even and wakes every handler with one
//! `FUTEX_WAKE`, releases `REGISTRY`, and only then restarts the Ps (`start_the_world`,
//! which takes the scheduler lock: a stopped thread may have held it, so it must run
//! again first). One signal per thread per round, one wake-up for all: no second
//! "restart" signal, as Boehm's `pthread_stop_world.c` sends, and no per-thread
//! acknowledgement of the restart: a handler still asleep when the next round begins sees
//! the round change and returns, and the next round's signal (blocked during the handler)
//! is delivered right after.
//!
//! # Why it cannot deadlock
//! A signal stops a thread wherever it is: inside `malloc`, holding a channel lock, the
//! scheduler lock, a semaphore bucket, a timer heap, a parking_lot lock. So between
//! steps 3 and restart the collector must take **no lock that a registered thread can
//! hold**, and must not allocate (glibc's arenas are shared between threads; a stopped
//! thread may hold the one we would get). The stopping and scanning code here takes no
//! lock at all and allocates only in step 2. The locks it does hold it took before
//! signalling: `stw_lock` and `REGISTRY` (a thread blocked on either is simply stopped
//! while blocked; neither is ever held by a thread while it waits for something the
//! collector holds). The Gs are enumerated from `g::ALLGS`, an append-only list readable
//! without its lock. The restart resumes threads before it takes the scheduler lock.
//!
//! A lock the collector genuinely needs with the world stopped (the allocator's shared
//! path, say) has two safe shapes: take it between the cooperative stop and the signals
//! (a P-less thread in it finishes and releases it first), or hold it only inside
//! [`no_suspend`] sections. In such a section the handler does not stop the thread; it
//! leaves a note, and the thread stops itself when the section ends (Go's `m.locks`).
//! Such a section must be short and must not wait for anything a stopped thread can hold.
//!
//! A thread that blocks the GC signal (its own `pthread_sigmask`) can never acknowledge:
//! registration unblocks the signal, and a thread must not block it again while
//! registered (documented in gort.h). The collector writes a warning to stderr every
//! 5 s while it waits for such a thread.
//!
//! # EINTR
//! The handler is installed with `SA_RESTART`, so most blocking system calls of the
//! stopped threads resume by themselves. Per signal(7), these still fail with `EINTR`
//! (or return early) when a collection interrupts them: `epoll_wait`, `poll`/`ppoll`,
//! `select`/`pselect`, `nanosleep`/`clock_nanosleep` (`sleep` and `usleep` return
//! early), `sigtimedwait`, socket calls with `SO_RCVTIMEO`/`SO_SNDTIMEO`, `msgrcv`,
//! `semop`/`semtimedop`, `io_getevents`, `read` on inotify, futex waits with a timeout
//! in some kernels. C code in goroutines and registered threads must retry them (as with
//! Go's preemption signal). The runtime's own waits already do (futex notes loop on
//! their word, the netpoller treats `EINTR` as an empty poll).
//!
//! # fork
//! A fork from a stopped thread cannot happen (it is stopped). A fork from an
//! unregistered thread during a round leaves the child with an odd `ROUND`; the child
//! cannot use gort anyway (`FORKED`), and the handler ignores signals in a forked child.
//! A child forked *before* the runtime started may use gort: its surviving thread keeps
//! its record with its new thread id, and the records of the parent's other threads are
//! dropped (when the registry lock was free at the fork; otherwise they stay and their
//! `tgkill`s fail with `ESRCH`, which the collector treats as "gone").
//!
//! # Stack roots
//! [`StoppedWorld::for_each_stack_root`] reports: the caller's spilled callee-saved
//! registers and `[its SP, top)`; each stopped thread's register copy and
//! `[handler SP, top of the stack the SP is in)`; each goroutine with a stack that no
//! thread is running on, `[saved SP, top)` (the context switch pushes the callee-saved
//! registers there, so they are inside). A goroutine whose stack a thread is on is
//! covered by that thread's range. A thread whose SP is in no known stack (a stack
//! switched to by C code gort does not know) contributes its registers only
//! (`unknown_stacks` counts them).

use super::g::{self, status};
use super::m::M;
use super::proc;
use parking_lot::{Mutex, MutexGuard};
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering, compiler_fence};

/// Values of the per-thread state byte checked by every export (`tls::state`; 0 =
/// UNKNOWN in a new thread).
mod tstate {
    /// Never registered, or unregistered: the next export registers the thread.
    pub(super) const UNKNOWN: u8 = 0;
    /// An M or a registered thread: the export runs at once.
    pub(super) const READY: u8 = 1;
    /// The surviving thread of a fork of a running runtime.
    pub(super) const FORKED: u8 = 2;
}

thread_local! {
    /// This thread's record while registered (read by the signal handler: a plain
    /// initial-exec TLS load, no lazy initialisation).
    static REC: Cell<*const ThreadRec> = const { Cell::new(ptr::null()) };
}

/// Words of register file kept per stopped thread (x86-64: the 23 `gregs`; aarch64: 31
/// general registers, SP, PC).
const NREGS: usize = 33;

/// A registered thread. Never freed.
pub(crate) struct ThreadRec {
    /// Kernel thread id. Written at registration under `REGISTRY`; read under it.
    tid: AtomicI32,
    /// The thread's own stack `[lo, hi)` (pthread's view). Written at registration under
    /// `REGISTRY`, read by the collector under it.
    stack_lo: AtomicUsize,
    stack_hi: AtomicUsize,
    /// The thread's M, null for a foreign thread. As `tid`.
    m: AtomicPtr<M>,
    /// True while the record is in the live list. Written under `REGISTRY`.
    registered: AtomicBool,
    /// The round whose signal this thread was sent (written by the collector before the
    /// `tgkill`), and the round it last acknowledged (written by the thread itself).
    signaled_round: AtomicU32,
    acked_round: AtomicU32,
    /// Where the scan of its stack starts: the SP of the handler (or of the self-stop),
    /// below the signal frame, or the interrupted SP less the red zone when the handler
    /// runs on the alternate signal stack. Written by the thread before it acknowledges.
    scan_sp: AtomicUsize,
    /// `[alt_sp, alt_top)`: the part of the alternate signal stack the stopped handler
    /// uses (its frames and the kernel's signal frame, which holds the vector registers),
    /// or 0, 0. Written by the handler before it acknowledges, like `scan_sp`.
    alt_sp: AtomicUsize,
    alt_top: AtomicUsize,
    /// Its general registers at the interruption. Written by the thread before it
    /// acknowledges (the Release of `acked_round`), read by the collector after (Acquire
    /// of `PENDING`); nobody writes it while the round lasts.
    regs: UnsafeCell<[usize; NREGS]>,
    /// Depth of [`no_suspend`] sections, and "a signal came during one". Only this
    /// thread and its own signal handler touch them.
    nosuspend: AtomicU32,
    deferred: AtomicBool,
    /// [`parked`] state: RUNNING, PARKED (asleep inside the runtime: `regs` and `scan_sp`
    /// describe the thread), or HELD (a stopper counted it as stopped without a signal).
    /// RUNNING -> PARKED and HELD-or-PARKED -> RUNNING by the thread; PARKED -> HELD by a
    /// stopper (CAS), HELD -> PARKED by its restart.
    park: AtomicU32,
}

/// Values of [`ThreadRec::park`].
mod park {
    pub(super) const RUNNING: u32 = 0;
    pub(super) const PARKED: u32 = 1;
    pub(super) const HELD: u32 = 2;
}

// SAFETY: every field is an atomic except `regs`, whose accesses are ordered by the
// round handshake described on it.
unsafe impl Sync for ThreadRec {}

impl ThreadRec {
    fn new() -> ThreadRec {
        ThreadRec {
            tid: AtomicI32::new(0),
            stack_lo: AtomicUsize::new(0),
            stack_hi: AtomicUsize::new(0),
            m: AtomicPtr::new(ptr::null_mut()),
            registered: AtomicBool::new(false),
            signaled_round: AtomicU32::new(0),
            acked_round: AtomicU32::new(0),
            scan_sp: AtomicUsize::new(0),
            alt_sp: AtomicUsize::new(0),
            alt_top: AtomicUsize::new(0),
            regs: UnsafeCell::new([0; NREGS]),
            nosuspend: AtomicU32::new(0),
            deferred: AtomicBool::new(false),
            park: AtomicU32::new(park::RUNNING),
        }
    }
}

struct Registry {
    live: Vec<&'static ThreadRec>,
    free: Vec<&'static ThreadRec>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { live: Vec::new(), free: Vec::new() });

/// Odd while a round (a stopped world) lasts. A futex word: stopped threads sleep on it.
static ROUND: AtomicU32 = AtomicU32::new(0);
/// Threads signalled in this round that have not acknowledged yet. A futex word: the
/// collector sleeps on it.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// The suspension signal (set once by [`install`]).
static GC_SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();
/// The action the GC signal had before [`install`] when it was a handler (a Go program's
/// runtime installs one on every signal before any C code runs): signals gort did not send
/// are passed to it. Written once inside `INSTALL` before our handler is installed.
struct ChainedAction(UnsafeCell<MaybeUninit<libc::sigaction>>);
// SAFETY: written once inside `INSTALL` before the handler can run, read-only afterwards.
unsafe impl Sync for ChainedAction {}
static CHAINED: ChainedAction = ChainedAction(UnsafeCell::new(MaybeUninit::uninit()));
static HAS_CHAINED: AtomicBool = AtomicBool::new(false);
/// `pthread_key` whose destructor unregisters an exiting foreign thread.
static EXIT_KEY: AtomicU32 = AtomicU32::new(0);

/// Why a registration call failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// No memory for the record.
    NoMemory,
    /// `unregister`: the thread is not registered.
    NotRegistered,
    /// `unregister`: runtime threads (Ms, hence goroutines) stay registered.
    RuntimeThread,
}

// ---------------------------------------------------------------------------------------
// The per-export check
// ---------------------------------------------------------------------------------------

/// Called first by every export (`guard!`): one thread-local byte compare when the thread
/// is an M or registered; otherwise the cold path refuses the call in a forked child or
/// registers the thread.
#[inline(always)]
pub(crate) fn check_thread(func: &'static str) {
    if super::tls::state() != tstate::READY {
        check_thread_cold(func, true)
    }
}

/// [`check_thread`] for exports that must not register the caller
/// (`gort_thread_unregister`): only the forked-child refusal.
#[inline(always)]
pub(crate) fn check_thread_no_register(func: &'static str) {
    if super::tls::state() != tstate::READY {
        check_thread_cold(func, false)
    }
}

#[cold]
#[inline(never)]
fn check_thread_cold(func: &'static str, register: bool) {
    if crate::runtime::in_forked_child() || super::tls::state() == tstate::FORKED {
        crate::runtime::refuse_unless_fork_safe(func);
        return;
    }
    if register && register_current_thread().is_err() {
        crate::fatal::fatal("out of memory registering a thread");
    }
}

/// The atfork child handler's part for a running runtime: this thread is the fork's
/// survivor and may not use gort.
pub(crate) fn mark_forked_child_thread() {
    super::tls::set_state(tstate::FORKED);
}

// ---------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Registers the calling thread (idempotent): from now on every stop of the world stops
/// it too and scans its stack and registers.
pub(crate) fn register_current_thread() -> Result<(), Error> {
    register(ptr::null())
}

/// Registers the calling thread as M `m` (from the M's thread start).
pub(crate) fn register_m(m: *const M) {
    if register(m).is_err() {
        crate::fatal::fatal("out of memory registering a runtime thread");
    }
}

fn register(m: *const M) -> Result<(), Error> {
    let cur = REC.with(|r| r.get());
    // SAFETY: records are never freed.
    if !cur.is_null() && unsafe { &*cur }.registered.load(Ordering::Relaxed) {
        super::tls::set_state(tstate::READY);
        return Ok(());
    }
    install();
    // Before the lock: the main thread's bounds come from /proc/self/maps (glibc
    // allocates for that).
    let (lo, size) = super::asan::thread_stack_bounds();
    unblock_gc_signal();
    let mut reg = REGISTRY.lock();
    reg.live.try_reserve(1).map_err(|_| Error::NoMemory)?;
    let rec: &'static ThreadRec = match reg.free.pop() {
        Some(r) => r,
        None => Box::leak(Box::new(ThreadRec::new())),
    };
    rec.tid.store(gettid(), Ordering::Relaxed);
    rec.stack_lo.store(lo as usize, Ordering::Relaxed);
    rec.stack_hi.store(lo as usize + size, Ordering::Relaxed);
    rec.m.store(m as *mut M, Ordering::Relaxed);
    rec.nosuspend.store(0, Ordering::Relaxed);
    rec.deferred.store(false, Ordering::Relaxed);
    rec.registered.store(true, Ordering::Relaxed);
    rec.park.store(park::RUNNING, Ordering::Relaxed);
    // The handler finds the record through REC: set it before the record is in the list
    // (a collector may signal us the moment we let go of the lock).
    REC.with(|r| r.set(rec));
    compiler_fence(Ordering::SeqCst);
    reg.live.push(rec);
    drop(reg);
    super::tls::set_state(tstate::READY);
    // A CPU profile in progress samples this thread too (after REGISTRY: the profiler
    // takes its own lock, then REGISTRY, when it starts).
    crate::debug::cpuprof::thread_registered(gettid());
    if m.is_null() {
        // SAFETY: the key was created by install(); the value is a 'static record.
        unsafe { libc::pthread_setspecific(EXIT_KEY.load(Ordering::Relaxed), rec as *const ThreadRec as *const _) };
    }
    Ok(())
}

/// Unregisters the calling foreign thread: it is no longer stopped or scanned. Its next
/// gort call registers it again.
pub(crate) fn unregister_current_thread() -> Result<(), Error> {
    let rec = REC.with(|r| r.get());
    // SAFETY: records are never freed.
    if rec.is_null() || !unsafe { &*rec }.registered.load(Ordering::Relaxed) {
        return Err(Error::NotRegistered);
    }
    // SAFETY: as above.
    let rec: &'static ThreadRec = unsafe { &*rec };
    if !rec.m.load(Ordering::Relaxed).is_null() {
        return Err(Error::RuntimeThread);
    }
    unregister(rec);
    REC.with(|r| r.set(ptr::null()));
    if super::tls::state() == tstate::READY {
        super::tls::set_state(tstate::UNKNOWN);
    }
    // SAFETY: the key exists (the thread registered, so install() ran).
    unsafe { libc::pthread_setspecific(EXIT_KEY.load(Ordering::Relaxed), ptr::null()) };
    Ok(())
}

fn unregister(rec: &'static ThreadRec) {
    crate::debug::cpuprof::thread_unregistered(rec.tid.load(Ordering::Relaxed));
    let mut reg = REGISTRY.lock();
    if let Some(i) = reg.live.iter().position(|&r| ptr::eq(r, rec)) {
        reg.live.swap_remove(i);
    }
    rec.registered.store(false, Ordering::Relaxed);
    // Cannot fail to find room for long: free never holds more than live ever did.
    if reg.free.try_reserve(1).is_ok() {
        reg.free.push(rec);
    }
}

/// The thread-exit destructor of a registered foreign thread.
unsafe extern "C" fn on_thread_exit(rec: *mut libc::c_void) {
    // A thread-exit destructor, outside any export: runtime code for TSan.
    let _runtime = crate::sched::tsan::InRuntime::enter();
    if rec.is_null() {
        return;
    }
    // SAFETY: the value set by register(): a 'static record.
    let rec: &'static ThreadRec = unsafe { &*(rec as *const ThreadRec) };
    if rec.registered.load(Ordering::Relaxed) {
        unregister(rec);
    }
    REC.with(|r| r.set(ptr::null()));
    super::tls::set_state(tstate::UNKNOWN);
}

/// The kernel thread ids of every registered thread (the CPU profiler arms a timer for
/// each). Allocates; takes `REGISTRY`.
pub(crate) fn registered_tids() -> Vec<i32> {
    let reg = REGISTRY.lock();
    reg.live.iter().map(|r| r.tid.load(Ordering::Relaxed)).collect()
}

/// The calling thread's own stack `[lo, hi)` if it is registered. Async-signal-safe (a
/// thread-local load and two atomic loads; the record is never freed): the CPU
/// profiler's SIGPROF handler bounds its frame walk with it.
pub(crate) fn current_thread_stack() -> Option<(usize, usize)> {
    let rec = REC.with(|r| r.get());
    if rec.is_null() {
        return None;
    }
    // SAFETY: records are never freed.
    let rec = unsafe { &*rec };
    let (lo, hi) = (rec.stack_lo.load(Ordering::Relaxed), rec.stack_hi.load(Ordering::Relaxed));
    (lo < hi).then_some((lo, hi))
}

/// The atfork child handler's part before the runtime started (the child may use gort):
/// this thread keeps its record, with its new id; the parent's other threads do not exist
/// here.
extern "C" fn atfork_child() {
    if crate::runtime::started() {
        return; // the runtime's own handler marks the child FORKED
    }
    let me = REC.with(|r| r.get());
    if let Some(mut reg) = REGISTRY.try_lock() {
        reg.live.retain(|&r| ptr::eq(r, me));
        ROUND.store(ROUND.load(Ordering::Relaxed) & !1, Ordering::Relaxed);
    }
    if !me.is_null() {
        // SAFETY: records are never freed.
        unsafe { &*me }.tid.store(gettid(), Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// The signal
// ---------------------------------------------------------------------------------------

/// The default GC signal: a real-time signal glibc leaves alone (it keeps the two below
/// `SIGRTMIN()` for itself) and that few programs pick (they count up from `SIGRTMIN`).
fn default_signal() -> i32 {
    libc::SIGRTMIN() + 7
}

fn install() {
    INSTALL.call_once(|| {
        let sig = match std::env::var("GORT_GCSIGNAL") {
            Ok(v) => match v.trim().parse::<i32>() {
                Ok(n) if (1..=libc::SIGRTMAX()).contains(&n) && !is_reserved_signal(n) => n,
                _ => crate::fatal::fatal(&format!(
                    "GORT_GCSIGNAL={v}: not a usable signal number (1..={}, not SIGKILL, SIGSTOP, \
                     SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGTRAP)",
                    libc::SIGRTMAX()
                )),
            },
            Err(_) => default_signal(),
        };
        GC_SIGNAL.store(sig, Ordering::Relaxed);
        // SAFETY: plain sigaction/sigset calls on local structures; the handler is
        // async-signal-safe (atomics, futex, no allocation, errno preserved).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, ptr::null(), &mut old);
            if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
                // The program's handler keeps every signal gort does not send (see
                // on_gc_signal). Go's runtime has one on every signal, so refusing it
                // would make gort unusable from Go through cgo.
                (*CHAINED.0.get()).write(old);
                HAS_CHAINED.store(true, Ordering::Release);
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_gc_signal as *const () as usize;
            // SA_ONSTACK: see step 4 of the module notes.
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            // Nothing else runs on a stopped thread, except a fault of the handler itself.
            libc::sigfillset(&mut sa.sa_mask);
            for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
                libc::sigdelset(&mut sa.sa_mask, s);
            }
            if libc::sigaction(sig, &sa, ptr::null_mut()) != 0 {
                crate::fatal::fatal("sigaction of the GC signal failed");
            }
            let mut key: libc::pthread_key_t = 0;
            if libc::pthread_key_create(&mut key, Some(on_thread_exit)) != 0 {
                crate::fatal::fatal("pthread_key_create failed");
            }
            EXIT_KEY.store(key, Ordering::Relaxed);
            if libc::pthread_atfork(None, None, Some(atfork_child)) != 0 {
                crate::fatal::fatal("pthread_atfork failed");
            }
        }
    });
}

fn is_reserved_signal(n: i32) -> bool {
    [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP].contains(&n)
}

/// A registered thread must be able to receive the signal (threads inherit the mask of
/// their creator, which may block everything).
fn unblock_gc_signal() {
    // SAFETY: plain sigset and pthread_sigmask calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, GC_SIGNAL.load(Ordering::Relaxed));
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
    }
}

fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

extern "C" fn on_gc_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno of this thread; restored below so the interrupted code never sees ours.
    let saved_errno = unsafe { *errno_location() };
    let rec = REC.with(|r| r.get());
    let mut stopped = false;
    if !rec.is_null() && !crate::runtime::in_forked_child() {
        // SAFETY: records are never freed.
        let rec = unsafe { &*rec };
        let round = ROUND.load(Ordering::Acquire);
        if must_stop(rec, round) {
            stopped = true;
            if rec.nosuspend.load(Ordering::Relaxed) > 0 {
                // In a no-suspend section: the thread stops itself when it ends.
                rec.deferred.store(true, Ordering::Relaxed);
            } else {
                save_context(rec, ctx);
                stop_here(rec, round, interrupted_sp(ctx));
            }
        }
    }
    if !stopped && HAS_CHAINED.load(Ordering::Acquire) && !sent_by_gort(info) {
        // SAFETY: as errno above.
        unsafe { *errno_location() = saved_errno };
        chain(sig, info, ctx);
    }
    // SAFETY: as above.
    unsafe { *errno_location() = saved_errno };
}

/// True for a signal the collector sent (see [`send_stop_signal`]): one that arrives after
/// its round ended, or after the thread stopped itself, is stale and goes to nobody.
fn sent_by_gort(info: *mut libc::siginfo_t) -> bool {
    if info.is_null() {
        return false;
    }
    // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers, laid out as
    // QueuedSigInfo for a queued signal (checked by its code first).
    let q = unsafe { &*(info as *const QueuedSigInfo) };
    q.code == libc::SI_QUEUE && q.value == stop_signal_tag()
}

/// Passes a signal gort did not send to the handler the program had installed before.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: CHAINED was written before HAS_CHAINED (Release), which our caller read
    // (Acquire), and is never written again.
    let old = unsafe { (*CHAINED.0.get()).assume_init_ref() };
    // SAFETY: HAS_CHAINED is set only for a handler (not SIG_DFL or SIG_IGN), installed by
    // the previous owner with these flags.
    unsafe { super::signals::call_handler(old, sig, info, ctx) };
}

/// The interrupted stack pointer in the signal's ucontext, if there is one.
pub(crate) fn interrupted_sp(ctx: *mut libc::c_void) -> Option<usize> {
    if ctx.is_null() {
        return None;
    }
    let uc = ctx as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: for an SA_SIGINFO handler the kernel passes its ucontext_t as `ctx`.
    let sp = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] as usize };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    let sp = unsafe { (*uc).uc_mcontext.sp as usize };
    Some(sp)
}

/// Bytes below the stack pointer that a leaf function may use without moving it (the
/// System V x86-64 ABI's red zone; aarch64 has none).
const RED_ZONE: usize = if cfg!(target_arch = "x86_64") { 128 } else { 0 };

/// The alternate signal stack `[sp, top)`'s top if this handler runs on it.
fn alt_stack_top() -> Option<usize> {
    // SAFETY: sigaltstack only reads the current setting into a local (async-signal-safe).
    unsafe {
        let mut ss: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(ptr::null(), &mut ss) != 0 || ss.ss_flags & libc::SS_ONSTACK == 0 {
            return None;
        }
        Some(ss.ss_sp as usize + ss.ss_size)
    }
}

/// True when `rec`'s thread was signalled in `round` (odd: in progress) and has not
/// acknowledged it yet. A stray signal (sent by someone else) stops nothing.
fn must_stop(rec: &ThreadRec, round: u32) -> bool {
    round & 1 == 1
        && rec.signaled_round.load(Ordering::Acquire) == round
        && rec.acked_round.load(Ordering::Relaxed) != round
}

/// Copies the interrupted general registers out of the signal's ucontext.
fn save_context(rec: &ThreadRec, ctx: *mut libc::c_void) {
    // SAFETY: only this thread writes its record's registers, and the collector reads them
    // only after the acknowledgement that follows.
    let regs = unsafe { &mut *rec.regs.get() };
    *regs = [0; NREGS];
    if ctx.is_null() {
        return;
    }
    let uc = ctx as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: for an SA_SIGINFO handler the kernel passes its ucontext_t as `ctx`.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        for (d, s) in regs.iter_mut().zip(g.iter()) {
            *d = *s as usize;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let mc = unsafe { &(*uc).uc_mcontext };
        for (d, s) in regs.iter_mut().zip(mc.regs.iter()) {
            *d = *s as usize;
        }
        regs[31] = mc.sp as usize;
        regs[32] = mc.pc as usize;
    }
}

/// Records where the scan of this thread's stack starts, acknowledges the round and
/// sleeps until it ends. `interrupted_sp`: the handler's interrupted SP (None for a
/// self-stop). Async-signal-safe.
#[inline(never)]
fn stop_here(rec: &ThreadRec, round: u32, interrupted_sp: Option<usize>) {
    let marker = 0usize;
    let sp = std::hint::black_box(&marker) as *const usize as usize;
    match (interrupted_sp, alt_stack_top()) {
        (Some(isp), Some(top)) if sp < top => {
            rec.scan_sp.store(isp.saturating_sub(RED_ZONE), Ordering::Relaxed);
            rec.alt_sp.store(sp, Ordering::Relaxed);
            rec.alt_top.store(top, Ordering::Relaxed);
        }
        _ => {
            rec.scan_sp.store(sp, Ordering::Relaxed);
            rec.alt_sp.store(0, Ordering::Relaxed);
            rec.alt_top.store(0, Ordering::Relaxed);
        }
    }
    rec.acked_round.store(round, Ordering::Release);
    if PENDING.fetch_sub(1, Ordering::AcqRel) == 1 {
        super::note::futex_wake(&PENDING);
    }
    while ROUND.load(Ordering::Acquire) == round {
        super::note::futex_wait(&ROUND, round, None);
    }
    std::hint::black_box(&marker);
}

/// The callee-saved registers of the caller, for a thread that stops itself or scans
/// itself (everything else live is in its stack frames at a call).
#[inline(always)]
fn spill_callee_saved(out: &mut [usize; NREGS]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: stores six registers into the first six words of `out`.
    unsafe {
        std::arch::asm!(
            "mov [{0}], rbx", "mov [{0} + 8], rbp", "mov [{0} + 16], r12",
            "mov [{0} + 24], r13", "mov [{0} + 32], r14", "mov [{0} + 40], r15",
            in(reg) out.as_mut_ptr(), options(nostack, preserves_flags)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: stores x19..x30 into the first twelve words of `out`.
    unsafe {
        std::arch::asm!(
            "stp x19, x20, [{0}]", "stp x21, x22, [{0}, #16]", "stp x23, x24, [{0}, #32]",
            "stp x25, x26, [{0}, #48]", "stp x27, x28, [{0}, #64]", "stp x29, x30, [{0}, #80]",
            in(reg) out.as_mut_ptr(), options(nostack, preserves_flags)
        );
    }
}

/// Runs `sleep` (a wait inside the runtime: a futex sleep, nothing that touches the
/// program's memory) with the calling thread *parked*: a world stop that begins meanwhile
/// counts it as stopped without signalling it, from the registers and stack pointer
/// recorded here (Boehm's "do blocking"; the signal, the handler, its acknowledgement and
/// its wake-up cost each idle M and each waiting thread two context switches per
/// collection). When `sleep` returns during a stop that counted the thread in, it waits
/// here until that stop ends. A plain call on unregistered threads.
///
/// The callee-saved registers are copied now (anything else the caller's frames hold was
/// spilled to them at the calls leading here), and the scan starts at this frame: the
/// frames above are not written until the thread leaves, and `sleep` writes only below.
/// A stop that signalled the thread just before it parked stops it at the end of the
/// section that writes the record (or in the handler, once asleep), which records that
/// frame's registers and lower SP over ours: later stops that hold it scan from there, a
/// superset of the same stack (dead frames below ours included), so nothing live is
/// missed.
#[inline(never)]
pub(crate) fn parked<R>(sleep: impl FnOnce() -> R) -> R {
    let rec = REC.with(|r| r.get());
    if rec.is_null() || crate::runtime::in_forked_child() {
        return sleep();
    }
    // SAFETY: records are never freed.
    let rec = unsafe { &*rec };
    if rec.nosuspend.load(Ordering::Relaxed) > 0 {
        // A no-suspend section holds something the collector needs: never counted as
        // stopped inside one (it stops itself when the section ends).
        return sleep();
    }
    let marker = 0usize;
    {
        // Our record's registers and scan start are written with the GC signal deferred,
        // so a stop that signalled us just now cannot interleave its handler's copy with
        // ours; it stops us when the section ends (after PARKED's store, from a deeper
        // frame: see above).
        let _section = no_suspend();
        // SAFETY: only this thread writes `regs` (its handler is held off by the section);
        // stoppers read it only after a CAS from PARKED, which the Release below orders.
        let regs = unsafe { &mut *rec.regs.get() };
        *regs = [0; NREGS];
        spill_callee_saved(regs);
        rec.scan_sp.store(std::hint::black_box(&marker) as *const usize as usize, Ordering::Relaxed);
        rec.park.store(park::PARKED, Ordering::Release);
    }
    let r = sleep();
    while rec.park.compare_exchange(park::PARKED, park::RUNNING, Ordering::Acquire, Ordering::Relaxed).is_err() {
        // HELD: a stop counted us in; it ends when its restart makes us PARKED again.
        let round = ROUND.load(Ordering::Acquire);
        if round & 1 == 1 && rec.park.load(Ordering::Acquire) == park::HELD {
            super::note::futex_wait(&ROUND, round, None);
        }
    }
    std::hint::black_box(&marker);
    r
}

/// A section in which the calling thread is not stopped by the GC signal: a signal that
/// arrives meanwhile is remembered and the thread stops itself when the (outermost)
/// section ends. For runtime locks the collector must take with the world stopped: hold
/// them only inside such sections. Keep sections short, and never wait in one for
/// anything a stopped thread could hold. A no-op on unregistered threads.
pub(crate) fn no_suspend() -> NoSuspend {
    let rec = REC.with(|r| r.get());
    if !rec.is_null() {
        // SAFETY: records are never freed.
        let n = &unsafe { &*rec }.nosuspend;
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
    }
    NoSuspend { rec }
}

/// Whether a world stop waits for the calling thread to leave its no-suspend section
/// (long sections, such as a mark assist, end early when it does).
pub(crate) fn stop_pending() -> bool {
    let rec = REC.with(|r| r.get());
    // SAFETY: records are never freed.
    !rec.is_null() && unsafe { &*rec }.deferred.load(Ordering::Relaxed)
}

/// See [`no_suspend`].
pub(crate) struct NoSuspend {
    rec: *const ThreadRec,
}

impl Drop for NoSuspend {
    fn drop(&mut self) {
        if self.rec.is_null() {
            return;
        }
        // SAFETY: records are never freed.
        let rec = unsafe { &*self.rec };
        compiler_fence(Ordering::SeqCst);
        let n = rec.nosuspend.load(Ordering::Relaxed) - 1;
        rec.nosuspend.store(n, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if n == 0 && rec.deferred.swap(false, Ordering::Relaxed) {
            stop_self(rec);
        }
    }
}

/// The deferred stop at the end of a no-suspend section.
#[inline(never)]
fn stop_self(rec: &ThreadRec) {
    let round = ROUND.load(Ordering::Acquire);
    if !must_stop(rec, round) {
        return;
    }
    let mut regs = [0usize; NREGS];
    spill_callee_saved(&mut regs);
    // SAFETY: as in save_context: this thread is the only writer, before acknowledging.
    unsafe { *rec.regs.get() = regs };
    stop_here(rec, round, None);
}

fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
    }
}

// ---------------------------------------------------------------------------------------
// Stopping and restarting
// ---------------------------------------------------------------------------------------

/// A thread stopped in this round, and the stack range its SP is in.
struct Stopped {
    rec: &'static ThreadRec,
    /// `[scan_sp, top)` to scan; `top` 0: SP in no known stack (registers only).
    top: usize,
    /// Held asleep in [`parked`] (no signal was sent): its restart makes it PARKED again.
    held: bool,
}

/// The world, stopped (see the module notes). Dropping it without [`restart`] would
/// leave every thread stopped for ever: it restarts on drop too, and reports nothing.
///
/// [`restart`]: StoppedWorld::restart
#[cfg_attr(
    any(not(test), loom),
    allow(dead_code, reason = "the measurements: read by the world-stop tests, and in a debugger")
)]
pub(crate) struct StoppedWorld {
    /// Nanoseconds from the call to the last acknowledgement.
    pub stop_ns: u64,
    /// Of which the cooperative stop of the Ps.
    pub stop_ps_ns: u64,
    /// Threads stopped by the signal.
    pub threads_stopped: usize,
    /// Stopped threads whose SP was in no stack gort knows (see the module notes).
    pub unknown_stacks: usize,
    round: u32,
    stopped: Vec<Stopped>,
    /// `lo` of every goroutine stack a stopped thread (or the caller) is on, sorted.
    covered: Vec<usize>,
    /// The caller's stack: its `[lo, hi)`.
    caller_stack: (usize, usize),
    ctx: Option<proc::Ctx>,
    registry: Option<MutexGuard<'static, Registry>>,
    stw: Option<MutexGuard<'static, ()>>,
}

fn nanos() -> u64 {
    crate::time::nanotime() as u64
}

/// The goroutine stack `[lo, hi)` containing `sp`, if any: the candidate's first
/// (usually right), else a search of every G.
fn goroutine_stack_of(sp: usize, candidate: *mut g::G) -> Option<(usize, usize)> {
    let within = |gp: *mut g::G| -> Option<(usize, usize)> {
        if gp.is_null() {
            return None;
        }
        // SAFETY: Gs are never freed; with the world stopped nobody writes their stack slot
        // (see for_each_stack_root).
        let s = unsafe { (*gp).stack() }?;
        let (lo, hi) = (s.lo() as usize, s.top() as usize);
        (lo <= sp && sp < hi).then_some((lo, hi))
    };
    if let Some(r) = within(candidate) {
        return Some(r);
    }
    let mut found = None;
    g::ALLGS.for_each(|gp| {
        if found.is_none() {
            found = within(gp);
        }
    });
    found
}

/// The signal that stops threads for the collector (0 before start-up).
pub(crate) fn gc_signal() -> i32 {
    GC_SIGNAL.load(Ordering::Relaxed)
}

/// Stops every thread that can hold heap pointers, except the caller; see the module
/// notes. Takes the stop-the-world lock: it does not nest with itself or with
/// `gort_gomaxprocs`. Call it from a goroutine or a thread, never from the scheduler.
pub(crate) fn stop_world_for_gc() -> StoppedWorld {
    stop_world(true)
}

/// [`stop_world_for_gc`] for the collector's own thread, which holds no heap pointers the
/// program put there: it is not registered, and its stack and registers are not roots
/// (they hold the collector's working values: span and arena addresses that would keep
/// garbage alive).
pub(crate) fn stop_world_from_collector() -> StoppedWorld {
    stop_world(false)
}

fn stop_world(caller_is_mutator: bool) -> StoppedWorld {
    crate::runtime::ensure_init();
    let t0 = nanos();
    if caller_is_mutator && register_current_thread().is_err() {
        crate::fatal::fatal("out of memory registering the collector's thread");
    }
    // Null for the collector thread, which is never registered.
    let me = if caller_is_mutator { REC.with(|r| r.get()) } else { ptr::null() };
    // Before entering the runtime: waiting for the lock with a RUNNING P would keep
    // another stopper waiting for that P.
    let stw = proc::SCHED.stw_lock.lock();
    let ctx = proc::enter();
    let m = ctx.m();
    proc::stop_the_world(m);
    let t_ps = nanos();
    let registry = REGISTRY.lock();
    // The only allocations: before anything is stopped.
    let mut stopped = Vec::with_capacity(registry.live.len());
    let mut covered = Vec::with_capacity(registry.live.len() + 1);
    let caller_g = proc::current_g();
    let caller_stack = if me.is_null() {
        (0, 0) // not a mutator: nothing of ours to scan
    } else if caller_g.is_null() {
        // SAFETY: records are never freed.
        let me_rec = unsafe { &*me };
        (me_rec.stack_lo.load(Ordering::Relaxed), me_rec.stack_hi.load(Ordering::Relaxed))
    } else {
        // SAFETY: the caller is this goroutine; its stack slot is not written while it runs.
        let s = unsafe { (*caller_g).stack() }.expect("a running goroutine has a stack");
        covered.push(s.lo() as usize);
        (s.lo() as usize, s.top() as usize)
    };
    let round = ROUND.load(Ordering::Relaxed).wrapping_add(1) | 1;
    ROUND.store(round, Ordering::SeqCst);
    PENDING.store(0, Ordering::SeqCst);
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let sig = GC_SIGNAL.load(Ordering::Relaxed);
    for &rec in registry.live.iter() {
        if ptr::eq(rec, me) {
            continue;
        }
        // Asleep inside the runtime: counted as stopped as it is, without a signal (its
        // registers and scan start were recorded when it went to sleep; the Acquire pairs
        // with that Release).
        if rec.park.compare_exchange(park::PARKED, park::HELD, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            stopped.push(Stopped { rec, top: 0, held: true });
            continue;
        }
        rec.signaled_round.store(round, Ordering::Release);
        PENDING.fetch_add(1, Ordering::SeqCst);
        if !send_stop_signal(pid, rec.tid.load(Ordering::Relaxed), sig) {
            // Exited without unregistering (or a stale id in a child forked before
            // start-up): nothing to stop.
            rec.signaled_round.store(0, Ordering::Release);
            PENDING.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        stopped.push(Stopped { rec, top: 0, held: false });
    }
    wait_for_acks(&stopped);
    // Which stack is each stopped thread on?
    let mut unknown = 0;
    for s in stopped.iter_mut() {
        let sp = s.rec.scan_sp.load(Ordering::Relaxed);
        let (lo, hi) = (s.rec.stack_lo.load(Ordering::Relaxed), s.rec.stack_hi.load(Ordering::Relaxed));
        if lo <= sp && sp < hi {
            s.top = hi;
            continue;
        }
        let m = s.rec.m.load(Ordering::Relaxed);
        // SAFETY: Ms are never freed; the thread is stopped, so its curg is stable (its
        // acknowledgement ordered its writes before our reads).
        let cand = if m.is_null() { ptr::null_mut() } else { unsafe { &*m }.curg.get() };
        match goroutine_stack_of(sp, cand) {
            Some((glo, ghi)) => {
                s.top = ghi;
                covered.push(glo);
            }
            None => unknown += 1,
        }
    }
    covered.sort_unstable();
    let t1 = nanos();
    StoppedWorld {
        stop_ns: t1 - t0,
        stop_ps_ns: t_ps - t0,
        threads_stopped: stopped.len(),
        unknown_stacks: unknown,
        round,
        stopped,
        covered,
        caller_stack,
        ctx: Some(ctx),
        registry: Some(registry),
        stw: Some(stw),
    }
}

/// The head of a kernel `siginfo_t` for a queued signal (`_sigqueue`: pid, uid, value),
/// padded to its full size; the same layout on x86-64 and aarch64.
#[repr(C)]
struct QueuedSigInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    pid: i32,
    uid: u32,
    value: usize,
    _rest: [u64; 12],
}
const _: () = assert!(std::mem::size_of::<QueuedSigInfo>() == std::mem::size_of::<libc::siginfo_t>());

/// The value the collector's signals carry, so that the handler tells them from the same
/// signal sent by anyone else (`kill`, `pthread_kill`, `sigqueue` with another value).
fn stop_signal_tag() -> usize {
    &GC_SIGNAL as *const AtomicI32 as usize
}

/// Sends the GC signal to thread `tid`; false if it does not exist. A full queue of
/// real-time signals (`EAGAIN`, `RLIMIT_SIGPENDING`) is waited out: skipping a live thread
/// would leave it running. Sent with `rt_tgsigqueueinfo` carrying [`stop_signal_tag`].
fn send_stop_signal(pid: libc::pid_t, tid: i32, sig: i32) -> bool {
    let mut info = QueuedSigInfo {
        signo: sig,
        errno: 0,
        code: libc::SI_QUEUE,
        _pad: 0,
        pid,
        // SAFETY: getuid always succeeds.
        uid: unsafe { libc::getuid() },
        value: stop_signal_tag(),
        _rest: [0; 12],
    };
    loop {
        // SAFETY: rt_tgsigqueueinfo to a thread of our own process with a full siginfo.
        if unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, sig, &mut info as *mut QueuedSigInfo) } == 0 {
            return true;
        }
        match crate::os::errno() {
            libc::EAGAIN | libc::EINTR => {
                // SAFETY: a plain sleep of this thread.
                unsafe { libc::usleep(100) };
            }
            _ => return false,
        }
    }
}

/// Sleeps until every signalled thread has acknowledged. A warning every 5 s names a
/// thread that does not (it blocks the GC signal, or exited without its destructor).
fn wait_for_acks(stopped: &[Stopped]) {
    let mut waited_ns: i64 = 0;
    loop {
        let n = PENDING.load(Ordering::Acquire);
        if n == 0 {
            return;
        }
        super::note::futex_wait(&PENDING, n, Some(100_000_000));
        waited_ns += 100_000_000;
        if waited_ns % 5_000_000_000 == 0 {
            let round = ROUND.load(Ordering::Relaxed);
            for s in stopped {
                if s.rec.acked_round.load(Ordering::Relaxed) != round {
                    let mut msg = crate::fatal::StackMsg::new();
                    msg.push(b"gort: the garbage collector is waiting for thread ")
                        .push_dec(s.rec.tid.load(Ordering::Relaxed) as i64)
                        .push(b" to stop (does it block the GC signal?)\n");
                    crate::fatal::write_stderr(msg.as_bytes());
                }
            }
        }
    }
}

impl StoppedWorld {
    /// Every conservative root range of threads and goroutines, as `(start, length)`:
    /// the caller's callee-saved registers and `[its SP, top)`; each stopped thread's
    /// register copy and `[handler SP, top)`; each goroutine no thread is on,
    /// `[saved SP, top)`. Allocates nothing and takes no lock.
    #[inline(never)]
    pub(crate) fn for_each_stack_root(&self, f: &mut dyn FnMut(*const u8, usize)) {
        // The caller: its callee-saved registers (anything else live was spilled to its
        // frames at the calls leading here), then its stack from here up.
        let (lo, hi) = self.caller_stack;
        if hi != 0 {
            let mut regs = [0usize; NREGS];
            spill_callee_saved(&mut regs);
            let regs = std::hint::black_box(regs);
            f(regs.as_ptr() as *const u8, std::mem::size_of_val(&regs));
            let sp = &regs as *const _ as usize;
            if lo <= sp && sp < hi {
                f(sp as *const u8, hi - sp);
            }
        }
        for s in &self.stopped {
            // The registers were written before the acknowledgement we waited for.
            f(s.rec.regs.get() as *const u8, std::mem::size_of::<[usize; NREGS]>());
            if s.top != 0 {
                let sp = s.rec.scan_sp.load(Ordering::Relaxed);
                f(sp as *const u8, s.top - sp);
            }
            // A handler stopped on the alternate stack: its signal frame holds the vector
            // registers. (A held thread never ran the handler this round: stale values.)
            let (alt_sp, alt_top) = (s.rec.alt_sp.load(Ordering::Relaxed), s.rec.alt_top.load(Ordering::Relaxed));
            if !s.held && alt_sp != 0 && alt_sp < alt_top {
                f(alt_sp as *const u8, alt_top - alt_sp);
            }
        }
        g::ALLGS.for_each(|gp| {
            // SAFETY: Gs are never freed. Every thread that could write a G's `stack` or
            // `sp` is stopped (or is us), and the acknowledgements ordered their writes
            // before these reads. A stopped thread is never in the middle of writing
            // `stack` (a one-byte niche store of None when a P-less M frees it; Some is
            // written only with a P, and every P is stopped).
            let g = unsafe { &*gp };
            if g.status() == status::DEAD {
                return;
            }
            // SAFETY: as above.
            let Some(st) = (unsafe { g.stack() }) else { return };
            let (lo, hi) = (st.lo() as usize, st.top() as usize);
            if self.covered.binary_search(&lo).is_ok() {
                return; // a thread is on it: scanned from that thread's SP
            }
            // SAFETY: as above.
            let sp = unsafe { *g.sp.get() } as usize;
            // Outside the stack: a fresh G whose first frame is not written yet (its stack
            // holds nothing), or a recycled G's stale value.
            if lo <= sp && sp < hi {
                f(sp as *const u8, hi - sp);
            }
        });
    }

    /// Where goroutine `g`, running on a thread this stop interrupted with its signal, was
    /// interrupted: `(pc, frame pointer)`, if its stack pointer is inside `[lo, hi)`
    /// (goroutine dumps walk its frames from there). None for a thread that was asleep in
    /// the runtime (no interrupted context) or on another stack.
    pub(crate) fn interrupted(&self, g: *mut super::G, lo: usize, hi: usize) -> Option<(usize, usize)> {
        self.stopped.iter().filter(|s| !s.held).find_map(|s| {
            let m = s.rec.m.load(Ordering::Relaxed);
            // SAFETY: Ms are never freed; the thread is stopped, so its curg is stable.
            if m.is_null() || unsafe { &*m }.curg.get() != g {
                return None;
            }
            // SAFETY: written before the acknowledgement we waited for; nobody writes it
            // while the round lasts.
            let regs = unsafe { &*s.rec.regs.get() };
            let sp = regs[crate::arch::GREG_SP];
            (lo <= sp && sp < hi).then(|| (regs[crate::arch::GREG_PC], regs[crate::arch::GREG_FP]))
        })
    }

    /// Restarts every thread; returns the restart time in ns.
    pub(crate) fn restart(mut self) -> u64 {
        self.restart_inner()
    }

    fn restart_inner(&mut self) -> u64 {
        let Some(stw) = self.stw.take() else { return 0 };
        let t0 = nanos();
        // Stopped threads first: one may hold the scheduler lock start_the_world needs.
        // Held sleepers become PARKED again (still asleep, or waiting in `parked` for
        // this round to end: they leave once it has).
        for s in self.stopped.iter().filter(|s| s.held) {
            s.rec.park.store(park::PARKED, Ordering::Release);
        }
        ROUND.store(self.round.wrapping_add(1), Ordering::SeqCst);
        futex_wake_all(&ROUND);
        drop(self.registry.take());
        let ctx = self.ctx.take().expect("context");
        let m = ctx.m();
        proc::start_the_world(m, proc::gomaxprocs());
        drop(stw);
        proc::leave(&ctx);
        nanos() - t0
    }
}

impl Drop for StoppedWorld {
    fn drop(&mut self) {
        self.restart_inner();
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
