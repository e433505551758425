//! The CPU profiler (`gort_cpu_profile_start`/`gort_cpu_profile_stop`, Go's
//! `pprof.StartCPUProfile`): where the program's threads spend CPU time, sampled by a
//! per-thread CPU timer, written as a pprof `cpu` profile.
//!
//! # Sampling, as Go 1.18+ does it
//! Every thread that is sampled has its own POSIX timer on its own CPU-time clock
//! (`timer_create` on the thread's CPU clock with `SIGEV_THREAD_ID` naming the thread),
//! firing every `1/hz` seconds of CPU time that thread consumes, with the first expiry
//! drawn uniformly from `(0, period]` (so a thread that runs a tenth of a period has a
//! one-in-ten chance of a sample rather than none: short-lived and rarely-busy threads
//! are not biased away). The expiry sends SIGPROF to that thread, whose handler records
//! one sample of the interrupted stack. A thread that sleeps or waits consumes no CPU
//! time and gets no signal. A process-wide `setitimer(ITIMER_PROF)` (Go before 1.18) is
//! rejected: its signals go to whichever thread the kernel picks, and with many busy
//! threads the process-wide rate saturates and under-counts.
//!
//! # Which threads
//! Every *registered* thread (see `sched::world`): the runtime's Ms (whatever they run:
//! goroutines, C code called from goroutines, the scheduler itself), the thread running
//! `gort_main`, and every foreign thread that called into gort or `gort_thread_register`.
//! Timers are created by `start` for the threads registered at that moment, by the
//! registration of any thread while a profile runs, and deleted at `stop` and when a
//! thread unregisters (or exits). Unlike Go, where each M arms its own timer the next time
//! it schedules, gort arms every registered thread's timer from the starting thread: a
//! thread's CPU clock id is computable from its kernel thread id (`MAKE_THREAD_CPUCLOCK`,
//! what `pthread_getcpuclockid` returns), and the kernel allows timers on the clock of any
//! thread of the process. So an M stuck in a long C call, or a foreign thread that never
//! calls gort again, is sampled from the start. Not sampled: threads gort has never seen
//! and the runtime's helper threads (sysmon, the scavenger, the trace and profile
//! writers), which are not registered. (Go samples such threads through its setitimer
//! fallback; gort has none.) A timer that cannot be created (the kernel's limit on
//! pending signals, `RLIMIT_SIGPENDING`) leaves that thread unsampled; if no thread at all
//! could be armed, start fails with the errno.
//!
//! # The signal
//! SIGPROF, with `SA_SIGINFO | SA_RESTART | SA_ONSTACK` (Ms have an alternate signal
//! stack; `SA_RESTART` resumes most interrupted system calls of C code, see the GC's list
//! in `sched::world` of those that still fail with `EINTR`: a profiled thread sees
//! those only while it is consuming CPU, which a thread blocked in a read is not). Every
//! other signal is blocked while the handler runs (its `sa_mask`), except the synchronous
//! fault signals: in particular the GC's stop signal, which must not find the thread on
//! the alternate stack in the middle of this handler (it would look for the interrupted
//! goroutine's stack there). The handler is installed at the first start and stays
//! installed after stop, so a signal still pending when the timers are deleted finds it
//! (and is dropped): SIGPROF's default action would kill the process. Signals that do not
//! come from gort's timers (`si_code` other than `SI_TIMER`, or another `sigev_value`:
//! `kill`, another library's `setitimer`) go to the handler the program had installed
//! before the first start, if it had one, and are ignored otherwise. While gort owns
//! SIGPROF, a program must not install its own handler (Go's rule for the signals its
//! runtime uses).
//!
//! # The handler (async-signal-safe)
//! It allocates nothing, takes no lock and makes no system call:
//! 1. It saves errno, checks the signal is from our timer, and counts itself in
//!    `INFLIGHT` before checking `ACTIVE` (so `stop` can wait out every handler that saw
//!    the profile running).
//! 2. It reads the interrupted pc, frame pointer and stack pointer from the `ucontext`,
//!    and the goroutine from the thread's M (`sched::tls`: one initial-exec thread-local
//!    load, then the M's `curg`; Ms and Gs are never freed). Its id is the sample's
//!    `goroutine` label (0: no goroutine, a thread on its own stack or in the scheduler).
//! 3. It walks the frame pointers with plain loads only inside a range known to be mapped:
//!    `[sp, top)` of the stack the interrupted sp lies in, which is either the thread's
//!    own stack (its registration record holds the bounds; checked first, since `curg`
//!    is set a moment before the switch to the goroutine's stack) or the running
//!    goroutine's stack. A frame chain that leaves that range or goes down ends the walk,
//!    so a C function that uses the frame-pointer register for data cannot make it fault.
//!    With the sp in neither (a stack the program switched to itself, the alternate signal
//!    stack), the sample is the interrupted pc alone. At most 64 frames. Reading `curg`'s
//!    stack slot from a handler is safe because the slot of the goroutine `curg` names is
//!    never being written when the handler can see it: the scheduler writes a new
//!    goroutine's slot before it sets `curg` (`proc::prepare_run`, with a compiler fence;
//!    a direct switch runs that on the previous goroutine's stack), and a finished
//!    goroutine's slot is emptied by g0 or by the goroutine that runs next, neither of
//!    which has the finished one as `curg`.
//! 4. It records where the interrupted function's return address would be if that
//!    function has no frame record of its own (x86-64: the two words at sp; aarch64: the
//!    link register): the drainer uses them to restore the caller the walk misses for a
//!    leaf built without `-mno-omit-leaf-frame-pointer` ([`fix_leaf`]).
//! 5. It pushes `(goroutine, weight, pcs, those two words)` into a bounded lock-free ring (a Vyukov-style
//!    queue: producers claim a slot with a CAS on the head, fill it, then publish it with
//!    the slot's sequence number; a producer never waits for another, and a full ring
//!    drops the sample and counts it in `LOST`). The weight is 1 plus the timer's overrun
//!    count (expiries the kernel merged into this signal, at rates above its tick).
//!
//! # The writer side
//! A helper thread (started at the first start, parked between profiles) drains the ring
//! every 50 ms into a table of `(goroutine, stack) -> samples` (fixing up frameless
//! leaves on the way: that needs the symbolizer, which is too slow for the handler), under one lock that the
//! final drain at stop also takes. Nothing is symbolized in the handler; `stop` deletes
//! the timers, clears `ACTIVE`, waits for `INFLIGHT` to drain, drains the ring a last
//! time, then names the pcs (the symbolizer's lookups allocate nothing but take a few
//! hundred microseconds each when cold) and writes the whole profile to the fd at once.
//! The write happens in a blocking region (the P is free for a goroutine that reads the
//! other end of a pipe). So the fd is written only by `stop`, and memory grows with the number of distinct
//! (goroutine, stack) pairs seen, not with the profile's length.
//!
//! # The profile
//! As Go's: sample types `samples/count` and `cpu/nanoseconds`, period type
//! `cpu/nanoseconds` with period `1e9/hz`, the start time and the duration, one sample
//! per distinct (goroutine, stack), labelled with a numeric label `goroutine` holding the
//! goroutine's id (`go tool pprof -tags` lists them, `-tagfocus=goroutine=7` selects one;
//! a string label would not do: pprof reads a `-tagfocus` value that parses as a number
//! as a numeric filter, which never matches a string label). Samples taken on a thread
//! running no goroutine carry no label. Go itself labels samples only with the program's
//! `pprof.Do` labels. Runtime frames
//! are kept (Go's CPU profiles show `runtime.*` too): time spent in gort, spinning for
//! work or scanning the heap, is charged to gort's functions. The leaf pc is the
//! interrupted instruction and is stored plus one, so that every address of a stack can
//! be named as a return address (the encoder's convention). Samples lost to a full ring
//! appear as one sample of the function `gort.lostProfileEvent`, as Go's do.
//!
//! # fork
//! A child forked while a profile runs inherits the handler and the state but no timers
//! and no drainer thread (POSIX timers and threads do not survive a fork); it cannot use
//! gort anyway once the runtime has started. Profile in the parent.
//!
//! # `gort_signal_notify(SIGPROF)`
//! Its handler, installed after ours, runs ours as "the handler installed before": samples
//! are still taken, and the channel also receives the profiler's signals (Go never
//! delivers SIGPROF to `signal.Notify` channels; gort does not special-case it).
//!
//! # Rates
//! `hz <= 0` means Go's default, 100. Above 1 000 000 it is clamped, as Go's
//! `SetCPUProfileRate` does. At high rates the kernel may merge expiries into one signal
//! (CPU timers are checked at the scheduler tick); the merged ones arrive as the timer's
//! overrun count, which the sample's weight adds, so the totals stay right (measured:
//! 1.0 s of CPU at 100, 1000 and 5000 Hz gave 102, 1006 and 5099 samples).
//!
//! # Alternatives rejected
//! Reading the frames through `process_vm_readv`, as crash dumps of other goroutines do
//! (`unwind::Reader::Careful`): two system calls per frame, and some sandboxes forbid
//! the call. Symbolizing in the handler (the symbolizer is allocation- and lock-free, but a cold
//! lookup reads `/proc/self/maps` and scans line tables: far too slow per sample). A
//! per-thread ring (no CAS, but a ring per registered thread, and foreign threads come
//! and go). `perf_event_open` (needs `perf_event_paranoid` permission many machines deny;
//! Go does not use it either). Writing the profile progressively as Go's
//! `runtime/pprof` does (it compresses as it goes; here the aggregated table is small
//! and the fd is left alone until stop).

