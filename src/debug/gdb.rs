//! What a debugger needs to find goroutines: `gort_debug_info`, an exported table of
//! addresses and field offsets, read by gort's gdb extension (`tools/gdb/gort-gdb.py`).
//!
//! gort's release builds carry line tables only (no DWARF types), and a debugger must not
//! have to call into a stopped or dead process (a core file has no process at all), so
//! the extension reads raw memory, guided by this table: where the list of every G
//! (`ALLGS`) lives, how it is segmented, where each field of a G sits, what the status
//! values mean and how a parked goroutine's saved context is laid out (which words hold
//! its program counter, frame pointer and callee-saved registers). The table has a magic
//! word and a version; a change of any layout it describes bumps the version.

use crate::sched::G;
use crate::sched::g::{ALLGS, status};
use core::mem::offset_of;

/// The table (all words, so a reader needs no struct layout of its own).
#[repr(C)]
pub(crate) struct GortDebugInfo {
    /// `b"gortdbg\0"` as a little-endian word.
    pub(crate) magic: u64,
    /// Layout version of this table: 1.
    pub(crate) version: u64,
    /// 1: x86_64, 2: aarch64.
    pub(crate) arch: u64,
    /// Address of `ALLGS` (see `sched::g::AllGs`).
    pub(crate) allgs: *const core::ffi::c_void,
    /// Offsets in `AllGs` of the count and of the segment directory.
    pub(crate) allgs_len_offset: usize,
    pub(crate) allgs_segs_offset: usize,
    /// Segment `k` holds `seg0 << k` G pointers; `nsegs` segments in the directory.
    pub(crate) allgs_seg0: usize,
    pub(crate) allgs_nsegs: usize,
    /// Field offsets in a G.
    pub(crate) g_sp: usize,
    pub(crate) g_id: usize,
    pub(crate) g_status: usize,
    /// A `&'static str`: pointer word, then length word.
    pub(crate) g_wait_reason: usize,
    pub(crate) g_wait_since: usize,
    pub(crate) g_parent_id: usize,
    pub(crate) g_created_pc: usize,
    pub(crate) g_locked_m: usize,
    /// Status values.
    pub(crate) status_idle: u64,
    pub(crate) status_runnable: u64,
    pub(crate) status_running: u64,
    pub(crate) status_waiting: u64,
    pub(crate) status_dead: u64,
    /// The saved context at `g.sp`: how many words `switch` pushed (the stack pointer of
    /// the resumed frame is `sp + ctx_words * 8` on x86_64, where the return address is
    /// the last word popped; on aarch64 `sp + ctx_words * 8` after the 176-byte frame),
    /// and the word index of the resume pc, the frame pointer and the callee-saved
    /// registers: x86_64 rbx, r12, r13, r14, r15; aarch64 x19..x28 start at word 0.
    pub(crate) ctx_words: usize,
    pub(crate) ctx_pc: usize,
    pub(crate) ctx_fp: usize,
    pub(crate) ctx_rbx_or_x19: usize,
    pub(crate) ctx_r12: usize,
    pub(crate) ctx_r13: usize,
    pub(crate) ctx_r14: usize,
    pub(crate) ctx_r15: usize,
}

// SAFETY: immutable after compilation; the pointer is only an address for debuggers.
unsafe impl Sync for GortDebugInfo {}

#[cfg(target_arch = "x86_64")]
const ARCH: (u64, usize, usize, usize, [usize; 5]) = (1, 8, 7, 6, [5, 4, 3, 2, 1]);
#[cfg(target_arch = "aarch64")]
const ARCH: (u64, usize, usize, usize, [usize; 5]) = (2, 22, 11, 10, [0, 0, 0, 0, 0]);

/// Read by debuggers; referenced at start-up so the linker keeps it.
#[unsafe(no_mangle)]
#[used]
pub(crate) static gort_debug_info: GortDebugInfo = GortDebugInfo {
    magic: u64::from_le_bytes(*b"gortdbg\0"),
    version: 1,
    arch: ARCH.0,
    allgs: &ALLGS as *const _ as *const core::ffi::c_void,
    allgs_len_offset: crate::sched::g::ALLGS_LEN_OFFSET,
    allgs_segs_offset: crate::sched::g::ALLGS_SEGS_OFFSET,
    allgs_seg0: crate::sched::g::SEG0,
    allgs_nsegs: crate::sched::g::ALLGS_SEGS,
    g_sp: offset_of!(G, sp),
    g_id: offset_of!(G, id),
    g_status: offset_of!(G, status),
    g_wait_reason: offset_of!(G, wait_reason),
    g_wait_since: offset_of!(G, wait_since),
    g_parent_id: offset_of!(G, parent_id),
    g_created_pc: offset_of!(G, created_pc),
    g_locked_m: offset_of!(G, locked_m),
    status_idle: status::IDLE as u64,
    status_runnable: status::RUNNABLE as u64,
    status_running: status::RUNNING as u64,
    status_waiting: status::WAITING as u64,
    status_dead: status::DEAD as u64,
    ctx_words: ARCH.1,
    ctx_pc: ARCH.2,
    ctx_fp: ARCH.3,
    ctx_rbx_or_x19: ARCH.4[0],
    ctx_r12: ARCH.4[1],
    ctx_r13: ARCH.4[2],
    ctx_r14: ARCH.4[3],
    ctx_r15: ARCH.4[4],
};

