//! Spawned tasks: [`spawn`], [`spawn_named`], [`Builder`], the [`Task`] handle, the current
//! task ([`current_task`]), and [`Awaitable`], the one input trait of every combinator.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::cancel::{Payload, Scope, Verdict, DEFAULT_GRACE};
use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};

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

/// What the root scope of a task knows about the task. Its name and grace period, when given,
/// are kept with the scope's rarely used state (see `Scope::root`), so that an unnamed task
/// with the default grace carries neither.
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) spawned_at: tokio::time::Instant,
}

/// The name of the task whose root scope is `scope`: the one it was given, or `Task-<id>`
/// (made on demand, so an unnamed task stores no string).
fn task_name(scope: &Scope, meta: &TaskMeta) -> Arc<str> {
    scope
        .task_name()
        .unwrap_or_else(|| Arc::from(format!("Task-{}", meta.id.0)))
}

/// A shared reference to a task: its id and name, and the means to ask it to stop. It does not
/// own the task; dropping it does nothing. Get one with [`Task::task_ref`] or [`current_task`].
///
/// asyncio: the `Task` object as seen from `current_task()`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = corral::spawn_named("worker", async {
///     let me = corral::current_task().expect("inside a corral task");
///     Ok::<String, ()>(me.name().to_string())
/// });
/// assert_eq!(t.await.unwrap(), "worker");
/// # }
/// ```
#[derive(Clone)]
pub struct TaskRef {
    scope: Arc<Scope>,
}

impl TaskRef {
    /// The task whose root scope is `scope` (a scope made by [`Builder::spawn_cell`]).
    pub(crate) fn from_scope(scope: Arc<Scope>) -> TaskRef {
        TaskRef { scope }
    }

    fn meta(&self) -> &TaskMeta {
        self.scope.task().expect("a task's root scope has its meta")
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert_eq!(t.task_ref().id(), t.id());
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.meta().id
    }

