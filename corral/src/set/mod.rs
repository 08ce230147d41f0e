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
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::adaptive::{AdaptiveGate, Limit, Verdict};
use crate::awaitable::Awaitable;
use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};
use crate::rate::{RateGate, RateLimiter};
use crate::rt::{Slots, WakeTable};

mod source;
pub use source::{
    keyed, keyed_stream, stream, IntoSource, Iter, Keyed, Source, Streamed, StreamedKeyed,
};

type Out<A> = Outcome<
    <<A as Awaitable>::Output as IntoOutcome>::Ok,
    <<A as Awaitable>::Output as IntoOutcome>::Err,
>;

type SlotsOf<S> = Slots<<S as Source>::Key, <<S as Source>::Item as Awaitable>::Future>;
type DoneOf<S> = Done<<S as Source>::Key, Out<<S as Source>::Item>>;

/// One finished input: its index in input order, its key, its outcome.
pub(crate) struct Done<K, O> {
    pub(crate) index: usize,
    pub(crate) key: K,
    pub(crate) outcome: O,
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
    /// Where running inputs are pinned, one slot id each.
    slots: SlotsOf<S>,
    /// One waker per slot id, made once and reused by every input the slot holds, and the
    /// queue of slot ids to poll.
    table: WakeTable,
    limit: usize,
    /// `.rate(..)`: an input is pulled only once the gate holds a slot of the rate limiter.
    /// Boxed: a set without one pays a pointer and a branch per input pulled.
    rate: Option<Box<RateGate>>,
    /// `.limit(adaptive)`: an input is pulled only once the gate holds a permit of the
    /// adaptive limit, and gives its verdict when it ends. Boxed, as `rate`.
    adaptive: Option<Box<AdaptiveGate>>,
    running: usize,
    next_index: usize,
    ordered: bool,
    stopping: bool,
    /// Stopping, but still pulling inputs to hand them out stopped ([`Set::stop_all`]).
    draining: bool,
    /// Draining for one fill only ([`Set::stop_before_start`]).
    drain_once: bool,
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
            slots: Slots::new(),
            table: WakeTable::new(),
            limit: usize::MAX,
            rate: None,
            adaptive: None,
            running: 0,
            next_index: 0,
            ordered: false,
            stopping: false,
            draining: false,
            drain_once: false,
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

    /// A fixed limit as [`set_limit`](Self::set_limit), or an adaptive one: each input is
    /// pulled only once the limiter gives a permit (before the rate's slot), and its outcome
    /// is the permit's verdict. The limiter's `max` is then the fixed limit, which still bounds
    /// the inputs held for input order. Takes effect for inputs pulled after the call.
    pub(crate) fn set_limit_to(&mut self, limit: Limit) {
        match limit {
            Limit::Fixed(n) => {
                self.adaptive = None;
                self.set_limit(n);
            }
            Limit::Adaptive(limiter) => {
                let gate = AdaptiveGate::new(limiter);
                self.set_limit(gate.max());
                self.adaptive = Some(Box::new(gate));
            }
        }
    }

    /// Start each input only when `limiter` gives a slot (after the limit has made room), so
    /// inputs start at most at its rate. Takes effect for inputs pulled after the call.
    pub(crate) fn set_rate(&mut self, limiter: Arc<RateLimiter>) {
        self.rate = Some(Box::new(RateGate::new(limiter)));
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
        // Leaves the limiters' queues: nothing more will be started.
        self.rate = None;
        if let Some(gate) = self.adaptive.as_deref_mut() {
            gate.stop();
        }
        self.stopping = true;
        self.draining = false;
        self.drain_once = false;
        self.source = None;
        self.stop_running();
    }

    /// Like [`stop`](Self::stop), but the inputs not pulled yet are still pulled (within the
    /// limit, so memory stays bounded) and stopped at once: a plain future comes out as
    /// `Cancelled` without ever being polled, a task is asked to stop and comes out with its
    /// final outcome. Every input thus comes out exactly once.
    pub(crate) fn stop_all(&mut self) {
        // Inputs pulled from now on are stopped unstarted: they take no slot of the rate, and
        // no permit of an adaptive limit.
        self.rate = None;
        if let Some(gate) = self.adaptive.as_deref_mut() {
            gate.stop();
        }
        self.stopping = true;
        self.draining = self.source.is_some();
        self.drain_once = false;
        self.stop_running();
    }

