//! "Stack, Caller, CPU profile".

use super::error::{GORT_EBADF, GORT_EBUSY, GORT_EINVAL};
use crate::debug::{caller, cpuprof, traceback};
use std::ffi::{c_char, c_int};

/// Go's `runtime.Stack`: the calling goroutine's traceback, or with `all` nonzero every
/// goroutine's, written into `buf`; returns the number of bytes written (at most `len`).
///
/// The text is that of `gort_dump_goroutines` (see it for the format): `goroutine N
/// [running]:`, then the frames innermost first, starting with the function that called
/// `gort_stack`, each as `function(...)` and a tab-indented `file:line +0xOFFSET` (or
/// `object+0xOFFSET` without line tables). With `all`, the other goroutines follow, each
/// after a blank line, with their wait reasons; the world is stopped briefly (once per
/// 1024 goroutines) to copy their stacks, as for the dump. The runtime's own frames are
/// hidden unless `GORT_TRACEBACK=system`; `GORT_TRACEBACK=none` does not silence it.
///
/// Text that does not fit is cut at `len` bytes, never in the middle of a UTF-8
/// sequence (so a cut may leave up to 3 bytes unused). No NUL is written: use the
/// returned length (`printf("%.*s", (int)n, buf)`). A NULL `buf` gives 0 (whatever
/// `len` is). Called from a thread that is not running a goroutine, it writes
/// nothing for that thread (with `all`, only the goroutines).
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
/// #include <string.h>
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     char buf[4096];
///     size_t n = gort_stack(buf, sizeof buf, 0);
///     /* "goroutine 1 [running]:\nmain_goroutine(...)\n\t/path/main.c:8 +0x1d\n..." */
///     return n > 0 && memcmp(buf, "goroutine ", 10) == 0 ? 0 : 1;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn gort_stack(buf: *mut c_char, len: usize, all: c_int) -> usize {
    guard!("gort_stack", {
        if buf.is_null() && len != 0 {
            return 0;
        }
        // SAFETY: the caller's buffer of `len` bytes (API contract).
        unsafe { traceback::stack_into(buf as *mut u8, len, all != 0, b"gort_stack") }
    })
}

/// Go's `runtime.Caller`: describes a frame of the calling goroutine's stack. `skip` 0 is
/// the function that called `gort_caller`, 1 its caller, and so on. Returns 1 and fills
/// the out-parameters that are not NULL, or 0 if the stack is not that deep (or `skip`
/// is negative), leaving them alone.
///
/// - `*pc`: the frame's return address (the instruction after the call, as Go's
///   `runtime.Callers` gives it);
/// - `*func`: the function's name, or NULL if no symbol covers the address;
/// - `*file`, `*line`: the source file and line of the call, or NULL and 0 when the
///   object has no line tables (build with `-g`; debug sections compressed with
///   `--compress-debug-sections` are not read either).
///
/// The strings are static: interned once, never freed, valid for the life of the
/// process. Frames come from the frame-pointer walk: build C code with
/// `-fno-omit-frame-pointer` (a function inlined into its caller has no frame of its
/// own). The first call costs symbol lookups (milliseconds, to map the objects); a call
/// site already seen costs a walk and a hash lookup.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
///
/// __attribute__((noinline)) static void where(void) {
///     const char *func, *file;
///     int line;
///     if (gort_caller(1, NULL, &file, &line, &func) == 1) /* who called where() */
///         printf("called from %s at %s:%d\n", func ? func : "?", file ? file : "?", line);
/// }
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     where(); /* called from main_goroutine at .../example.c:15 */
///     return 0;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn gort_caller(
    skip: c_int,
    pc: *mut libc::uintptr_t,
    file: *mut *const c_char,
    line: *mut c_int,
    func: *mut *const c_char,
) -> c_int {
    guard!("gort_caller", {
        let Ok(skip) = usize::try_from(skip) else { return 0 };
        let Some(info) = caller::caller(skip, b"gort_caller") else { return 0 };
        // SAFETY: each out-parameter is either NULL or points to writable storage of its
        // type (API contract).
        unsafe {
            if !pc.is_null() {
                *pc = info.pc;
            }
            if !file.is_null() {
                *file = info.file.map_or(std::ptr::null(), |s| s.as_ptr());
            }
            if !line.is_null() {
                *line = info.line;
            }
            if !func.is_null() {
                *func = info.func.map_or(std::ptr::null(), |s| s.as_ptr());
            }
        }
        1
    })
}

