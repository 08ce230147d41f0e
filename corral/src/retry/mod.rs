//! [`retry`]: runs an operation again when it fails, under a [`RetryPolicy`]: which errors,
//! how many attempts, exponential [`Backoff`] with [`Jitter`], a delay hint from the error,
//! a shared [`RetryBudget`], and the deadline of the enclosing [`timeout`](crate::timeout).
//!
//! asyncio: hand-written loop (asyncio, Trio and tokio have no retry; tower, Polly and
//! Finagle have it as service middleware).
//!
//! A retry is a future that returns a `Result`, polled in place like any other, so it composes
//! with every combinator: `gather(urls.map(|u| retry(policy.clone(), move || fetch(u))))`
//! retries each fetch on its own, and a [`RetryBudget`] in the policy caps the retries of all
//! of them together.
//!
//! One concern a file:
//!
//! * `mod.rs`: [`retry`], the [`Retry`] and [`RetryReport`] futures, and what they end with
//!   ([`Retried`], [`RetryError`], [`GaveUp`]).
//! * `policy`: [`RetryPolicy`], its knobs, and the decision after each failure.
//! * `backoff`: [`Backoff`], [`Jitter`], [`Delays`], and the small RNG behind the jitter.
//! * `budget`: [`RetryBudget`].

mod backoff;
mod budget;
mod policy;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

pub use backoff::{Backoff, Delays, Jitter};
pub use budget::RetryBudget;
pub use policy::RetryPolicy;

/// Runs the future `make` returns, and when it fails, runs a new one as `policy` says, until
/// one succeeds or the policy gives up. Resolves to the first success, or to a
/// [`RetryError`] that keeps every attempt's failure and says why it stopped.
///
/// `make` is called once per attempt, the first time when the retry is first polled. The
/// attempts run in place, in the caller's task, one at a time; between them the retry sleeps
/// on tokio's clock. [`Retry::report`] also tells a success how many attempts it took.
///
/// Inside a [`timeout`](crate::timeout) scope (polled in place, here or in an enclosing
/// combinator), the retry reads the scope's deadline: it neither sleeps past it nor starts an
/// attempt that cannot finish before it (see [`RetryPolicy::min_attempt_time`]), and gives up
/// at once instead, with the last failure and [`GaveUp::Deadline`]. A spawned task does not
/// see the deadlines around its spawner.
///
/// asyncio: hand-written loop.
///
/// # Cancel safety
///
/// Dropping the retry drops the attempt in flight (or the sleep): nothing keeps running.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = AtomicU32::new(0);
/// let flaky = || async {
///     // Fails twice, then answers.
///     match calls.fetch_add(1, Ordering::SeqCst) {
///         0 | 1 => Err("connection reset"),
///         _ => Ok("page"),
///     }
/// };
/// let policy = corral::RetryPolicy::new().max_attempts(5);
/// let done = corral::retry(policy, flaky).report().await.unwrap();
/// assert_eq!(done.value, "page");
/// assert_eq!(done.attempts(), 3);
/// assert_eq!(done.failures, ["connection reset"; 2]);
///
/// // Composes: each input retried on its own, all under one policy.
/// let policy = corral::RetryPolicy::new().backoff(corral::Backoff::none());
/// let pages = corral::gather((1..=3).map(|i| {
///     corral::retry(policy.clone(), move || async move { Ok::<_, &str>(i * 10) })
/// }))
/// .await
/// .unwrap();
/// assert_eq!(pages, [10, 20, 30]);
/// # }
/// ```
pub fn retry<F, Fut, T, E>(policy: RetryPolicy<E>, make: F) -> Retry<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        stage: Stage::Start,
        started: None,
        make,
        policy,
        failed: None,
    }
}

/// Why a [`retry`] stopped retrying.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = corral::RetryPolicy::new().retry_if(|e: &&str| *e != "forbidden");
/// let err = corral::retry(policy, || async { Err::<(), _>("forbidden") }).await.unwrap_err();
/// assert_eq!(err.reason(), corral::GaveUp::NotRetryable);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaveUp {
    /// The [`retry_if`](RetryPolicy::retry_if) predicate refused the last error.
    NotRetryable,
    /// The [maximum number of attempts](RetryPolicy::max_attempts) was made.
    Exhausted,
    /// The [`RetryBudget`] had no retry left.
    Budget,
    /// The next attempt could not have finished before the enclosing deadline.
    Deadline,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GaveUp::NotRetryable => "the error is not retryable",
            GaveUp::Exhausted => "no attempts left",
            GaveUp::Budget => "the retry budget is spent",
            GaveUp::Deadline => "the deadline leaves no time for another attempt",
        })
    }
}

