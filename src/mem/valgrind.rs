//! Valgrind client requests, written out as the magic instruction sequences valgrind.h
//! uses (the header is C-only). Outside valgrind the sequence is a handful of rotates that
//! leave the register unchanged, and the default value comes back.

const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;
const RUNNING_ON_VALGRIND: usize = 0x1001;

#[inline(never)]
fn client_request(default: usize, args: &[usize; 6]) -> usize {
    let result: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the rotate sequence is a no-op on real hardware (rotations by 3+13+61+51 =
    // 128 bits); under valgrind it is recognised and the request in `args` is executed.
    // `args` outlives the asm block.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") default => result,
            in("rax") args.as_ptr(),
            out("rdi") _,
            options(nostack),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above: rotations by 3+13+51+61 = 128 bits and `orr x10, x10, x10` are
    // no-ops on hardware; valgrind recognises the sequence.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3", "ror x12, x12, #13", "ror x12, x12, #51", "ror x12, x12, #61",
            "orr x10, x10, x10",
            inout("x3") default => result,
            in("x4") args.as_ptr(),
            out("x12") _,
            options(nostack),
        );
    }
    result
}

/// Tells valgrind that `[lo, hi)` is a stack, so switching onto it is not mistaken for a
/// huge stack-pointer move. Returns valgrind's id for the stack (0 outside valgrind).
pub(crate) fn stack_register(lo: *const u8, hi: *const u8) -> usize {
    client_request(0, &[STACK_REGISTER, lo as usize, hi as usize, 0, 0, 0])
}

/// Forgets a stack registered with [`stack_register`].
#[allow(dead_code)]
pub(crate) fn stack_deregister(id: usize) {
    client_request(0, &[STACK_DEREGISTER, id, 0, 0, 0, 0]);
}

/// Nonzero when running under valgrind.
pub(crate) fn running_on_valgrind() -> bool {
    client_request(0, &[RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]) != 0
}

const CHANGE_ERR_DISABLEMENT: usize = 0x1801;

/// Stops (`true`) or resumes reporting errors for the calling thread: the collector reads
/// every word of stacks and roots, initialised or not, which memcheck would report.
pub(crate) fn disable_error_reporting(disable: bool) {
    let delta = if disable { 1usize } else { usize::MAX }; // +1 / -1
    client_request(0, &[CHANGE_ERR_DISABLEMENT, delta, 0, 0, 0, 0]);
}

const MAKE_MEM_DEFINED: usize = 0x4d43_0002;

/// Tells memcheck that `[addr, addr + len)` holds defined bytes. The collector applies it
/// to its own copy of each word it reads conservatively: a stack slot never written is
/// a fine thing to scan, but memcheck would otherwise carry its undefinedness into the
/// mark bits and report it much later, in heap statistics.
pub(crate) fn make_mem_defined(addr: usize, len: usize) {
    client_request(0, &[MAKE_MEM_DEFINED, addr, len, 0, 0, 0]);
}

/// [`running_on_valgrind`], asked once.
#[inline]
pub(crate) fn on_valgrind() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static ON: AtomicU8 = AtomicU8::new(2);
    match ON.load(Ordering::Relaxed) {
        2 => {
            let on = running_on_valgrind();
            ON.store(u8::from(on), Ordering::Relaxed);
            on
        }
        v => v == 1,
    }
}

const MALLOCLIKE_BLOCK: usize = 0x1301;
const FREELIKE_BLOCK: usize = 0x1302;

/// Tells memcheck that `[addr, addr + size)` is a new heap block (zero-filled), so that
/// reads of it after [`freelike_block`] are reported: a GC object used after the
/// collector freed it (a forgotten root) shows up as a use-after-free with both stacks.
pub(crate) fn malloclike_block(addr: usize, size: usize) {
    client_request(0, &[MALLOCLIKE_BLOCK, addr, size, 0, 1, 0]);
}

/// The block at `addr` was freed (by the sweeper).
pub(crate) fn freelike_block(addr: usize) {
    client_request(0, &[FREELIKE_BLOCK, addr, 0, 0, 0, 0]);
}
