//! The [`Deadline`] handle: one timeout scope's deadline and the phase of its life, shared by
//! the scope, the body and any caller that holds a clone.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use tokio::time::Instant;

use crate::rt::Scope;

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
///
/// [`timeout`]: super::timeout
/// [`Timeout`]: super::Timeout
/// [`Timeout::deadline`]: super::Timeout::deadline
/// [`timeout_with`]: super::timeout_with
/// [`timeout_at_with`]: super::timeout_at_with
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

    pub(super) fn enter(&self, scope: &Arc<Scope>) {
        let mut st = self.lock();
        st.phase = Phase::Entered;
        st.scope = Some(scope.clone());
        scope.set_deadline(st.when);
    }

    pub(super) fn set_waker(&self, waker: &Waker) {
        let mut st = self.lock();
        match &st.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => st.waker = Some(waker.clone()),
        }
    }

    pub(super) fn set_expiring(&self) {
        self.lock().phase = Phase::Expiring;
    }

    pub(super) fn exit(&self) {
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