use super::pprof;
use super::profile::Namer;
use super::symbolize::{Symbol, symbolize};
use super::unwind::{self, MAX_FRAMES, Reader};
use parking_lot::{Condvar, Mutex};
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Go's default rate.
pub(crate) const DEFAULT_HZ: i32 = 100;
/// Go's `SetCPUProfileRate` cap.
pub(crate) const MAX_HZ: i32 = 1_000_000;

/// The `sigev_value` of our timers' signals, to tell them from anyone else's SIGPROF.
const TAG: usize = 0x6770_726f_6600_0001;

/// The pc of the synthetic location of lost samples (no code lives at address 1).
const LOST_PC: u64 = 1;

/// The rate of the running profile, 0 when none runs. Written under [`TIMERS`]; read
/// without it by [`thread_registered`]'s fast path.
static HZ: AtomicI32 = AtomicI32::new(0);
/// Handlers record samples only while this is true. Written by start and stop (under
/// [`SESSION`]).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Handlers between their increment (before reading `ACTIVE`) and their last write to
/// the ring.
static INFLIGHT: AtomicU32 = AtomicU32::new(0);
/// Samples dropped because the ring was full (since the profile started).
static LOST: AtomicU64 = AtomicU64::new(0);

/// The armed timers, `(thread id, kernel timer id)`. Lock order: `TIMERS` before the
/// thread registry (start asks the registry for its threads while holding it).
static TIMERS: Mutex<Vec<(i32, i32)>> = Mutex::new(Vec::new());

