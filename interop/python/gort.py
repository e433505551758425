"""gort from Python, through ctypes over libgort.so.

    import gort
    ch = gort.Chan(ctypes.c_long, 8)        # a gort channel of C longs, buffer of 8
    gort.go(worker_from_a_c_library, arg)    # a goroutine running a C function
    gort.go(python_function, 1, 2)           # a goroutine running Python (locked, see below)
    ch.send(5); value, ok = ch.recv()        # from Python threads or goroutines

The library is found through $GORT_LIB, else `ctypes.util.find_library("gort")`; call
`gort.load(path)` first to choose it.

The rule (as for cgo's callbacks into Go): **a goroutine that runs Python code must be
locked to its OS thread** (`gort_lock_os_thread`) for as long as it does. A ctypes
callback takes the GIL for the calling OS thread when it is entered and gives it back
when it returns (PyGILState_Ensure/Release), and every foreign call the callback makes
through ctypes.CDLL releases the GIL and takes it back on the thread it was called from.
A gort call that blocks parks the goroutine, and gort may resume it on another thread:
Python would then take the GIL with another thread's state and die in its GIL code
("Fatal Python error: PyGILState_Release: ... no thread-state for this thread", or a
hang). Locked, the goroutine always resumes on its own thread.

What this module enforces: `go(python_callable)` and functions made with `callback` lock
the goroutine before any Python runs beyond their first line and unlock it after, and
`go` refuses a raw ctypes callback made from a Python function (its body would run
unlocked). A raw callback handed to C code some other way is the program's business:
make it with `callback` instead.

Other things to know: a channel operation from a plain Python thread blocks that thread
(with the GIL released, so other Python threads and goroutine callbacks run); wait for
every goroutine that runs Python before the interpreter exits; a goroutine locked while
it runs Python holds an OS thread of its own, like any locked goroutine.
"""

import ctypes
import ctypes.util
import os
import threading

GORT_FOREVER = 2**63 - 1

_lib = None
_lib_lock = threading.Lock()

# void (*)(void *): what gort_go runs.
GoroutineFunc = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def load(path=None):
    """Loads libgort.so (once) and returns the ctypes library."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        path = path or os.environ.get("GORT_LIB") or ctypes.util.find_library("gort")
        if not path:
            raise OSError("libgort.so not found: set GORT_LIB or call gort.load(path)")
        # CDLL, not PyDLL: every call releases the GIL, so a blocking gort call never
        # keeps other Python threads (or goroutines calling Python) from running.
        lib = ctypes.CDLL(path, use_errno=True)
        c_chan = ctypes.c_void_p
        sigs = {
            "gort_go": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
            "gort_goid": (ctypes.c_int64, []),
            "gort_lock_os_thread": (None, []),
            "gort_unlock_os_thread": (None, []),
            "gort_chan_make": (c_chan, [ctypes.c_size_t, ctypes.c_size_t]),
            "gort_chan_send": (ctypes.c_int, [c_chan, ctypes.c_void_p]),
            "gort_chan_recv": (ctypes.c_int, [c_chan, ctypes.c_void_p]),
            "gort_chan_close": (None, [c_chan]),
            "gort_chan_retain": (None, [c_chan]),
            "gort_chan_release": (None, [c_chan]),
            "gort_num_goroutine": (ctypes.c_int, []),
            "gort_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        }
        for name, (restype, argtypes) in sigs.items():
            f = getattr(lib, name)
            f.restype = restype
            f.argtypes = argtypes
        _lib = lib
        return lib


def _check(rc, what):
    if rc < 0:
        raise OSError(-rc, f"{what}: {load().gort_strerror(rc).decode()}")
    return rc


def goid():
    """The calling goroutine's id; 0 on a thread that is not running a goroutine."""
    return load().gort_goid()


def num_goroutine():
    return load().gort_num_goroutine()


class _Locked:
    """Locks the calling goroutine to its OS thread for a `with` block (nests; a no-op
    outside goroutines). Neither call can block or yield, so the goroutine cannot move
    between the GIL's taking and the lock."""

    def __enter__(self):
        load().gort_lock_os_thread()

    def __exit__(self, *exc):
        load().gort_unlock_os_thread()
        return False


locked_to_thread = _Locked()

# What Python goroutines run: the callable and its arguments by key, taken by the one
# trampoline below, which lives as long as the module. (A trampoline per goroutine could
# not be freed safely: the goroutine is still inside it after its last Python line.)
_pending = {}
_pending_lock = threading.Lock()
_next_key = 0


