//! Size classes: every small request is rounded up to one of `NUM_CLASSES - 1` sizes, and
//! every class has a span size chosen so that the tail left over after the last object
//! wastes at most an eighth of the span. All tables are computed at compile time.
//!
//! Classes: multiples of 16 up to 256 bytes, then eight classes per power of two up to
//! 32 KiB (each at most 12.5% bigger than the previous one). All are multiples of 16, so
//! every object is 16-byte aligned, as `malloc`'s are (`max_align_t`).

/// Heap page: the unit of the page heap and of span sizes.
pub(crate) const PAGE_SHIFT: usize = 13;
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;
/// Largest small object; bigger ones get a span of their own.
pub(crate) const MAX_SMALL: usize = 32 * 1024;
/// Class 0 is "large"; classes 1..NUM_CLASSES are small.
pub(crate) const NUM_CLASSES: usize = 1 + 16 + 7 * 8;
/// Most objects a small span holds (the 16-byte class in one page): the per-span bitmaps
/// are sized for it.
pub(crate) const MAX_OBJS: usize = PAGE / 16;
pub(crate) const BIT_WORDS: usize = MAX_OBJS / 64;
/// Object index = (offset * magic) >> DIV_SHIFT, exact for every offset in a span
/// (checked by a unit test over every offset).
pub(crate) const DIV_SHIFT: u32 = 40;

const fn class_size(c: usize) -> usize {
    if c == 0 {
        0
    } else if c <= 16 {
        c * 16
    } else {
        let i = c - 17; // 0..56
        let group = i / 8; // 256<<group .. 512<<group
        let step = 32 << group;
        (256 << group) + (i % 8 + 1) * step
    }
}

/// Pages per span for a class: the fewest pages with at most 1/8 of the span wasted.
const fn class_pages(size: usize) -> usize {
    let mut n = 1;
    while n < 64 {
        let bytes = n * PAGE;
        if bytes >= size && (bytes % size) * 8 <= bytes {
            return n;
        }
        n += 1;
    }
    n
}

pub(crate) struct ClassInfo {
    pub size: usize,
    pub pages: usize,
    pub nelems: usize,
    pub magic: u64,
}

const fn build_classes() -> [ClassInfo; NUM_CLASSES] {
    let mut t = [const { ClassInfo { size: 0, pages: 0, nelems: 0, magic: 0 } }; NUM_CLASSES];
    let mut c = 1;
    while c < NUM_CLASSES {
        let size = class_size(c);
        let pages = class_pages(size);
        let nelems = pages * PAGE / size;
        assert!(nelems <= MAX_OBJS && nelems >= 1);
        t[c] = ClassInfo { size, pages, nelems, magic: (1u64 << DIV_SHIFT).div_ceil(size as u64) };
        c += 1;
    }
    assert!(class_size(NUM_CLASSES - 1) == MAX_SMALL);
    t
}

pub(crate) static CLASSES: [ClassInfo; NUM_CLASSES] = build_classes();

/// Class of sizes 1..=1024, indexed by (size + 15) / 16.
const SMALL_LOOKUP: usize = 1024 / 16 + 1;
/// Class of sizes 1025..=32768, indexed by (size - 1024 + 127) / 128.
const BIG_LOOKUP: usize = (MAX_SMALL - 1024) / 128 + 1;

const fn build_lookup<const N: usize>(base: usize, step: usize) -> [u8; N] {
    let mut t = [0u8; N];
    let mut i = 0;
    while i < N {
        let size = if i == 0 { base + 1 } else { base + i * step };
        let mut c = 1;
        while class_size(c) < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

static LOOKUP_SMALL: [u8; SMALL_LOOKUP] = build_lookup::<SMALL_LOOKUP>(0, 16);
static LOOKUP_BIG: [u8; BIG_LOOKUP] = build_lookup::<BIG_LOOKUP>(1024, 128);

/// The class for a small request (1..=MAX_SMALL bytes).
#[inline]
pub(crate) fn class_of(size: usize) -> usize {
    debug_assert!(size > 0 && size <= MAX_SMALL);
    if size <= 1024 {
        LOOKUP_SMALL[size.div_ceil(16)] as usize
    } else {
        LOOKUP_BIG[(size - 1024).div_ceil(128)] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_classes_fit_and_waste_little() {
        for size in 1..=MAX_SMALL {
            let c = class_of(size);
            let ci = &CLASSES[c];
            assert!(ci.size >= size, "size {size} class {c}");
            assert!(c == 1 || CLASSES[c - 1].size < size, "size {size} not in the smallest class");
            assert_eq!(ci.size % 16, 0);
        }
        for (c, ci) in CLASSES.iter().enumerate().skip(1) {
            let bytes = ci.pages * PAGE;
            assert!((bytes - ci.nelems * ci.size) * 8 <= bytes, "class {c} wastes too much");
            if c > 1 {
                // At most 12.5% above the previous class, except the 16-byte steps.
                let prev = CLASSES[c - 1].size;
                assert!(ci.size - prev <= 16 || (ci.size - prev) * 8 <= prev);
            }
        }
    }

    /// The multiply-shift gives floor(offset / size) for every offset inside a span.
    #[test]
    fn heap_division_magic_is_exact() {
        for (c, ci) in CLASSES.iter().enumerate().skip(1) {
            for off in 0..ci.pages * PAGE {
                assert_eq!(((off as u64 * ci.magic) >> DIV_SHIFT) as usize, off / ci.size, "class {c} off {off}");
            }
        }
    }
}
