//! Cancel scopes: the unit that can be asked to stop, and the thread-local that says which
//! scope's body is being polled (see the module doc of [`rt`](super) for the invariants).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::outcome::Cancelled;
use crate::rt::sync::{AtomicBool, AtomicU8, Mutex, MutexGuard};
use crate::rt::task::{End, TaskMeta};

/// How long a cancelled body that listens for the request may keep running before it is
/// dropped, unless the task or scope sets its own: 5 seconds.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // A task that listens and then never finishes its cleanup is aborted after 5 s.
/// let t = corral::spawn(async {
///     let _request = corral::cancelled().await;
///     std::future::pending::<()>().await;
///     Ok::<(), ()>(())
/// });
/// tokio::task::yield_now().await;
/// let start = tokio::time::Instant::now();
/// t.cancel();
/// assert!(t.await.is_cancelled());
/// assert_eq!(start.elapsed(), corral::DEFAULT_GRACE);
/// # }
/// ```
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What a scope's allocation carries besides the scope itself: nothing for timeouts and groups
/// (`()`); for a spawned task, its meta, body and outcome (`task::TaskCell`), so that a task
/// costs one allocation beside tokio's task cell.
pub(crate) trait Payload: Send + Sync + sealed::Sealed {
    /// The task this scope is the root of, if it is a task's root scope.
    fn task(&self) -> Option<&TaskMeta> {
        None
    }

    /// The scope this one is nested in (a task's root scope has none).
    fn parent(&self) -> Option<&Arc<Scope>> {
        None
    }

    /// For timeouts: the deadline, so that nested timeouts can tell an outer one has expired.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Records the deadline (nested scopes only).
    fn set_deadline(&self, _deadline: Option<Instant>) {}
}

/// Only the core implements [`Payload`]: what a scope's allocation holds is the core's to
/// define (a task's stage, I2, lives there).
pub(crate) mod sealed {
    pub(crate) trait Sealed {}
}

/// The payload of a nested scope (timeouts, groups): where it sits, and its deadline.
pub(crate) struct Nested {
    parent: Option<Arc<Scope>>,
    deadline: Mutex<Option<Instant>>,
}

impl sealed::Sealed for Nested {}

impl Payload for Nested {
    fn parent(&self) -> Option<&Arc<Scope>> {
        self.parent.as_ref()
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
    }
}

/// A cancel scope: the unit that can be asked to stop. Owned (polled) by a task root, a timeout
/// or a group; shared with the listeners inside it.
///
/// `Arc<Scope>` (the payload type erased) is how scopes are shared; a task's root scope is
/// allocated as `Arc<Scope<TaskCell<..>>>` and coerced. Scopes only ever live in an `Arc`: every
/// constructor returns one (which [`current`] relies on).
pub(crate) struct Scope<P: ?Sized + Payload = dyn Payload> {
    /// Set when the scope was entered in cleanup code (the enclosing request had been
    /// delivered already): the enclosing request is not re-delivered to it (asyncio compares
    /// `cancelling()` against its value on entry for the same reason). A request still pending
    /// is not cleanup's: it reaches the code in the scope like any other code.
    detached: bool,
    /// Mirrors `requested.is_some()` of the state, so that owners can skip the lock on every
    /// poll.
    requested: AtomicBool,
    /// A task's root scope only: how the task ended (an [`End`] as a byte; 0 while it runs).
    /// Set by the task's root as it ends, so that every `TaskRef` can read it without the
    /// outcome (I2). It sits in the padding after `requested`: a scope stays 40 bytes.
    ended: AtomicU8,
    state: Mutex<State>,
    pub(crate) payload: P,
}

/// What every scope needs at once: the owner's waker. The rest is allocated on first use
/// (a request, a listener, a task's name or grace), which most tasks never need.
#[derive(Default)]
struct State {
    owner: Option<Waker>,
    rare: Option<Box<Rare>>,
}

impl State {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn requested(&self) -> Option<&Cancelled> {
        self.rare.as_ref()?.requested.as_ref()
    }
}