/// The running profile: where it goes and when it began. Held by start and stop for
/// their whole length (they exclude each other).
struct Session {
    fd: i32,
    hz: i32,
    start_unix_ns: i64,
    start_mono_ns: i64,
}
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Samples drained from the ring: `(goroutine id, pcs) -> weight`. Under its lock (the
/// drainer and stop's final drain, the only consumers of the ring).
static AGG: Mutex<Option<Table>> = Mutex::new(None);
type Table = HashMap<(i64, Box<[usize]>), u64>;

/// Wakes the drainer at start (it sleeps while no profile runs).
static DRAINER_WAKE: Condvar = Condvar::new();
static DRAINER_LOCK: Mutex<()> = Mutex::new(());
static DRAINER: Once = Once::new();
/// How often the drainer empties the ring while a profile runs.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------
// The ring
// ---------------------------------------------------------------------------------------

/// Slots of the ring (a power of two): 20 s of one thread at 100 Hz, or 50 ms of 20
/// threads at 1000 Hz; the drainer empties it every 50 ms.
const RING: usize = 2048;

/// One sample. `seq` says whose turn it is at position `p` (lap `p / RING`): `2*lap`
/// free for the producer of `p`, `2*lap + 1` filled and waiting for the consumer. The
/// other fields are written by the producer that claimed the slot before it publishes
/// `seq` (Release) and read by the consumer after it sees it (Acquire).
struct Slot {
    seq: AtomicUsize,
    gid: UnsafeCell<i64>,
    /// Where the interrupted function's return address may be if it has no frame of its
    /// own (see [`fix_leaf`]): x86-64 the two words at the interrupted sp, aarch64 the link
    /// register; 0 when unknown.
    ret_candidates: UnsafeCell<[usize; 2]>,
    weight: UnsafeCell<u32>,
    len: UnsafeCell<usize>,
    pcs: UnsafeCell<[usize; MAX_FRAMES]>,
}

struct Ring {
    slots: [Slot; RING],
    /// The next position a producer claims (CAS).
    head: AtomicUsize,
    /// The next position the consumer reads. Only the consumer (under `AGG`'s lock).
    tail: AtomicUsize,
}

// SAFETY: a slot's plain fields are accessed by one side at a time, as `seq` orders.
unsafe impl Sync for Ring {}

#[allow(clippy::declare_interior_mutable_const, reason = "the initializer of an array of slots")]
const EMPTY_SLOT: Slot = Slot {
    seq: AtomicUsize::new(0),
    gid: UnsafeCell::new(0),
    ret_candidates: UnsafeCell::new([0; 2]),
    weight: UnsafeCell::new(0),
    len: UnsafeCell::new(0),
    pcs: UnsafeCell::new([0; MAX_FRAMES]),
};

static RING_BUF: Ring = Ring { slots: [EMPTY_SLOT; RING], head: AtomicUsize::new(0), tail: AtomicUsize::new(0) };

/// Pushes a sample; false if the ring is full. Lock-free, allocation-free: signal-safe.
fn ring_push(gid: i64, weight: u32, pcs: &[usize], cand: [usize; 2]) -> bool {
    let r = &RING_BUF;
    let mut pos = r.head.load(Ordering::Relaxed);
    loop {
        let slot = &r.slots[pos % RING];
        let lap2 = (pos / RING) * 2;
        let seq = slot.seq.load(Ordering::Acquire);
        if seq == lap2 {
            match r.head.compare_exchange_weak(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    let n = pcs.len().min(MAX_FRAMES);
                    // SAFETY: the CAS made this slot ours until we publish it.
                    unsafe {
                        *slot.gid.get() = gid;
                        *slot.ret_candidates.get() = cand;
                        *slot.weight.get() = weight;
                        *slot.len.get() = n;
                        (&mut *slot.pcs.get())[..n].copy_from_slice(&pcs[..n]);
                    }
                    slot.seq.store(lap2 + 1, Ordering::Release);
                    return true;
                }
                Err(now) => pos = now,
            }
        } else if seq < lap2 {
            return false; // the consumer has not freed it: full
        } else {
            pos = r.head.load(Ordering::Relaxed); // another producer took it
        }
    }
}

