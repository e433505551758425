//! Goroutines (G): descriptor, states, allocation and recycling.

use crate::mem::stack::Stack;
use crate::panic::PanicState;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Goroutine states. Each says who owns the G (may touch its non-atomic fields).
pub(crate) mod status {
    /// Being created or recycled: owned by the thread that allocated it.
    pub(crate) const IDLE: u32 = 0;
    /// In a run queue (local, `runnext` or global): owned by that queue; whoever dequeues
    /// it owns it next.
    pub(crate) const RUNNABLE: u32 = 1;
    /// Executing on an M: owned by that M (and by the goroutine's own code).
    pub(crate) const RUNNING: u32 = 2;
    /// Parked: owned by whatever will wake it (a wait queue under its lock, a timer entry
    /// holding the current `sleep_seq`). Only [`crate::sched::ready`] leaves this state.
    pub(crate) const WAITING: u32 = 3;
    /// Finished, on a free list: owned by that list.
    pub(crate) const DEAD: u32 = 4;
}

/// What a goroutine runs. The layout is fixed (`repr(C, u32)`: a `u32` tag, then the
/// payload) so the collector can read the tag of any descriptor as a plain integer and
/// skip `None`, whose payload bytes are stale ([`G::for_each_held_range`]).
#[repr(C, u32)]
pub(crate) enum Entry {
    None = ENTRY_NONE,
    C(unsafe extern "C" fn(*mut c_void), *mut c_void) = 1,
    Rust(Box<dyn FnOnce() + Send>) = 2,
}

/// The tag of [`Entry::None`].
const ENTRY_NONE: u32 = 0;

/// Where an [`Entry`]'s payload starts: after the tag, padded to a word. The word of the
/// tag is never a root: its padding holds whatever bytes were there before, and with the
/// tag in the low half it can read as an address inside the heap (`0x7f6c00000001`, the
/// heap's first object, kept alive by it and reported by `gccheckmark`).
const ENTRY_PAYLOAD: usize = std::mem::size_of::<usize>();
const _: () = assert!(std::mem::size_of::<Entry>() == ENTRY_PAYLOAD + 2 * std::mem::size_of::<usize>());

/// A goroutine descriptor. Descriptors are never freed: a dead G goes to a free list, so
/// pointers to Gs held by timers or wait queues never dangle (they can only be stale,
/// which sequence numbers detect). What this keeps is bounded by the peak number of
/// goroutines alive at once: that many descriptors (at most 192 bytes each, plus 16
/// bytes of list entries in [`ALLGS`] and a free list, plus the defer/protect buffers of
/// those that used them, at most 64 entries each: `PanicState::reset`), reused by later
/// spawns; their pages are never given back (a stale pointer may still read
/// `sleep_seq`/`status`). A
/// G reserves a stack slot when spawned (so running out of address space is the
/// spawner's error), gets its stack when it first runs and gives it back when it ends,
/// so goroutines that are queued but have not started cost no stack memory; the
/// scavenger returns idle stacks' memory to the OS (`mem::scavenge`).
pub(crate) struct G {
    /// Saved stack pointer while not running. Written by the context switch out of this G,
    /// read by the switch into it; the status protocol orders the two.
    pub sp: UnsafeCell<*mut u8>,
    /// The stack, from first run to exit. Written only by the G's owner at those two
    /// points; read by the running goroutine's own M (and its signal handler).
    pub stack: UnsafeCell<Option<Stack>>,
    /// Goroutine id, > 0; set by the spawner while IDLE, read-only while alive.
    pub id: AtomicI64,
    /// One of [`status`].
    pub status: AtomicU32,
    /// Owned by the G's owner (see [`status`]); taken on first run.
    pub entry: UnsafeCell<Entry>,
    /// True until the first switch into this G (its stack needs a fresh frame).
    pub fresh: Cell<bool>,
    /// Why it is parked, for the deadlock dump. Written by the G before parking.
    pub wait_reason: Cell<&'static str>,
    /// Goroutines this G has spawned since it last parked or yielded (spawn back-pressure,
    /// see `proc::spawn_with_id`). Only the G itself touches it.
    pub spawn_streak: Cell<u32>,
    /// The M this G is locked to (`gort_lock_os_thread`), or null. Written by the G itself.
    pub locked_m: AtomicPtr<super::m::M>,
    /// Nesting count of `gort_lock_os_thread`. Only the G touches it.
    pub lock_count: Cell<u32>,
    /// Sequence number of the current sleep: a timer entry may wake this G only while its
    /// number is current, and consumes it (CAS to +1) when it does.
    pub sleep_seq: AtomicU64,
    /// Sleep deadline handed from `park_sleep` to its park callback (owned by the G).
    pub sleep_until: Cell<i64>,
    /// Defer and protect frames. Only the G itself touches them.
    /// Allocated on first use (most goroutines never defer or protect, and a queued G
    /// should stay small); kept for reuse when the G is recycled.
    pub panic: UnsafeCell<Option<Box<PanicState>>>,
    /// ASan fake-stack handle saved while switched out (feature `asan`). Only the G.
    pub asan_fake: AsanFake,
    /// TSan fiber (feature `tsan`): created by the M that first runs this incarnation,
    /// destroyed by the one that destroys it. Only the M running or destroying the G.
    pub tsan_fiber: super::tsan::FiberSlot,
    /// The wait word (`gen << 3 | state`) of channel, select and semaphore waits: see
    /// [`crate::sched::waiter`] for who may move it between which states.
    pub wait: AtomicU64,
    /// When it last parked (`sysmon::recent_now`: 0 if unknown), for the dump's "3
    /// minutes" and `hangwarn`. Written by the G itself as it parks, and from 0 to a time
    /// by the hangwarn watchdog (CAS); read racily by dumps.
    pub wait_since: AtomicI64,
    /// The goroutine that spawned this one (0: none, e.g. `gort_main`'s) and the return
    /// address into the C function that called `gort_go` (0: spawned by the runtime).
    /// Written by the spawner while IDLE; read-only while alive; read racily by dumps.
    pub parent_id: AtomicI64,
    pub created_pc: AtomicUsize,
}

