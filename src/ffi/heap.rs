//! "Garbage-collected heap (explicit roots)": allocation, roots, collection, finalizers,
//! memory statistics, and the threads the collector stops.

use super::error::{GORT_EINVAL, GORT_ENOMEM, set_errno};
use crate::gc::{self, barrier, finalize};
use crate::mem::heap::{GcType, Kind};
use crate::sched::world::{self, Error};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

/// Registers the calling thread with the garbage collector: while the heap is collected,
/// the thread is stopped and its stack and registers are scanned for pointers to heap
/// objects. Every thread gort does not own that keeps heap pointers in its stack or
/// registers must be registered; its first gort call (any but `gort_strerror`) registers it
/// automatically, and it is unregistered when it exits (a thread-exit destructor, so the
/// thread must end through `pthread_exit` or a return from its start routine, as usual).
/// Goroutines and the runtime's own threads are always registered. Returns 0 (also when
/// the thread was registered already), `GORT_ENOMEM` if no memory was left.
///
/// A registered thread is stopped by a signal, `SIGRTMIN+7` unless the environment variable
/// `GORT_GCSIGNAL` names another (a number). A handler the program installed for it
/// before the runtime started is kept and gets every such signal gort did not send (a Go
/// program's runtime has a handler on every signal); the program must not install one
/// after, and a registered thread must not block it (`pthread_sigmask`): registration
/// unblocks it, and the collector waits for a thread that blocks it (warning on stderr
/// every 5 s). The handler is installed with `SA_RESTART` and `SA_ONSTACK`, so most blocking calls of a
/// stopped thread resume by themselves; those that signal(7) says are never restarted
/// fail with `EINTR` (or return early) when a collection interrupts them and must be
/// retried: `epoll_wait`, `poll`, `select`, `nanosleep`, `clock_nanosleep`, `sleep`,
/// `usleep`, `sigtimedwait`, socket calls with `SO_RCVTIMEO`/`SO_SNDTIMEO`, System V
/// message and semaphore calls, `io_getevents`, inotify reads. C code in goroutines sees
/// the same (Go's own preemption signal has the same effect on cgo code).
#[unsafe(no_mangle)]
pub extern "C" fn gort_thread_register() -> c_int {
    guard!("gort_thread_register", {
        match world::register_current_thread() {
            Ok(()) => 0,
            Err(_) => GORT_ENOMEM,
        }
    })
}

/// Unregisters the calling thread, which from now on keeps no heap pointers in its stack
/// or registers: it is no longer stopped or scanned by the collector (nor interrupted by
/// its signal). Its next gort call registers it again. `GORT_EINVAL` for a thread that is
/// not registered, and inside a goroutine or on a runtime thread (they stay registered).
#[unsafe(no_mangle)]
pub extern "C" fn gort_thread_unregister() -> c_int {
    guard!(no_register "gort_thread_unregister", {
        match world::unregister_current_thread() {
            Ok(()) => 0,
            Err(Error::NotRegistered | Error::RuntimeThread) => GORT_EINVAL,
            Err(Error::NoMemory) => GORT_ENOMEM,
        }
    })
}

/// A type of heap object: its size and where its pointer fields are. Made once by
/// `gort_type_new` and never freed (types are immortal, like Go's).
pub struct gort_type {
    _private: [u8; 0],
}

fn gc_panic(msg: String) -> ! {
    crate::panic::panic_msg(CString::new(msg).expect("no NUL"))
}

/// A new type named `name` (shown in debug output), `size` bytes, whose pointer fields
/// (the only words the collector reads in its objects) start at the `n_ptrs` byte offsets
/// in `ptr_offsets`. Each offset must be a multiple of `sizeof(void *)` with a whole
/// pointer inside `size`; the list may be in any order (a repeated offset counts once),
/// and NULL when `n_ptrs` is 0. Returns NULL with errno `EINVAL` for a NULL name, a bad
/// offset, or a size above 1 TiB. A type without pointer fields is fine (its objects are
/// never scanned), as is a size of 0.
///
/// ```c
/// #include <gort.h>
/// #include <stddef.h>
/// struct node { struct node *left, *right; long value; };
/// int main(void) {
///     static const size_t ptrs[] = { offsetof(struct node, left), offsetof(struct node, right) };
///     const gort_type *node_type = gort_type_new("node", sizeof(struct node), ptrs, 2);
///     struct node *root = gort_new(node_type);          /* a local: a root while in use */
///     root->left = gort_new(node_type);                 /* kept alive through root */
///     gort_gc();
///     return root->left != NULL && root->left->value == 0 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_type_new(
    name: *const c_char,
    size: usize,
    ptr_offsets: *const usize,
    n_ptrs: usize,
) -> *const gort_type {
    guard!("gort_type_new", {
        if name.is_null() || (ptr_offsets.is_null() && n_ptrs > 0) {
            set_errno(GORT_EINVAL);
            return std::ptr::null();
        }
        // SAFETY: a NUL-terminated string per the contract.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        let offsets = if n_ptrs == 0 {
            &[][..]
        } else {
            // SAFETY: n_ptrs readable offsets per the contract.
            unsafe { std::slice::from_raw_parts(ptr_offsets, n_ptrs) }
        };
        match GcType::new(&name, size, offsets) {
            Ok(t) => t as *const GcType as *const gort_type,
            Err(_) => {
                set_errno(GORT_EINVAL);
                std::ptr::null()
            }
        }
    })
}

