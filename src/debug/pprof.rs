//! The pprof profile encoder: what `go tool pprof` reads.
//!
//! A pprof profile is one protobuf message, `Profile`, defined by `profile.proto` in
//! github.com/google/pprof (Go's `runtime/pprof` writes the same format, and so do
//! many tools outside Go). The message is a small relational database: a list of sample
//! types (`("delay", "nanoseconds")`), samples that each carry one value per sample type
//! and a stack given as location ids (leaf first), locations (an address, the mapping it
//! lies in, and the source lines at it), functions (name, file), mappings (the binaries
//! the addresses fall in), and one string table that every string field indexes into,
//! whose entry 0 must be `""`. Ids start at 1; 0 means "none".
//!
//! What we emit: every sample type, every sample (packed `location_id` and `value`, string
//! and numeric labels), one location per distinct pc with one `Line` when the caller's
//! `resolve` can name the code there, one function per distinct (name, file), and a single
//! `Mapping` (id 1) that covers the pcs, has no file name, and claims `has_functions`,
//! `has_filenames` and `has_line_numbers`. That last part matters: the profile is already
//! symbolized, and a mapping that says so stops pprof from looking for the binary and
//! running binutils over it (which, with no file name, would only print errors). Period
//! type, period, time, duration, comments and the default sample type follow when set.
//! Scalars that are zero are left out, as proto3 does; repeated scalars are packed.
//!
//! What we do not emit: gzip (pprof sniffs the gzip magic and reads plain protobuf just as
//! well; compressing is the writer's business), inlined frames (one `Line` per location:
//! the symbolizer we feed from resolves a pc to one function), columns, function start
//! lines, label units, build ids, `drop_frames`/`keep_frames`. A string label whose value is
//! `""` encodes as string index 0, which pprof reads as "no label" (Go's runtime behaves
//! the same way).
//!
//! Why by hand: the crate's dependencies are fixed (libc, parking_lot, crossbeam), and the
//! part of protobuf a writer of this one message needs is tiny: varints, a key per field,
//! and length-prefixed nested messages. A nested message is written in place and its length
//! spliced in in front of it afterwards, so there is no second pass and no size
//! precomputation. Note that `profile.proto` uses `int64`, not `sint64`: negative values
//! are ten-byte two's-complement varints, never zigzag.

use std::collections::HashMap;

/// One resolved frame of a location (inlined frames are not modelled: one line per location).
pub(crate) struct Frame {
    pub(crate) function: String,
    pub(crate) file: String,
    pub(crate) line: i64,
}

pub(crate) struct Sample {
    /// Innermost first; return addresses except `pcs[0]` (the encoder does not adjust).
    pub(crate) pcs: Vec<u64>,
    /// One per sample type.
    pub(crate) values: Vec<i64>,
    pub(crate) str_labels: Vec<(String, String)>,
    pub(crate) num_labels: Vec<(String, i64)>,
}

pub(crate) struct Profile {
    /// (type, unit), e.g. `("contentions", "count")`, `("delay", "nanoseconds")`.
    pub(crate) sample_types: Vec<(String, String)>,
    pub(crate) period_type: Option<(String, String)>,
    pub(crate) period: i64,
    /// Wall-clock time of collection (ns since the epoch).
    pub(crate) time_nanos: i64,
    pub(crate) duration_nanos: i64,
    pub(crate) default_sample_type: Option<String>,
    pub(crate) comments: Vec<String>,
    pub(crate) samples: Vec<Sample>,
}

