//! Deadlines: [`timeout`], [`timeout_at`], the [`Deadline`] handle, the [`Elapsed`] error, and
//! the deadline engine ([`Core`]) that [`wait_for`](crate::wait_for) shares.
//!
//! A timeout is a *deadline scope*: the body is polled in place, in the caller's task, inside a
//! cancel scope of its own (see [`cancel`](crate::cancel)). When the deadline passes, the scope
//! is asked to stop, exactly as a task is by [`Task::cancel`](crate::Task::cancel):
//!
//! * a body nobody listens in is dropped at once (its destructors run before the timeout
//!   returns) and the timeout returns `Err(Elapsed)`;
//! * a body that listens with [`cancelled()`](crate::cancelled) is handed the request and keeps
//!   running for up to the grace period. Whatever it then returns wins (a value, or an error
//!   inside the value); if it hands the request back ([`CancelRequest::propagate`]) or the
//!   grace period runs out, the timeout returns `Err(Elapsed)`.
//!
//! Nested scopes report like asyncio's: when an outer scope expires together with (or before)
//! an inner one, only the outermost expired scope returns `Err(Elapsed)`; the inner ones let
//! the cancellation pass.
//!
//! [`CancelRequest::propagate`]: crate::CancelRequest::propagate

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::outcome::Cancelled;
use crate::rt::{GraceTimer, Scope, DEFAULT_GRACE};

/// The error of a deadline that passed before the work finished.
///
/// asyncio: `TimeoutError`.
///
/// # Examples
///
/// ```
/// let e = corral::Elapsed::new();
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed(());

impl fmt::Debug for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Elapsed")
    }
}

impl Elapsed {
    /// The error value (for adapters and tests): equal to the one every timeout returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = corral::timeout(Duration::from_secs(1), std::future::pending::<()>()).await;
    /// assert_eq!(r, Err(corral::Elapsed::new()));
    /// # }
    /// ```
    pub fn new() -> Self {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

// ---------------------------------------------------------------------------------------------
// The Deadline handle
// ---------------------------------------------------------------------------------------------

/// Where a deadline scope is in its life. asyncio's `_State`, plus `Created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Built but not polled yet.
    Created,
    /// Polled at least once; the deadline is armed (or `None`).
    Entered,
    /// The deadline passed and the body is being stopped (or an outer scope is stopping it).
    Expiring,
    /// Ended after the deadline passed.
    Expired,
    /// Ended before the deadline passed.
    Finished,
}

struct DeadlineState {
    when: Option<Instant>,
    phase: Phase,
    /// The scope's cancel scope while it runs, so that a reschedule is seen at once by nested
    /// scopes deciding whether an outer one has expired.
    scope: Option<Arc<Scope>>,
    /// The waker of the task polling the scope, so that a reschedule from elsewhere re-arms it.
    waker: Option<Waker>,
}

/// A handle on the deadline of one [`timeout`] scope: read it ([`when`](Deadline::when)),
/// move it ([`reschedule`](Deadline::reschedule)), and ask whether it fired
/// ([`expired`](Deadline::expired)), from inside the body or afterwards.
///
/// Get one from [`Timeout::deadline`] (before awaiting the timeout), or as the argument of the
/// closure given to [`timeout_with`] / [`timeout_at_with`] (to use it inside the body). All
/// clones refer to the same scope. Dropping a handle does nothing.
///
/// A scope is single-use by construction: [`Timeout`] is a future, consumed by awaiting it, so
/// it cannot be entered twice (asyncio checks this at run time).
///
/// asyncio: the `asyncio.Timeout` object returned by `async with asyncio.timeout(d) as cm`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = Instant::now();
/// let scope = corral::timeout(Duration::from_secs(1), sleep(Duration::from_secs(10)));
/// let deadline = scope.deadline();
/// assert_eq!(deadline.when(), Some(start + Duration::from_secs(1)));
/// assert!(scope.await.is_err());
/// assert!(deadline.expired());
/// # }
/// ```
#[derive(Clone)]
pub struct Deadline {
    inner: Arc<Mutex<DeadlineState>>,
}

/// Why [`Deadline::reschedule`] refused to move a deadline. asyncio raises `RuntimeError` in
/// the same four states.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::RescheduleError;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let scope = corral::timeout(Duration::from_secs(1), async { 7 });
/// let deadline = scope.deadline();
/// assert_eq!(deadline.reschedule(None), Err(RescheduleError::NotEntered));
/// assert_eq!(scope.await, Ok(7));
/// assert_eq!(deadline.reschedule(None), Err(RescheduleError::Finished));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RescheduleError {
    /// The scope has not been polled yet. asyncio: "Timeout has not been entered".
    NotEntered,
    /// The deadline passed and the body is being stopped. asyncio: "Timeout is expiring".
    Expiring,
    /// The scope ended after its deadline passed. asyncio: "Timeout has expired".
    Expired,
    /// The scope ended before its deadline. asyncio: "Timeout has finished".
    Finished,
}

