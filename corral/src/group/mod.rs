//! Task groups: [`TaskGroup`] runs a body and the children it spawns, and returns only when
//! every one of them has ended. asyncio's `TaskGroup`, Trio's nursery.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use crate::cancel::{self, CancelListener, Payload, Scope, Verdict, DEFAULT_GRACE};
use crate::limit::{AcquireOwned, Limiter};
use crate::outcome::{Cancelled, Failure, IntoOutcome, Outcome, Panic};
use crate::task::{poll_handle_end, Builder, TaskCell, TaskId, TaskRef};

/// The message of the cancel request a failing group sends to its members.
const FAILING: &str = "task group is shutting down";

/// A group of tasks that ends only when its body and all its children have ended, cancels them
/// all on the first failure, and reports every failure.
///
/// Configure it with the builder methods, then [`run`](TaskGroup::run) a body that spawns
/// children through the [`Spawner`] it is given.
///
/// asyncio: `async with asyncio.TaskGroup() as tg:`. Trio: `async with trio.open_nursery()`.
///
/// # Shape, and why
///
/// * **A closure, not a guard.** Rust has no async drop, so a group that must wait for its
///   children on the way out cannot be a guard value. [`TaskGroup::run`] takes the body as a
///   closure and returns one future that ends only after the body and every child have ended:
///   the scope is the closure, and it cannot be left without waiting.
/// * **The body is polled in place**, inside the caller's task (like `async with` in asyncio),
///   so it may borrow from the caller. It runs inside a cancel scope the group owns, so the
///   group can stop it when a child fails.
/// * **Children are spawned tasks** (`Send + 'static`), so they run on every core. The handle
///   to spawn them, [`Spawner`], is `Clone + Send`: children may spawn more children.
/// * **The group owns its children.** The [`Child`] handle `spawn` returns does not abort the
///   child when dropped (unlike [`Task`](crate::Task)); it only reads the child's outcome, also
///   after the group has ended. Dropping the group's future aborts every child.
/// * **No error is lost.** Every error and panic, from the body and from every child, is kept in
///   one [`GroupError`] that names the member each came from. Errors do not have to be cloned:
///   a failed child's handle reports [`Reported`] and the error itself is in the group error.
///
/// # Cancellation
///
/// The first failure (an error or a panic, from a child or the body) cancels the siblings and
/// the body: they are sent cancel *requests*, so code that listens with
/// [`cancelled()`](crate::cancelled) gets its grace period, and code that does not is stopped
/// at once. Spawning is refused from then on. Cancelling one child through its handle is not a
/// failure. In [supervisor mode](TaskGroup::supervisor) a failing child cancels nothing.
///
/// When the code running the group is cancelled (its task, or an enclosing timeout or group),
/// the group cancels every child and its body at once (as Trio's cancel scopes do; asyncio
/// waits for the body to leave `async with` first) and waits for them. If nothing failed
/// meanwhile, it hands the cancellation back, so the enclosing task ends cancelled. If
/// something failed, the failures win: the group returns its [`GroupError`], and the request
/// counts as answered. The first failure that comes while the group is already cancelling
/// (for an enclosing cancel or [`Spawner::cancel`]) stops the body at once, even in its grace
/// period, as asyncio's group cancels its task again on its first error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let err = corral::TaskGroup::new()
///     .name("fetchers")
///     .run(|g| async move {
///         g.spawn_named("slow", async {
///             sleep(Duration::from_secs(10)).await; // cancelled at t=0.1
///             Ok::<(), String>(())
///         })
///         .map_err(|e| e.to_string())?;
///         g.spawn_named("bad", async {
///             sleep(Duration::from_millis(100)).await;
///             Err::<(), _>("boom".to_string())
///         })
///         .map_err(|e| e.to_string())?;
///         Ok(())
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.errors().collect::<Vec<_>>(), ["boom"]);
/// assert!(err.to_string().contains(r#""bad": boom"#));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a task group does nothing until run"]
pub struct TaskGroup {
    name: Option<Arc<str>>,
    limit: Option<usize>,
    supervisor: bool,
    grace: Duration,
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup {
            name: None,
            limit: None,
            supervisor: false,
            grace: DEFAULT_GRACE,
        }
    }
}

impl TaskGroup {
    /// A group with no name, no concurrency limit, fail-fast, and the
    /// [default grace period](crate::DEFAULT_GRACE) for its body.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let n = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let c = g.spawn(async { Ok::<u8, ()>(1) }).unwrap();
    ///         Ok::<u8, ()>(c.await.unwrap())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(n, 1);
    /// # }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The group's name, shown in its [`GroupError`] and in [`Spawner::tree`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .name("crawler")
    ///     .run(|g| async move {
    ///         g.spawn(async { Err::<(), _>("boom") }).unwrap();
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.group_name(), Some("crawler"));
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// At most `n` children run at once; the others wait, in spawn order. [`Spawner::spawn`]
    /// stays synchronous: each child waits for its permit inside its own task, so a child that
    /// is cancelled while waiting never starts.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0 (no child could ever run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = tokio::time::Instant::now();
    /// corral::TaskGroup::new()
    ///     .limit(3)
    ///     .run(|g| async move {
    ///         for _ in 0..9 {
    ///             g.spawn(async {
    ///                 tokio::time::sleep(Duration::from_secs(1)).await;
    ///                 Ok::<(), corral::SpawnError>(())
    ///             })?;
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(start.elapsed(), Duration::from_secs(3)); // three waves of three
    /// # }
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        assert!(n > 0, "a task group's limit must be at least 1");
        self.limit = Some(n);
        self
    }

    /// Supervisor mode: a failing child cancels neither its siblings nor the body. The group
    /// still waits for everyone, and still reports every failure in its [`GroupError`]. A
    /// failing body, an external cancel, or [`Spawner::cancel`] still cancel everything.
    ///
    /// Kotlin: `supervisorScope`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut ok = None;
    /// let err = corral::TaskGroup::new()
    ///     .supervisor()
    ///     .run(|g| {
    ///         let ok = &mut ok;
    ///         async move {
    ///             g.spawn(async { Err::<(), _>("one failed".to_string()) }).unwrap();
    ///             *ok = Some(g.spawn(async { tokio::task::yield_now().await; Ok(7) }).unwrap());
    ///             Ok(())
    ///         }
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.len(), 1);
    /// assert_eq!(ok.unwrap().try_outcome().unwrap().unwrap(), 7); // the sibling ran on
    /// # }
    /// ```
    pub fn supervisor(mut self) -> Self {
        self.supervisor = true;
        self
    }

    /// How long the body may keep running after the group asked it to stop, if it listens for
    /// the request with [`cancelled()`](crate::cancelled). Children have their own grace
    /// periods ([`Builder::grace`], via [`Spawner::spawn_with`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let start = tokio::time::Instant::now();
    /// let err = corral::TaskGroup::new()
    ///     .grace(Duration::from_secs(1))
    ///     .run(|g| async move {
    ///         g.spawn(async { Err::<(), _>("boom") }).unwrap();
    ///         let _request = corral::cancelled().await; // the body listens, then overruns its grace
    ///         std::future::pending::<Result<(), &str>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.len(), 1);
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Runs `body` with a [`Spawner`] for the group's children, and waits until the body and
    /// every child (including children spawned late, and children spawned by children) have
    /// ended.
    ///
    /// Returns the body's value if nothing failed. Otherwise returns a [`GroupError`] that lists
    /// every error and panic (the body's too), each with the member it came from. The body and
    /// the children share the error type `E`; an inner group's error nests in an outer one when
    /// `E: From<GroupError<E>>` and the body propagates it with `?`.
    ///
    /// asyncio: `async with TaskGroup() as tg: ...`.
    ///
    /// # Errors
    ///
    /// * A [`GroupError`] listing every failure, if the body or a child returned an error or
    ///   panicked.
    /// * A [`GroupError`] with no failures that [`is_cancelled`](GroupError::is_cancelled), if
    ///   the group was stopped through [`Spawner::cancel`] before the body returned a value.
    ///
    /// If the code around the group is cancelled and nothing fails meanwhile, the future hands
    /// the cancellation back and never resolves: its owner (a task, a timeout) drops it and
    /// reports the cancellation.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the body and aborts every child (no grace:
    /// that is Rust's cancellation). Nothing the group started is left running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::{sleep, Instant};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let (mut a, mut b) = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let a = g.spawn(async { sleep(Duration::from_millis(100)).await; Ok(42) })?;
    ///         let b = g.spawn(async { sleep(Duration::from_millis(200)).await; Ok(11) })?;
    ///         Ok::<_, corral::SpawnError>((a, b))
    ///     })
    ///     .await
    ///     .unwrap();
    /// // The group waited for both children; their outcomes stay readable.
    /// assert_eq!(start.elapsed(), Duration::from_millis(200));
    /// assert_eq!(a.try_outcome().unwrap().unwrap() + b.try_outcome().unwrap().unwrap(), 53);
    /// # }
    /// ```
    pub fn run<E, V, B, Fut>(self, body: B) -> impl Future<Output = Result<V, GroupError<E>>>
    where
        B: FnOnce(Spawner<E>) -> Fut,
        Fut: Future,
        Fut::Output: IntoOutcome<Ok = V, Err = E>,
        E: Send + 'static,
    {
        Run {
            start: Some((self, body)),
            running: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Which member of a group a failure came from: the body, or a child task.
///
/// # Examples
///
/// ```
/// let m = corral::Member::Body;
/// assert_eq!(m.to_string(), "body");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// The group's body (the closure given to [`TaskGroup::run`]).
    Body,
    /// A child task.
    Task {
        /// The child's id.
        id: TaskId,
        /// The child's name: the one it was given, or `Task-<id>`.
        name: Arc<str>,
    },
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::Body => f.write_str("body"),
            Member::Task { id, name } => write!(f, "task {id} \"{name}\""),
        }
    }
}

