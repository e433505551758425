//! "sync.Pool and sync.Map".

use super::error::{GORT_EINVAL, GORT_ENOMEM, set_errno};
use std::ffi::{CString, c_int, c_void};

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
