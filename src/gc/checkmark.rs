//! `GORT_DEBUG=gccheckmark=1`: after every mark, mark again from the roots with the
//! world stopped, and report any object reachable now that the mark missed.
//!
//! With the world stopped at the end of a cycle, every object reachable from the roots
//! must be marked: it was reachable when the cycle's snapshot was taken (then the
//! barrier kept it marked) or was allocated since (black). An object reachable and not
//! marked means a pointer store into a heap object skipped `gort_store` during a
//! concurrent mark (or a collector bug). The checker names the object's type, the holder
//! that points to it now and the field (type name + offset), which tells a C programmer
//! which store to fix, and ends the program with a fatal error before the sweep would
//! free a live object.
//!
//! Small objects keep no type (only pointer bits), so while the checker is on every
//! typed allocation records its type in a side table ([`note_type`]): two levels of
//! `MAP_NORESERVE` mappings indexed by address, one word per 16-byte granule. The
//! traversal's own "visited" bits live in a second table of the same shape, one bit per
//! granule, cleared after each check. Nothing here calls malloc while the world is
//! stopped, and the report is written with a fixed buffer and `_exit`.

use super::mark::Jobs;
use crate::mem::heap::{self, GcType, Obj};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Address bits below this select a granule inside one leaf; above, the leaf.
const LEAF_SHIFT: u32 = 26;
/// Heap addresses are below 2^47 (see `heap::arena`).
const DIR_LEN: usize = 1 << (47 - LEAF_SHIFT);
const GRANULE: usize = 16;
const LEAF_GRANULES: usize = (1 << LEAF_SHIFT) / GRANULE;

/// A two-level table of `T`-sized entries per granule, leaves mapped on first use.
struct Table {
    dir: AtomicPtr<AtomicPtr<u8>>,
    entry_bits_log2: u32,
}

impl Table {
    const fn new(entry_bits_log2: u32) -> Table {
        Table { dir: AtomicPtr::new(ptr::null_mut()), entry_bits_log2 }
    }

    fn init(&self) {
        let p = map(DIR_LEN * std::mem::size_of::<AtomicPtr<u8>>());
        self.dir.store(p as *mut AtomicPtr<u8>, Ordering::Release);
    }

    /// Bytes of one leaf: `entry_bits_log2` is log2 of the entry size in bits.
    fn leaf_bytes(&self) -> usize {
        (LEAF_GRANULES << self.entry_bits_log2) / 8
    }

    /// The leaf of `addr`, mapped if `create`.
    fn leaf(&self, addr: usize, create: bool) -> *mut u8 {
        let dir = self.dir.load(Ordering::Acquire);
        let i = addr >> LEAF_SHIFT;
        if dir.is_null() || i >= DIR_LEN {
            return ptr::null_mut();
        }
        // SAFETY: i < DIR_LEN, inside the directory mapping.
        let slot = unsafe { &*dir.add(i) };
        let l = slot.load(Ordering::Acquire);
        if !l.is_null() || !create {
            return l;
        }
        let fresh = map(self.leaf_bytes());
        match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(other) => {
                // SAFETY: our own unused mapping.
                unsafe { libc::munmap(fresh as *mut libc::c_void, self.leaf_bytes()) };
                other
            }
        }
    }

    fn granule(addr: usize) -> usize {
        (addr & ((1 << LEAF_SHIFT) - 1)) / GRANULE
    }
}

/// Types of typed objects, one pointer per granule (2^6 bits).
static TYPES: Table = Table::new(6);
/// Visited bits of the checker's traversal, one bit per granule.
static VISITED: Table = Table::new(0);
/// Leaves of VISITED touched by the current check, cleared at its end.
static TOUCHED: AtomicUsize = AtomicUsize::new(0);

fn map(bytes: usize) -> *mut u8 {
    super::work::map_with_or_die(bytes, libc::MAP_NORESERVE, "out of memory: gccheckmark tables")
}

