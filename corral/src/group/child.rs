//! A group's child as its [`Child`] handle sees it: the handle, the slot the child's outcome
//! waits in, and what [`Spawner::children`] reports of it ([`ChildState`], [`ChildInfo`]).
//!
//! [`Spawner::children`]: super::spawner::Spawner::children

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::outcome::Outcome;
use crate::rt::Scope;
use crate::task::{TaskId, TaskRef};

use super::cell::SlotCell;
use super::error::Reported;

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
///
/// [`TaskGroup`]: super::task_group::TaskGroup
/// [`GroupError`]: super::error::GroupError
pub struct Child<T: 'static> {
    /// The child's task allocation, whose node holds the slot its outcome waits in.
    pub(super) node: Arc<Scope<dyn SlotCell<T>>>,
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
pub(super) struct Slot<T> {
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
    pub(super) fn new() -> Self {
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
    pub(super) fn is_settled(&self) -> bool {
        !matches!(self.lock().outcome, Stored::Empty)
    }

    pub(super) fn fill(&self, outcome: Outcome<T, ()>) {
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
///
/// [`Spawner::children`]: super::spawner::Spawner::children
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildState {
    /// Spawned, not started yet: waiting for a permit of the group's
    /// [limit](super::task_group::TaskGroup::limit), or for its first turn on the runtime.
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
///
/// [`Spawner::children`]: super::spawner::Spawner::children
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
pub(super) fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}
