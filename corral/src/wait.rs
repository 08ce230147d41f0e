//! [`wait`]: wait on spawned tasks until all of them, the first of them, or the first failure
//! has finished, or until a timeout; get back which are done and which are still running.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::rt::WakeTable;
use crate::task::Task;

/// When [`wait`] returns.
///
/// asyncio: `asyncio.ALL_COMPLETED`, `FIRST_COMPLETED`, `FIRST_EXCEPTION`.
///
/// # Examples
///
/// ```
/// use corral::ReturnWhen;
///
/// assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnWhen {
    /// When every task has finished, however it ended (the default).
    #[default]
    AllCompleted,
    /// When at least one task has finished, however it ended.
    FirstCompleted,
    /// When a task has failed ([`Outcome::is_failure`](crate::Outcome::is_failure): an error
    /// or a panic), or else when every task has finished. A cancelled task is not a failure.
    FirstException,
}

/// The error of a [`wait`] given no tasks: there would be nothing to wait for, and no way to
/// ever return.
///
/// asyncio: the `ValueError` that `asyncio.wait(set())` raises.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let none: Vec<corral::Task<u8, ()>> = Vec::new();
/// let err = corral::wait(none).await.unwrap_err();
/// assert_eq!(err, corral::EmptyWait);
/// assert_eq!(err.to_string(), "wait was given no tasks to wait for");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EmptyWait;

impl fmt::Display for EmptyWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wait was given no tasks to wait for")
    }
}

impl std::error::Error for EmptyWait {}

mod sealed {
    pub trait Sealed {}
    impl<T, E> Sealed for crate::task::Task<T, E> {}
    impl<T, E> Sealed for &mut crate::task::Task<T, E> {}
}

/// What [`wait`] accepts: a [`Task`] handle, owned or borrowed.
///
/// * An owned `Task` belongs to the [`Wait`] future until it returns it in
///   [`Waited`]. Dropping the `Wait` half-way drops the tasks, which aborts them.
/// * A `&mut Task` stays yours: dropping the `Wait` only stops waiting, and the tasks run on
///   (asyncio's behaviour when the waiter is cancelled).
///
/// Sealed: implemented for `Task<T, E>` and `&mut Task<T, E>` only.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut a = corral::spawn(async { Ok::<u8, ()>(1) });
/// let mut b = corral::spawn(async { Ok::<u8, ()>(2) });
/// let waited = corral::wait([&mut a, &mut b]).await.unwrap();
/// assert_eq!(waited.done.len(), 2);
/// assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// # }
/// ```
pub trait WaitTask: sealed::Sealed {
    /// The task's success type.
    type Ok;
    /// The task's error type.
    type Err;
    /// The task handle.
    #[doc(hidden)]
    fn task_mut(&mut self) -> &mut Task<Self::Ok, Self::Err>;
    /// The task handle, shared.
    #[doc(hidden)]
    fn task(&self) -> &Task<Self::Ok, Self::Err>;
}

impl<T, E> WaitTask for Task<T, E> {
    type Ok = T;
    type Err = E;
    fn task_mut(&mut self) -> &mut Task<T, E> {
        self
    }
    fn task(&self) -> &Task<T, E> {
        self
    }
}

impl<T, E> WaitTask for &mut Task<T, E> {
    type Ok = T;
    type Err = E;
    fn task_mut(&mut self) -> &mut Task<T, E> {
        self
    }
    fn task(&self) -> &Task<T, E> {
        self
    }
}