#[derive(Default)]
struct Rare {
    requested: Option<Cancelled>,
    /// A listener saw the request: the body is handling it.
    delivered: bool,
    /// The body handed the cancellation back ([`CancelRequest::propagate`]): stop now.
    hard: bool,
    /// When the owner first saw the request; the grace period runs from here.
    seen_at: Option<Instant>,
    /// Live listeners in this scope or in scopes nested inside it.
    listeners: usize,
    token: Option<CancellationToken>,
    /// A task's name, once given (the default, `Task-<id>`, is made on demand).
    name: Option<Arc<str>>,
    /// A task's grace period, when not [`DEFAULT_GRACE`].
    grace: Option<Duration>,
}

/// What the owner of a scope should do after polling its body.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Nothing asked it to stop, or the body is handling the request inside its grace period
    /// (`Some(until)`: arm a timer for that instant).
    Continue(Option<Instant>),
    /// Drop the body: it is cancelled.
    Stop(Cancelled),
}

thread_local! {
    // The scope whose body is being polled on this thread (I1 in the module doc): set for the
    // duration of one poll by the scope's owner, so plain futures polled in place inherit their
    // caller's scope. Always a pointer that `Arc::as_ptr` returned, never one made from a `&`.
    static CURRENT: Cell<Option<NonNull<Scope>>> = const { Cell::new(None) };
}

