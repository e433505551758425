//! Type descriptors (`gort_type`): where an object's pointers are.

/// An immortal type descriptor: built once by [`GcType::new`], leaked, never freed.
pub(crate) struct GcType {
    name: Box<str>,
    size: usize,
    /// Byte offsets of the pointer fields, sorted, distinct, 8-aligned, `+ 8 <= size`.
    ptr_offsets: Box<[usize]>,
    /// Bit i: word i holds a pointer, when the type has at most 64 words (the common
    /// case: the allocator writes the object's bitmap with one or two stores).
    mask: u64,
    /// The span class `gort_new` allocates one object of this type from, when its fast
    /// path applies (size at most [`FAST_MAX`]); [`NO_FAST_CLASS`] otherwise.
    fast_class: u8,
}

/// Largest type `gort_new`'s fast path allocates: its slot's pointer bits are one or two
/// bitmap words written from `mask`.
pub(crate) const FAST_MAX: usize = 512;
const NO_FAST_CLASS: u8 = u8::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeError {
    /// An offset is not pointer-aligned, or the pointer does not fit inside the type.
    BadOffset,
    /// The type is too big to allocate.
    TooBig,
    /// A type with pointers whose size is not a whole number of pointers (its array
    /// elements would hold misaligned pointers).
    BadSize,
}

/// Every type ever made: they are immortal by design, and this keeps them reachable (so
/// leak checkers such as LeakSanitizer do not report them) and listable for debugging.
static ALL_TYPES: parking_lot::Mutex<Vec<&'static GcType>> = parking_lot::Mutex::new(Vec::new());

/// Largest type: half the address space is beyond any heap.
const MAX_TYPE_SIZE: usize = 1 << 46;

impl GcType {
    pub(crate) fn new(name: &str, size: usize, ptr_offsets: &[usize]) -> Result<&'static GcType, TypeError> {
        if size > MAX_TYPE_SIZE {
            return Err(TypeError::TooBig);
        }
        let mut offs: Vec<usize> = ptr_offsets.to_vec();
        if offs.iter().any(|&o| o % 8 != 0 || o.checked_add(8).is_none_or(|e| e > size)) {
            return Err(TypeError::BadOffset);
        }
        if !offs.is_empty() && !size.is_multiple_of(8) {
            return Err(TypeError::BadSize);
        }
        offs.sort_unstable();
        offs.dedup();
        let mask = if size <= 64 * 8 { offs.iter().fold(0u64, |m, &o| m | 1 << (o / 8)) } else { 0 };
        let fast_class = if size > 0 && size <= FAST_MAX {
            let sc = super::cache::span_class(super::sizeclass::class_of(size), offs.is_empty());
            u8::try_from(sc).ok().filter(|&c| c != NO_FAST_CLASS).unwrap_or(NO_FAST_CLASS)
        } else {
            NO_FAST_CLASS
        };
        let t: &'static GcType = Box::leak(Box::new(GcType {
            name: name.into(),
            size,
            ptr_offsets: offs.into_boxed_slice(),
            mask,
            fast_class,
        }));
        ALL_TYPES.lock().push(t);
        Ok(t)
    }
    pub(crate) fn size(&self) -> usize {
        self.size
    }
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn has_pointers(&self) -> bool {
        !self.ptr_offsets.is_empty()
    }
    pub(crate) fn ptr_offsets(&self) -> &[usize] {
        &self.ptr_offsets
    }
    /// The span class of one object of this type, if `gort_new`'s fast path applies.
    #[inline]
    pub(crate) fn fast_class(&self) -> Option<usize> {
        (self.fast_class != NO_FAST_CLASS).then_some(self.fast_class as usize)
    }
    /// The word mask of the pointer fields (meaningful when the type has at most 64 words).
    #[inline]
    pub(crate) fn mask(&self) -> u64 {
        self.mask
    }
    /// The word mask, if the type has at most 64 words.
    #[inline]
    pub(crate) fn small_mask(&self) -> Option<u64> {
        (self.size <= 64 * 8).then_some(self.mask)
    }
}