/// Waits on spawned tasks until all of them have finished, or the first one, or the first
/// failure ([`ReturnWhen`]), or a timeout passes, and says which are done and which are not.
///
/// Configure the returned [`Wait`] with [`return_when`](Wait::return_when) (default
/// [`ReturnWhen::AllCompleted`]) and [`timeout`](Wait::timeout) (default none), then await it.
/// It resolves to [`Waited`]: the `done` and `pending` tasks, **both in input order**, as the
/// handles themselves (a task is known by its [`id`](Task::id) and [`name`](Task::name)), so
/// that `pending` can be waited on again as it is:
///
/// ```
/// use std::time::Duration;
/// use corral::ReturnWhen;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut pending: Vec<_> = [("slow", 3), ("fast", 1), ("mid", 2)]
///     .map(|(name, secs)| {
///         corral::spawn_named(name, async move {
///             tokio::time::sleep(Duration::from_secs(secs)).await;
///             Ok::<u64, ()>(secs)
///         })
///     })
///     .into();
/// let mut order = Vec::new();
/// // asyncio: while pending: done, pending = await wait(pending, return_when=FIRST_COMPLETED)
/// while !pending.is_empty() {
///     let waited = corral::wait(pending).return_when(ReturnWhen::FirstCompleted).await.unwrap();
///     for task in waited.done {
///         order.push(task.name().to_string());
///     }
///     pending = waited.pending;
/// }
/// assert_eq!(order, ["fast", "mid", "slow"]);
/// # }
/// ```
///
/// * **Done tasks keep their outcome**: awaiting one, or [`Task::try_outcome`], gives it at
///   once. `wait` itself never fails because a task did. (A task whose outcome you had
///   already taken before the wait counts as done, and not as a failure.)
/// * **Pending tasks keep running.** Wait on them again, cancel them, or drop them (dropping a
///   [`Task`] aborts it).
/// * **A timeout returns; it never cancels anything** and is not an error: the tasks that have
///   not finished are in `pending`.
/// * **The sets are computed when `wait` resumes**, not when the first trigger fires: a task
///   that finished in between is in `done` too.
///
/// `wait` is for spawned tasks only: it is about work that outlives a waiter. To wait on plain
/// futures polled in place, use [`gather`](crate::gather) or [`as_completed`](crate::as_completed).
///
/// asyncio: `asyncio.wait(tasks, timeout=None, return_when=ALL_COMPLETED)`.
///
/// # Errors
///
/// [`EmptyWait`] if `tasks` is empty (at once, rather than never returning).
///
/// # Cancel safety
///
/// Dropping the [`Wait`] before it resolves drops the owned tasks in it, **which aborts them**:
/// nothing it was given is left running. Pass `&mut Task` instead (see [`WaitTask`]) to keep
/// the tasks, and their outcomes, whatever happens to the waiter.
///
/// # Examples
///
/// FIRST_COMPLETED, then cancel the rest:
///
/// ```
/// use std::time::Duration;
/// use corral::ReturnWhen;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = [3, 1, 2].map(|secs| {
///     corral::spawn(async move {
///         tokio::time::sleep(Duration::from_secs(secs)).await;
///         Ok::<u64, ()>(secs)
///     })
/// });
/// let waited = corral::wait(tasks)
///     .return_when(ReturnWhen::FirstCompleted)
///     .await
///     .unwrap();
/// let first = waited.done.into_iter().next().unwrap();
/// assert_eq!(first.await.unwrap(), 1);
/// // The others are still running, in input order: cancel them and wait until they stop.
/// assert_eq!(waited.pending.len(), 2);
/// for task in &waited.pending {
///     task.cancel();
/// }
/// let rest = corral::wait(waited.pending).await.unwrap();
/// assert!(rest.done.iter().all(|t| t.state() == corral::TaskState::Cancelled));
/// # }
/// ```
///
/// A timeout hands back what is still running:
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = corral::spawn(async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<&str, ()>("slow")
/// });
/// let waited = corral::wait([slow]).timeout(Duration::from_secs(1)).await.unwrap();
/// assert!(waited.done.is_empty());
/// let slow = waited.pending.into_iter().next().unwrap();
/// assert_eq!(slow.await.unwrap(), "slow"); // not cancelled by the timeout
/// # }
/// ```
pub fn wait<I>(tasks: I) -> Wait<I::Item>
where
    I: IntoIterator,
    I::Item: WaitTask,
{
    Wait {
        tasks: tasks.into_iter().collect(),
        return_when: ReturnWhen::AllCompleted,
        timeout: None,
        state: None,
        finished: false,
    }
}

/// The future returned by [`wait`]: configure it, then await it.
///
/// It owns the tasks it was given until it resolves; dropping it before that aborts the owned
/// ones (see [`wait`]'s cancel safety).
///
/// asyncio: the coroutine `asyncio.wait(...)`.
///
/// # Panics
///
/// Polling it again after it has resolved panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::ReturnWhen;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = (0..3u8).map(|i| corral::spawn(async move { Ok::<u8, ()>(i) }));
/// let waited = corral::wait(tasks)
///     .return_when(ReturnWhen::AllCompleted)
///     .timeout(Duration::from_secs(1))
///     .await
///     .unwrap();
/// assert_eq!(waited.done.len(), 3);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Wait<W: WaitTask> {
    tasks: Vec<W>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
    /// Set up at the first poll: the timeout counts from there, as in asyncio.
    state: Option<Running>,
    finished: bool,
}