/// One failure in a [`GroupError`]: which member failed, and how (an error or a panic).
///
/// # Examples
///
/// ```
/// use corral::{Failure, GroupFailure, Member};
///
/// let f = GroupFailure { member: Member::Body, failure: Failure::Error("boom") };
/// assert_eq!(f.to_string(), "body: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFailure<E> {
    /// The member that failed.
    pub member: Member,
    /// How it failed: [`Failure::Error`] or [`Failure::Panicked`] (never `Cancelled`:
    /// a cancellation is not a failure).
    pub failure: Failure<E>,
}

impl<E: fmt::Display> fmt::Display for GroupFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A nested group's error spans several lines: indent them under this one.
        let text = self.failure.to_string().replace('\n', "\n    ");
        write!(f, "{}: {}", self.member, text)
    }
}

/// The error of a [`TaskGroup`]: **every** failure of its body and children, in the order the
/// group saw them, each with the member it came from. When the group was stopped through
/// [`Spawner::cancel`] and nothing failed, it holds no failure and
/// [`is_cancelled`](GroupError::is_cancelled) is true.
///
/// An inner group's error nests: if the body or a child of an outer group returns an inner
/// `GroupError` (converted into `E`), it is one failure of the outer group, and `Display`
/// shows it indented.
///
/// asyncio: `ExceptionGroup` (`BaseExceptionGroup`), as raised by `TaskGroup`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = corral::TaskGroup::new()
///     .name("jobs")
///     .run(|g| async move {
///         g.spawn_named("a", async { Err::<(), _>("disk full") }).unwrap();
///         // The failure of "a" cancels the body, whose cleanup fails too.
///         let _request = corral::cancelled().await;
///         Err::<(), _>("body gave up")
///     })
///     .await
///     .unwrap_err();
/// let mut errors: Vec<_> = err.errors().copied().collect();
/// errors.sort();
/// assert_eq!(errors, ["body gave up", "disk full"]);
/// assert!(err.to_string().starts_with(r#"task group "jobs" failed with 2 errors:"#));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError<E> {
    group: Option<Arc<str>>,
    failures: Vec<GroupFailure<E>>,
    cancelled: Option<Cancelled>,
}

