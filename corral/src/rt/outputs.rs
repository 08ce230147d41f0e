//! Results by input index, filled in any order, for `gather` and `gather_settled`. Invariant
//! I5 of the [module doc](super) is the one this file keeps.

use std::mem::{ManuallyDrop, MaybeUninit};

/// Results by input index, filled in any order: a `Vec<T>` under construction, with one bit per
/// index saying whether it holds a value. Turns into the `Vec<T>` itself, without a copy, once
/// every index is filled. (A `Vec<Option<T>>` would cost a copy at the end and, for most `T`,
/// twice the memory.)
pub(crate) struct Outputs<T> {
    values: Vec<MaybeUninit<T>>,
    /// Bit `i` set: `values[i]` holds a value.
    filled: Vec<u64>,
    count: usize,
}

impl<T> Default for Outputs<T> {
    fn default() -> Self {
        Outputs {
            values: Vec::new(),
            filled: Vec::new(),
            count: 0,
        }
    }
}

impl<T> Outputs<T> {
    /// Room for `n` values (the inputs' size hint), made ready up front so that `set` rarely
    /// grows anything.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut values = Vec::with_capacity(n);
        // Nothing to write: the values are uninitialised until set.
        values.resize_with(n, MaybeUninit::uninit);
        Outputs {
            values,
            filled: vec![0; n.div_ceil(64)],
            count: 0,
        }
    }

    #[inline]
    pub(crate) fn set(&mut self, index: usize, value: T) {
        if index >= self.values.len() {
            self.grow(index);
        }
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if self.filled[word] & bit != 0 {
            // SAFETY: the bit says this index holds a value; it is dropped once, here, and
            // replaced below.
            unsafe { self.values[index].assume_init_drop() };
        } else {
            self.filled[word] |= bit;
            self.count += 1;
        }
        self.values[index].write(value);
    }

    #[cold]
    fn grow(&mut self, index: usize) {
        let len = (index + 1).max(self.values.len() * 2);
        self.values.resize_with(len, MaybeUninit::uninit);
        self.filled.resize(len.div_ceil(64), 0);
    }

    /// The values of indices `0..len` in order, if every one of them is filled (and none
    /// above).
    pub(crate) fn into_vec(self, len: usize) -> Option<Vec<T>> {
        if self.count != len || self.values.len() < len {
            return None;
        }
        // `count` distinct indices were set; check they are the first `len` ones.
        let full = len / 64;
        let tail = len % 64;
        if self.filled[..full].iter().any(|&w| w != u64::MAX)
            || (tail != 0 && self.filled[full] != (1u64 << tail) - 1)
        {
            return None;
        }
        // Our `Drop` would drop the values: take the vectors out and skip it.
        let mut this = ManuallyDrop::new(self);
        drop(std::mem::take(&mut this.filled));
        let mut values = ManuallyDrop::new(std::mem::take(&mut this.values));
        let (ptr, cap) = (values.as_mut_ptr(), values.capacity());
        // SAFETY: the first `len` values are initialised (their bits are set), the rest hold
        // nothing to drop, and `MaybeUninit<T>` has the layout of `T`, so the allocation is a
        // valid `Vec<T>` of length `len` and the same capacity.
        Some(unsafe { Vec::from_raw_parts(ptr.cast::<T>(), len, cap) })
    }
}

impl<T> Drop for Outputs<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        for (i, v) in self.values.iter_mut().enumerate() {
            if self.filled[i / 64] & (1 << (i % 64)) != 0 {
                // SAFETY: the bit says this index holds a value, dropped once, here.
                unsafe { v.assume_init_drop() };
            }
        }
    }
}
