//! The [`Spawner`] a group's body is given: it spawns children, cancels the group, and shows
//! what is running.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::task::Context;

use crate::outcome::{Cancelled, IntoOutcome, Outcome};
use crate::rt::Scope;
use crate::task::Builder;

use super::cell::{info, ChildMeta, Enrolled, Held, NodeCell};
use super::child::{Child, ChildInfo};
use super::error::SpawnError;
use super::running::{GroupLimit, Shared};
use super::tree::{render, GroupNode, Host, HostFrame};

/// The handle a [`TaskGroup`]'s body is given: spawns children into the group, cancels the
/// group, and shows what is running. It is `Clone + Send`, so children can spawn siblings.
///
/// A handle that outlives its group refuses to spawn: the child it returns never runs, and
/// reports itself cancelled (see [`spawn`](Spawner::spawn)).
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
///             let grandchild = g2.spawn(async { Ok(2) });
///             Ok::<_, ()>(grandchild)
///         });
///         Ok::<_, ()>(parent)
///     })
///     .await
///     .unwrap();
/// let mut grandchild = n.await.unwrap();
/// assert_eq!(grandchild.try_outcome().unwrap().unwrap(), 2);
/// # }
/// ```
///
/// [`TaskGroup`]: super::task_group::TaskGroup
pub struct Spawner<E> {
    pub(super) shared: Arc<Shared<E>>,
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
    /// Spawns a child into the group and returns its handle. It starts at once (or when the
    /// group's [limit](super::task_group::TaskGroup::limit) lets it), runs on the runtime's
    /// worker threads, and the group waits for it before ending. Its error type is the
    /// group's.
    ///
    /// **A refused spawn still returns a handle.** If the group is shutting down (a member
    /// failed, or it was cancelled) or has finished, the future is dropped without ever being
    /// polled, and the child is already [`Cancelled`](crate::TaskState::Cancelled), with the
    /// refusal as its message (the [`SpawnError`]'s text). Nothing is added to the group, and
    /// nothing fails: a refusal while shutting down comes from a failure or a cancel the group
    /// reports already. Use [`try_spawn`](Spawner::try_spawn) to get the refusal as an error.
    ///
    /// Why not a `Result`: the body's error type is the caller's `E`, so `?` on a
    /// `Result<_, SpawnError>` needed a conversion at every spawn (a `From<SpawnError>` for
    /// `String` or `&str` would be a blanket guess at the caller's error, and impossible for
    /// most error types). Trio does the same for a cancelled nursery (`start_soon` starts the
    /// task, cancelled); asyncio raises `RuntimeError` from `create_task` on a group that is
    /// shutting down or finished, which [`try_spawn`](Spawner::try_spawn) mirrors.
    ///
    /// asyncio: `tg.create_task(coro)`. Trio: `nursery.start_soon(fn)`.
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
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Ok(1) });
    ///         assert!(child.name().starts_with("Task-"));
    ///         assert_eq!(child.await.unwrap(), 1);
    ///         g.spawn(async { Err::<u8, _>("boom".to_string()) });
    ///         let _request = corral::cancelled().await; // a child failed: the group shuts down
    ///         let late = g.spawn(async { Ok(2) }); // refused: never runs
    ///         assert_eq!(late.state(), corral::TaskState::Cancelled);
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.errors().collect::<Vec<_>>(), ["boom"]);
    /// # }
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Child<<F::Output as IntoOutcome>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new(), fut)
    }

    /// Spawns a named child. Same as [`spawn`](Spawner::spawn) otherwise (a refused child
    /// keeps its name).
    ///
    /// asyncio: `tg.create_task(coro, name=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let c = g.spawn_named("yolo", async { Ok(corral::current_task().unwrap().name()) });
    ///         assert_eq!(&*c.await.unwrap(), "yolo");
    ///         Ok::<_, ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        fut: F,
    ) -> Child<<F::Output as IntoOutcome>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new().name(name), fut)
    }

    /// Spawns a child with the options of a [`Builder`] (name, grace period). Same as
    /// [`spawn`](Spawner::spawn) otherwise.
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
    ///         let db = g.spawn_with(b, async { Ok::<(), ()>(()) });
    ///         assert_eq!(&*db.name(), "db");
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_with<F>(&self, builder: Builder, fut: F) -> Child<<F::Output as IntoOutcome>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        match self.enroll(builder, fut) {
            Ok(child) => child,
            Err((builder, fut, refusal)) => self.refused(builder, fut, refusal),
        }
    }

    /// Spawns a child, or says why the group refused it: [`spawn`](Spawner::spawn) with the
    /// refusal as an error instead of a cancelled child (the future is dropped unpolled).
    ///
    /// asyncio: `tg.create_task(coro)` on a group that is shutting down or finished raises
    /// `RuntimeError`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the group is shutting down (a member failed, or it was cancelled) or
    /// has finished.
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
    pub fn try_spawn<F>(&self, fut: F) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.try_spawn_with(Builder::new(), fut)
    }

    /// [`try_spawn`](Spawner::try_spawn) with the options of a [`Builder`] (name, grace
    /// period).
    ///
    /// # Errors
    ///
    /// As [`try_spawn`](Spawner::try_spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let b = corral::Builder::new().name("db");
    ///         let db = g.try_spawn_with(b, async { Ok::<(), ()>(()) }).expect("the group is open");
    ///         assert_eq!(&*db.name(), "db");
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn try_spawn_with<F>(
        &self,
        builder: Builder,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.enroll(builder, fut).map_err(|(_, _, refusal)| refusal)
    }

    /// The child of a refused spawn: never started, cancelled with the refusal, not in the
    /// group. Its allocation has the shape of a running child's, so that one [`Child`] type
    /// serves both.
    fn refused<F>(
        &self,
        builder: Builder,
        fut: F,
        refusal: SpawnError,
    ) -> Child<<F::Output as IntoOutcome>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        let group: Arc<dyn GroupNode> = self.shared.clone();
        let node = builder.unstarted_cell(|me| {
            let me: Weak<Scope<dyn NodeCell>> = me.clone();
            let enrolled = Enrolled {
                fut,
                frame: HostFrame {
                    group,
                    host: Host::Child(me),
                },
                gate: None,
            };
            (enrolled, ChildMeta::new())
        });
        node.payload
            .ext
            .slot
            .slot
            .fill(Outcome::Cancelled(Cancelled::with_message(
                refusal.to_string(),
            )));
        Child { node }
    }

    /// Enrolls a child in the group and spawns it, or hands the builder and the future back
    /// with the refusal.
    #[allow(clippy::type_complexity)]
    fn enroll<F>(
        &self,
        builder: Builder,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, (Builder, F, SpawnError)>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.finished || st.cancelling.is_some() {
            let refusal = SpawnError {
                group: shared.name.clone(),
                finished: st.finished,
            };
            drop(st);
            return Err((builder, fut, refusal));
        }
        let gate = shared.limit.as_ref().map(GroupLimit::gate);
        let group: Arc<dyn GroupNode> = shared.clone();
        // One allocation for the child's scope, body, outcome and node (besides tokio's cell).
        let (mut task, node) = builder.spawn_cell(|me| {
            let me: Weak<Scope<dyn NodeCell>> = me.clone();
            let enrolled = Enrolled {
                fut,
                frame: HostFrame {
                    group,
                    host: Host::Child(me),
                },
                gate,
            };
            (enrolled, ChildMeta::new())
        });
        let key = st.children.insert(Held { node: node.clone() });
        // Poll the child's `JoinHandle` once here, with the waker of its slot, so that its end
        // wakes the group (queues the key), rather than queueing the key for the group to do
        // that first poll. A child that has ended already is queued at once.
        let ended = st.children.with_waker(key, |waker| {
            let ended = task.poll_end_unconstrained(&mut Context::from_waker(waker));
            ended.is_ready().then(|| waker.clone())
        });
        task.keep_in(&node.payload.ext.slot.handle);
        drop(st);
        if let Some(waker) = ended {
            waker.wake();
        }
        Ok(Child { node })
    }

    /// Cancels the group: every child and the body are asked to stop, and spawning is refused.
    /// The group then ends with a [`GroupError`] that [`is_cancelled`]
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
    ///         g.spawn(std::future::pending::<Result<(), ()>>());
    ///         g.cancel();
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    ///
    /// [`GroupError`]: super::error::GroupError
    /// [`is_cancelled`]: super::error::GroupError::is_cancelled
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
    ///         g.spawn(std::future::pending::<Result<(), ()>>());
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
    ///         g.spawn(async { Err::<(), _>("bad") });
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
    ///         g.spawn(async { Ok::<(), ()>(()) });
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
    ///         g.spawn(async { Ok::<(), ()>(()) });
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
    ///         });
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
