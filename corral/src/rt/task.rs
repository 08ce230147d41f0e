//! The spawned task: its identity, the cell that holds its body and then its outcome, the
//! future tokio runs for it ([`Root`]), and the one handle allowed to read the outcome
//! ([`RawTask`]). Invariant I2 of the [module doc](super) is the one this file keeps.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::outcome::{IntoOutcome, Outcome, Panic};
use crate::rt::scope::sealed::Sealed;
use crate::rt::scope::{GraceTimer, Payload, Scope, Verdict};

/// A task's identity: unique in the process, increasing in spawn order.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let a = corral::spawn(async { Ok::<(), ()>(()) });
/// let b = corral::spawn(async { Ok::<(), ()>(()) });
/// assert!(a.id() < b.id());
/// # }
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id (the `n` of the automatic name `Task-n`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert_eq!(t.name().as_ref(), format!("Task-{}", t.id().as_u64()));
    /// # }
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a task ended, as its root scope records it for every `TaskRef` (see `Scope::end`):
/// the kind of its [`Outcome`], without the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Ok = 1,
    Err = 2,
    Panicked = 3,
    Cancelled = 4,
}

impl End {
    /// The kind of `outcome`.
    pub(crate) fn of<T, E>(outcome: &Outcome<T, E>) -> End {
        match outcome {
            Outcome::Ok(_) => End::Ok,
            Outcome::Err(_) => End::Err,
            Outcome::Panicked(_) => End::Panicked,
            Outcome::Cancelled(_) => End::Cancelled,
        }
    }

    pub(crate) fn from_u8(b: u8) -> Option<End> {
        Some(match b {
            1 => End::Ok,
            2 => End::Err,
            3 => End::Panicked,
            4 => End::Cancelled,
            _ => return None,
        })
    }
}

/// Records a panic of the body as the task's end when a poll unwinds: tokio catches the panic
/// and keeps its payload for the `JoinHandle`, but `TaskRef`s learn of it here. A poll that
/// returns forgets it, so it is dropped only by an unwind and a poll pays nothing for it.
struct EndOnUnwind<'a>(&'a Scope);

impl Drop for EndOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.set_end(End::Panicked, false);
    }
}

/// What the root scope of a task knows about the task. Its name and grace period, when given,
/// are kept with the scope's rarely used state (see `Scope::root`), so that an unnamed task
/// with the default grace carries neither.
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) spawned_at: tokio::time::Instant,
}

/// What a task's body is: a future that may also read what its spawner keeps in the task's
/// allocation (`X`, see [`RawTask::spawn`]). Every plain future is a body for `X = ()`; a
/// group's child reads its node this way instead of through a pointer to its own allocation.
pub(crate) trait Body<X>: Send + 'static {
    /// What the body ends with.
    type Output;
    /// Polls the body, with the allocation's `ext`.
    fn poll_body(self: Pin<&mut Self>, ext: &X, cx: &mut Context<'_>) -> Poll<Self::Output>;
}

impl<F: Future + Send + 'static> Body<()> for F {
    type Output = F::Output;
    #[inline]
    fn poll_body(self: Pin<&mut Self>, _: &(), cx: &mut Context<'_>) -> Poll<F::Output> {
        self.poll(cx)
    }
}

/// Where a task's body, then its outcome, live: in the task's scope allocation (see
/// [`TaskCell`]), not in tokio's task cell, which then holds only [`Root`] and `()`.
enum Stage<F, T, E> {
    /// The body, polled in place by [`Root`] (pinned: the allocation never moves).
    Running(F),
    /// The outcome, for the handle to take.
    Finished(Outcome<T, E>),
    /// Neither: the body was dropped without an outcome (aborted), or the outcome was taken.
    Empty,
}