    /// The task's name: the one it was given, or `Task-<id>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn_named("fetcher", async { Ok::<(), ()>(()) });
    /// assert_eq!(&*t.task_ref().name(), "fetcher");
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        task_name(&self.scope, self.meta())
    }

    /// Renames the task. asyncio: `Task.set_name()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async {
    ///     corral::current_task().unwrap().set_name("renamed");
    ///     Ok::<(), ()>(())
    /// });
    /// let r = t.task_ref();
    /// t.await.unwrap();
    /// assert_eq!(&*r.name(), "renamed");
    /// # }
    /// ```
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.scope.set_task_name(name.into())
    }

    /// How long the task has existed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    /// assert_eq!(t.task_ref().age(), std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn age(&self) -> Duration {
        self.meta().spawned_at.elapsed()
    }

    /// Asks the task to stop (see [`Task::cancel`]). Returns false if it was already asked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let r = t.task_ref();
    /// assert!(r.cancel());
    /// assert!(!r.cancel()); // asked already
    /// assert!(t.await.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        self.scope.request(Cancelled::new())
    }

    /// Asks the task to stop, with a message its outcome will carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// t.task_ref().cancel_with("shutting down");
    /// match t.await {
    ///     corral::Outcome::Cancelled(c) => assert_eq!(c.message(), Some("shutting down")),
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.scope.request(Cancelled::with_message(message))
    }

    /// True once the task has been asked to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let r = t.task_ref();
    /// assert!(!r.is_cancel_requested());
    /// t.cancel();
    /// assert!(r.is_cancel_requested());
    /// # }
    /// ```
    pub fn is_cancel_requested(&self) -> bool {
        self.scope.is_requested()
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// The corral task whose code is running, or `None` outside any corral task.
///
/// asyncio: `asyncio.current_task()`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(corral::current_task().is_none());
/// let t = corral::spawn(async { Ok::<_, ()>(corral::current_task().map(|t| t.id())) });
/// let id = t.id();
/// assert_eq!(t.await.unwrap(), Some(id));
/// # }
/// ```
pub fn current_task() -> Option<TaskRef> {
    crate::cancel::current()
        .and_then(|s| s.task_scope())
        .map(|scope| TaskRef { scope })
}

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
        self.spawn_cell(|_| (fut, ())).0
    }

    /// Spawns the body `make` returns, with `ext` kept in the task's scope allocation beside
    /// the body and the outcome (a group keeps its node for the child there: one allocation
    /// instead of two). `make` is given a weak reference to that allocation. Returns the handle
    /// and the allocation.
    #[allow(clippy::type_complexity)]
    pub(crate) fn spawn_cell<F, T, E, X>(
        self,
        make: impl FnOnce(&Weak<Scope<TaskCell<F, T, E, X>>>) -> (F, X),
    ) -> (Task<T, E>, Arc<Scope<TaskCell<F, T, E, X>>>)
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Ok = T, Err = E>,
        T: Send + 'static,
        E: Send + 'static,
        X: Send + Sync + 'static,
    {
        let meta = TaskMeta {
            id: TaskId::next(),
            spawned_at: tokio::time::Instant::now(),
        };
        let cell = Scope::root_cyclic(
            |me| {
                let (fut, ext) = make(me);
                TaskCell {
                    meta,
                    stage: UnsafeCell::new(Stage::Running(fut)),
                    ext,
                }
            },
            self.name,
            self.grace,
        );
        let scope: Arc<Scope<dyn TaskOut<T, E>>> = cell.clone();
        let handle = tokio::spawn(Root {
            cell: cell.clone(),
            grace_timer: None,
            registered: false,
        });
        let task = Task {
            handle: Some(handle),
            scope,
            _outcome: PhantomData,
        };
        (task, cell)
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
/// [`TaskRef`].
pub(crate) struct TaskCell<F, T, E, X = ()> {
    meta: TaskMeta,
    /// Accessed by [`Root`] while it is alive (it is the body's only poller, and it is dropped
    /// before its `JoinHandle` reports the end), then only by the one [`Task`] handle, once it
    /// has seen the end.
    stage: UnsafeCell<Stage<F, T, E>>,
    /// What the spawner keeps with the task (see [`Builder::spawn_cell`]); `()` for most.
    pub(crate) ext: X,
}

// SAFETY: `stage` is the only field that is not `Sync`, and it is never accessed by two
// threads at once: while the task runs, only its `Root` touches it (through `&mut Root`, so
// one thread at a time); tokio drops the `Root` (the future) before it marks the task
// complete, and the one `Task` handle touches `stage` only after its `JoinHandle` has reported
// that completion (tokio's state transition orders the two). `TaskRef`s never touch it.
// Everything in it is `Send`, so handing it from thread to thread is fine.
unsafe impl<F: Send, T: Send, E: Send, X: Sync> Sync for TaskCell<F, T, E, X> {}

impl<F: Send, T: Send, E: Send, X: Send + Sync> Payload for TaskCell<F, T, E, X> {
    fn task(&self) -> Option<&TaskMeta> {
        Some(&self.meta)
    }
}

/// What a [`Task`] handle sees of its task's [`TaskCell`]: the outcome, its body type erased.
pub(crate) trait TaskOut<T, E>: Payload {
    /// Takes the outcome, leaving [`Stage::Empty`].
    ///
    /// # Safety
    ///
    /// Only the task's handle may call this, and only after the task's `JoinHandle` reported
    /// the end (see [`TaskCell::stage`]).
    unsafe fn take(&self) -> Option<Outcome<T, E>>;
    /// The outcome, if it is there. Safety: as [`take`](TaskOut::take).
    unsafe fn peek(&self) -> Option<&Outcome<T, E>>;
    /// Stores the outcome (of a task tokio ended: aborted or panicked). Safety: as
    /// [`take`](TaskOut::take).
    unsafe fn put(&self, outcome: Outcome<T, E>);
}

impl<F: Send, T: Send, E: Send, X: Send + Sync> TaskOut<T, E> for TaskCell<F, T, E, X> {
    unsafe fn take(&self) -> Option<Outcome<T, E>> {
        // SAFETY: the caller is the handle after the end: nobody else touches `stage`.
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

/// The future tokio runs for a task: polls the body (in the task's [`TaskCell`]) inside the
/// task's root scope, and leaves the outcome there. Small on purpose: tokio's task cell holds
/// it, and a cell whose future and output fit in 24 bytes is 128 bytes instead of 256.
struct Root<F, T, E, X = ()>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    cell: Arc<Scope<TaskCell<F, T, E, X>>>,
    grace_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The task's waker is registered with the scope (tokio's waker for a task never changes).
    registered: bool,
}

impl<F: Send, T: Send, E: Send, X> TaskCell<F, T, E, X> {
    /// The body, or `None` once it has ended.
    ///
    /// # Safety
    ///
    /// Only the task's [`Root`], while it is alive, and not while an earlier result of this
    /// call is still in use (see [`TaskCell::stage`]).
    #[allow(clippy::mut_from_ref)]
    unsafe fn body(&self) -> Option<Pin<&mut F>> {
        // SAFETY: the caller is the root, the only one touching `stage` while it is alive,
        // with no other borrow of it live. The stage lives in an `Arc` allocation that never
        // moves, and a `Running` body is only ever dropped in place (by assigning the stage),
        // so pinning it is sound.
        match unsafe { &mut *self.stage.get() } {
            Stage::Running(f) => Some(unsafe { Pin::new_unchecked(f) }),
            _ => None,
        }
    }
}

/// Ends the task's stage with `outcome` (or empties it), dropping a body still there inside
/// the task's scope, so that its destructors (its cleanup) run as part of the task:
/// `current_task()` works in them.
///
/// # Safety
///
/// As [`TaskCell::body`], and no result of `body` may be in use.
unsafe fn end<F: Send + 'static, T: Send + 'static, E: Send + 'static, X: Send + Sync + 'static>(
    cell: &Scope<TaskCell<F, T, E, X>>,
    outcome: Option<Outcome<T, E>>,
) {
    let stage = cell.payload.stage.get();
    let scope: &Scope = cell;
    scope.enter(|| {
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
    F: Send + 'static,
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
    F: Future + Send + 'static,
    F::Output: IntoOutcome<Ok = T, Err = E>,
    T: Send + 'static,
    E: Send + 'static,
    X: Send + Sync + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let cell: &Scope<TaskCell<F, T, E, X>> = &this.cell;
        let scope: &Scope = cell;
        if !this.registered {
            scope.set_owner_waker(cx.waker());
            this.registered = true;
        }
        // SAFETY (every `body` and `end` below): we are the task's root, polled through
        // `&mut`, and each `body()` borrow ends before the next call.
        if let Verdict::Stop(why) = scope.task_verdict() {
            unsafe { end(cell, Some(Outcome::Cancelled(why))) };
            return Poll::Ready(());
        }
        let polled = match unsafe { cell.payload.body() } {
            Some(fut) => scope.enter(|| fut.poll(cx)),
            None => panic!("corral task polled after completion"),
        };
        let outcome = match polled {
            Poll::Ready(out) => {
                // A request nobody listened to (e.g. the task cancelled itself and returned)
                // wins over the value, as in asyncio.
                let outcome = match scope.finished_verdict() {
                    Some(why) => Outcome::Cancelled(why),
                    None => out.into_outcome(),
                };
                // A body that has returned is dropped outside the scope (as it always was):
                // entering it is for cleanup of bodies stopped part-way.
                // SAFETY: as above.
                unsafe { *cell.payload.stage.get() = Stage::Finished(outcome) };
                return Poll::Ready(());
            }
            Poll::Pending => match scope.task_verdict() {
                Verdict::Stop(why) => Outcome::Cancelled(why),
                Verdict::Continue(Some(until)) => {
                    let timer = this
                        .grace_timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    Outcome::Cancelled(scope.request_reason().unwrap_or_default())
                }
                Verdict::Continue(None) => return Poll::Pending,
            },
        };
        unsafe { end(cell, Some(outcome)) };
        Poll::Ready(())
    }
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
pub struct Task<T, E> {
    /// `None` once the handle has seen the end (the outcome is then in the cell, or taken), or
    /// after `detach`.
    handle: Option<JoinHandle<()>>,
    /// The task's root scope, whose payload holds the outcome.
    scope: Arc<Scope<dyn TaskOut<T, E>>>,
    /// The outcome is the handle's to hand out: `Task` is `Send`/`Sync` as an outcome is.
    _outcome: PhantomData<Outcome<T, E>>,
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
            scope: self.scope.clone(),
        }
    }

    /// The task's root scope, as the cancel machinery sees it.
    fn root_scope(&self) -> &Scope {
        &*self.scope
    }

    fn meta(&self) -> &TaskMeta {
        self.scope
            .payload
            .task()
            .expect("a task's root scope has its meta")
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
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Asks the task to stop. Returns false if it has already finished, or was already asked.
    ///
    /// If the task is listening ([`cancelled()`](crate::cancelled)), the request is delivered
    /// to it and it may clean up and end as it chooses within its grace period, after which it
    /// is aborted. If it is not listening, it is stopped at its next suspension point, and a
    /// task that has not started yet never runs.
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
        if let Some(h) = &self.handle {
            h.abort();
        }
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
    pub fn detach(mut self) {
        self.handle.take();
    }

    /// The outcome, if the task has finished and the outcome has not been taken yet. Never
    /// waits. After it returns `Some`, awaiting the task panics.
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
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let _ = self.poll_end_unconstrained(&mut cx);
        }
        if self.handle.is_some() {
            return None;
        }
        // SAFETY: we are the task's handle, and it has seen the end (`handle` is `None`; a
        // detached handle is gone).
        unsafe { self.scope.payload.take() }
    }

    /// Polls for the outcome and keeps it in the task, where [`try_outcome`](Task::try_outcome)
    /// and `.await` find it later. `Ready(None)` means the task finished but its outcome was
    /// already taken. For combinators that report *which* tasks finished and leave the outcomes
    /// to the caller ([`wait`](crate::wait)).
    ///
    /// Not subject to tokio's cooperative budget: a combinator scanning many finished tasks in
    /// one poll must see every one of them as finished.
    pub(crate) fn poll_settled(&mut self, cx: &mut Context<'_>) -> Poll<Option<&Outcome<T, E>>> {
        if self.handle.is_some() && self.poll_end_unconstrained(cx).is_pending() {
            return Poll::Pending;
        }
        // SAFETY: as in `try_outcome`.
        Poll::Ready(unsafe { self.scope.payload.peek() })
    }

    /// [`poll_end`](Task::poll_end) outside tokio's cooperative budget.
    pub(crate) fn poll_end_unconstrained(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // `task::unconstrained` moved to `task::coop` in tokio 1.44; the old path works on the
        // whole supported range.
        #[allow(deprecated)]
        let mut fut = tokio::task::unconstrained(std::future::poll_fn(|cx| self.poll_end(cx)));
        Pin::new(&mut fut).poll(cx)
    }

    /// Polls the `JoinHandle`; once it reports the end, drops it (`handle` becomes `None`)
    /// and makes sure the cell holds the outcome (tokio's own ends, an abort or a panic, are
    /// stored there as `Cancelled` or `Panicked`). Call only while `handle` is `Some`.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(handle) = self.handle.as_mut() else {
            return Poll::Ready(());
        };
        let Poll::Ready(res) = Pin::new(handle).poll(cx) else {
            return Poll::Pending;
        };
        self.handle = None;
        let outcome = match res {
            Ok(()) => return Poll::Ready(()),
            Err(e) if e.is_panic() => Outcome::Panicked(Panic::from_payload(&*e.into_panic())),
            Err(_) => Outcome::Cancelled(self.root_scope().request_reason().unwrap_or_default()),
        };
        // SAFETY: we are the task's handle, and the `JoinHandle` just reported the end.
        unsafe { self.scope.payload.put(outcome) };
        Poll::Ready(())
    }

    /// Takes the outcome from the cell once the handle has seen the end.
    ///
    /// # Panics
    ///
    /// Panics if the outcome was already taken.
    fn take_outcome(&mut self) -> Outcome<T, E> {
        debug_assert!(self.handle.is_none());
        // SAFETY: as in `try_outcome`.
        unsafe { self.scope.payload.take() }
            .expect("the outcome of this corral task was already taken")
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
        if self.poll_end(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(self.take_outcome())
    }
}

