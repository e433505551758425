//! Naming code addresses for tracebacks: function, source file and line, and object, found
//! with no allocation and no blocking lock.
//!
//! # What it does
//! [`symbolize`] takes a code address (a goroutine's pc, or a return address found by the
//! frame walk) and fills a [`Symbol`]: the function's name (Rust legacy names demangled to
//! `a::b::c`), the offset into the function (Go's `+0x1d`), the source file and line from
//! the DWARF line tables when the object has them, and the object's path with the offset of
//! the address from its load base (what `addr2line -e object 0xOFFSET` wants).
//!
//! # Why no allocation and no loader lock
//! Tracebacks are printed where anything may be broken: from a signal handler, while the
//! crashing thread holds the allocator's lock, or while other threads are stopped at any
//! instruction (inside `malloc`, inside the dynamic loader). So this module calls no
//! allocator (every buffer is on the stack or in a fixed-size static), takes no lock that
//! can block (two try-locks that give up at once, and a seqlock whose readers never wait),
//! and calls nothing that takes the dynamic loader's lock: `dladdr` and `dl_iterate_phdr`
//! are out, the mappings come from `/proc/self/maps` read with `open`/`read` into a stack
//! buffer. The objects are read from their files, mapped once with `mmap`. A signal that
//! lands while a lookup holds one of the try-locks, and whose handler symbolizes, finds it
//! busy and does without (maps the object privately, or skips the cache) instead of waiting
//! on itself.
//!
//! # The steps of a lookup
//! 1. The result cache: 512 direct-mapped entries keyed by (pc, return_address), each under
//!    a seqlock. A hit rebuilds the [`Symbol`] from offsets into a mapped object and costs no
//!    system call, which is what a dump of a thousand goroutines parked in the same few
//!    places needs. An entry caught mid-write reads as a miss; a writer that finds the entry
//!    being written does not cache.
//! 2. The mapping: `/proc/self/maps` is read a kilobyte at a time (a line split across two
//!    reads is carried over), up to the line whose range holds the pc. It must name a file
//!    (a path starting with `/`), or be the `[vdso]`, which is an ELF image in memory.
//! 3. The object: up to 32 objects are kept mapped read-only for the life of the process,
//!    in a table keyed by path, device and inode. Lookups read the table without a lock: an
//!    entry is written before the count that publishes it is released and never changes
//!    again. Inserting takes a spin try-lock; if it is busy, or the table is full, the object
//!    is mapped for this call only and unmapped after it.
//! 4. ELF64, little-endian (x86_64, aarch64): the `PT_LOAD` segment that holds the pc's
//!    file offset turns it into the object's virtual address, which is what the symbol and
//!    line tables speak. The function is the `STT_FUNC`/`STT_GNU_IFUNC` symbol of `.symtab`
//!    (else `.dynsym`) that covers it: among sized symbols the innermost, a GLOBAL before a
//!    WEAK before a LOCAL at the same address; a size-0 symbol only if nothing sized covers
//!    it and no symbol starts between it and the address.
//! 5. The line: the unit is picked with `.debug_aranges` and `.debug_info` when they name
//!    it; otherwise every unit of `.debug_line` is run (DWARF 2 to 5). The answer is the row
//!    with address <= target < the next row's address in the same sequence, the narrowest
//!    such range across units, ignoring rows outside the segment the address is in (code
//!    the linker discarded keeps line programs starting at 0). The file name is fetched
//!    afterwards by re-scanning the unit's header tables, and joined with its directory and,
//!    when still relative, with the compilation directory (directory 0 in DWARF 5, the
//!    unit's `DW_AT_comp_dir` before).
//!
//! For a return address the call instruction (`pc - 1`) is looked up, so the function and
//! line are those of the call even when it is the last instruction of a function, while
//! the offset into the function is computed from `pc` itself, as Go prints it.
//!
//! # Robustness
//! A mapped object is read only through bounds-checked accessors: every offset read from
//! the file is checked before use, arithmetic on values from the file wraps or is checked,
//! so a truncated or hostile file yields no name or line, never an out-of-bounds read or a
//! panic. What cannot be defended against: a file truncated on disk after it was mapped
//! (touching the lost pages raises SIGBUS). A file replaced on disk after it was loaded
//! shows as `(deleted)` in the maps and is not opened; then the module path is given with
//! the file offset instead of the virtual address as `module_offset`. Cached results are
//! keyed by pc only: if an object is unloaded and another loaded at the same address, a
//! cached pc keeps its old answer (the runtime unloads nothing; a program that `dlclose`s
//! a library may see stale names at its old addresses).
//!
//! # Cost
//! Measured on x86_64 for a pc in the unit-test binary (22 MB, 1.8 MB of `.debug_line` in
//! 873 units): the first lookup in an object 0.3-0.5 ms (mapping it, faulting pages in);
//! an uncached pc in a mapped object about 110 us (reading the maps 5 us, the symbol table
//! 35 us, the line through `.debug_aranges` 75 us; scanning every line unit instead takes
//! 6-10 ms); a cached pc 0.4 us. About 2 KiB of stack beyond the caller's [`Symbol`]
//! (816 bytes).
//!
//! # Not supported
//! Compressed debug sections (`SHF_COMPRESSED`, `.zdebug_*`) are treated as missing: no
//! `.debug_line`, no file and line (the symbol is still named); no `.debug_info`, no
//! compilation directory (DWARF 2-4 file names stay relative) and no aranges shortcut.
//! Separate debug files (`.gnu_debuglink`, build-id directories, debuginfod) are not
//! looked for. 64-bit DWARF units are skipped; big-endian and 32-bit ELF are not read.
//! Inlined frames are not expanded (the line is that of the innermost inlined code, the
//! name that of the outer function). `_R` (v0) Rust names and C++ names are left mangled.
//!
//! # Alternatives rejected
//! The `addr2line`/`gimli` crates do all of this and more, but allocate (parsed units,
//! sorted line rows, strings) and would be a dependency; the allocation alone rules them
//! out here. `dladdr` takes the loader lock and sees only the dynamic symbol table, which
//! misses every local function and Rust's internal symbols. Running `addr2line` as a
//! process needs fork/exec from a crashing process. Building sorted indexes of the line
//! tables would make cold lookups fast but needs memory proportional to the tables; a
//! linear scan plus the result cache is fast enough for tracebacks.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

/// Capacity of each text field of a [`Symbol`].
const FIELD: usize = 256;
/// Room for an object's path and its terminating NUL: longer paths are not opened.
const PATH_CAP: usize = 512;
/// How many objects stay mapped for the life of the process.
const MAX_OBJECTS: usize = 32;
/// Entries of the result cache (a power of two).
const CACHE_SIZE: usize = 512;
/// Size of the buffer `/proc/self/maps` is read into.
const MAPS_BUF: usize = 1024;

/// What the symbolizer found for one code address. Fixed-size buffers, no allocation.
pub(crate) struct Symbol {
    /// Function name, demangled when Rust legacy (`_ZN...E`), else the raw symbol name;
    /// empty if unknown.
    name: [u8; FIELD],
    name_len: usize,
    /// Source file path (directory joined with file name as DWARF gives it); empty if
    /// unknown. A longer path keeps its tail, after `...`.
    file: [u8; FIELD],
    file_len: usize,
    /// Path of the ELF object holding the address; empty if unknown. Tail kept, as `file`.
    module: [u8; FIELD],
    module_len: usize,
    /// Source line, 0 if unknown.
    pub(crate) line: u32,
    /// Address minus the start of the function (0 if no function).
    pub(crate) fn_offset: usize,
    /// Address minus the load base of the module (the ELF virtual address).
    pub(crate) module_offset: usize,
}

impl Symbol {
    pub(crate) const fn new() -> Symbol {
        Symbol {
            name: [0; FIELD],
            name_len: 0,
            file: [0; FIELD],
            file_len: 0,
            module: [0; FIELD],
            module_len: 0,
            line: 0,
            fn_offset: 0,
            module_offset: 0,
        }
    }

    pub(crate) fn name(&self) -> &[u8] {
        self.name.get(..self.name_len).unwrap_or(&[])
    }

    pub(crate) fn file(&self) -> &[u8] {
        self.file.get(..self.file_len).unwrap_or(&[])
    }

    pub(crate) fn module(&self) -> &[u8] {
        self.module.get(..self.module_len).unwrap_or(&[])
    }

    fn clear(&mut self) {
        self.name_len = 0;
        self.file_len = 0;
        self.module_len = 0;
        self.line = 0;
        self.fn_offset = 0;
        self.module_offset = 0;
    }
}

/// Fills `out` for code address `pc`. `return_address`: pc is a return address (a frame
/// above the innermost), so the line looked up is that of `pc - 1` (the call), while
/// `fn_offset` is still computed from `pc` itself (as Go prints `+0x1d`).
/// Returns false if pc is in no mapped ELF object (out is then cleared).
pub(crate) fn symbolize(pc: usize, return_address: bool, out: &mut Symbol) -> bool {
    lookup(pc, return_address, out, true)
}

/// [`symbolize`], with the result cache optional (the tests time lookups without it).
fn lookup(pc: usize, return_address: bool, out: &mut Symbol, use_cache: bool) -> bool {
    out.clear();
    if use_cache
        && let Some(found) = cache_get(pc, return_address)
        && let Some(obj) = OBJECTS.get(found.obj)
    {
        fill(out, obj.bytes(), obj.path(), &found);
        return true;
    }
    let look = if return_address { pc.wrapping_sub(1) } else { pc };
    let delta = pc.wrapping_sub(look);
    let mut m = MapHit::new();
    if !find_mapping(look, &mut m) || !m.is_object() {
        return false;
    }
    let file_off = (look.wrapping_sub(m.start) as u64).wrapping_add(m.offset);
    let Some(handle) = acquire_object(&m) else {
        // Not openable (deleted, path too long, no permission): the module and the file
        // offset are all we can give.
        out.module_len = set_tail(&mut out.module, &[m.path()]);
        out.module_offset = file_off.wrapping_add(delta as u64) as usize;
        return true;
    };
    let data = handle.bytes();
    let Some(mut found) = resolve(data, file_off, delta) else {
        return false; // not an ELF object
    };
    fill(out, data, m.path(), &found);
    if use_cache && let Some(idx) = handle.idx {
        found.obj = idx;
        cache_put(pc, return_address, &found);
    }
    true
}

/// A range of bytes of a mapped object (`len == 0`: none).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Span {
    off: usize,
    len: usize,
}

impl Span {
    /// The span of `s`, a sub-slice of `data` (empty if it is not one).
    fn of(data: &[u8], s: &[u8]) -> Span {
        let off = (s.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        match off.checked_add(s.len()) {
            Some(end) if end <= data.len() => Span { off, len: s.len() },
            _ => Span::default(),
        }
    }

    fn get(self, data: &[u8]) -> &[u8] {
        self.off.checked_add(self.len).and_then(|end| data.get(self.off..end)).unwrap_or(&[])
    }
}

/// A lookup's result, as offsets into the object (so that the cache can hold it in a few
/// words and rebuild the text from the object, which stays mapped).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Found {
    /// Index of the object in [`OBJECTS`] (meaningful only for cached results).
    obj: usize,
    /// The symbol's raw (mangled) name.
    sym: Span,
    /// Base directory, directory, file name: joined by [`path_pieces`].
    parts: [Span; 3],
    line: u32,
    fn_offset: usize,
    module_offset: usize,
}

