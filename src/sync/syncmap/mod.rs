//! `gort_syncmap`: Go's `sync.Map` (Go 1.24's concurrent hash-trie,
//! `internal/sync.HashTrieMap`) for word keys and values. Loads and ranges take no lock
//! and write no shared memory; writes lock one node.
//!
//! # Concepts
//! - **Hash**: a seeded bijection of the 64-bit words ([`trie::hash`]; two seeds per map,
//!   from a process key drawn from `getrandom` and a counter). Distinct keys never have one
//!   hash, so unlike Go's trie there are no collision lists, and no path is longer than
//!   16 nodes whatever the keys.
//! - **Trie**: the root and inner nodes ([`trie::Node`]) have 16 children, picked by the
//!   hash 4 bits at a time, top bits first. A child word is 0, an entry's address with
//!   bit 0 set, or a node's address. An **entry** ([`trie::Entry`]) is `(key, value)`,
//!   immutable once published: a new value is a new entry swapped in.
//! - Each node has a **lock** (Go's mutex, [`crate::sync::Mutex`]: spin briefly, then park
//!   the goroutine or block the thread), its **parent** and a **dead** bit (bit 0 of the
//!   parent word) set when it is unlinked.
//!
//! # Protocol
//! Invariants: a node's children change only under its lock (or before the node is
//! published); a node is linked in its parent's slot exactly while it is not dead;
//! every store into a published slot is a Release store of a fully built entry or
//! subtree, so any reader sees a well-formed trie.
//! - **Load** (L): hash, load the root (Acquire), follow the digits while the child is a
//!   node (Acquire loads); an entry ends the walk, compared by key. No lock, no store.
//! - **Write** (Store/Swap, LoadOrStore, CompareAndSwap, deletes): W1 walk as a load does
//!   (LoadOrStore, CompareAndSwap and the deletes return here when the answer is already
//!   no: a present key, a wrong value, an absent key; the new entry is allocated now,
//!   before any lock); W2 lock the node where the walk ended and re-check that it is not
//!   dead and that the slot still holds 0 or an entry, else unlock and walk again from
//!   the root; W3 under the lock: replace the key's entry by a new one, or put the new
//!   entry in an empty slot, or — the slot holds another key's entry — build privately
//!   the chain of new nodes down to the level where the two hashes part and publish it
//!   with one store (the old entry is in it, so readers never miss it).
//! - **Delete** (D1): under the lock, store 0 in the slot. D2: while the node is empty and
//!   not a root, lock its parent (child before parent: every thread that holds two locks
//!   goes bottom-up, so no cycle), mark the node dead, clear the parent's slot, unlock
//!   the node, continue with the parent. A writer that walked into the node before it
//!   was unlinked finds it dead under its lock (W2) and walks again, so nothing is ever
//!   inserted into an unlinked node.
//! - **Range**: walk the trie depth-first in hash order, from the root loaded once, with
//!   Acquire loads and no lock; call the function for each entry met. Each key is
//!   visited at most once (a key has one position in hash order, and the walk passes
//!   each position once, in whatever node holds it at that moment); a key present for
//!   the whole Range is visited (its slot holds its entry or a node that contains it —
//!   an expansion keeps it — and a node is unlinked only when empty); the function may
//!   call any operation on the map. These are Go's guarantees for `Range`.
//! - **Clear**: publish a new empty root; writers still in the old trie finish there
//!   and are ordered before the clear (Go's).
//!
//! # Memory reclamation: the collector
//! Lock-free readers hold pointers to entries and nodes that a writer may unlink at any
//! moment. Go frees them with its collector; so does gort: entries and nodes are objects
//! of the GC heap ([`GcPlatform`], two `GcType`s whose pointer fields are the children,
//! the parent and the entry's key and value). The map's handle is `malloc`ed (C keeps it
//! wherever it likes, in memory the collector does not scan) and its root word is a
//! runtime-held root ([`HeldRoot`]); everything else is reached from there, scanned
//! precisely, and an unlinked node or entry lives exactly as long as a thread still has
//! its address on its stack or in its registers — which is what the collector scans,
//! conservatively, for goroutines and registered threads alike (every thread that calls
//! a gort export is registered). So:
//! - the load path costs no lock, no shared write, no per-thread epoch or hazard word;
//!   it is correct across goroutine switches and on foreign threads with nothing more;
//! - keys and values are roots while in the map (Go's semantics for values held by the
//!   runtime): a deleted entry, once no thread holds it, no longer keeps its key and
//!   value alive, and is freed by the next cycle;
//! - the world may stop anywhere: the collector takes no map lock and follows only
//!   published words, and every frozen state of a writer is a well-formed trie (the
//!   protocol above), so a writer stopped between any two instructions is harmless.
//!
//! Concurrent marking (`GORT_GCMODE=concurrent`): the handle's root word is copied in the
//! first pause with the other runtime-held bytes, so it needs no barrier (as the other
//! runtime-held bytes: the snapshot covers them). Nodes and entries are heap objects, so
//! every store that overwrites a published slot goes through the write barrier
//! ([`crate::gc::barrier::store`]: the old and the new value are shaded, in a no-suspend
//! section, so that the barrier cannot turn on between its check and the store). Objects
//! allocated during a mark are born black: a new chain's slots and a new entry's words
//! are written before publication without a barrier; what they point to was reachable
//! in the snapshot (then it is marked, by the deletion barrier's argument) or is new.
//! `gccheckmark` verifies it in the `concurrent-` variants of the C tests.
//!
//! # Alternatives rejected
//! - Epoch-based reclamation (crossbeam-epoch): a pin per load (a thread-local
//!   read-modify-write on most loads, a fence), a new dependency, garbage held in
//!   per-thread bags that the collector would have to scan for keys and values too, and
//!   an epoch guard must never span a goroutine switch (it does not, but every caller
//!   would have to be checked). Hazard words: a store and a fence per node visited. Both
//!   would also need the map's entries reported to the collector as root ranges one by
//!   one (a job per entry, copied in the concurrent mode's first pause); on the GC heap
//!   the whole map is one root and the markers trace it, in parallel, outside the pause.
//! - A lock-striped hash table or an RCU-resized open-addressing table: loads as cheap,
//!   but growth copies the table under a lock; the trie grows one node at a time.
//! - Go's collision lists (equal 64-bit hashes of different keys): impossible with a
//!   bijective hash of one word.
//!
//! # Misuse
//! Using a map after `gort_syncmap_free` is undefined behaviour; a magic word in the
//! handle, checked by every operation and cleared by free, turns most such uses into a
//! fatal error while the memory has not been reused.