impl fmt::Display for RescheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RescheduleError::NotEntered => {
                "cannot reschedule a timeout that has not started: await it first"
            }
            RescheduleError::Expiring => "cannot reschedule a timeout that is expiring",
            RescheduleError::Expired => "cannot reschedule a timeout that has expired",
            RescheduleError::Finished => "cannot reschedule a timeout that has finished",
        })
    }
}

impl std::error::Error for RescheduleError {}

impl Deadline {
    pub(crate) fn new(when: Option<Instant>) -> Deadline {
        Deadline {
            inner: Arc::new(Mutex::new(DeadlineState {
                when,
                phase: Phase::Created,
                scope: None,
                waker: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DeadlineState> {
        // Every update is a plain assignment: a poisoned lock still holds a consistent state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The instant the scope expires at, or `None` if it never does.
    ///
    /// asyncio: `Timeout.when()` (a loop time; here a [`tokio::time::Instant`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = corral::timeout(None, async { 1 });
    /// assert_eq!(scope.deadline().when(), None);
    /// # }
    /// ```
    pub fn when(&self) -> Option<Instant> {
        self.lock().when
    }

    /// Moves the deadline to `when` (`None`: never expire). A deadline moved into the past
    /// fires at the body's next suspension point.
    ///
    /// asyncio: `Timeout.reschedule(when)`.
    ///
    /// # Errors
    ///
    /// Only a running scope whose deadline has not passed can be moved: before the scope is
    /// first polled this returns [`RescheduleError::NotEntered`], while it is being stopped
    /// [`Expiring`](RescheduleError::Expiring), and after it ended
    /// [`Expired`](RescheduleError::Expired) or [`Finished`](RescheduleError::Finished).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::{sleep, Instant};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let result = corral::timeout_with(Duration::from_millis(10), |deadline| async move {
    ///     // This step needs longer than planned: give it another second.
    ///     deadline.reschedule(Instant::now() + Duration::from_secs(1))?;
    ///     sleep(Duration::from_millis(500)).await;
    ///     Ok::<_, corral::RescheduleError>("done")
    /// })
    /// .await;
    /// assert_eq!(result, Ok(Ok("done")));
    /// # }
    /// ```
    pub fn reschedule(&self, when: impl Into<Option<Instant>>) -> Result<(), RescheduleError> {
        let when = when.into();
        let (scope, waker) = {
            let mut st = self.lock();
            match st.phase {
                Phase::Entered => {}
                Phase::Created => return Err(RescheduleError::NotEntered),
                Phase::Expiring => return Err(RescheduleError::Expiring),
                Phase::Expired => return Err(RescheduleError::Expired),
                Phase::Finished => return Err(RescheduleError::Finished),
            }
            st.when = when;
            (st.scope.clone(), st.waker.clone())
        };
        if let Some(scope) = scope {
            scope.set_deadline(when);
        }
        // Re-arm the scope's timer (a no-op wake when called from inside the body).
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True once the deadline has passed while the scope was running: from the moment it fired
    /// (while the body is being stopped), and after the scope ended. Stays false for a scope
    /// that finished in time, or was stopped by something else.
    ///
    /// asyncio: `Timeout.expired()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let scope = corral::timeout(Duration::from_secs(10), async { 1 });
    /// let deadline = scope.deadline();
    /// assert_eq!(scope.await, Ok(1));
    /// assert!(!deadline.expired());
    /// # }
    /// ```
    pub fn expired(&self) -> bool {
        matches!(self.lock().phase, Phase::Expiring | Phase::Expired)
    }

    fn enter(&self, scope: &Arc<Scope>) {
        let mut st = self.lock();
        st.phase = Phase::Entered;
        st.scope = Some(scope.clone());
        scope.set_deadline(st.when);
    }

    fn set_waker(&self, waker: &Waker) {
        let mut st = self.lock();
        match &st.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => st.waker = Some(waker.clone()),
        }
    }

    fn set_expiring(&self) {
        self.lock().phase = Phase::Expiring;
    }

    fn exit(&self) {
        let mut st = self.lock();
        st.phase = match st.phase {
            Phase::Expiring => Phase::Expired,
            Phase::Entered => Phase::Finished,
            p => p,
        };
        st.scope = None;
        st.waker = None;
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Deadline")
            .field("when", &st.when)
            .field("phase", &st.phase)
            .finish()
    }
}

/// Marks the scope as ended when the future that runs it is dropped (after its body).
pub(crate) struct ExitGuard(pub(crate) Deadline);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.exit();
    }
}

// ---------------------------------------------------------------------------------------------
// The engine shared by Timeout and WaitFor
// ---------------------------------------------------------------------------------------------

pin_project_lite::pin_project! {
    #[project = BodyProj]
    #[project_replace = BodyReplace]
    pub(crate) enum Body<F> {
        Running { #[pin] fut: F },
        Done,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The deadline has not passed.
    Watching,
    /// The deadline passed and this scope asked its body to stop.
    Fired,
    /// The deadline passed and the work (a task) was asked to stop; waiting for it to end.
    Stopping,
    /// The deadline passed together with an outer scope's: the outer one stops the body and
    /// reports; this one lets the cancellation pass.
    PassedThrough,
}

fn never_stops<F>(_: Pin<&mut F>) -> bool {
    false
}

pin_project_lite::pin_project! {
    /// Polls `body` in place inside a cancel scope of its own, against a deadline.
    pub(crate) struct Core<F> {
        #[pin]
        body: Body<F>,
        scope: Option<Arc<Scope>>,
        pub(crate) grace: Duration,
        mode: Mode,
        // wait_for with a zero timeout: expire before the first poll of the body.
        pub(crate) expire_first: bool,
        sleep: Option<Pin<Box<Sleep>>>,
        armed_for: Option<Instant>,
        grace_timer: GraceTimer,
        // Asks work that runs elsewhere (a task) to stop; false: drop the body instead.
        pub(crate) request_stop: fn(Pin<&mut F>) -> bool,
        // Declared last: dropped after the body, so the phase changes once it is gone.
        pub(crate) exit: ExitGuard,
    }
}

/// What [`Core`] ends with: the body's output, and whether the work was asked to stop by
/// [`Awaitable::request_stop`](crate::Awaitable::request_stop) before producing it; or `Elapsed`.
pub(crate) type CoreOutput<O> = Result<(O, bool), Elapsed>;

impl<F> Core<F> {
    pub(crate) fn new(body: Body<F>, deadline: Deadline) -> Self {
        Core {
            body,
            scope: None,
            grace: DEFAULT_GRACE,
            mode: Mode::Watching,
            expire_first: false,
            sleep: None,
            armed_for: None,
            grace_timer: GraceTimer::default(),
            request_stop: never_stops::<F>,
            exit: ExitGuard(deadline),
        }
    }
}

impl<F: Future> Core<F> {
    /// Before the first poll: takes the body's output if `ready` finds it without running any
    /// of the caller's code (a finished task), and drops the body. The scope is never entered.
    pub(crate) fn take_ready(
        self: Pin<&mut Self>,
        ready: fn(Pin<&mut F>) -> Option<F::Output>,
    ) -> Option<F::Output> {
        let mut this = self.project();
        let out = match this.body.as_mut().project() {
            BodyProj::Running { fut } => ready(fut)?,
            BodyProj::Done => return None,
        };
        this.body.project_replace(Body::Done);
        Some(out)
    }
}

impl<F: Future> Future for Core<F> {
    type Output = CoreOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let deadline = &this.exit.0;
        let scope = match this.scope {
            Some(s) => s.clone(),
            None => {
                // Entering: the scope nests in whatever scope polls us now.
                let s = Scope::nested();
                deadline.enter(&s);
                *this.scope = Some(s.clone());
                s
            }
        };
        deadline.set_waker(cx.waker());
        scope.set_owner_waker(cx.waker());

        // Drops the body in place (its destructors run now) and reports the expiry.
        macro_rules! elapsed {
            () => {{
                this.body.as_mut().project_replace(Body::Done);
                deadline.exit();
                return Poll::Ready(Err(Elapsed::new()));
            }};
        }

        if *this.mode == Mode::Fired
            && this
                .grace_timer
                .must_stop(&scope, Some(*this.grace), cx)
                .is_some()
        {
            elapsed!();
        }

        if std::mem::take(this.expire_first) && *this.mode == Mode::Watching {
            deadline.set_expiring();
            let asked = match this.body.as_mut().project() {
                BodyProj::Running { fut } => (this.request_stop)(fut),
                BodyProj::Done => false,
            };
            if asked {
                *this.mode = Mode::Stopping;
            } else {
                // A zero wait_for never starts a plain future.
                *this.mode = Mode::Fired;
                scope.request(Cancelled::new());
                elapsed!();
            }
        }

        let polled = match this.body.as_mut().project() {
            BodyProj::Running { fut } => scope.enter(|| fut.poll(cx)),
            BodyProj::Done => panic!("corral timeout polled after completion"),
        };
        if let Poll::Ready(out) = polled {
            this.body.as_mut().project_replace(Body::Done);
            // A request the body never saw (or handed back) stands: the scope expired.
            if *this.mode == Mode::Fired && scope.finished_verdict().is_some() {
                deadline.exit();
                return Poll::Ready(Err(Elapsed::new()));
            }
            deadline.exit();
            return Poll::Ready(Ok((out, *this.mode == Mode::Stopping)));
        }

        if *this.mode == Mode::Watching {
            let due = match deadline.when() {
                None => {
                    *this.sleep = None;
                    false
                }
                Some(when) if when <= Instant::now() => true,
                Some(when) => {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(when)));
                    if *this.armed_for != Some(when) {
                        sleep.as_mut().reset(when);
                        *this.armed_for = Some(when);
                    }
                    sleep.as_mut().poll(cx).is_ready()
                }
            };
            if due {
                *this.sleep = None;
                deadline.set_expiring();
                if scope.outer_doomed(Instant::now()) {
                    *this.mode = Mode::PassedThrough;
                } else {
                    let asked = match this.body.as_mut().project() {
                        BodyProj::Running { fut } => (this.request_stop)(fut),
                        BodyProj::Done => false,
                    };
                    if asked {
                        *this.mode = Mode::Stopping;
                    } else {
                        *this.mode = Mode::Fired;
                        // The owner's waker stays registered (see `Scope::request`).
                        scope.request(Cancelled::new());
                    }
                }
            }
        }

        if *this.mode == Mode::Fired
            && this
                .grace_timer
                .must_stop(&scope, Some(*this.grace), cx)
                .is_some()
        {
            elapsed!();
        }
        Poll::Pending
    }
}

pub(crate) fn instant_after(d: Option<Duration>) -> Option<Instant> {
    // A deadline too far away to represent never fires.
    d.and_then(|d| Instant::now().checked_add(d))
}

// ---------------------------------------------------------------------------------------------
// timeout / timeout_at
// ---------------------------------------------------------------------------------------------

pin_project_lite::pin_project! {
    /// A deadline scope around a future: what [`timeout`], [`timeout_at`], [`timeout_with`] and
    /// [`timeout_at_with`] return. It outputs `Ok(output)` or `Err(`[`Elapsed`]`)`.
    ///
    /// The body is polled in place, in the caller's task, inside a cancel scope of its own.
    /// It is polled before the deadline is looked at, so a body that finishes without
    /// suspending never times out, even with a zero deadline. When the deadline passes:
    ///
    /// * if nothing in the body listens ([`cancelled()`](crate::cancelled)), the body is
    ///   dropped at once, its destructors run, and the scope returns `Err(Elapsed)`;
    /// * if something listens, the request is delivered to it and the body keeps running for
    ///   up to the [grace period](Timeout::grace). What the body then returns wins: `Ok` with
    ///   its value (an error inside that value passes through unchanged). If the body hands the
    ///   request back ([`CancelRequest::propagate`](crate::CancelRequest::propagate)) or the
    ///   grace period runs out, the body is dropped and the scope returns `Err(Elapsed)`.
    ///
    /// In nested scopes, only the outermost scope whose deadline has passed returns
    /// `Err(Elapsed)`; an inner scope that expires at the same time lets the cancellation pass
    /// (its [`Deadline::expired`] is still true). A cancellation from outside (the enclosing
    /// task is cancelled) is never turned into `Elapsed`.
    ///
    /// Dropping it drops the body: nothing keeps running.
    ///
    /// asyncio: `async with asyncio.timeout(d):` / `asyncio.timeout_at(when)`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the scope drops the body at its current suspension point; the scope then counts
    /// as ended ([`Deadline::reschedule`] returns an error).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // Nobody listens: dropped at the deadline.
    /// let r = corral::timeout(Duration::from_millis(10), sleep(Duration::from_secs(10))).await;
    /// assert_eq!(r, Err(corral::Elapsed::new()));
    ///
    /// // The body listens, cleans up, and returns its own value.
    /// let r = corral::timeout(Duration::from_millis(10), async {
    ///     tokio::select! {
    ///         _ = corral::cancelled() => {
    ///             sleep(Duration::from_millis(5)).await; // asynchronous cleanup
    ///             "partial"
    ///         }
    ///         _ = sleep(Duration::from_secs(10)) => "complete",
    ///     }
    /// })
    /// .grace(Duration::from_secs(1))
    /// .await;
    /// assert_eq!(r, Ok("partial"));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        core: Core<F>,
    }
}

impl<F> Timeout<F> {
    fn new(fut: F, when: Option<Instant>) -> Self {
        Timeout {
            core: Core::new(Body::Running { fut }, Deadline::new(when)),
        }
    }

    /// A handle on this scope's deadline, for use after (or while) awaiting it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let scope = corral::timeout(Duration::ZERO, tokio::task::yield_now());
    /// let deadline = scope.deadline();
    /// assert!(scope.await.is_err()); // fires at the first suspension point
    /// assert!(deadline.expired());
    /// # }
    /// ```
    pub fn deadline(&self) -> Deadline {
        self.core.exit.0.clone()
    }

    /// How long a body that listens for the expiry may keep running after it is delivered,
    /// before it is dropped. Default: [`DEFAULT_GRACE`](crate::DEFAULT_GRACE).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::{sleep, Instant};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let r = corral::timeout(Duration::from_millis(10), async {
    ///     let _request = corral::cancelled().await;
    ///     sleep(Duration::from_secs(60)).await; // a cleanup that takes too long
    /// })
    /// .grace(Duration::from_millis(100))
    /// .await;
    /// assert!(r.is_err());
    /// assert_eq!(start.elapsed(), Duration::from_millis(110));
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.core.grace = grace;
        self
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().core.poll(cx).map(|r| r.map(|(out, _)| out))
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.core.exit.0)
            .field("grace", &self.core.grace)
            .finish_non_exhaustive()
    }
}

