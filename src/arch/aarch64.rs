//! AArch64 AAPCS64 context switch.

use super::EntryFn;
use core::arch::naked_asm;

/// Saves the current context, stores its stack pointer in `*from`, resumes the context
/// whose stack pointer is `to`, and makes the resumed side's pending `switch` return `arg`.
///
/// # Safety
/// `to` must be a stack pointer produced by a previous `switch` on that stack (and not
/// resumed since) or by [`init_stack`]; `from` must be valid for a write.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn switch(from: *mut *mut u8, to: *mut u8, arg: usize) -> usize {
    naked_asm!(
        "sub sp, sp, #176",
        "stp x19, x20, [sp, #0]",
        "stp x21, x22, [sp, #16]",
        "stp x23, x24, [sp, #32]",
        "stp x25, x26, [sp, #48]",
        "stp x27, x28, [sp, #64]",
        "stp x29, x30, [sp, #80]",
        "stp d8, d9, [sp, #96]",
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr",
        "str x9, [sp, #160]",
        "mov x9, sp",
        "str x9, [x0]",
        "mov sp, x1",
        "ldp x19, x20, [sp, #0]",
        "ldp x21, x22, [sp, #16]",
        "ldp x23, x24, [sp, #32]",
        "ldp x25, x26, [sp, #48]",
        "ldp x27, x28, [sp, #64]",
        "ldp x29, x30, [sp, #80]",
        "ldp d8, d9, [sp, #96]",
        "ldp d10, d11, [sp, #112]",
        "ldp d12, d13, [sp, #128]",
        "ldp d14, d15, [sp, #144]",
        "ldr x9, [sp, #160]",
        "msr fpcr, x9",
        "add sp, sp, #176",
        "mov x0, x2",
        // Not `ret`: the return-address predictor is wrong after a stack switch; a plain
        // indirect branch is predicted by target history.
        "br x30",
    )
}

/// First code a fresh context runs: x0 holds the handed value, x19 the entry function.
///
/// The outermost frame of every goroutine: x29 = 0 ends frame-pointer walks, and its CFI
/// marks the return address undefined so DWARF unwinders (gdb, perf) stop here.
#[unsafe(naked)]
unsafe extern "C" fn trampoline() -> ! {
    naked_asm!(".cfi_startproc", ".cfi_undefined x30", "mov x29, #0", "blr x19", "brk #1", ".cfi_endproc",)
}

/// The frame a parked context resumes into, from the stack pointer `switch` saved:
/// `(return address into the code that called switch, its frame pointer)`.
///
/// # Safety
/// `sp` must be a saved context of [`switch`] (the 22 words it stored are readable).
pub(crate) unsafe fn saved_frame(sp: *const u8) -> (usize, usize) {
    let w = sp as *const usize;
    // SAFETY: per the contract; words 10 and 11 are the stored x29 and x30.
    unsafe { (w.add(11).read(), w.add(10).read()) }
}

/// The calling function's frame pointer (x29); see the x86_64 version.
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory or flags are touched.
    unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// Frame pointer, program counter and stack pointer in the stopped-thread register copy
/// of `sched::world` (x0-x30, then SP, then PC).
pub(crate) const GREG_FP: usize = 29;
pub(crate) const GREG_PC: usize = 32;
pub(crate) const GREG_SP: usize = 31;

/// Prepares a fresh context at the top of a stack: the first `switch` into the returned
/// stack pointer runs `entry(arg)` on that stack.
///
/// # Safety
/// `top` must be the 16-byte-aligned end of a writable region of at least 192 bytes.
pub(crate) unsafe fn init_stack(top: *mut u8, entry: EntryFn) -> *mut u8 {
    debug_assert_eq!(top as usize % 16, 0);
    // SAFETY: the caller guarantees 176 bytes below `top` are writable.
    unsafe {
        let sp = top.sub(176) as *mut u64;
        for i in 0..22 {
            sp.add(i).write(0);
        }
        sp.write(entry as *const () as usize as u64); // x19
        sp.add(11).write(trampoline as *const () as usize as u64); // x30 (x29 at word 10 stays 0)
        // FPCR word (index 20) stays 0: round to nearest, no flush-to-zero.
        sp as *mut u8
    }
}

/// Calls `f(arg)` after saving a resumable context whose stack pointer is stored in `*slot`:
/// returns 0 when `f` returns, or the value passed by a later `switch(_, *slot, v)` from
/// inside `f` (like `longjmp`). The saved layout is exactly `switch`'s.
///
/// # Safety
/// As for the x86_64 version: `f` callable with `arg`, `slot` valid while `f` runs, and any
/// jump to `*slot` made on this stack while this call is active.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn protect_call(
    slot: *mut *mut u8,
    f: unsafe extern "C" fn(*mut core::ffi::c_void),
    arg: *mut core::ffi::c_void,
) -> usize {
    naked_asm!(
        "sub sp, sp, #176",
        "stp x19, x20, [sp, #0]",
        "stp x21, x22, [sp, #16]",
        "stp x23, x24, [sp, #32]",
        "stp x25, x26, [sp, #48]",
        "stp x27, x28, [sp, #64]",
        "stp x29, x30, [sp, #80]",
        "stp d8, d9, [sp, #96]",
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr",
        "str x9, [sp, #160]",
        "mov x9, sp",
        "str x9, [x0]",
        "mov x9, x1",
        "mov x0, x2",
        "blr x9",
        "ldp x19, x20, [sp, #0]",
        "ldp x21, x22, [sp, #16]",
        "ldp x23, x24, [sp, #32]",
        "ldp x25, x26, [sp, #48]",
        "ldp x27, x28, [sp, #64]",
        "ldp x29, x30, [sp, #80]",
        "ldp d8, d9, [sp, #96]",
        "ldp d10, d11, [sp, #112]",
        "ldp d12, d13, [sp, #128]",
        "ldp d14, d15, [sp, #144]",
        "add sp, sp, #176",
        "mov x0, #0",
        "ret",
    )
}