/// Writes a result into `out`.
fn fill(out: &mut Symbol, data: &[u8], module: &[u8], f: &Found) {
    let raw = f.sym.get(data);
    if !raw.is_empty() {
        let mut t = Text::new(&mut out.name);
        demangle_into(raw, &mut t);
        out.name_len = t.finish();
    }
    let [base, dir, file] = f.parts.map(|s| s.get(data));
    let (pieces, n) = path_pieces(base, dir, file);
    out.file_len = set_tail(&mut out.file, pieces.get(..n).unwrap_or(&[]));
    out.module_len = set_tail(&mut out.module, &[module]);
    out.line = f.line;
    out.fn_offset = f.fn_offset;
    out.module_offset = f.module_offset;
}

// ---------------------------------------------------------------------------------------
// Text buffers

/// An append-only writer into a fixed field that stops, whole characters only, when full.
struct Text<'a> {
    buf: &'a mut [u8; FIELD],
    len: usize,
    full: bool,
}

impl<'a> Text<'a> {
    fn new(buf: &'a mut [u8; FIELD]) -> Text<'a> {
        Text { buf, len: 0, full: false }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.full = false;
    }

    fn push(&mut self, b: u8) {
        if self.full {
            return;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.full = true,
        }
    }

    fn push_all(&mut self, s: &[u8]) {
        for &b in s {
            self.push(b);
        }
    }

    fn push_char(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        let s = c.encode_utf8(&mut tmp).as_bytes();
        if self.len.saturating_add(s.len()) > FIELD {
            self.full = true;
        } else {
            self.push_all(s);
        }
    }

    /// The length written, less a UTF-8 sequence cut by truncation.
    fn finish(self) -> usize {
        utf8_complete_len(self.buf.get(..self.len).unwrap_or(&[]))
    }
}

/// The length of `s` without a trailing incomplete UTF-8 sequence.
fn utf8_complete_len(s: &[u8]) -> usize {
    let len = s.len();
    let mut i = len;
    while i > 0 && len - i < 4 {
        i -= 1;
        let b = s.get(i).copied().unwrap_or(0);
        if b & 0xC0 != 0x80 {
            let need = match b {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            return if len - i >= need { len } else { i };
        }
    }
    len
}

/// Writes the concatenation of `pieces` into `dst`; if too long, `...` and the tail
/// (starting at a character boundary). Returns the length written.
fn set_tail(dst: &mut [u8; FIELD], pieces: &[&[u8]]) -> usize {
    let total = pieces.iter().fold(0usize, |a, p| a.saturating_add(p.len()));
    let mut skip = 0;
    let mut w = 0;
    if total > FIELD {
        skip = total - (FIELD - 3);
        while byte_at(pieces, skip).is_some_and(|b| b & 0xC0 == 0x80) {
            skip += 1;
        }
        for (slot, &b) in dst.iter_mut().zip(b"...") {
            *slot = b;
        }
        w = 3;
    }
    for p in pieces {
        for &b in *p {
            if skip > 0 {
                skip -= 1;
            } else if let Some(slot) = dst.get_mut(w) {
                *slot = b;
                w += 1;
            }
        }
    }
    w
}

/// Byte `i` of the concatenation of `pieces`.
fn byte_at(pieces: &[&[u8]], mut i: usize) -> Option<u8> {
    for p in pieces {
        if i < p.len() {
            return p.get(i).copied();
        }
        i -= p.len();
    }
    None
}

/// Joins a file name with its directory and base directory: `file` if absolute, else
/// `dir/file` if that is absolute, else `base/dir/file` (empty parts left out).
fn path_pieces<'a>(base: &'a [u8], dir: &'a [u8], file: &'a [u8]) -> ([&'a [u8]; 5], usize) {
    let mut out: [&'a [u8]; 5] = [&[]; 5];
    let mut n = 0;
    if file.is_empty() {
        return (out, 0);
    }
    let file_absolute = file.starts_with(b"/");
    let use_dir = !file_absolute && !dir.is_empty();
    let dir_absolute = use_dir && dir.starts_with(b"/");
    let use_base = !(file_absolute || dir_absolute || base.is_empty());
    let mut push = |s: &'a [u8], out: &mut [&'a [u8]; 5]| {
        if n > 0
            && !out.get(n - 1).is_some_and(|p| p.ends_with(b"/"))
            && let Some(slot) = out.get_mut(n)
        {
            *slot = b"/";
            n += 1;
        }
        if let Some(slot) = out.get_mut(n) {
            *slot = s;
            n += 1;
        }
    };
    if use_base {
        push(base, &mut out);
    }
    if use_dir {
        push(dir, &mut out);
    }
    push(file, &mut out);
    (out, n)
}

// ---------------------------------------------------------------------------------------
// Rust legacy demangling

/// Writes `raw` demangled if it is a Rust legacy name, else as it is.
fn demangle_into(raw: &[u8], t: &mut Text<'_>) {
    if demangle_legacy(raw, t).is_none() {
        t.reset();
        t.push_all(raw);
    }
}

/// `_ZN<len><ident>...E[suffix]` → `a::b::c`, dropping the `h<16 hex>` hash element and a
/// `.llvm.` suffix. None (with `t` half written) if `raw` is not such a name.
fn demangle_legacy(raw: &[u8], t: &mut Text<'_>) -> Option<()> {
    let body = raw.strip_prefix(b"_ZN")?;
    // Validate first: count the elements and find the last.
    let mut s = body;
    let mut count = 0usize;
    let mut last: &[u8] = &[];
    let suffix = loop {
        match s.first() {
            Some(b'E') => break s.get(1..).unwrap_or(&[]),
            Some(b'0'..=b'9') => {
                let (ident, rest) = legacy_element(s)?;
                last = ident;
                count += 1;
                s = rest;
            }
            _ => return None,
        }
    };
    if count == 0 || !(suffix.is_empty() || suffix.starts_with(b".")) {
        return None;
    }
    let shown = if count >= 2 && is_legacy_hash(last) { count - 1 } else { count };
    let mut s = body;
    for i in 0..shown {
        let (ident, rest) = legacy_element(s)?;
        if i > 0 {
            t.push_all(b"::");
        }
        decode_ident(ident, t)?;
        s = rest;
    }
    if !suffix.starts_with(b".llvm.") {
        t.push_all(suffix);
    }
    Some(())
}

/// Splits `<len><ident>` off the front of `s`.
fn legacy_element(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 6 {
        return None;
    }
    let mut len = 0usize;
    for &d in s.get(..digits)? {
        len = len * 10 + usize::from(d - b'0');
    }
    let rest = s.get(digits..)?;
    if len == 0 {
        return None;
    }
    Some((rest.get(..len)?, rest.get(len..)?))
}

fn is_legacy_hash(ident: &[u8]) -> bool {
    ident.len() == 17 && ident.first() == Some(&b'h') && ident.iter().skip(1).all(|b| b.is_ascii_hexdigit())
}

/// Decodes one identifier's `$..$` escapes and `..` (→ `::`).
fn decode_ident(ident: &[u8], t: &mut Text<'_>) -> Option<()> {
    let mut s = ident;
    if s.starts_with(b"_$") {
        s = s.get(1..)?;
    }
    while let Some(&b) = s.first() {
        if b == b'$' {
            let rest = s.get(1..)?;
            let end = rest.iter().position(|&c| c == b'$')?;
            let code = rest.get(..end)?;
            s = rest.get(end + 1..)?;
            let c = match code {
                b"SP" => '@',
                b"BP" => '*',
                b"RF" => '&',
                b"LT" => '<',
                b"GT" => '>',
                b"LP" => '(',
                b"RP" => ')',
                b"C" => ',',
                _ => {
                    let hex = code.strip_prefix(b"u")?;
                    if hex.is_empty() || hex.len() > 6 {
                        return None;
                    }
                    let mut v = 0u32;
                    for &h in hex {
                        v = v * 16 + char::from(h).to_digit(16)?;
                    }
                    char::from_u32(v)?
                }
            };
            t.push_char(c);
        } else if s.starts_with(b"..") {
            t.push_all(b"::");
            s = s.get(2..)?;
        } else if b.is_ascii() {
            t.push(b);
            s = s.get(1..)?;
        } else {
            return None;
        }
    }
    Some(())
}

// ---------------------------------------------------------------------------------------
// Bounds-checked reading

/// A cursor over bytes whose every read is bounds-checked.
#[derive(Clone, Copy)]
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    fn at(data: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { data, pos }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    /// A little-endian unsigned integer of `n` (at most 8) bytes.
    fn uint(&mut self, n: usize) -> Option<u64> {
        if n > 8 {
            return None;
        }
        let b = self.bytes(n)?;
        Some(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift = shift.saturating_add(7);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
    }

    fn sleb(&mut self) -> Option<i64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift = shift.saturating_add(7);
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= u64::MAX << shift;
                }
                return Some(v as i64);
            }
        }
    }

    /// A NUL-terminated string (without the NUL).
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == 0)?;
        self.pos = self.pos.checked_add(n + 1)?;
        rest.get(..n)
    }
}

fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The NUL-terminated string at `off` in `sec`.
fn str_at(sec: &[u8], off: u64) -> Option<&[u8]> {
    Reader::at(sec, to_usize(off)?).cstr()
}

// ---------------------------------------------------------------------------------------
// ELF

const PT_LOAD: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_NOBITS: u32 = 8;
const SHT_DYNSYM: u32 = 11;
const SHF_COMPRESSED: u64 = 0x800;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const SHN_XINDEX: u16 = 0xffff;

/// An ELF64 little-endian image (a mapped file, or the vdso in memory).
struct Elf<'a> {
    data: &'a [u8],
    phoff: u64,
    phentsize: u64,
    phnum: u64,
    shoff: u64,
    shentsize: u64,
    shnum: u64,
    shstrndx: u64,
}

#[derive(Clone, Copy)]
struct Shdr {
    name: u32,
    typ: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

/// A loadable segment: file range and the virtual range it is loaded at.
#[derive(Clone, Copy)]
struct Segment {
    offset: u64,
    filesz: u64,
    vaddr: u64,
    memsz: u64,
}

impl<'a> Elf<'a> {
    fn parse(data: &'a [u8]) -> Option<Elf<'a>> {
        if data.get(..4)? != b"\x7fELF" || *data.get(4)? != 2 || *data.get(5)? != 1 {
            return None;
        }
        let mut r = Reader::at(data, 0x20);
        let phoff = r.u64()?;
        let shoff = r.u64()?;
        let mut r = Reader::at(data, 0x36);
        let phentsize = u64::from(r.u16()?);
        let phnum = u64::from(r.u16()?);
        let shentsize = u64::from(r.u16()?);
        let shnum = u64::from(r.u16()?);
        let shstrndx = r.u16()?;
        let mut elf = Elf { data, phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx: u64::from(shstrndx) };
        if elf.shentsize < 64 {
            elf.shnum = 0;
        } else if shoff != 0 && (elf.shnum == 0 || shstrndx == SHN_XINDEX) {
            // Extended numbering: the real counts are in section header 0.
            let s0 = elf.shdr_raw(0)?;
            if elf.shnum == 0 {
                elf.shnum = s0.size;
            }
            if shstrndx == SHN_XINDEX {
                elf.shstrndx = u64::from(s0.link);
            }
        }
        if elf.phentsize < 56 {
            elf.phnum = 0;
        }
        Some(elf)
    }

    fn shdr_raw(&self, i: u64) -> Option<Shdr> {
        let off = i.checked_mul(self.shentsize)?.checked_add(self.shoff)?;
        let mut r = Reader::at(self.data, to_usize(off)?);
        let name = r.u32()?;
        let typ = r.u32()?;
        let flags = r.u64()?;
        let _addr = r.u64()?;
        let offset = r.u64()?;
        let size = r.u64()?;
        let link = r.u32()?;
        let _info = r.u32()?;
        let _align = r.u64()?;
        let entsize = r.u64()?;
        Some(Shdr { name, typ, flags, offset, size, link, entsize })
    }

    fn shdr(&self, i: u64) -> Option<Shdr> {
        if i >= self.shnum {
            return None;
        }
        self.shdr_raw(i)
    }

    fn section_data(&self, s: &Shdr) -> Option<&'a [u8]> {
        if s.typ == SHT_NOBITS {
            return None;
        }
        let start = to_usize(s.offset)?;
        let end = start.checked_add(to_usize(s.size)?)?;
        self.data.get(start..end)
    }