impl<E> GroupError<E> {
    /// Every failure, in the order the group saw them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .supervisor()
    ///     .run(|g| async move {
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") }).unwrap();
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") }).unwrap();
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.failures().len(), 2);
    /// # }
    /// ```
    pub fn failures(&self) -> &[GroupFailure<E>] {
        &self.failures
    }

    /// Every failure, owned.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .supervisor()
    ///     .run(|g| async move {
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") }).unwrap();
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") }).unwrap();
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// let failures: Vec<corral::GroupFailure<&str>> = err.into_failures();
    /// assert_eq!(failures.len(), 2);
    /// # }
    /// ```
    pub fn into_failures(self) -> Vec<GroupFailure<E>> {
        self.failures
    }

    /// The errors (not the panics) members returned, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .supervisor()
    ///     .run(|g| async move {
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") }).unwrap();
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") }).unwrap();
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.errors().collect::<Vec<_>>(), [&"bad a", &"bad b"]);
    /// # }
    /// ```
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        self.failures.iter().filter_map(|f| match &f.failure {
            Failure::Error(e) => Some(e),
            _ => None,
        })
    }

    /// The panics of members, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(async {
    ///             panic!("kaboom");
    ///             #[allow(unreachable_code)]
    ///             Ok::<(), ()>(())
    ///         })
    ///         .unwrap();
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.panics().next().unwrap().message(), "kaboom");
    /// # }
    /// ```
    pub fn panics(&self) -> impl Iterator<Item = &Panic> {
        self.failures.iter().filter_map(|f| match &f.failure {
            Failure::Panicked(p) => Some(p),
            _ => None,
        })
    }

    /// How many failures there are.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .supervisor()
    ///     .run(|g| async move {
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") }).unwrap();
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") }).unwrap();
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.len(), 2);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// True if there is no failure (the group was cancelled through [`Spawner::cancel`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.cancel();
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_empty()); // cancelled, nothing failed
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// True if nothing failed and the group was cancelled through [`Spawner::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.cancel_with("enough");
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.failures.is_empty() && self.cancelled.is_some()
    }

    /// The cancellation, when [`is_cancelled`](GroupError::is_cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.cancel_with("enough");
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.cancelled().and_then(|c| c.message()), Some("enough"));
    /// # }
    /// ```
    pub fn cancelled(&self) -> Option<&Cancelled> {
        self.cancelled.as_ref().filter(|_| self.failures.is_empty())
    }

    /// The group's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .name("batch")
    ///     .run(|_g| async { Err::<(), _>("body failed") })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.group_name(), Some("batch"));
    /// # }
    /// ```
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_deref()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(name) => write!(f, "task group \"{name}\"")?,
            None => f.write_str("task group")?,
        }
        if self.failures.is_empty() {
            let c = self.cancelled.clone().unwrap_or_default();
            return write!(f, " was {c}");
        }
        let n = self.failures.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, " failed with {n} error{s}:")?;
        for failure in &self.failures {
            write!(f, "\n  - {failure}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}

/// Why [`Spawner::spawn`] refused a child. The future was dropped without being polled.
///
/// asyncio: the `RuntimeError` of `TaskGroup.create_task` ("is shutting down", "is finished").
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut saved = None;
/// corral::TaskGroup::new()
///     .run(|g| {
///         saved = Some(g.clone());
///         async { Ok::<(), ()>(()) }
///     })
///     .await
///     .unwrap();
/// let err = saved.unwrap().spawn(async { Ok(()) }).unwrap_err();
/// assert!(err.is_finished());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    group: Option<Arc<str>>,
    finished: bool,
}

impl SpawnError {
    /// True if the group had already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut saved = None;
    /// corral::TaskGroup::new()
    ///     .run(|g| {
    ///         saved = Some(g.clone());
    ///         async { Ok::<(), ()>(()) }
    ///     })
    ///     .await
    ///     .unwrap();
    /// let err = saved.unwrap().spawn(async { Ok(()) }).unwrap_err();
    /// assert!(err.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// True if the group was shutting down: a member had failed, or it was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(async { Err::<(), _>("bad") }).unwrap();
    ///         let _request = corral::cancelled().await; // a child failed: the group shuts down
    ///         let refused = g.spawn(async { Ok::<(), &str>(()) }).unwrap_err();
    ///         assert!(refused.is_shutting_down());
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.len(), 1);
    /// # }
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        !self.finished
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(name) => write!(f, "task group \"{name}\"")?,
            None => f.write_str("task group")?,
        }
        if self.finished {
            f.write_str(" is finished; the task was not started (spawn while the group runs)")
        } else {
            f.write_str(
                " is shutting down (a member failed, or it was cancelled); \
                 the task was not started",
            )
        }
    }
}

impl std::error::Error for SpawnError {}

/// The error half of a failed child's [`Outcome`], as its [`Child`] handle reports it: the
/// child returned an error, and the error itself went into the group's [`GroupError`] (so that
/// errors need not be cloned, and none is reported twice).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut child = None;
/// let err = corral::TaskGroup::new()
///     .run(|g| {
///         child = Some(g.spawn_named("c", async { Err::<(), _>("bad") }).unwrap());
///         async { Ok(()) }
///     })
///     .await
///     .unwrap_err();
/// let reported = child.unwrap().try_outcome().unwrap().err().unwrap();
/// assert_eq!(&*reported.name(), "c");
/// assert_eq!(err.errors().next(), Some(&"bad"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    id: TaskId,
    name: Arc<str>,
}

impl Reported {
    /// The failed child's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Err::<(), _>("bad") }).unwrap();
    ///         let id = child.id();
    ///         let reported = child.await.err().unwrap();
    ///         assert_eq!(reported.id(), id);
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await;
    /// assert!(err.is_err());
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The failed child's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn_named("parser", async { Err::<(), _>("bad") }).unwrap();
    ///         assert_eq!(&*child.await.err().unwrap().name(), "parser");
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await;
    /// assert!(err.is_err());
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        self.name.clone()
    }
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} \"{}\" failed; its error is in the group's error",
            self.id, self.name
        )
    }
}

impl std::error::Error for Reported {}

// ---------------------------------------------------------------------------------------------
// Children

/// A handle to a child of a [`TaskGroup`]: its id and name, a way to cancel it, and its
/// outcome once it has ended.
///
/// The group owns the child: **dropping this handle does not abort it**, and the group waits
/// for it either way. Await the handle (or [`try_outcome`](Child::try_outcome) after the group
/// has ended) for the outcome: the value, [`Reported`] for an error (the error itself is in
/// the group's [`GroupError`]), the panic, or the cancellation. If the group's future is
/// dropped, unfinished children are aborted and report `Cancelled`.
///
/// asyncio: the `Task` that `TaskGroup.create_task` returns.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let v = corral::TaskGroup::new()
///     .run(|g| async move {
///         let child = g.spawn(async { Ok::<u8, ()>(5) }).unwrap();
///         Ok::<_, ()>(child.await.unwrap() * 2) // waiting for a child inside the body
///     })
///     .await
///     .unwrap();
/// assert_eq!(v, 10);
/// # }
/// ```
pub struct Child<T: 'static> {
    /// The child's task allocation, whose node holds the slot its outcome waits in.
    node: Arc<Scope<dyn SlotCell<T>>>,
}

impl<T> Child<T> {
    /// The child's task.
    fn task(&self) -> TaskRef {
        TaskRef::from_scope(self.node.clone())
    }

    /// The child's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert_eq!(child.task_ref().id(), child.id());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.task().id()
    }

    /// The child's name: the one it was given, or `Task-<id>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn_named("resize", async { Ok::<(), ()>(()) }).unwrap();
    ///         assert_eq!(&*child.name(), "resize");
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        self.task().name()
    }

    /// A shared reference to the child task.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         let r = child.task_ref();
    ///         r.cancel();
    ///         assert!(child.await.is_cancelled());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn task_ref(&self) -> TaskRef {
        self.task()
    }

    /// Asks the child to stop (see [`Task::cancel`](crate::Task::cancel)). A child that ends
    /// cancelled is not a failure of the group. Returns false if it has already ended or was
    /// already asked.
    ///
    /// asyncio: `task.cancel()` on a group's task.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         assert!(child.cancel());
    ///         assert!(child.await.is_cancelled()); // not a failure: the group goes on
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        !self.is_finished() && self.task().cancel()
    }

    /// Like [`cancel`](Child::cancel), with a message the outcome will carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         child.cancel_with("not needed");
    ///         match child.await {
    ///             corral::Outcome::Cancelled(c) => assert_eq!(c.message(), Some("not needed")),
    ///             other => panic!("{other:?}"),
    ///         }
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        !self.is_finished() && self.task().cancel_with(message)
    }

    /// True once the group has collected the child's outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let mut child = g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert!(!child.is_finished());
    ///         (&mut child).await.unwrap();
    ///         assert!(child.is_finished());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.node.payload.slot().is_settled()
    }

    /// The outcome, if the child has ended and the outcome has not been taken yet. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let mut child = g.spawn(async { Ok::<u8, ()>(4) }).unwrap();
    ///         assert!(child.try_outcome().is_none()); // not finished yet
    ///         tokio::task::yield_now().await;
    ///         tokio::task::yield_now().await;
    ///         assert_eq!(child.try_outcome().map(|o| o.unwrap()), Some(4));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn try_outcome(&mut self) -> Option<Outcome<T, Reported>> {
        let o = self.node.payload.slot().lock().take();
        o.map(|o| self.reported(o))
    }

    /// The stored outcome with its error made a [`Reported`] naming this child.
    fn reported(&self, o: Outcome<T, ()>) -> Outcome<T, Reported> {
        match o {
            Outcome::Ok(v) => Outcome::Ok(v),
            Outcome::Err(()) => Outcome::Err(Reported {
                id: self.id(),
                name: self.name(),
            }),
            Outcome::Panicked(p) => Outcome::Panicked(p),
            Outcome::Cancelled(c) => Outcome::Cancelled(c),
        }
    }
}