/// The payload of a task's root scope: what the task is, its body and its outcome. A spawned
/// task costs tokio's task cell (which holds only the small [`Root`], so it stays at tokio's
/// smallest size) and this one allocation, shared by the root, the handle and every
/// `TaskRef`.
pub(crate) struct TaskCell<F, T, E, X = ()> {
    meta: TaskMeta,
    /// I2: touched by [`Root`] while it is alive (it is the body's only poller, and tokio drops
    /// it before its `JoinHandle` reports the end), then only by the holder of the task's one
    /// `JoinHandle` (a [`RawTask`], or the [`KeptHandle`] in `ext`), once that has seen the end.
    stage: UnsafeCell<Stage<F, T, E>>,
    /// What the spawner keeps with the task (see [`RawTask::spawn`]); `()` for most.
    pub(crate) ext: X,
}

// SAFETY: `stage` is the only field that is not `Sync`, and by I2 it is never accessed by two
// threads at once: while the task runs, only its `Root` touches it (through `&mut Root`, so
// one thread at a time); tokio drops the `Root` (the future) before it marks the task
// complete, and the holder of the `JoinHandle` touches `stage` only after the handle has
// reported that completion (tokio documents that a `JoinHandle` resolves only once the task's
// future has been dropped: "the future is dropped ... before the JoinHandle completes", and
// its state transition is a release/acquire pair that orders the two). `TaskRef`s never touch
// it. Everything in it is `Send`, so handing it from thread to thread is fine.
unsafe impl<F: Send, T: Send, E: Send, X: Sync> Sync for TaskCell<F, T, E, X> {}

impl<F, T, E, X> Payload for TaskCell<F, T, E, X>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    fn task(&self) -> Option<&TaskMeta> {
        Some(&self.meta)
    }
}

impl<F, T, E, X> Sealed for TaskCell<F, T, E, X>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
}

/// What a task's handle sees of its task's [`TaskCell`]: the outcome, its body type erased.
/// Private to the core: only [`RawTask`] and [`KeptHandle`]'s owner reach the outcome.
pub(crate) trait TaskOut<T, E>: Payload {
    /// Takes the outcome, leaving [`Stage::Empty`].
    ///
    /// # Safety
    ///
    /// I2: only the holder of the task's `JoinHandle` may call this, and only after that
    /// handle reported the end.
    unsafe fn take(&self) -> Option<Outcome<T, E>>;
    /// The outcome, if it is there. Safety: as [`take`](TaskOut::take).
    unsafe fn peek(&self) -> Option<&Outcome<T, E>>;
    /// Stores the outcome (of a task tokio ended: aborted or panicked). Safety: as
    /// [`take`](TaskOut::take).
    unsafe fn put(&self, outcome: Outcome<T, E>);
}

impl<F, T, E, X> TaskOut<T, E> for TaskCell<F, T, E, X>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    unsafe fn take(&self) -> Option<Outcome<T, E>> {
        // SAFETY: the caller holds the handle after the end: nobody else touches `stage` (I2).
        let stage = unsafe { &mut *self.stage.get() };
        if !matches!(stage, Stage::Finished(_)) {
            return None;
        }
        // Moving the outcome out is fine: only a `Running` body is pinned.
        match std::mem::replace(stage, Stage::Empty) {
            Stage::Finished(o) => Some(o),
            _ => unreachable!("checked above"),
        }
    }

    unsafe fn peek(&self) -> Option<&Outcome<T, E>> {
        // SAFETY: as in `take`.
        match unsafe { &*self.stage.get() } {
            Stage::Finished(o) => Some(o),
            _ => None,
        }
    }

    unsafe fn put(&self, outcome: Outcome<T, E>) {
        // SAFETY: as in `take`; after the end the stage holds no body (the root dropped it).
        unsafe { *self.stage.get() = Stage::Finished(outcome) };
    }
}