    fn section_by_name(&self, name: &[u8]) -> Option<Shdr> {
        let names = self.section_data(&self.shdr(self.shstrndx)?)?;
        for i in 0..self.shnum {
            let s = self.shdr(i)?;
            if str_at(names, u64::from(s.name)) == Some(name) {
                return Some(s);
            }
        }
        None
    }

    fn section_by_type(&self, typ: u32) -> Option<Shdr> {
        for i in 0..self.shnum {
            let s = self.shdr(i)?;
            if s.typ == typ {
                return Some(s);
            }
        }
        None
    }

    /// The `PT_LOAD` segment holding file offset `off`.
    fn segment_for(&self, off: u64) -> Option<Segment> {
        for i in 0..self.phnum {
            let at = i.checked_mul(self.phentsize)?.checked_add(self.phoff)?;
            let mut r = Reader::at(self.data, to_usize(at)?);
            let typ = r.u32()?;
            let _flags = r.u32()?;
            let offset = r.u64()?;
            let vaddr = r.u64()?;
            let _paddr = r.u64()?;
            let filesz = r.u64()?;
            let memsz = r.u64()?;
            if typ == PT_LOAD && off >= offset && off - offset < filesz {
                return Some(Segment { offset, filesz, vaddr, memsz });
            }
        }
        None
    }

    /// A debug section's bytes; empty if missing or compressed.
    fn debug_section(&self, name: &[u8]) -> &'a [u8] {
        match self.section_by_name(name) {
            Some(s) if s.flags & SHF_COMPRESSED == 0 => self.section_data(&s).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Looks up file offset `file_off` of an object (`delta`: how far the address reported
/// lies past the one looked up, 1 for return addresses). None if `data` is not ELF64 LE.
fn resolve(data: &[u8], file_off: u64, delta: usize) -> Option<Found> {
    let elf = Elf::parse(data)?;
    let delta = delta as u64;
    let mut f = Found::default();
    let Some(seg) = elf.segment_for(file_off) else {
        f.module_offset = file_off.wrapping_add(delta) as usize;
        return Some(f);
    };
    let vaddr = file_off.wrapping_sub(seg.offset).wrapping_add(seg.vaddr);
    f.module_offset = vaddr.wrapping_add(delta) as usize;
    if let Some((name, value)) = find_symbol(&elf, vaddr) {
        f.sym = Span::of(data, name);
        f.fn_offset = vaddr.wrapping_add(delta).wrapping_sub(value) as usize;
    }
    let lo = seg.vaddr;
    let hi = seg.vaddr.wrapping_add(seg.memsz.max(seg.filesz));
    if let Some((line, parts)) = find_line(&Dwarf::load(&elf), vaddr, (lo, hi)) {
        f.line = line;
        f.parts = parts.map(|p| Span::of(data, p));
    }
    Some(f)
}

// ---------------------------------------------------------------------------------------
// Symbols

/// The function symbol covering `vaddr`: its name and value.
fn find_symbol<'a>(elf: &Elf<'a>, vaddr: u64) -> Option<(&'a [u8], u64)> {
    [SHT_SYMTAB, SHT_DYNSYM].into_iter().find_map(|typ| scan_symtab(elf, &elf.section_by_type(typ)?, vaddr))
}

fn binding_rank(info: u8) -> u8 {
    match info >> 4 {
        1 => 3, // GLOBAL
        2 => 2, // WEAK
        0 => 1, // LOCAL
        _ => 0,
    }
}

fn scan_symtab<'a>(elf: &Elf<'a>, sec: &Shdr, vaddr: u64) -> Option<(&'a [u8], u64)> {
    let syms = elf.section_data(sec)?;
    let strs = elf.section_data(&elf.shdr(u64::from(sec.link))?)?;
    let entsize = to_usize(sec.entsize.max(24))?;
    // (value, rank, name offset) of the best sized and the best size-0 candidates.
    let mut sized: Option<(u64, u8, u32)> = None;
    let mut zero_size: Option<(u64, u8, u32)> = None;
    // The highest start of any function symbol at or below vaddr.
    let mut nearest: Option<u64> = None;
    let better = |cand: (u64, u8, u32), cur: Option<(u64, u8, u32)>| match cur {
        None => true,
        Some(c) => cand.0 > c.0 || (cand.0 == c.0 && cand.1 > c.1),
    };
    for entry in syms.chunks_exact(entsize) {
        let mut r = Reader::new(entry);
        let (Some(name), Some(info), Some(_other), Some(shndx), Some(value), Some(size)) =
            (r.u32(), r.u8(), r.u8(), r.u16(), r.u64(), r.u64())
        else {
            break;
        };
        let typ = info & 0xf;
        if (typ != STT_FUNC && typ != STT_GNU_IFUNC) || shndx == 0 || name == 0 || value > vaddr {
            continue;
        }
        nearest = Some(nearest.map_or(value, |n| n.max(value)));
        let cand = (value, binding_rank(info), name);
        if size > 0 {
            if vaddr - value < size && better(cand, sized) {
                sized = Some(cand);
            }
        } else if better(cand, zero_size) {
            zero_size = Some(cand);
        }
    }
    let (value, _, name) = match (sized, zero_size) {
        (Some(s), _) => s,
        (None, Some(u)) if Some(u.0) == nearest => u,
        _ => return None,
    };
    Some((str_at(strs, u64::from(name))?, value))
}

// ---------------------------------------------------------------------------------------
// DWARF

/// The debug sections of an object (empty when missing or compressed).
struct Dwarf<'a> {
    line: &'a [u8],
    info: &'a [u8],
    abbrev: &'a [u8],
    aranges: &'a [u8],
    str_: &'a [u8],
    line_str: &'a [u8],
}

impl<'a> Dwarf<'a> {
    fn load(elf: &Elf<'a>) -> Dwarf<'a> {
        let line = elf.debug_section(b".debug_line");
        if line.is_empty() {
            return Dwarf { line, info: &[], abbrev: &[], aranges: &[], str_: &[], line_str: &[] };
        }
        Dwarf {
            line,
            info: elf.debug_section(b".debug_info"),
            abbrev: elf.debug_section(b".debug_abbrev"),
            aranges: elf.debug_section(b".debug_aranges"),
            str_: elf.debug_section(b".debug_str"),
            line_str: elf.debug_section(b".debug_line_str"),
        }
    }
}

/// An attribute value, as far as we care.
enum Val<'a> {
    Str(&'a [u8]),
    Num(u64),
    Other,
}

const DW_FORM_INDIRECT: u64 = 0x16;
const DW_FORM_IMPLICIT_CONST: u64 = 0x21;

/// Reads (or skips) one attribute value of form `form` (32-bit DWARF). None: unknown form
/// or truncated data, after which the rest of the entry cannot be found.
fn read_form<'a>(
    r: &mut Reader<'a>,
    mut form: u64,
    implicit: i64,
    addr_size: u8,
    version: u16,
    dw: &Dwarf<'a>,
) -> Option<Val<'a>> {
    for _ in 0..4 {
        if form != DW_FORM_INDIRECT {
            break;
        }
        form = r.uleb()?;
    }
    let v = match form {
        0x01 => Val::Num(r.uint(usize::from(addr_size))?), // addr
        0x03 => {
            let n = r.u16()?; // block2
            r.skip(usize::from(n))?;
            Val::Other
        }
        0x04 => {
            let n = r.u32()?; // block4
            r.skip(to_usize(u64::from(n))?)?;
            Val::Other
        }
        0x05 => Val::Num(u64::from(r.u16()?)),        // data2
        0x06 | 0x17 => Val::Num(u64::from(r.u32()?)), // data4, sec_offset
        0x07 => Val::Num(r.u64()?),                   // data8
        0x08 => Val::Str(r.cstr()?),                  // string
        0x09 | 0x18 => {
            let n = r.uleb()?; // block, exprloc
            r.skip(to_usize(n)?)?;
            Val::Other
        }
        0x0a => {
            let n = r.u8()?; // block1
            r.skip(usize::from(n))?;
            Val::Other
        }
        0x0b | 0x0c => Val::Num(u64::from(r.u8()?)), // data1, flag
        0x0d => Val::Num(r.sleb()? as u64),          // sdata
        0x0e => str_at(dw.str_, u64::from(r.u32()?)).map_or(Val::Other, Val::Str), // strp
        0x1f => str_at(dw.line_str, u64::from(r.u32()?)).map_or(Val::Other, Val::Str), // line_strp
        0x0f => Val::Num(r.uleb()?),                 // udata
        0x10 => {
            // ref_addr: address-sized in DWARF 2, offset-sized after.
            r.skip(if version <= 2 { usize::from(addr_size) } else { 4 })?;
            Val::Other
        }
        0x11 | 0x25 | 0x29 => {
            r.skip(1)?; // ref1, strx1, addrx1
            Val::Other
        }
        0x12 | 0x26 | 0x2a => {
            r.skip(2)?; // ref2, strx2, addrx2
            Val::Other
        }
        0x27 | 0x2b => {
            r.skip(3)?; // strx3, addrx3
            Val::Other
        }
        0x13 | 0x1c | 0x1d | 0x28 | 0x2c | 0x1f20 | 0x1f21 => {
            r.skip(4)?; // ref4, ref_sup4, strp_sup, strx4, addrx4, GNU_ref_alt, GNU_strp_alt
            Val::Other
        }
        0x14 | 0x20 | 0x24 => {
            r.skip(8)?; // ref8, ref_sig8, ref_sup8
            Val::Other
        }
        0x1e => {
            r.skip(16)?; // data16
            Val::Other
        }
        0x15 | 0x1a | 0x1b | 0x22 | 0x23 | 0x1f01 | 0x1f02 => {
            r.uleb()?; // ref_udata, strx, addrx, loclistx, rnglistx, GNU_addr_index, GNU_str_index
            Val::Other
        }
        0x19 => Val::Num(1), // flag_present
        DW_FORM_IMPLICIT_CONST => Val::Num(implicit as u64),
        _ => return None,
    };
    Some(v)
}

/// The header of one `.debug_line` unit.
struct LineUnit<'a> {
    /// Offset of the unit in `.debug_line`.
    off: usize,
    version: u16,
    addr_size: u8,
    min_inst: u8,
    max_ops: u8,
    line_base: i8,
    line_range: u8,
    opcode_base: u8,
    std_lens: &'a [u8],
    /// The directory and file tables (from after `standard_opcode_lengths`).
    tables: &'a [u8],
    program: &'a [u8],
}

/// The unit at `off`: `(unit, next offset)`; the unit is None if it is skipped (64-bit,
/// unknown version, bad header). None: the section cannot be walked further.
fn line_unit_at(sec: &[u8], off: usize) -> Option<(Option<LineUnit<'_>>, usize)> {
    let mut r = Reader::at(sec, off);
    let len32 = r.u32()?;
    if len32 == 0xffff_ffff {
        let len = r.u64()?;
        return Some((None, r.pos.checked_add(to_usize(len)?)?));
    }
    if len32 >= 0xffff_fff0 {
        return None;
    }
    let end = r.pos.checked_add(to_usize(u64::from(len32))?)?;
    let unit = sec.get(..end)?;
    Some((parse_line_header(unit, r.pos, off), end))
}