/// The error of a [`retry`] that gave up: every attempt's failure, in order, and why it
/// stopped. It always holds at least one failure; the last is the one that ended the call.
///
/// asyncio: hand-written (the exceptions a loop collected, e.g. in an `ExceptionGroup`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut n = 0;
/// let policy = corral::RetryPolicy::new().max_attempts(3).backoff(corral::Backoff::none());
/// let err = corral::retry(policy, || {
///     n += 1;
///     let attempt = n;
///     async move { Err::<(), _>(format!("failure {attempt}")) }
/// })
/// .await
/// .unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.last(), "failure 3");
/// assert_eq!(err.failures(), ["failure 1", "failure 2", "failure 3"]);
/// assert_eq!(
///     err.to_string(),
///     "gave up after 3 attempts (no attempts left): failure 3"
/// );
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RetryError<E> {
    // Boxed: one pointer, so that a retry's output (`Result<T, RetryError<E>>`) is hardly
    // larger than `T` wherever a combinator stores it.
    inner: Box<GaveUpWith<E>>,
}

#[derive(Clone, PartialEq, Eq)]
struct GaveUpWith<E> {
    failures: Vec<E>,
    reason: GaveUp,
}

impl<E> RetryError<E> {
    fn new(failures: Vec<E>, reason: GaveUp) -> RetryError<E> {
        RetryError {
            inner: Box::new(GaveUpWith { failures, reason }),
        }
    }
}

impl<E> RetryError<E> {
    /// How many attempts were made (each one failed).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new().max_attempts(4);
    /// let err = corral::retry(policy, || async { Err::<(), _>(()) }).await.unwrap_err();
    /// assert_eq!(err.attempts(), 4);
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.inner.failures.len()).unwrap_or(u32::MAX)
    }

    /// Why the retry stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let err = corral::retry(corral::RetryPolicy::new(), || async { Err::<(), _>(()) })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.reason(), corral::GaveUp::Exhausted);
    /// # }
    /// ```
    pub fn reason(&self) -> GaveUp {
        self.inner.reason
    }

    /// The failure of the last attempt: the one that ended the call.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let err = corral::retry(corral::RetryPolicy::new(), || async { Err::<(), _>(7) })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(*err.last(), 7);
    /// # }
    /// ```
    pub fn last(&self) -> &E {
        self.inner
            .failures
            .last()
            .expect("a retry error holds a failure")
    }

    /// The failure of the last attempt, by value (for `?` into the operation's own error).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// async fn fetch() -> Result<(), std::io::Error> {
    ///     let policy = corral::RetryPolicy::new().max_attempts(2);
    ///     corral::retry(policy, || async {
    ///         Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    ///     })
    ///     .await
    ///     .map_err(corral::RetryError::into_last)
    /// }
    /// assert_eq!(fetch().await.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
    /// # }
    /// ```
    pub fn into_last(mut self) -> E {
        self.inner
            .failures
            .pop()
            .expect("a retry error holds a failure")
    }

    /// Every attempt's failure, first to last.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new().max_attempts(2);
    /// let err = corral::retry(policy, || async { Err::<(), _>("x") }).await.unwrap_err();
    /// assert_eq!(err.failures(), ["x", "x"]);
    /// # }
    /// ```
    pub fn failures(&self) -> &[E] {
        &self.inner.failures
    }

    /// Every attempt's failure, first to last, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new().max_attempts(2);
    /// let err = corral::retry(policy, || async { Err::<(), _>(1) }).await.unwrap_err();
    /// assert_eq!(err.into_failures(), vec![1, 1]);
    /// # }
    /// ```
    pub fn into_failures(self) -> Vec<E> {
        self.inner.failures
    }
}

impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryError")
            .field("attempts", &self.inner.failures.len())
            .field("reason", &self.inner.reason)
            .field("failures", &self.inner.failures)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.inner.failures.len();
        write!(
            f,
            "gave up after {n} attempt{} ({}): {}",
            if n == 1 { "" } else { "s" },
            self.inner.reason,
            self.last()
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.last())
    }
}

/// A success from [`Retry::report`]: the value, and the failures of the attempts before it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let done: corral::Retried<i32, ()> = corral::retry(corral::RetryPolicy::new(), || async {
///     Ok(1)
/// })
/// .report()
/// .await
/// .unwrap();
/// assert_eq!((done.value, done.attempts()), (1, 1));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried<T, E> {
    /// What the successful attempt returned.
    pub value: T,
    /// The failures of the attempts before it, first to last.
    pub failures: Vec<E>,
}

impl<T, E> Retried<T, E> {
    /// How many attempts were made, the successful one included.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = corral::Retried { value: "ok", failures: vec!["timeout"] };
    /// assert_eq!(r.attempts(), 2);
    /// ```
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.failures.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage<Fut> {
        // Not polled yet: the first attempt is made on the first poll.
        Start,
        Attempt { #[pin] fut: Fut },
        // Waiting for the next attempt: the sleep is in `Failed`.
        Sleeping,
        Done,
    }
}

/// What only a call that has failed needs, allocated at its first failure: a call that
/// succeeds at once carries one null pointer instead, and has nothing of it to drop.
struct Failed<E> {
    failures: Vec<E>,
    // This call's delays, its own jitter sequence.
    delays: Delays,
    // The shortest failed attempt so far: the default estimate of what the next needs.
    fastest: Option<Duration>,
    // Boxed: a `Sleep` is large, and pinned.
    sleep: Option<Pin<Box<Sleep>>>,
}

/// What a retry does after a failure.
enum Next<E> {
    Attempt,
    Sleep,
    GiveUp(RetryError<E>),
}

impl<E> Failed<E> {
    /// Records the failure of an attempt (`started` when it was timed) and decides what
    /// comes next. Out of line: a call that never fails never comes here, and its poll stays
    /// small enough to be inlined into the combinator that polls it.
    #[inline(never)]
    fn after(
        this: &mut Option<Box<Failed<E>>>,
        policy: &RetryPolicy<E>,
        err: E,
        started: Option<Instant>,
    ) -> Next<E> {
        let failed = this.get_or_insert_with(|| {
            Box::new(Failed {
                failures: Vec::new(),
                delays: policy.delays(),
                fastest: None,
                sleep: None,
            })
        });
        if let Some(took) = started.map(|s| s.elapsed()) {
            failed.fastest = Some(failed.fastest.map_or(took, |f| f.min(took)));
        }
        let fastest = failed.fastest.unwrap_or_default();
        let made = u32::try_from(failed.failures.len() + 1).unwrap_or(u32::MAX);
        let decision = policy.decide(&err, made, &mut failed.delays, fastest);
        failed.failures.push(err);
        match decision {
            Err(reason) => Next::GiveUp(RetryError::new(
                std::mem::take(&mut failed.failures),
                reason,
            )),
            Ok(delay) if delay.is_zero() => Next::Attempt,
            Ok(delay) => {
                failed.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                Next::Sleep
            }
        }
    }

