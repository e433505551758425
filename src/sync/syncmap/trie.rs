//! The hash-trie itself, generic over where its nodes live ([`Platform`]): the runtime
//! runs it on the GC heap ([`super::GcPlatform`]), the unit tests on boxes, the loom
//! models on loom's atomics and cells, so the models check the shipped code. The protocol
//! is described in the module essay ([`super`]); each function here names its step.

use std::sync::atomic::Ordering;

/// Children per node (4 bits of the hash per level).
pub(crate) const FANOUT: usize = 16;
const BITS: u32 = 4;
/// Levels below the root: 64 hash bits, 4 per level. Distinct keys have distinct hashes
/// (the hash is a bijection), so two keys part at level 15 at the latest.
const LEVELS: u32 = 64 / BITS;
/// Bit 0 of a child word: the word points to an entry (else, non-zero, to a node).
const ENTRY: usize = 1;
/// Bit 0 of a node's `parent` word: the node has been unlinked from its parent.
const DEAD: usize = 1;

/// An atomic word (a child slot, a parent word, the root).
pub(crate) trait Word {
    fn new(v: usize) -> Self;
    fn load(&self, o: Ordering) -> usize;
    fn store(&self, v: usize, o: Ordering);
}

/// A word written once, before its entry is published, and only read after.
pub(crate) trait Plain {
    #[allow(dead_code, reason = "the runtime writes entries in place; the test platforms box them")]
    fn new(v: usize) -> Self;
    fn get(&self) -> usize;
}

/// A node's lock (the runtime's is Go's mutex, `sync::Mutex`).
pub(crate) trait Lock {
    #[allow(dead_code, reason = "the runtime's nodes are zeroed memory; the test platforms box them")]
    fn new() -> Self;
    fn lock(&self);
    fn unlock(&self);
}

/// Where nodes come from and how a published slot is overwritten.
pub(crate) trait Platform: Sized {
    type Word: Word;
    type Plain: Plain;
    type Lock: Lock;
    /// A new entry `(key, value)`, not yet published (never freed by the trie: the
    /// platform reclaims it once unreachable, or never).
    fn new_entry(&self, key: usize, value: usize) -> *const Entry<Self>;
    /// A new node with no children whose parent is `parent` (null for a root).
    fn new_node(&self, parent: *const Node<Self>) -> *const Node<Self>;
    /// `slot = v` (Release) for a slot of a node that readers may see: the collector's
    /// write barrier on the GC heap.
    fn publish(&self, slot: &Self::Word, v: usize);
    /// Happens-before annotations for race detectors: before an entry is published, and
    /// after a published entry was read.
    fn release(&self, _e: *const Entry<Self>) {}
    fn acquire(&self, _e: *const Entry<Self>) {}
}

/// A key and its value. Immutable once published: a new value is a new entry.
#[repr(C)]
pub(crate) struct Entry<P: Platform> {
    pub(crate) key: P::Plain,
    pub(crate) value: P::Plain,
}

/// An inner node.
#[repr(C)]
pub(crate) struct Node<P: Platform> {
    /// 0, an entry's address | ENTRY, or a node's address. Written under `lock` (or before
    /// the node is published), read by anyone (Acquire).
    pub(crate) children: [P::Word; FANOUT],
    /// The parent's address (0 for a root) | DEAD once unlinked. Written under `lock`
    /// and the parent's lock; read under `lock`.
    pub(crate) parent: P::Word,
    /// Protects the writes to `children` and `parent`.
    pub(crate) lock: P::Lock,
}

impl<P: Platform> Node<P> {
    #[allow(dead_code, reason = "the runtime's nodes are zeroed memory; the test platforms box them")]
    pub(crate) fn new(parent: *const Node<P>) -> Node<P> {
        Node {
            children: std::array::from_fn(|_| P::Word::new(0)),
            parent: P::Word::new(parent as usize),
            lock: P::Lock::new(),
        }
    }
}

/// The digit of `h` that picks a child at `level` (the root is level 0): top bits first.
#[inline(always)]
fn digit(h: u64, level: u32) -> usize {
    debug_assert!(level < LEVELS);
    ((h >> (64 - BITS - BITS * level)) & (FANOUT as u64 - 1)) as usize
}

