//! Goroutine-aware synchronisation: Mutex, RWMutex, Cond, WaitGroup, Once and a counting
//! semaphore, all built on one runtime semaphore table keyed by address (Go's
//! `semtable`), all ready when zero-initialised, all usable from goroutines and from
//! threads the runtime does not own alike.
//!
//! # Concepts
//! - [`semtable`]: wait queues keyed by the address of a word in the caller's memory. A
//!   primitive needs no allocation, no constructor and no destructor: a zeroed struct is
//!   a valid one, and a queue exists only while somebody waits. Blocking goes through
//!   `sched::Waiter` like channels do, so a goroutine parks (its thread runs other
//!   goroutines) and a foreign thread sleeps on its own futex, both with deadlines.
//! - [`semtable::semacquire`]/[`semtable::semrelease`]: the binary runtime semaphore the
//!   mutex, RWMutex and WaitGroup sleep on. The count lives in the primitive; release
//!   increments it and wakes a waiter only if the bucket has any (`nwait`, read after the
//!   increment; acquirers count themselves before re-checking — a Dekker pair, so a
//!   wake-up is never lost). Exception: a WaitGroup's single goroutine waiter parks in a
//!   slot inside the WaitGroup and is woken directly ([`waitgroup`]).
//! - The primitives keep their fast paths in their own atomics, as Go's do: an
//!   uncontended lock or unlock is one CAS and never touches the table.
//!
//! # Invariants
//! - Every sleeping waiter has exactly one record in exactly one queue, and the record
//!   lives on its stack; a waker touches a record only between claiming the waiter's
//!   wait word and waking it (`sched::waiter`).
//! - Semaphore counts never go negative (all takers CAS from a positive value).
//! - Misuse is never silent: unlocking an unlocked Mutex or RWMutex is a fatal error, a
//!   negative WaitGroup counter and WaitGroup reuse are panics, exactly as in Go.
//!
//! # Rejected
//! - Go's per-bucket treap of addresses: with many distinct addresses in one bucket
//!   (thousands of WaitGroups in a fork/join tree) every acquire walks it
//!   (golang/go#38420). A hash map per bucket makes the lookup O(1).
//! - A futex per primitive: it would block the thread, not park the goroutine.
//! - Heap-allocated primitives behind handles: they could not be zero-initialised, and
//!   every mutex would need a `_free`.

pub(crate) mod cond;
#[cfg(all(test, loom))]
mod model_sema;
pub(crate) mod mutex;
pub(crate) mod once;
pub(crate) mod pool;
pub(crate) mod rwmutex;
pub(crate) mod sema;
pub(crate) mod semtable;
pub(crate) mod syncmap;

pub(crate) use cond::Cond;
pub(crate) use mutex::Mutex;
pub(crate) use once::Once;
pub(crate) use rwmutex::RwMutex;
pub(crate) use sema::{AcquireError, Sema};
pub(crate) use waitgroup::WaitGroup;

pub(crate) mod waitgroup;