impl<F, T, E, X> TaskCell<F, T, E, X> {
    /// The body, or `None` once it has ended.
    ///
    /// # Safety
    ///
    /// Only the task's [`Root`], while it is alive, and not while an earlier result of this
    /// call is still in use (I2).
    #[allow(clippy::mut_from_ref)]
    unsafe fn body(&self) -> Option<Pin<&mut F>> {
        // SAFETY: the caller is the root, the only one touching `stage` while it is alive,
        // with no other borrow of it live. The stage lives in an `Arc` allocation that never
        // moves, and a `Running` body is only ever dropped in place (by assigning the stage),
        // so pinning it is sound.
        match unsafe { &mut *self.stage.get() } {
            // SAFETY: see above: the body never moves until it is dropped in place.
            Stage::Running(f) => Some(unsafe { Pin::new_unchecked(f) }),
            _ => None,
        }
    }
}

/// The future tokio runs for a task: polls the body (in the task's [`TaskCell`]) inside the
/// task's root scope, and leaves the outcome there. Small on purpose: tokio's task cell holds
/// it, and a cell whose future and output fit in 24 bytes is 128 bytes instead of 256.
struct Root<F, T, E, X = ()>
where
    F: Body<X>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    cell: Arc<Scope<TaskCell<F, T, E, X>>>,
    grace: GraceTimer,
    /// The task's waker is registered with the scope (tokio's waker for a task never changes).
    registered: bool,
}

/// Ends the task's stage with `outcome` (or empties it), dropping a body still there inside
/// the task's scope, so that its destructors (its cleanup) run as part of the task:
/// `current_task()` works in them.
///
/// # Safety
///
/// As [`TaskCell::body`], and no result of `body` may be in use.
unsafe fn end<F, T, E, X>(cell: &Arc<Scope<TaskCell<F, T, E, X>>>, outcome: Option<Outcome<T, E>>)
where
    F: Body<X>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    let stage = cell.payload.stage.get();
    let scope: &Scope = &**cell;
    match &outcome {
        Some(o) => scope.set_end(End::of(o), false),
        // Dropped without an outcome: aborted (tokio reports it cancelled), unless a panic
        // was recorded first.
        None => scope.set_end(End::Cancelled, true),
    }
    cell.enter_typed(|| {
        let next = match outcome {
            Some(o) => Stage::Finished(o),
            None => Stage::Empty,
        };
        // SAFETY: guaranteed by the caller. The body (if any) is dropped in place; if its
        // destructor panics, the assignment still writes `next` (Rust's drop-and-replace), so
        // the body is never dropped twice.
        unsafe { *stage = next };
    });
}

impl<F, T, E, X> Drop for Root<F, T, E, X>
where
    F: Body<X>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    // An aborted task's body is dropped here; its destructors are its cleanup and run as part
    // of the task (`current_task()` works in them).
    fn drop(&mut self) {
        // SAFETY: we are the root, with no borrow of the stage live.
        unsafe {
            if self.cell.payload.body().is_some() {
                end(&self.cell, None);
            }
        }
    }
}

impl<F, T, E, X> Future for Root<F, T, E, X>
where
    F: Body<X>,
    F::Output: IntoOutcome<Ok = T, Err = E>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Root {
            cell,
            grace,
            registered,
        } = self.get_mut();
        let unwind = EndOnUnwind(&**cell);
        let polled = Self::step(cell, grace, registered, cx);
        std::mem::forget(unwind);
        polled
    }
}

