//! What a group reports: [`GroupError`] and its [`GroupFailure`]s, each from a [`Member`];
//! [`SpawnError`] when it refuses a child; [`Reported`] in a failed child's outcome.

use std::fmt;
use std::sync::Arc;

use crate::outcome::{Cancelled, Failure, Panic};
use crate::task::{TaskId, TaskRef};

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
    ///
    /// [`TaskGroup::run`]: super::task_group::TaskGroup::run
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
///         g.spawn_named("a", async { Err::<(), _>("disk full") });
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
///
/// [`TaskGroup`]: super::task_group::TaskGroup
/// [`Spawner::cancel`]: super::spawner::Spawner::cancel
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError<E> {
    pub(super) group: Option<Arc<str>>,
    pub(super) failures: Vec<GroupFailure<E>>,
    pub(super) cancelled: Option<Cancelled>,
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
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") });
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") });
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
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") });
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") });
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
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") });
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") });
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
    ///         });
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
    ///         g.spawn_named("a", async { Err::<(), _>("bad a") });
    ///         g.spawn_named("b", async { Err::<(), _>("bad b") });
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
    ///
    /// [`Spawner::cancel`]: super::spawner::Spawner::cancel
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
    ///
    /// [`Spawner::cancel`]: super::spawner::Spawner::cancel
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

/// Why a group refused a child: the error of [`Spawner::try_spawn`], and the message of the
/// cancelled child [`Spawner::spawn`] returns instead. The future was dropped without being
/// polled.
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
/// let err = saved.unwrap().try_spawn(async { Ok(()) }).unwrap_err();
/// assert!(err.is_finished());
/// # }
/// ```
///
/// [`Spawner::spawn`]: super::spawner::Spawner::spawn
/// [`Spawner::try_spawn`]: super::spawner::Spawner::try_spawn
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    pub(super) group: Option<Arc<str>>,
    pub(super) finished: bool,
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
    /// let err = saved.unwrap().try_spawn(async { Ok(()) }).unwrap_err();
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
    ///         g.spawn(async { Err::<(), _>("bad") });
    ///         let _request = corral::cancelled().await; // a child failed: the group shuts down
    ///         let refused = g.try_spawn(async { Ok::<(), &str>(()) }).unwrap_err();
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
///         child = Some(g.spawn_named("c", async { Err::<(), _>("bad") }));
///         async { Ok(()) }
///     })
///     .await
///     .unwrap_err();
/// let reported = child.unwrap().try_outcome().unwrap().err().unwrap();
/// assert_eq!(&*reported.name(), "c");
/// assert_eq!(err.errors().next(), Some(&"bad"));
/// # }
/// ```
///
/// [`Outcome`]: crate::outcome::Outcome
/// [`Child`]: super::child::Child
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub(super) id: TaskId,
    pub(super) name: Arc<str>,
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
    ///         let child = g.spawn(async { Err::<(), _>("bad") });
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
    ///         let child = g.spawn_named("parser", async { Err::<(), _>("bad") });
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

pub(super) fn member_of(task: &TaskRef) -> Member {
    Member::Task {
        id: task.id(),
        name: task.name(),
    }
}
