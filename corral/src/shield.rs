//! [`shield`]: work that outlives whoever waits for it, with its outcome kept for later.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use crate::awaitable::Awaitable;
use crate::outcome::{IntoOutcome, Outcome};
use crate::task::{spawn, Task, TaskId, TaskRef, TaskState};

/// Protects work from the cancellation of whoever waits for it.
///
/// The work runs as a spawned task: a [`Task`] is taken as it is, a plain future is
/// [spawned](crate::spawn) (so it must be `Send + 'static`). The returned [`Shielded`] handle is
/// cheap to clone and every clone can wait for the same outcome. When a waiter is cancelled,
/// dropped or timed out (for example a [`timeout`](crate::timeout) or
/// [`wait_for`](crate::wait_for) around a clone), only that waiter stops: the task keeps
/// running, and its outcome stays in the handle for any other clone to retrieve.
///
/// The task stops early only if asked explicitly ([`Shielded::cancel`]). If every handle is
/// dropped, the task runs on detached and its outcome is discarded: keep a clone for as long
/// as the outcome matters. corral never prints or logs an outcome nobody retrieved.
///
/// asyncio: `asyncio.shield(aw)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let save = corral::shield(async {
///     sleep(Duration::from_millis(300)).await;
///     Ok::<_, String>("saved")
/// });
/// // The waiter gives up after 100 ms; the save goes on.
/// let r = corral::timeout(Duration::from_millis(100), save.clone()).await;
/// assert!(r.is_err());
/// assert_eq!(save.await.unwrap(), "saved");
/// # }
/// ```
pub fn shield<S: Shieldable>(work: S) -> Shielded<S::Ok, S::Err> {
    let task = work.into_task();
    let task_ref = task.task_ref();
    Shielded {
        shared: Arc::new(Shared {
            state: Mutex::new(State {
                task: Some(task),
                outcome: None,
                taken: false,
            }),
            wakers: Arc::new(Fanout::default()),
            task_ref,
        }),
        key: None,
    }
}

/// What [`shield`] accepts: a [`Task`], or a future to spawn as one (`Send + 'static`, with a
/// `Result` or [`Outcome`] output). You do not implement this.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let from_task = corral::shield(corral::spawn(async { Ok::<u8, ()>(1) }));
/// let from_future = corral::shield(async { Ok::<u8, ()>(2) });
/// assert_eq!(from_task.await.unwrap() + from_future.await.unwrap(), 3);
/// # }
/// ```
pub trait Shieldable {
    /// The task's value type.
    type Ok;
    /// The task's error type.
    type Err;
    /// The task that runs the work.
    #[doc(hidden)]
    fn into_task(self) -> Task<Self::Ok, Self::Err>;
}

impl<T, E> Shieldable for Task<T, E> {
    type Ok = T;
    type Err = E;
    fn into_task(self) -> Task<T, E> {
        self
    }
}

impl<F> Shieldable for F
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome,
    <F::Output as IntoOutcome>::Ok: Send + 'static,
    <F::Output as IntoOutcome>::Err: Send + 'static,
{
    type Ok = <F::Output as IntoOutcome>::Ok;
    type Err = <F::Output as IntoOutcome>::Err;
    fn into_task(self) -> Task<Self::Ok, Self::Err> {
        spawn(self)
    }
}