    /// Polls the sleep before the next attempt.
    #[inline(never)]
    fn poll_sleep(this: &mut Option<Box<Failed<E>>>, cx: &mut Context<'_>) -> Poll<()> {
        match this.as_mut().and_then(|f| f.sleep.as_mut()) {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`retry`]: resolves to the first success, or to a
    /// [`RetryError`] with every failure. See [`retry`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight or the sleep before the next one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = corral::retry(corral::RetryPolicy::new(), || async { Ok::<_, ()>(1) });
    /// assert_eq!(r.await, Ok(1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Retry<F, Fut, E> {
        #[pin]
        stage: Stage<Fut>,
        // When the attempt in flight started, only when its duration matters (under a
        // deadline). Beside the stage rather than in it, so that the stage's tag can live in
        // a niche of the attempt's own future (one compare to tell an attempt from the rest).
        started: Option<Instant>,
        make: F,
        policy: RetryPolicy<E>,
        // `None` until the first failure: see `Failed`.
        failed: Option<Box<Failed<E>>>,
    }
}

impl<F, Fut, E> Retry<F, Fut, E> {
    /// Also reports how a success was reached: resolves to [`Retried`] (the value, the count
    /// of attempts and the earlier failures) instead of the bare value.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut failed = false;
    /// let policy = corral::RetryPolicy::new();
    /// let done = corral::retry(policy, || {
    ///     let first = !std::mem::replace(&mut failed, true);
    ///     async move { if first { Err("busy") } else { Ok(200) } }
    /// })
    /// .report()
    /// .await
    /// .unwrap();
    /// assert_eq!(done.attempts(), 2);
    /// # }
    /// ```
    pub fn report(self) -> RetryReport<F, Fut, E> {
        RetryReport { inner: self }
    }
}

impl<F, Fut, T, E> Retry<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    /// The whole retry. A success leaves the earlier failures in `failed`, for
    /// [`RetryReport`]; a plain [`Retry`] drops them with itself.
    ///
    /// Inline, with the failure path out of line (`Failed`): for a call whose first attempt
    /// succeeds, this is the attempt's own poll plus a few branches, polled where the
    /// combinator polls its inputs (issue 11's bound: a retry that never fires adds at most
    /// 5 % to `gather`).
    #[inline]
    fn poll_value(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RetryError<E>>> {
        let mut this = self.project();
        loop {
            // The attempt in flight first: the one branch a call that succeeds at once takes
            // on every poll but its first.
            if let StageProj::Attempt { fut } = this.stage.as_mut().project() {
                let err = match ready!(fut.poll(cx)) {
                    Ok(value) => {
                        this.stage.set(Stage::Done);
                        return Poll::Ready(Ok(value));
                    }
                    Err(e) => e,
                };
                match Failed::after(this.failed, this.policy, err, this.started.take()) {
                    Next::Attempt => {}
                    Next::Sleep => {
                        this.stage.set(Stage::Sleeping);
                        continue;
                    }
                    Next::GiveUp(err) => {
                        this.stage.set(Stage::Done);
                        return Poll::Ready(Err(err));
                    }
                }
            } else {
                match this.stage.as_mut().project() {
                    StageProj::Start => this.policy.first_attempt(),
                    StageProj::Sleeping => ready!(Failed::poll_sleep(this.failed, cx)),
                    _ => panic!("corral::Retry polled after completion"),
                }
            }
            // `started` is `None` here (taken at each failure): written only when timed.
            let timed = this.policy.times_attempts();
            let fut = (this.make)();
            if timed {
                *this.started = Some(Instant::now());
            }
            this.stage.set(Stage::Attempt { fut });
        }
    }

    /// The failures before a success (once [`poll_value`](Self::poll_value) has returned it).
    fn take_failures(self: Pin<&mut Self>) -> Vec<E> {
        self.project()
            .failed
            .take()
            .map(|f| f.failures)
            .unwrap_or_default()
    }
}

impl<F, Fut, T, E> Future for Retry<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, RetryError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_value(cx)
    }
}

impl<F, Fut, E> fmt::Debug for Retry<F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures = self.failed.as_ref().map_or(0, |f| f.failures.len());
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("failures", &failures)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Retry::report`]: a [`Retry`] that resolves to [`Retried`]
    /// (the value and the earlier failures) on success.
    ///
    /// # Cancel safety
    ///
    /// As for [`Retry`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let report: corral::RetryReport<_, _, ()> =
    ///     corral::retry(corral::RetryPolicy::new(), || async { Ok(3) }).report();
    /// assert_eq!(report.await.unwrap().attempts(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryReport<F, Fut, E> {
        #[pin]
        inner: Retry<F, Fut, E>,
    }
}

impl<F, Fut, T, E> Future for RetryReport<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<Retried<T, E>, RetryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let value = ready!(inner.as_mut().poll_value(cx))?;
        Poll::Ready(Ok(Retried {
            value,
            failures: inner.take_failures(),
        }))
    }
}

impl<F, Fut, E> fmt::Debug for RetryReport<F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryReport").field(&self.inner).finish()
    }
}
