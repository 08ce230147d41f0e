//! Where the engine's running inputs live: slots in segments that never move, each holding one
//! pinned future and its key, with a free list threaded through the empty ones. Invariant I3 of
//! the [module doc](super) is the one this file keeps.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::pin::Pin;

/// The bit of [`Slot::state`] that marks an empty slot.
const EMPTY: usize = 1 << (usize::BITS - 1);

/// No slot: the end of the free list.
const NO_SLOT: usize = EMPTY - 1;

/// A place for one running input: a state word, the key and the future, nothing more (an
/// `Option<F>` would add a word for most futures).
struct Slot<K, F> {
    /// Running: the input's index (below [`EMPTY`]). Empty: `EMPTY |` the next slot of the
    /// free list (an intrusive stack of slot ids), [`NO_SLOT`] at its end.
    state: usize,
    /// Initialised exactly while running. Taken out before the future is dropped in place: a
    /// pinned future must never be moved, not even to be dropped (a registered timer or waiter
    /// list node inside it would be left dangling).
    key: MaybeUninit<K>,
    /// Initialised exactly while running; pinned there. In an `UnsafeCell`, as futures-util's
    /// `FuturesUnordered` keeps its futures: a future may hold pointers into itself (tokio's
    /// `yield_now`, any `async fn` that borrows a local), and a `&Slot` would assert that
    /// nothing changes these bytes, which the future's own pointers do (I3).
    fut: UnsafeCell<MaybeUninit<F>>,
}

