//! Spawned tasks: [`spawn`], [`spawn_named`], [`Builder`], the [`Task`] handle (this file),
//! the shared [`TaskRef`] and the current task (`task_ref`), and the [`TaskState`] every handle
//! reports (`state`). [`Awaitable`](crate::Awaitable), the one input trait of every
//! combinator, is in `awaitable.rs`.
//!
//! # Looking without taking: one rule for every handle
//!
//! * `state()` says what the work is doing or how it ended ([`TaskState`]), on every handle,
//!   [`TaskRef`] included.
//! * `with_outcome(f)` shows the outcome by reference, without taking or cloning it, on every
//!   handle that owns an outcome ([`Task`], [`Child`](crate::Child),
//!   [`Shielded`](crate::Shielded)).
//! * `try_outcome()` **takes** the outcome, on every handle: it returns `Some` once, and the
//!   handle can no longer be awaited for it. (A copy is `with_outcome(|o| o.clone())`.) One
//!   meaning for one name: asyncio's `Task.result()` is repeatable because Python shares
//!   objects; in Rust a value that is not `Clone` can be handed out once, so the taking form
//!   and the looking form are two methods, everywhere.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::outcome::{Cancelled, IntoOutcome, Outcome};
use crate::rt::{Body, RawTask, Scope, TaskCell, TaskMeta, DEFAULT_GRACE};

mod state;
mod task_ref;

pub use crate::rt::task::TaskId;
pub use state::TaskState;
use task_ref::task_name;
pub use task_ref::{current_task, TaskRef};

/// Options for spawning a task: its name and its grace period.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = corral::Builder::new()
///     .name("fetch-1")
///     .grace(Duration::from_millis(100))
///     .spawn(async { Ok::<u8, ()>(1) });
/// assert_eq!(&*task.name(), "fetch-1");
/// assert_eq!(task.await.unwrap(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<Arc<str>>,
    grace: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            name: None,
            grace: DEFAULT_GRACE,
        }
    }
}

impl Builder {
    /// A builder with no name and the [default grace period](crate::DEFAULT_GRACE).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::Builder::new().spawn(async { Ok::<u8, ()>(1) });
    /// assert_eq!(t.await.unwrap(), 1);
    /// # }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The task's name. asyncio: `create_task(coro, name=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::Builder::new().name("indexer").spawn(async { Ok::<(), ()>(()) });
    /// assert_eq!(&*t.name(), "indexer");
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long the task may keep running after a [`cancel`](Task::cancel) request has been
    /// delivered to it (through [`cancelled()`](crate::cancelled)) before it is aborted. A grace
    /// too long to represent as an instant (such as `Duration::MAX`) never runs out.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// // A task that listens for the request gets 1 s to clean up, then is aborted.
    /// let t = corral::Builder::new().grace(Duration::from_secs(1)).spawn(async {
    ///     let _request = corral::cancelled().await;
    ///     std::future::pending::<()>().await; // cleanup that never ends
    ///     Ok::<(), ()>(())
    /// });
    /// tokio::task::yield_now().await;
    /// let start = tokio::time::Instant::now();
    /// t.cancel();
    /// assert!(t.await.is_cancelled());
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Spawns the future on the current tokio runtime and returns its handle.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime, as `tokio::spawn` does.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::Builder::new().name("answer").spawn(async { Ok::<u32, ()>(42) });
    /// assert_eq!(t.await.unwrap(), 42);
    /// # }
    /// ```
    pub fn spawn<F>(
        self,
        fut: F,
    ) -> Task<<F::Output as IntoOutcome>::Ok, <F::Output as IntoOutcome>::Err>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
        <F::Output as IntoOutcome>::Err: Send + 'static,
    {
        Task {
            raw: self.spawn_cell(|_| (fut, ())).0,
        }
    }

    /// Spawns the body `make` returns, with `ext` kept in the task's scope allocation beside
    /// the body and the outcome (see [`RawTask::spawn`]).
    #[allow(clippy::type_complexity)]
    pub(crate) fn spawn_cell<F, T, E, X>(
        self,
        make: impl FnOnce(&Weak<Scope<TaskCell<F, T, E, X>>>) -> (F, X),
    ) -> (RawTask<T, E>, Arc<Scope<TaskCell<F, T, E, X>>>)
    where
        F: Body<X>,
        F::Output: IntoOutcome<Ok = T, Err = E>,
        T: Send + 'static,
        E: Send + 'static,
        X: Send + Sync + 'static,
    {
        RawTask::spawn(self.name, self.grace, make)
    }