fn ty<'a>(t: *const gort_type) -> Option<&'a GcType> {
    // SAFETY: a non-null gort_type came from gort_type_new: an immortal GcType.
    unsafe { (t as *const GcType).as_ref() }
}

fn alloc_or_errno(size: usize, kind: Kind) -> *mut c_void {
    match gc::alloc(size, kind) {
        Ok(p) => p.as_ptr() as *mut c_void,
        Err(gc::AllocError::NoMemory) => {
            set_errno(GORT_ENOMEM);
            std::ptr::null_mut()
        }
    }
}

/// A new zeroed object of type `t` on the garbage-collected heap. It lives while a
/// pointer to any of its bytes is in a registered root range, on a goroutine's or a
/// gort-using thread's stack or registers, in a pointer field (as declared by its type)
/// of a live object, or in bytes the runtime holds for the program (goroutine and timer
/// arguments, channel buffers, elements being sent, finalizer arguments). Memory from
/// `malloc` and C globals are not scanned unless registered with `gort_root_add`.
///
/// NULL with errno `EINVAL` for a NULL type; NULL with `ENOMEM` only when a memory limit
/// is set (`gort_set_memory_limit`) and a collection cannot bring the heap under it, or
/// when the OS refuses memory.
///
/// A forgotten root is a use-after-free. To find one, run with
/// `GORT_DEBUG=gcstress=1,gcpoison=1`: a collection at every allocation, and freed objects
/// filled with `0xdb` bytes and kept out of reuse for a while.
///
/// ```c
/// #include <gort.h>
/// #include <stddef.h>
/// struct node { struct node *next; long value; };
/// int main(void) {
///     static const size_t ptrs[] = { offsetof(struct node, next) };
///     const gort_type *node = gort_type_new("node", sizeof(struct node), ptrs, 1);
///     static struct node *head;                         /* a C global: register it */
///     gort_root_add(&head, sizeof head);
///     for (long i = 0; i < 1000; i++) {
///         struct node *n = gort_new(node);
///         n->value = i;
///         n->next = head;                               /* plain stores are fine */
///         head = n;
///     }
///     gort_gc();                                        /* the list survives */
///     long sum = 0;
///     for (struct node *n = head; n; n = n->next) sum += n->value;
///     gort_root_remove(&head);
///     return sum == 999L * 1000 / 2 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_new(t: *const gort_type) -> *mut c_void {
    guard!("gort_new", {
        let Some(t) = ty(t) else {
            set_errno(GORT_EINVAL);
            return std::ptr::null_mut();
        };
        if let Some(p) = gc::alloc_one_fast(t) {
            return p.as_ptr() as *mut c_void;
        }
        alloc_or_errno(t.size(), Kind::Typed(t))
    })
}

/// `n` consecutive zeroed elements of type `t` in one object (an array: a pointer to any
/// element keeps the whole array alive). NULL with errno `EINVAL` for a NULL type or a
/// total size that overflows; `ENOMEM` as for `gort_new`. `n == 0` gives a valid pointer
/// to no bytes.
#[unsafe(no_mangle)]
pub extern "C" fn gort_new_array(t: *const gort_type, n: usize) -> *mut c_void {
    guard!("gort_new_array", {
        let Some(t) = ty(t) else {
            set_errno(GORT_EINVAL);
            return std::ptr::null_mut();
        };
        let Some(size) = t.size().checked_mul(n).filter(|&s| s <= isize::MAX as usize) else {
            set_errno(GORT_EINVAL);
            return std::ptr::null_mut();
        };
        alloc_or_errno(size, Kind::Typed(t))
    })
}