/// Pops every published sample into `f`, in order, stopping at the first slot a producer
/// has claimed but not yet filled. The caller holds `AGG`'s lock (one consumer).
fn ring_drain(mut f: impl FnMut(i64, u32, &[usize], [usize; 2])) {
    let r = &RING_BUF;
    loop {
        let pos = r.tail.load(Ordering::Relaxed);
        let slot = &r.slots[pos % RING];
        let lap2 = (pos / RING) * 2;
        if slot.seq.load(Ordering::Acquire) != lap2 + 1 {
            return;
        }
        // SAFETY: published by its producer (Acquire above); nobody writes it until we
        // hand it back below.
        unsafe {
            let n = *slot.len.get();
            f(*slot.gid.get(), *slot.weight.get(), &(&*slot.pcs.get())[..n], *slot.ret_candidates.get());
        }
        slot.seq.store(lap2 + 2, Ordering::Release);
        r.tail.store(pos + 1, Ordering::Relaxed);
    }
}

/// Drains the ring into the table, restoring the callers of frameless leaf functions.
fn drain() {
    let mut agg = AGG.lock();
    let table = agg.get_or_insert_with(HashMap::new);
    let mut sym = Symbol::new();
    ring_drain(|gid, w, pcs, cand| {
        let key: Box<[usize]> = match fix_leaf(pcs, cand, &mut sym) {
            Some(caller) => {
                let mut v = Vec::with_capacity(pcs.len() + 1);
                v.push(pcs[0]);
                v.push(caller);
                v.extend_from_slice(&pcs[1..]);
                v.into()
            }
            None => pcs.into(),
        };
        *table.entry((gid, key)).or_default() += u64::from(w);
    });
}

/// The caller the frame-pointer walk missed, if the interrupted function had no frame
/// record of its own at that instant (a leaf compiled without
/// `-mno-omit-leaf-frame-pointer`, or a function interrupted in its prologue or
/// epilogue): then the frame pointer still names its caller's frame, so the walk went
/// from the leaf straight to the caller's caller. The return address is then at the
/// interrupted sp (or one word above it, between `push rbp` and `mov rbp, rsp`) on
/// x86-64, in the link register on aarch64; the handler recorded those as candidates.
/// A candidate is taken only if it is provably a return address from a direct call of
/// the leaf function (the instruction before it is a `call`/`bl` whose target is the
/// function's entry), and only if the walk's own next frame is not one already: so a
/// framed function never gets a made-up caller. Functions reached through pointers are
/// not fixed up. Runs in the drainer (it symbolizes, which is too slow for the handler).
fn fix_leaf(pcs: &[usize], cand: [usize; 2], sym: &mut Symbol) -> Option<usize> {
    let pc = *pcs.first()?;
    // The words at sp may be stack the program never wrote (memcheck would report each
    // comparison); any value is fine here, it is checked before use. Marked defined in
    // memory, then read back from there (a copy in a register keeps its shadow state).
    let mut cand = cand;
    crate::mem::valgrind::make_mem_defined(cand.as_mut_ptr() as usize, std::mem::size_of_val(&cand));
    // SAFETY: reads our own local array.
    let cand: [usize; 2] = unsafe { std::ptr::read_volatile(&cand) };
    if !symbolize(pc, false, sym) || sym.fn_offset > pc {
        return None;
    }
    let entry = pc - sym.fn_offset;
    if pcs.get(1).is_some_and(|&r| direct_call_to(r, entry, sym)) {
        return None; // the walk found the caller
    }
    cand.into_iter().find(|&c| c != 0 && direct_call_to(c, entry, sym))
}

