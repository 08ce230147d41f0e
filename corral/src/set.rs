//! The engine under every combinator that runs many awaitables: a set that pulls inputs lazily
//! from a source, runs at most `limit` of them at once, polls only the ones that were woken,
//! and hands back `(input index, key, outcome)` in completion order (ties within one poll pass
//! in input order) or in input order.
//!
//! Plain futures are polled in place, in the caller's task and cancel scope, with panics
//! caught; task handles are polled for their outcome. Dropping the set drops every future it
//! holds (a task handle aborts its task), so nothing it started outlives it.

use std::collections::VecDeque;
use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use futures_core::Stream;

use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};
use crate::task::Awaitable;

/// Where a set's inputs come from: `(key, awaitable)` pairs, pulled only when there is room.
///
/// `pub` only so that public combinator types can be generic over it; the module is private,
/// so users can neither name nor implement it (a sealed trait). They meet it as the first type
/// parameter of [`AsCompleted`](crate::AsCompleted), picked by the aliases
/// [`AsCompletedIter`](crate::AsCompletedIter) ([`Iter`]),
/// [`AsCompletedKeyed`](crate::AsCompletedKeyed) ([`Keyed`]),
/// [`AsCompletedStream`](crate::AsCompletedStream) ([`Streamed`]) and
/// [`AsCompletedStreamKeyed`](crate::AsCompletedStreamKeyed) ([`StreamedKeyed`]).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // `AsCompletedIter<I>` is `AsCompleted<Iter<I>>`: the source is the iterator, wrapped.
/// let mut s: corral::AsCompletedIter<std::vec::IntoIter<Ready<Result<u8, ()>>>> =
///     corral::as_completed(vec![ready(Ok(1))]);
/// assert_eq!(s.next().await.unwrap().outcome, corral::Outcome::Ok(1));
/// # }
/// ```
pub trait Source {
    /// The key each input comes with (`()` when inputs have none).
    type Key;
    /// The inputs.
    type Item: Awaitable;
    /// The next input and its key, `Ready(None)` when there are no more.
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Self::Key, Self::Item)>>;
    /// Bounds on the number of inputs left, as [`Iterator::size_hint`].
    fn size_hint(&self) -> (usize, Option<usize>);
}

/// Inputs from an iterator, keyed by `()` (the input index is the key). The source of
/// [`as_completed`](crate::as_completed), named through
/// [`AsCompletedIter<I>`](crate::AsCompletedIter) (`AsCompleted<Iter<I>>`).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))];
/// let s: corral::AsCompletedIter<std::vec::IntoIter<Ready<Result<u8, ()>>>> =
///     corral::as_completed(inputs);
/// let indexes: Vec<usize> = s.map(|done| done.index).collect().await;
/// assert_eq!(indexes, [0, 1]);
/// # }
/// ```
#[derive(Debug)]
pub struct Iter<I>(pub(crate) I);