impl<F, T, E, X> Root<F, T, E, X>
where
    F: Body<X>,
    F::Output: IntoOutcome<Ok = T, Err = E>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    /// One poll of the task: its body, or its end.
    #[inline]
    fn step(
        cell: &Arc<Scope<TaskCell<F, T, E, X>>>,
        grace: &mut GraceTimer,
        registered: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let scope: &Scope = &**cell;
        if !*registered {
            scope.set_owner_waker(cx.waker());
            *registered = true;
        }
        // Every `body` and `end` below is called by the task's root, polled through `&mut`
        // (so on one thread at a time), and each `body()` borrow ends before the next call:
        // what both require (I2).
        if let Verdict::Stop(why) = scope.verdict(None) {
            // SAFETY: as said above; no `body()` borrow is live.
            unsafe { end(cell, Some(Outcome::Cancelled(why))) };
            return Poll::Ready(());
        }
        // SAFETY: as said above; this borrow ends with the poll.
        let polled = match unsafe { cell.payload.body() } {
            Some(body) => cell.enter_typed(|| body.poll_body(&cell.payload.ext, cx)),
            None => panic!("corral task polled after completion"),
        };
        let outcome = match polled {
            Poll::Ready(out) => {
                // A request nobody listened to (e.g. the task cancelled itself and returned)
                // wins over a value, as in asyncio (`Task.__step`: `_must_cancel` turns a
                // return into a cancellation). An error, or a cancellation of the body's own,
                // is kept, as asyncio keeps an exception raised in that step (`set_exception`):
                // dropping it would lose a failure. (A panic unwinds past here; tokio keeps it.)
                let outcome = match out.into_outcome() {
                    Outcome::Ok(value) => match scope.finished_verdict() {
                        Some(why) => Outcome::Cancelled(why),
                        None => Outcome::Ok(value),
                    },
                    other => other,
                };
                // A body that has returned is dropped outside the scope (as it always was):
                // entering it is for cleanup of bodies stopped part-way.
                scope.set_end(End::of(&outcome), false);
                // SAFETY: as said above; the body's borrow ended with its poll.
                unsafe { *cell.payload.stage.get() = Stage::Finished(outcome) };
                return Poll::Ready(());
            }
            Poll::Pending => match grace.must_stop(scope, None, cx) {
                Some(why) => Outcome::Cancelled(why),
                None => return Poll::Pending,
            },
        };
        // SAFETY: as said above; the body's borrow ended with its poll.
        unsafe { end(cell, Some(outcome)) };
        Poll::Ready(())
    }
}

/// The core's handle on a spawned task: the task's one `JoinHandle` (`None` once it has
/// reported the end, or after [`detach`](RawTask::detach)) and the task's allocation. Being
/// the only holder of the `JoinHandle` is what entitles it to the outcome (I2), so it is not
/// `Clone`, and every method that reaches the outcome takes `&mut self`.
///
/// Dropping it aborts the task (tokio's abort: the body is dropped at its next suspension).
pub(crate) struct RawTask<T, E> {
    handle: Option<JoinHandle<()>>,
    scope: Arc<Scope<dyn TaskOut<T, E>>>,
    /// The outcome is the handle's to hand out: the handle is `Send`/`Sync` as an outcome is
    /// (the scope alone is both whatever `T` and `E` are).
    _outcome: PhantomData<Outcome<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> RawTask<T, E> {
    /// Spawns the body `make` returns on the current runtime, with `ext` kept in the task's
    /// scope allocation beside the body and the outcome (a group keeps its node for the child
    /// there: one allocation instead of two). `make` is given a weak reference to that
    /// allocation. Returns the handle and the allocation.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime, as `tokio::spawn` does.
    #[allow(clippy::type_complexity)]
    pub(crate) fn spawn<F, X>(
        name: Option<Arc<str>>,
        grace: Duration,
        make: impl FnOnce(&Weak<Scope<TaskCell<F, T, E, X>>>) -> (F, X),
    ) -> (RawTask<T, E>, Arc<Scope<TaskCell<F, T, E, X>>>)
    where
        F: Body<X>,
        F::Output: IntoOutcome<Ok = T, Err = E>,
        X: Send + Sync + 'static,
    {
        let meta = TaskMeta {
            id: TaskId::next(),
            spawned_at: tokio::time::Instant::now(),
        };
        let cell = Scope::root_cyclic(
            |me| {
                let (body, ext) = make(me);
                TaskCell {
                    meta,
                    stage: UnsafeCell::new(Stage::Running(body)),
                    ext,
                }
            },
            name,
            grace,
        );
        let scope: Arc<Scope<dyn TaskOut<T, E>>> = cell.clone();
        let handle = tokio::spawn(Root {
            cell: cell.clone(),
            grace: GraceTimer::default(),
            registered: false,
        });
        let raw = RawTask {
            handle: Some(handle),
            scope,
            _outcome: PhantomData,
        };
        (raw, cell)
    }
}

/// The allocation of a task that never runs: made as [`RawTask::spawn`] makes one, but not
/// handed to tokio. Its body is dropped at once, unpolled, and its end is recorded as
/// cancelled. Nobody holds a `JoinHandle` for it, so its stage is never read (I2): it stays
/// empty. For a task group that refuses a child but still hands out its handle.
#[allow(clippy::type_complexity)]
pub(crate) fn unstarted<F, T, E, X>(
    name: Option<Arc<str>>,
    make: impl FnOnce(&Weak<Scope<TaskCell<F, T, E, X>>>) -> (F, X),
) -> Arc<Scope<TaskCell<F, T, E, X>>>
where
    F: Body<X>,
    F::Output: IntoOutcome<Ok = T, Err = E>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    let meta = TaskMeta {
        id: TaskId::next(),
        spawned_at: tokio::time::Instant::now(),
    };
    let mut body = None;
    let cell = Scope::root_cyclic(
        |me| {
            let (b, ext) = make(me);
            body = Some(b);
            TaskCell {
                meta,
                stage: UnsafeCell::new(Stage::Empty),
                ext,
            }
        },
        name,
        super::DEFAULT_GRACE,
    );
    let scope: &Scope = &*cell;
    scope.set_end(End::Cancelled, false);
    // Dropped outside the constructor, unpolled: what a refused spawn does with its future.
    drop(body);
    cell
}

