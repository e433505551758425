# gort-gdb.py: gdb support for gort's goroutines (gort is Go's runtime as a C library).
#
# Commands (like Go's runtime-gdb.py):
#
#   info goroutines     One line per live goroutine, sorted by id:
#                         * 1 running on thread 3 (LWP 4242)  main_goroutine at /src/app.c:40
#                           7 waiting [chan receive] 3m12s  worker at /src/app.c:12 (in gort_chan_recv)
#                           9 runnable (not started)  created by main_goroutine at /src/app.c:33
#                       `*` marks goroutines running on a thread. The location is the goroutine's
#                       top user frame: its innermost frame outside gort's internals (Rust
#                       frames of gort, core, std, alloc...); the gort_* C API call it is
#                       blocked in is shown in parentheses. The wait time is shown for a
#                       live local process only (it needs the machine's monotonic clock).
#
#   goroutine N CMD     Runs the gdb command CMD (bt, bt full, info frame, frame 2, up,
#                       info registers...) with the selected thread's registers temporarily
#                       set to goroutine N's saved context (stack pointer, pc, frame pointer and
#                       callee-saved registers), then puts every register it changed back (also
#                       when CMD fails). Commands that would resume the program (continue,
#                       step, finish, call...) are refused: the thread would run the goroutine's
#                       code on the wrong thread. For a running goroutine it says which thread
#                       runs it (use `thread M` and CMD there); for one that has not started
#                       yet there is no stack to show.
#   goroutine all CMD   The same for every parked goroutine, each under a header line.
#
# Loading. gort embeds this file in the `.debug_gdb_scripts` section of every program linked
# with libgort.a (and of libgort.so), so gdb loads it with the program, but only from files
# its auto-load safe-path allows. Allow yours with, in ~/.gdbinit,
#     add-auto-load-safe-path /path/to/your/program
# (or `set auto-load safe-path /` to allow everything; on the command line
# `gdb -iex "set auto-load safe-path /" prog`). `info auto-load python-scripts` shows whether
# it was loaded. Without auto-loading (or for a stripped program: strip removes the section):
#     (gdb) source /path/to/gort/tools/gdb/gort-gdb.py
#
# How it works. gort's release builds carry line tables but no DWARF type information, and a
# debugger must not call into a stopped process (a core file has no process at all), so
# nothing here uses Rust types or calls functions: the script reads raw memory guided by
# `gort_debug_info`, a table gort exports (src/debug/gdb.rs) with the address of the list of
# all goroutine descriptors, the offsets of their fields, the status values and the layout of
# a parked goroutine's saved registers. The table starts with a magic word ("gortdbg\0") and a
# layout version; a program whose table is missing, has another magic or another version, or
# was built for another architecture than gdb's is refused with a message (use the
# gort-gdb.py of the same gort version).
#
# Core files. gdb cannot change a core file's registers, so there `goroutine N bt` prints a
# frame-pointer walk of the goroutine's stack instead (function, file and line of each frame;
# no arguments or locals), and other commands are refused. `info goroutines` works as on a
# live process, without wait times. Use a core dumped by the kernel: gdb's own `gcore` gives
# up on a whole mapping at its first unreadable page, and gort's stack guard pages (Linux
# 6.13+ guard markers) make the mapping that also holds goroutine descriptors unreadable.
#
# Architectures: x86_64 and aarch64 (Linux).

import re
import struct
import time

import gdb

_MAGIC = int.from_bytes(b"gortdbg\0", "little")
_VERSION = 1
_MASK = (1 << 64) - 1

# The words of `gort_debug_info`, in order (src/debug/gdb.rs, `GortDebugInfo`).
_FIELDS = (
    "magic", "version", "arch", "allgs", "allgs_len_offset", "allgs_segs_offset",
    "allgs_seg0", "allgs_nsegs", "g_sp", "g_id", "g_status", "g_wait_reason",
    "g_wait_since", "g_parent_id", "g_created_pc", "g_locked_m", "status_idle",
    "status_runnable", "status_running", "status_waiting", "status_dead", "ctx_words",
    "ctx_pc", "ctx_fp", "ctx_rbx_or_x19", "ctx_r12", "ctx_r13", "ctx_r14", "ctx_r15",
)