fn parse_line_header(unit: &[u8], pos: usize, off: usize) -> Option<LineUnit<'_>> {
    let mut r = Reader::at(unit, pos);
    let version = r.u16()?;
    if !(2..=5).contains(&version) {
        return None;
    }
    let mut addr_size = 8;
    if version >= 5 {
        addr_size = r.u8()?;
        let _seg_sel_size = r.u8()?;
    }
    let header_len = to_usize(u64::from(r.u32()?))?;
    let prog = r.pos.checked_add(header_len)?;
    let min_inst = r.u8()?;
    let max_ops = if version >= 4 { r.u8()? } else { 1 };
    let _default_is_stmt = r.u8()?;
    let line_base = r.u8()? as i8;
    let line_range = r.u8()?;
    let opcode_base = r.u8()?;
    let std_lens = r.bytes(usize::from(opcode_base.saturating_sub(1)))?;
    if line_range == 0 {
        return None;
    }
    Some(LineUnit {
        off,
        version,
        addr_size,
        min_inst,
        max_ops,
        line_base,
        line_range,
        opcode_base,
        std_lens,
        tables: unit.get(r.pos..prog)?,
        program: unit.get(prog..)?,
    })
}

/// The best row found so far: the narrowest `[row, next row)` range holding the target.
#[derive(Clone, Copy)]
struct LineMatch {
    width: u64,
    line: u64,
    file: u64,
    unit_off: usize,
}

/// The line-program state machine, reduced to what the lookup needs.
struct LineState {
    addr: u64,
    op_index: u64,
    file: u64,
    line: u64,
    /// The previous row of the current sequence: (address, file, line).
    prev: Option<(u64, u64, u64)>,
}

impl LineState {
    fn new() -> LineState {
        LineState { addr: 0, op_index: 0, file: 1, line: 1, prev: None }
    }

    fn advance(&mut self, u: &LineUnit<'_>, adv: u64) {
        let min = u64::from(u.min_inst);
        if u.max_ops <= 1 {
            self.addr = self.addr.wrapping_add(min.wrapping_mul(adv));
        } else {
            let max = u64::from(u.max_ops);
            let t = self.op_index.wrapping_add(adv);
            self.addr = self.addr.wrapping_add(min.wrapping_mul(t / max));
            self.op_index = t % max;
        }
    }

    /// Appends a row; the previous row's range is `[prev, this row)`.
    fn emit(&mut self, end_seq: bool, target: u64, seg: (u64, u64), unit_off: usize, best: &mut Option<LineMatch>) {
        if let Some((addr, file, line)) = self.prev
            && addr <= target
            && target < self.addr
            && addr >= seg.0
            && addr < seg.1
        {
            let width = self.addr - addr;
            if best.is_none_or(|b| width < b.width) {
                *best = Some(LineMatch { width, line, file, unit_off });
            }
        }
        self.prev = if end_seq { None } else { Some((self.addr, self.file, self.line)) };
    }
}

/// Runs one unit's line program, keeping the best match for `target` in `best`.
fn run_line_program(u: &LineUnit<'_>, target: u64, seg: (u64, u64), best: &mut Option<LineMatch>) {
    let mut st = LineState::new();
    let mut r = Reader::new(u.program);
    let line_range = u64::from(u.line_range.max(1));
    while let Some(op) = r.u8() {
        if op >= u.opcode_base {
            // Special opcode: advance address and line, then add a row.
            let adj = u64::from(op - u.opcode_base);
            st.advance(u, adj / line_range);
            let dl = i64::from(u.line_base).wrapping_add((adj % line_range) as i64);
            st.line = st.line.wrapping_add(dl as u64);
            st.emit(false, target, seg, u.off, best);
            continue;
        }
        match op {
            0 => {
                let Some(body) = r.uleb().and_then(to_usize).and_then(|n| r.bytes(n)) else { return };
                let mut e = Reader::new(body);
                match e.u8() {
                    Some(1) => {
                        // end_sequence
                        st.emit(true, target, seg, u.off, best);
                        st = LineState::new();
                    }
                    Some(2) => {
                        // set_address
                        if let Some(a) = e.uint(body.len().saturating_sub(1)) {
                            st.addr = a;
                            st.op_index = 0;
                        }
                    }
                    _ => {} // define_file, set_discriminator, vendor extensions
                }
            }
            1 => st.emit(false, target, seg, u.off, best), // copy
            2 => {
                let Some(adv) = r.uleb() else { return };
                st.advance(u, adv);
            }
            3 => {
                let Some(d) = r.sleb() else { return };
                st.line = st.line.wrapping_add(d as u64);
            }
            4 => {
                let Some(f) = r.uleb() else { return };
                st.file = f;
            }
            8 => {
                // const_add_pc: the address advance of special opcode 255.
                let adj = u64::from(255 - u.opcode_base);
                st.advance(u, adj / line_range);
            }
            9 => {
                let Some(a) = r.u16() else { return };
                st.addr = st.addr.wrapping_add(u64::from(a));
                st.op_index = 0;
            }
            6 | 7 | 10 | 11 => {} // negate_stmt, basic_block, prologue_end, epilogue_begin
            _ => {
                // set_column, set_isa, or an opcode we do not know: skip its operands.
                let n = u.std_lens.get(usize::from(op) - 1).copied().unwrap_or(0);
                for _ in 0..n {
                    if r.uleb().is_none() {
                        return;
                    }
                }
            }
        }
    }
}

/// The line and the (base directory, directory, file name) of `target`.
fn find_line<'a>(dw: &Dwarf<'a>, target: u64, seg: (u64, u64)) -> Option<(u32, [&'a [u8]; 3])> {
    if dw.line.is_empty() {
        return None;
    }
    let mut best = None;
    let mut comp_dir = None;
    // The fast way: .debug_aranges names the compilation unit, whose DIE names its line
    // program.
    if let Some(cu) = aranges_lookup(dw, target, seg).and_then(|off| cu_at(dw, off)?.0)
        && let Some(stmt) = cu.stmt_list
        && let Some((Some(u), _)) = to_usize(stmt).and_then(|off| line_unit_at(dw.line, off))
    {
        run_line_program(&u, target, seg, &mut best);
        comp_dir = Some(cu.comp_dir);
    }
    if best.is_none() {
        comp_dir = None;
        let mut off = 0;
        while off < dw.line.len() {
            let Some((unit, next)) = line_unit_at(dw.line, off) else { break };
            if let Some(u) = unit {
                run_line_program(&u, target, seg, &mut best);
            }
            if next <= off {
                break;
            }
            off = next;
        }
    }
    let best = best?;
    let line = u32::try_from(best.line).unwrap_or(0);
    let parts = line_unit_at(dw.line, best.unit_off)
        .and_then(|(u, _)| u)
        .and_then(|u| file_entry(dw, &u, best.file, comp_dir))
        .unwrap_or([&[]; 3]);
    Some((line, parts))
}

/// Entry `index` of a unit's file table: (base directory, directory, file name).
fn file_entry<'a>(dw: &Dwarf<'a>, u: &LineUnit<'a>, index: u64, comp_dir: Option<&'a [u8]>) -> Option<[&'a [u8]; 3]> {
    if u.version >= 5 {
        return file_entry_v5(dw, u, index);
    }
    // DWARF 2-4: include_directories (strings, then an empty one), file_names (string,
    // directory index, mtime, length; then an empty string). Files count from 1.
    let mut r = Reader::new(u.tables);
    while !r.cstr()?.is_empty() {}
    let mut n = 0u64;
    let (name, dir_idx) = loop {
        let name = r.cstr()?;
        if name.is_empty() {
            return None; // past the table (or a DW_LNE_define_file entry)
        }
        let dir = r.uleb()?;
        r.uleb()?;
        r.uleb()?;
        n += 1;
        if n == index {
            break (name, dir);
        }
    };
    let mut dir: &[u8] = &[];
    if dir_idx > 0 {
        let mut r = Reader::new(u.tables);
        let mut i = 0u64;
        loop {
            let d = r.cstr()?;
            if d.is_empty() {
                break;
            }
            i += 1;
            if i == dir_idx {
                dir = d;
                break;
            }
        }
    }
    let needs_base = !name.starts_with(b"/") && !dir.starts_with(b"/");
    let base = match comp_dir {
        _ if !needs_base => &[][..],
        Some(c) => c,
        None => find_comp_dir(dw, u.off).unwrap_or(&[]),
    };
    Some([base, dir, name])
}

const DW_LNCT_PATH: u64 = 1;
const DW_LNCT_DIRECTORY_INDEX: u64 = 2;

/// DWARF 5: directory and file tables described by entry formats; both count from 0, and
/// directory 0 is the compilation directory.
fn file_entry_v5<'a>(dw: &Dwarf<'a>, u: &LineUnit<'a>, index: u64) -> Option<[&'a [u8]; 3]> {
    let mut r = Reader::new(u.tables);
    let dir_fmt = entry_format(&mut r)?;
    let dir_count = r.uleb()?;
    let dirs_at = r.pos;
    v5_entries(&mut r, dir_fmt, dir_count, None, u, dw)?;
    let file_fmt = entry_format(&mut r)?;
    let file_count = r.uleb()?;
    if index >= file_count {
        return None;
    }
    let (name, dir_idx) = v5_entries(&mut r, file_fmt, file_count, Some(index), u, dw)?;
    let dir_entry = |i: u64| {
        let found = v5_entries(&mut Reader::at(u.tables, dirs_at), dir_fmt, dir_count, Some(i), u, dw);
        found.map_or(&[][..], |(path, _)| path)
    };
    let dir = if dir_idx < dir_count { dir_entry(dir_idx) } else { &[] };
    let base = if dir_idx == 0 { &[][..] } else { dir_entry(0) };
    Some([base, dir, name])
}

/// Reads the entries of a DWARF 5 directory or file table up to entry `last` (all `count`
/// if None) and returns the last one read.
fn v5_entries<'a>(
    r: &mut Reader<'a>,
    fmt: &[u8],
    count: u64,
    last: Option<u64>,
    u: &LineUnit<'a>,
    dw: &Dwarf<'a>,
) -> Option<(&'a [u8], u64)> {
    let n = last.map_or(count, |l| l.saturating_add(1).min(count));
    let mut entry: (&[u8], u64) = (&[], 0);
    for _ in 0..n {
        let before = r.pos;
        entry = v5_entry(r, fmt, u, dw)?;
        if r.pos == before {
            // Entries of no bytes (a hostile format): all alike, and the rest take no room.
            break;
        }
    }
    Some(entry)
}

/// Reads an entry-format description (count, then (content type, form) pairs) and returns
/// its bytes.
fn entry_format<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let count = r.u8()?;
    let start = r.pos;
    for _ in 0..u32::from(count) * 2 {
        r.uleb()?;
    }
    r.data.get(start..r.pos)
}

/// Reads one directory or file entry described by `fmt`: (path, directory index).
fn v5_entry<'a>(r: &mut Reader<'a>, fmt: &[u8], u: &LineUnit<'a>, dw: &Dwarf<'a>) -> Option<(&'a [u8], u64)> {
    let mut f = Reader::new(fmt);
    let mut path: &[u8] = &[];
    let mut dir = 0;
    while !f.is_empty() {
        let content = f.uleb()?;
        let form = f.uleb()?;
        match read_form(r, form, 0, u.addr_size, u.version, dw)? {
            Val::Str(s) if content == DW_LNCT_PATH => path = s,
            Val::Num(n) if content == DW_LNCT_DIRECTORY_INDEX => dir = n,
            _ => {}
        }
    }
    Some((path, dir))
}

/// What a compilation unit's DIE says about its line program.
struct CuInfo<'a> {
    stmt_list: Option<u64>,
    comp_dir: &'a [u8],
}

const DW_AT_STMT_LIST: u64 = 0x10;
const DW_AT_COMP_DIR: u64 = 0x1b;

