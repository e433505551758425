//! "Garbage-collected heap": threads and the collector.

use super::error::{GORT_EINVAL, GORT_ENOMEM};
use crate::sched::world::{self, Error};
use std::ffi::c_int;

/// Registers the calling thread with the garbage collector: while the heap is collected,
/// the thread is stopped and its stack and registers are scanned for pointers to heap
/// objects. Every thread gort does not own that keeps heap pointers in its stack or
/// registers must be registered; its first gort call (any but `gort_strerror`) registers it
/// automatically, and it is unregistered when it exits (a thread-exit destructor, so the
/// thread must end through `pthread_exit` or a return from its start routine, as usual).
/// Goroutines and the runtime's own threads are always registered. Returns 0 (also when
/// the thread was registered already), `GORT_ENOMEM` if no memory was left.
///
/// A registered thread is stopped by a signal, `SIGRTMIN+7` unless the environment variable
/// `GORT_GCSIGNAL` names another (a number); the program must not install a handler for
/// it, and a registered thread must not block it (`pthread_sigmask`): registration
/// unblocks it, and the collector waits for a thread that blocks it (warning on stderr
/// every 5 s). The handler is installed with `SA_RESTART`, so most blocking calls of a
/// stopped thread resume by themselves; those that signal(7) says are never restarted
/// fail with `EINTR` (or return early) when a collection interrupts them and must be
/// retried: `epoll_wait`, `poll`, `select`, `nanosleep`, `clock_nanosleep`, `sleep`,
/// `usleep`, `sigtimedwait`, socket calls with `SO_RCVTIMEO`/`SO_SNDTIMEO`, System V
/// message and semaphore calls, `io_getevents`, inotify reads. C code in goroutines sees
/// the same (Go's own preemption signal has the same effect on cgo code).
#[unsafe(no_mangle)]
pub extern "C" fn gort_thread_register() -> c_int {
    guard!("gort_thread_register", {
        match world::register_current_thread() {
            Ok(()) => 0,
            Err(_) => GORT_ENOMEM,
        }
    })
}

/// Unregisters the calling thread, which from now on keeps no heap pointers in its stack
/// or registers: it is no longer stopped or scanned by the collector (nor interrupted by
/// its signal). Its next gort call registers it again. `GORT_EINVAL` for a thread that is
/// not registered, and inside a goroutine or on a runtime thread (they stay registered).
#[unsafe(no_mangle)]
pub extern "C" fn gort_thread_unregister() -> c_int {
    guard!(no_register "gort_thread_unregister", {
        match world::unregister_current_thread() {
            Ok(()) => 0,
            Err(Error::NotRegistered | Error::RuntimeThread) => GORT_EINVAL,
            Err(Error::NoMemory) => GORT_ENOMEM,
        }
    })
}