    /// The allocation of a task that never runs (see [`crate::rt::unstarted`]): its body is
    /// dropped unpolled, and it reports itself cancelled. For a refused spawn.
    #[allow(clippy::type_complexity)]
    pub(crate) fn unstarted_cell<F, T, E, X>(
        self,
        make: impl FnOnce(&Weak<Scope<TaskCell<F, T, E, X>>>) -> (F, X),
    ) -> Arc<Scope<TaskCell<F, T, E, X>>>
    where
        F: Body<X>,
        F::Output: IntoOutcome<Ok = T, Err = E>,
        T: Send + 'static,
        E: Send + 'static,
        X: Send + Sync + 'static,
    {
        crate::rt::unstarted(self.name, make)
    }
}

/// Spawns a task on the current tokio runtime and returns its handle. The future's output is a
/// `Result` (or an [`Outcome`]); for a plain value, return `Ok::<_, Infallible>(v)` or wrap the
/// future in [`infallible`](crate::infallible).
///
/// The task runs on the runtime's worker threads, concurrently with the caller. **Dropping the
/// handle aborts it**; call [`Task::detach`] to let it run on its own.
///
/// asyncio: `asyncio.create_task(coro)`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = corral::spawn(async { Ok::<u32, std::io::Error>(6 * 7) });
/// assert_eq!(task.await.unwrap(), 42);
/// # }
/// ```
pub fn spawn<F>(fut: F) -> Task<<F::Output as IntoOutcome>::Ok, <F::Output as IntoOutcome>::Err>
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome,
    <F::Output as IntoOutcome>::Ok: Send + 'static,
    <F::Output as IntoOutcome>::Err: Send + 'static,
{
    Builder::new().spawn(fut)
}

/// Spawns a named task. Same as [`spawn`] otherwise.
///
/// asyncio: `asyncio.create_task(coro, name="...")`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = corral::spawn_named("No-op", async { Ok::<(), ()>(()) });
/// assert_eq!(&*task.name(), "No-op");
/// # }
/// ```
pub fn spawn_named<F>(
    name: impl Into<Arc<str>>,
    fut: F,
) -> Task<<F::Output as IntoOutcome>::Ok, <F::Output as IntoOutcome>::Err>
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome,
    <F::Output as IntoOutcome>::Ok: Send + 'static,
    <F::Output as IntoOutcome>::Err: Send + 'static,
{
    Builder::new().name(name).spawn(fut)
}

/// A handle to a spawned task: its id and name, a way to stop it, and its [`Outcome`].
///
/// Await it (or [`Task::join`]) to get the outcome. **Dropping the handle aborts the task**
/// (Rust's cancellation: the task's future is dropped at its next suspension point); call
/// [`detach`](Task::detach) to let it run on without a handle. A panic in the task is captured
/// as [`Outcome::Panicked`], never propagated.
///
/// asyncio: `asyncio.Task`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let task = corral::spawn(async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<(), ()>(())
/// });
/// assert!(task.cancel_with("not needed"));
/// let outcome = task.await;
/// assert!(outcome.is_cancelled());
/// # }
/// ```
#[must_use = "dropping a Task aborts its task: .await it, keep the handle, or call .detach()"]
pub struct Task<T, E> {
    /// The task's one `JoinHandle` and its allocation, where the outcome waits.
    raw: RawTask<T, E>,
}

impl<T, E> Task<T, E> {
    /// A shared reference to the task (id, name, cancel) that does not own it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let r = t.task_ref(); // can be cloned and sent anywhere
    /// assert_eq!(r.id(), t.id());
    /// # }
    /// ```
    pub fn task_ref(&self) -> TaskRef {
        TaskRef {
            scope: self.raw.scope().clone(),
        }
    }

    /// The task's root scope, as the cancel machinery sees it.
    fn root_scope(&self) -> &Scope {
        &**self.raw.scope()
    }

    fn meta(&self) -> &TaskMeta {
        self.raw.meta()
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let a = corral::spawn(async { Ok::<(), ()>(()) });
    /// let b = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert_ne!(a.id(), b.id());
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.meta().id
    }