/// `size` zeroed bytes that the collector never scans: for data with no pointers to GC
/// objects (strings, numbers, buffers). NULL with errno `EINVAL` for a size above
/// `PTRDIFF_MAX`; `ENOMEM` as for `gort_new`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_alloc_noscan(size: usize) -> *mut c_void {
    guard!("gort_alloc_noscan", {
        if size > isize::MAX as usize {
            set_errno(GORT_EINVAL);
            return std::ptr::null_mut();
        }
        alloc_or_errno(size, Kind::NoScan)
    })
}

/// Makes `[addr, addr + size)` a root: every aligned word in it is read at each
/// collection, and keeps alive the object it points into. For C globals and `malloc`ed
/// memory that hold GC pointers. Returns 0; `GORT_EINVAL` for NULL, a size of 0, a range
/// that wraps around, or one that overlaps a registered range.
#[unsafe(no_mangle)]
pub extern "C" fn gort_root_add(addr: *mut c_void, size: usize) -> c_int {
    guard!("gort_root_add", {
        if addr.is_null() || size == 0 {
            return GORT_EINVAL;
        }
        match gc::roots::add_range(addr as usize, size) {
            Ok(()) => 0,
            Err(_) => GORT_EINVAL,
        }
    })
}

/// Unregisters the range that starts at `addr`; what only it kept alive becomes
/// collectable. Returns 0, or `GORT_EINVAL` if no registered range starts at `addr`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_root_remove(addr: *mut c_void) -> c_int {
    guard!("gort_root_remove", {
        if addr.is_null() {
            return GORT_EINVAL;
        }
        match gc::roots::remove_range(addr as usize) {
            Ok(()) => 0,
            Err(_) => GORT_EINVAL,
        }
    })
}

/// `*slot = ptr` for a pointer field of a heap object. In the default stop-the-world
/// mode a plain C store does the same. In the concurrent mode this is the write barrier:
/// while a mark runs it shades the value the slot held and the one stored (Go's hybrid
/// barrier), so every store that overwrites a pointer field of a heap object must use
/// it (a field still NULL, stack variables and registered roots need not).
/// `GORT_DEBUG=gccheckmark=1` finds a store that skipped it. `gort.h` inlines the path
/// with no mark running (a load of a flag, then the store); define
/// `GORT_NO_INLINE_STORE`, or write `(gort_store)(slot, ptr)`, to call this function.
/// A NULL `slot` is a gort panic; a misaligned one is stored bytewise (not atomically).
#[unsafe(no_mangle)]
pub extern "C" fn gort_store(slot: *mut *mut c_void, ptr: *mut c_void) {
    guard!("gort_store", {
        if slot.is_null() {
            gc_panic("gort_store: nil slot".into());
        }
        if !(slot as usize).is_multiple_of(std::mem::align_of::<*mut c_void>()) {
            let bytes = std::mem::size_of::<*mut c_void>();
            // SAFETY: a writable slot per the contract; a misaligned one cannot be atomic
            // (a byte copy, with the barrier's shading when it is on).
            unsafe { barrier::store_range(slot as *mut u8, &ptr as *const *mut c_void as *const u8, bytes) };
            return;
        }
        if barrier::active() {
            // SAFETY: a writable, aligned pointer slot per the contract.
            unsafe { barrier::store(slot as *mut usize, ptr as usize) };
            return;
        }
        // SAFETY: a writable, aligned pointer slot per the contract; atomic so that a
        // concurrent reader never sees a torn pointer.
        unsafe { AtomicPtr::from_ptr(slot) }.store(ptr, Ordering::Release);
    })
}

/// `memmove(dst, src, n)` for memory that holds GC pointers (the write barrier of the
/// concurrent mode, as `gort_store`: while a mark runs, every pointer-aligned word of
/// `dst` and `src` is shaded as a possible pointer). NULL `dst` or `src` with `n > 0` is
/// a gort panic.
#[unsafe(no_mangle)]
pub extern "C" fn gort_store_range(dst: *mut c_void, src: *const c_void, n: usize) {
    guard!("gort_store_range", {
        if n == 0 {
            return;
        }
        if dst.is_null() || src.is_null() {
            gc_panic("gort_store_range: nil pointer".into());
        }
        if barrier::active() {
            // SAFETY: n bytes readable at src and writable at dst per the contract.
            unsafe { barrier::store_range(dst as *mut u8, src as *const u8, n) };
            return;
        }
        // SAFETY: n bytes readable at src and writable at dst per the contract; copy
        // handles overlap.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, n) };
    })
}