/// Puts the previous current scope back, also when the poll unwinds.
struct Restore(Option<NonNull<Scope>>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` with the scope `p` points at as the current one. `p` comes from `Arc::as_ptr` of an
/// `Arc` that the caller keeps alive for the whole call.
fn enter_arc<R>(p: *const Scope, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(NonNull::new(p.cast_mut())));
    let _restore = Restore(prev);
    f()
}

impl<P: Payload + 'static> Scope<P> {
    /// [`Scope::enter`] for a scope whose payload type is still known (a task's root).
    pub(crate) fn enter_typed<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        // The unsizing coercion keeps the address and the allocation's provenance.
        let p: *const Scope<P> = Arc::as_ptr(self);
        enter_arc(p, f)
    }

    /// The root scope of a spawned task, carrying `payload`, with the task's name and grace
    /// period if they were given. Tasks do not inherit their spawner's cancellation.
    /// The payload is made from a weak reference to the scope itself (a group child's body
    /// refers to its own task's node this way).
    pub(crate) fn root_cyclic(
        payload: impl FnOnce(&Weak<Scope<P>>) -> P,
        name: Option<Arc<str>>,
        grace: Duration,
    ) -> Arc<Scope<P>> {
        let grace = (grace != DEFAULT_GRACE).then_some(grace);
        let rare = (name.is_some() || grace.is_some()).then(|| {
            Box::new(Rare {
                name,
                grace,
                ..Rare::default()
            })
        });
        Arc::new_cyclic(|me| Scope {
            detached: false,
            requested: AtomicBool::new(false),
            ended: AtomicU8::new(0),
            state: Mutex::new(State { owner: None, rare }),
            payload: payload(me),
        })
    }
}

impl Scope {
    /// The task this scope is the root of, if any.
    pub(crate) fn task(&self) -> Option<&TaskMeta> {
        self.payload.task()
    }

    /// A scope nested in the current one (if any): timeouts polled in place. Detached from
    /// it in cleanup code (see `detached`).
    pub(crate) fn nested() -> Arc<Scope> {
        let parent = current();
        let detached = parent.as_ref().is_some_and(|p| p.request_delivered());
        Arc::new(Scope {
            detached,
            requested: AtomicBool::new(false),
            ended: AtomicU8::new(0),
            state: Mutex::new(State::default()),
            payload: Nested {
                parent,
                deadline: Mutex::new(None),
            },
        })
    }

    /// A scope nested in the current one for lookups (its task, enclosing deadlines) but cut off
    /// for cancellation: a request to an enclosing scope reaches the code inside only when the
    /// owner relays it. A task group owns one, so that it can cancel its children before its
    /// body hears of the request, and so that the body's listeners answer the group, not the
    /// enclosing task.
    pub(crate) fn boundary() -> Arc<Scope> {
        Arc::new(Scope {
            detached: true,
            requested: AtomicBool::new(false),
            ended: AtomicU8::new(0),
            state: Mutex::new(State::default()),
            payload: Nested {
                parent: current(),
                deadline: Mutex::new(None),
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every update
        // is a single assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` (one poll of the body, or the drop of a body stopped part-way) with this scope
    /// as the current one, so that [`current`] finds it.
    pub(crate) fn enter<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        enter_arc(Arc::as_ptr(self), f)
    }

    /// Asks the scope to stop. Returns false if it had already been asked.
    pub(crate) fn request(&self, why: Cancelled) -> bool {
        let (token, owner) = {
            let mut st = self.lock();
            if st.requested().is_some() {
                return false;
            }
            st.rare().requested = Some(why);
            self.requested.store(true, Ordering::Release);
            // The owner's waker stays registered: owners register once per waker, not per poll.
            let token = st.rare().token.clone();
            (token, st.owner.clone())
        };
        if let Some(t) = token {
            t.cancel();
        }
        if let Some(w) = owner {
            w.wake();
        }
        true
    }

    /// How the task this scope is the root of ended, or `None` while it runs (and for scopes
    /// that are no task's root). `Acquire`, pairing with [`set_end`](Scope::set_end).
    pub(crate) fn end(&self) -> Option<End> {
        End::from_u8(self.ended.load(Ordering::Acquire))
    }

    /// Records how the task ended. With `only_first`, keeps an end recorded already.
    pub(crate) fn set_end(&self, end: End, only_first: bool) {
        if only_first {
            let _ = self
                .ended
                .compare_exchange(0, end as u8, Ordering::Release, Ordering::Relaxed);
        } else {
            self.ended.store(end as u8, Ordering::Release);
        }
    }

    /// True if this scope has been asked to stop.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// True if this scope or one it is nested in (up to a detached boundary) was asked to stop.
    pub(crate) fn chain_requested(&self) -> bool {
        let mut s = Some(self);
        while let Some(scope) = s {
            if scope.is_requested() {
                return true;
            }
            if scope.detached {
                return false;
            }
            s = scope.payload.parent().map(|p| &**p);
        }
        false
    }

    /// True if an enclosing scope (not this one) has been asked to stop or has a deadline at or
    /// before `now`. A nested timeout that expires together with an outer one uses this to
    /// let the outer one report (asyncio: only the outermost expired timeout raises).
    pub(crate) fn outer_doomed(&self, now: Instant) -> bool {
        if self.detached {
            return false;
        }
        let mut s = self.payload.parent().map(|p| &**p);
        while let Some(scope) = s {
            if scope.is_requested() || scope.payload.deadline().is_some_and(|d| d <= now) {
                return true;
            }
            if scope.detached {
                return false;
            }
            s = scope.payload.parent().map(|p| &**p);
        }
        false
    }

    /// The earliest deadline of this scope and of every scope it is nested in, if any. It
    /// looks through boundaries (a group inside a timeout is stopped when the timeout fires,
    /// by its owner relaying the request), but not past a task's root: a spawned task does
    /// not inherit its spawner's scopes. Policies such as `retry` read it so as not to start
    /// work they cannot finish in time.
    pub(crate) fn enclosing_deadline(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut s = Some(self);
        while let Some(scope) = s {
            if let Some(d) = scope.payload.deadline() {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            s = scope.payload.parent().map(|p| &**p);
        }
        earliest
    }

    /// Records this scope's deadline, for [`outer_doomed`](Self::outer_doomed).
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        self.payload.set_deadline(deadline);
    }

    /// Registers the owner's waker, so that a request or the last listener leaving wakes it.
    pub(crate) fn set_owner_waker(&self, waker: &Waker) {
        let mut st = self.lock();
        match &st.owner {
            Some(w) if w.will_wake(waker) => {}
            _ => st.owner = Some(waker.clone()),
        }
    }

    /// What the owner should do now. `grace` is how long a body handling the request may run;
    /// `None` is the scope's own (a task's, set by its builder), or [`DEFAULT_GRACE`].
    #[inline]
    pub(crate) fn verdict(&self, grace: Option<Duration>) -> Verdict {
        // The lock-free check first: no request is the common case, polled every time.
        if !self.requested.load(Ordering::Acquire) {
            return Verdict::Continue(None);
        }
        self.requested_verdict(grace)
    }

    /// The verdict once a request was seen; `None` is the task's own grace period.
    fn requested_verdict(&self, grace: Option<Duration>) -> Verdict {
        let mut guard = self.lock();
        let st = guard.rare();
        let Some(why) = st.requested.clone() else {
            return Verdict::Continue(None);
        };
        if st.hard || (!st.delivered && st.listeners == 0) {
            return Verdict::Stop(why);
        }
        let grace = grace.or(st.grace).unwrap_or(DEFAULT_GRACE);
        let seen = *st.seen_at.get_or_insert_with(Instant::now);
        // A grace too long to represent (e.g. `Duration::MAX`) never runs out.
        let Some(until) = seen.checked_add(grace) else {
            return Verdict::Continue(None);
        };
        if Instant::now() >= until {
            return Verdict::Stop(why);
        }
        Verdict::Continue(Some(until))
    }

    /// Whether the request (if any) was delivered to a listener, i.e. a body that finishes now
    /// finished on its own terms. Used when the body is ready at the same poll the request is.
    #[inline]
    pub(crate) fn finished_verdict(&self) -> Option<Cancelled> {
        if !self.requested.load(Ordering::Acquire) {
            return None;
        }
        self.finished_verdict_slow()
    }

    fn finished_verdict_slow(&self) -> Option<Cancelled> {
        let st = self.lock();
        let st = st.rare.as_deref()?;
        match &st.requested {
            Some(why) if st.hard || !st.delivered => Some(why.clone()),
            _ => None,
        }
    }

    /// The message of the request, if one was made.
    pub(crate) fn request_reason(&self) -> Option<Cancelled> {
        self.lock().requested().cloned()
    }

    /// The task's name, if one was given or set.
    pub(crate) fn task_name(&self) -> Option<Arc<str>> {
        self.lock().rare.as_ref()?.name.clone()
    }

    /// Names the task.
    pub(crate) fn set_task_name(&self, name: Arc<str>) {
        self.lock().rare().name = Some(name);
    }

    pub(crate) fn token(&self) -> CancellationToken {
        if let Some(t) = self.lock().rare.as_ref().and_then(|r| r.token.clone()) {
            return t;
        }
        // Build the parent's token first (without holding our lock), then ours from it.
        let parent_token = match (self.payload.parent(), self.detached) {
            (Some(p), false) => Some(p.token()),
            _ => None,
        };
        let mut guard = self.lock();
        let st = guard.rare();
        if let Some(t) = &st.token {
            return t.clone();
        }
        let t = match parent_token {
            Some(pt) => pt.child_token(),
            None => CancellationToken::new(),
        };
        if st.requested.is_some() {
            t.cancel();
        }
        st.token = Some(t.clone());
        t
    }

    /// Walks this scope and the scopes around it, up to and including a detached one.
    fn chain(self: &Arc<Self>) -> impl Iterator<Item = &Scope> {
        let mut next: Option<&Scope> = Some(self);
        std::iter::from_fn(move || {
            let s = next?;
            next = if s.detached {
                None
            } else {
                s.payload.parent().map(|p| &**p)
            };
            Some(s)
        })
    }

    pub(crate) fn add_listener(self: &Arc<Self>) {
        for s in self.chain() {
            s.lock().rare().listeners += 1;
        }
    }

    pub(crate) fn remove_listener(self: &Arc<Self>) {
        for s in self.chain() {
            let owner = {
                let mut st = s.lock();
                let rare = st.rare();
                rare.listeners -= 1;
                if rare.listeners == 0 && rare.requested.is_some() {
                    st.owner.clone()
                } else {
                    None
                }
            };
            if let Some(w) = owner {
                w.wake();
            }
        }
    }

    /// True if the nearest request in this scope's chain has already been delivered.
    pub(crate) fn request_delivered(self: &Arc<Self>) -> bool {
        for s in self.chain() {
            let st = s.lock();
            if let Some(rare) = st.rare.as_deref() {
                if rare.requested.is_some() {
                    return rare.delivered;
                }
            }
        }
        false
    }

    /// Marks every requested scope in the chain as delivered and returns the outermost reason.
    pub(crate) fn deliver(self: &Arc<Self>) -> Option<Cancelled> {
        let mut why = None;
        for s in self.chain() {
            let mut st = s.lock();
            if let Some(rare) = st.rare.as_deref_mut() {
                if let Some(r) = rare.requested.clone() {
                    rare.delivered = true;
                    why = Some(r);
                }
            }
        }
        why
    }

    pub(crate) fn propagate(self: &Arc<Self>) {
        let mut owners = Vec::new();
        for s in self.chain() {
            let mut st = s.lock();
            if let Some(rare) = st.rare.as_deref_mut() {
                if rare.requested.is_some() {
                    rare.hard = true;
                    owners.extend(st.owner.clone());
                }
            }
        }
        owners.into_iter().for_each(Waker::wake);
    }

    /// The task this scope belongs to: the nearest enclosing task root.
    pub(crate) fn task_scope(self: &Arc<Self>) -> Option<Arc<Scope>> {
        let mut s = Some(self.clone());
        while let Some(scope) = s {
            if scope.task().is_some() {
                return Some(scope);
            }
            s = scope.payload.parent().cloned();
        }
        None
    }
}

