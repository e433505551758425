//! "sync.Pool and sync.Map". Caller mistakes follow the rule in the header's preamble:
//! `gort_pool_get(NULL)` is NULL with errno `EINVAL`, `gort_pool_put(NULL, x)` a gort panic
//! (`gort_pool_put: nil pool`), `gort_pool_free(NULL)` is ignored (as `free(3)` does);
//! using a pool after (or while) `gort_pool_free` runs is a fatal error when it can be
//! seen (the freed pool's memory was not reused yet).

use super::error::{GORT_EINVAL, set_errno};
use std::ffi::c_void;
use std::ptr;

// ---------------------------------------------------------------------------------------
// sync.Pool
// ---------------------------------------------------------------------------------------

use crate::sync::pool::Pool;

// Not `repr(C)`: cbindgen emits an opaque typedef, as for `gort_chan`.
/// A pool of interchangeable objects (opaque), Go's `sync.Pool`: per-P caches that get
/// and put without locks, emptied across collections. Made by `gort_pool_new`, owned by
/// the caller until `gort_pool_free`.
pub struct gort_pool {
    _private: [u8; 0],
}

/// The live pool behind a C pointer, or None for NULL; a fatal error for a pool that is
/// being freed or was freed (when its memory still says so).
fn live_pool<'a>(p: *mut gort_pool, func: &str) -> Option<&'a Pool> {
    // SAFETY: non-null pointers come from gort_pool_new, per the API contract; a freed
    // pool is the caller's error, detected below while its memory is still poisoned.
    let pool = unsafe { (p as *const Pool).as_ref() }?;
    if !pool.is_live() {
        crate::fatal::fatal(&format!("{func}: pool used after gort_pool_free"));
    }
    Some(pool)
}

/// Makes a pool (Go's `sync.Pool{New: ...}`). `new_fn(ctx)` makes an object when a get
/// finds the pool empty; with `new_fn` NULL such a get returns NULL. `free_fn(obj, ctx)`
/// is called for every object the pool drops; it may be NULL (the objects are then just
/// forgotten: right for objects of the GC heap, a leak for `malloc`ed ones). Never NULL
/// (the allocation of a few hundred bytes is the only failure, and fatal).
///
/// What a pool keeps, and when `free_fn` runs:
/// - A put keeps the object for later gets, on the calling goroutine's P (private slot,
///   then a chain of rings other Ps steal from); a get takes from its own P first, then
///   steals, then calls `new_fn`. Neither takes a lock on a goroutine; threads the runtime
///   does not own (and goroutines in a blocking region) share one locked list per pool.
///   Which object a get returns is unspecified (Go's rule): do not rely on getting back
///   what you put, or on anything surviving in the pool.
/// - Each collection moves what the pool holds to a *victim* cache that gets still take
///   from, and drops what the previous collection moved there (Go's victim cache): an
///   object unused for two collections is dropped. `free_fn` runs on each dropped object
///   on a runtime goroutine, soon after the collection (not before `gort_gc` returns; as
///   with finalizers, poll if you must see it); that goroutine calls it for one object
///   at a time.
/// - A pool holds at most 2041 objects per P that used it (plus 2040 for threads without
///   a P) in each of its two generations. A put that finds its P's share full drops the
///   object at once: `free_fn` runs inside that `gort_pool_put`, on the calling thread
///   (so `free_fn` may run on several threads at once, like the program's own code).
///   Without collections (`GORT_GC=off`, `gort_set_gc_percent(-1)`, or a program that
///   never uses the GC heap) this bound is what keeps the pool from growing.
/// - Objects in a pool are roots for the collector: a `gort_new`/`gort_alloc_noscan`
///   object stays alive while the pool (or its pending `free_fn` call) holds it.
///
/// `new_fn` and `free_fn` are called with no lock held and may call any gort function,
/// except that a `free_fn` called by the collection's goroutine must not free its own
/// pool (a fatal error).
///
/// Example: a pool of `malloc`ed buffers.
///
/// ```c
/// #include <gort.h>
/// #include <stdlib.h>
/// #include <string.h>
///
/// static void *new_buf(void *ctx) { (void)ctx; return malloc(4096); }
/// static void free_buf(void *obj, void *ctx) { (void)ctx; free(obj); }
///
/// int main(void) {
///     gort_pool *bufs = gort_pool_new(new_buf, free_buf, NULL);
///     for (int i = 0; i < 1000; i++) {
///         char *b = gort_pool_get(bufs);   /* from the pool, or new_buf */
///         memset(b, 'x', 4096);
///         gort_pool_put(bufs, b);          /* back for the next get */
///     }
///     gort_pool_free(bufs);                /* free_buf on what it still holds */
///     return 0;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_pool_new(
    new_fn: Option<unsafe extern "C" fn(ctx: *mut c_void) -> *mut c_void>,
    free_fn: Option<unsafe extern "C" fn(obj: *mut c_void, ctx: *mut c_void)>,
    ctx: *mut c_void,
) -> *mut gort_pool {
    guard!("gort_pool_new", { Pool::create(new_fn, free_fn, ctx) as *mut gort_pool })
}

/// Takes an object from the pool (Go's `Pool.Get`): one put earlier by any goroutine or
/// thread, preferring this P's own; if the pool has none, `new_fn(ctx)`'s result, or NULL
/// without `new_fn`. On one P with no collection in between, a get returns the object of
/// the last put (`GORT_MAXPROCS=1`: put `x`, get → `x`). On a thread the runtime does not
/// own (or a goroutine inside `gort_blocking_enter`), it takes from the pool's shared
/// list for such threads first, under a lock, then steals from the Ps like any get. NULL
/// with errno `EINVAL` if `p` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_pool_get(p: *mut gort_pool) -> *mut c_void {
    guard!("gort_pool_get", {
        match live_pool(p, "gort_pool_get") {
            Some(pool) => pool.get(),
            None => {
                set_errno(GORT_EINVAL);
                ptr::null_mut()
            }
        }
    })
}

/// Adds `obj` to the pool (Go's `Pool.Put`); a NULL `obj` is ignored. The pool may drop
/// it at once when this P's share is full (`free_fn` runs before this returns; see
/// `gort_pool_new`). A gort panic if `p` is NULL (`gort_pool_put: nil pool`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_pool_put(p: *mut gort_pool, obj: *mut c_void) {
    guard!("gort_pool_put", {
        let Some(pool) = live_pool(p, "gort_pool_put") else {
            crate::panic::panic_msg(c"gort_pool_put: nil pool".into());
        };
        if !obj.is_null() {
            pool.put(obj);
        }
    })
}

/// Frees the pool: `free_fn` runs on every object it still holds (its own P caches, its
/// victim cache and what a collection dropped whose `free_fn` calls have not run yet), on
/// the calling thread, before this returns; afterwards no `free_fn` call of this pool
/// runs anywhere. No get or put may run on the pool during or after this call (like any
/// use after free; seen, it is a fatal error). NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_pool_free(p: *mut gort_pool) {
    guard!("gort_pool_free", {
        let Some(pool) = live_pool(p, "gort_pool_free") else { return };
        if let Err(why) = pool.begin_free() {
            crate::fatal::fatal(&format!("gort_pool_free: {why}"));
        }
        // SAFETY: made by gort_pool_new; begin_free let exactly this call through.
        unsafe { Pool::free(p as *mut Pool) };
    })
}