_ARCH_X86_64 = 1
_ARCH_AARCH64 = 2
_ARCH_NAMES = {_ARCH_X86_64: "x86_64", _ARCH_AARCH64: "aarch64"}

# Function names that are gort's (or Rust's) internals, not the user's code. The gort_* C API
# functions are not internal (their DWARF names are Rust paths, gort::ffi::chan::gort_chan_recv).
_INTERNAL_PREFIXES = ("gort::", "core::", "std::", "alloc::", "<", "parking_lot", "crossbeam",
                      "__rust", "_R")
# The outermost frame of every goroutine stack (src/arch/*.rs).
_TRAMPOLINE = re.compile(r"^gort::arch::\w+::trampoline\b")
# The scheduler's switch-out path and a finished goroutine's last call (src/sched/proc.rs).
_SWITCH_AWAY = re.compile(r"^gort::sched::proc::switch_away")
_GOEXIT_FINAL = re.compile(r"^gort::sched::proc::goexit_final\b")
# Commands `goroutine N` refuses: they would resume the thread with the goroutine's registers.
_RESUMING = frozenset((
    "c", "cont", "continue", "fg", "s", "step", "n", "next", "si", "stepi", "ni", "nexti",
    "finish", "fin", "until", "u", "advance", "jump", "j", "run", "r", "start", "starti",
    "signal", "queue-signal", "return", "call", "kill", "detach", "reverse-step",
    "reverse-next", "reverse-continue", "reverse-finish",
))


def _err(msg):
    return gdb.GdbError("gort: " + msg)


# ---------------------------------------------------------------------------------------------
# Memory


def _inferior():
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0:
        raise _err("no process or core file")
    return inf


def _read(addr, n):
    return bytes(_inferior().read_memory(addr, n))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _target_kind():
    """'native', 'core', 'remote', ... (None when gdb cannot tell)."""
    conn = getattr(gdb.selected_inferior(), "connection", None)
    if conn is not None:
        return conn.type
    try:
        out = gdb.execute("info target", to_string=True)
    except gdb.error:
        return None
    if "core dump" in out:
        return "core"
    if "child process" in out or "native process" in out:
        return "native"
    return None


# ---------------------------------------------------------------------------------------------
# The table


class _Table(object):
    pass


def _table_address():
    try:
        return int(gdb.parse_and_eval("&gort_debug_info")) & _MASK
    except (gdb.error, ValueError, OverflowError):
        pass
    try:
        out = gdb.execute("info address gort_debug_info", to_string=True)
    except gdb.error:
        out = ""
    m = re.search(r"\b0x[0-9a-fA-F]+", out)
    if m is None:
        raise _err("no symbol gort_debug_info: the program is not linked with gort "
                   "(or its symbol table was stripped)")
    return int(m.group(0), 16)


def _gdb_arch_name():
    try:
        return gdb.selected_frame().architecture().name()
    except gdb.error:
        pass
    arch = getattr(gdb.selected_inferior(), "architecture", None)
    return arch().name() if arch is not None else ""


def _table():
    """Reads and checks gort_debug_info; called first by every command."""
    _pc_cache.clear()
    addr = _table_address()
    try:
        head = struct.unpack("<3Q", _read(addr, 24))
    except gdb.MemoryError:
        raise _err("cannot read gort_debug_info at 0x%x" % addr)
    if head[0] != _MAGIC:
        raise _err("gort_debug_info at 0x%x has magic 0x%016x, not \"gortdbg\": not gort's table "
                   "(or memory is corrupt)" % (addr, head[0]))
    if head[1] != _VERSION:
        raise _err("gort_debug_info has layout version %d; this gort-gdb.py reads version %d. "
                   "Use the gort-gdb.py of the gort the program was built with." % (head[1], _VERSION))
    words = struct.unpack("<%dQ" % len(_FIELDS), _read(addr, 8 * len(_FIELDS)))
    t = _Table()
    for name, value in zip(_FIELDS, words):
        setattr(t, name, value)
    if t.arch not in _ARCH_NAMES:
        raise _err("gort_debug_info names architecture %d, which this script does not know" % t.arch)
    gdb_arch = _gdb_arch_name()
    want = "x86-64" if t.arch == _ARCH_X86_64 else "aarch64"
    if gdb_arch and want not in gdb_arch:
        raise _err("the program's gort was built for %s but gdb's architecture is %s"
                   % (_ARCH_NAMES[t.arch], gdb_arch))
    t.status_names = {
        t.status_idle: "idle", t.status_runnable: "runnable", t.status_running: "running",
        t.status_waiting: "waiting", t.status_dead: "dead",
    }
    # Enough of a G to cover every field the table names (the &str wait reason is 2 words).
    t.g_span = max(t.g_sp, t.g_id, t.g_status, t.g_wait_reason + 8, t.g_wait_since,
                   t.g_parent_id, t.g_created_pc, t.g_locked_m) + 8
    return t


