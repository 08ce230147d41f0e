//! A running group: the state its future, its [`Spawner`]s and its children share, the queue
//! of children that woke it, and the state machine that polls the body and collects the
//! children.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::adaptive::{AdaptiveLimiter, Limit};
use crate::cancel::{self, CancelListener};
use crate::limit::Limiter;
use crate::outcome::{Cancelled, Failure, IntoOutcome, Outcome, Panic};
use crate::rt::{current, with_frame, GraceTimer, Scope, Slots, Verdict, WakeTable};
use crate::task::TaskRef;

use super::cell::{Gate, GateState, Held, RELEASED, RUNNING};
use super::error::{member_of, GroupError, GroupFailure, Member};
use super::spawner::Spawner;
use super::task_group::TaskGroup;
use super::tree::{current_host, roots, GroupNode, Host, HostFrame};

/// The message of the cancel request a failing group sends to its members.
const FAILING: &str = "task group is shutting down";

// ---------------------------------------------------------------------------------------------
// The children, in the core's engine

/// The children a group holds, in the same engine the combinators run their inputs in: each
/// child's [`Held`] sits in a slot of the core's [`Slots`] (the slot id is the child's key),
/// and the [`WakeTable`] gives every slot a waker of its own, which queues the key when the
/// child's `JoinHandle` reports the end. Spawning and collecting a child is an index, with no
/// hashing, no rehashing and no copying as the group grows (slots come in segments that never
/// move), and a wake-up allocates nothing and takes no lock. A key is reused once its child
/// has been collected; a wake-up still queued for the old child then polls the new one, which
/// costs one poll that finds it unfinished.
pub(super) struct Children<E> {
    slots: Slots<(), Held<E>>,
    wake: WakeTable,
    len: usize,
}

impl<E> Default for Children<E> {
    fn default() -> Self {
        Children {
            slots: Slots::new(),
            wake: WakeTable::new(),
            len: 0,
        }
    }
}

impl<E> Children<E> {
    /// Holds `held`, and returns its key.
    pub(super) fn insert(&mut self, held: Held<E>) -> usize {
        if !self.slots.has_free() {
            // Segments double the capacity, as a `Vec` would, without moving what is there.
            let size = self.wake.capacity().max(16);
            self.slots.grow(size);
            self.wake.grow(size);
        }
        self.len += 1;
        self.slots.insert(0, (), held)
    }

    /// Runs `f` with the waker of the child under `key` (see [`WakeTable::with_waker`]).
    pub(super) fn with_waker<R>(&self, key: usize, f: impl FnOnce(&Waker) -> R) -> R {
        self.wake.with_waker(key, f)
    }

    /// Records the group's waker, for the next batch of wake-ups, and takes the keys queued
    /// so far: only those are polled by [`next_ended`](Children::next_ended) until the next
    /// call.
    fn collect(&mut self, waker: &Waker) {
        self.wake.register(waker);
        self.wake.collect();
    }

    /// Polls the next queued child for its end (outside tokio's cooperative budget, see
    /// `HeldCell::poll_end`). `None` once the queue taken by [`collect`](Children::collect)
    /// is empty; `Some(None)` for a child that has not ended (or a stale key); otherwise the
    /// child, taken out, and its failure if it failed.
    #[allow(clippy::type_complexity)]
    fn next_ended(&mut self) -> Option<Option<(Held<E>, Option<Failure<E>>)>> {
        let (key, waker) = self.wake.pop()?;
        let mut cx = Context::from_waker(&waker);
        let Some(Poll::Ready(failure)) = self.slots.with_running(key, |h| h.poll_end(&mut cx))
        else {
            return Some(None);
        };
        let (_, (), held) = self.slots.remove(key);
        self.len -= 1;
        Some(Some((held, failure)))
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Held<E>> {
        self.slots.running()
    }
}

// ---------------------------------------------------------------------------------------------
// The group's shared state

/// A group's limit: the limiter its children take their permits from (the group's own for a
/// fixed limit; the adaptive limiter's, shared, for an adaptive one).
pub(super) struct GroupLimit {
    pub(super) limiter: Arc<Limiter>,
    pub(super) adaptive: Option<AdaptiveLimiter>,
    fixed: usize,
}

impl GroupLimit {
    fn new(limit: Limit) -> GroupLimit {
        match limit {
            Limit::Fixed(n) => GroupLimit {
                limiter: Arc::new(Limiter::new(n)),
                adaptive: None,
                fixed: n,
            },
            Limit::Adaptive(a) => GroupLimit {
                limiter: a.permits().clone(),
                fixed: a.max(),
                adaptive: Some(a),
            },
        }
    }