/// The ASan fake-stack handle slot: a `Cell` with the `asan` feature, nothing (zero bytes,
/// always null) without it, so a descriptor pays for it only in ASan builds.
#[cfg(feature = "asan")]
pub(crate) type AsanFake = Cell<*mut c_void>;

/// See the `asan` version.
#[cfg(not(feature = "asan"))]
pub(crate) struct AsanFake;

/// An empty [`AsanFake`] slot.
const fn new_asan_fake() -> AsanFake {
    #[cfg(feature = "asan")]
    return Cell::new(ptr::null_mut());
    #[cfg(not(feature = "asan"))]
    AsanFake
}

#[cfg(not(feature = "asan"))]
impl AsanFake {
    pub(crate) fn get(&self) -> *mut c_void {
        ptr::null_mut()
    }

    pub(crate) fn set(&self, _: *mut c_void) {}

    pub(crate) fn as_ptr(&self) -> *mut *mut c_void {
        ptr::null_mut()
    }
}

// SAFETY: the non-atomic fields follow the ownership rules documented on `status`: exactly
// one thread owns a G at a time, and ownership moves through atomics or locks.
unsafe impl Sync for G {}
// SAFETY: as above.
unsafe impl Send for G {}

impl G {
    /// A new descriptor by value (for [`alloc_batch`], which writes it in place).
    fn value() -> G {
        G {
            sp: UnsafeCell::new(ptr::null_mut()),
            stack: UnsafeCell::new(None),
            id: AtomicI64::new(0),
            status: AtomicU32::new(status::IDLE),
            entry: UnsafeCell::new(Entry::None),
            fresh: Cell::new(true),
            wait_reason: Cell::new(""),
            spawn_streak: Cell::new(0),
            locked_m: AtomicPtr::new(ptr::null_mut()),
            lock_count: Cell::new(0),
            sleep_seq: AtomicU64::new(0),
            sleep_until: Cell::new(0),
            panic: UnsafeCell::new(None),
            asan_fake: new_asan_fake(),
            tsan_fiber: super::tsan::empty_fiber_slot(),
            wait: AtomicU64::new(0),
            wait_since: AtomicI64::new(0),
            parent_id: AtomicI64::new(0),
            created_pc: AtomicUsize::new(0),
        }
    }

    pub(crate) fn id(&self) -> i64 {
        self.id.load(Ordering::Relaxed)
    }

    /// The stack, if the G has one.
    ///
    /// # Safety
    /// The caller must be the G's owner or the M running it (no concurrent write).
    pub(crate) unsafe fn stack(&self) -> Option<&Stack> {
        // SAFETY: per the contract, nobody writes the slot concurrently.
        unsafe { (*self.stack.get()).as_ref() }
    }

    pub(crate) fn status(&self) -> u32 {
        self.status.load(Ordering::Acquire)
    }