impl<T, E> RawTask<T, E> {
    /// The task's root scope (for its meta, its name, requests and `TaskRef`s).
    pub(crate) fn scope(&self) -> &Arc<Scope<dyn TaskOut<T, E>>> {
        &self.scope
    }

    /// The task's identity.
    pub(crate) fn meta(&self) -> &TaskMeta {
        self.scope
            .payload
            .task()
            .expect("a task's root scope has its meta")
    }

    /// True once the task has ended (or the handle was detached).
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// tokio's abort: the body is dropped at its next suspension point.
    pub(crate) fn abort(&self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }

    /// Lets the task run on with nobody to abort it (or read its outcome).
    pub(crate) fn detach(mut self) {
        self.handle.take();
    }

    /// True once this handle has seen the task's end (`handle` is `None`). Never waits: a
    /// finished `JoinHandle` is polled with a no-op waker to collect the end.
    #[inline]
    fn collect_end(&mut self) -> bool {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let _ = self.poll_end_unconstrained(&mut cx);
        }
        self.handle.is_none()
    }

    /// The outcome, taken, if the task has ended; `None` if it is running or the outcome was
    /// taken already.
    #[inline]
    pub(crate) fn try_outcome(&mut self) -> Option<Outcome<T, E>> {
        if !self.collect_end() {
            return None;
        }
        // SAFETY: (I2) we held the task's one `JoinHandle` and it has seen the end (`handle`
        // is `None`, and `detach` consumes a `RawTask`, so no detached one is asked).
        unsafe { self.scope.payload.take() }
    }

    /// The outcome, by reference, if the task has ended and the outcome was not taken. Never
    /// waits (a finished `JoinHandle` is polled with a no-op waker, as in `try_outcome`).
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<&Outcome<T, E>> {
        if !self.collect_end() {
            return None;
        }
        // SAFETY: as in `try_outcome`: we held the task's one `JoinHandle`, and it has seen
        // the end; `&mut self` keeps every other reader and writer of the stage away.
        unsafe { self.scope.payload.peek() }
    }

    /// Polls for the end and leaves the outcome in the cell; `Ready(None)` if it was taken.
    /// Not subject to tokio's cooperative budget.
    pub(crate) fn poll_settled(&mut self, cx: &mut Context<'_>) -> Poll<Option<&Outcome<T, E>>> {
        if self.handle.is_some() && self.poll_end_unconstrained(cx).is_pending() {
            return Poll::Pending;
        }
        // SAFETY: as in `try_outcome`.
        Poll::Ready(unsafe { self.scope.payload.peek() })
    }

    /// [`poll_end`](Self::poll_end) outside tokio's cooperative budget.
    pub(crate) fn poll_end_unconstrained(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // `task::unconstrained` moved to `task::coop` in tokio 1.44; the old path works on the
        // whole supported range.
        #[allow(deprecated)]
        let mut fut = tokio::task::unconstrained(std::future::poll_fn(|cx| self.poll_end(cx)));
        Pin::new(&mut fut).poll(cx)
    }

    /// Polls the `JoinHandle`; once it reports the end, drops it (`handle` becomes `None`)
    /// and makes sure the cell holds the outcome (tokio's own ends, an abort or a panic, are
    /// stored there as `Cancelled` or `Panicked`).
    #[inline]
    pub(crate) fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.handle.as_mut() {
            None => Poll::Ready(()),
            Some(handle) => {
                let scope: &Scope<dyn TaskOut<T, E>> = &self.scope;
                poll_join(handle, scope, &scope.payload, cx).map(|()| self.handle = None)
            }
        }
    }

    /// Polls for the end and takes the outcome.
    ///
    /// # Panics
    ///
    /// Panics if the outcome was already taken.
    #[inline]
    pub(crate) fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        if self.poll_end(cx).is_pending() {
            return Poll::Pending;
        }
        // SAFETY: as in `try_outcome`: the handle has seen the end.
        let taken = unsafe { self.scope.payload.take() };
        Poll::Ready(taken.expect("the outcome of this corral task was already taken"))
    }

    /// Moves the task's `JoinHandle` into `kept`, which must live in this same task's
    /// allocation (its owner then polls the end through [`TaskCell::poll_kept`]).
    ///
    /// # Panics
    ///
    /// Panics if `kept` is elsewhere, or was filled already.
    pub(crate) fn keep_in(mut self, kept: &KeptHandle) {
        let cell = Arc::as_ptr(&self.scope) as *const u8;
        assert!(
            within(kept, cell, std::mem::size_of_val(&*self.scope)),
            "a task's handle is kept in its own allocation"
        );
        let mut slot = kept.lock();
        assert!(matches!(*slot, Kept::Unset), "a handle is kept once");
        // No handle left: it has seen the end already (`detach` consumes the `RawTask`).
        *slot = match self.handle.take() {
            Some(h) => Kept::Held(h),
            None => Kept::Ended,
        };
    }
}