/// What a [`Wait`] tracks once it has been polled.
struct Running {
    /// One waker per task and the queue of tasks to look at (16 bytes a task, no allocation
    /// per task or per wake-up).
    table: WakeTable,
    /// Bit `i` set: task `i` is done.
    done: Vec<u64>,
    n_done: usize,
    failed: bool,
    deadline: Option<Pin<Box<Sleep>>>,
    at_deadline: bool,
}

impl Running {
    fn is_done(&self, index: usize) -> bool {
        self.done[index / 64] & (1 << (index % 64)) != 0
    }
}

impl<W: WaitTask> Wait<W> {
    /// When to return: [`ReturnWhen::AllCompleted`] (the default),
    /// [`FirstCompleted`](ReturnWhen::FirstCompleted) or
    /// [`FirstException`](ReturnWhen::FirstException).
    ///
    /// asyncio: `wait(..., return_when=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::ReturnWhen;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let ok = corral::spawn(async {
    ///     tokio::time::sleep(std::time::Duration::from_secs(9)).await;
    ///     Ok::<u8, &str>(1)
    /// });
    /// let bad = corral::spawn(async { Err::<u8, &str>("boom") });
    /// let (ok_id, bad_id) = (ok.id(), bad.id());
    /// let waited = corral::wait([ok, bad])
    ///     .return_when(ReturnWhen::FirstException)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(waited.done[0].id(), bad_id);
    /// assert_eq!(waited.pending[0].id(), ok_id);
    /// # }
    /// ```
    pub fn return_when(mut self, return_when: ReturnWhen) -> Self {
        self.return_when = return_when;
        self
    }

    /// Returns after at most this long even if the condition is not met, with the unfinished
    /// tasks in `pending`. The time counts from the first poll. `None` (the default) waits as
    /// long as it takes. A timeout never cancels a task and is not an error.
    ///
    /// At the deadline the wait yields to the scheduler once before it looks at the tasks, so
    /// that a task finishing at the very instant of the timeout counts as done.
    ///
    /// asyncio: `wait(..., timeout=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let waited = corral::wait([t]).timeout(Duration::from_millis(10)).await.unwrap();
    /// assert_eq!(waited.pending.len(), 1);
    /// let waited = corral::wait(waited.pending)
    ///     .timeout(None) // asyncio's timeout=None: no limit
    ///     .timeout(Duration::ZERO) // the last call wins
    ///     .await
    ///     .unwrap();
    /// assert_eq!(waited.pending.len(), 1);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    fn start(&mut self) -> Running {
        let n = self.tasks.len();
        let mut table = WakeTable::new();
        table.grow(n);
        // Every task gets looked at on the first poll.
        for index in 0..n {
            table.schedule(index);
        }
        // A timeout too long to represent is no timeout.
        let deadline = self
            .timeout
            .and_then(|t| Instant::now().checked_add(t))
            .map(|at| Box::pin(tokio::time::sleep_until(at)));
        Running {
            table,
            done: vec![0; n.div_ceil(64)],
            n_done: 0,
            failed: false,
            deadline,
            at_deadline: false,
        }
    }

    fn finish(&mut self) -> Waited<W> {
        self.finished = true;
        let mut state = self.state.take().expect("a running wait has its state");
        // Tasks still running keep our wakers; they must not wake a waiter that has moved on.
        state.table.clear_parent();
        let mut waited = Waited {
            done: Vec::with_capacity(state.n_done),
            pending: Vec::with_capacity(self.tasks.len() - state.n_done),
        };
        for (index, task) in std::mem::take(&mut self.tasks).into_iter().enumerate() {
            if state.is_done(index) {
                waited.done.push(task);
            } else {
                waited.pending.push(task);
            }
        }
        waited
    }
}