/// The unit of `.debug_info` at `off`: (its DIE's line program and directory if it is a
/// compilation unit, next offset).
fn cu_at<'a>(dw: &Dwarf<'a>, off: usize) -> Option<(Option<CuInfo<'a>>, usize)> {
    let mut r = Reader::at(dw.info, off);
    let len32 = r.u32()?;
    if len32 == 0xffff_ffff {
        let len = r.u64()?;
        return Some((None, r.pos.checked_add(to_usize(len)?)?));
    }
    if len32 >= 0xffff_fff0 {
        return None;
    }
    let end = r.pos.checked_add(to_usize(u64::from(len32))?)?;
    let unit = dw.info.get(..end)?;
    Some((cu_die(dw, Reader::at(unit, r.pos)), end))
}

fn cu_die<'a>(dw: &Dwarf<'a>, mut r: Reader<'a>) -> Option<CuInfo<'a>> {
    let version = r.u16()?;
    let (abbrev_off, addr_size) = match version {
        2..=4 => {
            let a = r.u32()?;
            (a, r.u8()?)
        }
        5 => {
            let unit_type = r.u8()?;
            let addr_size = r.u8()?;
            let a = r.u32()?;
            match unit_type {
                1 | 3 => {}          // compile, partial
                4 | 5 => r.skip(8)?, // skeleton, split_compile: dwo_id
                _ => return None,    // type units
            }
            (a, addr_size)
        }
        _ => return None,
    };
    let code = r.uleb()?;
    let mut spec = find_abbrev(dw.abbrev, to_usize(u64::from(abbrev_off))?, code)?;
    let mut info = CuInfo { stmt_list: None, comp_dir: &[] };
    loop {
        let at = spec.uleb()?;
        let form = spec.uleb()?;
        let implicit = if form == DW_FORM_IMPLICIT_CONST { spec.sleb()? } else { 0 };
        if at == 0 && form == 0 {
            return Some(info);
        }
        match read_form(&mut r, form, implicit, addr_size, version, dw)? {
            Val::Num(n) if at == DW_AT_STMT_LIST => info.stmt_list = Some(n),
            Val::Str(s) if at == DW_AT_COMP_DIR => info.comp_dir = s,
            _ => {}
        }
    }
}

/// The attribute specifications of abbreviation `code` in the table at `off`.
fn find_abbrev(abbrev: &[u8], off: usize, code: u64) -> Option<Reader<'_>> {
    let mut r = Reader::at(abbrev, off);
    loop {
        let c = r.uleb()?;
        if c == 0 {
            return None;
        }
        let _tag = r.uleb()?;
        let _children = r.u8()?;
        if c == code {
            return Some(r);
        }
        loop {
            let at = r.uleb()?;
            let form = r.uleb()?;
            if form == DW_FORM_IMPLICIT_CONST {
                r.sleb()?;
            }
            if at == 0 && form == 0 {
                break;
            }
        }
    }
}

/// The compilation directory of the unit whose line program is at `line_off`.
fn find_comp_dir<'a>(dw: &Dwarf<'a>, line_off: usize) -> Option<&'a [u8]> {
    let mut off = 0;
    while off < dw.info.len() {
        let (cu, next) = cu_at(dw, off)?;
        if let Some(cu) = cu
            && cu.stmt_list == Some(line_off as u64)
        {
            return Some(cu.comp_dir);
        }
        if next <= off {
            break;
        }
        off = next;
    }
    None
}

/// The `.debug_info` offset of the unit `.debug_aranges` says covers `target` (ranges
/// outside the segment, left by discarded code, are ignored).
fn aranges_lookup(dw: &Dwarf<'_>, target: u64, seg: (u64, u64)) -> Option<usize> {
    let mut off = 0;
    while off < dw.aranges.len() {
        let mut r = Reader::at(dw.aranges, off);
        let len32 = r.u32()?;
        if len32 >= 0xffff_fff0 {
            return None;
        }
        let end = r.pos.checked_add(to_usize(u64::from(len32))?)?;
        let set = dw.aranges.get(..end)?;
        let mut r = Reader::at(set, r.pos);
        let version = r.u16()?;
        let info_off = r.u32()?;
        let addr_size = usize::from(r.u8()?);
        let seg_size = r.u8()?;
        if version == 2 && seg_size == 0 && (addr_size == 4 || addr_size == 8) {
            // Tuples start at a multiple of their size from the start of the set.
            let tuple = 2 * addr_size;
            let rel = r.pos - off;
            r.pos = off + rel.div_ceil(tuple) * tuple;
            while let (Some(start), Some(len)) = (r.uint(addr_size), r.uint(addr_size)) {
                if start == 0 && len == 0 {
                    break;
                }
                if start <= target && target - start < len && start >= seg.0 && start < seg.1 {
                    return to_usize(u64::from(info_off));
                }
            }
        }
        if end <= off {
            break;
        }
        off = end;
    }
    None
}

// ---------------------------------------------------------------------------------------
// /proc/self/maps

/// The mapping holding an address, as `/proc/self/maps` describes it.
struct MapHit {
    start: usize,
    end: usize,
    offset: u64,
    dev_major: u64,
    dev_minor: u64,
    inode: u64,
    readable: bool,
    /// The path, NUL-terminated in `path` when `path_ok`.
    path: [u8; PATH_CAP],
    path_len: usize,
    /// The whole path is in `path` and names a file that can be opened.
    path_ok: bool,
}

impl MapHit {
    fn new() -> MapHit {
        MapHit {
            start: 0,
            end: 0,
            offset: 0,
            dev_major: 0,
            dev_minor: 0,
            inode: 0,
            readable: false,
            path: [0; PATH_CAP],
            path_len: 0,
            path_ok: false,
        }
    }

    fn path(&self) -> &[u8] {
        self.path.get(..self.path_len).unwrap_or(&[])
    }

    fn is_vdso(&self) -> bool {
        self.path() == b"[vdso]"
    }

    /// The mapping is of a file, or the vdso.
    fn is_object(&self) -> bool {
        self.path().starts_with(b"/") || self.is_vdso()
    }
}

/// Finds the mapping holding `pc` in `/proc/self/maps`.
fn find_mapping(pc: usize, out: &mut MapHit) -> bool {
    // SAFETY: a NUL-terminated path; open has no other preconditions.
    let fd = unsafe { libc::open(c"/proc/self/maps".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let found = scan_maps(
        |buf| loop {
            // SAFETY: buf is a writable buffer of buf.len() bytes.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && crate::os::errno() == libc::EINTR {
                continue;
            }
            return n;
        },
        pc,
        out,
    );
    // SAFETY: fd is ours, opened above.
    unsafe { libc::close(fd) };
    found
}

enum Verdict {
    Hit,
    /// The line starts above pc: the (sorted) rest cannot hold it.
    Past,
    Next,
}

/// Scans maps text produced by `read` (a read(2)-like function) for the line holding pc.
fn scan_maps(mut read: impl FnMut(&mut [u8]) -> isize, pc: usize, out: &mut MapHit) -> bool {
    let mut buf = [0u8; MAPS_BUF];
    let mut have = 0;
    // Discarding the rest of a line longer than the buffer.
    let mut discarding = false;
    loop {
        let n = match buf.get_mut(have..) {
            Some(free) if !free.is_empty() => read(free),
            _ => 0,
        };
        let eof = n <= 0;
        if !eof {
            have = have.saturating_add(n as usize).min(MAPS_BUF);
        }
        let filled = buf.get(..have).unwrap_or(&[]);
        let mut start = 0;
        while let Some(nl) = filled.get(start..).and_then(|s| s.iter().position(|&b| b == b'\n')) {
            let line = filled.get(start..start + nl).unwrap_or(&[]);
            start += nl + 1;
            if discarding {
                discarding = false;
                continue;
            }
            match check_line(line, pc, true, out) {
                Verdict::Hit => return true,
                Verdict::Past => return false,
                Verdict::Next => {}
            }
        }
        let rest = filled.get(start..).unwrap_or(&[]);
        if eof {
            return !discarding && !rest.is_empty() && matches!(check_line(rest, pc, true, out), Verdict::Hit);
        }
        if start == 0 && have == MAPS_BUF {
            // A line longer than the buffer: judge it by its head; its path is cut.
            if !discarding {
                match check_line(rest, pc, false, out) {
                    Verdict::Hit => return true,
                    Verdict::Past => return false,
                    Verdict::Next => {}
                }
            }
            discarding = true;
            have = 0;
        } else {
            buf.copy_within(start..have, 0);
            have -= start;
        }
    }
}

/// Parses a hex or decimal number at the front of `s`: (value, rest).
fn parse_num(s: &[u8], radix: u32) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|&&b| char::from(b).is_digit(radix)).count();
    if digits == 0 {
        return None;
    }
    let mut v = 0u64;
    for &b in s.get(..digits)? {
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(char::from(b).to_digit(radix)?))?;
    }
    Some((v, s.get(digits..)?))
}

/// Judges one maps line (`start-end perms offset major:minor inode   path`); on a hit,
/// fills `out`. `complete`: the line is whole (else its path is cut short).
fn check_line(line: &[u8], pc: usize, complete: bool, out: &mut MapHit) -> Verdict {
    let Some((start, rest)) = parse_num(line, 16) else { return Verdict::Next };
    let Some((end, rest)) = rest.strip_prefix(b"-").and_then(|r| parse_num(r, 16)) else { return Verdict::Next };
    let pc = pc as u64;
    if pc < start {
        return Verdict::Past;
    }
    if pc >= end {
        return Verdict::Next;
    }
    match parse_fields(rest, complete, out) {
        Some(()) => {
            out.start = start as usize;
            out.end = end as usize;
            Verdict::Hit
        }
        None => Verdict::Next,
    }
}

/// Parses the fields after a maps line's range (` perms offset major:minor inode   path`)
/// into `out`.
fn parse_fields(rest: &[u8], complete: bool, out: &mut MapHit) -> Option<()> {
    let rest = rest.strip_prefix(b" ")?;
    out.readable = rest.first() == Some(&b'r');
    let rest = rest.get(rest.iter().position(|&b| b == b' ')? + 1..)?;
    let (offset, rest) = parse_num(rest, 16)?;
    let (major, rest) = parse_num(rest.strip_prefix(b" ")?, 16)?;
    let (minor, rest) = parse_num(rest.strip_prefix(b":")?, 16)?;
    let (inode, rest) = parse_num(rest.strip_prefix(b" ")?, 10)?;
    let path = rest.get(rest.iter().position(|&b| b != b' ').unwrap_or(rest.len())..)?;
    out.offset = offset;
    out.dev_major = major;
    out.dev_minor = minor;
    out.inode = inode;
    let n = path.len().min(PATH_CAP - 1);
    for (d, &s) in out.path.iter_mut().zip(path.iter().take(n)) {
        *d = s;
    }
    if let Some(nul) = out.path.get_mut(n) {
        *nul = 0;
    }
    out.path_len = n;
    out.path_ok = complete && n == path.len() && !path.ends_with(b" (deleted)");
    Some(())
}

// ---------------------------------------------------------------------------------------
// Mapped objects

/// An object mapped for the life of the process.
struct Object {
    dev_major: u64,
    dev_minor: u64,
    inode: u64,
    path: [u8; PATH_CAP],
    path_len: usize,
    base: usize,
    len: usize,
}

impl Object {
    const EMPTY: Object =
        Object { dev_major: 0, dev_minor: 0, inode: 0, path: [0; PATH_CAP], path_len: 0, base: 0, len: 0 };

    fn path(&self) -> &[u8] {
        self.path.get(..self.path_len).unwrap_or(&[])
    }