/// A shared handle on shielded work (see [`shield`]): wait for its [`Outcome`] from any clone,
/// as often as needed; dropping or cancelling a waiter never stops the work.
///
/// Awaiting a clone gives a copy of the outcome (this needs `T: Clone` and `E: Clone`). For
/// other types, wait with [`finished`](Shielded::finished), then look at the outcome by
/// reference with [`with_outcome`](Shielded::with_outcome), or move it out once with
/// [`try_outcome`](Shielded::try_outcome) (which takes it, as on every handle).
///
/// Dropping a handle does nothing to the work. When the last handle is dropped, an unfinished
/// task is detached (it runs on; its outcome is discarded).
///
/// asyncio: the outer future returned by `asyncio.shield(aw)`.
///
/// # Cancel safety
///
/// Awaiting is cancel safe: a dropped waiter loses nothing, and another clone (or a new
/// `.clone().await`) still gets the outcome.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let work = corral::shield(async {
///     sleep(Duration::from_millis(10)).await;
///     Err::<(), _>("disk full")
/// });
/// // The waiter is cancelled; the failure is not lost, it waits in the handle.
/// let waiter = corral::spawn({
///     let work = work.clone();
///     async move { Ok::<_, ()>(work.await) }
/// });
/// waiter.abort();
/// assert!(waiter.await.is_cancelled());
/// assert_eq!(work.await.err(), Some("disk full"));
/// # }
/// ```
pub struct Shielded<T, E> {
    shared: Arc<Shared<T, E>>,
    /// This clone's slot in the wakers to notify; `None` until it first waits.
    key: Option<u64>,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    wakers: Arc<Fanout>,
    task_ref: TaskRef,
}

struct State<T, E> {
    task: Option<Task<T, E>>,
    outcome: Option<Outcome<T, E>>,
    /// The outcome was moved out by `try_outcome`.
    taken: bool,
}

/// The waker the task's join handle is polled with: it wakes every live waiter, so the task's
/// completion reaches all of them whichever polled last.
#[derive(Default)]
struct Fanout {
    inner: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    next_key: u64,
    wakers: Vec<(u64, Waker)>,
}

impl Fanout {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, key: &mut Option<u64>, waker: &Waker) {
        let mut w = self.lock();
        let k = *key.get_or_insert_with(|| {
            w.next_key += 1;
            w.next_key
        });
        match w.wakers.iter_mut().find(|(id, _)| *id == k) {
            Some((_, old)) if old.will_wake(waker) => {}
            Some((_, old)) => *old = waker.clone(),
            None => w.wakers.push((k, waker.clone())),
        }
    }

    fn unregister(&self, key: Option<u64>) {
        if let Some(k) = key {
            self.lock().wakers.retain(|(id, _)| *id != k);
        }
    }
}

impl Wake for Fanout {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers: Vec<Waker> = self.lock().wakers.iter().map(|(_, w)| w.clone()).collect();
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        // Updates are single assignments: a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready once the outcome is in (or was taken). Registers `key`'s waker otherwise.
    fn poll_finished(self: &Arc<Self>, key: &mut Option<u64>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.outcome.is_some() || st.taken {
            return Poll::Ready(());
        }
        self.wakers.register(key, cx.waker());
        let Some(task) = st.task.as_mut() else {
            return Poll::Ready(());
        };
        let fanout = Waker::from(self.wakers.clone());
        match task.poll_outcome(&mut Context::from_waker(&fanout)) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(outcome) => {
                st.outcome = Some(outcome);
                st.task = None;
                drop(st);
                // The other waiters may be parked on a waker the join handle no longer holds.
                self.wakers.wake_by_ref();
                Poll::Ready(())
            }
        }
    }

    /// Collects the outcome of a finished task without waiting.
    fn collect(st: &mut State<T, E>) {
        if st.outcome.is_none() {
            if let Some(task) = st.task.as_mut() {
                if let Some(o) = task.try_outcome() {
                    st.outcome = Some(o);
                    st.task = None;
                }
            }
        }
    }
}

impl<T, E> Drop for Shared<T, E> {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = st.task.take() {
            // Shielded work outlives its last handle.
            task.detach();
        }
    }
}