    /// The task's name: the one it was given, or `Task-<id>`. asyncio: `Task.get_name()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert!(t.name().starts_with("Task-"));
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        task_name(self.root_scope(), self.meta())
    }

    /// Renames the task. asyncio: `Task.set_name()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<(), ()>(()) });
    /// t.set_name("poller");
    /// assert_eq!(&*t.name(), "poller");
    /// # }
    /// ```
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.root_scope().set_task_name(name.into())
    }

    /// True once the task has ended, whatever the outcome. asyncio: `Task.done()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert!(!t.is_finished());
    /// let _ = t.join().await;
    /// assert!(t.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }

    /// What the task is doing, or how it ended ([`TaskState`]). Never takes the outcome.
    /// `state().is_finished()` agrees with [`is_finished`](Task::is_finished).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::TaskState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// assert_eq!(t.state(), TaskState::Running);
    /// t.cancel();
    /// assert_eq!(t.state(), TaskState::Cancelling);
    /// let _ = (&mut t).await;
    /// assert_eq!(t.state(), TaskState::Cancelled);
    /// # }
    /// ```
    pub fn state(&self) -> TaskState {
        let task = self.task_ref();
        if self.is_finished() {
            task.end_state()
        } else {
            task.live_state()
        }
    }

    /// Shows the outcome to `f` by reference, if the task has finished and the outcome has
    /// not been taken; returns what `f` returns. Never waits, never takes or clones the
    /// outcome: the task can still be awaited, or [`try_outcome`](Task::try_outcome)d, after.
    ///
    /// It takes `&mut self` because the handle is the one reader of its task's outcome, and
    /// collects it from the runtime first (as [`try_outcome`](Task::try_outcome) does).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn(async { Ok::<String, ()>("a long report".to_string()) });
    /// assert_eq!(t.with_outcome(|o| o.is_ok()), None); // not finished yet
    /// tokio::task::yield_now().await;
    /// let len = t.with_outcome(|o| o.as_ref().ok().map(|s| s.len()));
    /// assert_eq!(len, Some(Some(13)));
    /// assert_eq!(t.await.unwrap(), "a long report"); // still there
    /// # }
    /// ```
    pub fn with_outcome<R>(&mut self, f: impl FnOnce(&Outcome<T, E>) -> R) -> Option<R> {
        self.raw.peek().map(f)
    }

    /// Asks the task to stop. Returns false if it has already finished, or was already asked.
    ///
    /// If the task is listening ([`cancelled()`](crate::cancelled)), the request is delivered
    /// to it and it may clean up and end as it chooses within its grace period, after which it
    /// is aborted. If it is not listening, it is stopped at its next suspension point, and a
    /// task that has not started yet never runs. A task that returns before it gets there (it
    /// cancelled itself, or the request came from another thread while it ran) ends cancelled
    /// if it returned a value, which is discarded; an error it returned is kept, as asyncio
    /// keeps an exception raised in the step a cancel arrives in.
    ///
    /// asyncio: `Task.cancel()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// assert!(t.cancel());
    /// assert!(t.await.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        !self.is_finished() && self.root_scope().request(Cancelled::new())
    }

    /// Like [`cancel`](Task::cancel), with a message the outcome will carry.
    /// asyncio: `Task.cancel(msg)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// t.cancel_with("timeout");
    /// match t.await {
    ///     corral::Outcome::Cancelled(c) => assert_eq!(c.to_string(), "cancelled: timeout"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        !self.is_finished() && self.root_scope().request(Cancelled::with_message(message))
    }

    /// Stops the task at its next suspension point, with no grace period.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async {
    ///     let _request = corral::cancelled().await; // a listener would get a grace period...
    ///     Ok::<(), ()>(())
    /// });
    /// t.abort(); // ...abort gives none
    /// assert!(t.await.is_cancelled());
    /// # }
    /// ```
    pub fn abort(&self) {
        self.raw.abort();
    }

    /// Lets the task run on without a handle: it is no longer aborted when the handle would
    /// have been dropped. Its outcome is discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// corral::spawn(async move {
    ///     tx.send(7).unwrap();
    ///     Ok::<(), ()>(())
    /// })
    /// .detach(); // runs on although the handle is gone
    /// assert_eq!(rx.await.unwrap(), 7);
    /// # }
    /// ```
    pub fn detach(self) {
        self.raw.detach();
    }

    /// Takes the outcome, if the task has finished and the outcome has not been taken yet.
    /// Never waits. After it returns `Some`, awaiting the task panics. To look without taking,
    /// use [`with_outcome`](Task::with_outcome) or [`state`](Task::state) (the rule is the
    /// same for every handle: `try_outcome` takes).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn(async { Ok::<u8, ()>(3) });
    /// assert!(t.try_outcome().is_none()); // not finished yet
    /// tokio::task::yield_now().await;
    /// assert_eq!(t.try_outcome().map(|o| o.unwrap()), Some(3));
    /// # }
    /// ```
    pub fn try_outcome(&mut self) -> Option<Outcome<T, E>> {
        self.raw.try_outcome()
    }

    /// Polls for the outcome and keeps it in the task, where [`try_outcome`](Task::try_outcome)
    /// and `.await` find it later. `Ready(None)` means the task finished but its outcome was
    /// already taken. For combinators that report *which* tasks finished and leave the outcomes
    /// to the caller ([`wait`](crate::wait)).
    ///
    /// Not subject to tokio's cooperative budget: a combinator scanning many finished tasks in
    /// one poll must see every one of them as finished.
    pub(crate) fn poll_settled(&mut self, cx: &mut Context<'_>) -> Poll<Option<&Outcome<T, E>>> {
        self.raw.poll_settled(cx)
    }

    /// Waits for the outcome without giving up the handle (the handle stays usable for
    /// [`id`](Task::id), [`name`](Task::name) and so on). asyncio: `await task`.
    ///
    /// # Panics
    ///
    /// The returned future panics if the outcome was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn_named("job", async { Ok::<u8, ()>(5) });
    /// assert_eq!(t.join().await.unwrap(), 5);
    /// assert_eq!(&*t.name(), "job"); // the handle is still here
    /// # }
    /// ```
    pub fn join(&mut self) -> Join<'_, T, E> {
        Join { task: self }
    }

    /// Polls for the outcome. Used by [`Join`] and by combinators that own tasks.
    ///
    /// # Panics
    ///
    /// Panics if the outcome was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut t = corral::spawn(async { Ok::<u8, ()>(9) });
    /// let o = std::future::poll_fn(|cx| t.poll_outcome(cx)).await;
    /// assert_eq!(o.unwrap(), 9);
    /// # }
    /// ```
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        self.raw.poll_outcome(cx)
    }
}