# ---------------------------------------------------------------------------------------------
# Goroutines


class _G(object):
    """One goroutine descriptor, as read from memory."""

    def __init__(self, t, addr, raw):
        def word(off, fmt="<Q", size=8):
            return struct.unpack(fmt, raw[off:off + size])[0]

        self.addr = addr
        self.sp = word(t.g_sp)
        self.id = word(t.g_id, "<q")
        self.status = word(t.g_status, "<I", 4)
        self.wait_reason_ptr = word(t.g_wait_reason)
        self.wait_reason_len = word(t.g_wait_reason + 8)
        self.wait_since = word(t.g_wait_since, "<q")
        self.parent_id = word(t.g_parent_id, "<q")
        self.created_pc = word(t.g_created_pc)
        self.locked_m = word(t.g_locked_m)
        self.state = t.status_names.get(self.status, "status %d" % self.status)
        self.live = self.status not in (t.status_idle, t.status_dead) and self.id > 0

    def wait_reason(self):
        n = self.wait_reason_len
        if self.wait_reason_ptr == 0 or n == 0 or n > 256:
            return ""
        try:
            return _read(self.wait_reason_ptr, n).decode("utf-8", "replace")
        except gdb.MemoryError:
            return "?"


def _goroutines(t):
    """Every goroutine descriptor in ALLGS (live or not)."""
    n = _u64(t.allgs + t.allgs_len_offset)
    ptrs = []
    k = 0
    while len(ptrs) < n and k < t.allgs_nsegs:
        seg = _u64(t.allgs + t.allgs_segs_offset + 8 * k)
        if seg == 0:
            break
        count = min(t.allgs_seg0 << k, n - len(ptrs))
        ptrs.extend(struct.unpack("<%dQ" % count, _read(seg, 8 * count)))
        k += 1
    gs = []
    for p in ptrs:
        if p == 0:
            continue
        try:
            gs.append(_G(t, p, _read(p, t.g_span)))
        except gdb.MemoryError:
            continue
    return gs


def _live_goroutines(t):
    return sorted((g for g in _goroutines(t) if g.live), key=lambda g: g.id)


def _find_goroutine(t, goid):
    for g in _goroutines(t):
        if g.id == goid and g.live:
            return g
    return None


# ---------------------------------------------------------------------------------------------
# Symbols


# Symbol look-ups by pc, shared by the goroutines of one command (most are parked at the
# same few places); emptied when a command starts (libraries may have been loaded since).
_pc_cache = {}


def _cached(kind, pc, compute):
    key = (kind, pc)
    if key not in _pc_cache:
        _pc_cache[key] = compute(pc)
    return _pc_cache[key]


def _minsym(pc):
    return _cached("minsym", pc, _minsym_uncached)


def _minsym_uncached(pc):
    """(name, section) of the ELF symbol containing pc, or (None, None)."""
    try:
        out = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
    except gdb.error:
        return None, None
    m = re.match(r"^(.*?)(?: \+ \d+)? in section (\S+)", out)
    if m is None:
        return None, None
    return m.group(1), m.group(2)


def _is_code(pc):
    return _cached("code", pc, _is_code_uncached)