/// True if `ret` is the return address of a direct call to `entry`. The call
/// instruction is read only once the symbolizer has placed `ret` at least an instruction
/// past the start of a function of a mapped object: the bytes before it are that
/// function's code, mapped and readable (an arbitrary word from the stack may point
/// anywhere; `process_vm_readv` would do too, but qemu-user does not implement it).
fn direct_call_to(ret: usize, entry: usize, sym: &mut Symbol) -> bool {
    #[cfg(target_arch = "x86_64")]
    const CALL_LEN: usize = 5; // call rel32: E8 and a displacement from the return address
    #[cfg(target_arch = "aarch64")]
    const CALL_LEN: usize = 4; // bl imm26: 100101 and a word offset from the call itself
    if !symbolize(ret, true, sym) || sym.fn_offset < CALL_LEN {
        return false;
    }
    let at = ret - CALL_LEN;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `[at, ret)` lies inside a function of a mapped object (checked above).
        let b: [u8; 5] = unsafe { std::ptr::read_unaligned(at as *const [u8; 5]) };
        let rel = i32::from_le_bytes([b[1], b[2], b[3], b[4]]);
        b[0] == 0xe8 && ret.wrapping_add_signed(rel as isize) == entry
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above; instructions are 4-byte aligned.
        let insn = unsafe { std::ptr::read_unaligned(at as *const u32) };
        let imm = ((insn & 0x03ff_ffff) << 6) as i32 >> 6;
        insn & 0xfc00_0000 == 0x9400_0000 && at.wrapping_add_signed((imm as isize) * 4) == entry
    }
}

// ---------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------

/// The CPU-time clock of thread `tid` (Linux's `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`,
/// what `pthread_getcpuclockid` computes).
fn thread_cpu_clock(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 4 | 2
}

/// Arms a SIGPROF timer on `tid`'s CPU clock at `hz`: its kernel id, or the errno.
fn arm(tid: i32, hz: i32) -> Result<i32, i32> {
    // SAFETY: zero is a valid sigevent; the fields we need are set below.
    let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
    sev.sigev_notify = libc::SIGEV_THREAD_ID;
    sev.sigev_signo = libc::SIGPROF;
    sev.sigev_notify_thread_id = tid;
    sev.sigev_value = libc::sigval { sival_ptr: TAG as *mut libc::c_void };
    let mut id: libc::c_int = 0;
    // SAFETY: the raw system call with a valid sigevent and out pointer (raw, so the
    // timer id is the kernel's int, not a libc handle).
    let r = unsafe { libc::syscall(libc::SYS_timer_create, thread_cpu_clock(tid), &mut sev, &mut id) };
    if r != 0 {
        return Err(crate::os::errno());
    }
    let period = 1_000_000_000 / i64::from(hz.max(1));
    let first = 1 + (crate::sched::proc::fastrand() as i64) % period;
    let ts = |ns: i64| libc::timespec { tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000 };
    let spec = libc::itimerspec { it_interval: ts(period), it_value: ts(first) };
    // SAFETY: our timer id and a valid itimerspec.
    let r = unsafe { libc::syscall(libc::SYS_timer_settime, id, 0, &spec, std::ptr::null_mut::<libc::itimerspec>()) };
    if r != 0 {
        let e = crate::os::errno();
        disarm(id);
        return Err(e);
    }
    Ok(id)
}

fn disarm(id: i32) {
    // SAFETY: deletes our own timer (valid even if its thread has exited).
    unsafe { libc::syscall(libc::SYS_timer_delete, id) };
}

/// Called by every thread right after it registers: while a profile runs, it gets a
/// timer too. One relaxed load otherwise.
pub(crate) fn thread_registered(tid: i32) {
    if HZ.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut t = TIMERS.lock();
    let hz = HZ.load(Ordering::Relaxed);
    if hz == 0 || t.iter().any(|&(x, _)| x == tid) {
        return;
    }
    if let Ok(id) = arm(tid, hz) {
        t.push((tid, id));
    }
}

/// Called when a thread unregisters (or exits): its timer goes.
pub(crate) fn thread_unregistered(tid: i32) {
    // With no profile running the table is empty (stop empties it under the lock, after
    // clearing HZ). A start racing this may arm the leaving thread anyway: that timer
    // never fires again and goes at stop.
    if HZ.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut t = TIMERS.lock();
    if let Some(i) = t.iter().position(|&(x, _)| x == tid) {
        let (_, id) = t.swap_remove(i);
        disarm(id);
    }
}

// ---------------------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------------------

/// The SIGPROF action before our first install (chained for signals not ours).
struct OldAction(UnsafeCell<Option<libc::sigaction>>);
// SAFETY: written once inside `INSTALL` before our handler is installed, read-only after.
unsafe impl Sync for OldAction {}
static OLD: OldAction = OldAction(UnsafeCell::new(None));
static INSTALL: Once = Once::new();

