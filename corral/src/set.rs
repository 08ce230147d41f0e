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
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use futures_core::Stream;

use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};
use crate::task::Awaitable;

/// Where a set's inputs come from: `(key, awaitable)` pairs, pulled only when there is room.
///
/// `pub` only so that public combinator types can be generic over it; the module is private,
/// so users can neither name nor implement it (a sealed trait).
pub trait Source {
    type Key;
    type Item: Awaitable;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Self::Key, Self::Item)>>;
    fn size_hint(&self) -> (usize, Option<usize>);
}

/// Inputs from an iterator, keyed by `()` (the input index is the key).
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

/// Inputs from an iterator of `(key, awaitable)` pairs.
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

/// Inputs from a stream, keyed by `()`.
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

/// Inputs from a stream of `(key, awaitable)` pairs.
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

enum Slot<K, F> {
    Empty,
    /// `key` is an `Option` only so that it can be taken out before the future is dropped in
    /// place: a pinned future must never be moved, not even to be dropped (a registered timer
    /// or waiter list node inside it would be left dangling).
    Running {
        index: usize,
        key: Option<K>,
        fut: F,
    },
}

/// Wake-up queue shared by the per-slot wakers and the set.
struct Shared {
    inner: Mutex<Queue>,
}

struct Queue {
    woken: Vec<usize>,
    parent: Option<Waker>,
}

/// The wakers of one segment of slots, in one allocation. A slot's waker is a pointer to its
/// entry; cloning or dropping it counts a reference on the whole segment. One allocation per
/// segment instead of one `Arc` per slot: at 100,000 inputs that is most of the set-up cost.
struct WakerSegment {
    shared: Arc<Shared>,
    entries: Box<[WakerEntry]>,
}

struct WakerEntry {
    slot: usize,
    queued: AtomicBool,
    /// The segment holding this entry, whose `Arc` reference count the wakers share.
    segment: *const WakerSegment,
}

// SAFETY: `segment` only ever points at the `WakerSegment` that holds the entry (whose fields
// are `Send + Sync`), and is used to count references on its `Arc` and to reach `shared`.
unsafe impl Send for WakerEntry {}
// SAFETY: as above.
unsafe impl Sync for WakerEntry {}

impl WakerSegment {
    fn new(shared: Arc<Shared>, start: usize, size: usize) -> Arc<Self> {
        let entries = (start..start + size)
            .map(|slot| WakerEntry {
                slot,
                queued: AtomicBool::new(false),
                segment: std::ptr::null(),
            })
            .collect();
        let mut seg = Arc::new(WakerSegment { shared, entries });
        let me = Arc::as_ptr(&seg);
        let unique = Arc::get_mut(&mut seg).expect("just made");
        for e in unique.entries.iter_mut() {
            e.segment = me;
        }
        seg
    }
}

impl WakerEntry {
    fn wake(&self) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: whoever wakes holds a waker for this entry, which keeps the segment alive.
        let shared = unsafe { &(*self.segment).shared };
        let parent = {
            let mut q = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
            q.woken.push(self.slot);
            q.parent.take()
        };
        if let Some(w) = parent {
            w.wake();
        }
    }
}

static SLOT_WAKER: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

// SAFETY (all four): `p` points at a `WakerEntry` whose segment is kept alive by the waker
// being used (a counted reference, or the set itself for the borrowed waker of a poll).
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

/// How many futures one call polls before yielding to the runtime.
const BUDGET: usize = 1024;