def _is_code_uncached(pc):
    if pc < 4096:
        return False
    try:
        if gdb.block_for_pc(pc) is not None:
            return True
    except RuntimeError:
        pass
    _, section = _minsym(pc)
    return section is not None and (section.startswith(".text") or section in (".init", ".fini"))


def _functions_at(pc):
    """The names of the functions at pc, innermost (inlined) first, outermost last."""
    return _cached("functions", pc, _functions_at_uncached)


def _functions_at_uncached(pc):
    names = []
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        block = None
    while block is not None and not block.is_static and not block.is_global:
        if block.function is not None:
            names.append(block.function.print_name)
        block = block.superblock
    if not names:
        name, _ = _minsym(pc)
        if name:
            names.append(name)
    return names


def _line_at(pc):
    """'file:line' of pc, or ''."""
    return _cached("line", pc, _line_at_uncached)


def _line_at_uncached(pc):
    sal = gdb.find_pc_line(pc)
    if sal.symtab is None or sal.line == 0:
        return ""
    try:
        path = sal.symtab.fullname()
    except gdb.error:
        path = sal.symtab.filename
    return "%s:%d" % (path, sal.line)


def _api_name(name):
    """'gort_chan_recv' for a gort_* C API function (as 'gort::ffi::chan::gort_chan_recv' in
    DWARF or 'gort_chan_recv' as a plain symbol), else None."""
    last = re.sub(r"<.*$", "", name).split("::")
    last = [p for p in last if p and not re.match(r"^h[0-9a-f]{16}$", p)]
    if last and last[-1].startswith("gort_"):
        return last[-1]
    return None


def _is_internal(name):
    if not name:
        return True
    if _api_name(name) is not None:
        return False
    return name.startswith(_INTERNAL_PREFIXES)


def _frames_from_pcs(pcs):
    """Frames for a list of return addresses: [(name, location)], innermost first, inlined
    functions expanded (they share their caller's location)."""
    frames = []
    for pc in pcs:
        look = pc - 1  # a return address: the call is the instruction before it
        names = _functions_at(look) or ["??"]
        loc = _line_at(look)
        # As gdb prints inlined frames: the address and line on the innermost, the functions
        # it is inlined into after it (their call lines are not available to Python).
        for i, name in enumerate(names):
            frames.append((name, loc if i == 0 else "", pc if i == 0 else None))
    return frames


def _top_user(frames):
    """'func at file:line (in gort_x)' for the first frame outside gort's internals."""
    api = None
    for name, loc, _ in frames:
        if _is_internal(name) or name == "??":
            continue
        a = _api_name(name)
        if a is not None:
            api = api or a
            continue
        s = name + (" at " + loc if loc else "")
        return s + (" (in %s)" % api if api else "")
    if api is not None:
        return "in " + api
    return frames[0][0] if frames else ""


# ---------------------------------------------------------------------------------------------
# Saved contexts


def _is_exit_context(t, w):
    """Whether saved context words w are the final switch of a goroutine that ended. A
    descriptor is reused by a later gort_go and keeps its old saved stack pointer until it
    first runs; while the old stack is intact, that context resumes into goexit_final."""
    frames = _frames_from_pcs(_fp_walk(w[t.ctx_pc], w[t.ctx_fp], limit=4))
    for name, _, _ in frames:
        if _SWITCH_AWAY.match(name):
            continue
        return bool(_GOEXIT_FINAL.match(name))
    return False


def _saved_context(t, g):
    """The registers goroutine g resumes with, {name: value}, or None when it has none (not
    started, or its saved stack pointer does not point at a saved context)."""
    if g.sp == 0 or g.sp % 8 != 0:
        return None
    try:
        w = struct.unpack("<%dQ" % t.ctx_words, _read(g.sp, 8 * t.ctx_words))
    except gdb.MemoryError:
        return None
    pc = w[t.ctx_pc]
    if not _is_code(pc):
        return None
    for name in _functions_at(pc):
        if _TRAMPOLINE.match(name):
            return None  # the fresh frame init_stack made: never resumed
    if _is_exit_context(t, w):
        return None  # a recycled descriptor: the last switch of its previous goroutine
    sp = g.sp + 8 * t.ctx_words
    if t.arch == _ARCH_X86_64:
        return {
            "rsp": sp, "rip": pc, "rbp": w[t.ctx_fp], "rbx": w[t.ctx_rbx_or_x19],
            "r12": w[t.ctx_r12], "r13": w[t.ctx_r13], "r14": w[t.ctx_r14], "r15": w[t.ctx_r15],
        }
    regs = {"sp": sp, "pc": pc, "x29": w[t.ctx_fp], "x30": pc}
    for j in range(10):
        regs["x%d" % (19 + j)] = w[t.ctx_rbx_or_x19 + j]
    return regs


