//! "Panics": gort_panic, gort_protect, gort_defer.

use std::ffi::{c_char, c_int, c_void};

/// Panics with `msg` (copied; NULL gives Go's "panic called with nil argument"). Deferred calls of the innermost
/// `gort_protect` run, last registered first, and that `gort_protect` returns 1. With no
/// `gort_protect` active, the goroutine's deferred calls run and the process prints
/// `panic: MSG` and `goroutine N [running]:` to stderr and exits with status 2.
/// Frames between the `gort_protect` and the panic are abandoned as by `longjmp`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_panic(msg: *const c_char) -> ! {
    guard!("gort_panic", { crate::panic::panic(msg) })
}

/// Runs `f(arg)`. Returns 0 if it returned, 1 if it panicked; then, if `panic_msg` is not
/// NULL, `*panic_msg` points to the message (valid until this goroutine or thread recovers
/// another panic or ends). Deferred calls registered inside run when `f` ends, either
/// way. `GORT_EINVAL` if `f` is NULL. Works on any thread.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
///
/// static void unlock(void *m) { gort_mutex_unlock(m); }
///
/// static void risky(void *arg) {
///     gort_mutex_lock(arg);
///     gort_defer(unlock, arg);    // runs however risky ends
///     gort_panic("something broke");
/// }
///
/// int main(void) {
///     gort_mutex m = GORT_MUTEX_INIT;
///     const char *msg = NULL;
///     int panicked = gort_protect(risky, &m, &msg);      // 1
///     printf("recovered: %s\n", msg);                    // something broke
///     return panicked == 1 && gort_mutex_trylock(&m) == 1 ? 0 : 1;  // the defer unlocked m
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_protect(
    f: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    arg: *mut c_void,
    panic_msg: *mut *const c_char,
) -> c_int {
    guard!("gort_protect", {
        let Some(f) = f else { return super::error::GORT_EINVAL };
        crate::panic::protect(f, arg, panic_msg)
    })
}

/// Registers `f(arg)` to run when the innermost `gort_protect` ends (normally or by a
/// panic), or, outside any, when the goroutine ends (also by `gort_goexit` or an
/// unrecovered panic). Runs last-in, first-out. A NULL `f` is a gort panic. On a thread
/// the runtime does not own, only inside a `gort_protect` (otherwise a gort panic).
#[unsafe(no_mangle)]
pub extern "C" fn gort_defer(f: Option<unsafe extern "C" fn(arg: *mut c_void)>, arg: *mut c_void) {
    guard!("gort_defer", {
        match f {
            Some(f) => crate::panic::defer(f, arg),
            None => crate::panic::panic_msg(c"gort_defer: nil function".to_owned()),
        }
    })
}