impl<T> Future for Child<T> {
    type Output = Outcome<T, Reported>;

    /// # Panics
    ///
    /// Panics if the outcome was already taken.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.node.payload.slot().lock();
        if let Some(o) = s.take() {
            drop(s);
            return Poll::Ready(self.reported(o));
        }
        assert!(
            !matches!(s.outcome, Stored::Taken),
            "the outcome of this group child was already taken"
        );
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Child<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Where a child's outcome waits for its handle. An error is kept as `Err(())`: the handle
/// makes the [`Reported`] from the child's own allocation (its id and name) when it takes it,
/// so the slot holds a word-sized value's outcome in 16 bytes, not 32.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    outcome: Stored<T>,
    waker: Option<Waker>,
}

/// A slot's outcome: not there yet, there, or taken by the handle.
enum Stored<T> {
    Empty,
    Filled(Outcome<T, ()>),
    Taken,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: Stored::Empty,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // Every update is one assignment, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the slot holds an outcome or the outcome was taken.
    fn is_settled(&self) -> bool {
        !matches!(self.lock().outcome, Stored::Empty)
    }

    fn fill(&self, outcome: Outcome<T, ()>) {
        let waker = {
            let mut s = self.lock();
            if !matches!(s.outcome, Stored::Empty) {
                return;
            }
            s.outcome = Stored::Filled(outcome);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> SlotState<T> {
    /// Takes the outcome if it is there (the slot is then `Taken`).
    fn take(&mut self) -> Option<Outcome<T, ()>> {
        if !matches!(self.outcome, Stored::Filled(_)) {
            return None;
        }
        match std::mem::replace(&mut self.outcome, Stored::Taken) {
            Stored::Filled(o) => Some(o),
            _ => None,
        }
    }
}

/// What a child is doing, as [`Spawner::children`] reports it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// corral::TaskGroup::new()
///     .limit(1)
///     .run(|g| async move {
///         g.spawn(async {
///             tokio::time::sleep(Duration::from_secs(1)).await;
///             Ok::<(), ()>(())
///         })
///         .unwrap();
///         g.spawn(async { Ok::<(), ()>(()) }).unwrap();
///         tokio::task::yield_now().await;
///         let states: Vec<corral::ChildState> = g.children().iter().map(|c| c.state).collect();
///         // the second waits for the first's permit
///         assert_eq!(states, [corral::ChildState::Running, corral::ChildState::Waiting]);
///         Ok::<(), ()>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildState {
    /// Spawned, not started yet: waiting for a permit of the group's
    /// [limit](TaskGroup::limit), or for its first turn on the runtime.
    Waiting,
    /// Running its future.
    Running,
    /// Asked to stop, and not finished yet (cleaning up in its grace period, or about to be
    /// dropped).
    Cancelling,
}

impl fmt::Display for ChildState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildState::Waiting => "waiting",
            ChildState::Running => "running",
            ChildState::Cancelling => "cancelling",
        })
    }
}

/// A snapshot of one running child of a group. See [`Spawner::children`].
///
/// asyncio: one line of `python -m asyncio ps`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// corral::TaskGroup::new()
///     .run(|g| async move {
///         g.spawn_named("w", std::future::pending::<Result<(), ()>>()).unwrap();
///         let info = &g.children()[0];
///         assert_eq!(&*info.name, "w");
///         assert_eq!(info.state, corral::ChildState::Waiting); // not polled yet
///         g.cancel();
///         Ok::<(), ()>(())
///     })
///     .await
///     .ok();
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: TaskId,
    /// The child's name.
    pub name: Arc<str>,
    /// How long ago it was spawned.
    pub age: Duration,
    /// What it is doing.
    pub state: ChildState,
}

impl fmt::Display for ChildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} \"{}\": {} for {:?}",
            self.id,
            self.name,
            self.state,
            whole_ms(self.age)
        )
    }
}

/// Ages shown to people: whole milliseconds are enough, and read better.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

const WAITING: u8 = 0;
const RUNNING: u8 = 1;

/// What the group and its tree know about one child, and (its tail, `slot`) where the child's
/// outcome waits for its [`Child`] handle and the child's `JoinHandle`. It lives in the child's
/// task allocation (the `ext` of its [`TaskCell`], see [`ChildCell`]), so a child costs that
/// allocation and tokio's task cell, nothing more; that allocation is also the child's waker
/// (it queues the child's key in the group's [`ReadyQueue`]).
struct ChildMeta<S: ?Sized = dyn Erased> {
    /// `WAITING`, then `RUNNING`. In a group with a limit, a `RUNNING` child holds a permit,
    /// taken out of the limiter without a guard
    /// ([`OwnedPermit::forget`](crate::OwnedPermit::forget)), so the node needs no slot for
    /// it: the group gives it back ([`Limiter::release`]) when it collects the
    /// child, after reacting to its outcome (a failure cancels the waiting children before the
    /// permit could start one of them). A group that is dropped keeps its children's permits:
    /// its limiter goes with it, and nothing can be spawned in it any more.
    state: AtomicU8,
    /// The child's key in the group's `children`, and the queue its wake-ups go to.
    key: u32,
    queue: Weak<ReadyQueue>,
    slot: S,
}

/// The one allocation of a child besides tokio's task cell: its task's root scope, whose
/// payload holds the body, the outcome and (as `ext`) the child's [`ChildMeta`].
type ChildCell<F, T, E> = Scope<TaskCell<Enrolled<F>, T, E, ChildMeta<ChildTail<T>>>>;

/// A child's allocation as the tree sees it (its body and types erased): its node.
trait NodeCell: Payload {
    fn node(&self) -> &ChildMeta;
}

/// A child's allocation as its [`Child`] handle sees it: the slot its outcome waits in.
trait SlotCell<T>: NodeCell {
    fn slot(&self) -> &Slot<T>;
}