/// Atomically replaces `*slot` with `ptr` if it holds `old` (with the write barrier of
/// the concurrent mode). Returns 1 if it did, 0 if not, `GORT_EINVAL` for a NULL or
/// misaligned `slot`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_cas_ptr(slot: *mut *mut c_void, old: *mut c_void, ptr: *mut c_void) -> c_int {
    guard!("gort_cas_ptr", {
        if slot.is_null() || !(slot as usize).is_multiple_of(std::mem::align_of::<*mut c_void>()) {
            return GORT_EINVAL;
        }
        if barrier::active() {
            // SAFETY: a valid, aligned pointer slot per the contract.
            return c_int::from(unsafe { barrier::cas(slot as *mut usize, old as usize, ptr as usize) });
        }
        // SAFETY: a valid, aligned pointer slot per the contract.
        let a = unsafe { AtomicPtr::from_ptr(slot) };
        c_int::from(a.compare_exchange(old, ptr, Ordering::AcqRel, Ordering::Acquire).is_ok())
    })
}

/// Keeps `obj` alive until this call: a collection cannot free it (nor run its finalizer)
/// before the call, even if the program's last use of it came earlier. Go's
/// `runtime.KeepAlive`. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn gort_keep_alive(obj: *const c_void) {
    // No guard: nothing here can fail, and it must stay usable everywhere. Passing the
    // pointer to an opaque call is what keeps it in a root until here.
    std::hint::black_box(obj);
}

/// Runs a full collection and waits for it, sweeping included (Go's `runtime.GC`).
/// Finalizers found by it run afterwards, in their own goroutine.
#[unsafe(no_mangle)]
pub extern "C" fn gort_gc() {
    guard!("gort_gc", { gc::gc() })
}

/// Sets the collection target percentage (like `debug.SetGCPercent`; negative: off, so
/// nothing is collected until the memory limit). Returns the previous value.
#[unsafe(no_mangle)]
pub extern "C" fn gort_set_gc_percent(percent: c_int) -> c_int {
    guard!("gort_set_gc_percent", { gc::set_gc_percent(percent) })
}

/// Sets the soft memory limit in bytes (like `debug.SetMemoryLimit`), counting the heap
/// and goroutine stacks; collections get more frequent as the heap nears it, and an
/// allocation returns NULL with `ENOMEM` only if a collection cannot bring memory under
/// it. Negative: only query. Returns the previous limit (`INT64_MAX`: none).
#[unsafe(no_mangle)]
pub extern "C" fn gort_set_memory_limit(bytes: i64) -> i64 {
    guard!("gort_set_memory_limit", { gc::set_memory_limit(bytes) })
}

/// Collects, then returns every free heap page to the OS at once (Go's
/// `debug.FreeOSMemory`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_free_os_memory() {
    guard!("gort_free_os_memory", { gc::free_os_memory() })
}

/// Go's `runtime.SetFinalizer`: once `obj` is unreachable, a collection queues
/// `fn(obj, arg)`, which runs in a finalizer goroutine (one at a time, in order); `obj`
/// is kept alive for it and freed by a later collection unless `fn` stores it somewhere.
/// What `obj` points to stays alive until then. Objects in a cycle that all have
/// finalizers are never finalized (nor freed), as in Go. `arg` is a root. `fn` NULL
/// clears the finalizer. Returns 0; `GORT_EINVAL` if `obj` is not the start of a heap
/// object. Setting a second finalizer is a fatal error, as in Go.
#[unsafe(no_mangle)]
pub extern "C" fn gort_set_finalizer(
    obj: *mut c_void,
    f: Option<unsafe extern "C" fn(obj: *mut c_void, arg: *mut c_void)>,
    arg: *mut c_void,
) -> c_int {
    guard!("gort_set_finalizer", {
        let Some(o) = gc::object_at(obj as usize) else { return GORT_EINVAL };
        match f {
            None => {
                finalize::set_finalizer(o.base(), None);
            }
            Some(f) => {
                let fin = finalize::Finalizer { f, arg: arg as usize };
                if let Some(prev) = finalize::set_finalizer(o.base(), Some(fin)) {
                    finalize::set_finalizer(o.base(), Some(prev));
                    crate::fatal::fatal("runtime.SetFinalizer: finalizer already set");
                }
            }
        }
        0
    })
}

