//! "Runtime and goroutines".

use super::error::{GORT_EBUSY, GORT_EINVAL, GORT_ENOMEM};
use crate::runtime::{self, InitError, MainError, Request};
use crate::sched::{self, Entry};
use std::ffi::{CStr, c_char, c_int, c_void};

/// Runtime settings for `gort_init`. Zero fields mean "default": the environment variable
/// named, else the built-in default.
#[repr(C)]
pub struct gort_config {
    /// Number of processors (Ps) running goroutines in parallel. 0: `GORT_MAXPROCS`, else
    /// the number of CPUs this process may use.
    pub maxprocs: c_int,
    /// Usable stack bytes per goroutine (16 KiB .. 1 GiB; only touched pages cost memory).
    /// 0: `GORT_STACK_SIZE` (bytes, or with a k/m/g suffix), else 256 KiB.
    pub stack_size: usize,
    /// GC target percentage, like GOGC: the heap may grow by this percentage of what the
    /// last collection found live (plus stacks and roots) before the next one starts.
    /// 0: `GORT_GC` ("off" or a number), else 100; negative: GC off (nothing is collected
    /// until the memory limit, `GORT_MEMLIMIT`, is reached).
    pub gc_percent: c_int,
    /// How the collector marks: `GORT_GCMODE_STW` (1: the world stops while it marks; plain
    /// C stores into heap objects are fine) or `GORT_GCMODE_CONCURRENT` (2: marking runs
    /// beside the program, with two short pauses per cycle; every store that overwrites a
    /// pointer field of a heap object must go through `gort_store`, `gort_store_range` or
    /// `gort_cas_ptr`). 0: `GORT_GCMODE` (`stw` or `concurrent`), else stop-the-world.
    /// Fixed when the runtime starts: a later `gort_init` returns `GORT_EBUSY`.
    pub gc_mode: c_int,
}

/// `gort_config.gc_mode`: the world stops while the collector marks (the default).
#[allow(dead_code, reason = "for C, through gort.h")]
pub const GORT_GCMODE_STW: c_int = 1;
/// `gort_config.gc_mode`: marking runs beside the program (pointer stores through
/// `gort_store`).
#[allow(dead_code, reason = "for C, through gort.h")]
pub const GORT_GCMODE_CONCURRENT: c_int = 2;

/// Starts the runtime with `cfg` (NULL: defaults). Optional: every other function starts
/// the runtime with defaults on first use. Returns 0, `GORT_EBUSY` if the runtime has
/// already started, or `GORT_EINVAL` for a negative `maxprocs`, an out-of-range
/// `stack_size` or an unknown `gc_mode`.
///
/// Environment: `GORT_MAXPROCS`, `GORT_STACK_SIZE`, `GORT_GC`, `GORT_MEMLIMIT` (the soft
/// memory limit, like GOMEMLIMIT: bytes, or with a KiB/MiB/GiB/TiB suffix), `GORT_GCMODE`,
/// and `GORT_DEBUG=key=value,...` with `schedtrace=MS` (a scheduler summary line on
/// stderr every MS ms), `gctrace=1` (a line per collection), `gcpoison=1` and
/// `gcstress=N` (debug aids for a forgotten root; see `gort_new`), `gccheckmark=1`,
/// `hangwarn=SECONDS` (print every goroutine once when one has been blocked that long)
/// and `sigquitcontinue=1` (SIGQUIT dumps the goroutines and the program goes on). An
/// unknown key prints a warning naming the known ones. Read when needed rather than at
/// start-up: `GORT_TRACEBACK` (`none`, `single`, `all`, `system`, `crash`: how much a
/// crash dump shows, Go's GOTRACEBACK; see `gort_dump_goroutines`) and `GORT_TRACE=FILE`
/// (an execution trace of the whole run; see `gort_trace_start`). SIGQUIT (Ctrl-\)
/// prints every goroutine and exits with status 2, as in Go, unless the program handles
/// or ignores SIGQUIT itself.
///
/// fork: as in Go, once the runtime has started only fork-then-exec is supported. The
/// child of `fork` has only the thread that called it, so it may call only
/// async-signal-safe functions, `exec*` and `_exit` (these never hang, whatever the
/// runtime's threads were doing). Any gort function there (except `gort_now`,
/// `gort_deadline_in`, `gort_num_cpu`, `gort_version` and `gort_strerror`), or the forking
/// goroutine returning, is a fatal error: `fatal error: gort used in a forked child
/// (gort_go); after fork only exec or _exit are supported`, exit status 2. A process that
/// forks before its first gort call may use gort in the child normally. Only `fork` (which
/// runs `pthread_atfork` handlers) is detected; after `_Fork` or a raw `clone` a gort call
/// may hang instead.
#[unsafe(no_mangle)]
pub extern "C" fn gort_init(cfg: *const gort_config) -> c_int {
    guard!("gort_init", {
        // SAFETY: a non-null cfg points to a gort_config, per the contract.
        let req = unsafe { cfg.as_ref() }.map(|c| Request {
            maxprocs: c.maxprocs,
            stack_size: c.stack_size,
            gc_percent: c.gc_percent,
            gc_mode: c.gc_mode,
        });
        match runtime::init(Some(req.unwrap_or_default())) {
            Ok(()) => 0,
            Err(InitError::AlreadyStarted) => GORT_EBUSY,
            Err(InitError::Invalid(_)) => GORT_EINVAL,
        }
    })
}