/// Encodes `p`; `resolve(pc)` names the code at pc (called once per distinct pc; None: the
/// location keeps only its address, which pprof shows as `<unknown>`). Locations and
/// functions are deduplicated.
pub(crate) fn encode(p: &Profile, resolve: &mut dyn FnMut(u64) -> Option<Frame>) -> Vec<u8> {
    let mut b = Builder::new(resolve);
    let mut w = Writer::default();

    for (ty, unit) in &p.sample_types {
        let vt = (b.string(ty), b.string(unit));
        w.message(PROFILE_SAMPLE_TYPE, |w| value_type(w, vt));
    }

    for s in &p.samples {
        debug_assert_eq!(s.values.len(), p.sample_types.len(), "pprof: a sample needs one value per sample type");
        let ids: Vec<u64> = s.pcs.iter().map(|&pc| b.location(pc)).collect();
        let str_labels: Vec<(i64, i64)> = s.str_labels.iter().map(|(k, v)| (b.string(k), b.string(v))).collect();
        let num_labels: Vec<(i64, i64)> = s.num_labels.iter().map(|(k, v)| (b.string(k), *v)).collect();
        w.message(PROFILE_SAMPLE, |w| {
            w.packed_u64(SAMPLE_LOCATION_ID, &ids);
            w.packed_i64(SAMPLE_VALUE, &s.values);
            for &(key, str) in &str_labels {
                w.message(SAMPLE_LABEL, |w| {
                    w.int64(LABEL_KEY, key);
                    w.int64(LABEL_STR, str);
                });
            }
            for &(key, num) in &num_labels {
                w.message(SAMPLE_LABEL, |w| {
                    w.int64(LABEL_KEY, key);
                    w.int64(LABEL_NUM, num);
                });
            }
        });
    }

    // The one mapping: it spans the pcs seen (empty if there are none).
    let (start, limit) =
        match (b.locations.iter().map(|l| l.address).min(), b.locations.iter().map(|l| l.address).max()) {
            (Some(lo), Some(hi)) => (lo, hi.saturating_add(1)),
            _ => (0, 0),
        };
    w.message(PROFILE_MAPPING, |w| {
        w.uint64(MAPPING_ID, MAPPING_ONLY_ID);
        w.uint64(MAPPING_MEMORY_START, start);
        w.uint64(MAPPING_MEMORY_LIMIT, limit);
        w.bool(MAPPING_HAS_FUNCTIONS, true);
        w.bool(MAPPING_HAS_FILENAMES, true);
        w.bool(MAPPING_HAS_LINE_NUMBERS, true);
    });

    for (i, loc) in b.locations.iter().enumerate() {
        w.message(PROFILE_LOCATION, |w| {
            w.uint64(LOCATION_ID, i as u64 + 1);
            w.uint64(LOCATION_MAPPING_ID, MAPPING_ONLY_ID);
            w.uint64(LOCATION_ADDRESS, loc.address);
            if let Some((function_id, line)) = loc.line {
                w.message(LOCATION_LINE, |w| {
                    w.uint64(LINE_FUNCTION_ID, function_id);
                    w.int64(LINE_LINE, line);
                });
            }
        });
    }

    for (i, &(name, file)) in b.functions.iter().enumerate() {
        w.message(PROFILE_FUNCTION, |w| {
            w.uint64(FUNCTION_ID, i as u64 + 1);
            w.int64(FUNCTION_NAME, name);
            w.int64(FUNCTION_SYSTEM_NAME, name);
            w.int64(FUNCTION_FILENAME, file);
        });
    }

    w.int64(PROFILE_TIME_NANOS, p.time_nanos);
    w.int64(PROFILE_DURATION_NANOS, p.duration_nanos);
    if let Some((ty, unit)) = &p.period_type {
        let vt = (b.string(ty), b.string(unit));
        w.message(PROFILE_PERIOD_TYPE, |w| value_type(w, vt));
    }
    w.int64(PROFILE_PERIOD, p.period);
    let comments: Vec<i64> = p.comments.iter().map(|c| b.string(c)).collect();
    w.packed_i64(PROFILE_COMMENT, &comments);
    if let Some(d) = &p.default_sample_type {
        let d = b.string(d);
        w.int64(PROFILE_DEFAULT_SAMPLE_TYPE, d);
    }

    // Last, once every string has been interned. Entry 0 is "" and is written too: string
    // table entries are positional.
    for s in &b.strings {
        w.bytes(PROFILE_STRING_TABLE, s.as_bytes());
    }
    w.buf
}

fn value_type(w: &mut Writer, (ty, unit): (i64, i64)) {
    w.int64(VALUE_TYPE_TYPE, ty);
    w.int64(VALUE_TYPE_UNIT, unit);
}

// Field numbers of profile.proto.
const PROFILE_SAMPLE_TYPE: u32 = 1; // repeated ValueType
const PROFILE_SAMPLE: u32 = 2; // repeated Sample
const PROFILE_MAPPING: u32 = 3; // repeated Mapping
const PROFILE_LOCATION: u32 = 4; // repeated Location
const PROFILE_FUNCTION: u32 = 5; // repeated Function
const PROFILE_STRING_TABLE: u32 = 6; // repeated string
const PROFILE_TIME_NANOS: u32 = 9; // int64
const PROFILE_DURATION_NANOS: u32 = 10; // int64
const PROFILE_PERIOD_TYPE: u32 = 11; // ValueType
const PROFILE_PERIOD: u32 = 12; // int64
const PROFILE_COMMENT: u32 = 13; // repeated int64 (string index)
const PROFILE_DEFAULT_SAMPLE_TYPE: u32 = 14; // int64 (string index)

const VALUE_TYPE_TYPE: u32 = 1; // int64 (string index)
const VALUE_TYPE_UNIT: u32 = 2; // int64 (string index)

const SAMPLE_LOCATION_ID: u32 = 1; // repeated uint64, leaf first
const SAMPLE_VALUE: u32 = 2; // repeated int64
const SAMPLE_LABEL: u32 = 3; // repeated Label

const LABEL_KEY: u32 = 1; // int64 (string index)
const LABEL_STR: u32 = 2; // int64 (string index)
const LABEL_NUM: u32 = 3; // int64

