//! x86_64 System V context switch.

use super::EntryFn;
use core::arch::naked_asm;

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control word
/// (64-bit precision, all exceptions masked), as a fresh thread starts with.
const INITIAL_MXCSR: u32 = 0x1F80;
const INITIAL_X87CW: u32 = 0x037F;

/// Saves the current context, stores its stack pointer in `*from`, resumes the context
/// whose stack pointer is `to`, and makes the resumed side's pending `switch` return `arg`.
///
/// # Safety
/// `to` must be a stack pointer produced by a previous `switch` on that stack (and not
/// resumed since) or by [`init_stack`]; `from` must be valid for a write.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn switch(from: *mut *mut u8, to: *mut u8, arg: usize) -> usize {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "mov rax, rdx",
        // A plain `ret` keeps the CPU's return-stack predictor balanced. Goroutines switch
        // from the same call sites, so its prediction is usually right; `pop; jmp` would
        // be faster for a lone switch but unbalances the predictor and makes every later
        // `ret` up the call chain mispredict (measured: yield 50 ns with it vs 32 ns).
        "ret",
    )
}

/// First code a fresh context runs: `switch` "returned" here with the handed value in rax
/// and the entry function in rbx. rsp is 16-byte aligned, so the `call` gives the entry
/// function the alignment the ABI promises.
///
/// It is the outermost frame of every goroutine: rbp = 0 ends frame-pointer walks
/// (gort's tracebacks, `perf record -g`), and its CFI says the return address is undefined,
/// which is how DWARF unwinders (gdb's `bt`, `perf --call-graph dwarf`, libgcc) recognise
/// the end of a stack instead of wandering into whatever lies above it.
#[unsafe(naked)]
unsafe extern "C" fn trampoline() -> ! {
    naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip",
        "xor ebp, ebp",
        "mov rdi, rax",
        "call rbx",
        "ud2",
        ".cfi_endproc",
    )
}

/// The frame a parked context resumes into, from the stack pointer `switch` saved:
/// `(return address into the code that called switch, its frame pointer)`.
///
/// # Safety
/// `sp` must be a saved context of [`switch`] (the 8 words it pushed are readable).
pub(crate) unsafe fn saved_frame(sp: *const u8) -> (usize, usize) {
    let w = sp as *const usize;
    // SAFETY: per the contract; words 6 and 7 are the pushed rbp and the return address.
    unsafe { (w.add(7).read(), w.add(6).read()) }
}

/// The calling function's frame pointer (rbp). gort is built with frame pointers
/// (`.cargo/config.toml`), so inlined into a function this is that function's frame.
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory or flags are touched.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// Frame pointer and program counter in a signal's register copy (`ucontext` gregs).
pub(crate) const GREG_FP: usize = libc::REG_RBP as usize;
pub(crate) const GREG_PC: usize = libc::REG_RIP as usize;
pub(crate) const GREG_SP: usize = libc::REG_RSP as usize;

/// Prepares a fresh context at the top of a stack: the first `switch` into the returned
/// stack pointer runs `entry(arg)` on that stack.
///
/// # Safety
/// `top` must be the 16-byte-aligned end of a writable region of at least 128 bytes.
pub(crate) unsafe fn init_stack(top: *mut u8, entry: EntryFn) -> *mut u8 {
    debug_assert_eq!(top as usize % 16, 0);
    // Layout popped by `switch`, lowest address first:
    // [mxcsr|x87cw] r15 r14 r13 r12 rbx rbp retaddr   (8 words), then `top`.
    // SAFETY: the caller guarantees 8 words below `top` are writable.
    unsafe {
        let sp = (top as *mut u64).sub(8);
        sp.write((INITIAL_MXCSR as u64) | ((INITIAL_X87CW as u64) << 32));
        sp.add(1).write(0); // r15
        sp.add(2).write(0); // r14
        sp.add(3).write(0); // r13
        sp.add(4).write(0); // r12
        sp.add(5).write(entry as *const () as usize as u64); // rbx: the entry function
        sp.add(6).write(0); // rbp
        sp.add(7).write(trampoline as *const () as usize as u64); // return address
        sp as *mut u8
    }
}

/// Calls `f(arg)` after saving a resumable context whose stack pointer is stored in `*slot`:
/// returns 0 when `f` returns, or the value passed by a later `switch(_, *slot, v)` from
/// inside `f` (a panic unwinding to its `gort_protect`: like `longjmp`, the frames between
/// are abandoned). The saved layout is exactly `switch`'s, so `switch` can resume it.
///
/// # Safety
/// `f` must be safe to call with `arg`; `slot` must stay valid while `f` runs; a jump to
/// `*slot` must happen on this same stack while this call is still active.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn protect_call(
    slot: *mut *mut u8,
    f: unsafe extern "C" fn(*mut core::ffi::c_void),
    arg: *mut core::ffi::c_void,
) -> usize {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rax, rsi",
        "mov rdi, rdx",
        "call rax",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "xor eax, eax",
        "ret",
    )
}