impl<K, F> Slot<K, F> {
    fn empty(next_free: usize) -> Self {
        Slot {
            state: EMPTY | next_free,
            key: MaybeUninit::uninit(),
            fut: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[inline]
    fn is_running(&mut self) -> bool {
        self.state & EMPTY == 0
    }

    /// The running future, pinned where it lies.
    ///
    /// # Safety
    ///
    /// The slot is running.
    #[inline]
    unsafe fn pinned(&mut self) -> Pin<&mut F> {
        // SAFETY: the caller says the slot is running, so the future is initialised. The slot
        // lives in a segment that never moves (I3), and the future is only ever dropped in
        // place (`vacate`, `drop`), so it stays where this pin says it is until dropped.
        unsafe { Pin::new_unchecked((*self.fut.get()).assume_init_mut()) }
    }
}

impl<K, F> Drop for Slot<K, F> {
    fn drop(&mut self) {
        if self.is_running() {
            self.state = EMPTY;
            // SAFETY: a running slot's key and future are initialised; the slot is marked empty
            // first, so they are dropped once. The future is dropped in place.
            unsafe {
                self.key.assume_init_drop();
                self.fut.get_mut().assume_init_drop();
            }
        }
    }
}

/// The slots of one engine: ids `0..capacity()` in segments that are allocated as the engine
/// grows and never moved or freed before the whole `Slots` (I3), so that a future is pinned
/// in its slot from insertion to removal.
pub(crate) struct Slots<K, F> {
    segments: Vec<Box<[Slot<K, F>]>>,
    /// The first id of each segment.
    starts: Vec<usize>,
    capacity: usize,
    /// Head of the free list of empty slots.
    free: usize,
}

impl<K, F> Slots<K, F> {
    pub(crate) fn new() -> Self {
        Slots {
            segments: Vec::new(),
            starts: Vec::new(),
            capacity: 0,
            free: NO_SLOT,
        }
    }

    /// True if a slot is free for [`insert`](Self::insert).
    pub(crate) fn has_free(&self) -> bool {
        self.free != NO_SLOT
    }

    /// Adds `size` empty slots, ids `capacity()..capacity() + size`, taken first (in id order)
    /// by the next inserts.
    pub(crate) fn grow(&mut self, size: usize) {
        let start = self.capacity;
        let end = start + size;
        let old = self.free;
        let seg: Box<[_]> = (start..end)
            .map(|id| Slot::empty(if id + 1 == end { old } else { id + 1 }))
            .collect();
        self.segments.push(seg);
        self.starts.push(start);
        self.capacity = end;
        if size > 0 {
            self.free = start;
        }
    }

    #[inline]
    fn slot(&mut self, id: usize) -> &mut Slot<K, F> {
        // Almost every id is in the first segment, which is sized from the source's hint.
        let mut seg = self.starts.len() - 1;
        while self.starts[seg] > id {
            seg -= 1;
        }
        &mut self.segments[seg][id - self.starts[seg]]
    }

    /// Starts input `index` with `key` in a free slot, and returns the slot's id.
    ///
    /// # Panics
    ///
    /// Panics if no slot is free (see [`grow`](Self::grow)), or if `index` is 2^63 or more.
    #[inline]
    pub(crate) fn insert(&mut self, index: usize, key: K, fut: F) -> usize {
        assert!(self.has_free(), "insert needs a free slot");
        assert!(index < EMPTY, "fewer than 2^63 inputs");
        let id = self.free;
        let slot = self.slot(id);
        debug_assert!(!slot.is_running(), "the free list holds empty slots");
        let next_free = std::mem::replace(&mut slot.state, index) & !EMPTY;
        // Writing an empty slot's fields in place moves nothing pinned.
        slot.key.write(key);
        slot.fut.get_mut().write(fut);
        self.free = next_free;
        id
    }

    /// Runs `f` on the future in slot `id`, pinned where it lies; `None` if the slot is empty
    /// (its input finished before a late wake-up).
    #[inline]
    pub(crate) fn with_running<R>(
        &mut self,
        id: usize,
        f: impl FnOnce(Pin<&mut F>) -> R,
    ) -> Option<R> {
        let slot = self.slot(id);
        if !slot.is_running() {
            return None;
        }
        // SAFETY: checked running just above.
        Some(f(unsafe { slot.pinned() }))
    }

    /// The running futures, by shared reference. Only for `Unpin` futures: a future that is
    /// `Unpin` holds no pointer into itself (nothing pins it in place), so a shared borrow of
    /// its slot asserts nothing that the future's own pointers could break (I3). A task group
    /// reads its children this way.
    pub(crate) fn running(&self) -> impl Iterator<Item = &F>
    where
        F: Unpin,
    {
        self.segments
            .iter()
            .flat_map(|seg| seg.iter())
            .filter(|slot| slot.state & EMPTY == 0)
            // SAFETY: the slot is running, so its future is initialised; `&self` rules out a
            // `&mut` to it (`with_running`, `vacate` take `&mut self`) while this borrow lives,
            // and `F: Unpin` makes the shared borrow of the slot sound (I3).
            .map(|slot| unsafe { (*slot.fut.get()).assume_init_ref() })
    }

    /// Empties the running slot `id` and moves its future out: only for `Unpin` futures,
    /// which may move (I3). Returns the input's index, its key and the future.
    ///
    /// # Panics
    ///
    /// Panics if the slot is empty.
    pub(crate) fn remove(&mut self, id: usize) -> (usize, K, F)
    where
        F: Unpin,
    {
        let next_free = self.free;
        let slot = self.slot(id);
        assert!(slot.is_running(), "remove is only called on a running slot");
        let index = std::mem::replace(&mut slot.state, EMPTY | next_free);
        // SAFETY: the slot was running, so key and future are initialised; it is marked empty
        // first, so neither is read or dropped again. Moving the future is fine: it is `Unpin`.
        let (key, fut) = unsafe {
            (
                slot.key.assume_init_read(),
                slot.fut.get_mut().assume_init_read(),
            )
        };
        self.free = id;
        (index, key, fut)
    }

    /// Empties the running slot `id`: drops its future in place, frees the slot, and returns
    /// the input's index and key.
    ///
    /// # Panics
    ///
    /// Panics if the slot is empty.
    #[inline(always)]
    pub(crate) fn vacate(&mut self, id: usize) -> (usize, K) {
        let next_free = self.free;
        let slot = self.slot(id);
        assert!(slot.is_running(), "vacate is only called on a running slot");
        let index = std::mem::replace(&mut slot.state, EMPTY | next_free);
        // SAFETY: the slot was running, so key and future are initialised; it is marked empty
        // first, so neither is read or dropped again (even if the future's drop panics: the
        // key is already out). The future is dropped where it lies, never moved.
        let key = unsafe {
            let key = slot.key.assume_init_read();
            slot.fut.get_mut().assume_init_drop();
            key
        };
        self.free = id;
        (index, key)
    }
}