// The tasks are never pinned: they are polled through `&mut Task`, which needs no pin.
impl<W: WaitTask> Unpin for Wait<W> {}

impl<W: WaitTask> Future for Wait<W> {
    type Output = Result<Waited<W>, EmptyWait>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.finished, "corral::Wait polled after it resolved");
        if this.tasks.is_empty() {
            this.finished = true;
            return Poll::Ready(Err(EmptyWait));
        }
        if this.state.is_none() {
            this.state = Some(this.start());
        }
        let state = this.state.as_mut().expect("just set");

        state.table.register(cx.waker());
        state.table.collect();
        while let Some((index, waker)) = state.table.pop() {
            if state.is_done(index) {
                continue;
            }
            let mut task_cx = Context::from_waker(&waker);
            if let Poll::Ready(outcome) = this.tasks[index].task_mut().poll_settled(&mut task_cx) {
                state.done[index / 64] |= 1 << (index % 64);
                state.n_done += 1;
                state.failed |= outcome.is_some_and(|o| o.is_failure());
            }
        }

        let all = state.n_done == this.tasks.len();
        let met = match this.return_when {
            ReturnWhen::AllCompleted => all,
            ReturnWhen::FirstCompleted => state.n_done > 0,
            ReturnWhen::FirstException => all || state.failed,
        };
        if met || state.at_deadline {
            return Poll::Ready(Ok(this.finish()));
        }
        if let Some(deadline) = state.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                // Let tasks woken by the same timer tick finish before the sets are computed.
                state.at_deadline = true;
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

impl<W: WaitTask> Drop for Wait<W> {
    fn drop(&mut self) {
        // Borrowed tasks outlive the wait and keep our wakers until polled again: make those
        // wake nobody. Owned tasks are dropped with `self.tasks`, which aborts them.
        if let Some(state) = &mut self.state {
            state.table.clear_parent();
        }
    }
}

impl<W: WaitTask> fmt::Debug for Wait<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("tasks", &self.tasks.len())
            .field("return_when", &self.return_when)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What [`wait`] returns: the tasks that are done and those still running, **both in input
/// order**. Each is the handle [`wait`] was given, which says which task it is
/// ([`Task::id`], [`Task::name`]); `pending` has the shape `wait` takes, so it can be waited
/// on again as it is.
///
/// A done task holds its outcome: `.await` it, or call [`Task::try_outcome`], to get it at once
/// ([`Task::state`] and [`Task::with_outcome`] look without taking it). A pending task is still
/// running: wait on it again, cancel it, or drop it (which aborts it).
///
/// asyncio: the `(done, pending)` pair of sets.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tasks = ["a", "b"].map(|s| corral::spawn_named(s, async move { Ok::<&str, ()>(s) }));
/// let corral::Waited { done, pending } = corral::wait(tasks).await.unwrap();
/// assert!(pending.is_empty());
/// let mut values = Vec::new();
/// for task in done {
///     values.push((task.name().to_string(), task.await.unwrap()));
/// }
/// assert_eq!(values, [("a".to_string(), "a"), ("b".to_string(), "b")]);
/// # }
/// ```
pub struct Waited<W> {
    /// The tasks that have finished, in input order.
    pub done: Vec<W>,
    /// The tasks still running, in input order: pass it to [`wait`] again as it is.
    pub pending: Vec<W>,
}

impl<W: WaitTask> fmt::Debug for Waited<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |v: &[W]| v.iter().map(|t| t.task().id()).collect::<Vec<_>>();
        f.debug_struct("Waited")
            .field("done", &ids(&self.done))
            .field("pending", &ids(&self.pending))
            .finish()
    }
}
