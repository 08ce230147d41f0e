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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};
use crate::task::Awaitable;

/// Where a set's inputs come from: `(key, awaitable)` pairs, pulled only when there is room.
pub(crate) trait Source {
    type Key;
    type Item: Awaitable;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Self::Key, Self::Item)>>;
    fn size_hint(&self) -> (usize, Option<usize>);
}

/// Inputs from an iterator, keyed by `()` (the input index is the key).
pub(crate) struct Iter<I>(pub(crate) I);

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
pub(crate) struct Keyed<I>(pub(crate) I);

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
pub(crate) struct Streamed<S>(pub(crate) Pin<Box<S>>);

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

type Out<A> = Outcome<
    <<A as Awaitable>::Output as IntoOutcome>::Ok,
    <<A as Awaitable>::Output as IntoOutcome>::Err,
>;

/// One finished input: its index in input order, its key, its outcome.
pub(crate) struct Done<K, O> {
    pub(crate) index: usize,
    pub(crate) key: K,
    pub(crate) outcome: O,
}

enum Slot<K, F> {
    Empty,
    Running { index: usize, key: K, fut: F },
}

/// Wake-up queue shared by the per-slot wakers and the set.
struct Shared {
    inner: Mutex<Queue>,
}

struct Queue {
    woken: Vec<usize>,
    parent: Option<Waker>,
}

struct SlotWaker {
    slot: usize,
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let parent = {
            let mut q = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
            q.woken.push(self.slot);
            q.parent.take()
        };
        if let Some(w) = parent {
            w.wake();
        }
    }
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
    segments: Vec<Box<[Slot<S::Key, <S::Item as Awaitable>::Future>]>>,
    starts: Vec<usize>,
    /// One waker per slot, made once and reused by every input the slot holds.
    wakers: Vec<(Arc<SlotWaker>, Waker)>,
    free: Vec<usize>,
    shared: Arc<Shared>,
    limit: usize,
    running: usize,
    next_index: usize,
    ordered: bool,
    stopping: bool,
    /// Finished, not yet handed out. Unordered: in hand-out order. Ordered: position `i` holds
    /// input `emitted + i`.
    ready: VecDeque<Option<Done<S::Key, Out<S::Item>>>>,
    ready_count: usize,
    emitted: usize,
    batch: Vec<usize>,
    finished: Vec<Done<S::Key, Out<S::Item>>>,
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
        self.source = None;
        let mut stopped = Vec::new();
        for id in 0..self.capacity() {
            // SAFETY: slots live in segments that are never moved or freed while the set lives;
            // a future is only ever dropped in place.
            let slot = unsafe { self.slot_mut(id).get_unchecked_mut() };
            let keep = match slot {
                Slot::Empty => continue,
                // SAFETY: as above, the future is pinned in its slot.
                Slot::Running { fut, .. } => {
                    S::Item::request_stop(unsafe { Pin::new_unchecked(fut) })
                }
            };
            if !keep {
                if let Slot::Running { index, key, .. } = std::mem::replace(slot, Slot::Empty) {
                    stopped.push(Done {
                        index,
                        key,
                        outcome: Outcome::Cancelled(Cancelled::new()),
                    });
                }
                self.running -= 1;
                self.free.push(id);
            } else {
                // Make sure the stopping task is polled again.
                self.batch.push(id);
            }
        }
        stopped.sort_by_key(|d| d.index);
        for d in stopped {
            self.push_ready(d);
        }
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

    fn slot_mut(&mut self, id: usize) -> Pin<&mut Slot<S::Key, <S::Item as Awaitable>::Future>> {
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
        self.wakers.extend((cap..cap + size).map(|slot| {
            let w = Arc::new(SlotWaker {
                slot,
                queued: AtomicBool::new(false),
                shared: self.shared.clone(),
            });
            (w.clone(), Waker::from(w))
        }));
    }

    fn has_room(&self) -> bool {
        if self.ordered {
            // Running plus finished-but-held inputs stay within the limit.
            self.next_index - self.emitted < self.limit
        } else {
            self.running < self.limit
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
                *self.slot_mut(id).get_unchecked_mut() = Slot::Running { index, key, fut };
            }
            self.running += 1;
            self.batch.push(id);
            started = true;
        }
        started
    }

    fn push_ready(&mut self, d: Done<S::Key, Out<S::Item>>) {
        self.ready_count += 1;
        if self.ordered {
            let pos = d.index - self.emitted;
            self.ready[pos] = Some(d);
        } else {
            self.ready.push_back(Some(d));
        }
    }

    fn finish(&mut self, d: Done<S::Key, Out<S::Item>>) {
        self.finished.push(d);
    }

    fn flush_finished(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        let mut finished = std::mem::take(&mut self.finished);
        if !self.ordered && finished.len() > 1 {
            finished.sort_by_key(|d| d.index);
        }
        for d in finished.drain(..) {
            self.push_ready(d);
        }
        self.finished = finished;
    }

    fn pop_ready(&mut self) -> Option<Done<S::Key, Out<S::Item>>> {
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
        let (flag, waker) = &self.wakers[id];
        flag.queued.store(false, Ordering::Release);
        let waker: *const Waker = waker;
        // SAFETY: `wakers` is only grown by `fill`, never while a slot is being polled, so the
        // waker outlives this call; borrowing it avoids a reference-count round trip per poll.
        let mut cx = Context::from_waker(unsafe { &*waker });
        let mut slot = self.slot_mut(id);
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
        // Drop the future in place, then hand its slot back.
        let done = match std::mem::replace(unsafe { slot.get_unchecked_mut() }, Slot::Empty) {
            Slot::Running { index, key, .. } => Done {
                index,
                key,
                outcome,
            },
            Slot::Empty => unreachable!("checked above"),
        };
        self.running -= 1;
        self.free.push(id);
        self.finish(done);
    }

    /// The next finished input, `None` once everything is handed out.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Done<S::Key, Out<S::Item>>>> {
        let mut polls = 0;
        loop {
            if let Some(d) = self.pop_ready() {
                return Poll::Ready(Some(d));
            }
            if self.is_terminated() {
                return Poll::Ready(None);
            }
            if !self.stopping {
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