    /// The gate a new child waits for its permit at.
    pub(super) fn gate(&self) -> Gate {
        Box::pin(GateState {
            acquire: self.limiter.clone().acquire_owned(),
            limiter: self.limiter.clone(),
            adaptive: self.adaptive.clone(),
            started: None,
        })
    }

    /// How the tree shows it: `limit 8`, or `limit 5 (adaptive)`.
    pub(super) fn describe(&self) -> String {
        match &self.adaptive {
            None => format!("limit {}", self.fixed),
            Some(a) => format!("limit {} (adaptive)", a.limit()),
        }
    }
}

pub(super) struct Shared<E> {
    id: u64,
    pub(super) name: Option<Arc<str>>,
    pub(super) created: Instant,
    pub(super) supervisor: bool,
    pub(super) limit: Option<GroupLimit>,
    grace: Duration,
    /// The body's scope: a boundary, so the group relays enclosing requests itself.
    pub(super) scope: Arc<Scope>,
    state: Mutex<State<E>>,
    /// Groups running inside this one's body or children, for the tree.
    pub(super) subgroups: Mutex<Vec<(Host, Weak<dyn GroupNode>)>>,
}

pub(super) struct State<E> {
    pub(super) finished: bool,
    pub(super) body_running: bool,
    /// Set once the group started cancelling its members (a failure, an own cancel, or an
    /// enclosing cancel); spawning is refused from then on.
    pub(super) cancelling: Option<Cancelled>,
    /// Set when the cancellation came from [`Spawner::cancel`].
    own_cancel: Option<Cancelled>,
    /// A member has failed (in supervisor mode: the body).
    failed: bool,
    pub(super) children: Children<E>,
    failures: Vec<GroupFailure<E>>,
}

impl<E> Shared<E> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<E>> {
        // Every update keeps the state consistent before any user code can run.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts cancelling every member. Returns false if the group was already cancelling.
    pub(super) fn begin_cancel(&self, why: Cancelled, own: bool) -> bool {
        let children: Vec<TaskRef> = {
            let mut st = self.lock();
            if st.cancelling.is_some() || st.finished {
                return false;
            }
            st.cancelling = Some(why.clone());
            if own {
                st.own_cancel = Some(why.clone());
            }
            st.children.values().map(|c| c.task()).collect()
        };
        for child in children {
            match why.message() {
                Some(m) => child.cancel_with(m),
                None => child.cancel(),
            };
        }
        self.scope.request(why);
        true
    }

