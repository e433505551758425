//! "sync.Pool and sync.Map". Caller mistakes follow the rule in the header's preamble.
//! The pool: `gort_pool_get(NULL)` is NULL with errno `EINVAL`, `gort_pool_put(NULL, x)` a gort panic
//! (`gort_pool_put: nil pool`), `gort_pool_free(NULL)` is ignored (as `free(3)` does);
//! using a pool after (or while) `gort_pool_free` runs is a fatal error when it can be
//! seen (the freed pool's memory was not reused yet).
//! The map: see `gort_syncmap` (the `int` functions return `GORT_EINVAL` for a NULL map,
//! the `void` ones panic, `gort_syncmap_free(NULL)` does nothing).

use super::error::{GORT_EINVAL, GORT_ENOMEM, set_errno};
use std::ffi::{CString, c_int, c_void};
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

// ---------------------------------------------------------------------------------------
// sync.Map
// ---------------------------------------------------------------------------------------

use crate::sync::syncmap::SyncMap;
use libc::uintptr_t;

/// A concurrent map from words to words: Go's `sync.Map` (Go 1.24's hash-trie). Loads
/// and `gort_syncmap_range` take no lock and write no shared memory, so they scale with
/// the readers; writes lock one node of the trie. Keys are compared as words (`==`);
/// keys and values may be pointers to `gort_new`/`gort_alloc` objects, which the map keeps
/// alive while they are in it (the map's entries live on the garbage-collected heap and
/// the map is a root). Deleted entries, and everything of a freed map, are reclaimed by
/// the collector's next cycles. Safe to use from goroutines and from any thread.
///
/// Caller mistakes: the `int` functions return `GORT_EINVAL` for a NULL map; the `void`
/// ones panic (`gort_syncmap_store: nil map`), and `gort_syncmap_free(NULL)` does nothing.
/// Result pointers (`value`, `actual`, `previous`) may be NULL when the result is not
/// wanted. Using a map after `gort_syncmap_free` is undefined behaviour; while its
/// memory has not been reused it is caught as a fatal error ("used after
/// gort_syncmap_free"). A write that must wait for another writer's node lock waits
/// like `gort_mutex_lock` (a goroutine parks); out of memory is a fatal error, as in Go.
pub struct gort_syncmap {
    _private: [u8; 0],
}

fn map_panic(func: &str, what: &str) -> ! {
    crate::panic::panic_msg(CString::new(format!("{func}: nil {what}")).expect("no NUL"))
}

/// The map behind a non-null handle; a freed one (magic gone) is a fatal error.
#[inline(always)]
fn live<'a>(m: *mut gort_syncmap, func: &str) -> Option<&'a SyncMap> {
    // SAFETY: a non-null handle came from gort_syncmap_new (per the contract); a freed one
    // is undefined behaviour that the magic check catches while the memory is unused.
    let m = unsafe { (m as *const SyncMap).as_ref() }?;
    if !m.is_live() {
        freed(func);
    }
    Some(m)
}

#[cold]
fn freed(func: &str) -> ! {
    crate::fatal::fatal(&format!("{func}: map used after gort_syncmap_free"))
}

/// Writes `v` to an optional result pointer.
#[inline(always)]
fn put(out: *mut usize, v: usize) {
    if !out.is_null() {
        // SAFETY: a writable result pointer per the contract.
        unsafe { out.write(v) };
    }
}

