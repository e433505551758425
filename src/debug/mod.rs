//! Debugging and observability: what a program can ask of the runtime when something
//! goes wrong, and what the runtime says on its own when it dies.
//!
//! - [`unwind`]: frame-pointer walks of a goroutine's stack, from its saved context, from
//!   a stopped thread's registers or from here.
//! - [`symbolize`]: code addresses to function, file and line, from the ELF symbol tables
//!   and DWARF line tables of the mapped objects, without allocating or locking.
//! - [`traceback`]: Go's goroutine dump (`goroutine N [chan receive, 3 minutes]:`, frames,
//!   "created by"), `GORT_TRACEBACK`, the crash dumps and `gort_dump_goroutines`.
//! - [`signal`]: SIGQUIT's dump, `gort_signal_notify`/`gort_signal_stop` (Go's
//!   `os/signal`), and the `hangwarn` watchdog.
//! - [`profile`]: the goroutine, block and mutex profiles; [`pprof`] encodes them in the
//!   format `go tool pprof` reads.
//! - [`cpuprof`]: the CPU profiler (per-thread CPU timers, SIGPROF, a lock-free sample
//!   ring, a pprof `cpu` profile); [`caller`]: `gort_caller` (Go's `runtime.Caller`).
//!   `gort_stack` (Go's `runtime.Stack`) is [`traceback::stack_into`].
//! - [`trace`]: the execution trace, as Chrome Trace Event JSON.
//! - [`gdb`]: what gdb needs to list goroutines and switch to one (an exported table of
//!   offsets and the auto-loaded Python extension).
//!
//! Two rules hold everywhere here. What can run in a dying process (tracebacks, the
//! symbolizer, the walks) allocates nothing and takes no lock. And what sits on a hot
//! path (the profile and trace hooks in park, ready and spawn) costs one relaxed load
//! while it is off.

use std::sync::atomic::{AtomicBool, Ordering};

/// True while the block profile or the execution trace is on: the scheduler's park takes
/// its observed path only then (one load when both are off). Recomputed by whoever turns
/// either on or off ([`update_observed`]).
static OBSERVED: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn observed() -> bool {
    OBSERVED.load(Ordering::Relaxed)
}

/// Recomputes [`OBSERVED`] after a change of the block profile rate or the trace state.
/// Under a lock: of two concurrent changes, the second to recompute sees both.
pub(crate) fn update_observed() {
    static RECOMPUTE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _l = RECOMPUTE.lock();
    OBSERVED.store(profile::block_rate() > 0 || trace::tracing(), Ordering::SeqCst);
}

/// Writes all of `b` to `fd`, retrying on EINTR and short writes; the errno of a failure.
/// Allocates nothing and takes no lock (crash dumps use it too).
pub(crate) fn write_all(fd: i32, mut b: &[u8]) -> Result<(), i32> {
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

pub(crate) mod caller;
pub(crate) mod cpuprof;
pub(crate) mod gdb;
pub(crate) mod pprof;
pub(crate) mod profile;
pub(crate) mod signal;
pub(crate) mod symbolize;
pub(crate) mod trace;
pub(crate) mod traceback;
pub(crate) mod unwind;