    pub(super) fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("group \"{n}\" #{}", self.id),
            None => format!("group #{}", self.id),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The state machine of a running group

pub(super) struct Running<E, V, Fut> {
    shared: Arc<Shared<E>>,
    /// This group, as the tree sees it, and its body as the member polled.
    frame: HostFrame,
    /// The group this one is nested in, if any (else it is one of the roots).
    parent: Option<Weak<dyn GroupNode>>,
    body: Option<Pin<Box<Fut>>>,
    value: Option<V>,
    grace_timer: GraceTimer,
    /// Keeps the enclosing scope from dropping the group at once when it is cancelled, so that
    /// the group can cancel its children and collect what they do meanwhile. `None` when the
    /// group was started in cleanup code (the request around it was delivered already, so it
    /// is not the group's to answer), or outside any corral task or scope.
    listener: Option<CancelListener>,
    /// Not polled yet: a request already pending when the group started is relayed after the
    /// body's first step (see [`Running::poll`]).
    first_poll: bool,
    /// The enclosing scope asked the group to stop.
    external: bool,
    /// Whether failures answer an enclosing request (see [`Running::finish`]).
    answer_with_error: bool,
    /// Drop the body at its next turn: the first failure came while it was already
    /// handling a cancel.
    interrupt_body: bool,
    /// Handing the enclosing cancellation back: never resolves.
    propagating: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<E, V, Fut> Running<E, V, Fut>
where
    Fut: Future,
    Fut::Output: IntoOutcome<Ok = V, Err = E>,
    E: Send + 'static,
{
    pub(super) fn start<B: FnOnce(Spawner<E>) -> Fut>(config: TaskGroup, body: B) -> Self {
        // A listener like any other: one made under a request not yet delivered gets it, one
        // made in cleanup code (the request was delivered) never resolves, and is not kept.
        let listener = Some(cancel::cancelled()).filter(CancelListener::listens);
        let shared = Arc::new(Shared {
            id: {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
            name: config.name,
            created: Instant::now(),
            supervisor: config.supervisor,
            limit: config.limit.map(GroupLimit::new),
            grace: config.grace,
            scope: Scope::boundary(),
            state: Mutex::new(State {
                finished: false,
                body_running: true,
                cancelling: None,
                own_cancel: None,
                failed: false,
                children: Children::default(),
                failures: Vec::new(),
            }),
            subgroups: Mutex::new(Vec::new()),
        });
        let node: Arc<dyn GroupNode> = shared.clone();
        let host = current_host();
        // Directly in an outer group's body, the outer group keeps a failure whether or not
        // the request was answered; elsewhere (a task, a timeout) answering it is what keeps
        // the owner from reporting a cancellation instead of the error.
        let in_group_body = host.as_ref().is_some_and(|(parent, host)| {
            matches!(host, Host::Body)
                && current().is_some_and(|c| Arc::as_ptr(&c) as *const () == parent.body_scope())
        });
        let parent = match host {
            Some((parent, host)) => {
                parent.add_subgroup(host, Arc::downgrade(&node));
                Some(Arc::downgrade(&parent))
            }
            None => {
                let mut roots = roots();
                roots.retain(|w| w.strong_count() > 0);
                roots.push(Arc::downgrade(&node));
                None
            }
        };
        let spawner = Spawner {
            shared: shared.clone(),
        };
        let frame = HostFrame {
            group: node,
            host: Host::Body,
        };
        let made = shared
            .scope
            .enter(|| with_frame(&frame, || catch_unwind(AssertUnwindSafe(|| body(spawner)))));
        let mut running = Running {
            shared,
            frame,
            parent,
            body: None,
            value: None,
            grace_timer: GraceTimer::default(),
            listener,
            first_poll: true,
            external: false,
            answer_with_error: !in_group_body,
            interrupt_body: false,
            propagating: None,
        };
        match made {
            Ok(fut) => running.body = Some(Box::pin(fut)),
            Err(payload) => {
                running.end_body();
                running.fail(Failure::Panicked(Panic::from_payload(&*payload)));
            }
        }
        running
    }

    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<V, GroupError<E>>> {
        let shared = self.shared.clone();
        shared.scope.set_owner_waker(cx.waker());
        if let Some(p) = self.propagating.as_mut() {
            let _ = p.as_mut().poll(cx);
            return Poll::Pending;
        }
        // Polled in the enclosing scope: relay its cancellation before the body can see it. A
        // request that was pending already when the group started reaches the body at its
        // first suspension, as it would reach code without a group around it.
        let first = std::mem::take(&mut self.first_poll);
        if !first {
            self.relay_enclosing_cancel();
        }
        self.collect_children(cx);
        if self.body.is_some() {
            self.step_body(cx);
        }
        if first {
            self.relay_enclosing_cancel();
        }
        if self.body.is_none() {
            let done = {
                let mut st = shared.lock();
                if st.children.is_empty() {
                    st.finished = true;
                    Some((std::mem::take(&mut st.failures), st.own_cancel.clone()))
                } else {
                    None
                }
            };
            if let Some((failures, own)) = done {
                return self.finish(failures, own, cx);
            }
        }
        Poll::Pending
    }

    /// If the enclosing scope (the code the group runs in) was asked to stop, cancels the
    /// group's members, once.
    fn relay_enclosing_cancel(&mut self) {
        if !self.external && self.listener.is_some() && cancel::is_cancel_requested() {
            self.external = true;
            let why = current()
                .and_then(|s| s.request_reason())
                .unwrap_or_default();
            self.shared.begin_cancel(why, false);
        }
    }

    /// Polls the children that woke the group; releases the ones that ended.
    fn collect_children(&mut self, cx: &mut Context<'_>) {
        let shared = &self.shared;
        // Only the keys queued now: a child polled again in this pass (tokio's cooperative
        // budget can make it wake itself) waits for the next poll.
        shared.lock().children.collect(cx.waker());
        loop {
            let mut st = shared.lock();
            let Some(polled) = st.children.next_ended() else {
                break;
            };
            let Some((entry, failure)) = polled else {
                continue;
            };
            let mut first_failure = false;
            if let Some(failure) = failure {
                let member = member_of(&entry.task());
                st.failures.push(GroupFailure { member, failure });
                if !shared.supervisor {
                    first_failure = !st.failed;
                    st.failed = true;
                }
            }
            drop(st);
            if first_failure && !shared.begin_cancel(Cancelled::with_message(FAILING), false) {
                // The group was already cancelling (an enclosing or own cancel) and the body
                // may be cleaning up in its grace period: the first failure cuts that short,
                // as asyncio's group cancels its parent task again on its first error.
                self.interrupt_body = true;
            }
            let holds_permit = entry.node.payload.node().state.load(Ordering::Relaxed) == RUNNING;
            drop(entry);
            if let (Some(limit), true) = (&shared.limit, holds_permit) {
                // The permit the child took when it started (see `ChildMeta::state`).
                limit
                    .limiter
                    .release()
                    .expect("a group's child gives back a permit it took");
            }
        }
    }

    /// Polls the body in the group's scope, unless the scope says to drop it.
    fn step_body(&mut self, cx: &mut Context<'_>) {
        let shared = self.shared.clone();
        if self.interrupt_body {
            self.end_body();
            return;
        }
        if let Verdict::Stop(_) = shared.scope.verdict(Some(shared.grace)) {
            self.end_body();
            return;
        }
        let frame = &self.frame;
        let Some(body) = self.body.as_mut() else {
            return;
        };
        let polled = shared.scope.enter(|| {
            with_frame(frame, || {
                catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx)))
            })
        });
        match polled {
            Err(payload) => {
                self.end_body();
                self.fail(Failure::Panicked(Panic::from_payload(&*payload)));
            }
            Ok(Poll::Ready(out)) => {
                self.end_body();
                match out.into_outcome() {
                    Outcome::Ok(v) => self.value = Some(v),
                    Outcome::Err(e) => self.fail(Failure::Error(e)),
                    Outcome::Panicked(p) => self.fail(Failure::Panicked(p)),
                    Outcome::Cancelled(_) => {}
                }
            }
            Ok(Poll::Pending) => {
                let stop = self
                    .grace_timer
                    .must_stop(&shared.scope, Some(shared.grace), cx);
                if stop.is_some() {
                    self.end_body();
                }
            }
        }
    }