impl<T, E> Task<T, E> {
    /// The task's `JoinHandle` (`None` if the handle has seen the end), for an owner that keeps
    /// the task's allocation already and polls the end with [`poll_handle_end`]. The task is
    /// not aborted.
    pub(crate) fn into_join_handle(mut self) -> Option<JoinHandle<()>> {
        self.handle.take()
    }
}

/// [`Task::poll_outcome`] outside tokio's cooperative budget, for a task whose `JoinHandle`
/// is kept apart from a [`Task`] (see [`Task::into_join_handle`]): `handle` becomes `None` when
/// it reports the end.
///
/// # Panics
///
/// Panics if the outcome was already taken.
///
/// # Safety
///
/// `handle` is the one handle of the task whose root scope is `scope` and whose payload is
/// `out` (`None` once it has seen the end), and only its owner calls this.
pub(crate) unsafe fn poll_handle_end<T, E>(
    handle: &mut Option<JoinHandle<()>>,
    scope: &Scope,
    out: &dyn TaskOut<T, E>,
    cx: &mut Context<'_>,
) -> Poll<Outcome<T, E>> {
    if let Some(h) = handle.as_mut() {
        // `task::unconstrained` moved to `task::coop` in tokio 1.44; the old path works on the
        // whole supported range.
        #[allow(deprecated)]
        let mut fut = tokio::task::unconstrained(Pin::new(h));
        let Poll::Ready(res) = Pin::new(&mut fut).poll(cx) else {
            return Poll::Pending;
        };
        *handle = None;
        let outcome = match res {
            Ok(()) => None,
            Err(e) if e.is_panic() => {
                Some(Outcome::Panicked(Panic::from_payload(&*e.into_panic())))
            }
            Err(_) => Some(Outcome::Cancelled(
                scope.request_reason().unwrap_or_default(),
            )),
        };
        if let Some(outcome) = outcome {
            // SAFETY: we are the task's handle (the caller's promise), and the `JoinHandle`
            // just reported the end.
            unsafe { out.put(outcome) };
        }
    }
    // SAFETY: as above; the handle has seen the end.
    Poll::Ready(unsafe { out.take() }.expect("the outcome of this corral task was already taken"))
}