/// A seeded bijection of the 64-bit words: xor with a seed, two rounds of xorshift and
/// multiply by an odd constant (each step invertible), a last xorshift. Distinct keys
/// never collide, so no collision lists are needed, and a trie path is at most 16 nodes
/// long whatever the keys; the seeds keep an adversary from choosing keys that share long
/// prefixes (deep, mostly empty paths cost memory, not time).
#[inline(always)]
pub(crate) fn hash(key: usize, seed: [u64; 2]) -> u64 {
    const M: u64 = 0xd6e8_feb8_6659_fd93;
    let mut x = key as u64 ^ seed[0];
    x = (x ^ (x >> 32)).wrapping_mul(M);
    x ^= seed[1];
    x = (x ^ (x >> 29)).wrapping_mul(M);
    x ^ (x >> 32)
}

/// What a conditional write requires of the entry it finds.
#[derive(Clone, Copy)]
enum Want {
    Any,
    Value(usize),
}

impl Want {
    fn accepts(self, v: usize) -> bool {
        match self {
            Want::Any => true,
            Want::Value(w) => w == v,
        }
    }
}

/// A hash-trie map from words to words.
pub(crate) struct Trie<P: Platform> {
    /// The root node (never null). Replaced only by `clear`; read Acquire.
    pub(crate) root: P::Word,
    seed: [u64; 2],
    pub(crate) platform: P,
}

/// A locked node and the entry (or 0) in the key's slot.
struct Locked<P: Platform> {
    node: *const Node<P>,
    level: u32,
    word: usize,
}

/// The entry behind a child word that has the ENTRY bit.
#[inline(always)]
fn entry<P: Platform>(w: usize) -> *const Entry<P> {
    (w & !ENTRY) as *const Entry<P>
}

impl<P: Platform> Trie<P> {
    pub(crate) fn new(platform: P, seed: [u64; 2]) -> Trie<P> {
        let root = platform.new_node(std::ptr::null());
        Trie { root: P::Word::new(root as usize), seed, platform }
    }

    #[inline(always)]
    fn hash(&self, key: usize) -> u64 {
        hash(key, self.seed)
    }

    /// The node on `h`'s path whose slot holds 0 or an entry, its level and that word.
    /// Lock-free (the load path; the writers' first look).
    #[inline(always)]
    fn walk(&self, h: u64) -> (*const Node<P>, u32, usize) {
        let mut node = self.root.load(Ordering::Acquire) as *const Node<P>;
        let mut level = 0;
        loop {
            // SAFETY: nodes reached from the root stay allocated while this thread can
            // reach them (the platform's reclamation: the collector sees them on our
            // stack or in our registers); a child word is 0, an entry or a node.
            let w = unsafe { (*node).children[digit(h, level)].load(Ordering::Acquire) };
            if w == 0 || w & ENTRY != 0 {
                return (node, level, w);
            }
            node = w as *const Node<P>;
            level += 1;
        }
    }

    /// The value stored for `key`.
    #[inline]
    pub(crate) fn load(&self, key: usize) -> Option<usize> {
        let (_, _, w) = self.walk(self.hash(key));
        self.match_entry(w, key, Want::Any)
    }

    /// The value of the entry behind `w` if it is one for `key` and `want` accepts it.
    #[inline(always)]
    fn match_entry(&self, w: usize, key: usize, want: Want) -> Option<usize> {
        if w & ENTRY == 0 {
            return None;
        }
        let e = entry::<P>(w);
        // SAFETY: a published entry (read with Acquire, or under the lock it was
        // published under), kept alive as in `walk`.
        let (k, v) = unsafe { ((*e).key.get(), (*e).value.get()) };
        if k == key && want.accepts(v) {
            self.platform.acquire(e);
            Some(v)
        } else {
            None
        }
    }

    /// Locks the node that holds `h`'s slot, once it holds 0 or an entry there and is
    /// still linked (step W2 of the essay): returns with the node locked.
    fn lock_slot(&self, h: u64) -> Locked<P> {
        loop {
            let (node, level, _) = self.walk(h);
            // SAFETY: as in `walk`.
            let n = unsafe { &*node };
            n.lock.lock();
            let word = n.children[digit(h, level)].load(Ordering::Relaxed);
            if n.parent.load(Ordering::Relaxed) & DEAD == 0 && (word == 0 || word & ENTRY != 0) {
                return Locked { node, level, word };
            }
            // Expanded or unlinked since the walk: start again.
            n.lock.unlock();
        }
    }