const MAPPING_ID: u32 = 1; // uint64
const MAPPING_MEMORY_START: u32 = 2; // uint64
const MAPPING_MEMORY_LIMIT: u32 = 3; // uint64
const MAPPING_HAS_FUNCTIONS: u32 = 7; // bool
const MAPPING_HAS_FILENAMES: u32 = 8; // bool
const MAPPING_HAS_LINE_NUMBERS: u32 = 9; // bool

const LOCATION_ID: u32 = 1; // uint64
const LOCATION_MAPPING_ID: u32 = 2; // uint64
const LOCATION_ADDRESS: u32 = 3; // uint64
const LOCATION_LINE: u32 = 4; // repeated Line

const LINE_FUNCTION_ID: u32 = 1; // uint64
const LINE_LINE: u32 = 2; // int64

const FUNCTION_ID: u32 = 1; // uint64
const FUNCTION_NAME: u32 = 2; // int64 (string index)
const FUNCTION_SYSTEM_NAME: u32 = 3; // int64 (string index)
const FUNCTION_FILENAME: u32 = 4; // int64 (string index)

/// The id of the single mapping every location points at.
const MAPPING_ONLY_ID: u64 = 1;

/// The interning side of encoding: strings, locations, functions, each numbered in order of
/// first appearance.
struct Builder<'r> {
    /// Index = string table index; entry 0 is "".
    strings: Vec<String>,
    string_index: HashMap<String, i64>,
    /// Index + 1 = location id.
    locations: Vec<Location>,
    location_ids: HashMap<u64, u64>,
    /// (name, file) string indices; index + 1 = function id.
    functions: Vec<(i64, i64)>,
    function_ids: HashMap<(i64, i64), u64>,
    resolve: &'r mut dyn FnMut(u64) -> Option<Frame>,
}

struct Location {
    address: u64,
    /// (function id, line), if the pc resolved.
    line: Option<(u64, i64)>,
}

impl<'r> Builder<'r> {
    fn new(resolve: &'r mut dyn FnMut(u64) -> Option<Frame>) -> Self {
        let mut b = Builder {
            strings: Vec::new(),
            string_index: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            functions: Vec::new(),
            function_ids: HashMap::new(),
            resolve,
        };
        let empty = b.string("");
        debug_assert_eq!(empty, 0);
        b
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_index.insert(s.to_owned(), i);
        i
    }

    fn location(&mut self, pc: u64) -> u64 {
        if let Some(&id) = self.location_ids.get(&pc) {
            return id;
        }
        let line = (self.resolve)(pc).map(|f| {
            let key = (self.string(&f.function), self.string(&f.file));
            let next = self.functions.len() as u64 + 1;
            let id = *self.function_ids.entry(key).or_insert(next);
            if id == next {
                self.functions.push(key);
            }
            (id, f.line)
        });
        self.locations.push(Location { address: pc, line });
        let id = self.locations.len() as u64;
        self.location_ids.insert(pc, id);
        id
    }
}

/// Protobuf wire types (the two this message needs).
const WIRE_VARINT: u32 = 0;
const WIRE_LEN: u32 = 2;

/// `v` as a base-128 varint: seven bits a byte, least significant first, high bit set on
/// every byte but the last. Returns the buffer and the length used (at most 10).
fn varint(mut v: u64) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    (out, n + 1)
}