    /// The program's bytes this descriptor holds, for the collector
    /// (`gc::roots::for_each_root`): the entry of a goroutine not yet started (the raw
    /// payload bytes of `entry` unless its tag says `None`: a torn write by a stopped spawner is
    /// harmless, nothing is dereferenced; and the captured bytes of a Rust closure, read
    /// only while RUNNABLE and fresh, when the spawner has finished writing it and the
    /// goroutine has not begun taking it), and its deferred calls.
    ///
    /// # Safety
    /// The world is stopped (or nobody touches the descriptor meanwhile).
    pub(crate) unsafe fn for_each_held_range(&self, f: &mut dyn FnMut(*const u8, usize)) {
        // SAFETY: the tag is a u32 at offset 0 (repr(C, u32)); any value is readable.
        let tag = unsafe { ptr::read_volatile(self.entry.get() as *const u32) };
        if tag != ENTRY_NONE {
            // SAFETY: the payload lies inside the entry (ENTRY_PAYLOAD's assertion).
            let payload = unsafe { (self.entry.get() as *const u8).add(ENTRY_PAYLOAD) };
            f(payload, std::mem::size_of::<Entry>() - ENTRY_PAYLOAD);
        }
        if self.status() == status::RUNNABLE && self.fresh.get() {
            // SAFETY: written by the spawner before it published RUNNABLE (Release), not
            // touched again until the goroutine runs (module docs of gc/roots.rs).
            if let Entry::Rust(b) = unsafe { &*self.entry.get() } {
                let len = std::mem::size_of_val::<dyn FnOnce() + Send>(&**b);
                if len != 0 {
                    f(&**b as *const (dyn FnOnce() + Send) as *const u8, len);
                }
            }
        }
        // SAFETY: the panic state is set once, fully built, by the G itself, and never
        // taken away (`crate::panic::state`); its defer stack is valid in any frozen state.
        if let Some(ps) = unsafe { (*self.panic.get()).as_deref() } {
            // SAFETY: as above.
            unsafe { crate::panic::for_each_held_range(ps, f) };
        }
    }
}

/// Descriptors are never freed, so they are carved from big anonymous mappings instead of
/// one `malloc` each: glibc grew its per-thread arenas with an `mprotect` every few pages,
/// about 5% of the samples of a fork/join benchmark (dc_sum) on 2 Ps, with the mmap lock
/// taken for writing each time (stalling the other P's page faults). Pages are committed
/// as descriptors are written, as with malloc.
const G_CHUNK_BYTES: usize = 4 << 20;

struct GArena {
    next: usize,
    end: usize,
}

static G_ARENA: parking_lot::Mutex<GArena> = parking_lot::Mutex::new(GArena { next: 0, end: 0 });

/// Up to `n` new descriptors, IDLE, each written in place; fewer (maybe none) when out
/// of memory. The caller registers them in [`ALLGS`].
pub(crate) fn alloc_batch(n: usize) -> Vec<GPtr> {
    let layout = std::alloc::Layout::new::<G>();
    let stride = layout.size().next_multiple_of(layout.align());
    let mut out = Vec::with_capacity(n);
    let mut a = G_ARENA.lock();
    for _ in 0..n {
        if a.end - a.next < stride {
            // SAFETY: an anonymous private mapping; no existing memory is affected.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    G_CHUNK_BYTES,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                // Out of address space for a chunk: the heap may still have room.
                // SAFETY: G has a non-zero size.
                let g = unsafe { std::alloc::alloc(layout) } as *mut G;
                if g.is_null() {
                    break; // out of memory: fewer descriptors (maybe none)
                }
                // SAFETY: fresh memory for one G, never freed (like a leaked Box).
                unsafe { g.write(G::value()) };
                out.push(GPtr(g));
                continue;
            }
            super::asan::register_root_region(p as *const u8, G_CHUNK_BYTES);
            // Page-aligned, so aligned for G.
            a.next = p as usize;
            a.end = a.next + G_CHUNK_BYTES;
        }
        let g = a.next as *mut G;
        a.next += stride;
        // SAFETY: [g, g + size_of::<G>()) is unused memory of our mapping, aligned for G;
        // it is never freed, so the pointer stays valid forever, like a leaked Box.
        unsafe { g.write(G::value()) };
        out.push(GPtr(g));
    }
    out
}

/// Every G ever made, in an append-only list that readers walk without a lock: the
/// collector enumerates goroutines with the world stopped, when a stopped thread may hold
/// the appenders' lock. Segment `k` holds `SEG0 << k` entries, so the directory is fixed
/// and entries never move; an entry is written before `len` publishes it (Release).
pub(crate) struct AllGs {
    len: AtomicUsize,
    segs: [AtomicPtr<AtomicPtr<G>>; ALLGS_SEGS],
    /// Serialises appenders (`len` and new segments).
    append: parking_lot::Mutex<()>,
}

pub(crate) const SEG0: usize = 1024;
pub(crate) const ALLGS_SEGS: usize = 40;
/// Where the count and the segment directory sit in [`AllGs`] (for debuggers:
/// `debug::gdb`).
pub(crate) const ALLGS_LEN_OFFSET: usize = core::mem::offset_of!(AllGs, len);
pub(crate) const ALLGS_SEGS_OFFSET: usize = core::mem::offset_of!(AllGs, segs);