    /// For a decision made before the first poll: stops the set as if it had been stopped
    /// right after its first pull. The inputs a first poll would start (up to the limit) are
    /// pulled and stopped at once, as by [`stop_all`](Self::stop_all): a plain future comes
    /// out as `Cancelled` without ever being polled, a task (running already) is asked to stop
    /// and comes out with its final outcome. The inputs beyond the limit are never pulled, as
    /// after [`stop`](Self::stop).
    pub(crate) fn stop_before_start(&mut self) {
        self.stop_all();
        self.drain_once = self.draining;
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
        let Some(keep) = self.slots.with_running(id, S::Item::request_stop) else {
            return;
        };
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

    /// Drops the future in slot `id` where it is pinned, frees the slot (and its permit of an
    /// adaptive limit, if no verdict took it yet), and returns the input's index and key.
    #[inline(always)]
    fn vacate(&mut self, id: usize) -> (usize, S::Key) {
        self.vacate_ended(id, None)
    }

    /// [`vacate`](Self::vacate) for an input that ended with `outcome`: its permit of an
    /// adaptive limit goes back with the outcome's verdict (one check of the gate for a set
    /// without one).
    #[inline(always)]
    fn vacate_ended(&mut self, id: usize, outcome: Option<&Out<S::Item>>) -> (usize, S::Key) {
        let done = self.slots.vacate(id);
        self.running -= 1;
        if let Some(gate) = self.adaptive.as_deref_mut() {
            gate.end(id, outcome.map_or(Verdict::None, Verdict::of));
        }
        done
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
        self.slots.grow(size);
        self.table.grow(size);
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

    /// How many more inputs may start now (see [`has_room`](Self::has_room)).
    fn room(&self) -> usize {
        if self.ordered {
            self.limit - (self.next_index - self.emitted)
        } else {
            self.limit - (self.running + self.finished.len())
        }
    }

    /// `.rate(..)`: true once the gate holds a slot for the next input. When it holds none, it
    /// takes at once the free slots for the inputs that are sure to come and have room to start
    /// (an exact iterator's), or waits in the limiter's queue for one. False: wait (the gate
    /// will wake the set), or the source is empty (then dropped: an empty source takes no
    /// slot, and iterators say exactly when they are empty).
    fn pass_rate_gate(&mut self, cx: &mut Context<'_>) -> bool {
        if self.rate.as_deref().is_some_and(RateGate::holds_slot) {
            return true;
        }
        let room = self.room();
        let (Some(gate), Some(source)) = (self.rate.as_deref_mut(), self.source.as_mut()) else {
            return true;
        };
        let (lo, hi) = source.size_hint();
        if hi == Some(0) {
            self.source = None;
            return false;
        }
        gate.poll_ready(cx, lo.min(room)).is_ready()
    }

    /// `.limit(adaptive)`: true once the gate holds a permit of the adaptive limit for the next
    /// input. False: wait (the limiter will wake the set), or the source is empty (then
    /// dropped: an empty source takes no permit).
    fn pass_adaptive_gate(&mut self, cx: &mut Context<'_>) -> bool {
        let (Some(gate), Some(source)) = (self.adaptive.as_deref_mut(), self.source.as_mut())
        else {
            return true;
        };
        if source.size_hint().1 == Some(0) {
            self.source = None;
            return false;
        }
        gate.poll_ready(cx).is_ready()
    }

    /// Pulls inputs while there is room. Returns true if any was started.
    fn fill(&mut self, cx: &mut Context<'_>) -> bool {
        let mut started = false;
        while self.has_room() {
            // An adaptive limit's permit first, then the rate's slot.
            if self.adaptive.is_some() && !self.pass_adaptive_gate(cx) {
                break;
            }
            if self.rate.is_some() && !self.pass_rate_gate(cx) {
                break;
            }
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
            if let Some(gate) = self.rate.as_deref_mut() {
                gate.consume();
            }
            let index = self.next_index;
            self.next_index += 1;
            if self.ordered {
                self.ready_ordered.push_back(None);
            }
            // A finished task's outcome is taken without polling.
            if let Some(out) = input.ready_output() {
                if let Some(gate) = self.adaptive.as_deref_mut() {
                    gate.skip();
                }
                self.finish(Done {
                    index,
                    key,
                    outcome: out.into_outcome(),
                });
                continue;
            }
            if !self.slots.has_free() {
                self.grow();
            }
            let id = self.slots.insert(index, key, input.into_awaitable());
            self.running += 1;
            started = true;
            if let Some(gate) = self.adaptive.as_deref_mut() {
                gate.start(id);
            }
            if self.draining {
                // Never polled: a plain future is dropped unstarted, a task asked to stop.
                self.stop_slot(id);
            } else {
                self.table.schedule(id);
            }
        }
        if std::mem::take(&mut self.drain_once) {
            // The first pull is done: nothing more is pulled, as after `stop`.
            self.draining = false;
            self.source = None;
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
        // `None`: woken after it finished.
        let polled = self.slots.with_running(id, |fut| {
            catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx)))
        })?;
        let outcome = match polled {
            Ok(Poll::Pending) => return None,
            Ok(Poll::Ready(out)) => out.into_outcome(),
            Err(payload) => Outcome::Panicked(Panic::from_payload(&*payload)),
        };
        let (index, key) = self.vacate_ended(id, Some(&outcome));
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