    fn bytes(&self) -> &[u8] {
        if self.base == 0 {
            return &[];
        }
        // SAFETY: base..base+len is a read-only mapping made by `map_file` (or the vdso)
        // that is never unmapped, so it stays valid and unchanged for the life of the
        // process.
        unsafe { core::slice::from_raw_parts(self.base as *const u8, self.len) }
    }

    fn matches(&self, m: &MapHit) -> bool {
        self.inode == m.inode
            && self.dev_major == m.dev_major
            && self.dev_minor == m.dev_minor
            && self.path() == m.path()
    }
}

/// The objects mapped for good: entries below `count` are published and never change;
/// entries at or above it are written only by the holder of `lock`.
struct ObjectTable {
    count: AtomicUsize,
    lock: AtomicBool,
    slots: [UnsafeCell<Object>; MAX_OBJECTS],
}

// SAFETY: a slot is written only while `lock` is held and before `count` is released past
// it (Release), and read only after `count` was seen past it (Acquire) and never written
// again, so no slot is ever read and written at the same time.
unsafe impl Sync for ObjectTable {}

static OBJECTS: ObjectTable = ObjectTable {
    count: AtomicUsize::new(0),
    lock: AtomicBool::new(false),
    slots: [const { UnsafeCell::new(Object::EMPTY) }; MAX_OBJECTS],
};

impl ObjectTable {
    fn get(&self, i: usize) -> Option<&Object> {
        if i >= self.count.load(Ordering::Acquire) {
            return None;
        }
        let cell = self.slots.get(i)?;
        // SAFETY: slot i is below the published count: fully written and immutable.
        Some(unsafe { &*cell.get() })
    }

    fn find(&self, m: &MapHit) -> Option<usize> {
        let n = self.count.load(Ordering::Acquire);
        (0..n).find(|&i| self.get(i).is_some_and(|o| o.matches(m)))
    }
}

/// An object's bytes for one lookup: published in [`OBJECTS`], or mapped for this call.
struct Handle {
    idx: Option<usize>,
    base: usize,
    len: usize,
    /// Unmap on drop (a private mapping of a file).
    unmap: bool,
}

impl Handle {
    fn bytes(&self) -> &[u8] {
        if self.base == 0 {
            return &[];
        }
        // SAFETY: base..base+len is a readable mapping: a published object (never
        // unmapped), the vdso, or a private mapping that lives until this handle drops.
        unsafe { core::slice::from_raw_parts(self.base as *const u8, self.len) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.unmap {
            // SAFETY: our own private mapping of exactly this range, used by nobody else.
            unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
        }
    }
}

/// The object `m` maps: found in the table, or mapped (and published if the table has
/// room and its lock is free).
fn acquire_object(m: &MapHit) -> Option<Handle> {
    if let Some(i) = OBJECTS.find(m) {
        let o = OBJECTS.get(i)?;
        return Some(Handle { idx: Some(i), base: o.base, len: o.len, unmap: false });
    }
    let mut h = if m.is_vdso() {
        if !m.readable {
            return None;
        }
        Handle { idx: None, base: m.start, len: m.end.wrapping_sub(m.start), unmap: false }
    } else {
        let (base, len) = map_file(m)?;
        Handle { idx: None, base, len, unmap: true }
    };
    if OBJECTS.lock.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        if let Some(i) = OBJECTS.find(m) {
            // Another thread published it meanwhile: use theirs, unmap ours.
            OBJECTS.lock.store(false, Ordering::Release);
            let o = OBJECTS.get(i)?;
            return Some(Handle { idx: Some(i), base: o.base, len: o.len, unmap: false });
        }
        let n = OBJECTS.count.load(Ordering::Relaxed);
        if let Some(cell) = OBJECTS.slots.get(n) {
            // SAFETY: slot n is at the count, so no reader looks at it, and we hold the
            // lock, so no other writer does: this is the only reference to it.
            let obj = unsafe { &mut *cell.get() };
            obj.dev_major = m.dev_major;
            obj.dev_minor = m.dev_minor;
            obj.inode = m.inode;
            obj.path_len = 0;
            for (d, &s) in obj.path.iter_mut().zip(m.path()) {
                *d = s;
                obj.path_len += 1;
            }
            obj.base = h.base;
            obj.len = h.len;
            OBJECTS.count.store(n + 1, Ordering::Release);
            h.idx = Some(n);
            h.unmap = false;
        }
        OBJECTS.lock.store(false, Ordering::Release);
    }
    Some(h)
}