/// A protobuf writer for the field kinds `profile.proto` uses.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn raw_varint(&mut self, v: u64) {
        let (bytes, n) = varint(v);
        self.buf.extend_from_slice(&bytes[..n]);
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.raw_varint(u64::from(field << 3 | wire));
    }

    /// A `uint64` field; zero (the default) is left out.
    fn uint64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, WIRE_VARINT);
            self.raw_varint(v);
        }
    }

    /// An `int64` field: two's complement, so a negative value takes ten bytes (not
    /// zigzag: that is `sint64`, which profile.proto does not use).
    fn int64(&mut self, field: u32, v: i64) {
        self.uint64(field, v as u64);
    }

    fn bool(&mut self, field: u32, v: bool) {
        self.uint64(field, u64::from(v));
    }

    /// A length-delimited field holding `b` (strings, bytes). Always written, even empty:
    /// in a repeated field the position is the meaning.
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, WIRE_LEN);
        self.raw_varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A nested message: `body` writes its fields in place, then its length is spliced in
    /// in front of them.
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Writer)) {
        self.key(field, WIRE_LEN);
        let start = self.buf.len();
        body(self);
        let (len, n) = varint((self.buf.len() - start) as u64);
        self.buf.splice(start..start, len[..n].iter().copied());
    }

    /// A packed repeated `uint64`: one length-delimited field holding the varints. Left
    /// out when empty.
    fn packed_u64(&mut self, field: u32, vs: &[u64]) {
        if !vs.is_empty() {
            self.message(field, |w| vs.iter().for_each(|&v| w.raw_varint(v)));
        }
    }

    /// A packed repeated `int64` (two's complement varints).
    fn packed_i64(&mut self, field: u32, vs: &[i64]) {
        if !vs.is_empty() {
            self.message(field, |w| vs.iter().for_each(|&v| w.raw_varint(v as u64)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(&mut w);
        w.buf
    }

    fn varint_vec(v: u64) -> Vec<u8> {
        let (b, n) = varint(v);
        b[..n].to_vec()
    }

    #[test]
    fn varints() {
        assert_eq!(varint_vec(0), [0x00]);
        assert_eq!(varint_vec(1), [0x01]);
        assert_eq!(varint_vec(127), [0x7f]);
        assert_eq!(varint_vec(128), [0x80, 0x01]);
        assert_eq!(varint_vec(300), [0xac, 0x02]);
        assert_eq!(varint_vec(16_383), [0xff, 0x7f]);
        assert_eq!(varint_vec(16_384), [0x80, 0x80, 0x01]);
        let max = varint_vec(u64::MAX);
        assert_eq!(max.len(), 10);
        assert!(max[..9].iter().all(|&b| b == 0xff));
        assert_eq!(max[9], 0x01);
        // Round trip through the test decoder over a spread of magnitudes.
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let b = varint_vec(v);
                let mut pos = 0;
                assert_eq!(read_varint(&b, &mut pos), v);
                assert_eq!(pos, b.len());
            }
        }
    }

    #[test]
    fn scalar_fields() {
        // Key = field << 3 | wire type.
        assert_eq!(written(|w| w.uint64(1, 150)), [0x08, 0x96, 0x01]);
        assert_eq!(written(|w| w.int64(14, 3)), [0x70, 0x03]);
        assert_eq!(written(|w| w.bool(7, true)), [0x38, 0x01]);
        // Defaults are left out.
        assert!(written(|w| w.uint64(1, 0)).is_empty());
        assert!(written(|w| w.int64(2, 0)).is_empty());
        assert!(written(|w| w.bool(7, false)).is_empty());
    }

    #[test]
    fn int64_is_twos_complement_not_zigzag() {
        let b = written(|w| w.int64(12, -1));
        assert_eq!(b[0], 12 << 3);
        assert_eq!(b.len(), 11);
        assert!(b[1..10].iter().all(|&x| x == 0xff));
        assert_eq!(b[10], 0x01);
        // What sint64 (zigzag) would have written instead: -1 -> 1, -2 -> 3, 1 -> 2.
        let zigzag = |n: i64| ((n << 1) ^ (n >> 63)) as u64;
        assert_eq!((zigzag(-1), zigzag(-2), zigzag(1)), (1, 3, 2));
        assert_ne!(b[1..].to_vec(), varint_vec(zigzag(-1)));
        let mut pos = 1;
        assert_eq!(read_varint(&b, &mut pos) as i64, -1);
        // A packed int64 list does the same per element.
        let p = written(|w| w.packed_i64(2, &[-2, 5]));
        assert_eq!(p[..2], [0x12, 11]);
        let mut pos = 2;
        assert_eq!(read_varint(&p, &mut pos) as i64, -2);
        assert_eq!(read_varint(&p, &mut pos), 5);
        assert_eq!(pos, p.len());
    }

    #[test]
    fn length_delimited() {
        // String: key (6 << 3 | 2 = 0x32), length, bytes; the empty string is still written.
        assert_eq!(written(|w| w.bytes(6, b"hi")), [0x32, 0x02, b'h', b'i']);
        assert_eq!(written(|w| w.bytes(6, b"")), [0x32, 0x00]);
        // Nested message with a one-byte length.
        assert_eq!(written(|w| w.message(1, |w| w.int64(1, 3))), [0x0a, 0x02, 0x08, 0x03]);
        // An empty nested message is still present.
        assert_eq!(written(|w| w.message(1, |_| {})), [0x0a, 0x00]);
        // A body of 200 bytes needs a two-byte length spliced in front of it, and messages
        // nest (the inner length is spliced before the outer one is known).
        let long = vec![b'x'; 197];
        let b = written(|w| {
            w.uint64(9, 1);
            w.message(4, |w| w.message(4, |w| w.bytes(6, &long)));
        });
        // Innermost: key, two-byte length (197), 197 bytes = 200 bytes, so the middle
        // message's body needs a two-byte length too (200 >= 128).
        let inner = 1 + 2 + long.len();
        assert_eq!(inner, 200);
        let middle = 1 + varint_vec(inner as u64).len() + inner;
        let mut want = vec![0x48, 0x01, 0x22];
        want.extend(varint_vec(middle as u64));
        want.push(0x22);
        want.extend(varint_vec(inner as u64));
        want.push(0x32);
        want.extend(varint_vec(long.len() as u64));
        want.extend(&long);
        assert_eq!(b, want);
        // Packed repeated scalars: one length-delimited field; empty lists are left out.
        assert_eq!(written(|w| w.packed_u64(1, &[1, 300, 0])), [0x0a, 0x04, 0x01, 0xac, 0x02, 0x00]);
        assert!(written(|w| w.packed_u64(1, &[])).is_empty());
        assert!(written(|w| w.packed_i64(2, &[])).is_empty());
    }

    // ---- A minimal protobuf reader, to check the encoder's output structurally. ----

    fn read_varint(b: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
            assert!(shift < 64, "varint too long");
        }
    }

    enum Val<'a> {
        Int(u64),
        Len(&'a [u8]),
    }

    fn fields(b: &[u8]) -> Vec<(u32, Val<'_>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < b.len() {
            let key = read_varint(b, &mut pos);
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u32);
            assert_ne!(field, 0, "field 0 is invalid");
            match wire {
                WIRE_VARINT => out.push((field, Val::Int(read_varint(b, &mut pos)))),
                WIRE_LEN => {
                    let n = read_varint(b, &mut pos) as usize;
                    out.push((field, Val::Len(&b[pos..pos + n])));
                    pos += n;
                }
                _ => panic!("unexpected wire type {wire}"),
            }
        }
        assert_eq!(pos, b.len());
        out
    }

    fn int(v: &Val<'_>) -> u64 {
        match v {
            Val::Int(i) => *i,
            Val::Len(_) => panic!("expected a varint"),
        }
    }

    fn len<'a>(v: &Val<'a>) -> &'a [u8] {
        match v {
            Val::Len(b) => b,
            Val::Int(_) => panic!("expected a length-delimited field"),
        }
    }

    fn packed(v: &Val<'_>) -> Vec<u64> {
        let b = len(v);
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            out.push(read_varint(b, &mut pos));
        }
        out
    }

    /// The scalar `field` of message `b`, 0 if absent (asserting it appears at most once).
    fn scalar(b: &[u8], field: u32) -> u64 {
        let f: Vec<u64> = fields(b).iter().filter(|(n, _)| *n == field).map(|(_, v)| int(v)).collect();
        assert!(f.len() <= 1, "field {field} repeated");
        f.first().copied().unwrap_or(0)
    }

    #[derive(Debug, PartialEq)]
    struct DecodedSample {
        locations: Vec<u64>,
        values: Vec<i64>,
        str_labels: Vec<(String, String)>,
        num_labels: Vec<(String, i64)>,
    }

    /// (id, start, limit, filename, has_functions, has_filenames, has_line_numbers)
    type DecodedMapping = (u64, u64, u64, String, bool, bool, bool);
    /// (id, mapping id, address, lines as (function id, line))
    type DecodedLocation = (u64, u64, u64, Vec<(u64, i64)>);

    #[derive(Debug)]
    struct Decoded {
        strings: Vec<String>,
        sample_types: Vec<(String, String)>,
        samples: Vec<DecodedSample>,
        mappings: Vec<DecodedMapping>,
        locations: Vec<DecodedLocation>,
        /// (id, name, system name, filename)
        functions: Vec<(u64, String, String, String)>,
        time_nanos: i64,
        duration_nanos: i64,
        period_type: Option<(String, String)>,
        period: i64,
        comments: Vec<String>,
        default_sample_type: String,
    }

    fn decode(b: &[u8]) -> Decoded {
        let top = fields(b);
        let strings: Vec<String> = top
            .iter()
            .filter(|(f, _)| *f == PROFILE_STRING_TABLE)
            .map(|(_, v)| String::from_utf8(len(v).to_vec()).unwrap())
            .collect();
        let s = |i: u64| strings[i as usize].clone();
        let vt = |b: &[u8]| (s(scalar(b, 1)), s(scalar(b, 2)));
        let mut d = Decoded {
            strings: strings.clone(),
            sample_types: Vec::new(),
            samples: Vec::new(),
            mappings: Vec::new(),
            locations: Vec::new(),
            functions: Vec::new(),
            time_nanos: 0,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            comments: Vec::new(),
            default_sample_type: String::new(),
        };
        for (f, v) in &top {
            match *f {
                PROFILE_SAMPLE_TYPE => d.sample_types.push(vt(len(v))),
                PROFILE_SAMPLE => {
                    let mut sample = DecodedSample {
                        locations: Vec::new(),
                        values: Vec::new(),
                        str_labels: Vec::new(),
                        num_labels: Vec::new(),
                    };
                    for (f, v) in fields(len(v)) {
                        match f {
                            SAMPLE_LOCATION_ID => sample.locations.extend(packed(&v)),
                            SAMPLE_VALUE => sample.values.extend(packed(&v).iter().map(|&x| x as i64)),
                            SAMPLE_LABEL => {
                                let l = len(&v);
                                let key = s(scalar(l, LABEL_KEY));
                                let str = scalar(l, LABEL_STR);
                                if str != 0 {
                                    sample.str_labels.push((key, s(str)));
                                } else {
                                    sample.num_labels.push((key, scalar(l, LABEL_NUM) as i64));
                                }
                            }
                            _ => panic!("unexpected sample field {f}"),
                        }
                    }
                    d.samples.push(sample);
                }
                PROFILE_MAPPING => {
                    let m = len(v);
                    d.mappings.push((
                        scalar(m, MAPPING_ID),
                        scalar(m, MAPPING_MEMORY_START),
                        scalar(m, MAPPING_MEMORY_LIMIT),
                        s(scalar(m, 5)),
                        scalar(m, MAPPING_HAS_FUNCTIONS) == 1,
                        scalar(m, MAPPING_HAS_FILENAMES) == 1,
                        scalar(m, MAPPING_HAS_LINE_NUMBERS) == 1,
                    ));
                }
                PROFILE_LOCATION => {
                    let l = len(v);
                    let lines = fields(l)
                        .iter()
                        .filter(|(f, _)| *f == LOCATION_LINE)
                        .map(|(_, v)| {
                            let ln = len(v);
                            (scalar(ln, LINE_FUNCTION_ID), scalar(ln, LINE_LINE) as i64)
                        })
                        .collect();
                    d.locations.push((
                        scalar(l, LOCATION_ID),
                        scalar(l, LOCATION_MAPPING_ID),
                        scalar(l, LOCATION_ADDRESS),
                        lines,
                    ));
                }
                PROFILE_FUNCTION => {
                    let fun = len(v);
                    d.functions.push((
                        scalar(fun, FUNCTION_ID),
                        s(scalar(fun, FUNCTION_NAME)),
                        s(scalar(fun, FUNCTION_SYSTEM_NAME)),
                        s(scalar(fun, FUNCTION_FILENAME)),
                    ));
                }
                PROFILE_STRING_TABLE => {}
                PROFILE_TIME_NANOS => d.time_nanos = int(v) as i64,
                PROFILE_DURATION_NANOS => d.duration_nanos = int(v) as i64,
                PROFILE_PERIOD_TYPE => d.period_type = Some(vt(len(v))),
                PROFILE_PERIOD => d.period = int(v) as i64,
                PROFILE_COMMENT => d.comments.extend(packed(v).into_iter().map(s)),
                PROFILE_DEFAULT_SAMPLE_TYPE => d.default_sample_type = s(int(v)),
                _ => panic!("unexpected profile field {f}"),
            }
        }
        d
    }

    // ---- Test profiles ----

    /// The test program's code: two pcs in `worker` (one function, two locations), and
    /// 0x4000 that does not resolve.
    fn test_resolve(pc: u64) -> Option<Frame> {
        let (function, line) = match pc {
            0x1000 => ("gort_chan_recv", 10),
            0x2000 => ("worker", 20),
            0x2010 => ("worker", 22),
            0x3000 => ("main_goroutine", 30),
            _ => return None,
        };
        Some(Frame { function: function.to_owned(), file: "/src/x.c".to_owned(), line })
    }

    fn strs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|&(a, b)| (a.to_owned(), b.to_owned())).collect()
    }

    fn sample(pcs: &[u64], values: &[i64]) -> Sample {
        Sample { pcs: pcs.to_vec(), values: values.to_vec(), str_labels: Vec::new(), num_labels: Vec::new() }
    }

    /// A contention profile: 6 contentions, 10ms of delay, all of it in gort_chan_recv;
    /// 5ms of it under worker (3ms + 2ms, at two different pcs of worker).
    fn contention_profile() -> Profile {
        Profile {
            sample_types: strs(&[("contentions", "count"), ("delay", "nanoseconds")]),
            period_type: Some(("contentions".to_owned(), "count".to_owned())),
            period: 1,
            time_nanos: 1_700_000_000_000_000_000,
            duration_nanos: 2_500_000_000,
            default_sample_type: Some("delay".to_owned()),
            comments: vec!["gort test profile".to_owned()],
            samples: vec![
                sample(&[0x1000, 0x2000, 0x3000], &[3, 3_000_000]),
                sample(&[0x1000, 0x2010, 0x3000], &[2, 2_000_000]),
                sample(&[0x1000, 0x3000], &[1, 5_000_000]),
            ],
        }
    }

    /// A goroutine profile: 4 goroutines blocked receiving under worker (labelled
    /// role=worker, shard=7), one in code that does not resolve (role=main).
    fn goroutine_profile() -> Profile {
        Profile {
            sample_types: strs(&[("goroutine", "count")]),
            period_type: Some(("goroutine".to_owned(), "count".to_owned())),
            period: 1,
            time_nanos: 0,
            duration_nanos: 0,
            default_sample_type: None,
            comments: Vec::new(),
            samples: vec![
                Sample {
                    pcs: vec![0x1000, 0x2000, 0x3000],
                    values: vec![4],
                    str_labels: strs(&[("role", "worker")]),
                    num_labels: vec![("shard".to_owned(), 7)],
                },
                Sample {
                    pcs: vec![0x4000, 0x3000],
                    values: vec![1],
                    str_labels: strs(&[("role", "main")]),
                    num_labels: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn structure() {
        let mut calls: Vec<u64> = Vec::new();
        let mut resolve = |pc| {
            calls.push(pc);
            test_resolve(pc)
        };
        let mut p = contention_profile();
        p.samples.push(Sample {
            pcs: vec![0x4000, 0x2000, 0x3000],
            values: vec![-1, 0],
            str_labels: strs(&[("k", "v")]),
            num_labels: vec![("n".to_owned(), -5), ("z".to_owned(), 42)],
        });
        let d = decode(&encode(&p, &mut resolve));

        // resolve ran once per distinct pc, in first-appearance order.
        assert_eq!(calls, [0x1000, 0x2000, 0x3000, 0x2010, 0x4000]);

        assert_eq!(d.strings[0], "");
        let mut sorted = d.strings.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), d.strings.len(), "strings interned once");

        assert_eq!(d.sample_types, p.sample_types);
        assert_eq!(d.samples.len(), 4);
        assert_eq!(d.samples[0].locations, [1, 2, 3]);
        assert_eq!(d.samples[0].values, [3, 3_000_000]);
        assert_eq!(d.samples[1].locations, [1, 4, 3]);
        assert_eq!(d.samples[2].locations, [1, 3]);
        assert_eq!(d.samples[2].values, [1, 5_000_000]);
        assert_eq!(
            d.samples[3],
            DecodedSample {
                locations: vec![5, 2, 3],
                values: vec![-1, 0],
                str_labels: strs(&[("k", "v")]),
                num_labels: vec![("n".to_owned(), -5), ("z".to_owned(), 42)],
            }
        );

        // One mapping, id 1, spanning the pcs, claiming to be symbolized.
        assert_eq!(d.mappings, [(1, 0x1000, 0x4001, String::new(), true, true, true)]);

        // Locations: ids 1.., all in mapping 1; worker's two pcs share one function.
        let fid = |name: &str| d.functions.iter().find(|f| f.1 == name).unwrap().0;
        assert_eq!(
            d.locations,
            [
                (1, 1, 0x1000, vec![(fid("gort_chan_recv"), 10)]),
                (2, 1, 0x2000, vec![(fid("worker"), 20)]),
                (3, 1, 0x3000, vec![(fid("main_goroutine"), 30)]),
                (4, 1, 0x2010, vec![(fid("worker"), 22)]),
                (5, 1, 0x4000, vec![]),
            ]
        );
        let functions: Vec<_> =
            d.functions.iter().map(|(id, n, sn, f)| (*id, n.as_str(), sn.as_str(), f.as_str())).collect();
        assert_eq!(
            functions,
            [
                (1, "gort_chan_recv", "gort_chan_recv", "/src/x.c"),
                (2, "worker", "worker", "/src/x.c"),
                (3, "main_goroutine", "main_goroutine", "/src/x.c"),
            ]
        );

        assert_eq!(d.time_nanos, p.time_nanos);
        assert_eq!(d.duration_nanos, p.duration_nanos);
        assert_eq!(d.period_type, p.period_type);
        assert_eq!(d.period, 1);
        assert_eq!(d.comments, p.comments);
        assert_eq!(d.default_sample_type, "delay");
    }

    #[test]
    fn empty_profile() {
        let p = Profile {
            sample_types: Vec::new(),
            period_type: None,
            period: 0,
            time_nanos: 0,
            duration_nanos: 0,
            default_sample_type: None,
            comments: Vec::new(),
            samples: Vec::new(),
        };
        let d = decode(&encode(&p, &mut |_| panic!("no pcs to resolve")));
        assert_eq!(d.strings, [""]);
        assert_eq!(d.mappings, [(1, 0, 0, String::new(), true, true, true)]);
        assert!(d.samples.is_empty() && d.locations.is_empty() && d.functions.is_empty());
        assert_eq!(d.period_type, None);
    }

    // ---- Round trips through `go tool pprof` (skipped when Go is not installed). ----

    fn go_binary() -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("go"))
            .chain([PathBuf::from("/usr/local/go/bin/go")])
            .find(|p| p.is_file())
    }

    /// A scratch directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("gort-pprof-{}-{}", std::process::id(), name));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `go tool pprof <args> <file>` and returns its stdout, asserting success and
    /// that pprof did not go looking for a binary to symbolize with.
    fn pprof(go: &Path, dir: &Path, args: &[&str], file: &Path) -> String {
        let mut cmd = Command::new(go);
        cmd.arg("tool")
            .arg("pprof")
            .args(args)
            .arg(file)
            .current_dir(dir)
            .env("PPROF_TMPDIR", dir)
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "");
        // `go tool pprof` builds pprof into the build cache on first use (Go >= 1.24), so
        // keep the user's cache when there is one; otherwise use a fixed one in the temp
        // dir, shared between tests and runs.
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        if home.is_none() {
            let fallback = std::env::temp_dir().join("gort-pprof-gohome");
            cmd.env("HOME", &fallback).env("GOPATH", fallback.join("go"));
            if std::env::var_os("GOCACHE").is_none() && std::env::var_os("XDG_CACHE_HOME").is_none() {
                cmd.env("GOCACHE", fallback.join("cache"));
            }
        }
        let out = cmd.output().expect("running go tool pprof");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "go tool pprof {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        for bad in ["unrecognized", "symbolize", "Main binary filename not available", "no such file", "failed"] {
            assert!(
                !stderr.contains(bad) && !stdout.contains(bad),
                "go tool pprof {args:?} complained ({bad:?}):\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        stdout
    }

    /// Collapses runs of whitespace, so that column alignment does not matter.
    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The `-top` row for `name`, squashed.
    fn top_row(top: &str, name: &str) -> String {
        top.lines()
            .find(|l| l.split_whitespace().last() == Some(name))
            .map(squash)
            .unwrap_or_else(|| panic!("no -top row for {name}:\n{top}"))
    }

    #[test]
    fn go_tool_pprof_contention() {
        let Some(go) = go_binary() else {
            eprintln!("go not installed: skipping the go tool pprof round trip");
            return;
        };
        let dir = TempDir::new("contention");
        let file = dir.0.join("contention.pb");
        std::fs::write(&file, encode(&contention_profile(), &mut test_resolve)).unwrap();

        let raw = pprof(&go, &dir.0, &["-raw"], &file);
        let flat = squash(&raw);
        for want in [
            "PeriodType: contentions count",
            "Period: 1",
            "Comment: gort test profile",
            "contentions/count delay/nanoseconds[dflt]",
            "3 3000000: 1 2 3",
            "2 2000000: 1 4 3",
            "1 5000000: 1 3",
            "1: 0x1000 M=1 gort_chan_recv /src/x.c:10",
            "2: 0x2000 M=1 worker /src/x.c:20",
            "3: 0x3000 M=1 main_goroutine /src/x.c:30",
            "4: 0x2010 M=1 worker /src/x.c:22",
            "[FN][FL][LN]",
        ] {
            assert!(flat.contains(want), "-raw lacks {want:?}:\n{raw}");
        }

        let top = pprof(&go, &dir.0, &["-top", "-sample_index=delay"], &file);
        assert!(top.contains("Type: delay"), "{top}");
        assert!(squash(&top).contains("Showing nodes accounting for 10ms, 100% of 10ms total"), "{top}");
        // flat flat% sum% cum cum% name
        assert_eq!(top_row(&top, "gort_chan_recv"), "10ms 100% 100% 10ms 100% gort_chan_recv");
        assert_eq!(top_row(&top, "worker"), "0 0% 100% 5ms 50.00% worker");
        assert_eq!(top_row(&top, "main_goroutine"), "0 0% 100% 10ms 100% main_goroutine");

        let top = pprof(&go, &dir.0, &["-top", "-sample_index=contentions"], &file);
        assert!(squash(&top).contains("Showing nodes accounting for 6, 100% of 6 total"), "{top}");
        assert_eq!(top_row(&top, "worker"), "0 0% 100% 5 83.33% worker");
    }

    #[test]
    fn go_tool_pprof_goroutine_labels() {
        let Some(go) = go_binary() else {
            eprintln!("go not installed: skipping the go tool pprof round trip");
            return;
        };
        let dir = TempDir::new("goroutine");
        let file = dir.0.join("goroutine.pb");
        std::fs::write(&file, encode(&goroutine_profile(), &mut test_resolve)).unwrap();

        let raw = pprof(&go, &dir.0, &["-raw"], &file);
        let flat = squash(&raw);
        for want in [
            "PeriodType: goroutine count",
            "goroutine/count",
            "4: 1 2 3",
            "role:[worker]",
            "shard:[7]",
            "1: 4 3",
            "role:[main]",
            "4: 0x4000 M=1",
        ] {
            assert!(flat.contains(want), "-raw lacks {want:?}:\n{raw}");
        }

        let traces = pprof(&go, &dir.0, &["-traces"], &file);
        let flat = squash(&traces);
        for want in [
            "Type: goroutine",
            "role: worker",
            "shard: 7",
            "4 gort_chan_recv worker main_goroutine",
            "role: main",
            // The unresolved pc: pprof trusts has_functions and does not symbolize it.
            "1 <unknown> main_goroutine",
        ] {
            assert!(flat.contains(want), "-traces lacks {want:?}:\n{traces}");
        }
    }
}
