//! The runtime's two hottest thread-locals, in the initial-exec TLS model.
//!
//! Every export checks the calling thread's state byte (`world::check_thread`) and most
//! runtime paths look up the calling thread's M (`m::current_m`), several times per
//! channel operation. `thread_local!` in this crate, which is compiled as position-
//! independent code for its shared-library form, uses the general-dynamic model; linked
//! into an executable, the linker relaxes each access to two dependent loads (the thread
//! pointer from `%fs:0`, then the variable). Declared here in assembly and read with the
//! initial-exec model, an access is one load relative to the thread pointer in an
//! executable (the linker turns the GOT load into an immediate) and a GOT load plus that
//! load in the shared library. Measured: the export check alone cost pingpong about 2 ns
//! per export, 4% of a round trip, in the general-dynamic form.
//!
//! Each access is a fresh `asm!` block that reads the thread pointer itself, so it may be
//! inlined anywhere, including around a context switch: a goroutine that resumes on
//! another thread reads that thread's value (a `thread_local!` address cached across a
//! switch would read the old thread's).
//!
//! Initial-exec TLS lives in the static TLS block: for a `libgort.so` loaded with
//! `dlopen`, glibc serves it from its surplus static TLS (these 16 bytes fit easily), as
//! for other libraries that use the model (mimalloc, jemalloc).

use std::arch::global_asm;

// The variables: two 8-byte words, the M pointer and the state. Hidden: never
// exported from the shared library, and not visible to other objects' symbol lookup.
#[cfg(target_arch = "x86_64")]
global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl gort_tls_m",
    ".hidden gort_tls_m",
    ".type gort_tls_m, @object",
    ".size gort_tls_m, 8",
    "gort_tls_m:",
    ".zero 8",
    ".globl gort_tls_state",
    ".hidden gort_tls_state",
    ".type gort_tls_state, @object",
    ".size gort_tls_state, 8",
    "gort_tls_state:",
    ".zero 8",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
global_asm!(
    ".pushsection .tbss,\"awT\",%nobits",
    ".p2align 3",
    ".globl gort_tls_m",
    ".hidden gort_tls_m",
    ".type gort_tls_m, %object",
    ".size gort_tls_m, 8",
    "gort_tls_m:",
    ".zero 8",
    ".globl gort_tls_state",
    ".hidden gort_tls_state",
    ".type gort_tls_state, %object",
    ".size gort_tls_state, 8",
    "gort_tls_state:",
    ".zero 8",
    ".popsection",
);

/// `$get()` reads and `$set(v)` writes the calling thread's 8-byte variable `$sym`
/// (declared above), initial-exec: on x86-64 the offset from the GOT (an immediate once
/// the linker relaxes it in an executable), then one `fs:`-relative access; on aarch64
/// the thread pointer from `tpidr_el0` and the offset from the GOT.
macro_rules! tls_word {
    ($get:ident, $set:ident, $sym:literal) => {
        #[inline(always)]
        fn $get() -> usize {
            let v: usize;
            #[cfg(target_arch = "x86_64")]
            // SAFETY: reads this thread's 8-byte TLS variable; no other effect.
            unsafe {
                std::arch::asm!(
                    concat!("mov {v}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov {v}, qword ptr fs:[{v}]",
                    v = out(reg) v,
                    options(nostack, readonly, preserves_flags)
                );
            }
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above (tpidr_el0 is the thread pointer).
            unsafe {
                std::arch::asm!(
                    "mrs {tp}, tpidr_el0",
                    concat!("adrp {v}, :gottprel:", $sym),
                    concat!("ldr {v}, [{v}, :gottprel_lo12:", $sym, "]"),
                    "ldr {v}, [{tp}, {v}]",
                    tp = out(reg) _,
                    v = out(reg) v,
                    options(nostack, readonly, preserves_flags)
                );
            }
            v
        }

        #[inline(always)]
        fn $set(v: usize) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: writes this thread's 8-byte TLS variable only.
            unsafe {
                std::arch::asm!(
                    concat!("mov {off}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov qword ptr fs:[{off}], {v}",
                    off = out(reg) _,
                    v = in(reg) v,
                    options(nostack, preserves_flags)
                );
            }
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            unsafe {
                std::arch::asm!(
                    "mrs {tp}, tpidr_el0",
                    concat!("adrp {off}, :gottprel:", $sym),
                    concat!("ldr {off}, [{off}, :gottprel_lo12:", $sym, "]"),
                    "str {v}, [{tp}, {off}]",
                    tp = out(reg) _,
                    off = out(reg) _,
                    v = in(reg) v,
                    options(nostack, preserves_flags)
                );
            }
        }
    };
}

tls_word!(m_word, set_m_word, "gort_tls_m");
tls_word!(state_word, set_state_word, "gort_tls_state");

/// The calling thread's M pointer (null on a thread the runtime does not own).
#[inline(always)]
pub(crate) fn m() -> usize {
    m_word()
}

#[inline(always)]
pub(crate) fn set_m(m: usize) {
    set_m_word(m)
}

/// The calling thread's state byte (`world::tstate`; 0 until set).
#[inline(always)]
pub(crate) fn state() -> u8 {
    state_word() as u8
}

#[inline(always)]
pub(crate) fn set_state(s: u8) {
    set_state_word(s as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_has_its_own_values() {
        let main_m = m();
        let main_state = state();
        std::thread::spawn(|| {
            assert_eq!((m(), state()), (0, 0), "a new thread starts with zeroes");
            set_m(0x1234_5678_9abc_def0);
            set_state(0xa5);
            assert_eq!((m(), state()), (0x1234_5678_9abc_def0, 0xa5));
            set_state(1);
            assert_eq!(m(), 0x1234_5678_9abc_def0, "the state byte does not overlap the M");
        })
        .join()
        .unwrap();
        assert_eq!((m(), state()), (main_m, main_state), "another thread's writes are its own");
    }
}
