//! `gort_caller`: Go's `runtime.Caller`, the code address, function, file and line of a
//! frame of the calling goroutine's (or thread's) stack.
//!
//! # How a frame is found
//! The walk is the frame-pointer walk of the dumps ([`super::unwind::here`]), started
//! inside the runtime. Its first frames are gort's own (this module, the export's panic
//! boundary, whatever the compiler inlined or not); the export the program called is
//! found by name, and the frame after it is the program's: `skip` 0 is the function
//! that called the export, 1 its caller, and so on, as in Go. Naming frames costs a
//! symbolizer lookup each, so the position of the export's frame and the return address
//! into it are remembered: the chain of calls from the export to the walk is the same on
//! every call, so the next call checks one word instead of naming frames. (A stale
//! remembered pair is harmless: the return address is one into the export's code, and
//! only a frame of the export can hold it.)
//!
//! # What is returned
//! The frame's return address (as Go's `runtime.Callers` gives it: the instruction after
//! the call), the function's name, and the file and line of the call itself (the
//! symbolizer looks up the call instruction, `pc - 1`). Strings are interned: each
//! distinct name or path is copied once into a leaked, NUL-terminated allocation and
//! never freed, so the pointers stay valid for the life of the process and may be kept.
//! Answers are cached per pc (a hash map under one lock), so a call site that asks again
//! costs the walk, the check and one lookup. File and line are absent (NULL, 0) when the
//! object has no line tables (built without `-g`, or stripped) and the name is absent
//! (NULL) when no symbol covers the pc.
//!
//! Frames are those of the walk: C code built without frame pointers is skipped (see
//! `docs/debugging.md`), and an inlined function has no frame of its own (the call is
//! reported in the function it was inlined into, as Go reports it only with inlining
//! information gort does not read).

use super::symbolize::{Symbol, symbolize};
use super::unwind::{self, Pcs, Reader};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What `gort_caller` reports for one frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallerInfo {
    pub(crate) pc: usize,
    pub(crate) func: Option<&'static CStr>,
    pub(crate) file: Option<&'static CStr>,
    pub(crate) line: i32,
}

/// Where the export's frame was last found in a walk: its index and the return address
/// into it (0: not yet). Relaxed: see the module comment for why a torn pair is harmless.
static EXPORT_DEPTH: AtomicUsize = AtomicUsize::new(0);
static EXPORT_RET: AtomicUsize = AtomicUsize::new(0);

/// The per-pc answers and the interned strings. Entries are never removed.
struct Cache {
    by_pc: HashMap<usize, CallerInfo>,
    strings: HashMap<Vec<u8>, &'static CStr>,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// The frame `skip` frames above the caller of the function named `export` (the export
/// the program called), or None if the stack is not that deep (or the export's frame is
/// not found).
#[inline(never)]
pub(crate) fn caller(skip: usize, export: &[u8]) -> Option<CallerInfo> {
    let pcs = own_frames();
    let s = pcs.as_slice();
    let k = find_export(s, export)?;
    let pc = *s.get(k.checked_add(1)?.checked_add(skip)?)?;
    Some(describe(pc))
}

/// The calling thread's frames, walked from here, bounded by the stack it runs on.
#[inline(never)]
fn own_frames() -> Pcs {
    let g = crate::sched::current_g();
    // SAFETY: g is the running goroutine: its stack slot is not being written.
    if let Some(s) = (!g.is_null()).then(|| unsafe { (*g).stack() }).flatten() {
        return unwind::here(s.lo() as usize, s.top() as usize, Reader::Direct);
    }
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    match crate::sched::world::current_thread_stack() {
        // A registered thread (every caller of an export is one): its own stack, mapped
        // around our frame and up to its top (the walk's frames lie a little below `sp`).
        Some((lo, hi)) if sp >= lo && sp < hi => unwind::here(lo.max(sp.saturating_sub(64 << 10)), hi, Reader::Direct),
        _ => unwind::here(sp.saturating_sub(64 << 10), sp.saturating_add(64 << 20), Reader::Careful),
    }
}

/// The index in `s` of the first frame in the function named `export`.
fn find_export(s: &[usize], export: &[u8]) -> Option<usize> {
    let (d, r) = (EXPORT_DEPTH.load(Ordering::Relaxed), EXPORT_RET.load(Ordering::Relaxed));
    if r != 0 && s.get(d) == Some(&r) {
        return Some(d);
    }
    let mut sym = Symbol::new();
    let i = s.iter().take(32).position(|&pc| symbolize(pc, true, &mut sym) && sym.name() == export)?;
    EXPORT_DEPTH.store(i, Ordering::Relaxed);
    EXPORT_RET.store(s[i], Ordering::Relaxed);
    Some(i)
}

/// Names the return address `pc`, from the cache or the symbolizer.
fn describe(pc: usize) -> CallerInfo {
    let mut cache = CACHE.lock();
    let c = cache.get_or_insert_with(|| Cache { by_pc: HashMap::new(), strings: HashMap::new() });
    if let Some(&info) = c.by_pc.get(&pc) {
        return info;
    }
    let mut sym = Symbol::new();
    let found = symbolize(pc, true, &mut sym);
    let func = if found && !sym.name().is_empty() { intern(&mut c.strings, sym.name()) } else { None };
    let (file, line) = if found && !sym.file().is_empty() && sym.line != 0 {
        (intern(&mut c.strings, sym.file()), i32::try_from(sym.line).unwrap_or(i32::MAX))
    } else {
        (None, 0)
    };
    let info = CallerInfo { pc, func, file, line: if file.is_some() { line } else { 0 } };
    c.by_pc.insert(pc, info);
    info
}

/// The interned copy of `s`: allocated once, never freed.
fn intern(strings: &mut HashMap<Vec<u8>, &'static CStr>, s: &[u8]) -> Option<&'static CStr> {
    if let Some(&c) = strings.get(s) {
        return Some(c);
    }
    let leaked: &'static CStr = Box::leak(CString::new(s).ok()?.into_boxed_c_str());
    strings.insert(s.to_vec(), leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn probe(skip: usize) -> Option<CallerInfo> {
        // Stands in for the export: `caller` finds this function's frame by name.
        std::hint::black_box(caller(skip, b"gort::debug::caller::tests::probe"))
    }

    #[inline(never)]
    fn outer() -> Option<CallerInfo> {
        std::hint::black_box(probe(0))
    }

    #[test]
    fn skip_zero_is_the_function_that_called() {
        let a = outer().expect("a frame");
        let name = a.func.expect("a name").to_str().unwrap();
        assert!(name.contains("outer"), "{name}");
        // The same call again hits the remembered depth and the cache: same answer.
        let b = outer().expect("a frame");
        assert_eq!(a.pc, b.pc);
        assert_eq!(a.func.map(|c| c.as_ptr()), b.func.map(|c| c.as_ptr()));
        if let Some(f) = a.file {
            assert!(f.to_str().unwrap().ends_with("caller.rs"), "{f:?}");
            assert!(a.line > 0);
        }
        assert!(probe(10_000).is_none());
    }

    #[test]
    fn interning_returns_the_same_pointer() {
        let mut m = HashMap::new();
        let a = intern(&mut m, b"abc").unwrap();
        let b = intern(&mut m, b"abc").unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert!(intern(&mut m, b"a\0b").is_none());
    }
}