impl<T, E> Shielded<T, E> {
    /// The shielded task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(async { Ok::<u8, ()>(1) });
    /// let id = task.id();
    /// let s = corral::shield(task);
    /// assert_eq!(s.id(), id);
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.shared.task_ref.id()
    }

    /// The shielded task: id, name, and the means to cancel it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::shield(corral::spawn_named("save", async { Ok::<u8, ()>(1) }));
    /// let task = s.task_ref();
    /// assert_eq!(&*task.name(), "save");
    /// assert_eq!(task.id(), s.id());
    /// # }
    /// ```
    pub fn task_ref(&self) -> TaskRef {
        self.shared.task_ref.clone()
    }

    /// True once the work has ended, whatever the outcome. asyncio: `inner.done()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::shield(async { Ok::<_, ()>(1) });
    /// s.finished().await;
    /// assert!(s.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        let st = self.shared.lock();
        st.outcome.is_some() || st.taken || st.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Asks the shielded work itself to stop, as [`Task::cancel`] does (the shield protects it
    /// from its waiters, not from its owner). Returns false if it has already finished or was
    /// already asked.
    ///
    /// asyncio: cancelling the inner task directly.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::shield(std::future::pending::<Result<(), ()>>());
    /// assert!(s.cancel());
    /// assert!(s.clone().await.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        !self.is_finished() && self.shared.task_ref.cancel()
    }

    /// Waits until the work has ended, without taking its outcome. Many waiters may wait at
    /// once; dropping one does not affect the work.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // An error type that is not Clone: wait, then move the outcome out.
    /// let s = corral::shield(async { Err::<(), _>(std::io::Error::other("lost")) });
    /// s.finished().await;
    /// let outcome = s.try_outcome().expect("finished, not taken yet");
    /// assert_eq!(outcome.err().unwrap().to_string(), "lost");
    /// # }
    /// ```
    pub fn finished(&self) -> Finished<'_, T, E> {
        Finished {
            shared: &self.shared,
            key: None,
        }
    }

    /// What the shielded work is doing, or how it ended ([`TaskState`]). Never takes the
    /// outcome. `state().is_finished()` agrees with [`is_finished`](Shielded::is_finished).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::TaskState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::shield(async { Err::<(), _>("disk full") });
    /// assert_eq!(s.state(), TaskState::Running);
    /// s.finished().await;
    /// assert_eq!(s.state(), TaskState::Failed);
    /// # }
    /// ```
    pub fn state(&self) -> TaskState {
        let mut st = self.shared.lock();
        Shared::collect(&mut st);
        match &st.outcome {
            Some(o) => TaskState::of(o),
            // Taken: the task had ended, and recorded how.
            None if st.taken => self.shared.task_ref.end_state(),
            None => self.shared.task_ref.live_state(),
        }
    }

    /// Shows the outcome to `f` by reference, if the work has finished and the outcome has not
    /// been taken; returns what `f` returns. Never waits, never takes or clones the outcome,
    /// and works for any `T` and `E`. A copy is `with_outcome(|o| o.clone())`.
    ///
    /// `f` runs while the shared outcome is locked: it must not use this handle or its clones.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // An error type that is not Clone: look at it in place.
    /// let s = corral::shield(async { Err::<(), _>(std::io::Error::other("lost")) });
    /// assert_eq!(s.with_outcome(|o| o.is_failure()), None); // not finished yet
    /// s.finished().await;
    /// let msg = s.with_outcome(|o| o.as_ref().err().map(|e| e.to_string()));
    /// assert_eq!(msg, Some(Some("lost".to_string())));
    /// assert!(s.try_outcome().is_some()); // still there, for whoever takes it
    /// # }
    /// ```
    pub fn with_outcome<R>(&self, f: impl FnOnce(&Outcome<T, E>) -> R) -> Option<R> {
        let mut st = self.shared.lock();
        Shared::collect(&mut st);
        st.outcome.as_ref().map(f)
    }

    /// Takes the outcome, if the work has finished and nobody took it before: one clone gets
    /// it, later calls (from any clone) return `None`, and awaiting a clone then panics. The
    /// same rule as [`Task::try_outcome`]: `try_outcome` takes, on every handle; to look, use
    /// [`with_outcome`](Shielded::with_outcome) or [`state`](Shielded::state).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::shield(async { Ok::<_, ()>(5) });
    /// assert!(s.try_outcome().is_none()); // not finished yet
    /// s.finished().await;
    /// assert_eq!(s.try_outcome().unwrap().unwrap(), 5);
    /// assert!(s.try_outcome().is_none()); // taken
    /// # }
    /// ```
    pub fn try_outcome(&self) -> Option<Outcome<T, E>> {
        let mut st = self.shared.lock();
        Shared::collect(&mut st);
        let out = st.outcome.take();
        if out.is_some() {
            st.taken = true;
        }
        out
    }
}