/// Go 1.24's `runtime.AddCleanup`: once the object `obj` points into is unreachable, a
/// collection queues `fn(arg)` (many cleanups per object are fine; they run in the
/// finalizer goroutine). Unlike a finalizer, the object is freed at once. `arg` is a
/// root: if it keeps `obj` alive the cleanup never runs, as in Go. Returns 0;
/// `GORT_EINVAL` for a NULL `fn` or an `obj` that is not in a heap object. `arg == obj`
/// is a gort panic, as in Go.
#[unsafe(no_mangle)]
pub extern "C" fn gort_add_cleanup(
    obj: *mut c_void,
    f: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    arg: *mut c_void,
) -> c_int {
    guard!("gort_add_cleanup", {
        let Some(f) = f else { return GORT_EINVAL };
        gc::ensure_init();
        let Some(o) = crate::mem::heap::find_object(obj as usize) else { return GORT_EINVAL };
        if arg == obj {
            gc_panic("runtime.AddCleanup: ptr is equal to arg, cleanup will never run".into());
        }
        finalize::add_cleanup(o.base(), finalize::Cleanup { f, arg: arg as usize });
        0
    })
}

/// Memory statistics, like Go's `runtime.MemStats`. The caller zeroes it and sets `size`
/// to `sizeof(gort_memstats)`; fields past `size` are not written, so a program built
/// against an older, shorter struct keeps working.
#[repr(C)]
pub struct gort_memstats {
    /// `sizeof(gort_memstats)`, set by the caller.
    pub size: usize,
    /// Bytes of allocated heap objects: live ones and those not yet swept (Go's HeapAlloc).
    pub heap_alloc: u64,
    /// Bytes of heap address space backed by memory (spans in use or free, not released).
    pub heap_sys: u64,
    /// Bytes of heap memory returned to the OS.
    pub heap_released: u64,
    /// Allocated heap objects.
    pub heap_objects: u64,
    /// Cumulative bytes allocated.
    pub total_alloc: u64,
    /// Cumulative objects allocated and freed.
    pub mallocs: u64,
    pub frees: u64,
    /// Bytes of goroutine and thread stacks in use at the last collection (from each
    /// stack's top to its stack pointer).
    pub stack_inuse: u64,
    /// What the runtime obtained from the OS for the heap and stacks: the heap's arena
    /// address space (released pages included, as Go's `Sys`), its metadata, and the
    /// goroutine stacks in use.
    pub sys: u64,
    /// The heap goal: the next collection starts when `heap_alloc` reaches it (0: none,
    /// collection off without a limit).
    pub next_gc: u64,
    /// `gort_now()` at the end of the last collection (0: none yet).
    pub last_gc_ns: u64,
    /// Total time the world was stopped for collections.
    pub pause_total_ns: u64,
    /// Recent pauses, circular: `pause_ns[(num_gc + 255) % 256]` is the last.
    pub pause_ns: [u64; 256],
    /// The longest pause since the start.
    pub pause_max_ns: u64,
    /// Completed collections, and how many of them `gort_gc` (or the memory limit) forced.
    pub num_gc: u32,
    pub num_forced_gc: u32,
    /// The fraction of the CPU time available to the program (all Ps since the start)
    /// that the collector used.
    pub gc_cpu_fraction: f64,
}

/// Fills `out` (see `gort_memstats`). A NULL `out`, or a `size` too small for the `size`
/// field itself, is a gort panic.
#[unsafe(no_mangle)]
pub extern "C" fn gort_read_memstats(out: *mut gort_memstats) {
    guard!("gort_read_memstats", {
        if out.is_null() {
            gc_panic("gort_read_memstats: nil memstats".into());
        }
        // SAFETY: the caller provides at least `size` bytes (its first field, which we
        // read alone first).
        let size = unsafe { std::ptr::addr_of!((*out).size).read_unaligned() };
        if size < std::mem::size_of::<usize>() {
            gc_panic("gort_read_memstats: size not set (set it to sizeof(gort_memstats))".into());
        }
        gc::ensure_init();
        let s = gc::stats::read();
        let mut full = gort_memstats {
            size,
            heap_alloc: s.heap_alloc,
            heap_sys: s.heap_sys,
            heap_released: s.heap_released,
            heap_objects: s.heap_objects,
            total_alloc: s.total_alloc,
            mallocs: s.mallocs,
            frees: s.frees,
            stack_inuse: s.stack_inuse,
            sys: s.sys,
            next_gc: s.next_gc,
            last_gc_ns: s.last_gc_ns,
            pause_total_ns: s.pause_total_ns,
            pause_ns: [0; 256],
            pause_max_ns: s.pause_max_ns,
            num_gc: s.num_gc,
            num_forced_gc: s.num_forced_gc,
            gc_cpu_fraction: s.gc_cpu_fraction,
        };
        full.pause_ns.copy_from_slice(&s.pause_ns);
        let n = size.min(std::mem::size_of::<gort_memstats>());
        // SAFETY: `n` bytes are writable at `out` (the caller's `size`, at most ours).
        unsafe { std::ptr::copy_nonoverlapping(&full as *const gort_memstats as *const u8, out as *mut u8, n) };
    })
}