/// The second half of the owner's protocol (the first is [`Scope::enter`]), written once for
/// tasks, timeouts and groups: after a poll that left the body running, ask the scope's
/// verdict and run the grace period's timer.
#[derive(Default)]
pub(crate) struct GraceTimer(Option<Pin<Box<Sleep>>>);

impl GraceTimer {
    /// After a poll that left the body running: `Some(reason)` when it must be dropped now
    /// (nobody listened, the request was handed back, or the grace period is over), `None`
    /// to keep it (a timer is armed for the end of the grace period).
    #[inline]
    pub(crate) fn must_stop(
        &mut self,
        scope: &Scope,
        grace: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Option<Cancelled> {
        match scope.verdict(grace) {
            Verdict::Stop(why) => Some(why),
            Verdict::Continue(Some(until)) => {
                let timer = self
                    .0
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                let over = timer.as_mut().poll(cx).is_ready();
                over.then(|| scope.request_reason().unwrap_or_default())
            }
            Verdict::Continue(None) => None,
        }
    }

    /// Forgets the timer (the body is gone).
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }
}

/// The earliest deadline of the scopes around the code polled now on this thread ([`current`]
/// and those it is nested in, see [`Scope::enclosing_deadline`]), or `None`. Inline up to the
/// thread-local read, and without taking a reference count: a policy asks on every call
/// (`retry` times its attempts only under a deadline), and outside any scope the answer is a
/// single load.
#[inline]
pub(crate) fn current_deadline() -> Option<Instant> {
    let p = CURRENT.with(|c| c.get())?;
    deadline_around(p)
}

#[inline(never)]
fn deadline_around(p: NonNull<Scope>) -> Option<Instant> {
    // SAFETY: (I1) `p` is the pointer `enter_arc` stored for the call we are inside, whose
    // caller holds the scope's `Arc` until it returns: the scope is live for this whole
    // function, and the reference does not outlive it. Scopes are only read through `&`.
    let scope = unsafe { p.as_ref() };
    scope.enclosing_deadline()
}

/// The scope whose body is being polled on this thread, if any.
pub(crate) fn current() -> Option<Arc<Scope>> {
    let p = CURRENT.with(|c| c.get())?.as_ptr().cast_const();
    // SAFETY: (I1) `p` was stored by `enter_arc`, and every caller of it passes what
    // `Arc::as_ptr` returned for an `Arc<Scope<P>>` (coerced to `Scope<dyn Payload>`, which
    // keeps the address, the provenance of the whole allocation and the payload's vtable), so
    // `p` is a pointer `Arc::into_raw` could have returned, as `increment_strong_count` and
    // `from_raw` require. The caller of `enter` holds that `Arc` for the whole call, and we only
    // get here from inside the call (`Restore` resets the pointer when it returns or unwinds),
    // so the allocation is live and its count is at least one when we add ours.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}
