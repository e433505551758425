//! "Debugging and observability".

use super::chan::{as_chan, gort_chan};
use super::error::{GORT_EBADF, GORT_EINVAL, GORT_ENOMEM};
use crate::debug::{profile, signal, trace, traceback};
use std::ffi::{CStr, c_char, c_int};

/// GORT_EBADF unless `fd` is an open file descriptor.
fn check_fd(fd: c_int) -> Result<(), c_int> {
    // SAFETY: F_GETFD only queries the descriptor table.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 { Err(GORT_EBADF) } else { Ok(()) }
}

/// Writes every goroutine to `fd`, as Go's SIGQUIT dump and `runtime.Stack(buf, true)`
/// do, and the program goes on: for each, `goroutine N [state, M minutes]:` (the wait
/// reason, and how long it has waited from one minute on), its frames innermost first
/// (`function(...)` then `file:line +0xOFFSET`, or `object+0xOFFSET` without line tables:
/// build C with `-g -fno-omit-frame-pointer` for complete, named frames), and `created by
/// FUNCTION in goroutine M` with the line of the `gort_go` call. The caller's goroutine
/// comes first; the runtime's internal frames are hidden (`GORT_TRACEBACK=system` shows
/// them; `none` writes nothing). Goroutines running on other threads are shown where
/// their threads were stopped. Returns 0, `GORT_EBADF` for an fd that is not open, or
/// another negated errno if a write failed.
///
/// The world is stopped briefly (once per 1024 goroutines) to copy the stacks, and the
/// text is written after it restarts, so `fd` may be a pipe read by a goroutine.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <unistd.h>
///
/// static void waiter(void *c) { int v; gort_chan_recv(c, &v); }
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     gort_chan *c = gort_chan_make(sizeof(int), 0);
///     gort_go(waiter, c);
///     gort_gosched();
///     gort_dump_goroutines(STDERR_FILENO); /* goroutine 2 [chan receive]: ... waiter ... */
///     int v = 1;
///     gort_chan_send(c, &v);
///     gort_chan_release(c);
///     return 0;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_dump_goroutines(fd: c_int) -> c_int {
    guard!("gort_dump_goroutines", {
        if let Err(e) = check_fd(fd) {
            return e;
        }
        if traceback::dump_to(fd) { 0 } else { -crate::os::errno().max(1) }
    })
}

/// Go's `signal.Notify`: from now on every `signo` sends its number (an `int`) on `c`
/// without blocking; if `c`'s buffer is full the signal is dropped, so give `c` a buffer
/// (1 is enough to learn that a signal came). While any channel listens for `signo`, its
/// default action (terminating, for SIGINT and SIGTERM) no longer happens; a handler the
/// program installed before still runs. `gort_signal_stop` undoes it. Registering the
/// same pair twice is harmless. Listening to SIGQUIT replaces the goroutine dump with
/// delivery. While any channel listens, deadlock detection stays silent (a signal may
/// still come). The registration holds a reference to `c`.
///
/// Returns 0, or `GORT_EINVAL` for a NULL channel, one whose elements are not
/// `sizeof(int)` bytes, or a signal that cannot be notified: SIGKILL, SIGSTOP, the fault
/// signals SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP, gort's GC signal, or a number
/// outside 1..64; `GORT_ENOMEM` if the delivery thread could not be started.
///
/// Example: shut down cleanly on SIGTERM.
///
/// ```c
/// #include <gort.h>
/// #include <signal.h>
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     gort_chan *sigs = gort_chan_make(sizeof(int), 1);
///     gort_signal_notify(sigs, SIGTERM);
///     raise(SIGTERM); /* as if `kill` had sent it */
///     int sig = 0;
///     gort_chan_recv(sigs, &sig); /* sig == SIGTERM */
///     gort_signal_stop(sigs);
///     gort_chan_release(sigs);
///     return sig == SIGTERM ? 0 : 1;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_signal_notify(c: *mut gort_chan, signo: c_int) -> c_int {
    guard!("gort_signal_notify", {
        let Some(ch) = as_chan(c) else { return GORT_EINVAL };
        match signal::notify(ch, signo) {
            Ok(()) => 0,
            Err(signal::NotifyError::Invalid) => GORT_EINVAL,
            Err(signal::NotifyError::NoResources) => GORT_ENOMEM,
        }
    })
}