impl<T, E> fmt::Debug for Task<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The future that waits for a task's outcome, borrowing its handle. See [`Task::join`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut t = corral::spawn(async { Ok::<u8, ()>(1) });
/// let join: corral::Join<'_, u8, ()> = t.join();
/// assert_eq!(join.await.unwrap(), 1);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Join<'a, T, E> {
    pub(crate) task: &'a mut Task<T, E>,
}

impl<T, E> Future for Join<'_, T, E> {
    type Output = Outcome<T, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        self.task.poll_outcome(cx)
    }
}

/// The future that waits for a task's outcome, owning its handle (dropping it aborts the task).
/// This is what `task.await` runs.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::future::IntoFuture;
/// let fut: corral::TaskFuture<u8, ()> = corral::spawn(async { Ok::<u8, ()>(2) }).into_future();
/// assert_eq!(fut.await.unwrap(), 2);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct TaskFuture<T, E> {
    pub(crate) task: Task<T, E>,
}

impl<T, E> TaskFuture<T, E> {
    /// The task being waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::future::IntoFuture;
    /// let t = corral::spawn_named("w", async { Ok::<(), ()>(()) });
    /// let fut: corral::TaskFuture<(), ()> = t.into_future();
    /// assert_eq!(&*fut.task().name(), "w");
    /// fut.await.unwrap();
    /// # }
    /// ```
    pub fn task(&self) -> &Task<T, E> {
        &self.task
    }
}

impl<T, E> Future for TaskFuture<T, E> {
    type Output = Outcome<T, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        self.task.poll_outcome(cx)
    }
}

impl<T, E> Unpin for TaskFuture<T, E> {}

impl<T, E> IntoFuture for Task<T, E> {
    type Output = Outcome<T, E>;
    type IntoFuture = TaskFuture<T, E>;
    fn into_future(self) -> TaskFuture<T, E> {
        TaskFuture { task: self }
    }
}

impl<'a, T, E> IntoFuture for &'a mut Task<T, E> {
    type Output = Outcome<T, E>;
    type IntoFuture = Join<'a, T, E>;
    fn into_future(self) -> Join<'a, T, E> {
        self.join()
    }
}