pub(crate) mod trie;

#[cfg(test)]
mod tests;

use crate::gc::roots::HeldRoot;
use crate::mem::heap::{GcType, Kind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use trie::{Entry, Node, Trie};

/// The runtime's nodes: the GC heap.
pub(crate) struct GcPlatform {
    entry_ty: &'static GcType,
    node_ty: &'static GcType,
}

/// A plain word of an entry (written before publication).
#[repr(transparent)]
pub(crate) struct PlainWord(usize);

impl trie::Plain for PlainWord {
    fn new(v: usize) -> Self {
        PlainWord(v)
    }
    #[inline(always)]
    fn get(&self) -> usize {
        self.0
    }
}

impl trie::Word for AtomicUsize {
    fn new(v: usize) -> Self {
        AtomicUsize::new(v)
    }
    #[inline(always)]
    fn load(&self, o: Ordering) -> usize {
        AtomicUsize::load(self, o)
    }
    #[inline(always)]
    fn store(&self, v: usize, o: Ordering) {
        AtomicUsize::store(self, v, o)
    }
}

impl trie::Lock for crate::sync::Mutex {
    fn new() -> Self {
        crate::sync::Mutex::new()
    }
    #[inline(always)]
    fn lock(&self) {
        crate::sync::Mutex::lock(self)
    }
    #[inline(always)]
    fn unlock(&self) {
        crate::sync::Mutex::unlock(self)
    }
}

type GcEntry = Entry<GcPlatform>;
type GcNode = Node<GcPlatform>;

const W: usize = std::mem::size_of::<usize>();
// The GC types below describe these layouts: entry = key, value; node = 16 children,
// parent, lock (all-zero bytes are an empty, unlocked node with no parent).
const _: () = assert!(std::mem::size_of::<GcEntry>() == 2 * W);
const _: () = assert!(std::mem::offset_of!(GcNode, parent) == trie::FANOUT * W);
const _: () = assert!(std::mem::offset_of!(GcNode, lock) == (trie::FANOUT + 1) * W);
const _: () = assert!(std::mem::size_of::<GcNode>() == (trie::FANOUT + 2) * W);

fn gc_types() -> (&'static GcType, &'static GcType) {
    static TYPES: OnceLock<(&'static GcType, &'static GcType)> = OnceLock::new();
    *TYPES.get_or_init(|| {
        let e = GcType::new("sync.Map entry", 2 * W, &[0, W]).expect("valid type");
        let offs: Vec<usize> = (0..=trie::FANOUT).map(|i| i * W).collect();
        let n = GcType::new("sync.Map node", std::mem::size_of::<GcNode>(), &offs).expect("valid type");
        (e, n)
    })
}

/// A zeroed object of `ty`; out of memory is a fatal error, as in Go.
#[inline]
fn alloc(ty: &'static GcType) -> *mut u8 {
    if let Some(p) = crate::gc::alloc_one_fast(ty) {
        return p.as_ptr();
    }
    alloc_slow(ty)
}

#[cold]
fn alloc_slow(ty: &'static GcType) -> *mut u8 {
    match crate::gc::alloc(ty.size(), Kind::Typed(ty)) {
        Ok(p) => p.as_ptr(),
        Err(_) => crate::fatal::fatal("runtime: out of memory (sync.Map)"),
    }
}

impl trie::Platform for GcPlatform {
    type Word = AtomicUsize;
    type Plain = PlainWord;
    type Lock = crate::sync::Mutex;

    #[inline]
    fn new_entry(&self, key: usize, value: usize) -> *const GcEntry {
        let p = alloc(self.entry_ty) as *mut GcEntry;
        // SAFETY: a fresh object of the entry's size, ours until published.
        unsafe { p.write(Entry { key: PlainWord(key), value: PlainWord(value) }) };
        p
    }

    fn new_node(&self, parent: *const GcNode) -> *const GcNode {
        let p = alloc(self.node_ty) as *mut GcNode;
        // SAFETY: a fresh, zeroed object of the node's size: an empty unlocked node (the
        // children and parent are atomics, the lock is all-zero when unlocked), ours until
        // published.
        unsafe { (*p).parent.store(parent as usize, Ordering::Relaxed) };
        p
    }

    #[inline]
    fn publish(&self, slot: &AtomicUsize, v: usize) {
        // SAFETY: an aligned word of a live heap object (the collector's barrier: a
        // no-suspend section, shading the old and new values while a mark runs).
        unsafe { crate::gc::barrier::store(slot.as_ptr(), v) }
    }

    #[inline(always)]
    fn release(&self, e: *const GcEntry) {
        crate::sched::tsan::release(e);
    }

    #[inline(always)]
    fn acquire(&self, e: *const GcEntry) {
        crate::sched::tsan::acquire(e);
    }
}

/// "gort_syncmap" in ASCII: a live handle. Cleared by free.
const MAGIC: u64 = 0x7061_6d63_6e79_7373;
const FREED: u64 = 0xdead_dead_dead_dead;

/// A map's handle (`gort_syncmap`), `malloc`ed (boxed) so that C may keep it anywhere.
#[repr(C, align(64))]
pub(crate) struct SyncMap {
    /// The trie; its root word is the map's one GC root (`held`).
    trie: Trie<GcPlatform>,
    /// [`MAGIC`] while the map is live.
    magic: AtomicU64,
    /// Registers `trie.root` with the collector; dropped by free.
    held: Option<HeldRoot>,
}

/// Per-map hash seeds: a process key from getrandom (the clock if that fails) mixed with
/// a counter.
fn new_seeds() -> [u64; 2] {
    static KEY: OnceLock<[u64; 2]> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let key = KEY.get_or_init(|| {
        let mut k = [0u64; 2];
        // SAFETY: writes at most 16 bytes into `k`.
        let n = unsafe { libc::getrandom(k.as_mut_ptr() as *mut libc::c_void, 16, libc::GRND_NONBLOCK) };
        if n != 16 {
            let t = crate::time::nanotime() as u64;
            k = [t ^ 0x9e37_79b9_7f4a_7c15, (t << 17) ^ (&k as *const _ as u64)];
        }
        k
    });
    let c = COUNT.fetch_add(1, Ordering::Relaxed);
    let mix = |x: u64| trie::hash(x as usize, *key);
    [mix(2 * c), mix(2 * c + 1)]
}

impl SyncMap {
    /// A new empty map, boxed; None when out of memory (no root slot could be had).
    pub(crate) fn new() -> Option<Box<SyncMap>> {
        crate::gc::ensure_init();
        let (entry_ty, node_ty) = gc_types();
        let trie = Trie::new(GcPlatform { entry_ty, node_ty }, new_seeds());
        let mut m = Box::new(SyncMap { trie, magic: AtomicU64::new(MAGIC), held: None });
        m.held = Some(HeldRoot::new(m.trie.root.as_ptr() as *const u8, W)?);
        // The root made by `Trie::new` sat in this malloc'ed box, which the collector
        // does not scan, before the word was registered: a cycle in between could have
        // freed it. A fresh root, stored into the registered word, is safe (on this
        // thread's stack until stored).
        m.trie.clear();
        Some(m)
    }

    /// Whether the handle looks live (see "Misuse").
    #[inline(always)]
    pub(crate) fn is_live(&self) -> bool {
        self.magic.load(Ordering::Relaxed) == MAGIC
    }

    /// Ends the map: the root is no longer a root; the nodes go with the next cycle.
    #[allow(clippy::boxed_local, reason = "the handle is the box gort_syncmap_new made: freeing it is the point")]
    pub(crate) fn free(mut self: Box<SyncMap>) {
        self.magic.store(FREED, Ordering::Relaxed);
        self.held = None;
    }

    #[inline]
    pub(crate) fn trie(&self) -> &Trie<GcPlatform> {
        &self.trie
    }
}