/// Turns the checker on (at the runtime's first allocation).
pub(crate) fn enable() {
    TYPES.init();
    VISITED.init();
    ENABLED.store(true, Ordering::Release);
}

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Records the type of the object just allocated at `addr`.
pub(crate) fn note_type(addr: usize, t: &'static GcType) {
    let leaf = TYPES.leaf(addr, true);
    if leaf.is_null() {
        return;
    }
    // SAFETY: the granule's word lies inside the leaf; words are written atomically.
    let w = unsafe { &*(leaf as *const AtomicU64).add(Table::granule(addr)) };
    w.store(t as *const GcType as u64, Ordering::Relaxed);
}

fn type_of(o: Obj) -> Option<&'static GcType> {
    if let Some(t) = o.type_of() {
        return Some(t);
    }
    let leaf = TYPES.leaf(o.base(), false);
    if leaf.is_null() {
        return None;
    }
    // SAFETY: as in note_type.
    let w = unsafe { &*(leaf as *const AtomicU64).add(Table::granule(o.base())) };
    // SAFETY: only ever 0 or a leaked, immortal GcType.
    unsafe { (w.load(Ordering::Relaxed) as *const GcType).as_ref() }
}

/// Sets the visited bit of `o`; true if it was clear.
fn visit(o: Obj) -> bool {
    let leaf = VISITED.leaf(o.base(), true);
    TOUCHED.fetch_add(1, Ordering::Relaxed);
    let g = Table::granule(o.base());
    // SAFETY: the bit's word lies inside the leaf.
    let w = unsafe { &*(leaf as *const AtomicU64).add(g / 64) };
    let bit = 1u64 << (g % 64);
    w.fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// A growable stack of words in its own mapping (never malloc: the world is stopped).
struct Stack {
    ptr: *mut usize,
    len: usize,
    cap: usize,
}

impl Stack {
    fn new() -> Stack {
        let cap = 1 << 16;
        Stack { ptr: map(cap * 8) as *mut usize, len: 0, cap }
    }
    fn push(&mut self, v: usize) {
        if self.len == self.cap {
            let bigger = map(self.cap * 16) as *mut usize;
            // SAFETY: both mappings hold at least `len` words; the old one is ours.
            unsafe {
                ptr::copy_nonoverlapping(self.ptr, bigger, self.len);
                libc::munmap(self.ptr as *mut libc::c_void, self.cap * 8);
            }
            self.ptr = bigger;
            self.cap *= 2;
        }
        // SAFETY: len < cap.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
    }
    fn pop(&mut self) -> Option<usize> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: len < cap, written by push.
        Some(unsafe { self.ptr.add(self.len).read() })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.cap * 8) };
    }
}

/// Where a pointer to a missed object was found.
enum Holder {
    /// A stack or register word, or a word of a locked channel's ring.
    Conservative,
    Root(usize),
    Field {
        holder: Obj,
        slot: usize,
    },
}

