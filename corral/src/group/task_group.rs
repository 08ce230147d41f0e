//! The [`TaskGroup`] builder, and the future [`TaskGroup::run`] returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::adaptive::Limit;
use crate::cancel::DEFAULT_GRACE;
use crate::outcome::IntoOutcome;

use super::error::GroupError;
use super::running::Running;
use super::spawner::Spawner;

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
/// at once. Spawning is refused from then on (a refused child never runs: see
/// [`Spawner::spawn`]). Cancelling one child through its handle is not a
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
/// A request made before the group started, and not yet delivered to a listener, is handled
/// the same way, once the body first suspends (that is where it would stop code without a
/// group around it). A group started in cleanup code, after the request was delivered, is not
/// cancelled by that request.
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
///         });
///         g.spawn_named("bad", async {
///             sleep(Duration::from_millis(100)).await;
///             Err::<(), _>("boom".to_string())
///         });
///         Ok(())
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.errors().collect::<Vec<_>>(), ["boom"]);
/// assert!(err.to_string().contains(r#""bad": boom"#));
/// # }
/// ```
///
/// [`Child`]: super::child::Child
/// [`Reported`]: super::error::Reported
#[derive(Debug, Clone)]
#[must_use = "a task group does nothing until run"]
pub struct TaskGroup {
    pub(super) name: Option<Arc<str>>,
    pub(super) limit: Option<Limit>,
    pub(super) supervisor: bool,
    pub(super) grace: Duration,
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
    ///         let c = g.spawn(async { Ok::<u8, ()>(1) });
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
    ///         g.spawn(async { Err::<(), _>("boom") });
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

    /// At most this many children run at once; the others wait, in spawn order.
    /// [`Spawner::spawn`] stays synchronous: each child waits for its permit inside its own
    /// task, so a child that is cancelled while waiting never starts.
    ///
    /// The limit is a number, or an [`AdaptiveLimiter`](crate::AdaptiveLimiter) (anything
    /// that converts into a [`Limit`], as for the fan-out combinators' `.limit(..)`). Under an
    /// adaptive limit, a child waits for a permit of the limiter, and gives the verdict from
    /// its outcome as it ends: `Ok` is a success (with the latency from its permit to its
    /// end), an error or a panic is an overload, a cancellation (or any end once the group is
    /// shutting down) says nothing. The permit goes back when the group collects the child,
    /// as for a fixed limit. The limiter may be shared with other groups and combinators; a
    /// group that is dropped gives back the permits its children held.
    ///
    /// The number `0` counts as 1, as for the combinators: a group always makes progress.
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
    ///                 Ok::<(), ()>(())
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(start.elapsed(), Duration::from_secs(3)); // three waves of three
    ///
    /// // An adaptive limit: it grows while the children succeed and keep it busy.
    /// let adaptive = corral::AdaptiveLimiter::aimd(2, 1, 50);
    /// corral::TaskGroup::new()
    ///     .limit(&adaptive)
    ///     .run(|g| async move {
    ///         for _ in 0..100 {
    ///             g.spawn(async {
    ///                 tokio::time::sleep(Duration::from_millis(10)).await;
    ///                 Ok::<(), ()>(())
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert!(adaptive.limit() > 2);
    /// assert_eq!(adaptive.in_flight(), 0); // every permit went back
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        let limit = match limit.into() {
            Limit::Fixed(0) => Limit::Fixed(1),
            limit => limit,
        };
        self.limit = Some(limit);
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
    ///             g.spawn(async { Err::<(), _>("one failed".to_string()) });
    ///             *ok = Some(g.spawn(async { tokio::task::yield_now().await; Ok(7) }));
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
    ///         g.spawn(async { Err::<(), _>("boom") });
    ///         let _request = corral::cancelled().await; // the body listens, then overruns its grace
    ///         std::future::pending::<Result<(), &str>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.len(), 1);
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    ///
    /// [`Builder::grace`]: crate::task::Builder::grace
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
    ///         let a = g.spawn(async { sleep(Duration::from_millis(100)).await; Ok(42) });
    ///         let b = g.spawn(async { sleep(Duration::from_millis(200)).await; Ok(11) });
    ///         Ok::<_, std::io::Error>((a, b))
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