impl<T, E> Clone for Shielded<T, E> {
    fn clone(&self) -> Self {
        Shielded {
            shared: self.shared.clone(),
            key: None,
        }
    }
}

impl<T, E> Drop for Shielded<T, E> {
    fn drop(&mut self) {
        self.shared.wakers.unregister(self.key);
    }
}

impl<T: Clone, E: Clone> IntoFuture for Shielded<T, E> {
    type Output = Outcome<T, E>;
    type IntoFuture = ShieldedFuture<T, E>;

    /// Waits for a copy of the outcome (see [`ShieldedFuture`]).
    fn into_future(self) -> ShieldedFuture<T, E> {
        ShieldedFuture { shielded: self }
    }
}

/// A `Shielded` is waited on like a task handle: combinators read the outcome of shielded
/// work that has already finished without polling anything, so
/// `wait_for(Duration::ZERO, shielded)` returns it, as asyncio's `wait_for(shield(t), 0)`
/// does once `t` is done. Waiting never stops the work: a waiter that gives up (a timeout, a
/// combinator that stops early) is dropped, and the shielded work runs on.
impl<T: Clone, E: Clone> Awaitable for Shielded<T, E> {
    type Output = Outcome<T, E>;
    type Future = ShieldedFuture<T, E>;

    fn into_awaitable(self) -> ShieldedFuture<T, E> {
        self.into_future()
    }

    fn ready_output(&mut self) -> Option<Outcome<T, E>> {
        self.with_outcome(Outcome::clone)
    }

    fn ready_output_of(fut: Pin<&mut ShieldedFuture<T, E>>) -> Option<Outcome<T, E>> {
        fut.shielded.with_outcome(Outcome::clone)
    }
}

/// The future of `shielded.await` (see [`Shielded`]): a copy of the outcome, once the work
/// has finished. Dropping it stops nothing.
///
/// # Examples
///
/// ```
/// use std::future::IntoFuture;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let work = corral::shield(async { Ok::<_, ()>(7) });
/// let waiter: corral::ShieldedFuture<i32, ()> = work.clone().into_future();
/// assert_eq!(waiter.await, corral::Outcome::Ok(7));
/// assert_eq!(work.await, corral::Outcome::Ok(7)); // every clone gets a copy
/// # }
/// ```
///
/// # Panics
///
/// Panics if the outcome was moved out with [`try_outcome`](Shielded::try_outcome).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ShieldedFuture<T, E> {
    shielded: Shielded<T, E>,
}

impl<T: Clone, E: Clone> Future for ShieldedFuture<T, E> {
    type Output = Outcome<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        let this = &mut self.shielded;
        if this.shared.poll_finished(&mut this.key, cx).is_pending() {
            return Poll::Pending;
        }
        let st = this.shared.lock();
        Poll::Ready(
            st.outcome
                .clone()
                .expect("the outcome of this shielded task was taken with try_outcome"),
        )
    }
}

impl<T, E> fmt::Debug for Shielded<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded")
            .field("task", &self.shared.task_ref)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The future returned by [`Shielded::finished`]: resolves when the shielded work has ended.
/// Dropping it stops only this wait, never the work.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = corral::shield(async { Ok::<_, ()>(1) });
/// let done: corral::Finished<'_, i32, ()> = s.finished();
/// done.await;
/// assert!(s.is_finished());
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Finished<'a, T, E> {
    shared: &'a Arc<Shared<T, E>>,
    key: Option<u64>,
}

impl<T, E> Future for Finished<'_, T, E> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.poll_finished(&mut this.key, cx)
    }
}

impl<T, E> Drop for Finished<'_, T, E> {
    fn drop(&mut self) {
        self.shared.wakers.unregister(self.key);
    }
}

impl<T, E> fmt::Debug for Finished<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished").finish_non_exhaustive()
    }
}