impl<T, E> Drop for Task<T, E> {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
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
    task: &'a mut Task<T, E>,
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
    task: Task<T, E>,
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

/// Anything a corral combinator can wait for: any `Future` (polled in place, in the caller's
/// task), and a [`Task`] handle (the work runs elsewhere; the combinator waits for its outcome).
///
/// The difference matters in three places, and this trait is how combinators tell:
/// a zero timeout never polls a plain future but does read a finished task's outcome
/// ([`wait_for`](crate::wait_for)); a task is asked to stop gracefully rather than dropped;
/// and a task's `Cancelled` outcome is recognised as a cancellation.
///
/// You do not implement this; it is implemented for every `Future` and for `Task` (owned or
/// `&mut`).
///
/// asyncio: an "awaitable" (coroutine, Task or Future).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Plain futures and task handles both go into corral's combinators.
/// let in_place = corral::gather((1..=2u8).map(|i| async move { Ok::<u8, ()>(i) })).await;
/// let spawned = corral::gather([corral::spawn(async { Ok::<u8, ()>(1) })]).await;
/// assert_eq!(in_place.unwrap(), vec![1, 2]);
/// assert_eq!(spawned.unwrap(), vec![1]);
/// # }
/// ```
pub trait Awaitable: Sized {
    /// What waiting produces.
    type Output;
    /// The future that waits.
    type Future: Future<Output = Self::Output>;