/// Go's `signal.Stop`: `c` receives no more signals once this returns; a signal nobody
/// listens to any more gets back the action it had before the first `gort_signal_notify`.
/// Releases the registration's reference to `c`. Returns 0 (also when `c` listened to
/// nothing), or `GORT_EINVAL` for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_signal_stop(c: *mut gort_chan) -> c_int {
    guard!("gort_signal_stop", {
        let Some(ch) = as_chan(c) else { return GORT_EINVAL };
        signal::stop(ch);
        0
    })
}

/// Writes the profile `name` to `fd` in the protobuf format `go tool pprof` reads
/// (uncompressed): `"goroutine"` (every goroutine's stack, equal stacks counted
/// together), `"block"` (where goroutines waited on channels, select and the sync types,
/// with counts and delays; recorded after `gort_set_block_profile_rate`), `"mutex"`
/// (contention on gort mutexes, charged to the unlock that ended it; recorded after
/// `gort_set_mutex_profile_fraction`). Frames are named from the program's symbol and
/// line tables. Returns 0, `GORT_EINVAL` for NULL or an unknown name, `GORT_EBADF` for an
/// fd that is not open, or another negated errno if the write failed.
///
/// Look at it with `go tool pprof -top prog.pb` (or `-http=:8080`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_profile_write(name: *const c_char, fd: c_int) -> c_int {
    guard!("gort_profile_write", {
        if name.is_null() {
            return GORT_EINVAL;
        }
        // SAFETY: a non-null name is a NUL-terminated string per the API contract.
        let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else { return GORT_EINVAL };
        if let Err(e) = check_fd(fd) {
            return e;
        }
        match profile::write(name, fd) {
            Ok(()) => 0,
            Err(profile::WriteError::UnknownProfile) => GORT_EINVAL,
            Err(profile::WriteError::Io(e)) => -e,
        }
    })
}

/// Go's `runtime.SetBlockProfileRate`: from now on the block profile records blocking
/// events, one per `rate_ns` nanoseconds spent blocked on average (1: every event; 0 or
/// negative: none). Shorter waits are sampled and weighted so the totals stay unbiased.
/// Returns the previous rate.
#[unsafe(no_mangle)]
pub extern "C" fn gort_set_block_profile_rate(rate_ns: i64) -> i64 {
    guard!("gort_set_block_profile_rate", { profile::set_block_rate(rate_ns) })
}

/// Go's `runtime.SetMutexProfileFraction`: from now on one contended mutex wait in `rate`
/// is recorded in the mutex profile (1: all; 0: none; negative: only read the current
/// fraction). Returns the previous fraction.
#[unsafe(no_mangle)]
pub extern "C" fn gort_set_mutex_profile_fraction(rate: c_int) -> c_int {
    guard!("gort_set_mutex_profile_fraction", { profile::set_mutex_fraction(rate) })
}

/// Starts an execution trace to `fd` (which stays the caller's: gort never closes it):
/// every goroutine's creation, runs (with the P), blocks (with the reason), unblocks
/// (with the goroutine that woke it), yields, blocking regions and end, and when each P
/// starts and stops, as Chrome Trace Event JSON: open the file in <https://ui.perfetto.dev>
/// or chrome://tracing, where each goroutine and each P is a track. Events are buffered
/// per thread and written as buffers fill and at `gort_trace_stop`. `GORT_TRACE=FILE`
/// traces the whole run into FILE. Returns 0, `GORT_EBUSY` if a trace is running,
/// `GORT_EBADF` for an fd that is not open, or a negated errno if writing failed.
#[unsafe(no_mangle)]
pub extern "C" fn gort_trace_start(fd: c_int) -> c_int {
    guard!("gort_trace_start", {
        if let Err(e) = check_fd(fd) {
            return e;
        }
        match trace::start_trace(fd) {
            Ok(()) => 0,
            Err(trace::TraceError::State) => super::error::GORT_EBUSY,
            Err(trace::TraceError::Io(e)) => -e,
        }
    })
}

/// Ends the trace: writes the buffered events and closes the JSON document (the fd stays
/// open). Returns 0, `GORT_EINVAL` if no trace runs, or a negated errno if a write failed
/// (the trace is over either way).
#[unsafe(no_mangle)]
pub extern "C" fn gort_trace_stop() -> c_int {
    guard!("gort_trace_stop", {
        match trace::stop_trace() {
            Ok(()) => 0,
            Err(trace::TraceError::State) => GORT_EINVAL,
            Err(trace::TraceError::Io(e)) => -e,
        }
    })
}