impl<T, E> Drop for RawTask<T, E> {
    fn drop(&mut self) {
        self.abort();
    }
}

/// True if `x` lies inside the `size` bytes at `start`.
fn within<X>(x: &X, start: *const u8, size: usize) -> bool {
    let at = x as *const X as *const u8;
    start <= at && at < start.wrapping_add(size)
}

/// Polls a task's `JoinHandle` once; when it reports the end, stores an outcome tokio made
/// (abort, panic) in the cell, with the reason of the request made to the task's scope.
#[inline]
fn poll_join<T, E>(
    handle: &mut JoinHandle<()>,
    scope: &Scope,
    out: &dyn TaskOut<T, E>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let Poll::Ready(res) = Pin::new(handle).poll(cx) else {
        return Poll::Pending;
    };
    let outcome = match res {
        Ok(()) => return Poll::Ready(()),
        Err(e) if e.is_panic() => Outcome::Panicked(Panic::from_payload(&*e.into_panic())),
        Err(_) => Outcome::Cancelled(scope.request_reason().unwrap_or_default()),
    };
    // SAFETY: (I2) the caller holds the task's one `JoinHandle` (a `RawTask`, or a
    // `KeptHandle` in the task's own allocation), which just reported the end.
    unsafe { out.put(outcome) };
    Poll::Ready(())
}

