//! A child's task allocation: the node the group and its tree keep of the child, the tail
//! where its outcome waits, its waker, and its future inside the task. The code that reaches
//! into the allocation through raw pointers is here.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::adaptive::{AdaptiveLimiter, Verdict};
use crate::limit::{AcquireOwned, Limiter};
use crate::outcome::{Cancelled, Failure, IntoOutcome, Outcome};
use crate::rt::{with_frame, Body, KeptHandle, Payload, Scope, TaskCell};
use crate::task::{TaskRef, TaskState};

use super::child::{ChildInfo, Slot};
use super::tree::HostFrame;

pub(super) const WAITING: u8 = 0;
pub(super) const RUNNING: u8 = 1;
/// Set by a group that is dropped while its limiter lives on (an adaptive limit, shared): it
/// gave back the permit of a `RUNNING` child; a child still `WAITING` that gets its permit
/// after that gives it back itself.
pub(super) const RELEASED: u8 = 2;

/// What the group and its tree know about one child, and (its tail, `slot`) where the child's
/// outcome waits for its [`Child`] handle and the child's `JoinHandle`. It lives in the child's
/// task allocation (the `ext` of its [`TaskCell`]), so a child costs that
/// allocation and tokio's task cell, and a slot and a waker in the group's engine (see
/// `running::Children`).
///
/// [`Child`]: super::child::Child
pub(super) struct ChildMeta<S: ?Sized = dyn Erased> {
    /// `WAITING`, then `RUNNING`. In a group with a limit, a `RUNNING` child holds a permit,
    /// taken out of the limiter without a guard
    /// ([`OwnedPermit::forget`](crate::OwnedPermit::forget)), so the node needs no slot for
    /// it: the group gives it back ([`Limiter::release`]) when it collects the
    /// child, after reacting to its outcome (a failure cancels the waiting children before the
    /// permit could start one of them). A group that is dropped keeps its children's permits:
    /// its limiter goes with it, and nothing can be spawned in it any more.
    ///
    /// [`Limiter::release`]: crate::limit::Limiter::release
    pub(super) state: AtomicU8,
    pub(super) slot: S,
}

impl<T> ChildMeta<ChildTail<T>> {
    /// A child's node before it starts: waiting, no outcome, no handle kept yet.
    pub(super) fn new() -> Self {
        ChildMeta {
            state: AtomicU8::new(WAITING),
            slot: ChildTail {
                slot: Slot::new(),
                handle: KeptHandle::default(),
            },
        }
    }
}

/// A child's allocation as the tree sees it (its body and types erased): its node.
pub(super) trait NodeCell: Payload {
    fn node(&self) -> &ChildMeta;
}

/// A child's allocation as its [`Child`] handle sees it: the slot its outcome waits in.
///
/// [`Child`]: super::child::Child
pub(super) trait SlotCell<T>: NodeCell {
    fn slot(&self) -> &Slot<T>;
}

/// A child's allocation as the group holds it, with its output type erased.
pub(super) trait HeldCell<E>: NodeCell {
    /// Polls for the end; when it comes, fills the handle's slot and returns the failure, if
    /// the child failed. `me` must be the allocation `self` is the payload of.
    fn poll_end(&self, me: &Scope, cx: &mut Context<'_>) -> Poll<Option<Failure<E>>>;
    /// Lets go of the child: aborts it if it is still running and, if it had not ended, tells
    /// its handle it was cancelled.
    fn release(&self);
}

impl<F, T, E> NodeCell for TaskCell<Enrolled<F>, T, E, ChildMeta<ChildTail<T>>>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    fn node(&self) -> &ChildMeta {
        &self.ext
    }
}

impl<F, T, E> SlotCell<T> for TaskCell<Enrolled<F>, T, E, ChildMeta<ChildTail<T>>>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    fn slot(&self) -> &Slot<T> {
        &self.ext.slot.slot
    }
}