/// Runs `fut` in place with a deadline `d` from now: `Ok(output)`, or `Err(Elapsed)` if the
/// deadline passed first. `d` is a [`Duration`] or an `Option<Duration>`; `None` never
/// expires. A zero deadline fires at the body's first suspension point, never in a body that
/// finishes without suspending. See [`Timeout`] for what happens at the deadline.
///
/// asyncio: `async with asyncio.timeout(d): ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let fast = corral::timeout(Duration::from_secs(1), async { 42 }).await;
/// assert_eq!(fast, Ok(42));
/// let slow = corral::timeout(Duration::from_secs(1), sleep(Duration::from_secs(2))).await;
/// assert!(slow.is_err());
/// let never = corral::timeout(None, sleep(Duration::from_secs(100))).await;
/// assert!(never.is_ok());
/// # }
/// ```
pub fn timeout<F: Future>(d: impl Into<Option<Duration>>, fut: F) -> Timeout<F> {
    Timeout::new(fut, instant_after(d.into()))
}

/// Runs `fut` in place with a deadline at `when` (`None`: never): `Ok(output)`, or
/// `Err(Elapsed)`. A deadline already in the past fires at the body's first suspension point.
/// See [`Timeout`].
///
/// asyncio: `async with asyncio.timeout_at(when): ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let at = Instant::now() + Duration::from_millis(10);
/// let scope = corral::timeout_at(at, sleep(Duration::from_secs(10)));
/// assert_eq!(scope.deadline().when(), Some(at));
/// assert!(scope.await.is_err());
/// assert_eq!(Instant::now(), at);
/// # }
/// ```
pub fn timeout_at<F: Future>(when: impl Into<Option<Instant>>, fut: F) -> Timeout<F> {
    Timeout::new(fut, when.into())
}