/// What a [`KeptHandle`] holds.
enum Kept {
    /// Not filled yet: nobody may read the outcome through it.
    Unset,
    /// The task's one `JoinHandle`.
    Held(JoinHandle<()>),
    /// The handle reported the end: the outcome is in the cell (or was taken).
    Ended,
    /// The owner let go ([`KeptHandle::release`]): nothing may be read through it any more.
    Released,
}

/// A task's `JoinHandle` kept inside the task's own allocation (a group's child keeps it in
/// its node, where a [`RawTask`] would only add a pointer back to the same allocation). Only
/// [`RawTask::keep_in`] fills it, and only with the handle of the task whose allocation holds
/// it, so whoever reaches it through that allocation holds the task's one handle (I2).
pub(crate) struct KeptHandle(Mutex<Kept>);

impl Default for KeptHandle {
    fn default() -> Self {
        KeptHandle(Mutex::new(Kept::Unset))
    }
}

impl KeptHandle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets go of the task: aborts it if the handle is still here (its owner is going away).
    /// From then on nobody reads the outcome through this handle: the abort is asynchronous,
    /// so the task may still be running, and "ended" would be a lie (I2).
    pub(crate) fn release(&self) {
        if let Kept::Held(h) = std::mem::replace(&mut *self.lock(), Kept::Released) {
            h.abort();
        }
    }
}

impl<F, T, E, X> TaskCell<F, T, E, X>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    /// Polls the end of this task through `kept` (in this cell, filled by
    /// [`RawTask::keep_in`]) outside tokio's cooperative budget, then takes the outcome. `me`
    /// is this cell's scope.
    ///
    /// # Panics
    ///
    /// Panics if `kept` or `me` is not this task's, if `kept` was never filled, or if the
    /// outcome was taken already.
    pub(crate) fn poll_kept(
        &self,
        kept: &KeptHandle,
        me: &Scope,
        cx: &mut Context<'_>,
    ) -> Poll<Outcome<T, E>> {
        assert!(
            std::ptr::addr_eq(&me.payload as *const dyn Payload, self as *const Self)
                && within(
                    kept,
                    self as *const Self as *const u8,
                    std::mem::size_of::<Self>()
                ),
            "a kept handle is polled through its own task's allocation"
        );
        let mut slot = kept.lock();
        match &mut *slot {
            Kept::Unset => panic!("a task's end is polled through a handle that was never kept"),
            Kept::Released => panic!("a task's end is polled through a handle that was let go"),
            Kept::Held(h) => {
                // `task::unconstrained` moved to `task::coop` in tokio 1.44; the old path
                // works on the whole supported range.
                #[allow(deprecated)]
                let mut fut = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    poll_join(h, me, self, cx)
                }));
                if Pin::new(&mut fut).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *slot = Kept::Ended;
            }
            Kept::Ended => {}
        }
        // SAFETY: (I2) the handle kept here was this task's one `JoinHandle` (only `keep_in`
        // fills it, from this task's `RawTask`, checked to be this allocation, as `kept` is
        // checked to be in this cell above), and it has reported the end; the lock keeps two
        // callers apart.
        let taken = unsafe { self.take() };
        Poll::Ready(taken.expect("the outcome of this corral task was already taken"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_future_tokio_stores_for_a_task_stays_small_whatever_the_body() {
        // tokio's task cell is 128 bytes (x86-64) when its future and its output (here `()`,
        // in a `Result` with tokio's `JoinError`) fit in 24 bytes, and 256 or more otherwise:
        // the body and its outcome live in the task's scope allocation instead.
        type Big = [u64; 32];
        type Body = std::future::Ready<Result<Big, Big>>;
        assert!(std::mem::size_of::<Root<Body, Big, Big>>() <= 24);
        assert_eq!(std::mem::size_of::<RawTask<Big, Big>>(), 24);
    }
}