/// A child's allocation as the group holds it, with its output type erased.
trait HeldCell<E>: NodeCell {
    /// Polls for the end; when it comes, fills the handle's slot and returns the failure, if
    /// the child failed. `me` must be the allocation `self` is the payload of.
    fn poll_end(&self, me: &Scope, cx: &mut Context<'_>) -> Poll<Option<Failure<E>>>;
    /// Lets go of the child: aborts it if it is still running and, if it had not ended, tells
    /// its handle it was cancelled.
    fn release(&self);
    /// The child's waker. `me` must be the allocation `self` is the payload of.
    fn waker(&self, me: &Arc<Scope<dyn HeldCell<E>>>) -> Waker;
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
        assert!(std::ptr::eq(
            &me.payload as *const dyn Payload as *const (),
            self as *const Self as *const ()
        ));
        let tail = &self.ext.slot;
        let mut handle = tail.handle.lock().unwrap_or_else(|e| e.into_inner());
        // Outside tokio's cooperative budget: once the budget is spent, a finished child's
        // `JoinHandle` reports `Pending` and wakes itself, so a pass over many finished
        // children would re-queue all but the first ~128 of them, pass after pass (quadratic).
        // SAFETY: `handle` is the one `JoinHandle` of this task (its `Task` gave it up at
        // spawn), only the group polls it (under this lock), `me` is its root scope (checked
        // above) and `self` its payload.
        let outcome = match unsafe { poll_handle_end(&mut handle, me, self, cx) } {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(o) => o,
        };
        drop(handle);
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
        let handle = tail.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        // Still running: the group's future was dropped.
        if let Some(h) = handle {
            h.abort();
        }
        if tail.slot.is_settled() {
            return;
        }
        tail.slot.fill(Outcome::Cancelled(Cancelled::with_message(
            "task group was dropped",
        )));
    }

    fn waker(&self, me: &Arc<Scope<dyn HeldCell<E>>>) -> Waker {
        assert!(std::ptr::eq(
            &me.payload as *const dyn HeldCell<E> as *const (),
            self as *const Self as *const ()
        ));
        let raw = Arc::into_raw(me.clone()).cast::<ChildCell<F, T, E>>();
        // SAFETY: `me` is the allocation whose payload is `self` (checked above), so its value
        // is a `ChildCell<F, T, E>`: the pointer, stripped of its metadata, is one `Arc::into_raw`
        // of that type would give, and the strong count taken by the clone is handed over.
        let me = unsafe { Arc::from_raw(raw) };
        Waker::from(me)
    }
}

/// The child's waker: queues its key in the group's [`ReadyQueue`].
impl<F, T, E> Wake for ChildCell<F, T, E>
where
    F: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let node = &self.payload.ext;
        if let Some(q) = node.queue.upgrade() {
            q.push(node.key);
        }
    }
}

/// What [`Spawner::children`] and the tree show of a child.
fn info(cell: &Arc<Scope<dyn NodeCell>>) -> ChildInfo {
    let task = TaskRef::from_scope(cell.clone());
    let state = if task.is_cancel_requested() {
        ChildState::Cancelling
    } else if cell.payload.node().state.load(Ordering::Relaxed) == RUNNING {
        ChildState::Running
    } else {
        ChildState::Waiting
    };
    ChildInfo {
        id: task.id(),
        name: task.name(),
        age: task.age(),
        state,
    }
}

type Acquire = Pin<Box<AcquireOwned>>;

pin_project_lite::pin_project! {
    /// A child's future inside its task: waits for a permit of the group's limit, then runs
    /// the user's future, telling nested groups which group and member they run in.
    struct Enrolled<F> {
        #[pin]
        fut: F,
        node: Arc<dyn GroupNode>,
        // The child's own allocation, which holds this future: weak, or it would never be
        // freed. Upgrading always works while the task's root polls the body.
        me: Weak<Scope<dyn NodeCell>>,
        acquire: Option<Acquire>,
    }
}

impl<F: Future> Future for Enrolled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // SAFETY: this future is the body of the task whose allocation `me` points to, and only
        // that task's root polls it, holding a strong reference to the allocation meanwhile:
        // the allocation and its payload are alive for this call.
        let node = unsafe { &*this.me.as_ptr() }.payload.node();
        if let Some(acquire) = this.acquire {
            match acquire.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permit) => {
                    // Held until the group collects the child (see `ChildMeta::state`): the
                    // state becomes `RUNNING` below, in this same call.
                    permit.forget();
                    *this.acquire = None;
                }
            }
        }
        node.state.store(RUNNING, Ordering::Relaxed);
        let fut = this.fut;
        with_host(this.node, HostRef::Child(this.me), || fut.poll(cx))
    }
}

/// Any tail of a [`ChildMeta`], for the type-erased `Arc<ChildMeta>` the tree keeps.
trait Erased: Send + Sync {}

impl<T: ?Sized + Send + Sync> Erased for T {}

/// The tail of a child's [`ChildMeta`]: the slot its outcome waits in for the [`Child`]
/// handle, and the child task's `JoinHandle` (its [`Task`](crate::Task) would only add a pointer back to
/// this same allocation), which only the group touches. `None` once it has seen the end.
struct ChildTail<T> {
    slot: Slot<T>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// A child in the group's `children`: its allocation (whose node holds its task; its waker is
/// made from it when needed). Dropping it releases the child (see [`HeldCell::release`]).
struct Held<E> {
    node: Arc<Scope<dyn HeldCell<E>>>,
}

impl<E> Held<E> {
    fn poll_end(&self) -> Poll<Option<Failure<E>>> {
        let waker = self.node.payload.waker(&self.node);
        self.node
            .payload
            .poll_end(&*self.node, &mut Context::from_waker(&waker))
    }

    fn cell(&self) -> Arc<Scope<dyn NodeCell>> {
        self.node.clone()
    }

    fn task(&self) -> TaskRef {
        TaskRef::from_scope(self.node.clone())
    }
}

impl<E> Drop for Held<E> {
    fn drop(&mut self) {
        self.node.payload.release();
    }
}

fn member_of(task: &TaskRef) -> Member {
    Member::Task {
        id: task.id(),
        name: task.name(),
    }
}

// ---------------------------------------------------------------------------------------------
// Wake-ups: which children to poll

/// The keys of children whose tasks have woken the group (like `FuturesUnordered`'s queue),
/// and the group's own waker.
#[derive(Default)]
struct ReadyQueue {
    inner: Mutex<ReadyInner>,
}

#[derive(Default)]
struct ReadyInner {
    keys: VecDeque<u32>,
    owner: Option<Waker>,
}

impl ReadyQueue {
    fn lock(&self) -> MutexGuard<'_, ReadyInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, key: u32) {
        let owner = {
            let mut q = self.lock();
            q.keys.push_back(key);
            // Only the first key after a `take` wakes the owner: it takes them all when it runs.
            if q.keys.len() > 1 {
                return;
            }
            q.owner.clone()
        };
        if let Some(w) = owner {
            w.wake();
        }
    }

    fn take(&self) -> VecDeque<u32> {
        std::mem::take(&mut self.lock().keys)
    }