/// Keeps the table, and the object holding the `.debug_gdb_scripts` entry, in every
/// link (called once at start-up).
pub(crate) fn keep() {
    std::hint::black_box(&gort_debug_info);
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    std::hint::black_box(&raw const gort_gdb_script_anchor);
}

// The gdb extension, embedded inline in `.debug_gdb_scripts` so gdb loads it with the
// program (or with libgort.so), in gdb's format: byte 4 (SECTION_SCRIPT_ID_PYTHON_TEXT),
// a first line naming the script, the script text, a NUL. gdb only runs it where its
// auto-load safe-path allows (`add-auto-load-safe-path /path/to/program`, or
// `set auto-load safe-path /`); `source tools/gdb/gort-gdb.py` loads it by hand.
//
// The entry format is the one rustc emits for `#![debugger_visualizer]` scripts
// (rustc_codegen_llvm/src/debuginfo/gdb.rs), but rustc only emits its section for a
// Rust leaf crate and keeps it alive with a load from the Rust `main`, which a C program
// does not have; so the entry is written here. The section is non-allocated (no memory at
// run time) and a mergeable string (flags "MS", entry size 1: the linker keeps one copy
// when two objects embed the same script). `--gc-sections` does not drop non-allocated
// sections; what keeps the entry in a static link is that its object is linked at all,
// which the `gort_gdb_script_anchor` byte (referenced by `keep`) guarantees whichever
// codegen unit this asm lands in. `strip` (or `--strip-debug`) removes the section.
//
// `.incbin` is invisible to cargo's dependency tracking; the `include_bytes!` below makes
// rustc record the script as an input, so editing it rebuilds the library.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
core::arch::global_asm!(
    ".pushsection .debug_gdb_scripts,\"MS\",%progbits,1",
    ".byte 4",
    ".ascii \"gort-gdb.py\\n\"",
    concat!(".incbin \"", env!("CARGO_MANIFEST_DIR"), "/tools/gdb/gort-gdb.py\""),
    ".byte 0",
    ".popsection",
    ".pushsection .rodata.gort_gdb_script_anchor,\"a\",%progbits",
    ".globl gort_gdb_script_anchor",
    ".hidden gort_gdb_script_anchor",
    "gort_gdb_script_anchor:",
    ".byte 0",
    ".popsection",
);

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe extern "C" {
    /// One byte next to the `.debug_gdb_scripts` entry (see above).
    static gort_gdb_script_anchor: u8;
}

/// The embedded script, for rustc's dependency tracking only (see above); also checked
/// by the tests: gdb's inline format ends an entry at the first NUL.
#[cfg_attr(not(test), allow(dead_code))]
const GDB_SCRIPT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/gdb/gort-gdb.py"));

#[cfg(test)]
mod tests {
    #[test]
    fn str_is_pointer_then_length() {
        // The table promises gdb that a `&str` is (pointer, length).
        let s: &'static str = "chan receive";
        // SAFETY: a &str is two words; only their order is being checked.
        let w: [usize; 2] = unsafe { std::mem::transmute(s) };
        assert_eq!(w, [s.as_ptr() as usize, s.len()]);
    }

    #[test]
    fn embedded_gdb_script_has_no_nul() {
        // A NUL would end the inline `.debug_gdb_scripts` entry early.
        assert!(!super::GDB_SCRIPT.is_empty());
        assert!(!super::GDB_SCRIPT.contains(&0));
    }

    #[test]
    fn table_describes_this_build() {
        let t = &super::gort_debug_info;
        assert_eq!(&t.magic.to_le_bytes(), b"gortdbg\0");
        assert_eq!(t.allgs as usize, &crate::sched::g::ALLGS as *const _ as usize);
    }
}