/// Marks from `roots` (the ranges the collector just gathered) with the world stopped
/// and ends the program with a report if it reaches an object the cycle did not mark.
///
/// The first `conservative_jobs` ranges are stacks, registers and the rings of channels
/// whose lock a stopped thread holds. A word there that points to an unmarked object is
/// not reported, nor followed: stacks are scanned conservatively, and a frame's
/// uninitialised slot may still hold a pointer to an object that was garbage when the
/// cycle began (the program never reads it; the collector frees the object); a locked
/// ring is reported whole, and its free slots still hold elements received long ago.
/// Registered roots and the runtime's other words hold only what the program stored, so
/// an unmarked object found there is reported.
pub(crate) fn verify(roots: &Jobs, conservative_jobs: usize) {
    let mut stack = Stack::new();
    let mut missed = 0usize;
    let mut found = |v: usize, holder: Holder, stack: &mut Stack| {
        if v < 4096 {
            return;
        }
        let Some(o) = heap::find_object(v) else { return };
        if matches!(holder, Holder::Conservative) && !o.is_marked() {
            return;
        }
        if !visit(o) {
            return;
        }
        if !o.is_marked() {
            missed += 1;
            if missed <= 8 {
                report(o, &holder);
            }
        }
        if !o.is_noscan() {
            stack.push(o.base());
        }
    };
    for i in 0..roots.len() {
        let j = roots.get(i);
        let mut p = (j.start + 7) & !7;
        while p + 8 <= j.start + j.len {
            // SAFETY: the collector gathered readable root ranges; the world is stopped.
            let v = unsafe { ptr::read_volatile(p as *const usize) };
            found(v, if i < conservative_jobs { Holder::Conservative } else { Holder::Root(p) }, &mut stack);
            p += 8;
        }
    }
    while let Some(base) = stack.pop() {
        let Some(h) = heap::find_object(base) else { continue };
        h.for_each_pointer_slot(|slot| {
            // SAFETY: a pointer slot inside a live heap object.
            let v = unsafe { ptr::read_volatile(slot as *const usize) };
            found(v, Holder::Field { holder: h, slot }, &mut stack);
        });
    }
    clear_visited();
    if missed > 0 {
        let mut m = crate::fatal::StackMsg::new();
        m.push(b"fatal error: gccheckmark: ")
            .push_dec(missed as i64)
            .push(b" reachable object(s) not marked: a pointer store into a heap object skipped gort_store (or gort_store_range, gort_cas_ptr) while the collector marked\n");
        crate::fatal::write_stderr(m.as_bytes());
        crate::sched::tsan::before_exit();
        // SAFETY: _exit has no preconditions; no stdio flush (a stopped thread may hold
        // a stream's lock).
        unsafe { libc::_exit(2) };
    }
}

fn push_type(m: &mut crate::fatal::StackMsg, t: Option<&'static GcType>) {
    match t {
        Some(t) => m.push(t.name().as_bytes()),
        None => m.push(b"(untyped)"),
    };
}

fn report(o: Obj, holder: &Holder) {
    let mut m = crate::fatal::StackMsg::new();
    m.push(b"gccheckmark: object ").push_hex(o.base() as u64).push(b" of type ");
    push_type(&mut m, type_of(o));
    m.push(b" (").push_dec(o.size() as i64).push(b" bytes) is reachable but was not marked;\n\tit is pointed to by ");
    match *holder {
        Holder::Conservative => {
            m.push(b"a stack");
        }
        Holder::Root(addr) => {
            m.push(b"the root word at ").push_hex(addr as u64);
        }
        Holder::Field { holder, slot } => {
            let t = type_of(holder);
            let off = slot - holder.base();
            m.push(b"field ");
            push_type(&mut m, t);
            match t {
                Some(t) if t.size() > 0 && off >= t.size() => {
                    m.push(b"[").push_dec((off / t.size()) as i64).push(b"]+").push_dec((off % t.size()) as i64);
                }
                _ => {
                    m.push(b"+").push_dec(off as i64);
                }
            }
            m.push(b" of object ").push_hex(holder.base() as u64);
            m.push(b" (store into it with gort_store)");
        }
    }
    m.push(b"\n");
    crate::fatal::write_stderr(m.as_bytes());
}

/// Zeroes every VISITED leaf (returning their pages to the kernel) for the next check.
fn clear_visited() {
    if TOUCHED.swap(0, Ordering::Relaxed) == 0 {
        return;
    }
    let dir = VISITED.dir.load(Ordering::Acquire);
    for i in 0..DIR_LEN {
        // SAFETY: i < DIR_LEN; the directory is mapped. Most entries sit in untouched
        // (zero) pages of the directory, so this loop reads mostly one shared zero page.
        let l = unsafe { &*dir.add(i) }.load(Ordering::Acquire);
        if !l.is_null() {
            // SAFETY: a leaf of ours; MADV_DONTNEED on a private anonymous mapping
            // zero-fills it on the next touch.
            unsafe { libc::madvise(l as *mut libc::c_void, VISITED.leaf_bytes(), libc::MADV_DONTNEED) };
        }
    }
}
