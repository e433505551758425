//! Memory the runtime takes from the OS for itself: goroutine stacks (this issue) and,
//! later, the garbage-collected heap.
//!
//! - [`stack`]: stack slots carved from large `MAP_NORESERVE` chunks, guard pages installed
//!   with `MADV_GUARD_INSTALL` so a million stacks cost a thousand mappings, not a million.
//! - [`scavenge`]: the scavenger, a background thread that gives memory idle in the pools
//!   (stacks now, the heap later) back to the OS; sources of idle memory plug into it.
//! - [`heap`]: the garbage-collected heap's allocator (size classes, spans, arenas, per-P
//!   caches, sweeping); the collector in `gc` drives it.
//! - [`valgrind`]: client requests so valgrind knows about those stacks.

pub(crate) mod heap;
pub(crate) mod scavenge;
pub(crate) mod stack;
pub(crate) mod valgrind;