    fn set_owner(&self, waker: &Waker) {
        let mut q = self.lock();
        match &q.owner {
            Some(w) if w.will_wake(waker) => {}
            _ => q.owner = Some(waker.clone()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The group's shared state

struct Shared<E> {
    id: u64,
    name: Option<Arc<str>>,
    created: Instant,
    supervisor: bool,
    limit: Option<(usize, Arc<Limiter>)>,
    grace: Duration,
    /// The body's scope: a boundary, so the group relays enclosing requests itself.
    scope: Arc<Scope>,
    state: Mutex<State<E>>,
    ready: Arc<ReadyQueue>,
    /// Groups running inside this one's body or children, for the tree.
    subgroups: Mutex<Vec<(Host, Weak<dyn GroupNode>)>>,
}

/// The children a group holds, by key: a slab (a vector and its free places), so spawning and
/// collecting a child is an index, with no hashing and no rehashing as the group grows. A key
/// is reused once its child has been collected; a wake-up still queued for the old child then
/// polls the new one, which costs one poll that finds it unfinished.
struct Children<E> {
    slots: Vec<Option<Held<E>>>,
    free: Vec<u32>,
    len: usize,
}

impl<E> Default for Children<E> {
    fn default() -> Self {
        Children {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<E> Children<E> {
    /// The key the next [`insert`](Children::insert) will use.
    fn next_key(&self) -> u32 {
        match self.free.last() {
            Some(&k) => k,
            None => u32::try_from(self.slots.len()).expect("fewer than 2^32 children at once"),
        }
    }

    /// Holds `held` under [`next_key`](Children::next_key).
    fn insert(&mut self, held: Held<E>) {
        match self.free.pop() {
            Some(k) => self.slots[k as usize] = Some(held),
            None => self.slots.push(Some(held)),
        }
        self.len += 1;
    }

    fn get(&self, key: u32) -> Option<&Held<E>> {
        self.slots.get(key as usize)?.as_ref()
    }

    fn remove(&mut self, key: u32) -> Option<Held<E>> {
        let held = self.slots.get_mut(key as usize)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            // Empty again: start over, so the free list never outgrows the group's peak.
            self.slots.clear();
            self.free.clear();
        } else {
            self.free.push(key);
        }
        Some(held)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn values(&self) -> impl Iterator<Item = &Held<E>> {
        self.slots.iter().flatten()
    }
}

struct State<E> {
    finished: bool,
    body_running: bool,
    /// Set once the group started cancelling its members (a failure, an own cancel, or an
    /// enclosing cancel); spawning is refused from then on.
    cancelling: Option<Cancelled>,
    /// Set when the cancellation came from [`Spawner::cancel`].
    own_cancel: Option<Cancelled>,
    /// A member has failed (in supervisor mode: the body).
    failed: bool,
    children: Children<E>,
    failures: Vec<GroupFailure<E>>,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        // Every update keeps the state consistent before any user code can run.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts cancelling every member. Returns false if the group was already cancelling.
    fn begin_cancel(&self, why: Cancelled, own: bool) -> bool {
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

    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("group \"{n}\" #{}", self.id),
            None => format!("group #{}", self.id),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The spawn handle

/// The handle a [`TaskGroup`]'s body is given: spawns children into the group, cancels the
/// group, and shows what is running. It is `Clone + Send`, so children can spawn siblings.
///
/// A handle that outlives its group refuses to spawn ([`SpawnError::is_finished`]).
///
/// asyncio: the `tg` of `async with TaskGroup() as tg`. Trio: the nursery.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let n = corral::TaskGroup::new()
///     .run(|g| async move {
///         let g2 = g.clone();
///         // A child that spawns a grandchild into the same group.
///         let parent = g.spawn(async move {
///             let grandchild = g2.spawn(async { Ok(2) })?;
///             Ok::<_, corral::SpawnError>(grandchild)
///         })?;
///         Ok::<_, corral::SpawnError>(parent)
///     })
///     .await
///     .unwrap();
/// let mut grandchild = n.await.unwrap();
/// assert_eq!(grandchild.try_outcome().unwrap().unwrap(), 2);
/// # }
/// ```
pub struct Spawner<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Clone for Spawner<E> {
    fn clone(&self) -> Self {
        Spawner {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for Spawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("group", &self.shared.label())
            .finish()
    }
}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns a child into the group. It starts at once (or when the group's
    /// [limit](TaskGroup::limit) lets it), runs on the runtime's worker threads, and the group
    /// waits for it before ending. Its error type is the group's.
    ///
    /// asyncio: `tg.create_task(coro)`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the group is shutting down (a member failed, or it was cancelled) or
    /// has finished. The future is then dropped without ever being polled.
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
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Ok(1) })?;
    ///         assert!(child.name().starts_with("Task-"));
    ///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new(), fut)
    }

    /// Spawns a named child. Same as [`spawn`](Spawner::spawn) otherwise.
    ///
    /// asyncio: `tg.create_task(coro, name=...)`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let c = g.spawn_named("yolo", async { Ok(corral::current_task().unwrap().name()) })?;
    ///         assert_eq!(&*c.await.unwrap(), "yolo");
    ///         Ok::<_, corral::SpawnError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new().name(name), fut)
    }

    /// Spawns a child with the options of a [`Builder`] (name, grace period).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let b = corral::Builder::new().name("db").grace(Duration::from_millis(50));
    ///         g.spawn_with(b, async { Ok::<(), corral::SpawnError>(()) })?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_with<F>(
        &self,
        builder: Builder,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.finished || st.cancelling.is_some() {
            return Err(SpawnError {
                group: shared.name.clone(),
                finished: st.finished,
            });
        }
        let key = st.children.next_key();
        let acquire = shared
            .limit
            .as_ref()
            .map(|(_, sem)| -> Acquire { Box::pin(sem.clone().acquire_owned()) });
        let group: Arc<dyn GroupNode> = shared.clone();
        let queue = Arc::downgrade(&shared.ready);
        // One allocation for the child's scope, body, outcome and node (besides tokio's cell).
        let (mut task, node) = builder.spawn_cell(|me| {
            let me: Weak<Scope<dyn NodeCell>> = me.clone();
            let enrolled = Enrolled {
                fut,
                node: group,
                me,
                acquire,
            };
            let meta = ChildMeta {
                state: AtomicU8::new(WAITING),
                key,
                queue,
                slot: ChildTail {
                    slot: Slot::new(),
                    handle: Mutex::new(None),
                },
            };
            (enrolled, meta)
        });
        let waker = Waker::from(node.clone());
        // Poll the child's `JoinHandle` once here, so that its end wakes the group (queues
        // the key), rather than queueing the key for the group to do that first poll. A child
        // that has ended already is queued at once.
        let ended = task
            .poll_end_unconstrained(&mut Context::from_waker(&waker))
            .is_ready();
        *node
            .payload
            .ext
            .slot
            .handle
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = task.into_join_handle();
        st.children.insert(Held { node: node.clone() });
        drop(st);
        if ended {
            shared.ready.push(key);
        }
        Ok(Child { node })
    }

    /// Cancels the group: every child and the body are asked to stop, and spawning is refused.
    /// The group then ends with a [`GroupError`] that [`is_cancelled`](GroupError::is_cancelled)
    /// (or with the body's value, if the body had already returned one; or with the failures,
    /// if some member failed). Returns false if the group was already shutting down.
    ///
    /// Trio: `nursery.cancel_scope.cancel()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         g.cancel();
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.begin_cancel(Cancelled::new(), true)
    }

    /// Like [`cancel`](Spawner::cancel), with a message the members' cancellations carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         g.cancel_with("shutting down");
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.cancelled().and_then(|c| c.message()), Some("shutting down"));
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.shared
            .begin_cancel(Cancelled::with_message(message), true)
    }

    /// True while the group accepts new children: it is neither shutting down nor finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         assert!(g.is_open());
    ///         g.spawn(async { Err::<(), _>("bad") }).unwrap();
    ///         let _request = corral::cancelled().await; // a child failed
    ///         assert!(!g.is_open());
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        let st = self.shared.lock();
        !st.finished && st.cancelling.is_none()
    }

    /// How many children the group holds: spawned and not yet collected. Finished children are
    /// released as soon as the group sees them end, so a long-lived group does not grow.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert_eq!(g.len(), 1);
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().children.len()
    }