    fn unlock(&self, l: &Locked<P>) {
        // SAFETY: locked by `lock_slot`, alive as in `walk`.
        unsafe { (*l.node).lock.unlock() }
    }

    fn slot<'a>(&self, l: &Locked<P>, h: u64) -> &'a P::Word {
        // SAFETY: as in `unlock`.
        unsafe { &(*l.node).children[digit(h, l.level)] }
    }

    /// Under the node's lock: puts the new entry `new` (not yet published) in the slot
    /// that holds `l.word` (0 or an entry for another key), expanding as needed (W3).
    fn insert_locked(&self, l: &Locked<P>, h: u64, new: *const Entry<P>) {
        let new_w = new as usize | ENTRY;
        self.platform.release(new);
        let slot = self.slot(l, h);
        if l.word == 0 {
            self.platform.publish(slot, new_w);
            return;
        }
        // Another key shares the digits down to here: a chain of new nodes down to the
        // level where the two part, built privately, then published by one store.
        // SAFETY: a published entry, alive as in `walk`.
        let old_h = self.hash(unsafe { (*entry::<P>(l.word)).key.get() });
        let top = self.platform.new_node(l.node);
        let mut cur = top;
        let mut level = l.level + 1;
        loop {
            assert!(level < LEVELS, "sync.Map: hash bits exhausted (two keys with one hash)");
            let (a, b) = (digit(old_h, level), digit(h, level));
            // SAFETY: `cur` is ours alone until `top` is published.
            let c = unsafe { &*cur };
            if a != b {
                c.children[a].store(l.word, Ordering::Relaxed);
                c.children[b].store(new_w, Ordering::Relaxed);
                break;
            }
            let next = self.platform.new_node(cur);
            c.children[a].store(next as usize, Ordering::Relaxed);
            cur = next;
            level += 1;
        }
        self.platform.publish(slot, top as usize);
    }

    /// Stores `value` for `key`; the previous value, if there was one (Go's Swap).
    pub(crate) fn swap(&self, key: usize, value: usize) -> Option<usize> {
        let h = self.hash(key);
        let new = self.platform.new_entry(key, value);
        let l = self.lock_slot(h);
        let prev = self.match_entry(l.word, key, Want::Any);
        if prev.is_some() {
            self.platform.release(new);
            self.platform.publish(self.slot(&l, h), new as usize | ENTRY);
        } else {
            self.insert_locked(&l, h, new);
        }
        self.unlock(&l);
        prev
    }

    /// The value stored for `key` (Ok), or stores `value` (Err(value), Go's `loaded` false).
    pub(crate) fn load_or_store(&self, key: usize, value: usize) -> Result<usize, usize> {
        let h = self.hash(key);
        let (_, _, w) = self.walk(h);
        if let Some(v) = self.match_entry(w, key, Want::Any) {
            return Ok(v);
        }
        let new = self.platform.new_entry(key, value);
        let l = self.lock_slot(h);
        let found = self.match_entry(l.word, key, Want::Any);
        if found.is_none() {
            self.insert_locked(&l, h, new);
        }
        self.unlock(&l);
        found.ok_or(value)
    }

    /// Replaces `key`'s value by `new` if it is `old`.
    pub(crate) fn compare_and_swap(&self, key: usize, old: usize, new_value: usize) -> bool {
        let h = self.hash(key);
        let (_, _, w) = self.walk(h);
        if self.match_entry(w, key, Want::Value(old)).is_none() {
            return false;
        }
        let new = self.platform.new_entry(key, new_value);
        let l = self.lock_slot(h);
        let ok = self.match_entry(l.word, key, Want::Value(old)).is_some();
        if ok {
            self.platform.release(new);
            self.platform.publish(self.slot(&l, h), new as usize | ENTRY);
        }
        self.unlock(&l);
        ok
    }

    /// Deletes `key`; its value, if it was present (Go's LoadAndDelete).
    pub(crate) fn load_and_delete(&self, key: usize) -> Option<usize> {
        self.delete_if(key, Want::Any)
    }

    /// Deletes `key` if its value is `old`.
    pub(crate) fn compare_and_delete(&self, key: usize, old: usize) -> bool {
        self.delete_if(key, Want::Value(old)).is_some()
    }

