//! Runtime configuration and start-up (`gort_init`, lazy start, `gort_main`).
//!
//! The runtime starts on first use: every entry point that needs it calls
//! [`ensure_init`], which is one atomic load once started. `gort_init` may come first to
//! choose settings; afterwards it reports `GORT_EBUSY`.
//!
//! # fork
//! As in Go, only fork-then-exec is supported once the runtime runs. The child of a
//! `fork` has one thread: the runtime's other threads, and whatever locks they held at
//! that instant (scheduler, timer heaps, channels, semaphore buckets), are gone, so any
//! runtime call there could wait for ever. gort installs no `pthread_atfork` handler
//! that takes a lock; its only handler, a child handler, stores one flag
//! ([`IN_FORKED_CHILD`]) and marks the surviving thread `FORKED` in the thread-state
//! byte that every export checks first (`sched::world::check_thread`): a gort call in the child is
//! a fatal error at once instead of a hang, and a child that calls only async-signal-safe
//! functions, `exec*` or `_exit` never touches gort state at all.

use crate::mem::stack;
use crate::sched::{self, Entry};
use parking_lot::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Settings fixed at start-up.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub maxprocs: usize,
    pub stack_size: usize,
    /// GOGC-like percentage; negative disables.
    pub gc_percent: i32,
    /// GOMEMLIMIT-like soft limit in bytes (`i64::MAX`: none).
    pub mem_limit: i64,
    /// The collector's mode (`GORT_GCMODE`).
    pub gc_mode: GcMode,
    /// `GORT_DEBUG=gctrace=1`.
    pub gctrace: bool,
    /// `GORT_DEBUG=gcpoison=1`.
    pub gcpoison: bool,
    /// `GORT_DEBUG=gcstress=N` (0: off).
    pub gcstress: u64,
    /// `GORT_DEBUG=gccheckmark=1`: verify every mark with a second, stop-the-world one.
    pub gccheckmark: bool,
    /// `GORT_DEBUG=schedtrace=MS`.
    pub schedtrace_ms: i64,
    /// `GORT_DEBUG=hangwarn=SECONDS`: dump every goroutine once when one has been blocked
    /// this long (0: off).
    pub hangwarn_s: i64,
    /// `GORT_DEBUG=sigquitcontinue=1`: SIGQUIT dumps the goroutines and the program goes on.
    pub sigquitcontinue: bool,
    /// `GORT_DEBUG=nomembarrier=1`: allocation under a USER P uses the compare-and-swap
    /// scheme even where `membarrier(2)` works (to test the fallback).
    pub nomembarrier: bool,
}

/// What the caller of `gort_init` asked for (0 = default, as in `gort_config`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Request {
    pub maxprocs: i32,
    pub stack_size: usize,
    pub gc_percent: i32,
    /// 0: `GORT_GCMODE`; 1: stop-the-world; 2: concurrent.
    pub gc_mode: i32,
}