def _fp_walk(pc, fp, limit=100):
    """Return addresses of a frame-pointer walk from (pc, frame pointer): gort and C code
    built with -fno-omit-frame-pointer keep [fp] = caller's fp, [fp + 8] = return address."""
    pcs = [pc]
    while len(pcs) < limit and fp != 0 and fp % 8 == 0:
        try:
            next_fp, ret = struct.unpack("<QQ", _read(fp, 16))
        except gdb.MemoryError:
            break
        if ret == 0:
            break
        pcs.append(ret)
        if next_fp <= fp:
            break  # callers' frames are above (stacks grow down); 0 ends the walk
        fp = next_fp
    return pcs


def _context_frames(t, regs):
    pc = regs["rip"] if t.arch == _ARCH_X86_64 else regs["pc"]
    fp = regs["rbp"] if t.arch == _ARCH_X86_64 else regs["x29"]
    return _frames_from_pcs(_fp_walk(pc, fp))


# ---------------------------------------------------------------------------------------------
# Threads running goroutines


def _select_frame_level(level):
    try:
        f = gdb.newest_frame()
        for _ in range(level):
            older = f.older()
            if older is None:
                break
            f = older
        f.select()
    except gdb.error:
        pass


def _selected_frame_level():
    try:
        return gdb.selected_frame().level()
    except (gdb.error, AttributeError):
        return 0


def _thread_goroutines(t, running):
    """{goroutine id: (thread, [(name, location, pc)])} for the running goroutines whose thread
    can be found: a thread whose unwound stack ends in gort's goroutine trampoline runs on the
    goroutine stack ending there; the goroutine is the running one whose (stale) saved stack
    pointer lies just below that end (every goroutine's saved stack pointer is inside its own
    stack, and stacks are separate slots)."""
    found = {}
    cands = [g for g in running if g.sp != 0]
    if not cands:
        return found
    sp_name = "rsp" if t.arch == _ARCH_X86_64 else "sp"
    orig = gdb.selected_thread()
    level = _selected_frame_level()
    try:
        for th in gdb.selected_inferior().threads():
            if not th.is_valid() or th.is_running() or th.is_exited():
                continue
            th.switch()
            frames = []
            top = None
            try:
                f = gdb.newest_frame()
                while f is not None and len(frames) < 256:
                    name = f.name() or ""
                    if _TRAMPOLINE.match(name):
                        top = int(f.read_register(sp_name)) & _MASK
                        break
                    sal = f.find_sal()
                    loc = ""
                    if sal.symtab is not None and sal.line:
                        loc = "%s:%d" % (sal.symtab.fullname(), sal.line)
                    frames.append((name or "??", loc, f.pc()))
                    f = f.older()
            except gdb.error:
                pass
            if top is None:
                continue
            below = [g for g in cands if g.sp < top and top - g.sp <= (1 << 30)]
            if below:
                g = max(below, key=lambda g: g.sp)
                found[g.id] = (th, frames)
    finally:
        if orig is not None and orig.is_valid():
            orig.switch()
            _select_frame_level(level)
    return found


# ---------------------------------------------------------------------------------------------
# info goroutines


def _now():
    """gort's clock for wait times (CLOCK_MONOTONIC_COARSE, 6 on Linux, which Python's time
    module does not name), read here: a local process shares gdb's clock. None if unreadable."""
    for clock in (getattr(time, "CLOCK_MONOTONIC_COARSE", 6), time.CLOCK_MONOTONIC):
        try:
            return time.clock_gettime_ns(clock)
        except (AttributeError, OSError):
            continue
    return None