impl<F, T, E> HeldCell<E> for TaskCell<Enrolled<F>, T, E, ChildMeta<ChildTail<T>>>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    fn poll_end(&self, me: &Scope, cx: &mut Context<'_>) -> Poll<Option<Failure<E>>> {
        let tail = &self.ext.slot;
        // Outside tokio's cooperative budget: once the budget is spent, a finished child's
        // `JoinHandle` reports `Pending` and wakes itself, so a pass over many finished
        // children would re-queue all but the first ~128 of them, pass after pass (quadratic).
        let outcome = match self.poll_kept(&tail.handle, me, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(o) => o,
        };
        Poll::Ready(match outcome {
            Outcome::Ok(v) => {
                tail.slot.fill(Outcome::Ok(v));
                None
            }
            Outcome::Err(e) => {
                tail.slot.fill(Outcome::Err(()));
                Some(Failure::Error(e))
            }
            Outcome::Panicked(p) => {
                tail.slot.fill(Outcome::Panicked(p.clone()));
                Some(Failure::Panicked(p))
            }
            Outcome::Cancelled(c) => {
                tail.slot.fill(Outcome::Cancelled(c));
                None
            }
        })
    }

    fn release(&self) {
        let tail = &self.ext.slot;
        // Still running: the group's future was dropped.
        tail.handle.release();
        if tail.slot.is_settled() {
            return;
        }
        tail.slot.fill(Outcome::Cancelled(Cancelled::with_message(
            "task group was dropped",
        )));
    }
}

/// What [`Spawner::children`] and the tree show of a child.
///
/// [`Spawner::children`]: super::spawner::Spawner::children
pub(super) fn info(cell: &Arc<Scope<dyn NodeCell>>) -> ChildInfo {
    let task = TaskRef::from_scope(cell.clone());
    let state = live_state(cell);
    ChildInfo {
        id: task.id(),
        name: task.name(),
        age: task.age(),
        state,
    }
}

/// The state of a child that has not been collected: cancelling once asked, running once it
/// holds its permit and has been polled, waiting before that.
pub(super) fn live_state(cell: &Scope<dyn NodeCell>) -> TaskState {
    let scope: &Scope = cell;
    if scope.is_requested() {
        TaskState::Cancelling
    } else if cell.payload.node().state.load(Ordering::Relaxed) == RUNNING {
        TaskState::Running
    } else {
        TaskState::Waiting
    }
}

pin_project_lite::pin_project! {
    /// How a child of a group with a limit gets its permit: it waits for it inside its own
    /// task (so `spawn` stays synchronous), then forgets it; the group gives it back when it
    /// collects the child (see [`ChildMeta::state`]). Under an adaptive limit the gate stays
    /// for the child's whole run: the child gives the limit its verdict from its outcome as
    /// it ends, with the latency from its permit, as the fan-out combinators do.
    pub(super) struct GateState {
        #[pin]
        pub(super) acquire: AcquireOwned,
        pub(super) limiter: Arc<Limiter>,
        pub(super) adaptive: Option<AdaptiveLimiter>,
        // When the permit came: `Some` once the child holds it.
        pub(super) started: Option<Instant>,
    }
}

/// One pointer in every child's body; `None` in a group without a limit, and once a child of
/// a fixed limit holds its permit.
pub(super) type Gate = Pin<Box<GateState>>;

pin_project_lite::pin_project! {
    /// A child's future inside its task: waits for a permit of the group's limit, then runs
    /// the user's future, telling nested groups which group and member they run in.
    pub(super) struct Enrolled<F> {
        #[pin]
        pub(super) fut: F,
        // The group, and the child's own allocation, which holds this future (weak, or it
        // would never be freed).
        pub(super) frame: HostFrame,
        pub(super) gate: Option<Gate>,
    }
}

/// A panic of a child under an adaptive limit is an overload, as its `Panicked` outcome is for
/// the combinators: given while the poll unwinds.
struct OverloadOnUnwind<'a>(Option<(&'a AdaptiveLimiter, Instant)>);

impl Drop for OverloadOnUnwind<'_> {
    fn drop(&mut self) {
        if let Some((limiter, started)) = self.0 {
            if std::thread::panicking() && !crate::cancel::is_cancel_requested() {
                limiter.verdict(started, Verdict::Overload);
            }
        }
    }
}