/// A new, empty map. NULL with errno `ENOMEM` if memory ran out.
///
/// ```c
/// #include <gort.h>
/// #include <stdint.h>
///
/// static gort_syncmap *cache;                  /* shared by every goroutine */
/// static gort_waitgroup wg = GORT_WAITGROUP_INIT;
///
/// static void worker(void *arg) {
///     uintptr_t id = (uintptr_t)arg, v;
///     for (uintptr_t k = 0; k < 100; k++) {
///         /* the first goroutine to get here stores its id; the others load it */
///         gort_syncmap_load_or_store(cache, k, id, &v);
///     }
///     gort_waitgroup_done(&wg);
/// }
///
/// int main(void) {
///     cache = gort_syncmap_new();
///     gort_waitgroup_add(&wg, 4);
///     for (uintptr_t i = 1; i <= 4; i++) gort_go(worker, (void *)i);
///     gort_waitgroup_wait(&wg);
///     uintptr_t v;
///     int ok = gort_syncmap_load(cache, 42, &v) == 1 && v >= 1 && v <= 4;
///     gort_syncmap_free(cache);
///     return ok ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_new() -> *mut gort_syncmap {
    guard!("gort_syncmap_new", {
        match SyncMap::new() {
            Some(m) => Box::into_raw(m) as *mut gort_syncmap,
            None => {
                set_errno(GORT_ENOMEM);
                std::ptr::null_mut()
            }
        }
    })
}

/// Frees the map: its entries no longer keep their keys and values alive, and their
/// memory goes back with the collector's next cycle. Must not run beside another
/// operation on the map, nor be followed by one. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_free(m: *mut gort_syncmap) {
    guard!("gort_syncmap_free", {
        if live(m, "gort_syncmap_free").is_some() {
            // SAFETY: made by Box::into_raw in gort_syncmap_new, freed once (per the
            // contract: a second free is caught by the magic check above while unused).
            unsafe { Box::from_raw(m as *mut SyncMap) }.free();
        }
    })
}

/// The value stored for `key`: returns 1 and sets `*value`, or 0 (and `*value = 0`) if
/// the key is absent. `GORT_EINVAL` for a NULL map. Lock-free.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_load(m: *mut gort_syncmap, key: uintptr_t, value: *mut uintptr_t) -> c_int {
    guard!("gort_syncmap_load", {
        let Some(m) = live(m, "gort_syncmap_load") else { return GORT_EINVAL };
        let v = m.trie().load(key);
        put(value, v.unwrap_or(0));
        c_int::from(v.is_some())
    })
}

/// Stores `value` for `key` (replacing any value it had).
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_store(m: *mut gort_syncmap, key: uintptr_t, value: uintptr_t) {
    guard!("gort_syncmap_store", {
        let Some(m) = live(m, "gort_syncmap_store") else { map_panic("gort_syncmap_store", "map") };
        m.trie().swap(key, value);
    })
}

/// If `key` is present, returns 1 and sets `*actual` to its value; otherwise stores
/// `value`, returns 0 and sets `*actual = value` (Go's `LoadOrStore`). `GORT_EINVAL` for
/// a NULL map.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_load_or_store(
    m: *mut gort_syncmap,
    key: uintptr_t,
    value: uintptr_t,
    actual: *mut uintptr_t,
) -> c_int {
    guard!("gort_syncmap_load_or_store", {
        let Some(m) = live(m, "gort_syncmap_load_or_store") else { return GORT_EINVAL };
        match m.trie().load_or_store(key, value) {
            Ok(v) => {
                put(actual, v);
                1
            }
            Err(v) => {
                put(actual, v);
                0
            }
        }
    })
}

/// Deletes `key`: returns 1 and sets `*value` to the value it had, or 0 (`*value = 0`) if
/// it was absent (Go's `LoadAndDelete`). `GORT_EINVAL` for a NULL map.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_load_and_delete(m: *mut gort_syncmap, key: uintptr_t, value: *mut uintptr_t) -> c_int {
    guard!("gort_syncmap_load_and_delete", {
        let Some(m) = live(m, "gort_syncmap_load_and_delete") else { return GORT_EINVAL };
        let v = m.trie().load_and_delete(key);
        put(value, v.unwrap_or(0));
        c_int::from(v.is_some())
    })
}

/// Deletes `key` (nothing if it is absent).
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_delete(m: *mut gort_syncmap, key: uintptr_t) {
    guard!("gort_syncmap_delete", {
        let Some(m) = live(m, "gort_syncmap_delete") else { map_panic("gort_syncmap_delete", "map") };
        m.trie().load_and_delete(key);
    })
}