/// How the collector marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GcMode {
    /// The world is stopped while marking: plain C stores are fine.
    StopTheWorld,
    /// Marking beside the program; stores go through `gort_store`.
    Concurrent,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InitError {
    AlreadyStarted,
    Invalid(&'static str),
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static STARTED: AtomicBool = AtomicBool::new(false);
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Set only in the child of a `fork` made after the runtime began to start (by the
/// `pthread_atfork` child handler); never written in the process that started it. Its
/// own cache line: every export reads it, and nothing else should share that line.
#[repr(align(64))]
struct ForkFlag(AtomicBool);
static IN_FORKED_CHILD: ForkFlag = ForkFlag(AtomicBool::new(false));

/// The `pthread_atfork` child handler: async-signal-safe (one atomic store and one
/// thread-local store, no lock). The global flag is for threads the child creates later
/// and for paths that pass no export; the surviving thread's state byte makes its next
/// export take the cold path that refuses it.
extern "C" fn mark_forked_child() {
    IN_FORKED_CHILD.0.store(true, Ordering::Relaxed);
    sched::world::mark_forked_child_thread();
}

/// True once `gort_init` (explicit or lazy) has begun starting the runtime.
pub(crate) fn started() -> bool {
    STARTING.load(Ordering::Acquire)
}

/// Set under `INIT_LOCK` right before the atfork handler is registered.
static STARTING: AtomicBool = AtomicBool::new(false);

/// Exports that touch no runtime state (the clock, the CPU count, the version) and so stay
/// usable in a forked child.
fn works_in_forked_child(func: &str) -> bool {
    matches!(func, "gort_now" | "gort_deadline_in" | "gort_num_cpu" | "gort_version")
}

/// The forked child's side of the check every export makes first
/// (`sched::world::check_thread`), out of line: the exports stay as small as without it
/// (inlined, the name comparisons made `gort_chan_send` and the like measurably slower).
#[cold]
#[inline(never)]
pub(crate) fn refuse_unless_fork_safe(func: &'static str) {
    if !works_in_forked_child(func) {
        forked_child_fatal(func)
    }
}

/// The fatal error of a gort call in a forked child. Only `write` and `_exit`: the
/// child's malloc and stdio may be held by threads it does not have, and flushing the
/// stdio buffers it inherited would print the parent's pending output a second time.
#[cold]
#[inline(never)]
pub(crate) fn forked_child_fatal(func: &str) -> ! {
    crate::fatal::write_stderr(b"fatal error: gort used in a forked child (");
    crate::fatal::write_stderr(func.as_bytes());
    crate::fatal::write_stderr(b"); after fork only exec or _exit are supported\n");
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(2) }
}

/// True in the child of a `fork` of a running runtime (for paths that do not pass
/// through an export, such as a goroutine returning).
#[inline]
pub(crate) fn in_forked_child() -> bool {
    IN_FORKED_CHILD.0.load(Ordering::Relaxed)
}

pub(crate) fn config() -> &'static Config {
    ensure_init();
    CONFIG.get().expect("initialised")
}

#[inline]
pub(crate) fn ensure_init() {
    if !STARTED.load(Ordering::Acquire) {
        let _ = init(None);
    }
}

/// Starts the runtime with `req` (None: defaults and environment).
pub(crate) fn init(req: Option<Request>) -> Result<(), InitError> {
    let _g = INIT_LOCK.lock();
    if STARTED.load(Ordering::Acquire) {
        return Err(InitError::AlreadyStarted);
    }
    let cfg = resolve(req.unwrap_or_default(), |k| std::env::var(k).ok())?;
    // Before the first runtime thread exists: a fork from now on leaves a child without
    // them, and with INIT_LOCK held if it comes before STARTED is set.
    STARTING.store(true, Ordering::Release);
    // SAFETY: registers a handler that only stores atomics; no prepare/parent handler.
    if unsafe { libc::pthread_atfork(None, None, Some(mark_forked_child)) } != 0 {
        crate::fatal::fatal("pthread_atfork failed");
    }
    sched::membarrier::init(cfg.nomembarrier);
    sched::start(cfg.maxprocs, cfg.stack_size);
    crate::debug::signal::start(cfg.sigquitcontinue, cfg.hangwarn_s);
    crate::debug::gdb::keep();
    let _ = CONFIG.set(cfg);
    STARTED.store(true, Ordering::Release);
    crate::debug::trace::start_from_env();
    Ok(())
}

/// Combines an explicit request, the environment and defaults.
pub(crate) fn resolve(req: Request, env: impl Fn(&str) -> Option<String>) -> Result<Config, InitError> {
    if req.maxprocs < 0 {
        return Err(InitError::Invalid("maxprocs < 0"));
    }
    let maxprocs = if req.maxprocs > 0 {
        req.maxprocs as usize
    } else {
        env("GORT_MAXPROCS").and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or_else(num_cpu)
    }
    .min(sched::MAX_PROCS);
    let stack_size = if req.stack_size != 0 {
        if !(stack::MIN_STACK_SIZE..=stack::MAX_STACK_SIZE).contains(&req.stack_size) {
            return Err(InitError::Invalid("stack_size out of range"));
        }
        req.stack_size
    } else {
        env("GORT_STACK_SIZE").and_then(|v| parse_size(&v)).unwrap_or(stack::DEFAULT_STACK_SIZE)
    };
    let gc_percent = if req.gc_percent != 0 {
        req.gc_percent
    } else {
        match env("GORT_GC").as_deref().map(str::trim) {
            Some("off") => -1,
            Some(v) => v.parse::<i32>().unwrap_or(100),
            None => 100,
        }
    };
    let gc_mode = match req.gc_mode {
        0 => match env("GORT_GCMODE").as_deref().map(str::trim) {
            Some("concurrent") => GcMode::Concurrent,
            _ => GcMode::StopTheWorld,
        },
        1 => GcMode::StopTheWorld,
        2 => GcMode::Concurrent,
        _ => return Err(InitError::Invalid("gc_mode")),
    };
    let mem_limit = env("GORT_MEMLIMIT")
        .and_then(|v| parse_size(&v))
        .and_then(|b| i64::try_from(b).ok())
        .unwrap_or(crate::gc::pacer::NO_LIMIT);
    let (mut schedtrace_ms, mut gctrace, mut gcpoison, mut gcstress, mut nomembarrier) = (0, false, false, 0, false);
    let (mut gccheckmark, mut hangwarn_s, mut sigquitcontinue) = (false, 0i64, false);
    if let Some(d) = env("GORT_DEBUG") {
        for kv in d.split(',').map(str::trim).filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "1"));
            match k {
                "schedtrace" => schedtrace_ms = v.parse().unwrap_or(0),
                "gctrace" => gctrace = v.parse::<i64>().unwrap_or(0) != 0,
                "gcpoison" => gcpoison = v.parse::<i64>().unwrap_or(0) != 0,
                "gcstress" => gcstress = v.parse().unwrap_or(0),
                "gccheckmark" => gccheckmark = v.parse::<i64>().unwrap_or(0) != 0,
                "nomembarrier" => nomembarrier = v.parse::<i64>().unwrap_or(0) != 0,
                "hangwarn" => hangwarn_s = v.parse::<i64>().unwrap_or(0).max(0),
                "sigquitcontinue" => sigquitcontinue = v.parse::<i64>().unwrap_or(0) != 0,
                _ => {
                    let mut m = crate::fatal::StackMsg::new();
                    m.push(b"gort: warning: unknown GORT_DEBUG key \"")
                        .push(k.as_bytes())
                        .push(b"\" (known: schedtrace, gctrace, gcpoison, gcstress, gccheckmark, nomembarrier, hangwarn, sigquitcontinue)\n");
                    crate::fatal::write_stderr(m.as_bytes());
                }
            }
        }
    }
    Ok(Config {
        maxprocs,
        stack_size: stack::normalize_size(stack_size),
        gc_percent,
        mem_limit,
        gc_mode,
        gctrace,
        gcpoison,
        gcstress,
        gccheckmark,
        schedtrace_ms,
        nomembarrier,
        hangwarn_s,
        sigquitcontinue,
    })
}