    /// Starts waiting.
    fn into_awaitable(self) -> Self::Future;

    /// The output, if it is available without running any of the caller's code (a finished
    /// task). Plain futures return `None`: polling them would start them.
    #[doc(hidden)]
    fn ready_output(&mut self) -> Option<Self::Output> {
        None
    }

    /// Asks the work behind `fut` to stop gracefully. Returns false if the only way to stop it
    /// is to drop `fut` (plain futures).
    #[doc(hidden)]
    fn request_stop(_fut: Pin<&mut Self::Future>) -> bool {
        false
    }

    /// True if `out` says the work was cancelled.
    #[doc(hidden)]
    fn is_cancelled(_out: &Self::Output) -> bool {
        false
    }
}

impl<F: Future> Awaitable for F {
    type Output = F::Output;
    type Future = F;
    #[inline]
    fn into_awaitable(self) -> F {
        self
    }
}

impl<T, E> Awaitable for Task<T, E> {
    type Output = Outcome<T, E>;
    type Future = TaskFuture<T, E>;

    fn into_awaitable(self) -> TaskFuture<T, E> {
        TaskFuture { task: self }
    }

    fn ready_output(&mut self) -> Option<Outcome<T, E>> {
        self.try_outcome()
    }

    fn request_stop(fut: Pin<&mut TaskFuture<T, E>>) -> bool {
        fut.task.cancel();
        true
    }

    fn is_cancelled(out: &Outcome<T, E>) -> bool {
        out.is_cancelled()
    }
}

impl<'a, T, E> Awaitable for &'a mut Task<T, E> {
    type Output = Outcome<T, E>;
    type Future = Join<'a, T, E>;

    fn into_awaitable(self) -> Join<'a, T, E> {
        self.join()
    }

    fn ready_output(&mut self) -> Option<Outcome<T, E>> {
        self.try_outcome()
    }

    fn request_stop(fut: Pin<&mut Join<'a, T, E>>) -> bool {
        fut.task.cancel();
        true
    }

    fn is_cancelled(out: &Outcome<T, E>) -> bool {
        out.is_cancelled()
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
        assert_eq!(std::mem::size_of::<Task<Big, Big>>(), 24);
    }
}
