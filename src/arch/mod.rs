//! Machine context switching: the only assembly in gort.
//!
//! A suspended context is nothing but a stack pointer. Switching pushes the callee-saved
//! state the platform ABI requires onto the current stack, stores the resulting stack
//! pointer through `from`, loads `to`, pops the same state from there and returns into
//! whatever code last switched away from that stack. Caller-saved registers need no saving:
//! the switch is an ordinary function call as far as the compiler is concerned.
//!
//! A value crosses the switch: the third argument becomes the return value seen by the
//! side that resumes. A fresh context (see [`init_stack`]) "returns" into an entry
//! trampoline that passes that value as the first argument to the entry function.
//!
//! What is saved (and why nothing more):
//! - x86_64 SysV: rbx, rbp, r12–r15, plus MXCSR control bits and the x87 control word,
//!   which the ABI declares callee-saved. The return address is already on the stack.
//! - aarch64 AAPCS64: x19–x28, the frame pointer x29, the link register x30, the low
//!   halves d8–d15 of v8–v15, and FPCR (rounding/flush modes are callee-preserved).
//!
//! Rejected alternatives: `ucontext` (swapcontext makes a sigprocmask syscall: ~50x
//! slower), and saving all registers (the ABI already guarantees the rest are dead).

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{GREG_FP, GREG_PC, GREG_SP, frame_pointer, init_stack, protect_call, saved_frame, switch};

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{GREG_FP, GREG_PC, GREG_SP, frame_pointer, init_stack, protect_call, saved_frame, switch};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("gort supports x86_64 and aarch64 only");

/// The entry function of a fresh context: receives the value passed to the first
/// [`switch`] into it and must never return (it switches away for good instead).
pub(crate) type EntryFn = unsafe extern "C" fn(arg: usize) -> !;

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    static mut MAIN_SP: *mut u8 = ptr::null_mut();
    static mut CO_SP: *mut u8 = ptr::null_mut();

    unsafe extern "C" fn entry(arg: usize) -> ! {
        // SAFETY: single-threaded test; the statics are only touched by this ping-pong.
        unsafe {
            let mut x = arg;
            loop {
                // Exercise floating point state and callee-saved registers across switches.
                let f = (x as f64).sqrt();
                // `f as usize - f as usize` is 0, but the compiler must keep `f` live in an
                // FP register across the switch to compute it.
                #[allow(clippy::eq_op)]
                let zero = f as usize - f as usize;
                x = switch(&raw mut CO_SP, MAIN_SP, x + 1 + zero);
            }
        }
    }

    #[test]
    fn ping_pong_passes_values_and_preserves_state() {
        let mut stack = vec![0u8; 64 * 1024];
        let top = unsafe { stack.as_mut_ptr().add(stack.len()) };
        unsafe {
            CO_SP = init_stack(top, entry);
            let mut v = 10usize;
            let keep = [1.5f64, 2.5, 3.5];
            for i in 0..1000 {
                let r = switch(&raw mut MAIN_SP, CO_SP, v);
                assert_eq!(r, v + 1, "iteration {i}");
                v = r * 2 % 100_000;
                assert_eq!(keep.iter().sum::<f64>(), 7.5);
            }
        }
        drop(stack);
    }
}