impl<I: Iterator> Source for Iter<I>
where
    I::Item: Awaitable,
{
    type Key = ();
    type Item = I::Item;
    #[inline]
    fn poll_next_input(&mut self, _: &mut Context<'_>) -> Poll<Option<((), I::Item)>> {
        Poll::Ready(self.0.next().map(|a| ((), a)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from an iterator of `(key, awaitable)` pairs. The source of
/// [`as_completed_keyed`](crate::as_completed_keyed), named through
/// [`AsCompletedKeyed<I>`](crate::AsCompletedKeyed) (`AsCompleted<Keyed<I>>`).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![("a", ready(Ok::<u8, ()>(1)))];
/// let mut s: corral::AsCompletedKeyed<std::vec::IntoIter<(&str, Ready<Result<u8, ()>>)>> =
///     corral::as_completed_keyed(inputs);
/// assert_eq!(s.next().await.unwrap().key, "a");
/// # }
/// ```
#[derive(Debug)]
pub struct Keyed<I>(pub(crate) I);

impl<I, K, A> Source for Keyed<I>
where
    I: Iterator<Item = (K, A)>,
    A: Awaitable,
{
    type Key = K;
    type Item = A;
    #[inline]
    fn poll_next_input(&mut self, _: &mut Context<'_>) -> Poll<Option<(K, A)>> {
        Poll::Ready(self.0.next())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from a stream, keyed by `()`. The source of
/// [`as_completed_stream`](crate::as_completed_stream), named through
/// [`AsCompletedStream<St>`](crate::AsCompletedStream) (`AsCompleted<Streamed<St>>`).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = stream::iter(vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))]);
/// let s: corral::AsCompletedStream<stream::Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>> =
///     corral::as_completed_stream(inputs);
/// assert_eq!(s.count().await, 2);
/// # }
/// ```
#[derive(Debug)]
pub struct Streamed<S>(pub(crate) Pin<Box<S>>);

impl<S: Stream> Source for Streamed<S>
where
    S::Item: Awaitable,
{
    type Key = ();
    type Item = S::Item;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<((), S::Item)>> {
        self.0.as_mut().poll_next(cx).map(|o| o.map(|a| ((), a)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from a stream of `(key, awaitable)` pairs. The source of
/// [`as_completed_stream_keyed`](crate::as_completed_stream_keyed), named through
/// [`AsCompletedStreamKeyed<St>`](crate::AsCompletedStreamKeyed)
/// (`AsCompleted<StreamedKeyed<St>>`).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Pairs = stream::Iter<std::vec::IntoIter<(char, Ready<Result<u8, ()>>)>>;
/// let inputs: Pairs = stream::iter(vec![('x', ready(Ok(1)))]);
/// let mut s: corral::AsCompletedStreamKeyed<Pairs> = corral::as_completed_stream_keyed(inputs);
/// assert_eq!(s.next().await.unwrap().key, 'x');
/// # }
/// ```
#[derive(Debug)]
pub struct StreamedKeyed<S>(pub(crate) Pin<Box<S>>);

impl<S, K, A> Source for StreamedKeyed<S>
where
    S: Stream<Item = (K, A)>,
    A: Awaitable,
{
    type Key = K;
    type Item = A;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(K, A)>> {
        self.0.as_mut().poll_next(cx)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

type Out<A> = Outcome<
    <<A as Awaitable>::Output as IntoOutcome>::Ok,
    <<A as Awaitable>::Output as IntoOutcome>::Err,
>;

type SlotOf<S> = Slot<<S as Source>::Key, <<S as Source>::Item as Awaitable>::Future>;
type DoneOf<S> = Done<<S as Source>::Key, Out<<S as Source>::Item>>;

/// One finished input: its index in input order, its key, its outcome.
pub(crate) struct Done<K, O> {
    pub(crate) index: usize,
    pub(crate) key: K,
    pub(crate) outcome: O,
}

/// The bit of [`Slot::state`] that marks an empty slot.
const EMPTY: usize = 1 << (usize::BITS - 1);

/// No slot: the end of the free list.
const NO_SLOT: usize = EMPTY - 1;

/// A place for one running input: a state word, the key and the future, nothing more (an
/// `Option<F>` would add a word for most futures).
struct Slot<K, F> {
    /// Running: the input's index (below [`EMPTY`]). Empty: `EMPTY |` the next slot of the
    /// set's free list (an intrusive stack of slot ids), [`NO_SLOT`] at its end.
    state: usize,
    /// Initialised exactly while running. Taken out before the future is dropped in place: a
    /// pinned future must never be moved, not even to be dropped (a registered timer or waiter
    /// list node inside it would be left dangling).
    key: MaybeUninit<K>,
    /// Initialised exactly while running; pinned there.
    fut: MaybeUninit<F>,
}

impl<K, F> Slot<K, F> {
    fn empty(next_free: usize) -> Self {
        Slot {
            state: EMPTY | next_free,
            key: MaybeUninit::uninit(),
            fut: MaybeUninit::uninit(),
        }
    }

    #[inline]
    fn is_running(&self) -> bool {
        self.state & EMPTY == 0
    }

    /// Empties a running slot: drops its future in place and returns its index and key.
    fn vacate(&mut self, next_free: usize) -> (usize, K) {
        assert!(self.is_running(), "vacate is only called on a running slot");
        let index = std::mem::replace(&mut self.state, EMPTY | next_free);
        // SAFETY: the slot was running, so key and future are initialised; it is marked empty
        // first, so neither is read or dropped again (even if the future's drop panics). The
        // future is dropped where it lies, never moved.
        unsafe {
            let key = self.key.assume_init_read();
            std::ptr::drop_in_place(self.fut.as_mut_ptr());
            (index, key)
        }
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
                std::ptr::drop_in_place(self.fut.as_mut_ptr());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wake table: one waker per slot, and the queue of slots to poll.
// ---------------------------------------------------------------------------------------------

/// What the per-slot wakers share with their owner: a lock-free stack of woken entries and the
/// owner's own waker.
struct Shared {
    /// Woken entries, most recent first, linked through [`WakerEntry::next`]. Wakers push; the
    /// owner takes the whole stack at once, so there is no pop and no ABA problem.
    head: AtomicPtr<WakerEntry>,
    /// The owner's waker, woken when the stack goes from empty to non-empty (once per batch).
    parent: Mutex<Option<Waker>>,
}

/// The wakers of one segment of slots, in one allocation. A slot's waker is a pointer to its
/// entry; cloning or dropping it counts a reference on the whole segment, so there is no
/// allocation per slot.
struct WakerSegment {
    shared: Arc<Shared>,
    /// The slot id of `entries[0]`.
    start: usize,
    entries: Box<[WakerEntry]>,
}

/// A slot's waker: 16 bytes. The slot id is the entry's position in its segment.
struct WakerEntry {
    /// [`not_queued()`] while the slot is not queued. Otherwise the entry is in exactly one
    /// queue (the shared stack or the owner's local list) and this is its link there (null at
    /// the end); only whoever queued it (a waker, or the owner for its local list) writes it,
    /// until the owner takes it off to poll the slot and stores `not_queued()` again.
    next: AtomicPtr<WakerEntry>,
    /// The segment holding this entry, whose `Arc` reference count the wakers share.
    segment: *const WakerSegment,
}

/// The `next` of an entry that is in no queue: never the address of an entry (nothing is
/// allocated at the alignment's address), never null (the end of a queue).
fn not_queued() -> *mut WakerEntry {
    ptr::dangling_mut()
}

// SAFETY: `segment` only ever points at the `WakerSegment` that holds the entry (whose fields
// are `Send + Sync`), and is used to count references on its `Arc` and to reach `shared`; the
// other field is an atomic.
unsafe impl Send for WakerEntry {}
// SAFETY: as above.
unsafe impl Sync for WakerEntry {}

impl WakerSegment {
    fn new(shared: Arc<Shared>, start: usize, size: usize) -> Arc<Self> {
        let entries = (0..size)
            .map(|_| WakerEntry {
                next: AtomicPtr::new(not_queued()),
                segment: ptr::null(),
            })
            .collect();
        let mut seg = Arc::new(WakerSegment {
            shared,
            start,
            entries,
        });
        let me = Arc::as_ptr(&seg);
        let unique = Arc::get_mut(&mut seg).expect("just made");
        for e in unique.entries.iter_mut() {
            e.segment = me;
        }
        seg
    }
}

impl WakerEntry {
    /// Claims the entry for a queue: false if it is queued already (it will be polled).
    #[inline]
    fn claim(&self) -> bool {
        // Acquire: pairs with the owner's release when it took the entry off a queue, so our
        // writes to `next` come after its last read of it.
        self.next
            .compare_exchange(
                not_queued(),
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The slot id of this entry.
    fn slot(&self) -> usize {
        // SAFETY: the segment holding this entry is alive while the entry is.
        let seg = unsafe { &*self.segment };
        // SAFETY: both pointers are into `seg.entries`.
        let off = unsafe { (self as *const WakerEntry).offset_from(seg.entries.as_ptr()) };
        seg.start + off as usize
    }

    fn wake(&self) {
        if !self.claim() {
            return; // already queued: it will be polled
        }
        // SAFETY: whoever wakes holds a waker for this entry, which keeps the segment alive.
        let shared = unsafe { &(*self.segment).shared };
        let me = self as *const WakerEntry as *mut WakerEntry;
        let mut head = shared.head.load(Ordering::Relaxed);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match shared
                .head
                .compare_exchange_weak(head, me, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        if head.is_null() {
            // First of a batch: the owner may be asleep. (If it is awake, it takes the stack
            // after registering its waker, so it sees this entry either way.)
            let parent = shared
                .parent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(w) = parent {
                w.wake();
            }
        }
    }
}

static SLOT_WAKER: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

// SAFETY (all four): `p` points at a `WakerEntry` whose segment is kept alive by the waker
// being used (a counted reference, or the owner itself for the borrowed waker of a poll).
unsafe fn waker_clone(p: *const ()) -> RawWaker {
    let entry = unsafe { &*(p as *const WakerEntry) };
    unsafe { Arc::increment_strong_count(entry.segment) };
    RawWaker::new(p, &SLOT_WAKER)
}

unsafe fn waker_wake(p: *const ()) {
    unsafe {
        waker_wake_by_ref(p);
        waker_drop(p);
    }
}

unsafe fn waker_wake_by_ref(p: *const ()) {
    unsafe { &*(p as *const WakerEntry) }.wake();
}

unsafe fn waker_drop(p: *const ()) {
    // Read the segment pointer first: the decrement may free the entry.
    let segment = unsafe { (*(p as *const WakerEntry)).segment };
    unsafe { Arc::decrement_strong_count(segment) };
}

/// An entry pointer held by the owner of a [`WakeTable`] (its local list).
#[derive(Clone, Copy)]
struct EntryPtr(*const WakerEntry);

// SAFETY: only the table's owner dereferences these, while the table keeps every segment alive.
unsafe impl Send for EntryPtr {}
// SAFETY: as above.
unsafe impl Sync for EntryPtr {}

impl EntryPtr {
    const NULL: EntryPtr = EntryPtr(ptr::null());
    fn is_null(self) -> bool {
        self.0.is_null()
    }
}

/// One waker per slot id and the queue of ids to poll: a lock-free stack that wakers push to,
/// drained in wake order into a local list that only the owner touches. Both are intrusive
/// (linked through the entries), so queueing allocates nothing and costs no lock; the owner's
/// waker is taken from a mutex once per batch of wake-ups.
pub(crate) struct WakeTable {
    shared: Arc<Shared>,
    segments: Vec<Arc<WakerSegment>>,
    starts: Vec<usize>,
    capacity: usize,
    /// The owner's waker as last registered, to skip the mutex when it has not changed.
    parent: Option<Waker>,
    /// Queued entries in poll order (oldest first), owned by the owner.
    local_head: EntryPtr,
    local_tail: EntryPtr,
    /// How many entries the local list holds.
    local_len: usize,
}

impl WakeTable {
    pub(crate) fn new() -> Self {
        WakeTable {
            shared: Arc::new(Shared {
                head: AtomicPtr::new(ptr::null_mut()),
                parent: Mutex::new(None),
            }),
            segments: Vec::new(),
            starts: Vec::new(),
            capacity: 0,
            parent: None,
            local_head: EntryPtr::NULL,
            local_tail: EntryPtr::NULL,
            local_len: 0,
        }
    }

    /// Ids below this have a waker.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds wakers for ids `capacity..capacity + size`.
    pub(crate) fn grow(&mut self, size: usize) {
        let start = self.capacity;
        self.segments
            .push(WakerSegment::new(self.shared.clone(), start, size));
        self.starts.push(start);
        self.capacity += size;
    }

    /// The segment and offset of `id`.
    #[inline]
    pub(crate) fn locate(&self, id: usize) -> (usize, usize) {
        // Almost every id is in the first segment, which is sized from the source's hint.
        let mut seg = self.starts.len() - 1;
        while self.starts[seg] > id {
            seg -= 1;
        }
        (seg, id - self.starts[seg])
    }

    #[inline]
    fn entry(&self, seg: usize, off: usize) -> &WakerEntry {
        &self.segments[seg].entries[off]
    }

    fn push_local(&mut self, e: EntryPtr) {
        // SAFETY: `e` is an entry of one of our segments, alive while we are; it is
        // claimed (in no other queue), so we own its link.
        unsafe { (*e.0).next.store(ptr::null_mut(), Ordering::Relaxed) };
        if self.local_tail.is_null() {
            self.local_head = e;
        } else {
            // SAFETY: the tail is one of our queued entries, as above.
            unsafe {
                (*self.local_tail.0)
                    .next
                    .store(e.0 as *mut _, Ordering::Relaxed)
            };
        }
        self.local_tail = e;
        self.local_len += 1;
    }

    /// Queues `id` to be polled, unless it is queued already.
    pub(crate) fn schedule(&mut self, id: usize) {
        let (seg, off) = self.locate(id);
        let e = self.entry(seg, off);
        if !e.claim() {
            return;
        }
        let e = EntryPtr(e);
        self.push_local(e);
    }

    /// Records the owner's waker, for the next batch of wake-ups.
    pub(crate) fn register(&mut self, waker: &Waker) {
        if self.parent.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        self.parent = Some(waker.clone());
        *self.shared.parent.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
    }

    /// Moves every woken entry to the local list, in wake order. Call after [`register`]:
    /// a wake-up that comes later finds the stack empty and wakes the registered waker.
    ///
    /// [`register`]: Self::register
    pub(crate) fn collect(&mut self) {
        let mut p = self.shared.head.swap(ptr::null_mut(), Ordering::Acquire) as *const WakerEntry;
        if p.is_null() {
            return;
        }
        // The stack is newest first: reverse it. Its entries are all queued, so we own their
        // links now.
        let last = EntryPtr(p);
        let mut rev: *const WakerEntry = ptr::null();
        while !p.is_null() {
            self.local_len += 1;
            // SAFETY: entries on our stack belong to our segments, alive while we are.
            let e = unsafe { &*p };
            let next = e.next.load(Ordering::Relaxed);
            e.next.store(rev as *mut _, Ordering::Relaxed);
            rev = p;
            p = next;
        }
        if self.local_tail.is_null() {
            self.local_head = EntryPtr(rev);
        } else {
            // SAFETY: as in `push_local`.
            unsafe {
                (*self.local_tail.0)
                    .next
                    .store(rev as *mut _, Ordering::Relaxed)
            };
        }
        self.local_tail = last;
    }

    /// How many ids are queued locally (call [`collect`](Self::collect) first).
    pub(crate) fn queued(&self) -> usize {
        self.local_len
    }

    /// True when nothing is queued locally (call [`collect`](Self::collect) first).
    pub(crate) fn is_idle(&self) -> bool {
        self.local_head.is_null()
    }

    /// Takes the next queued id off the local list, with the waker to poll it with. From now
    /// on a wake-up queues the id again.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(usize, ManuallyDrop<Waker>)> {
        let e = self.local_head;
        if e.is_null() {
            return None;
        }
        // SAFETY: a queued entry of ours, as in `push_local`.
        let entry = unsafe { &*e.0 };
        // Read the link before releasing the entry: after that, a waker may relink it.
        let next = entry.next.load(Ordering::Relaxed);
        self.local_head = EntryPtr(next);
        self.local_len -= 1;
        if next.is_null() {
            self.local_tail = EntryPtr::NULL;
        }
        entry.next.store(not_queued(), Ordering::Release);
        let raw = RawWaker::new(e.0 as *const (), &SLOT_WAKER);
        // SAFETY: a borrowed waker: never dropped (ManuallyDrop), so it takes no reference;
        // the table keeps the segment alive while its owner polls with it. Clones count their
        // own references.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        Some((entry.slot(), waker))
    }

    /// Forgets the owner's waker: wakers still held elsewhere must not wake an owner that has
    /// moved on.
    pub(crate) fn clear_parent(&mut self) {
        self.parent = None;
        *self.shared.parent.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for WakeTable {
    fn drop(&mut self) {
        self.clear_parent();
    }
}

// ---------------------------------------------------------------------------------------------
// The set.
// ---------------------------------------------------------------------------------------------

/// How many futures one call polls before yielding to the runtime.
const BUDGET: usize = 1024;

/// The set. `S` is its source.
pub(crate) struct Set<S: Source>
where
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    source: Option<S>,
    /// Slot storage in segments that never move once allocated (the futures are pinned there),
    /// parallel to the wake table's segments.
    segments: Vec<Box<[SlotOf<S>]>>,
    /// One waker per slot, made once and reused by every input the slot holds, and the queue
    /// of slots to poll.
    table: WakeTable,
    /// Head of the free list of slots (linked through empty slots' `index`).
    free: usize,
    limit: usize,
    running: usize,
    next_index: usize,
    ordered: bool,
    stopping: bool,
    /// Stopping, but still pulling inputs to hand them out stopped ([`Set::stop_all`]).
    draining: bool,
    /// [`Set::poll_drain`] only: the sink asked to stop; outcomes from now on are dropped.
    discarding: bool,
    /// Finished, not yet handed out, in hand-out order (unordered mode).
    ready: VecDeque<DoneOf<S>>,
    /// Ordered mode: position `i` holds input `emitted + i` once it has finished.
    ready_ordered: VecDeque<Option<DoneOf<S>>>,
    ready_count: usize,
    emitted: usize,
    /// Finished in the current pass, not yet moved to `ready`.
    finished: Vec<DoneOf<S>>,
}

impl<S: Source> Set<S>
where
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    pub(crate) fn new(source: S) -> Self {
        Set {
            source: Some(source),
            segments: Vec::new(),
            table: WakeTable::new(),
            free: NO_SLOT,
            limit: usize::MAX,
            running: 0,
            next_index: 0,
            ordered: false,
            stopping: false,
            draining: false,
            discarding: false,
            ready: VecDeque::new(),
            ready_ordered: VecDeque::new(),
            ready_count: 0,
            emitted: 0,
            finished: Vec::new(),
        }
    }

    /// At most `n` inputs run at once (n = 0 is taken as 1). Takes effect for inputs started
    /// after the call.
    pub(crate) fn set_limit(&mut self, n: usize) {
        self.limit = n.max(1);
    }

    /// Hand outcomes out in input order instead of completion order. In this mode the limit
    /// bounds running *and* finished-but-not-handed-out inputs together.
    pub(crate) fn set_ordered(&mut self, ordered: bool) {
        self.ordered = ordered;
    }

    /// Inputs started and not yet handed out.
    pub(crate) fn remaining(&self) -> usize {
        self.running + self.ready_count
    }

    /// Inputs currently running.
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// True when the source is exhausted (or stopped) and everything has been handed out.
    pub(crate) fn is_terminated(&self) -> bool {
        self.source.is_none() && self.running == 0 && self.ready_count == 0
    }

    /// Stops the set: no more inputs are pulled; running plain futures are dropped now and come
    /// out as `Cancelled`; running tasks are asked to stop and come out with whatever outcome
    /// they end with (drained, not abandoned).
    pub(crate) fn stop(&mut self) {
        self.stopping = true;
        self.draining = false;
        self.source = None;
        self.stop_running();
    }

    /// Like [`stop`](Self::stop), but the inputs not pulled yet are still pulled (within the
    /// limit, so memory stays bounded) and stopped at once: a plain future comes out as
    /// `Cancelled` without ever being polled, a task is asked to stop and comes out with its
    /// final outcome. Every input thus comes out exactly once.
    pub(crate) fn stop_all(&mut self) {
        self.stopping = true;
        self.draining = self.source.is_some();
        self.stop_running();
    }

    fn stop_running(&mut self) {
        for id in 0..self.table.capacity() {
            self.stop_slot(id);
        }
        self.flush_finished();
    }

    /// Stops the input in slot `id`, if any: a plain future is dropped and finishes as
    /// `Cancelled`; a task is asked to stop and queued for another poll.
    fn stop_slot(&mut self, id: usize) {
        // SAFETY: slots live in segments that are never moved or freed while the set lives;
        // a future is only ever dropped in place.
        let slot = unsafe { self.slot_mut(id).get_unchecked_mut() };
        if !slot.is_running() {
            return;
        }
        // SAFETY: a running slot's future is initialised and pinned in its slot, as above.
        let keep = S::Item::request_stop(unsafe { Pin::new_unchecked(slot.fut.assume_init_mut()) });
        if keep {
            // Make sure the stopping task is polled again.
            self.table.schedule(id);
            return;
        }
        let (index, key) = self.vacate(id);
        self.finish(Done {
            index,
            key,
            outcome: Outcome::Cancelled(Cancelled::new()),
        });
    }

    /// Drops the future in slot `id` where it is pinned, frees the slot, and returns the
    /// input's index and key.
    fn vacate(&mut self, id: usize) -> (usize, S::Key) {
        let next_free = self.free;
        // SAFETY: `Slot::vacate` drops the future in place, never moving it.
        let slot = unsafe { self.slot_mut(id).get_unchecked_mut() };
        let (index, key) = slot.vacate(next_free);
        self.running -= 1;
        self.free = id;
        (index, key)
    }

    /// Bounds on the number of outcomes still to come: those started and not handed out, plus
    /// what the source says it still holds.
    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        let started = self.running + self.ready_count + self.finished.len();
        let (lo, hi) = self.source.as_ref().map_or((0, Some(0)), |s| s.size_hint());
        (
            started.saturating_add(lo),
            hi.and_then(|h| h.checked_add(started)),
        )
    }

    /// Inputs pulled from the source so far.
    pub(crate) fn pulled(&self) -> usize {
        self.next_index
    }

    #[inline]
    fn slot_mut(&mut self, id: usize) -> Pin<&mut SlotOf<S>> {
        let (seg, off) = self.table.locate(id);
        // SAFETY: segments are boxed slices that are never reallocated or moved while the set
        // lives, so a slot's address is stable and pinning it is sound.
        unsafe { Pin::new_unchecked(&mut self.segments[seg][off]) }
    }

    fn grow(&mut self) {
        let cap = self.table.capacity();
        let hint = self.source.as_ref().map_or(0, |s| s.size_hint().0);
        let room = self.limit.saturating_sub(cap);
        let size = if cap == 0 {
            // The input in hand is not in the hint any more.
            hint.saturating_add(1).clamp(16, 1 << 20)
        } else {
            cap.max(16)
        }
        .min(room.max(1));
        // Free list in id order, ending at the old head (empty when we grow).
        let old = self.free;
        let end = cap + size;
        let seg: Box<[_]> = (cap..end)
            .map(|id| Slot::empty(if id + 1 == end { old } else { id + 1 }))
            .collect();
        self.segments.push(seg);
        self.table.grow(size);
        self.free = cap;
    }

    fn has_room(&self) -> bool {
        if self.ordered {
            // Running plus finished-but-held inputs stay within the limit.
            self.next_index - self.emitted < self.limit
        } else {
            // Finished-but-not-flushed inputs count too, or a source of finished tasks (or a
            // draining set) would be pulled dry in one go.
            self.running + self.finished.len() < self.limit
        }
    }

    /// Pulls inputs while there is room. Returns true if any was started.
    fn fill(&mut self, cx: &mut Context<'_>) -> bool {
        let mut started = false;
        while self.has_room() {
            let Some(source) = self.source.as_mut() else {
                break;
            };
            let (key, mut input) = match source.poll_next_input(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    self.source = None;
                    break;
                }
                Poll::Ready(Some(x)) => x,
            };
            let index = self.next_index;
            self.next_index += 1;
            if self.ordered {
                self.ready_ordered.push_back(None);
            }
            // A finished task's outcome is taken without polling.
            if let Some(out) = input.ready_output() {
                self.finish(Done {
                    index,
                    key,
                    outcome: out.into_outcome(),
                });
                continue;
            }
            if self.free == NO_SLOT {
                self.grow();
            }
            let id = self.free;
            let fut = input.into_awaitable();
            let mut slot = self.slot_mut(id);
            // SAFETY: an empty slot holds no future, so writing its fields in place moves
            // nothing pinned.
            let slot = unsafe { slot.as_mut().get_unchecked_mut() };
            debug_assert!(!slot.is_running(), "the free list holds empty slots");
            assert!(index < EMPTY, "fewer than 2^63 inputs");
            let next_free = std::mem::replace(&mut slot.state, index) & !EMPTY;
            slot.key.write(key);
            slot.fut.write(fut);
            self.free = next_free;
            self.running += 1;
            started = true;
            if self.draining {
                // Never polled: a plain future is dropped unstarted, a task asked to stop.
                self.stop_slot(id);
            } else {
                self.table.schedule(id);
            }
        }
        started
    }

    fn finish(&mut self, d: DoneOf<S>) {
        self.finished.push(d);
    }

    fn flush_finished(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        if self.discarding {
            self.finished.clear();
            return;
        }
        self.ready_count += self.finished.len();
        if self.ordered {
            for d in self.finished.drain(..) {
                let pos = d.index - self.emitted;
                self.ready_ordered[pos] = Some(d);
            }
            return;
        }
        // Ties within one pass come out in input order. Inputs usually finish in slot
        // order, which is input order, so check before sorting.
        if !self.finished.is_sorted_by_key(|d| d.index) {
            self.finished.sort_by_key(|d| d.index);
        }
        if self.ready.is_empty() {
            // Hand the pass over as it is, and keep the old (empty) buffer for the next one.
            let pass = VecDeque::from(std::mem::take(&mut self.finished));
            self.finished = Vec::from(std::mem::replace(&mut self.ready, pass));
        } else {
            self.ready.extend(self.finished.drain(..));
        }
    }

    #[inline]
    fn pop_ready(&mut self) -> Option<DoneOf<S>> {
        let d = if self.ordered {
            match self.ready_ordered.front() {
                Some(Some(_)) => self.ready_ordered.pop_front().flatten(),
                _ => None,
            }
        } else {
            self.ready.pop_front()
        }?;
        self.ready_count -= 1;
        self.emitted += 1;
        Some(d)
    }

    fn has_ready(&self) -> bool {
        if self.ordered {
            self.ready_ordered.front().is_some_and(|d| d.is_some())
        } else {
            !self.ready.is_empty()
        }
    }

    /// Polls the input in slot `id` with `waker`; its outcome if it finished.
    #[inline]
    fn poll_slot(&mut self, id: usize, waker: &Waker) -> Option<DoneOf<S>> {
        let mut cx = Context::from_waker(waker);
        let mut slot = self.slot_mut(id);
        // SAFETY: the slot is pinned; we project to the future without moving it.
        let slot = unsafe { slot.as_mut().get_unchecked_mut() };
        if !slot.is_running() {
            return None; // woken after it finished
        }
        // SAFETY: a running slot's future is initialised, and pinned there.
        let fut = unsafe { Pin::new_unchecked(slot.fut.assume_init_mut()) };
        let polled = catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx)));
        let outcome = match polled {
            Ok(Poll::Pending) => return None,
            Ok(Poll::Ready(out)) => out.into_outcome(),
            Err(payload) => Outcome::Panicked(Panic::from_payload(&*payload)),
        };
        let (index, key) = self.vacate(id);
        Some(Done {
            index,
            key,
            outcome,
        })
    }

    /// Polls queued slots until none is left or tokio's cooperative budget runs out; each
    /// outcome goes to `out`. Returns how many were polled and whether the budget ran out with
    /// slots still queued.
    ///
    /// Stopping at the budget matters: past it, every task handle would report Pending and
    /// re-queue itself, and a pass over the whole queue per budget makes the set quadratic.
    /// The rest stays queued for the next call.
    #[inline]
    fn run_queue(&mut self, out: &mut impl FnMut(DoneOf<S>)) -> (usize, bool) {
        let mut polled = 0;
        loop {
            if self.table.is_idle() {
                return (polled, false);
            }
            if !tokio::task::coop::has_budget_remaining() {
                return (polled, true);
            }
            let Some((id, waker)) = self.table.pop() else {
                return (polled, false);
            };
            polled += 1;
            if let Some(d) = self.poll_slot(id, &waker) {
                out(d);
            }
        }
    }

    /// The next finished input, `None` once everything is handed out.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<DoneOf<S>>> {
        let mut polls = 0;
        loop {
            if let Some(d) = self.pop_ready() {
                return Poll::Ready(Some(d));
            }
            if self.is_terminated() {
                return Poll::Ready(None);
            }
            if !self.stopping || self.draining {
                self.fill(cx);
                self.flush_finished();
            }
            self.table.register(cx.waker());
            self.table.collect();
            if self.table.is_idle() {
                if self.has_ready() || self.is_terminated() {
                    continue;
                }
                return Poll::Pending;
            }
            let mut finished = std::mem::take(&mut self.finished);
            // At most every queued input finishes in this pass: room for them in one go,
            // rather than doubling through a pass of 100,000.
            finished.reserve(self.table.queued());
            let (polled, exhausted) = self.run_queue(&mut |d| finished.push(d));
            if self.finished.is_empty() {
                self.finished = finished;
            } else {
                self.finished.append(&mut finished);
            }
            polls += polled;
            self.flush_finished();
            if exhausted {
                cx.waker().wake_by_ref();
                return match self.pop_ready() {
                    Some(d) => Poll::Ready(Some(d)),
                    None => Poll::Pending,
                };
            }
            if polls >= BUDGET && !self.has_ready() {
                // Let the runtime breathe; we were woken for more, so come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Gives what `finished` holds to `sink` (or drops it once discarding); true if the sink
    /// asked to stop.
    fn drain_finished(&mut self, sink: &mut impl FnMut(DoneOf<S>) -> bool) -> bool {
        let mut stop = false;
        if self.discarding {
            self.finished.clear();
        } else {
            for d in self.finished.drain(..) {
                stop |= sink(d);
            }
        }
        stop
    }

    /// After a group of outcomes (one pass) in which the sink asked to stop: stop the set and
    /// drop every later outcome.
    fn stop_for_sink(&mut self) {
        if !self.discarding {
            self.discarding = true;
            self.stop();
            self.finished.clear();
        }
    }

    /// Drives the set to the end, giving each outcome to `sink` as it comes instead of queueing
    /// it: the fast path of the combinators that collect everything (`gather`,
    /// `gather_settled`). When `sink` returns true the set is stopped at the end of that pass
    /// (as [`stop`](Self::stop)), and every later outcome is dropped unseen. Within one pass,
    /// outcomes come in poll order, not sorted: a sink that picks among them by input order
    /// (the first failure) compares indices itself. Unordered sets only.
    pub(crate) fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut impl FnMut(DoneOf<S>) -> bool,
    ) -> Poll<()> {
        debug_assert!(!self.ordered, "poll_drain hands outcomes out unordered");
        // Outcomes queued by an earlier `poll_next` (not mixed in practice) come first.
        while let Some(d) = self.pop_ready() {
            if !self.discarding && sink(d) {
                self.stop_for_sink();
            }
        }
        let mut polls = 0;
        loop {
            if self.drain_finished(sink) {
                self.stop_for_sink();
            }
            if self.is_terminated() {
                return Poll::Ready(());
            }
            if !self.stopping || self.draining {
                self.fill(cx);
                if !self.finished.is_empty() {
                    // Inputs that were finished already (or stopped at once) came out without
                    // taking a slot for long: there is room again, so pull more first.
                    if self.drain_finished(sink) {
                        self.stop_for_sink();
                    }
                    continue;
                }
            }
            self.table.register(cx.waker());
            self.table.collect();
            if self.table.is_idle() {
                if self.is_terminated() {
                    return Poll::Ready(());
                }
                if !self.finished.is_empty() {
                    continue;
                }
                return Poll::Pending;
            }
            let discarding = self.discarding;
            let mut stop = false;
            let (polled, exhausted) = self.run_queue(&mut |d| {
                if !discarding {
                    stop |= sink(d);
                }
            });
            if stop {
                self.stop_for_sink();
            }
            polls += polled;
            if exhausted || polls >= BUDGET {
                if self.drain_finished(sink) {
                    self.stop_for_sink();
                }
                if self.is_terminated() {
                    return Poll::Ready(());
                }
                // Out of budget, or let the runtime breathe; there is more, so come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}
