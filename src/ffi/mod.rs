//! The C API. One file per section of gort.h; each export checks its arguments, maps
//! errors to `GORT_E*` codes and runs its body inside `guard!`, so that a Rust panic (a
//! bug in gort, never the caller's fault) becomes a clean `fatal error` instead of
//! undefined behaviour at the C boundary. Nothing below this layer knows about C.

#![allow(non_camel_case_types)]
// The exports are `pub` for cbindgen and the linker, though the module is private.
#![allow(unreachable_pub)]

/// Panic boundary for every export: `guard!("gort_x", { body })`. It also refuses, as a
/// fatal error, any call in the child of a `fork` of a running runtime (see `runtime`).
macro_rules! guard {
    ($name:literal, $body:block) => {{
        $crate::runtime::refuse_in_forked_child($name);
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $crate::fatal::internal_panic($name),
        }
    }};
}

pub mod chan;
pub mod error;
pub mod net;
pub mod panic;
pub mod runtime;
pub mod select;
pub mod sync;
pub mod time;
