//! The garbage collector; see roots.rs (what it scans besides the heap and the stacks).

pub(crate) mod roots;