/// Like [`timeout`], for a body that needs its own [`Deadline`]: `body` is called at once with
/// the handle and returns the future to run (typically an `async move` block that captures it).
///
/// asyncio: `async with asyncio.timeout(d) as cm: ... cm.reschedule(...)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let r = corral::timeout_with(Duration::from_millis(10), |deadline| async move {
///     deadline.reschedule(None).unwrap(); // this one may take as long as it needs
///     sleep(Duration::from_secs(100)).await;
///     "done"
/// })
/// .await;
/// assert_eq!(r, Ok("done"));
/// # }
/// ```
pub fn timeout_with<F, B>(d: impl Into<Option<Duration>>, body: B) -> Timeout<F>
where
    F: Future,
    B: FnOnce(Deadline) -> F,
{
    with_deadline(instant_after(d.into()), body)
}

/// Like [`timeout_at`], for a body that needs its own [`Deadline`]; see [`timeout_with`].
///
/// asyncio: `async with asyncio.timeout_at(when) as cm: ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let at = Instant::now() + Duration::from_secs(1);
/// let r = corral::timeout_at_with(at, |deadline| async move {
///     assert_eq!(deadline.when(), Some(at));
///     sleep(Duration::from_secs(2)).await;
/// })
/// .await;
/// assert!(r.is_err());
/// # }
/// ```
pub fn timeout_at_with<F, B>(when: impl Into<Option<Instant>>, body: B) -> Timeout<F>
where
    F: Future,
    B: FnOnce(Deadline) -> F,
{
    with_deadline(when.into(), body)
}

fn with_deadline<F, B>(when: Option<Instant>, body: B) -> Timeout<F>
where
    B: FnOnce(Deadline) -> F,
{
    let deadline = Deadline::new(when);
    let fut = body(deadline.clone());
    Timeout {
        core: Core::new(Body::Running { fut }, deadline),
    }
}