pub(crate) static ALLGS: AllGs = AllGs {
    len: AtomicUsize::new(0),
    segs: [const { AtomicPtr::new(ptr::null_mut()) }; ALLGS_SEGS],
    append: parking_lot::Mutex::new(()),
};

impl AllGs {
    /// Segment and offset of entry `i`.
    fn locate(i: usize) -> (usize, usize) {
        let q = i / SEG0 + 1;
        let k = (usize::BITS - 1 - q.leading_zeros()) as usize;
        (k, i - SEG0 * ((1 << k) - 1))
    }

    /// Makes room for `n` more entries, then appends what `make(n)` returns (at most `n`)
    /// and returns it. None (nothing made) when no memory for the room.
    pub(crate) fn push_batch(&self, n: usize, make: impl FnOnce(usize) -> Vec<GPtr>) -> Option<Vec<GPtr>> {
        let _l = self.append.lock();
        let len = self.len.load(Ordering::Relaxed);
        if n > 0 {
            let (last, _) = Self::locate(len + n - 1);
            for k in 0..=last {
                if self.segs[k].load(Ordering::Relaxed).is_null() {
                    let layout = std::alloc::Layout::array::<AtomicPtr<G>>(SEG0 << k).ok()?;
                    // SAFETY: a non-zero layout; all-zero bytes are null AtomicPtrs.
                    let seg = unsafe { std::alloc::alloc_zeroed(layout) } as *mut AtomicPtr<G>;
                    if seg.is_null() {
                        return None;
                    }
                    self.segs[k].store(seg, Ordering::Release);
                }
            }
        }
        let batch = make(n);
        for (j, g) in batch.iter().take(n).enumerate() {
            let (k, off) = Self::locate(len + j);
            // SAFETY: segment k exists (made above) and has more than `off` entries.
            unsafe { &*self.segs[k].load(Ordering::Relaxed).add(off) }.store(g.0, Ordering::Relaxed);
        }
        self.len.store(len + batch.len().min(n), Ordering::Release);
        Some(batch)
    }

    /// How many Gs have been made so far.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Calls `f` on the Gs with index in `[from, to)` (clipped to [`len`](Self::len)).
    /// Takes no lock and allocates nothing.
    pub(crate) fn for_each_in(&self, from: usize, to: usize, mut f: impl FnMut(*mut G)) {
        let n = self.len.load(Ordering::Acquire).min(to);
        for i in from..n {
            let (k, off) = Self::locate(i);
            // SAFETY: as in `for_each`.
            let g = unsafe { &*self.segs[k].load(Ordering::Acquire).add(off) }.load(Ordering::Relaxed);
            f(g);
        }
    }

    /// Calls `f` on every G made so far. Takes no lock and allocates nothing.
    pub(crate) fn for_each(&self, mut f: impl FnMut(*mut G)) {
        let n = self.len.load(Ordering::Acquire);
        for i in 0..n {
            let (k, off) = Self::locate(i);
            // SAFETY: entries below `len` are written and their segments published
            // (Release before `len`'s Release store, which we read with Acquire).
            let g = unsafe { &*self.segs[k].load(Ordering::Acquire).add(off) }.load(Ordering::Relaxed);
            f(g);
        }
    }
}

/// A G pointer that may cross threads (run queues, timers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct GPtr(pub *mut G);
// SAFETY: Gs are Sync and never freed; ownership is governed by the status protocol.
unsafe impl Send for GPtr {}
// SAFETY: as above.
unsafe impl Sync for GPtr {}

/// Bounds of `g`'s stack for ASan: `(lowest address, size)`.
///
/// # Safety
/// As for [`G::stack`].
pub(crate) unsafe fn stack_bounds(g: *mut G) -> (*const u8, usize) {
    // SAFETY: per the contract.
    match unsafe { (*g).stack() } {
        Some(s) => (s.lo() as *const u8, s.size()),
        None => (ptr::null(), 0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptor_stays_small() {
        // A queued goroutine costs its descriptor only; keep it compact.
        let size = std::mem::size_of::<super::G>();
        assert!(size <= 192, "G grew to {size} bytes");
    }

    #[test]
    fn all_gs_segments_cover_every_index() {
        let mut next = 0;
        for k in 0..4 {
            for off in [0, (super::SEG0 << k) - 1] {
                let i = super::SEG0 * ((1 << k) - 1) + off;
                assert_eq!(super::AllGs::locate(i), (k, off));
                assert!(i >= next);
                next = i;
            }
        }
        assert_eq!(super::AllGs::locate(super::SEG0), (1, 0));
    }
}