/// "65536", "64k", "1M", "1g" (case-insensitive), and GOMEMLIMIT's "512MiB", "4GiB",
/// "1TiB", "100B".
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    for (suffix, shift) in [("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)] {
        if let Some(num) = s.strip_suffix(suffix) {
            return num.trim().parse::<usize>().ok()?.checked_mul(1 << shift);
        }
    }
    let s = s.strip_suffix('B').unwrap_or(s);
    let (num, mul) = match s.chars().last()?.to_ascii_lowercase() {
        'k' => (&s[..s.len() - 1], 1usize << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mul)
}

/// CPUs this process may run on (the affinity mask), like Go's `runtime.NumCPU`.
pub(crate) fn num_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as usize;
            }
        }
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN);
        if n > 0 { n as usize } else { 1 }
    }
}

/// Why `run_main` could not run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MainError {
    InGoroutine,
    Busy,
    NoMemory,
}

static MAIN_BUSY: AtomicBool = AtomicBool::new(false);

/// `gort_main`: runs `f` as the main goroutine and blocks the calling thread until it
/// returns. Deadlock detection is on while it runs.
pub(crate) fn run_main(f: Box<dyn FnOnce() -> i32 + Send>) -> Result<i32, MainError> {
    ensure_init();
    if sched::in_goroutine() {
        return Err(MainError::InGoroutine);
    }
    if MAIN_BUSY.swap(true, Ordering::AcqRel) {
        return Err(MainError::Busy);
    }
    struct Done {
        value: AtomicI32,
        note: sched::Note,
    }
    let done = std::sync::Arc::new(Done { value: AtomicI32::new(0), note: sched::Note::new() });
    let done2 = done.clone();
    sched::SCHED.main_active.store(true, Ordering::SeqCst);
    let entry = Entry::Rust(Box::new(move || {
        let done = done2;
        let v = sched::tsan::user_call(f);
        // The main goroutine's writes happen before `gort_main` returns.
        sched::tsan::release(&*done);
        done.value.store(v, Ordering::Release);
        sched::SCHED.main_active.store(false, Ordering::SeqCst);
        done.note.wakeup();
    }));
    if sched::spawn_main(entry).is_none() {
        sched::SCHED.main_active.store(false, Ordering::SeqCst);
        MAIN_BUSY.store(false, Ordering::Release);
        return Err(MainError::NoMemory);
    }
    done.note.sleep(None);
    sched::tsan::acquire(&*done);
    let v = done.value.load(Ordering::Acquire);
    MAIN_BUSY.store(false, Ordering::Release);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_prefers_request_then_env_then_default() {
        let env = |k: &str| match k {
            "GORT_MAXPROCS" => Some("3".to_string()),
            "GORT_STACK_SIZE" => Some("64k".to_string()),
            "GORT_DEBUG" => Some("foo=1,schedtrace=25".to_string()),
            "GORT_GC" => Some("off".to_string()),
            _ => None,
        };
        let c = resolve(Request::default(), env).unwrap();
        assert_eq!((c.maxprocs, c.stack_size, c.gc_percent, c.schedtrace_ms), (3, 65536, -1, 25));
        let c = resolve(Request { maxprocs: 5, stack_size: 1 << 20, gc_percent: 50, gc_mode: 0 }, env).unwrap();
        assert_eq!((c.maxprocs, c.stack_size, c.gc_percent), (5, 1 << 20, 50));
        assert!(resolve(Request { maxprocs: -1, ..Default::default() }, env).is_err());
        assert!(resolve(Request { stack_size: 100, ..Default::default() }, env).is_err());
        let c = resolve(Request::default(), |_| None).unwrap();
        assert_eq!(c.stack_size, stack::DEFAULT_STACK_SIZE);
        assert!(c.maxprocs >= 1);
    }

    #[test]
    fn nomembarrier_is_a_debug_key() {
        let on = resolve(Request::default(), |k| (k == "GORT_DEBUG").then(|| "gctrace=1,nomembarrier=1".to_string()));
        assert!(on.unwrap().nomembarrier);
        let off = resolve(Request::default(), |k| (k == "GORT_DEBUG").then(|| "gctrace=1".to_string()));
        assert!(!off.unwrap().nomembarrier);
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("2m"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("4GiB"), Some(4 << 30));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("100B"), Some(100));
        assert_eq!(parse_size(""), None);
    }
}