/// The set. `S` is its source.
pub(crate) struct Set<S: Source>
where
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    source: Option<S>,
    /// Slot storage in segments that never move once allocated (the futures are pinned there).
    segments: Vec<Box<[SlotOf<S>]>>,
    starts: Vec<usize>,
    /// One waker per slot, made once and reused by every input the slot holds; in segments
    /// parallel to `segments`.
    wakers: Vec<Arc<WakerSegment>>,
    free: Vec<usize>,
    shared: Arc<Shared>,
    limit: usize,
    running: usize,
    next_index: usize,
    ordered: bool,
    stopping: bool,
    /// Stopping, but still pulling inputs to hand them out stopped ([`Set::stop_all`]).
    draining: bool,
    /// Finished, not yet handed out. Unordered: in hand-out order. Ordered: position `i` holds
    /// input `emitted + i`.
    ready: VecDeque<Option<DoneOf<S>>>,
    ready_count: usize,
    emitted: usize,
    batch: Vec<usize>,
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
            starts: Vec::new(),
            wakers: Vec::new(),
            free: Vec::new(),
            shared: Arc::new(Shared {
                inner: Mutex::new(Queue {
                    woken: Vec::new(),
                    parent: None,
                }),
            }),
            limit: usize::MAX,
            running: 0,
            next_index: 0,
            ordered: false,
            stopping: false,
            draining: false,
            ready: VecDeque::new(),
            ready_count: 0,
            emitted: 0,
            batch: Vec::new(),
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
        for id in 0..self.capacity() {
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
        let keep = match slot {
            Slot::Empty => return,
            // SAFETY: as above, the future is pinned in its slot.
            Slot::Running { fut, .. } => S::Item::request_stop(unsafe { Pin::new_unchecked(fut) }),
        };
        if keep {
            // Make sure the stopping task is polled again.
            self.batch.push(id);
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
        // SAFETY: we never move the future: it is dropped in place by the assignment below,
        // which is what `Pin::set` does.
        let slot = unsafe { self.slot_mut(id).get_unchecked_mut() };
        let (index, key) = match slot {
            Slot::Running { index, key, .. } => {
                (*index, key.take().expect("a running slot has its key"))
            }
            Slot::Empty => unreachable!("vacate is only called on a running slot"),
        };
        *slot = Slot::Empty;
        self.running -= 1;
        self.free.push(id);
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

    fn capacity(&self) -> usize {
        self.starts
            .last()
            .map_or(0, |s| s + self.segments.last().map_or(0, |seg| seg.len()))
    }

    fn locate(&self, id: usize) -> (usize, usize) {
        // Almost every slot is in the first segment, which is sized from the source's hint.
        let mut seg = self.starts.len() - 1;
        while self.starts[seg] > id {
            seg -= 1;
        }
        (seg, id - self.starts[seg])
    }

    fn slot_mut(&mut self, id: usize) -> Pin<&mut SlotOf<S>> {
        let (seg, off) = self.locate(id);
        // SAFETY: segments are boxed slices that are never reallocated or moved while the set
        // lives, so a slot's address is stable and pinning it is sound.
        unsafe { Pin::new_unchecked(&mut self.segments[seg][off]) }
    }

    fn grow(&mut self) {
        let cap = self.capacity();
        let hint = self.source.as_ref().map_or(0, |s| s.size_hint().0);
        let room = self.limit.saturating_sub(cap);
        let size = if cap == 0 {
            hint.clamp(16, 1 << 20)
        } else {
            cap.max(16)
        }
        .min(room.max(1));
        let seg: Box<[_]> = (0..size).map(|_| Slot::Empty).collect();
        self.starts.push(cap);
        self.segments.push(seg);
        for id in (cap..cap + size).rev() {
            self.free.push(id);
        }
        self.wakers
            .push(WakerSegment::new(self.shared.clone(), cap, size));
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
                self.ready.push_back(None);
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
            if self.free.is_empty() {
                self.grow();
            }
            let id = self.free.pop().expect("grow adds free slots");
            let fut = input.into_awaitable();
            // Overwriting an empty slot in place is fine for a pinned location.
            unsafe {
                *self.slot_mut(id).get_unchecked_mut() = Slot::Running {
                    index,
                    key: Some(key),
                    fut,
                };
            }
            self.running += 1;
            started = true;
            if self.draining {
                // Never polled: a plain future is dropped unstarted, a task asked to stop.
                self.stop_slot(id);
            } else {
                self.batch.push(id);
            }
        }
        started
    }

    fn push_ready(&mut self, d: DoneOf<S>) {
        self.ready_count += 1;
        if self.ordered {
            let pos = d.index - self.emitted;
            self.ready[pos] = Some(d);
        } else {
            self.ready.push_back(Some(d));
        }
    }

    fn finish(&mut self, d: DoneOf<S>) {
        self.finished.push(d);
    }

    fn flush_finished(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        let mut finished = std::mem::take(&mut self.finished);
        if self.ordered {
            for d in finished.drain(..) {
                self.push_ready(d);
            }
        } else {
            // Ties within one pass come out in input order. Inputs usually finish in slot
            // order, which is input order, so check before sorting.
            if !finished.is_sorted_by_key(|d| d.index) {
                finished.sort_by_key(|d| d.index);
            }
            self.ready_count += finished.len();
            self.ready.extend(finished.drain(..).map(Some));
        }
        self.finished = finished;
    }

    fn pop_ready(&mut self) -> Option<DoneOf<S>> {
        match self.ready.front() {
            Some(Some(_)) => {
                let d = self.ready.pop_front().flatten();
                self.ready_count -= 1;
                self.emitted += 1;
                d
            }
            _ => None,
        }
    }

    fn poll_slot(&mut self, id: usize) {
        let (seg, off) = self.locate(id);
        let entry = &self.wakers[seg].entries[off];
        entry.queued.store(false, Ordering::Release);
        let raw = RawWaker::new(entry as *const WakerEntry as *const (), &SLOT_WAKER);
        // SAFETY: a borrowed waker: never dropped (ManuallyDrop), so it takes no reference;
        // the set keeps the segment alive for the whole poll. Clones count their own.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: segments are boxed slices that are never reallocated or moved while the set
        // lives, so a slot's address is stable and pinning it is sound.
        let mut slot = unsafe { Pin::new_unchecked(&mut self.segments[seg][off]) };
        // SAFETY: the slot is pinned; we project to the future without moving it.
        let polled = match unsafe { slot.as_mut().get_unchecked_mut() } {
            Slot::Empty => return,
            Slot::Running { fut, .. } => {
                let fut = unsafe { Pin::new_unchecked(fut) };
                catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx)))
            }
        };
        let outcome = match polled {
            Ok(Poll::Pending) => return,
            Ok(Poll::Ready(out)) => out.into_outcome(),
            Err(payload) => Outcome::Panicked(Panic::from_payload(&*payload)),
        };
        let (index, key) = self.vacate(id);
        let done = Done {
            index,
            key,
            outcome,
        };
        self.finish(done);
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
            {
                let mut q = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
                match &q.parent {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => q.parent = Some(cx.waker().clone()),
                }
                self.batch.append(&mut q.woken);
            }
            if self.batch.is_empty() {
                if self.ready.front().is_some_and(|d| d.is_some()) || self.is_terminated() {
                    continue;
                }
                return Poll::Pending;
            }
            let mut batch = std::mem::take(&mut self.batch);
            let mut polled = 0;
            // Stop when tokio's cooperative budget runs out: past it, every task handle would
            // report Pending and re-queue itself, and a pass over the whole queue per budget
            // makes the set quadratic. The rest stays queued for the next call.
            while polled < batch.len() && tokio::task::coop::has_budget_remaining() {
                self.poll_slot(batch[polled]);
                polled += 1;
            }
            polls += polled;
            let exhausted = polled < batch.len();
            batch.drain(..polled);
            batch.append(&mut self.batch);
            self.batch = batch;
            self.flush_finished();
            if exhausted {
                cx.waker().wake_by_ref();
                return match self.pop_ready() {
                    Some(d) => Poll::Ready(Some(d)),
                    None => Poll::Pending,
                };
            }
            if polls >= BUDGET && !self.ready.front().is_some_and(|d| d.is_some()) {
                // Let the runtime breathe; we were woken for more, so come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}