/// Stores `value` for `key`: returns 1 and sets `*previous` to the value it replaced, or
/// 0 (`*previous = 0`) if the key was absent (Go's `Swap` and its `loaded`).
/// `GORT_EINVAL` for a NULL map.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_swap(
    m: *mut gort_syncmap,
    key: uintptr_t,
    value: uintptr_t,
    previous: *mut uintptr_t,
) -> c_int {
    guard!("gort_syncmap_swap", {
        let Some(m) = live(m, "gort_syncmap_swap") else { return GORT_EINVAL };
        let v = m.trie().swap(key, value);
        put(previous, v.unwrap_or(0));
        c_int::from(v.is_some())
    })
}

/// Replaces `key`'s value by `value` if it is present with the value `old`: 1 if it did,
/// 0 if not (absent, or another value). `GORT_EINVAL` for a NULL map.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_compare_and_swap(
    m: *mut gort_syncmap,
    key: uintptr_t,
    old: uintptr_t,
    value: uintptr_t,
) -> c_int {
    guard!("gort_syncmap_compare_and_swap", {
        let Some(m) = live(m, "gort_syncmap_compare_and_swap") else { return GORT_EINVAL };
        c_int::from(m.trie().compare_and_swap(key, old, value))
    })
}

/// Deletes `key` if it is present with the value `old`: 1 if it did, 0 if not (absent,
/// or another value). `GORT_EINVAL` for a NULL map.
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_compare_and_delete(m: *mut gort_syncmap, key: uintptr_t, old: uintptr_t) -> c_int {
    guard!("gort_syncmap_compare_and_delete", {
        let Some(m) = live(m, "gort_syncmap_compare_and_delete") else { return GORT_EINVAL };
        c_int::from(m.trie().compare_and_delete(key, old))
    })
}

/// Calls `fn(key, value, ctx)` for each key in the map, in no particular order, until
/// `fn` returns 0. Go's `Range`: it is not a snapshot; no key is visited more than once,
/// a key present for the whole call is visited, and a key stored or deleted meanwhile
/// may be visited or not, with any value it had during the call. No lock is held while
/// `fn` runs: it may call any function on the map (and block, or panic). A NULL map or
/// function is a gort panic.
///
/// ```c
/// #include <gort.h>
/// #include <stdint.h>
///
/// static int sum_values(uintptr_t key, uintptr_t value, void *ctx) {
///     (void)key;
///     *(uintptr_t *)ctx += value;
///     return 1;                                  /* 0 would stop the walk */
/// }
///
/// int main(void) {
///     gort_syncmap *m = gort_syncmap_new();
///     for (uintptr_t k = 1; k <= 10; k++) gort_syncmap_store(m, k, k * k);
///     gort_syncmap_delete(m, 10);
///     uintptr_t sum = 0;
///     gort_syncmap_range(m, sum_values, &sum);
///     gort_syncmap_free(m);
///     return sum == 285 ? 0 : 1;                 /* 1 + 4 + ... + 81 */
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_range(
    m: *mut gort_syncmap,
    f: Option<unsafe extern "C" fn(key: uintptr_t, value: uintptr_t, ctx: *mut c_void) -> c_int>,
    ctx: *mut c_void,
) {
    guard!("gort_syncmap_range", {
        let Some(m) = live(m, "gort_syncmap_range") else { map_panic("gort_syncmap_range", "map") };
        let Some(f) = f else { map_panic("gort_syncmap_range", "function") };
        // Program code: observed by TSan again. It may leave by a panic's jump: the
        // walk's frame holds nothing that needs dropping.
        // SAFETY: the caller's function, callable with these arguments per the contract.
        m.trie().range(|k, v| crate::sched::tsan::user_call(|| unsafe { f(k, v, ctx) }) != 0);
    })
}

/// Deletes every entry (Go's `Clear`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_syncmap_clear(m: *mut gort_syncmap) {
    guard!("gort_syncmap_clear", {
        let Some(m) = live(m, "gort_syncmap_clear") else { map_panic("gort_syncmap_clear", "map") };
        m.trie().clear();
    })
}
