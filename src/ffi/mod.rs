//! The C API. One file per section of gort.h; each export checks its arguments, maps
//! errors to `GORT_E*` codes and runs its body inside `guard!`, so that a Rust panic (a
//! bug in gort, never the caller's fault) becomes a clean `fatal error` instead of
//! undefined behaviour at the C boundary. Nothing below this layer knows about C.

#![allow(non_camel_case_types)]
// The exports are `pub` for cbindgen and the linker, though the module is private.
#![allow(unreachable_pub)]

/// Panic boundary for every export: `guard!("gort_x", { body })`. It also refuses, as a
/// fatal error, any call in the child of a `fork` of a running runtime (see `runtime`).
/// The check is one thread-local byte: READY for runtime threads and registered
/// threads; any other thread is registered on its first call (`sched::world`).
/// `guard!(no_register "gort_x", { body })` only refuses in a forked child.
macro_rules! guard {
    (no_register $name:literal, $body:block) => {{
        $crate::sched::world::check_thread_no_register($name);
        let _tsan = $crate::sched::tsan::InRuntime::enter();
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $crate::fatal::internal_panic($name),
        }
    }};
    ($name:literal, $body:block) => {{
        $crate::sched::world::check_thread($name);
        let _tsan = $crate::sched::tsan::InRuntime::enter();
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $crate::fatal::internal_panic($name),
        }
    }};
}

pub mod chan;
pub mod debug;
pub mod error;
pub mod heap;
pub mod net;
pub mod panic;
pub mod pool_map;
pub mod runtime;
pub mod select;
pub mod sync;
pub mod time;