/// Starts the CPU profiler (Go's `pprof.StartCPUProfile`): every thread gort knows (its
/// own threads, whatever they run, the thread in `gort_main` and registered foreign
/// threads) is sampled `hz` times per second of CPU time it uses (`hz <= 0`: 100, Go's
/// rate; at most 1000000), by a per-thread CPU timer and SIGPROF, until
/// `gort_cpu_profile_stop`, which writes the profile to `fd` in the format `go tool
/// pprof` reads. `fd` stays the caller's (never closed) and must stay open until then;
/// nothing is written to it before the stop.
///
/// Each sample is labelled `goroutine` with the id of the goroutine that was running
/// (`go tool pprof -tags prof.pb`; `-tagfocus=goroutine=7`). Stacks come from frame
/// pointers: build C with `-fno-omit-frame-pointer` (a function that calls nothing has no
/// frame record even so; its caller is restored when it called it directly, see
/// docs/debugging.md; `-mno-omit-leaf-frame-pointer` makes every stack complete).
///
/// gort owns SIGPROF from the first start on: a handler the program installed before still gets the SIGPROFs that
/// are not from gort's timers; do not install one afterwards. The handler is installed
/// with `SA_RESTART`, and a thread gets signals only while it uses CPU, so a thread
/// blocked in a system call is not disturbed (see docs/debugging.md for the calls that
/// return `EINTR` regardless, if a signal lands while one is being entered).
///
/// Returns 0, `GORT_EBUSY` if a profile is running, `GORT_EBADF` for an fd that is not
/// open, or the negated errno if no thread could be given a timer.
///
/// Example: profile a loop, write the profile to a temporary file.
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
///
/// static volatile unsigned long sink;
///
/// static int main_goroutine(void *arg) {
///     (void)arg;
///     FILE *f = tmpfile();
///     if (f == NULL || gort_cpu_profile_start(fileno(f), 0) != 0) return 1;
///     for (unsigned long i = 0; i < 20000000; i++) sink += i; /* the work profiled */
///     int r = gort_cpu_profile_stop(); /* writes the profile */
///     fseek(f, 0, SEEK_END);
///     long size = ftell(f); /* the profile's bytes: `go tool pprof -top` reads them */
///     fclose(f);
///     return r == 0 && size > 0 ? 0 : 1;
/// }
///
/// int main(void) { return gort_main(main_goroutine, NULL); }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_cpu_profile_start(fd: c_int, hz: c_int) -> c_int {
    guard!("gort_cpu_profile_start", {
        // SAFETY: F_GETFD only queries the descriptor table.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return GORT_EBADF;
        }
        let hz = if hz <= 0 { cpuprof::DEFAULT_HZ } else { hz };
        match cpuprof::start(fd, hz) {
            Ok(()) => 0,
            Err(cpuprof::StartError::Busy) => GORT_EBUSY,
            Err(cpuprof::StartError::Timer(e)) => -e,
        }
    })
}

/// Stops the CPU profiler and writes the profile (pprof's protobuf, uncompressed) to the
/// fd given to `gort_cpu_profile_start`: sample types `samples/count` and
/// `cpu/nanoseconds`, one sample per distinct (goroutine, stack), the runtime's frames
/// included (time gort itself spends is charged to gort's functions), samples lost to a
/// full buffer under `gort.lostProfileEvent`. Look at it with `go tool pprof -top
/// prog FILE` or `go tool pprof -top FILE` (it is already symbolized). Returns 0,
/// `GORT_EINVAL` if no profile runs, or a negated errno if the write failed (profiling
/// has stopped either way).
#[unsafe(no_mangle)]
pub extern "C" fn gort_cpu_profile_stop() -> c_int {
    guard!("gort_cpu_profile_stop", {
        match cpuprof::stop() {
            Ok(()) => 0,
            Err(cpuprof::StopError::NotRunning) => GORT_EINVAL,
            Err(cpuprof::StopError::Io(e)) => -e,
        }
    })
}
