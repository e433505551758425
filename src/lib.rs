//! gort: Go's runtime rebuilt in Rust, shipped as a C library.
//!
//! Layers, bottom up (see ARCHITECTURE.md for the map):
//! - [`arch`]: the context switch (hand-written assembly, x86_64 and aarch64).
//! - [`mem`]: goroutine stacks (and, once the planned GC lands, its heap) taken from the OS.
//! - [`sched`]: the G-M-P scheduler, sysmon, park/ready.
//! - [`time`]: the monotonic clock, per-P timer heaps, sleep.
//! - [`chan`]: channels and select.
//! - [`netpoll`]: epoll, poll descriptors, goroutine-parking fd I/O.
//! - [`net`]: TCP, UDP and Unix sockets on the netpoller; address parsing, resolution.
//! - [`sync`]: Mutex, RWMutex, Cond, WaitGroup, Once, Sema on one semaphore table.
//! - [`mod@panic`]: panic, protect and defer for C.
//! - [`gc`]: the garbage collector (roots so far).
//! - [`runtime`]: configuration and start-up.
//! - [`os`]: errno, read so that it survives a goroutine moving between threads.
//! - `ffi`: the C API (`include/gort.h` is generated from it), one file per section of
//!   the header; nothing below it knows about C.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unreachable_pub)]
// These docs are for gort's maintainers (C users read gort.h): they link to private items
// on purpose, and `cargo doc --document-private-items` renders those links.
#![allow(rustdoc::private_intra_doc_links)]

mod arch;
mod chan;
mod debug;
mod fatal;
mod gc;
mod mem;
mod net;
mod netpoll;
mod os;
mod panic;
mod runtime;
mod sched;
mod sync;
mod time;

mod ffi;