/// Maps the whole file named by `m` read-only: (base, length).
fn map_file(m: &MapHit) -> Option<(usize, usize)> {
    if !m.path_ok {
        return None;
    }
    // SAFETY: m.path holds a NUL-terminated path (check_line writes the NUL).
    let fd = unsafe { libc::open(m.path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut st = core::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fd is open; st is a writable stat buffer.
    let ok = unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0;
    // SAFETY: zero-initialized, and filled by fstat if it succeeded.
    let st = unsafe { st.assume_init() };
    let size = usize::try_from(st.st_size).unwrap_or(0);
    // A different inode on the same device: the path now names another file.
    let replaced = u64::from(libc::major(st.st_dev)) == m.dev_major
        && u64::from(libc::minor(st.st_dev)) == m.dev_minor
        && st.st_ino != m.inode;
    let mut base = None;
    if ok && !replaced && st.st_mode & libc::S_IFMT == libc::S_IFREG && size >= 64 {
        // SAFETY: a new private read-only mapping of an open file; it affects no existing
        // memory.
        let p = unsafe { libc::mmap(core::ptr::null_mut(), size, libc::PROT_READ, libc::MAP_PRIVATE, fd, 0) };
        if p != libc::MAP_FAILED {
            base = Some((p as usize, size));
        }
    }
    // SAFETY: fd is ours; the mapping stays valid after close.
    unsafe { libc::close(fd) };
    base
}

// ---------------------------------------------------------------------------------------
// Result cache

/// Words of a cache entry: pc, meta (valid | return_address << 1 | object << 2), symbol
/// span, three path spans, line, fn_offset, module_offset.
const WORDS: usize = 13;

/// One entry, under a seqlock: `seq` is odd while a writer fills the words.
struct CacheEntry {
    seq: AtomicUsize,
    w: [AtomicUsize; WORDS],
}

impl CacheEntry {
    const fn new() -> CacheEntry {
        CacheEntry { seq: AtomicUsize::new(0), w: [const { AtomicUsize::new(0) }; WORDS] }
    }
}

static CACHE: [CacheEntry; CACHE_SIZE] = [const { CacheEntry::new() }; CACHE_SIZE];

fn cache_slot(pc: usize, return_address: bool) -> Option<&'static CacheEntry> {
    let h = (pc as u64 ^ u64::from(return_address)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    CACHE.get((h >> 32) as usize & (CACHE_SIZE - 1))
}

fn meta(return_address: bool, obj: usize) -> usize {
    1 | (usize::from(return_address) << 1) | (obj << 2)
}

fn cache_get(pc: usize, return_address: bool) -> Option<Found> {
    let e = cache_slot(pc, return_address)?;
    let s1 = e.seq.load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return None;
    }
    let mut w = [0usize; WORDS];
    for (d, s) in w.iter_mut().zip(&e.w) {
        *d = s.load(Ordering::Relaxed);
    }
    fence(Ordering::Acquire);
    if e.seq.load(Ordering::Relaxed) != s1 {
        return None;
    }
    let [key, m, so, sl, p0o, p0l, p1o, p1l, p2o, p2l, line, fn_offset, module_offset] = w;
    if key != pc || m & 3 != meta(return_address, 0) {
        return None;
    }
    Some(Found {
        obj: m >> 2,
        sym: Span { off: so, len: sl },
        parts: [Span { off: p0o, len: p0l }, Span { off: p1o, len: p1l }, Span { off: p2o, len: p2l }],
        line: u32::try_from(line).unwrap_or(0),
        fn_offset,
        module_offset,
    })
}

fn cache_put(pc: usize, return_address: bool, f: &Found) {
    let Some(e) = cache_slot(pc, return_address) else { return };
    let s = e.seq.load(Ordering::Relaxed);
    if s & 1 != 0 || e.seq.compare_exchange(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_err() {
        return; // being written (perhaps by the code this signal interrupted): skip
    }
    fence(Ordering::Release);
    let [p0, p1, p2] = f.parts;
    let w = [
        pc,
        meta(return_address, f.obj),
        f.sym.off,
        f.sym.len,
        p0.off,
        p0.len,
        p1.off,
        p1.len,
        p2.off,
        p2.len,
        f.line as usize,
        f.fn_offset,
        f.module_offset,
    ];
    for (d, &v) in e.w.iter().zip(&w) {
        d.store(v, Ordering::Relaxed);
    }
    e.seq.store(s.wrapping_add(2), Ordering::Release);
}

// ---------------------------------------------------------------------------------------

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Instant;

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn sym(pc: usize, ra: bool) -> (bool, Symbol) {
        let mut out = Symbol::new();
        let ok = symbolize(pc, ra, &mut out);
        (ok, out)
    }

    #[inline(never)]
    fn some_marker_fn(x: usize) -> (u32, u32, usize) {
        let first = line!() - 1;
        let y = core::hint::black_box(x).wrapping_mul(3);
        (first, line!(), y)
    }

    /// Returns the address of an instruction in its own body, with the lines of the body.
    #[inline(never)]
    fn marker_with_pc() -> (usize, u32, u32) {
        let first = line!() - 1;
        let pc: usize;
        // SAFETY: computes the address of the instruction itself; touches no memory.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            core::arch::asm!("2:", "lea {}, [rip + 2b]", out(reg) pc, options(nomem, nostack, preserves_flags))
        };
        // SAFETY: computes the address of the instruction itself; touches no memory.
        #[cfg(target_arch = "aarch64")]
        unsafe {
            core::arch::asm!("adr {}, .", out(reg) pc, options(nomem, nostack, preserves_flags))
        };
        (core::hint::black_box(pc), first, line!())
    }

    #[test]
    fn names_a_rust_function() {
        let (first, last, _) = some_marker_fn(1);
        let (ok, out) = sym(some_marker_fn as *const () as usize, false);
        assert!(ok);
        let name = s(out.name());
        assert!(name.ends_with("debug::symbolize::tests::some_marker_fn"), "{name}");
        assert!(out.fn_offset < 16, "{}", out.fn_offset);
        let file = s(out.file());
        assert!(file.ends_with("src/debug/symbolize.rs"), "{file}");
        assert!(file.starts_with('/'), "{file}");
        assert!((first..=last).contains(&out.line), "{} not in {first}..={last}", out.line);
        let module = s(out.module());
        assert!(module.starts_with('/'), "{module}");
        assert_ne!(out.module_offset, 0);
        // Twice: the second answer comes from the cache and must be the same.
        let (ok2, again) = sym(some_marker_fn as *const () as usize, false);
        assert!(ok2);
        assert_eq!(again.name(), out.name());
        assert_eq!(again.file(), out.file());
        assert_eq!(again.module(), out.module());
        assert_eq!((again.line, again.fn_offset, again.module_offset), (out.line, out.fn_offset, out.module_offset));
    }

    #[test]
    fn return_address_names_the_call() {
        let (pc, first, last) = marker_with_pc();
        for (addr, ra) in [(pc, false), (pc + 1, true)] {
            let (ok, out) = sym(addr, ra);
            assert!(ok);
            let name = s(out.name());
            assert!(name.ends_with("symbolize::tests::marker_with_pc"), "{name}");
            assert!(s(out.file()).ends_with("src/debug/symbolize.rs"), "{}", s(out.file()));
            assert!((first..=last).contains(&out.line), "{} not in {first}..={last}", out.line);
            // fn_offset counts from the address given, not from the one looked up.
            let (_, at) = sym(marker_with_pc as *const () as usize, false);
            assert_eq!(out.fn_offset, addr - marker_with_pc as *const () as usize);
            assert_eq!(out.module_offset - out.fn_offset, at.module_offset);
        }
    }

    #[test]
    fn libc_function() {
        let (ok, out) = sym(libc::write as *const () as usize, false);
        assert!(ok);
        let name = s(out.name());
        assert!(name.contains("write"), "{name}");
        assert_eq!(out.fn_offset, 0);
        assert!(s(out.module()).contains("libc"), "{}", s(out.module()));
    }

    #[test]
    fn unmapped_address() {
        let mut out = Symbol::new();
        assert!(symbolize(some_marker_fn as *const () as usize, false, &mut out));
        assert!(!symbolize(0x10, false, &mut out));
        assert!(out.name().is_empty() && out.file().is_empty() && out.module().is_empty());
        assert_eq!((out.line, out.fn_offset, out.module_offset), (0, 0, 0));
        assert!(!symbolize(0, true, &mut out));
        assert!(!symbolize(usize::MAX, false, &mut out));
    }

    /// The vdso is an ELF image in memory: its functions are named from its .dynsym.
    #[test]
    fn vdso_functions() {
        // SAFETY: getauxval has no preconditions.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if base == 0 {
            eprintln!("skipping: no vdso");
            return;
        }
        let named: Vec<_> = (0..8192)
            .step_by(4)
            .filter_map(|off| {
                let (ok, o) = sym(base + off, false);
                (ok && !o.name().is_empty()).then(|| (s(o.module()), s(o.name()), o.module_offset))
            })
            .collect();
        assert!(named.iter().any(|(m, n, _)| m == "[vdso]" && n.contains("gettime")), "{named:?}");
    }

    #[test]
    fn concurrent_callers_agree() {
        let pcs = [
            some_marker_fn as *const () as usize,
            marker_with_pc as *const () as usize,
            libc::write as *const () as usize,
            lookup as *const () as usize,
        ];
        let expect: Vec<_> = pcs
            .iter()
            .map(|&pc| {
                let (_, o) = sym(pc, true);
                (o.name().to_vec(), o.file().to_vec(), o.line, o.fn_offset)
            })
            .collect();
        std::thread::scope(|sc| {
            for t in 0..4 {
                let expect = &expect;
                sc.spawn(move || {
                    for i in 0..2000 {
                        let k = (i + t) % pcs.len();
                        let (ok, o) = sym(pcs[k], true);
                        assert!(ok);
                        assert_eq!((o.name().to_vec(), o.file().to_vec(), o.line, o.fn_offset), expect[k]);
                    }
                });
            }
        });
    }

    // --- C objects with debug info ---------------------------------------------------

    const C_SRC: &str = "int gort_sym_c_add(int a, int b) {\n\
                         \x20   int s = a + b;\n\
                         \x20   return s * 2;\n\
                         }\n\
                         \n\
                         int gort_sym_c_other(int x) {\n\
                         \x20   return x - 1;\n\
                         }\n";

    /// A C library built from C_SRC and loaded.
    struct CLib {
        /// The directory it was compiled in (its sources are `dir/t.c`).
        dir: PathBuf,
        so: PathBuf,
        add: usize,
        other: usize,
    }

    /// Compiles C_SRC with `flags` in a fresh directory (as the cwd, with a relative source
    /// name, so that the directory comes from the compilation directory) and loads it.
    /// None if no compiler makes a library this process can load (on aarch64 under
    /// qemu-user, the host's `cc` builds for the host: the cross compiler is tried next).
    fn build_c(tag: &str, flags: &[&str]) -> Option<CLib> {
        let dir = std::env::temp_dir().join(format!("gort-sym-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(dir.join("t.c"), C_SRC).ok()?;
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let so = dir.join(format!("lib{tag}.so"));
        for cc in ["cc", "aarch64-linux-gnu-gcc"] {
            let built = Command::new(cc)
                .current_dir(&dir)
                .args(flags)
                .args(["-O0", "-shared", "-fPIC", "-o"])
                .arg(&so)
                .arg("t.c")
                .status()
                .is_ok_and(|s| s.success());
            if !built {
                continue;
            }
            let path = CString::new(so.to_str()?).ok()?;
            // SAFETY: test-only; loads a tiny library we just built, and keeps it loaded.
            let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
            if h.is_null() {
                continue;
            }
            let sym = |name: &std::ffi::CStr| {
                // SAFETY: h is a live handle, name a C string.
                unsafe { libc::dlsym(h, name.as_ptr()) as usize }
            };
            let (add, other) = (sym(c"gort_sym_c_add"), sym(c"gort_sym_c_other"));
            assert!(add != 0 && other != 0);
            return Some(CLib { dir, so, add, other });
        }
        None
    }

    /// What a C library's line tables must give.
    #[derive(Clone, Copy, PartialEq)]
    enum Lines {
        /// File and line exactly right.
        Exact,
        /// None at all.
        Absent,
        /// Either none, or right (the linker compresses a section only if that saves space).
        Either,
    }

    fn check_c(tag: &str, flags: &[&str], want: Lines) {
        let Some(CLib { dir, so, add, other }) = build_c(tag, flags) else {
            eprintln!("skipping C test {tag}: no working cc");
            return;
        };
        let want_file = format!("{}/t.c", dir.display());
        for (f, name, lines) in [(add, "gort_sym_c_add", 1..=4), (other, "gort_sym_c_other", 6..=8)] {
            let (ok, out) = sym(f, false);
            assert!(ok);
            assert_eq!(s(out.name()), name);
            assert_eq!(out.fn_offset, 0);
            assert_eq!(s(out.module()), so.to_str().unwrap());
            let has_lines = match want {
                Lines::Exact => true,
                Lines::Absent => false,
                Lines::Either => !out.file().is_empty(),
            };
            if has_lines {
                let file = s(out.file());
                // With a compressed .debug_info (gz) the compilation directory is unknown.
                assert!(file == want_file || (want == Lines::Either && file == "t.c"), "{tag}: {file}");
                assert_eq!(out.line, *lines.start(), "{tag}");
            } else {
                assert!(out.file().is_empty(), "{tag}: {}", s(out.file()));
                assert_eq!(out.line, 0);
            }
            for off in 1..12 {
                let (ok, out) = sym(f + off, off % 2 == 0);
                assert!(ok);
                assert_eq!(s(out.name()), name);
                assert_eq!(out.fn_offset, off);
                if has_lines {
                    assert!(lines.contains(&out.line), "{tag} +{off}: line {}", out.line);
                }
            }
        }
        if want == Lines::Exact {
            // Somewhere in gort_sym_c_add, the body lines must show up too.
            let seen = (0..40).any(|off| {
                let (_, o) = sym(add + off, false);
                o.name() == b"gort_sym_c_add" && o.line == 2
            });
            assert!(seen, "{tag}: no pc of gort_sym_c_add maps to line 2");
        }
        // The library stays loaded and mapped; its files can go.
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn c_object_dwarf5() {
        check_c("d5", &["-g", "-gdwarf-5"], Lines::Exact);
    }

    #[test]
    fn c_object_dwarf4() {
        check_c("d4", &["-g", "-gdwarf-4"], Lines::Exact);
    }

    #[test]
    fn c_object_dwarf3() {
        check_c("d3", &["-g", "-gdwarf-3"], Lines::Exact);
    }

    #[test]
    fn c_object_dwarf2() {
        check_c("d2", &["-g", "-gdwarf-2"], Lines::Exact);
    }

    /// 64-bit .debug_info and .debug_aranges (the assembler keeps .debug_line 32-bit): the
    /// aranges shortcut is skipped, the full scan still finds the line.
    #[test]
    fn c_object_dwarf64_info() {
        check_c("d64", &["-g", "-gdwarf64"], Lines::Exact);
    }

    #[test]
    fn c_object_compressed_debug() {
        check_c("gz", &["-g", "-gz"], Lines::Either);
    }

    #[test]
    fn c_object_without_debug_info() {
        check_c("nodebug", &[], Lines::Absent);
    }

    /// The DWARF 5 test library's bytes, the file offset of `gort_sym_c_add`, and what
    /// resolving it gives. None without a C compiler.
    fn c_fixture(tag: &str) -> Option<(Vec<u8>, u64, Found)> {
        let CLib { dir, so, add, .. } = build_c(tag, &["-g", "-gdwarf-5"])?;
        let (_, out) = sym(add, false);
        let bytes = std::fs::read(&so).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let elf = Elf::parse(&bytes).unwrap();
        let vaddr = out.module_offset as u64;
        let file_off = (0..elf.phnum)
            .find_map(|i| {
                let mut r = Reader::at(&bytes, (elf.phoff + i * elf.phentsize) as usize);
                let (typ, _, off, va, _, fsz) = (r.u32()?, r.u32()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?);
                (typ == PT_LOAD && vaddr >= va && vaddr - va < fsz).then_some(vaddr - va + off)
            })
            .unwrap();
        let good = resolve(&bytes, file_off, 0).unwrap();
        assert_eq!(good.line, 1);
        assert_eq!(good.sym.get(&bytes), b"gort_sym_c_add");
        Some((bytes, file_off, good))
    }

    /// Truncated and corrupted objects: no panic, no out-of-bounds read.
    #[test]
    fn hostile_objects() {
        let Some((bytes, file_off, _)) = c_fixture("fuzz") else {
            eprintln!("skipping: no cc");
            return;
        };
        for len in 0..bytes.len() {
            let _ = resolve(&bytes[..len], file_off, 0);
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..5000 {
            let mut b = bytes.clone();
            for _ in 0..(next() % 8 + 1) {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            let _ = resolve(&b, file_off, 1);
            let _ = resolve(&b, next() % b.len() as u64, 0);
        }
    }

    /// The index of the section called `name`.
    fn section_index(elf: &Elf<'_>, name: &[u8]) -> u64 {
        let names = elf.section_data(&elf.shdr(elf.shstrndx).unwrap()).unwrap();
        (0..elf.shnum).find(|&i| str_at(names, u64::from(elf.shdr(i).unwrap().name)) == Some(name)).unwrap()
    }

    #[test]
    fn compressed_line_section_is_skipped() {
        let Some((mut bytes, file_off, good)) = c_fixture("z") else {
            eprintln!("skipping: no cc");
            return;
        };
        let elf = Elf::parse(&bytes).unwrap();
        let flags_at = (elf.shoff + section_index(&elf, b".debug_line") * elf.shentsize + 8) as usize;
        bytes[flags_at + 1] |= (SHF_COMPRESSED >> 8) as u8;
        let f = resolve(&bytes, file_off, 0).unwrap();
        assert_eq!(f.sym, good.sym);
        assert_eq!((f.line, f.parts), (0, [Span::default(); 3]));
    }

    #[test]
    fn dwarf64_line_units_are_skipped() {
        let Some((bytes, file_off, good)) = c_fixture("l64") else {
            eprintln!("skipping: no cc");
            return;
        };
        let elf = Elf::parse(&bytes).unwrap();
        let seg = elf.segment_for(file_off).unwrap();
        let vaddr = file_off - seg.offset + seg.vaddr;
        let range = (seg.vaddr, seg.vaddr + seg.memsz);
        let real = Dwarf::load(&elf);
        // A 64-bit unit (its body garbage), then the real units.
        let mut line = vec![0xff, 0xff, 0xff, 0xff];
        line.extend_from_slice(&40u64.to_le_bytes());
        line.extend_from_slice(&[0x5a; 40]);
        line.extend_from_slice(real.line);
        let dw = Dwarf { line: &line, info: &[], abbrev: &[], aranges: &[], ..real };
        let (l, parts) = find_line(&dw, vaddr, range).unwrap();
        assert_eq!(l, good.line);
        assert_eq!(parts[2], good.parts[2].get(&bytes));
        assert_eq!(parts[1], good.parts[1].get(&bytes));
    }

    /// A hand-made DWARF 5 unit whose tables have empty entry formats and absurd counts:
    /// the line is found, the file is empty, and nothing loops for ever.
    #[test]
    fn synthetic_line_unit() {
        let mut header = vec![1, 1, 1, 0xfb, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1];
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        for _ in 0..2 {
            header.push(0); // no entry formats
            header.extend_from_slice(&huge);
        }
        let mut program = vec![0, 9, 2];
        program.extend_from_slice(&0x1000u64.to_le_bytes());
        program.extend_from_slice(&[0x05, 3]); // set_column 3
        program.extend_from_slice(&[0x03, 41]); // advance_line +41 -> 42
        program.push(1); // copy: row 0x1000 line 42
        program.push(13 + 8 * 14 + 5); // special: +8 bytes, +0 lines -> row 0x1008 line 42
        program.push(13 + 2 * 14 + 7); // special: +2 bytes, +2 lines -> row 0x100a line 44
        program.extend_from_slice(&[2, 6]); // advance_pc 6
        program.extend_from_slice(&[0, 1, 1]); // end_sequence at 0x1010
        let mut unit = vec![5, 0, 8, 0];
        unit.extend_from_slice(&(header.len() as u32).to_le_bytes());
        unit.extend_from_slice(&header);
        unit.extend_from_slice(&program);
        let mut line = (unit.len() as u32).to_le_bytes().to_vec();
        line.extend_from_slice(&unit);
        let dw = Dwarf { line: &line, info: &[], abbrev: &[], aranges: &[], str_: &[], line_str: &[] };
        let seg = (0x1000, 0x2000);
        let at = |a: u64| find_line(&dw, a, seg).map(|(l, p)| (l, p[2].len()));
        assert_eq!(at(0x1000), Some((42, 0)));
        assert_eq!(at(0x1009), Some((42, 0)));
        assert_eq!(at(0x100a), Some((44, 0)));
        assert_eq!(at(0x100f), Some((44, 0)));
        assert_eq!(at(0x1010), None);
        assert_eq!(at(0xfff), None);
        // Rows outside the segment (code the linker discarded) do not count.
        assert_eq!(find_line(&dw, 0x1004, (0x1008, 0x2000)), None);
        // Every truncation of the section: no panic.
        for len in 0..line.len() {
            let dw = Dwarf { line: &line[..len], ..dw };
            let _ = find_line(&dw, 0x1004, seg);
        }
    }

    // --- maps parsing ------------------------------------------------------------------

    #[test]
    fn maps_lines_split_across_reads() {
        let long = format!("/{}", "x".repeat(3000));
        let text = format!(
            "1000-2000 r-xp 00000000 08:01 11 /lib/a.so\n\
             2000-3000 rw-p 00001000 08:01 11 /lib/a.so\n\
             3000-4000 r-xp 00000000 00:00 0 {long}\n\
             5000-6000 r-xp 00002000 fe:00 123456                     /usr/lib/b (deleted)\n\
             7000-8000 r-xp 00000000 00:00 0 \n\
             9000-a000 r-xp 00003000 fd:02 77   /path with spaces/c.so"
        );
        for chunk in [1usize, 3, 7, 100, 4096] {
            let find = |pc: usize| {
                let mut pos = 0;
                let bytes = text.as_bytes();
                let mut m = MapHit::new();
                let ok = scan_maps(
                    |buf| {
                        let n = chunk.min(buf.len()).min(bytes.len() - pos);
                        buf[..n].copy_from_slice(&bytes[pos..pos + n]);
                        pos += n;
                        n as isize
                    },
                    pc,
                    &mut m,
                );
                (ok, m)
            };
            let (ok, m) = find(0x1800);
            assert!(ok && m.path() == b"/lib/a.so" && m.path_ok && m.offset == 0 && m.readable);
            assert_eq!((m.start, m.end, m.dev_major, m.dev_minor, m.inode), (0x1000, 0x2000, 8, 1, 11));
            let (ok, m) = find(0x2000);
            assert!(ok && m.offset == 0x1000);
            let (ok, m) = find(0x3456);
            assert!(ok && !m.path_ok && m.path().starts_with(b"/xxx"), "chunk {chunk}");
            let (ok, m) = find(0x5000);
            assert!(ok && !m.path_ok && m.path().ends_with(b"(deleted)"));
            assert_eq!((m.dev_major, m.inode), (0xfe, 123456));
            let (ok, m) = find(0x7000);
            assert!(ok && !m.is_object());
            let (ok, m) = find(0x9fff);
            assert!(ok && m.path() == b"/path with spaces/c.so" && m.path_ok && m.offset == 0x3000);
            assert!(!find(0x4000).0);
            assert!(!find(0x500).0);
            assert!(!find(0xb000).0);
        }
    }

    // --- demangling and text -----------------------------------------------------------

    fn demangled(raw: &str) -> String {
        let mut buf = [0u8; FIELD];
        let mut t = Text::new(&mut buf);
        demangle_into(raw.as_bytes(), &mut t);
        let n = t.finish();
        s(&buf[..n])
    }

    #[test]
    fn demangles_legacy_names() {
        assert_eq!(demangled("_ZN4gort5sched4proc7execute17h0123456789abcdefE"), "gort::sched::proc::execute");
        assert_eq!(
            demangled(
                "_ZN70_$LT$alloc..vec..Vec$LT$T$C$A$GT$$u20$as$u20$core..ops..drop..Drop$GT$4drop17h5d4d7a1bb6f2e0a8E"
            ),
            "<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop"
        );
        assert_eq!(
            demangled(
                "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h1234567890abcdefE"
            ),
            "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>"
        );
        assert_eq!(demangled("_ZN3foo3bar17h0123456789abcdefE.llvm.1234567"), "foo::bar");
        assert_eq!(demangled("_ZN3foo35bar$RF$$BP$$u5b$$u5d$$u27$$u3b$$SP$E"), "foo::bar&*[]';@");
        assert_eq!(demangled("_ZN3foo6_$u7b$E"), "foo::{");
        assert_eq!(demangled("_ZN5hello17hxxxxxxxxxxxxxxxxE"), "hello::hxxxxxxxxxxxxxxxx");
        assert_eq!(demangled("_ZN17h0123456789abcdefE"), "h0123456789abcdef");
        assert_eq!(demangled("_ZN3foo6$u3bb$E"), "foo::\u{3bb}");
        // Not legacy Rust: left alone.
        for raw in
            ["write", "_R_NvC3foo3bar", "_ZN3fooE3bar", "_ZN3foo", "_ZN99fooE", "_ZNK3foo3barEv", "_ZN3$XX$E", ""]
        {
            assert_eq!(demangled(raw), raw);
        }
    }

    #[test]
    fn long_names_truncate_cleanly() {
        let ident = "a".repeat(200);
        let raw = format!("_ZN200{ident}200{ident}17h0123456789abcdefE");
        let d = demangled(&raw);
        assert_eq!(d.len(), FIELD);
        assert!(d.starts_with(&ident));
        // A multi-byte character that does not fit is dropped whole.
        let raw = format!("_ZN{}{}$u3bb$E", 254 + 6, "c".repeat(254));
        assert_eq!(demangled(&raw).len(), FIELD);
        let raw = format!("_ZN{}{}$u3bb$E", 255 + 6, "c".repeat(255));
        assert_eq!(demangled(&raw).len(), 255);
        // A raw name cut inside a UTF-8 sequence loses the partial character.
        let raw = format!("{}\u{3bb}", "d".repeat(255));
        assert_eq!(demangled(&raw).len(), 255);
    }

    #[test]
    fn paths_join_and_keep_their_tail() {
        let join = |b: &str, d: &str, f: &str| {
            let (p, n) = path_pieces(b.as_bytes(), d.as_bytes(), f.as_bytes());
            let mut dst = [0u8; FIELD];
            let len = set_tail(&mut dst, &p[..n]);
            s(&dst[..len])
        };
        assert_eq!(join("/w", "src", "a.rs"), "/w/src/a.rs");
        assert_eq!(join("/w/", "src/", "a.rs"), "/w/src/a.rs");
        assert_eq!(join("/w", "/abs", "a.rs"), "/abs/a.rs");
        assert_eq!(join("/w", "src", "/x/a.rs"), "/x/a.rs");
        assert_eq!(join("/w", "", "a.rs"), "/w/a.rs");
        assert_eq!(join("", "", "a.rs"), "a.rs");
        assert_eq!(join("/w", "src", ""), "");
        let long = format!("/{}", "é".repeat(200));
        let j = join(&long, "dir", "file.rs");
        assert_eq!(j.len(), FIELD - 1); // one byte less: the cut fell inside a 'é'
        assert!(j.starts_with("...é") && j.ends_with("é/dir/file.rs"), "{j}");
    }

    // --- timing ------------------------------------------------------------------------

    /// Prints what lookups cost (run with --nocapture); asserts nothing about speed.
    #[test]
    fn timing() {
        let pc = marker_with_pc as *const () as usize + 5;
        let mut out = Symbol::new();
        // Cold: the object mapped privately for the call, as on a process's first lookup.
        let mut m = MapHit::new();
        let t = Instant::now();
        assert!(find_mapping(pc, &mut m));
        let (base, len) = map_file(&m).unwrap();
        let h = Handle { idx: None, base, len, unmap: true };
        let f = resolve(h.bytes(), (pc - m.start) as u64 + m.offset, 0).unwrap();
        fill(&mut out, h.bytes(), m.path(), &f);
        drop(h);
        let cold = t.elapsed();
        assert_ne!(out.line, 0);
        // Warm object, uncached pc.
        lookup(pc, false, &mut out, false);
        let n = 20;
        let t = Instant::now();
        for _ in 0..n {
            lookup(pc, false, &mut out, false);
        }
        let warm = t.elapsed() / n;
        // The maps read alone.
        let t = Instant::now();
        for _ in 0..n {
            find_mapping(pc, &mut m);
        }
        let maps = t.elapsed() / n;
        // The line lookup alone, through .debug_aranges and by scanning every unit.
        let h = acquire_object(&m).unwrap();
        let elf = Elf::parse(h.bytes()).unwrap();
        let file_off = (pc - m.start) as u64 + m.offset;
        let seg = elf.segment_for(file_off).unwrap();
        let vaddr = file_off - seg.offset + seg.vaddr;
        let range = (seg.vaddr, seg.vaddr + seg.memsz);
        let dw = Dwarf::load(&elf);
        let t = Instant::now();
        let by_aranges = find_line(&dw, vaddr, range).unwrap();
        let aranges = t.elapsed();
        let dw = Dwarf { aranges: &[], ..dw };
        let t = Instant::now();
        let by_scan = find_line(&dw, vaddr, range).unwrap();
        let scan = t.elapsed();
        assert_eq!(by_aranges, by_scan);
        let t = Instant::now();
        let _ = find_symbol(&elf, vaddr).unwrap();
        let symtab = t.elapsed();
        // Cached.
        symbolize(pc, false, &mut out);
        let n = 10_000;
        let t = Instant::now();
        for _ in 0..n {
            symbolize(pc, false, &mut out);
        }
        let hit = t.elapsed() / n;
        eprintln!(
            "symbolize timing: cold (map + parse) {cold:?}, uncached {warm:?} (of which /proc/self/maps {maps:?}, \
             symtab {symtab:?}, line via aranges {aranges:?}; line by scanning all {} bytes of .debug_line \
             {scan:?}), cached {hit:?}; {} {}:{}",
            dw.line.len(),
            s(out.name()),
            s(out.file()),
            out.line
        );
    }
}
