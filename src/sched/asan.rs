//! AddressSanitizer fiber-switch annotations (cargo feature `asan`).
//!
//! When the C program is built with `-fsanitize=address`, ASan tracks one stack per
//! thread. Switching to a goroutine stack without telling it makes ASan report bogus
//! stack-buffer errors (and lose fake frames). Every switch is bracketed as the ASan
//! interface asks: `__sanitizer_start_switch_fiber` just before, naming the stack we go to,
//! and `__sanitizer_finish_switch_fiber` first thing on the side that resumes. A jump out
//! of abandoned frames (a panic reaching its `gort_protect`) calls
//! `__asan_handle_no_return`, as `longjmp` does.
//!
//! Without the feature every function here is an empty inline no-op; with it, the final
//! program must link the ASan runtime (it provides the symbols).

use std::ffi::c_void;

#[cfg(feature = "asan")]
unsafe extern "C" {
    fn __sanitizer_start_switch_fiber(fake_stack_save: *mut *mut c_void, bottom: *const c_void, size: usize);
    fn __sanitizer_finish_switch_fiber(
        fake_stack_save: *mut c_void,
        bottom_old: *mut *const c_void,
        size_old: *mut usize,
    );
    fn __asan_handle_no_return();
    fn __lsan_register_root_region(p: *const c_void, size: usize);
    fn __asan_loadN(addr: usize, size: usize);
}

/// Before a switch to the stack `[bottom, bottom + size)`. `save` receives this context's
/// fake-stack handle; pass null when this context will never be resumed (goroutine exit).
#[inline(always)]
pub(crate) fn start_switch(save: *mut *mut c_void, bottom: *const u8, size: usize) {
    #[cfg(feature = "asan")]
    // SAFETY: the ASan runtime is linked (feature contract); arguments describe the
    // destination stack.
    unsafe {
        __sanitizer_start_switch_fiber(save, bottom as *const c_void, size)
    };
    #[cfg(not(feature = "asan"))]
    let _ = (save, bottom, size);
}

/// First thing after a switch, on the resumed side; `save` is what this context's
/// `start_switch` stored (null for a fresh context).
#[inline(always)]
pub(crate) fn finish_switch(save: *mut c_void) {
    #[cfg(feature = "asan")]
    // SAFETY: as above.
    unsafe {
        __sanitizer_finish_switch_fiber(save, std::ptr::null_mut(), std::ptr::null_mut())
    };
    #[cfg(not(feature = "asan"))]
    let _ = save;
}

/// Tells LeakSanitizer to scan `[p, p + size)` for pointers: memory we map ourselves (G
/// descriptors) is not scanned otherwise, and what it points to would look leaked.
pub(crate) fn register_root_region(p: *const u8, size: usize) {
    #[cfg(feature = "asan")]
    // SAFETY: the region is mapped and stays mapped for the life of the process.
    unsafe {
        __lsan_register_root_region(p as *const c_void, size)
    };
    #[cfg(not(feature = "asan"))]
    let _ = (p, size);
}

/// Reports an ASan error (heap-use-after-free, with the stacks of the free and of this
/// use) if `[p, p + size)` is not addressable, as an instrumented load would. gort's Rust
/// code is not instrumented, so objects C hands back to it (channels) are checked this way:
/// otherwise a released channel's memory, kept in ASan's quarantine, is read silently.
#[inline(always)]
pub(crate) fn check_addressable(p: *const u8, size: usize) {
    #[cfg(feature = "asan")]
    // SAFETY: __asan_loadN only reads ASan's shadow memory for the range, never the range.
    unsafe {
        __asan_loadN(p as usize, size)
    };
    #[cfg(not(feature = "asan"))]
    let _ = (p, size);
}

/// Before abandoning frames by jumping up the same stack.
#[inline(always)]
pub(crate) fn handle_no_return() {
    #[cfg(feature = "asan")]
    // SAFETY: as above.
    unsafe {
        __asan_handle_no_return()
    };
}

/// Bounds of the calling thread's own stack (the M's g0), for switches back to it.
pub(crate) fn thread_stack_bounds() -> (*const u8, usize) {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; we destroy it after.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (std::ptr::null(), 0);
        }
        let mut addr: *mut c_void = std::ptr::null_mut();
        let mut size: usize = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (addr as *const u8, size)
    }
}
