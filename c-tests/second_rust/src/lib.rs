//! A second Rust static library, for the ctest test `whole-archive`: a C program links it
//! and gort's lib/libgort.a, both with `--whole-archive`. Each brings its own copy of Rust's
//! std (allocator shims, panic machinery, `rust_eh_personality`), and the two must neither
//! collide at link time nor get in each other's way at run time.

/// 42, worked out by this library's own std: a boxed (heap-allocated) panic payload, unwound
/// and caught here (`resume_unwind` skips the panic hook, so nothing is printed).
#[unsafe(no_mangle)]
pub extern "C" fn other_rust_answer() -> i32 {
    let caught = std::panic::catch_unwind(|| -> i32 { std::panic::resume_unwind(Box::new(41_i32)) });
    let Err(payload) = caught else { return -1 };
    let Ok(forty_one) = payload.downcast::<i32>() else { return -2 };
    *forty_one + 1
}