    fn end_body(&mut self) {
        self.body = None;
        self.grace_timer.clear();
        self.shared.lock().body_running = false;
    }

    /// Records a failure of the body; it cancels the group in every mode.
    fn fail(&mut self, failure: Failure<E>) {
        {
            let mut st = self.shared.lock();
            st.failed = true;
            st.failures.push(GroupFailure {
                member: Member::Body,
                failure,
            });
        }
        self.shared
            .begin_cancel(Cancelled::with_message(FAILING), false);
    }

    fn finish(
        &mut self,
        failures: Vec<GroupFailure<E>>,
        own: Option<Cancelled>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<V, GroupError<E>>> {
        let group = self.shared.name.clone();
        let mut listener = self.listener.take();
        if !failures.is_empty() {
            if self.external && self.answer_with_error {
                // The failures answer the enclosing request: mark it handled, so the owner
                // keeps the error rather than reporting a cancellation. (In an outer group's
                // body the request stays pending, so the body's next await is cancelled, as
                // in asyncio.)
                if let Some(l) = listener.as_mut() {
                    let _ = Pin::new(l).poll(cx);
                }
            }
            return Poll::Ready(Err(GroupError {
                group,
                failures,
                cancelled: None,
            }));
        }
        if self.external {
            if let Some(mut l) = listener {
                if let Poll::Ready(request) = Pin::new(&mut l).poll(cx) {
                    let mut p: Pin<Box<dyn Future<Output = ()> + Send>> =
                        Box::pin(request.propagate::<()>());
                    let _ = p.as_mut().poll(cx);
                    self.propagating = Some(p);
                    return Poll::Pending;
                }
            }
            return Poll::Ready(Err(GroupError {
                group,
                failures,
                cancelled: Some(Cancelled::new()),
            }));
        }
        match self.value.take() {
            Some(v) => Poll::Ready(Ok(v)),
            None => Poll::Ready(Err(GroupError {
                group,
                failures,
                cancelled: Some(own.unwrap_or_default()),
            })),
        }
    }
}

impl<E, V, Fut> Drop for Running<E, V, Fut> {
    fn drop(&mut self) {
        let children = {
            let mut st = self.shared.lock();
            st.finished = true;
            st.body_running = false;
            std::mem::take(&mut st.children)
        };
        // An adaptive limiter outlives the group: give back the permits its running children
        // hold (a fixed limiter goes with the group). A child that takes its permit after this
        // finds `RELEASED` and gives it back itself.
        if let Some(limit) = self.shared.limit.as_ref().filter(|l| l.adaptive.is_some()) {
            let held = children
                .values()
                .filter(|c| {
                    let state = &c.node.payload.node().state;
                    state.swap(RELEASED, Ordering::AcqRel) == RUNNING
                })
                .count();
            for _ in 0..held {
                let _ = limit.limiter.release();
            }
        }
        // Dropping the entries aborts the children that are still running.
        drop(children);
        let me = Arc::as_ptr(&self.shared) as *const ();
        match self.parent.as_ref().and_then(Weak::upgrade) {
            Some(parent) => parent.remove_subgroup(me),
            None if self.parent.is_none() => {
                roots().retain(|w| w.strong_count() > 0 && w.as_ptr() as *const () != me)
            }
            None => {}
        }
    }
}
