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
//! - [`trace`]: the execution trace, as Chrome Trace Event JSON.
//! - [`gdb`]: what gdb needs to list goroutines and switch to one (an exported table of
//!   offsets and the auto-loaded Python extension).
//!
//! Two rules hold everywhere here. What can run in a dying process (tracebacks, the
//! symbolizer, the walks) allocates nothing and takes no lock. And what sits on a hot
//! path (the profile and trace hooks in park, ready and spawn) costs one relaxed load
//! while it is off.

pub(crate) mod gdb;
pub(crate) mod pprof;
pub(crate) mod profile;
pub(crate) mod signal;
pub(crate) mod symbolize;
pub(crate) mod trace;
pub(crate) mod traceback;
pub(crate) mod unwind;