fn install_handler() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with valid pointers; OLD is written (by the kernel, through
        // `old`) before our handler can run.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigprof as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigfillset(&mut sa.sa_mask);
            for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP] {
                libc::sigdelset(&mut sa.sa_mask, s);
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPROF, std::ptr::null(), &mut old);
            *OLD.0.get() = Some(old);
            libc::sigaction(libc::SIGPROF, &sa, std::ptr::null_mut());
        }
    });
}

/// The head of a kernel `siginfo_t` for a POSIX timer's signal (`_timer`: timer id,
/// overrun, value), padded to its full size; the same layout on x86-64 and aarch64.
#[repr(C)]
struct TimerSigInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    timer_id: i32,
    overrun: i32,
    value: usize,
    _rest: [u64; 12],
}
const _: () = assert!(std::mem::size_of::<TimerSigInfo>() == std::mem::size_of::<libc::siginfo_t>());

/// The overrun count if this is one of our timers' signals.
fn ours(info: *mut libc::siginfo_t) -> Option<u32> {
    if info.is_null() {
        return None;
    }
    // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers, laid out as
    // TimerSigInfo for a timer's signal (checked by its code first).
    let t = unsafe { &*(info as *const TimerSigInfo) };
    (t.code == libc::SI_TIMER && t.value == TAG).then_some(t.overrun.max(0) as u32)
}

extern "C" fn on_sigprof(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: this thread's errno, restored before returning.
    let saved_errno = unsafe { *libc::__errno_location() };
    match ours(info) {
        Some(overrun) => {
            INFLIGHT.fetch_add(1, Ordering::SeqCst);
            if ACTIVE.load(Ordering::SeqCst) {
                sample(ctx, overrun.saturating_add(1));
            }
            INFLIGHT.fetch_sub(1, Ordering::SeqCst);
        }
        None => chain(sig, info, ctx),
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// Passes a SIGPROF that is not ours to the program's previous handler, if it had one.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: OLD was written before our handler was installed and never changes.
    let Some(old) = (unsafe { &*OLD.0.get() }) else { return };
    if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN {
        return;
    }
    // SAFETY: the previous owner installed this handler with these flags.
    unsafe { crate::sched::signals::call_handler(old, sig, info, ctx) };
}

/// Records the interrupted stack (handler steps 2 to 5 of the module comment).
fn sample(ctx: *mut libc::c_void, weight: u32) {
    let (pc, fp) = crate::sched::signals::frame_of(ctx);
    let sp = crate::sched::world::interrupted_sp(ctx).unwrap_or(0);
    let g = crate::sched::current_g();
    // SAFETY: Gs are never freed.
    let gid = if g.is_null() { 0 } else { unsafe { &*g }.id() };
    let top = stack_top_of(sp, g);
    let pcs = match top {
        // SAFETY: `[sp, top)` is the in-use part of a mapped stack (stack_top_of), and the
        // frames in it wait for this handler to return.
        Some(top) => unsafe { unwind::walk(pc, fp, sp, top, Reader::Direct) },
        None => {
            // SAFETY: no frame is read: the bounds are empty.
            unsafe { unwind::walk(pc, 0, 0, 0, Reader::Direct) }
        }
    };
    let cand = return_candidates(ctx, sp, top);
    if pcs.as_slice().is_empty() || !ring_push(gid, weight, pcs.as_slice(), cand) {
        LOST.fetch_add(u64::from(weight), Ordering::Relaxed);
    }
}

/// Where a frameless function's return address may be (see [`fix_leaf`]). Signal-safe:
/// stack words are read only inside `[sp, top)`.
fn return_candidates(ctx: *mut libc::c_void, sp: usize, top: Option<usize>) -> [usize; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        let _ = ctx;
        match top {
            // SAFETY: both words lie in `[sp, top)`, mapped (stack_top_of).
            Some(top) if sp.is_multiple_of(8) && sp + 16 <= top => unsafe {
                [(sp as *const usize).read_volatile(), ((sp + 8) as *const usize).read_volatile()]
            },
            _ => [0; 2],
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let _ = (sp, top);
        if ctx.is_null() {
            return [0; 2];
        }
        // SAFETY: for an SA_SIGINFO handler the kernel passes its ucontext_t as `ctx`.
        let lr = unsafe { (*(ctx as *const libc::ucontext_t)).uc_mcontext.regs[30] } as usize;
        [lr, 0]
    }
}

/// The top of the stack `sp` lies in, if it is one whose `[sp, top)` is surely mapped: the
/// thread's own stack or its running goroutine's. Signal-safe.
fn stack_top_of(sp: usize, g: *mut crate::sched::g::G) -> Option<usize> {
    if sp == 0 {
        return None;
    }
    if let Some((lo, hi)) = crate::sched::world::current_thread_stack()
        && sp >= lo
        && sp < hi
    {
        return Some(hi);
    }
    if g.is_null() {
        return None;
    }
    // SAFETY: the G runs on this thread (interrupted by us), so its stack slot is not
    // being written; if the thread is not on that stack after all, the range check fails.
    let s = unsafe { (*g).stack() }?;
    let (lo, top) = (s.lo() as usize, s.top() as usize);
    (sp >= lo && sp < top).then_some(top)
}

// ---------------------------------------------------------------------------------------
// Start and stop
// ---------------------------------------------------------------------------------------

/// Why start failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartError {
    /// A profile is already running.
    Busy,
    /// No thread could be given a timer (the errno of the last attempt).
    Timer(i32),
}