/// The root of the child's task polls it with the child's node, which lives in the same
/// allocation.
impl<F, T, E> Body<ChildMeta<ChildTail<T>>> for Enrolled<F>
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome<Ok = T, Err = E>,
    T: Send + 'static,
{
    type Output = Outcome<T, E>;

    fn poll_body(
        self: Pin<&mut Self>,
        node: &ChildMeta<ChildTail<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<Outcome<T, E>> {
        let this = self.project();
        match this.gate {
            None => node.state.store(RUNNING, Ordering::Relaxed),
            Some(gate) if gate.started.is_none() => {
                let g = gate.as_mut().project();
                match g.acquire.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(permit) => {
                        // Held until the group collects the child (see `ChildMeta::state`).
                        permit.forget();
                        let taken = node.state.compare_exchange(
                            WAITING,
                            RUNNING,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        );
                        if taken.is_err() {
                            // The group was dropped (`RELEASED`) before this child took its
                            // permit: nobody else will give it back. The child is being
                            // aborted; it does not start.
                            let _ = g.limiter.release();
                            return Poll::Pending;
                        }
                        if g.adaptive.is_some() {
                            *g.started = Some(Instant::now());
                        } else {
                            *this.gate = None;
                        }
                    }
                }
            }
            Some(_) => {}
        }
        let turn = this
            .gate
            .as_deref()
            .and_then(|g| Some((g.adaptive.as_ref()?, g.started?)));
        let unwind = OverloadOnUnwind(turn);
        let fut = this.fut;
        let polled = with_frame(&*this.frame, || fut.poll(cx));
        std::mem::forget(unwind);
        let Poll::Ready(out) = polled else {
            return Poll::Pending;
        };
        let out = out.into_outcome();
        // A child stopped by a cancel request (its own, or the group's as it shuts down)
        // says nothing about the limit's capacity: no verdict, as in the combinators.
        if let Some((limiter, started)) = turn {
            if !crate::cancel::is_cancel_requested() {
                limiter.verdict(started, Verdict::of(&out));
            }
        }
        Poll::Ready(out)
    }
}

/// Any tail of a [`ChildMeta`], for the type-erased `Arc<ChildMeta>` the tree keeps.
pub(super) trait Erased: Send + Sync {}

impl<T: ?Sized + Send + Sync> Erased for T {}

/// The tail of a child's [`ChildMeta`]: the slot its outcome waits in for the [`Child`]
/// handle, and the child task's `JoinHandle` (its [`Task`](crate::Task) would only add a pointer back to
/// this same allocation), which only the group touches. `None` once it has seen the end.
///
/// [`Child`]: super::child::Child
pub(super) struct ChildTail<T> {
    pub(super) slot: Slot<T>,
    pub(super) handle: KeptHandle,
}

/// A child in the group's `children`: its allocation (whose node holds its task; its waker is
/// made from it when needed). Dropping it releases the child (see [`HeldCell::release`]).
pub(super) struct Held<E> {
    pub(super) node: Arc<Scope<dyn HeldCell<E>>>,
}

impl<E> Held<E> {
    /// Polls the child for its end, with the waker of its slot in the group.
    pub(super) fn poll_end(&self, cx: &mut Context<'_>) -> Poll<Option<Failure<E>>> {
        self.node.payload.poll_end(&*self.node, cx)
    }

    pub(super) fn cell(&self) -> Arc<Scope<dyn NodeCell>> {
        self.node.clone()
    }

    pub(super) fn task(&self) -> TaskRef {
        TaskRef::from_scope(self.node.clone())
    }
}

impl<E> Drop for Held<E> {
    fn drop(&mut self) {
        self.node.payload.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// The one allocation of a child besides tokio's task cell: its task's root scope, whose
    /// payload holds the body, the outcome and (as `ext`) the child's [`ChildMeta`].
    type ChildCell<F, T, E> = Scope<TaskCell<Enrolled<F>, T, E, ChildMeta<ChildTail<T>>>>;

    /// What a child costs besides tokio's task cell is this allocation (plus its `Arc`
    /// counts, 16 B): the scope (40 B), the task's identity (24 B), the body (the user's
    /// future, the host frame 32 B and the limiter's wait 8 B) and the node (72 B: the
    /// outcome's slot, the kept `JoinHandle` and the state). BENCHMARKS.md's
    /// TaskGroup bytes rest on these figures; this keeps them from creeping up unseen.
    #[test]
    fn a_childs_allocation_costs_at_most_184_bytes_beside_its_future() {
        fn overhead<F: Future<Output = Result<usize, Infallible>> + Send + 'static>(
            _: &F,
        ) -> usize {
            // The body's size, rounded up to the alignment of what follows it.
            std::mem::size_of::<ChildCell<F, usize, Infallible>>()
                - std::mem::size_of::<F>().next_multiple_of(8)
        }
        let small = async { Ok::<usize, Infallible>(1) };
        let yielding = async {
            tokio::task::yield_now().await;
            Ok::<usize, Infallible>(2)
        };
        assert!(overhead(&small) <= 184, "{} B", overhead(&small));
        assert!(overhead(&yielding) <= 184, "{} B", overhead(&yielding));
    }
}