struct SendPtr(*mut c_void);
// SAFETY: the pointer is the caller's opaque argument, handed to the caller's function on
// another thread exactly as gort_go documents.
unsafe impl Send for SendPtr {}

/// Runs `f(arg)` as the main goroutine and blocks the calling thread until it returns;
/// returns its value. While it runs, a program whose goroutines are all blocked for good
/// dies with `fatal error: all goroutines are asleep - deadlock!` and a goroutine dump
/// (exit status 2). "For good" means: no timer pending, no blocking call in progress, and
/// no thread in the process besides gort's own and the caller of gort_main (any other
/// thread might still send on a channel, so then gort stays silent, as Go does inside a
/// host program).
/// Goroutines still running when it returns keep running.
/// `GORT_EINVAL`: `f` is NULL, or the caller is itself a goroutine. `GORT_EBUSY`: another
/// `gort_main` is running. `GORT_ENOMEM`: no stack could be had, as for `gort_go`.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
///
/// static void hello(void *arg) {
///     printf("hello from goroutine %lld\n", (long long)gort_goid());
///     gort_waitgroup_done(arg);
/// }
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     gort_waitgroup wg = GORT_WAITGROUP_INIT;
///     gort_waitgroup_add(&wg, 3);
///     for (int i = 0; i < 3; i++) gort_go(hello, &wg);
///     gort_waitgroup_wait(&wg);   // wg is on this stack: wait before returning
///     return 0;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_main(f: Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>, arg: *mut c_void) -> c_int {
    guard!("gort_main", {
        let Some(f) = f else { return GORT_EINVAL };
        let a = SendPtr(arg);
        // SAFETY: the caller promised f is callable with arg.
        let r = runtime::run_main(Box::new(move || unsafe {
            let a = a;
            f(a.0)
        }));
        // Until the main goroutine has started, `arg` is otherwise only inside a boxed
        // closure the collector does not look into: this frame (a scanned stack) keeps it.
        std::hint::black_box(&arg);
        match r {
            Ok(v) => v,
            Err(MainError::InGoroutine) => GORT_EINVAL,
            Err(MainError::Busy) => GORT_EBUSY,
            Err(MainError::NoMemory) => GORT_ENOMEM,
        }
    })
}

/// Starts a goroutine running `f(arg)`. Callable from goroutines and from any thread.
/// Returns 0, `GORT_EINVAL` if `f` is NULL, or `GORT_ENOMEM` if no stack or goroutine
/// descriptor could be had (the address space is exhausted, e.g. under `ulimit -v`). The
/// stack's address space is reserved here, not when the goroutine first runs, so the
/// failure is reported now: then nothing was started or kept, the goroutines already
/// running are unaffected, and a later call succeeds once memory is available again
/// (stacks of goroutines that ended are reused first).
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub extern "C" fn gort_go(f: Option<unsafe extern "C" fn(arg: *mut c_void)>, arg: *mut c_void) -> c_int {
    // The return address into the caller, for the "created by" line of goroutine dumps:
    // on entry it is at [rsp] (x30 on aarch64) whatever the frame-pointer settings; it
    // goes to `go_from` as a third argument, by a tail jump (no frame of our own).
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("mov rdx, [rsp]", "jmp {0}", sym go_from);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("mov x2, x30", "b {0}", sym go_from);
}

/// `gort_go`, with the return address into its caller.
extern "C" fn go_from(f: Option<unsafe extern "C" fn(arg: *mut c_void)>, arg: *mut c_void, created_pc: usize) -> c_int {
    guard!("gort_go", {
        let Some(f) = f else { return GORT_EINVAL };
        match sched::spawn_from(Entry::C(f, arg), created_pc) {
            Some(_) => 0,
            None => GORT_ENOMEM,
        }
    })
}

/// Yields the processor: the P runs the goroutine the caller just readied or started, if
/// any, else the one that has waited longest in its run queue, and the caller queues
/// behind it; goroutines that yield to each other take turns in order. On a thread the
/// runtime does not own, yields the thread (sched_yield).
#[unsafe(no_mangle)]
pub extern "C" fn gort_gosched() {
    guard!("gort_gosched", { sched::gosched() })
}

/// Ends the calling goroutine after running all its deferred calls (`gort_defer`),
/// innermost first; a `gort_protect` does not stop it. Called outside a goroutine it is
/// a fatal error.
#[unsafe(no_mangle)]
pub extern "C" fn gort_goexit() -> ! {
    guard!("gort_goexit", { sched::goexit() })
}