    fn delete_if(&self, key: usize, want: Want) -> Option<usize> {
        let h = self.hash(key);
        let (_, _, w) = self.walk(h);
        self.match_entry(w, key, want)?;
        let l = self.lock_slot(h);
        let Some(v) = self.match_entry(l.word, key, want) else {
            self.unlock(&l);
            return None;
        };
        self.platform.publish(self.slot(&l, h), 0);
        self.prune(l, h);
        Some(v)
    }

    /// D2: while the locked node is empty and not a root, unlink it from its parent
    /// (locked child-then-parent, always bottom-up) and mark it dead; unlocks.
    fn prune(&self, l: Locked<P>, h: u64) {
        let (mut node, mut level) = (l.node, l.level);
        loop {
            // SAFETY: locked by us, alive as in `walk`.
            let n = unsafe { &*node };
            let parent = n.parent.load(Ordering::Relaxed) as *const Node<P>;
            if parent.is_null() || n.children.iter().any(|c| c.load(Ordering::Relaxed) != 0) {
                n.lock.unlock();
                return;
            }
            debug_assert!(parent as usize & DEAD == 0 && level > 0);
            // SAFETY: the parent of a linked node is linked too (it is not empty), and
            // alive (the node's parent word is a pointer the collector follows).
            let p = unsafe { &*parent };
            p.lock.lock();
            let slot = &p.children[digit(h, level - 1)];
            debug_assert_eq!(slot.load(Ordering::Relaxed), node as usize);
            n.parent.store(parent as usize | DEAD, Ordering::Relaxed);
            self.platform.publish(slot, 0);
            n.lock.unlock();
            node = parent;
            level -= 1;
        }
    }

    /// Calls `f(key, value)` for the entries, in hash order, until it returns false
    /// (Go's Range; see the essay for what it guarantees). Holds no lock while `f` runs,
    /// and nothing in this frame needs dropping: `f` may leave by a panic's jump.
    pub(crate) fn range(&self, mut f: impl FnMut(usize, usize) -> bool) {
        let mut stack = [(std::ptr::null::<Node<P>>(), 0usize); LEVELS as usize];
        let mut depth = 0;
        let mut node = self.root.load(Ordering::Acquire) as *const Node<P>;
        let mut i = 0;
        loop {
            if i == FANOUT {
                if depth == 0 {
                    return;
                }
                depth -= 1;
                (node, i) = stack[depth];
                continue;
            }
            // SAFETY: as in `walk`; the nodes on `stack` are kept alive by it.
            let w = unsafe { (*node).children[i].load(Ordering::Acquire) };
            i += 1;
            if w == 0 {
                continue;
            }
            if w & ENTRY != 0 {
                let e = entry::<P>(w);
                // SAFETY: a published entry, alive as in `walk`.
                let (k, v) = unsafe { ((*e).key.get(), (*e).value.get()) };
                self.platform.acquire(e);
                if !f(k, v) {
                    return;
                }
                continue;
            }
            stack[depth] = (node, i);
            depth += 1;
            node = w as *const Node<P>;
            i = 0;
        }
    }

    /// Deletes every entry: a new empty root (the old trie is left to the platform's
    /// reclamation; writers still inside it finish there, before the clear).
    pub(crate) fn clear(&self) {
        let root = self.platform.new_node(std::ptr::null());
        self.root.store(root as usize, Ordering::Release);
    }

    /// Entries and nodes reachable now (tests, debugging): (entries, nodes, deepest level).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn shape(&self) -> (usize, usize, u32) {
        fn visit<P: Platform>(n: *const Node<P>, level: u32, acc: &mut (usize, usize, u32)) {
            acc.1 += 1;
            acc.2 = acc.2.max(level);
            // SAFETY: test-only, quiescent trie.
            for c in unsafe { &(*n).children } {
                let w = c.load(Ordering::Acquire);
                if w & ENTRY != 0 {
                    acc.0 += 1;
                } else if w != 0 {
                    visit(w as *const Node<P>, level + 1, acc);
                }
            }
        }
        let mut acc = (0, 0, 0);
        visit(self.root.load(Ordering::Acquire) as *const Node<P>, 0, &mut acc);
        acc
    }
}