    /// True if the group holds no child.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         assert!(g.is_empty());
    ///         g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert!(!g.is_empty());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the children the group holds (id, name, age, state), in spawn order.
    ///
    /// asyncio: `python -m asyncio ps PID`, for one group.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn_named("sleeper", async {
    ///             tokio::time::sleep(Duration::from_secs(1)).await;
    ///             Ok::<(), ()>(())
    ///         })
    ///         .unwrap();
    ///         tokio::time::sleep(Duration::from_millis(300)).await;
    ///         let kids = g.children();
    ///         assert_eq!(kids[0].to_string(), format!("task {} \"sleeper\": running for 300ms", kids[0].id));
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn children(&self) -> Vec<ChildInfo> {
        let cells: Vec<Arc<Scope<dyn NodeCell>>> = {
            let st = self.shared.lock();
            st.children.values().map(|c| c.cell()).collect()
        };
        let mut infos: Vec<ChildInfo> = cells.iter().map(info).collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    /// A text tree of this group: its state, its body, its children, and the groups nested in
    /// them, recursively. For debugging a stuck program.
    ///
    /// asyncio: `python -m asyncio pstree PID`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .name("outer")
    ///     .run(|g| async move {
    ///         let tree = corral::TaskGroup::new()
    ///             .name("inner")
    ///             .run(|_inner| async move { Ok::<_, ()>(g.tree()) })
    ///             .await
    ///             .unwrap();
    ///         assert!(tree.starts_with("group \"outer\""));
    ///         assert!(tree.contains("└── body\n    └── group \"inner\""));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn tree(&self) -> String {
        let mut out = String::new();
        render(&*self.shared, "", "", &mut out);
        out
    }

    /// The group's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .name("uploads")
    ///     .run(|g| async move {
    ///         assert_eq!(g.name().as_deref(), Some("uploads"));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Option<Arc<str>> {
        self.shared.name.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The tree of groups

/// Where a nested group runs: in its parent's body, or in one of its parent's children.
#[derive(Clone)]
enum Host {
    Body,
    Child(Weak<Scope<dyn NodeCell>>),
}

impl Host {
    fn same(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Body, Host::Body) => true,
            (Host::Child(a), Host::Child(b)) => Weak::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A group as the tree sees it, whatever its error type.
trait GroupNode: Send + Sync {
    fn header(&self) -> String;
    /// Each member's line, with the groups nested in it.
    fn members(&self) -> Vec<(String, Vec<Arc<dyn GroupNode>>)>;
    fn add_subgroup(&self, host: Host, node: Weak<dyn GroupNode>);
    fn remove_subgroup(&self, node: *const ());
    /// The body's scope, to tell whether a nested group runs directly in it.
    fn body_scope(&self) -> *const ();
}

impl<E: Send + 'static> GroupNode for Shared<E> {
    fn header(&self) -> String {
        let st = self.lock();
        let phase = if st.finished {
            "finished"
        } else if st.cancelling.is_some() {
            "cancelling"
        } else if !st.body_running {
            "waiting for children"
        } else {
            "running"
        };
        let n = st.children.len();
        let mut s = format!(
            "{} ({phase}, {n} child{}",
            self.label(),
            if n == 1 { "" } else { "ren" }
        );
        if let Some((limit, _)) = &self.limit {
            let _ = write!(s, ", limit {limit}");
        }
        if self.supervisor {
            s.push_str(", supervisor");
        }
        let _ = write!(s, ", age {:?})", whole_ms(self.created.elapsed()));
        s
    }

    fn members(&self) -> Vec<(String, Vec<Arc<dyn GroupNode>>)> {
        let subs: Vec<(Host, Arc<dyn GroupNode>)> = self
            .subgroups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(h, w)| Some((h.clone(), w.upgrade()?)))
            .collect();
        let nested = |host: &Host| -> Vec<Arc<dyn GroupNode>> {
            subs.iter()
                .filter(|(h, _)| h.same(host))
                .map(|(_, n)| n.clone())
                .collect()
        };
        let (body_running, metas) = {
            let st = self.lock();
            let metas: Vec<Arc<Scope<dyn NodeCell>>> =
                st.children.values().map(|c| c.cell()).collect();
            (st.body_running, metas)
        };
        let mut out = Vec::new();
        let body_groups = nested(&Host::Body);
        if body_running || !body_groups.is_empty() {
            out.push(("body".to_string(), body_groups));
        }
        let mut kids: Vec<(ChildInfo, Arc<Scope<dyn NodeCell>>)> =
            metas.into_iter().map(|m| (info(&m), m)).collect();
        kids.sort_by_key(|(i, _)| i.id);
        for (info, meta) in kids {
            out.push((
                info.to_string(),
                nested(&Host::Child(Arc::downgrade(&meta))),
            ));
        }
        out
    }

    fn add_subgroup(&self, host: Host, node: Weak<dyn GroupNode>) {
        let mut subs = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(_, w)| w.strong_count() > 0);
        subs.push((host, node));
    }

    fn remove_subgroup(&self, node: *const ()) {
        let mut subs = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(_, w)| w.strong_count() > 0 && w.as_ptr() as *const () != node);
    }

    fn body_scope(&self) -> *const () {
        Arc::as_ptr(&self.scope) as *const ()
    }
}

/// Groups not nested in any other group, for [`group_tree`].
static ROOTS: Mutex<Vec<Weak<dyn GroupNode>>> = Mutex::new(Vec::new());

fn roots() -> MutexGuard<'static, Vec<Weak<dyn GroupNode>>> {
    ROOTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn render(node: &dyn GroupNode, lead: &str, prefix: &str, out: &mut String) {
    out.push_str(lead);
    out.push_str(&node.header());
    out.push('\n');
    let members = node.members();
    let count = members.len();
    for (i, (label, subs)) in members.into_iter().enumerate() {
        let last = i + 1 == count;
        let _ = writeln!(out, "{prefix}{}{label}", if last { "└── " } else { "├── " });
        let inner = format!("{prefix}{}", if last { "    " } else { "│   " });
        let n = subs.len();
        for (j, sub) in subs.into_iter().enumerate() {
            let sub_last = j + 1 == n;
            render(
                &*sub,
                &format!("{inner}{}", if sub_last { "└── " } else { "├── " }),
                &format!("{inner}{}", if sub_last { "    " } else { "│   " }),
                out,
            );
        }
    }
}

/// A text tree of every task group running in the process: for each group not nested in
/// another, its state, body, children, and the groups nested in them. Empty if none is running.
/// For debugging a stuck program (print it from a signal handler or a debug endpoint).
///
/// asyncio: `python -m asyncio pstree PID`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tree = corral::TaskGroup::new()
///     .name("server")
///     .run(|g| async move {
///         g.spawn_named("listener", std::future::pending::<Result<(), ()>>()).unwrap();
///         let tree = corral::group_tree();
///         g.cancel();
///         Ok(tree)
///     })
///     .await
///     .unwrap();
/// assert!(tree.contains("group \"server\""));
/// assert!(tree.contains("\"listener\": waiting"));
/// # }
/// ```
pub fn group_tree() -> String {
    let live: Vec<Arc<dyn GroupNode>> = roots().iter().filter_map(Weak::upgrade).collect();
    let mut out = String::new();
    for node in live {
        render(&*node, "", "", &mut out);
    }
    out
}