/// The calling goroutine's id (> 0); 0 on a thread that is not running a goroutine.
#[unsafe(no_mangle)]
pub extern "C" fn gort_goid() -> i64 {
    guard!("gort_goid", { sched::goid() })
}

/// The number of goroutines that exist (running, runnable or blocked).
#[unsafe(no_mangle)]
pub extern "C" fn gort_num_goroutine() -> c_int {
    guard!("gort_num_goroutine", { sched::num_goroutine().clamp(0, c_int::MAX as i64) as c_int })
}

/// Sets the number of processors to `n` and returns the previous setting; `n <= 0` only
/// queries, and an `n` above 1024 means 1024. Takes effect immediately (the world is stopped briefly to resize).
#[unsafe(no_mangle)]
pub extern "C" fn gort_gomaxprocs(n: c_int) -> c_int {
    guard!("gort_gomaxprocs", {
        runtime::ensure_init();
        if n <= 0 {
            return sched::gomaxprocs() as c_int;
        }
        sched::proc::set_gomaxprocs(n as usize) as c_int
    })
}

/// The number of CPUs the process may run on (its affinity mask).
#[unsafe(no_mangle)]
pub extern "C" fn gort_num_cpu() -> c_int {
    guard!("gort_num_cpu", { runtime::num_cpu() as c_int })
}

/// The version of the gort library this program runs with, "MAJOR.MINOR.PATCH" (e.g.
/// "0.1.0"), in static storage; never NULL. The header's `GORT_VERSION_MAJOR`,
/// `GORT_VERSION_MINOR` and `GORT_VERSION_PATCH` are the version the program was compiled
/// against: with `libgort.so` the two can differ (the library installed now need not be
/// the one the program was built with). Touches no runtime state: it does not start the
/// runtime, and works on any thread and in a forked child.
#[unsafe(no_mangle)]
pub extern "C" fn gort_version() -> *const c_char {
    guard!(no_register "gort_version", { LIBRARY_VERSION.as_ptr() })
}

/// Built from the parts, not `CARGO_PKG_VERSION`, so that a pre-release or build suffix in
/// Cargo.toml cannot break the "MAJOR.MINOR.PATCH" form the C API promises.
const LIBRARY_VERSION: &CStr = {
    let text = concat!(
        env!("CARGO_PKG_VERSION_MAJOR"),
        ".",
        env!("CARGO_PKG_VERSION_MINOR"),
        ".",
        env!("CARGO_PKG_VERSION_PATCH"),
        "\0"
    );
    match CStr::from_bytes_with_nul(text.as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the version string has a NUL inside"),
    }
};

/// Wires the calling goroutine to its current OS thread: until a matching number of
/// `gort_unlock_os_thread` calls, it always runs on this thread and no other goroutine
/// runs there. Calls nest.
///
/// Why it matters: any gort call that can block or yield may resume the goroutine on a
/// different OS thread. Thread-local variables, and `errno` in particular, then belong to
/// another thread: glibc declares `__errno_location()` const, so a compiler may keep
/// errno's address from before such a call and read another thread's errno after it.
/// Read errno right after the call that set it, before any gort call, or lock the thread.
/// Thread-local storage, thread ids, and APIs with thread affinity (OpenGL contexts,
/// some GUI toolkits, per-thread signal masks) need `gort_lock_os_thread`.
/// A goroutine that ends while locked is simply unlocked. No-op outside goroutines.
#[unsafe(no_mangle)]
pub extern "C" fn gort_lock_os_thread() {
    guard!("gort_lock_os_thread", { sched::proc::lock_os_thread() })
}

/// Undoes one `gort_lock_os_thread`; extra calls are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_unlock_os_thread() {
    guard!("gort_unlock_os_thread", { sched::proc::unlock_os_thread() })
}

/// Call before a foreign call that may block the thread (a blocking read, a database
/// client, sleep): if it blocks for long while other goroutines wait, the processor is
/// handed to another thread. Pair with `gort_blocking_exit`; make no other gort calls in
/// between. Like cgo's entersyscall. No-op outside goroutines. Regions do not nest: a
/// `gort_blocking_enter` inside one is a fatal error (as a bad call is a `throw` in Go's
/// entersyscall: the scheduler's accounting would be wrong from then on), and so is a
/// gort call that would block or yield inside one (a channel operation that waits,
/// `gort_sleep`, `gort_gosched`, a lock that is taken): `fatal error: goroutine blocked in
/// gort (chan receive) inside a blocking region`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_blocking_enter() {
    guard!("gort_blocking_enter", { sched::proc::blocking_enter() })
}

/// Ends a `gort_blocking_enter` region; may wait for a free processor. In a goroutine that
/// is not in a region it is a fatal error.
#[unsafe(no_mangle)]
pub extern "C" fn gort_blocking_exit() {
    guard!("gort_blocking_exit", { sched::proc::blocking_exit() })
}