/// Why stop failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StopError {
    /// No profile runs.
    NotRunning,
    /// Writing the profile failed (errno); profiling stopped anyway.
    Io(i32),
}

/// `gort_cpu_profile_start`: samples every registered thread at `hz` (clamped to
/// `1..=MAX_HZ`; the caller maps `<= 0` to the default) until [`stop`], which writes the
/// profile to `fd`.
pub(crate) fn start(fd: i32, hz: i32) -> Result<(), StartError> {
    let hz = hz.clamp(1, MAX_HZ);
    let mut session = SESSION.lock();
    if session.is_some() {
        return Err(StartError::Busy);
    }
    install_handler();
    DRAINER.call_once(|| {
        extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
            drainer_loop()
        }
        // Without it the ring is drained only at stop: a long profile loses samples.
        let _ = crate::sched::proc::spawn_thread("gort-cpuprof", 256 << 10, body, std::ptr::null_mut());
    });
    // Leftovers of a previous profile (signals that raced its stop) are discarded.
    {
        let mut agg = AGG.lock();
        ring_drain(|_, _, _, _| {});
        *agg = Some(HashMap::new());
    }
    LOST.store(0, Ordering::Relaxed);
    ACTIVE.store(true, Ordering::SeqCst);
    let mut armed = 0;
    let mut last_err = 0;
    {
        let mut t = TIMERS.lock();
        HZ.store(hz, Ordering::Relaxed);
        for tid in crate::sched::world::registered_tids() {
            if t.iter().any(|&(x, _)| x == tid) {
                continue;
            }
            match arm(tid, hz) {
                Ok(id) => {
                    t.push((tid, id));
                    armed += 1;
                }
                Err(e) => last_err = e,
            }
        }
        if armed == 0 && last_err != 0 {
            HZ.store(0, Ordering::Relaxed);
            ACTIVE.store(false, Ordering::SeqCst);
            return Err(StartError::Timer(last_err));
        }
    }
    *session =
        Some(Session { fd, hz, start_unix_ns: super::profile::now_unix_ns(), start_mono_ns: crate::time::nanotime() });
    drop(session);
    let _l = DRAINER_LOCK.lock();
    DRAINER_WAKE.notify_all();
    Ok(())
}

/// `gort_cpu_profile_stop`: stops sampling and writes the profile.
pub(crate) fn stop() -> Result<(), StopError> {
    let mut session = SESSION.lock();
    let Some(s) = session.take() else { return Err(StopError::NotRunning) };
    {
        let mut t = TIMERS.lock();
        HZ.store(0, Ordering::Relaxed);
        for (_, id) in t.drain(..) {
            disarm(id);
        }
    }
    ACTIVE.store(false, Ordering::SeqCst);
    // Every handler that saw ACTIVE has pushed its sample once INFLIGHT reads 0.
    while INFLIGHT.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    drain();
    let table = AGG.lock().take().unwrap_or_default();
    let lost = LOST.swap(0, Ordering::Relaxed);
    let duration = crate::time::nanotime() - s.start_mono_ns;
    drop(session);
    let bytes = encode(&s, duration, table, lost);
    // In a blocking region: the fd may be a pipe that another goroutine of this program
    // drains, which needs this P if it is the only one.
    let entered = crate::sched::proc::blocking_enter_if_outside();
    let r = super::write_all(s.fd, &bytes).map_err(StopError::Io);
    if entered {
        crate::sched::proc::blocking_exit();
    }
    r
}

fn drainer_loop() -> ! {
    let mut l = DRAINER_LOCK.lock();
    loop {
        if ACTIVE.load(Ordering::SeqCst) {
            DRAINER_WAKE.wait_for(&mut l, DRAIN_EVERY);
        } else {
            DRAINER_WAKE.wait(&mut l);
        }
        if ACTIVE.load(Ordering::SeqCst) {
            drain();
        }
    }
}