/// The group and member being polled, borrowed from their poller for the poll.
struct HostFrame<'a> {
    group: &'a Arc<dyn GroupNode>,
    host: HostRef<'a>,
}

#[derive(Clone, Copy)]
enum HostRef<'a> {
    Body,
    Child(&'a Weak<Scope<dyn NodeCell>>),
}

thread_local! {
    // The group and member whose code is being polled on this thread, so that a group started
    // there can hang itself under them in the tree: a frame on the stack of `with_host`
    // (nothing is cloned on every poll), or null.
    static HOST: Cell<*const HostFrame<'static>> = const { Cell::new(std::ptr::null()) };
}

fn with_host<R>(group: &Arc<dyn GroupNode>, host: HostRef<'_>, f: impl FnOnce() -> R) -> R {
    struct Restore(*const HostFrame<'static>);
    impl Drop for Restore {
        fn drop(&mut self) {
            HOST.with(|h| h.set(self.0));
        }
    }
    let frame = HostFrame { group, host };
    let me: *const HostFrame<'static> = (&frame as *const HostFrame<'_>).cast();
    let _restore = Restore(HOST.with(|h| h.replace(me)));
    f()
}

/// The group and member being polled on this thread, if any.
fn current_host() -> Option<(Arc<dyn GroupNode>, Host)> {
    let frame = HOST.with(|h| h.get());
    // SAFETY: a non-null pointer is the frame of a `with_host` call still running on this
    // thread (it puts the previous pointer back when it returns or unwinds), so it is alive.
    let frame = unsafe { frame.as_ref() }?;
    let host = match frame.host {
        HostRef::Body => Host::Body,
        HostRef::Child(me) => Host::Child(me.clone()),
    };
    Some((frame.group.clone(), host))
}

// ---------------------------------------------------------------------------------------------
// The future that runs a group

struct Run<E, V, B, Fut> {
    start: Option<(TaskGroup, B)>,
    running: Option<Running<E, V, Fut>>,
}

// Nothing is pinned in place: the body is boxed.
impl<E, V, B, Fut> Unpin for Run<E, V, B, Fut> {}

impl<E, V, B, Fut> Future for Run<E, V, B, Fut>
where
    B: FnOnce(Spawner<E>) -> Fut,
    Fut: Future,
    Fut::Output: IntoOutcome<Ok = V, Err = E>,
    E: Send + 'static,
{
    type Output = Result<V, GroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some((config, body)) = this.start.take() {
            // Started at the first poll, so that the group nests in the scope it is awaited in.
            this.running = Some(Running::start(config, body));
        }
        let running = this
            .running
            .as_mut()
            .expect("a task group's future polled after it finished");
        let out = running.poll(cx);
        if out.is_ready() {
            this.running = None;
        }
        out
    }
}

struct Running<E, V, Fut> {
    shared: Arc<Shared<E>>,
    node: Arc<dyn GroupNode>,
    /// The group this one is nested in, if any (else it is one of the roots).
    parent: Option<Weak<dyn GroupNode>>,
    body: Option<Pin<Box<Fut>>>,
    value: Option<V>,
    grace_timer: Option<Pin<Box<Sleep>>>,
    /// Keeps the enclosing scope from dropping the group at once when it is cancelled, so that
    /// the group can cancel its children and collect what they do meanwhile. `None` when the
    /// group was started in code that is already cancelled (cleanup code).
    listener: Option<CancelListener>,
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
    fn start<B: FnOnce(Spawner<E>) -> Fut>(config: TaskGroup, body: B) -> Self {
        let listener = (!crate::is_cancel_requested()).then(crate::cancelled);
        let shared = Arc::new(Shared {
            id: {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
            name: config.name,
            created: Instant::now(),
            supervisor: config.supervisor,
            limit: config.limit.map(|n| (n, Arc::new(Limiter::new(n)))),
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
            ready: Arc::default(),
            subgroups: Mutex::new(Vec::new()),
        });
        let node: Arc<dyn GroupNode> = shared.clone();
        let host = current_host();
        // Directly in an outer group's body, the outer group keeps a failure whether or not
        // the request was answered; elsewhere (a task, a timeout) answering it is what keeps
        // the owner from reporting a cancellation instead of the error.
        let in_group_body = host.as_ref().is_some_and(|(parent, host)| {
            matches!(host, Host::Body)
                && cancel::current()
                    .is_some_and(|c| Arc::as_ptr(&c) as *const () == parent.body_scope())
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
        let made = shared.scope.enter(|| {
            with_host(&node, HostRef::Body, || {
                catch_unwind(AssertUnwindSafe(|| body(spawner)))
            })
        });
        let mut running = Running {
            shared,
            node,
            parent,
            body: None,
            value: None,
            grace_timer: None,
            listener,
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

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<V, GroupError<E>>> {
        let shared = self.shared.clone();
        shared.scope.set_owner_waker(cx.waker());
        shared.ready.set_owner(cx.waker());
        if let Some(p) = self.propagating.as_mut() {
            let _ = p.as_mut().poll(cx);
            return Poll::Pending;
        }
        // Polled in the enclosing scope: relay its cancellation before the body can see it.
        if !self.external && self.listener.is_some() && crate::is_cancel_requested() {
            self.external = true;
            let why = cancel::current()
                .and_then(|s| s.request_reason())
                .unwrap_or_default();
            shared.begin_cancel(why, false);
        }
        self.collect_children();
        if self.body.is_some() {
            self.step_body(cx);
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

    /// Polls the children that woke the group; releases the ones that ended.
    fn collect_children(&mut self) {
        let shared = &self.shared;
        // Only the keys queued now: a child polled again in this pass (tokio's cooperative
        // budget can make it wake itself) waits for the next poll.
        for key in shared.ready.take() {
            let mut st = shared.lock();
            let Some(entry) = st.children.get(key) else {
                continue;
            };
            let Poll::Ready(failure) = entry.poll_end() else {
                continue;
            };
            let Some(entry) = st.children.remove(key) else {
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
            if let (Some((_, limiter)), true) = (&shared.limit, holds_permit) {
                // The permit the child took when it started (see `ChildMeta::state`).
                limiter
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
        if let Verdict::Stop(_) = shared.scope.verdict(shared.grace) {
            self.end_body();
            return;
        }
        let node = self.node.clone();
        let Some(body) = self.body.as_mut() else {
            return;
        };
        let polled = shared.scope.enter(|| {
            with_host(&node, HostRef::Body, || {
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
            Ok(Poll::Pending) => match shared.scope.verdict(shared.grace) {
                Verdict::Stop(_) => self.end_body(),
                Verdict::Continue(Some(until)) => {
                    let timer = self
                        .grace_timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                    if timer.as_mut().poll(cx).is_ready() {
                        self.end_body();
                    }
                }
                Verdict::Continue(None) => {}
            },
        }
    }

    fn end_body(&mut self) {
        self.body = None;
        self.grace_timer = None;
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