def _fmt_duration(ns):
    s = ns // 1000000000
    if s < 1:
        return "%dms" % (ns // 1000000)
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%dh%02dm" % (s // 3600, (s % 3600) // 60)


def _created_by(g):
    if g.created_pc == 0:
        return ""
    frames = _frames_from_pcs([g.created_pc])
    name, loc, _ = frames[-1]
    s = "created by %s" % name + (" at " + loc if loc else "")
    if g.parent_id > 0:
        s += " in goroutine %d" % g.parent_id
    return s


def _describe(t, g, on_thread, now):
    """(marker, description) of one live goroutine."""
    if g.status == t.status_running:
        if g.id in on_thread:
            th, frames = on_thread[g.id]
            desc = "running on thread %d (LWP %d)" % (th.num, th.ptid[1])
            top = _top_user(frames)
            return "*", desc + ("  " + top if top else "")
        return "*", "running on some thread (use `info threads`, `thread N`, `bt`)"
    regs = _saved_context(t, g)
    if g.status == t.status_waiting:
        desc = "waiting"
        reason = g.wait_reason()
        if reason:
            desc += " [%s]" % reason
        if now is not None and g.wait_since > 0 and now >= g.wait_since:
            desc += " " + _fmt_duration(now - g.wait_since)
    elif g.status == t.status_runnable:
        desc = "runnable" if regs is not None else "runnable (not started)"
    else:
        desc = g.state
    if g.locked_m != 0:
        desc += " (locked to thread)"
    if regs is None:
        where = _created_by(g)
    else:
        where = _top_user(_context_frames(t, regs))
    return " ", desc + ("  " + where if where else "")


class _InfoGoroutines(gdb.Command):
    """List gort's goroutines: info goroutines

One line per live goroutine, sorted by id: `*` for a goroutine running on a thread, its id,
state (with the wait reason and, in a live local process, how long it has been waiting) and
its top user frame, the innermost frame outside gort's internals (with the gort_* call it is
blocked in). `goroutine N bt` shows the whole stack of a parked goroutine."""

    def __init__(self):
        super(_InfoGoroutines, self).__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        t = _table()
        every = _goroutines(t)
        gs = sorted((g for g in every if g.live), key=lambda g: g.id)
        if not gs:
            if every and all(g.id == 0 and g.sp == 0 for g in every):
                gdb.write("No goroutines: the %d goroutine descriptors read as zeros. A core "
                          "file written by gdb's gcore can miss memory next to stack guard "
                          "pages (Linux 6.13+); use a core dumped by the kernel.\n" % len(every))
            else:
                gdb.write("No goroutines.\n")
            return
        running = [g for g in gs if g.status == t.status_running]
        on_thread = _thread_goroutines(t, running) if running else {}
        now = _now() if _target_kind() == "native" else None
        width = len(str(gs[-1].id))
        for g in gs:
            mark, desc = _describe(t, g, on_thread, now)
            gdb.write("%s %*d %s\n" % (mark, width, g.id, desc))


# ---------------------------------------------------------------------------------------------
# goroutine N CMD


def _set_register(name, value):
    gdb.execute("set $%s = 0x%x" % (name, value & _MASK), to_string=True)


def _with_registers(t, regs, run):
    """Runs run() with the selected thread's registers set to regs, then restores them.
    Returns False (nothing run) when the target's registers cannot be written (a core file)."""
    thread = gdb.selected_thread()
    if thread is None:
        raise _err("no thread selected")
    if thread.is_running():
        raise _err("the selected thread is running: interrupt it first")
    level = _selected_frame_level()
    gdb.newest_frame().select()  # register writes go to the thread, not to a frame's save slot
    frame = gdb.newest_frame()
    saved = {}
    for name in regs:
        saved[name] = int(frame.read_register(name)) & _MASK
    # Writing the pc on x86_64 Linux makes gdb clear orig_rax (no syscall restart): saved and
    # put back last, so a thread stopped in a system call restarts it as it would have.
    extra = {}
    if t.arch == _ARCH_X86_64:
        try:
            extra["orig_rax"] = int(frame.read_register("orig_rax")) & _MASK
        except (ValueError, gdb.error):
            pass
    language = gdb.parameter("language") or "auto"
    changed = []
    gdb.execute("set language c", to_string=True)  # `set $rip = 0x...` in C, whatever the frame
    try:
        try:
            for name, value in regs.items():
                _set_register(name, value)
                changed.append(name)
        except gdb.error:
            if not changed:
                return False  # nothing can be written here: a core file
            raise
        gdb.execute("set language %s" % language, to_string=True)
        run()
        return True
    finally:
        gdb.execute("set language c", to_string=True)
        try:
            for name in changed:
                _set_register(name, saved[name])
            for name, value in extra.items():
                _set_register(name, value)
        finally:
            gdb.execute("set language %s" % language, to_string=True)
            _select_frame_level(level)


def _print_fp_backtrace(t, regs):
    gdb.write("(frame-pointer walk of the saved stack: gdb cannot set registers in a core file)\n")
    for i, (name, loc, pc) in enumerate(_context_frames(t, regs)):
        addr = "0x%016x in " % pc if pc is not None else ""
        gdb.write("#%-2d %s%s ()%s\n" % (i, addr, name, " at " + loc if loc else ""))


class _Goroutine(gdb.Command):
    """Run a gdb command in a goroutine's context: goroutine N CMD, goroutine all CMD

Sets the selected thread's registers to goroutine N's saved context (stack pointer, pc, frame
pointer, callee-saved registers), runs CMD (bt, bt full, info frame, frame 2...), and puts the
registers back. Only parked goroutines (waiting, or runnable after having run) have a saved
context: for a running one it names the thread to use instead. Commands that would resume
the program are refused. In a core file only `bt` works (a frame-pointer walk).
`goroutine all CMD` runs CMD for every parked goroutine."""

    def __init__(self):
        super(_Goroutine, self).__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_COMMAND)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) < 2:
            raise _err("usage: goroutine N CMD or goroutine all CMD (e.g. goroutine 7 bt)")
        which, cmd = parts[0], parts[1].strip()
        first = cmd.split(None, 1)[0]
        if first in _RESUMING:
            raise _err("`%s` would resume the program with goroutine registers on the wrong "
                       "thread; not run" % first)
        t = _table()
        if which == "all":
            for g in _live_goroutines(t):
                if g.status == t.status_running or _saved_context(t, g) is None:
                    continue
                gdb.write("\ngoroutine %d [%s]:\n" % (g.id, g.wait_reason() or g.state))
                self._run(t, g, cmd, from_tty)
            return
        try:
            goid = int(which, 0)
        except ValueError:
            raise _err("%r is not a goroutine id (usage: goroutine N CMD)" % which)
        g = _find_goroutine(t, goid)
        if g is None:
            raise _err("no goroutine %d (not created yet, or finished)" % goid)
        self._run(t, g, cmd, from_tty)

    def _run(self, t, g, cmd, from_tty):
        if g.status == t.status_running:
            on = _thread_goroutines(t, [g])
            if g.id in on:
                th = on[g.id][0]
                raise _err("goroutine %d is running on thread %d (LWP %d): use `thread %d` "
                           "then `%s`" % (g.id, th.num, th.ptid[1], th.num, cmd))
            raise _err("goroutine %d is running on a thread: find it with `info threads` "
                       "(use `thread N` then `%s`)" % (g.id, cmd))
        regs = _saved_context(t, g)
        if regs is None:
            created = _created_by(g)
            raise _err("goroutine %d has not started yet: it has no stack%s"
                       % (g.id, " (" + created + ")" if created else ""))
        try:
            ran = _with_registers(t, regs, lambda: gdb.execute(cmd, from_tty))
        except gdb.error as e:
            raise gdb.GdbError(str(e))  # gdb's own message, without a Python traceback
        if not ran:
            first = cmd.split(None, 1)[0]
            if first in ("bt", "backtrace", "where", "ba", "bac", "back", "backt", "backtr",
                         "backtra", "backtrac"):
                _print_fp_backtrace(t, regs)
            else:
                raise _err("cannot set registers in this target (a core file?): only "
                           "`goroutine N bt` works here")


_InfoGoroutines()
_Goroutine()
