//! Memory the runtime takes from the OS for itself: goroutine stacks (this issue) and,
//! later, the garbage-collected heap.
//!
//! - [`stack`]: stack slots carved from large `MAP_NORESERVE` chunks, guard pages installed
//!   with `MADV_GUARD_INSTALL` so a million stacks cost a thousand mappings, not a million.
//! - [`valgrind`]: client requests so valgrind knows about those stacks.

pub mod stack;
pub mod valgrind;