/// The pprof bytes of a finished profile.
fn encode(s: &Session, duration: i64, table: Table, lost: u64) -> Vec<u8> {
    let period = 1_000_000_000 / i64::from(s.hz);
    let mut samples: Vec<pprof::Sample> = table
        .into_iter()
        .map(|((gid, pcs), n)| {
            // The leaf is the interrupted instruction: plus one, so it is named as the
            // return addresses above it are (looked up at pc - 1).
            let pcs = pcs.iter().enumerate().map(|(i, &pc)| if i == 0 { pc as u64 + 1 } else { pc as u64 }).collect();
            let n = n as i64;
            pprof::Sample {
                pcs,
                values: vec![n, n.saturating_mul(period)],
                str_labels: Vec::new(),
                num_labels: if gid > 0 { vec![("goroutine".into(), gid)] } else { Vec::new() },
            }
        })
        .collect();
    if lost > 0 {
        let n = lost as i64;
        samples.push(pprof::Sample {
            pcs: vec![LOST_PC],
            values: vec![n, n.saturating_mul(period)],
            str_labels: Vec::new(),
            num_labels: Vec::new(),
        });
    }
    let p = pprof::Profile {
        sample_types: vec![("samples".into(), "count".into()), ("cpu".into(), "nanoseconds".into())],
        period_type: Some(("cpu".into(), "nanoseconds".into())),
        period,
        time_nanos: s.start_unix_ns,
        duration_nanos: duration,
        default_sample_type: None,
        comments: Vec::new(),
        samples,
    };
    let mut namer = Namer::new();
    pprof::encode(&p, &mut |pc| {
        if pc == LOST_PC {
            Some(pprof::Frame { function: "gort.lostProfileEvent".into(), file: String::new(), line: 0 })
        } else {
            namer.frame(pc)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_order_and_reports_full() {
        // The ring is global: this test is its only user in the unit tests.
        let _agg = AGG.lock();
        ring_drain(|_, _, _, _| {});
        for i in 0..RING {
            assert!(ring_push(i as i64, 1, &[i, i + 1], [i, 0]), "slot {i}");
        }
        assert!(!ring_push(-1, 1, &[1], [0; 2]), "full");
        let mut next = 0i64;
        ring_drain(|gid, w, pcs, cand| {
            assert_eq!(cand, [gid as usize, 0]);
            assert_eq!(gid, next);
            assert_eq!(w, 1);
            assert_eq!(pcs, &[gid as usize, gid as usize + 1]);
            next += 1;
        });
        assert_eq!(next, RING as i64);
        // Wraps around.
        assert!(ring_push(7, 3, &[9; MAX_FRAMES + 5], [0; 2]));
        let mut seen = 0;
        ring_drain(|gid, w, pcs, _| {
            assert_eq!((gid, w, pcs.len()), (7, 3, MAX_FRAMES));
            seen += 1;
        });
        assert_eq!(seen, 1);
    }

    #[test]
    fn ring_under_concurrent_producers_loses_nothing_silently() {
        // Four producers against one consumer: every push that reported success is
        // drained exactly once, with its own contents (no torn slots).
        let agg = AGG.lock();
        ring_drain(|_, _, _, _| {});
        const PER: usize = 50_000;
        let producers: Vec<_> = (0..4usize)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut ok = 0u64;
                    for i in 0..PER {
                        let v = (t << 32) | i;
                        if ring_push(t as i64, 1, &[v, v ^ 0xabcd, v], [v, 0]) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut seen = [0u64; 4];
        let mut check = |gid: i64, _: u32, pcs: &[usize], cand: [usize; 2]| {
            assert_eq!(cand[0], pcs[0]);
            assert_eq!(pcs.len(), 3);
            assert_eq!(pcs[0], pcs[2]);
            assert_eq!(pcs[1], pcs[0] ^ 0xabcd);
            assert_eq!(pcs[0] >> 32, gid as usize);
            seen[gid as usize] += 1;
        };
        let mut pushed = 0;
        let mut producers = producers.into_iter().peekable();
        while producers.peek().is_some() {
            ring_drain(&mut check);
            if producers.peek().is_some_and(|p| p.is_finished()) {
                pushed += producers.next().unwrap().join().unwrap();
            }
        }
        ring_drain(&mut check);
        assert_eq!(seen.iter().sum::<u64>(), pushed);
        drop(agg);
    }

    #[test]
    fn clock_ids_are_linuxs() {
        // pthread_getcpuclockid on the calling thread gives the same id.
        let mut c: libc::clockid_t = 0;
        // SAFETY: valid out pointer for our own thread.
        assert_eq!(unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut c) }, 0);
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        assert_eq!(thread_cpu_clock(tid), c);
    }
}