def _run_python_goroutine(key):
    lib = _lib
    lib.gort_lock_os_thread()  # first: nothing before it can block
    try:
        with _pending_lock:
            fn, args = _pending.pop(key)
        fn(*args)
    except BaseException:  # noqa: BLE001 - reported like an exception in a thread
        import traceback
        traceback.print_exc()
    finally:
        lib.gort_unlock_os_thread()


_trampoline = GoroutineFunc(_run_python_goroutine)


def _is_python_callback(fn):
    """True for a ctypes function pointer whose body is a Python function."""
    objs = getattr(fn, "_objects", None) or {}
    return any(type(o).__name__ == "CThunkObject" for o in objs.values())


def go(fn, *args):
    """Starts a goroutine.

    fn a C function (a ctypes function of a loaded library, `void f(void *)`): runs it
    with args[0] (a ctypes object passed by reference, an int address, or None), without
    the GIL. The argument must stay alive as long as the goroutine uses it.

    fn a Python callable: runs fn(*args) in a goroutine locked to its OS thread (see the
    module's rule). An exception is printed, as in a thread.
    """
    lib = load()
    if isinstance(fn, ctypes._CFuncPtr):
        if _is_python_callback(fn):
            raise TypeError(
                "gort.go: a ctypes callback made from a Python function would run unlocked; "
                "pass the Python function itself, or make the callback with gort.callback")
        arg = args[0] if args else None
        if isinstance(arg, ctypes._SimpleCData) or isinstance(arg, (ctypes.Structure, ctypes.Array)):
            arg = ctypes.addressof(arg)
        _check(lib.gort_go(ctypes.cast(fn, ctypes.c_void_p), arg), "gort_go")
        return
    if not callable(fn):
        raise TypeError("gort.go: fn must be callable")

    global _next_key
    with _pending_lock:
        _next_key += 1
        key = _next_key
        _pending[key] = (fn, args)
    rc = lib.gort_go(ctypes.cast(_trampoline, ctypes.c_void_p), key)
    if rc < 0:
        with _pending_lock:
            _pending.pop(key, None)
        _check(rc, "gort_go")


def callback(restype, *argtypes):
    """Decorator: a ctypes callback (CFUNCTYPE(restype, *argtypes)) for C code that calls
    it from goroutines; its body runs locked to the goroutine's OS thread. Keep the
    returned object alive as long as C may call it."""
    proto = ctypes.CFUNCTYPE(restype, *argtypes)

    def wrap(fn):
        lib = load()

        def body(*a):
            lib.gort_lock_os_thread()
            try:
                return fn(*a)
            finally:
                lib.gort_unlock_os_thread()

        cb = proto(body)
        cb.__wrapped__ = fn
        return cb

    return wrap


class Chan:
    """A gort channel of `elem_type` (a ctypes type) with a buffer of `cap` elements.

    Usable from Python threads (the thread blocks, the GIL released) and from Python
    running in goroutines (the goroutine parks). `handle` is the gort_chan pointer, to
    hand to C code."""

    def __init__(self, elem_type=ctypes.c_long, cap=0, handle=None):
        self.elem_type = elem_type
        lib = load()
        if handle is None:
            handle = lib.gort_chan_make(ctypes.sizeof(elem_type), cap)
            if not handle:
                raise OSError(ctypes.get_errno(), "gort_chan_make failed")
        else:
            lib.gort_chan_retain(handle)
        self.handle = handle

    def send(self, value):
        v = value if isinstance(value, self.elem_type) else self.elem_type(value)
        _check(load().gort_chan_send(self.handle, ctypes.byref(v)), "gort_chan_send")

    def recv(self):
        """(value, True), or (zero value, False) once the channel is closed and drained.
        Simple types come back as Python values, others as ctypes objects."""
        v = self.elem_type()
        ok = _check(load().gort_chan_recv(self.handle, ctypes.byref(v)), "gort_chan_recv") == 1
        return (v.value if isinstance(v, ctypes._SimpleCData) else v), ok

    def __iter__(self):
        while True:
            v, ok = self.recv()
            if not ok:
                return
            yield v

    def close(self):
        load().gort_chan_close(self.handle)

    def release(self):
        if self.handle:
            load().gort_chan_release(self.handle)
            self.handle = None

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
