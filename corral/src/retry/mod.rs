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
        policy,
        make,
        stage: Stage::Start,
        failures: Vec::new(),
        call: 0,
        delays: None,
        fastest: None,
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
    failures: Vec<E>,
    reason: GaveUp,
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
        u32::try_from(self.failures.len()).unwrap_or(u32::MAX)
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
        self.reason
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
        self.failures.last().expect("a retry error holds a failure")
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
        self.failures.pop().expect("a retry error holds a failure")
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
        &self.failures
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
        self.failures
    }
}

impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryError")
            .field("attempts", &self.failures.len())
            .field("reason", &self.reason)
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failures.len();
        write!(
            f,
            "gave up after {n} attempt{} ({}): {}",
            if n == 1 { "" } else { "s" },
            self.reason,
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
        // `started` only when the attempt's duration matters (under a deadline).
        Attempt { #[pin] fut: Fut, started: Option<Instant> },
        // Boxed: the sleep is only for a retry, and would make every call's future larger.
        Sleeping { sleep: Pin<Box<Sleep>> },
        Done,
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
        policy: RetryPolicy<E>,
        make: F,
        #[pin]
        stage: Stage<Fut>,
        failures: Vec<E>,
        // This call's number among the policy's calls, for its jitter.
        call: u64,
        // Its delays, drawn at the first failure (a call that succeeds at once needs none).
        delays: Option<Box<Delays>>,
        // The shortest failed attempt so far: the default estimate of what the next needs.
        fastest: Option<Duration>,
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
    fn poll_report(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Retried<T, E>, RetryError<E>>> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Start => {
                    *this.call = this.policy.first_attempt();
                    let fut = (this.make)();
                    let started = this.policy.times_attempts().then(Instant::now);
                    this.stage.set(Stage::Attempt { fut, started });
                }
                StageProj::Attempt { fut, started } => {
                    let err = match ready!(fut.poll(cx)) {
                        Ok(value) => {
                            this.stage.set(Stage::Done);
                            let failures = std::mem::take(this.failures);
                            return Poll::Ready(Ok(Retried { value, failures }));
                        }
                        Err(e) => e,
                    };
                    if let Some(took) = started.map(|s| s.elapsed()) {
                        *this.fastest = Some(this.fastest.map_or(took, |f| f.min(took)));
                    }
                    let fastest = this.fastest.unwrap_or_default();
                    let made = u32::try_from(this.failures.len() + 1).unwrap_or(u32::MAX);
                    let (policy, call) = (&*this.policy, *this.call);
                    let delays = this
                        .delays
                        .get_or_insert_with(|| Box::new(policy.delays(call)));
                    let decision = this.policy.decide(&err, made, delays, fastest);
                    this.failures.push(err);
                    match decision {
                        Err(reason) => {
                            this.stage.set(Stage::Done);
                            let failures = std::mem::take(this.failures);
                            return Poll::Ready(Err(RetryError { failures, reason }));
                        }
                        Ok(delay) if delay.is_zero() => {
                            let fut = (this.make)();
                            let started = this.policy.times_attempts().then(Instant::now);
                            this.stage.set(Stage::Attempt { fut, started });
                        }
                        Ok(delay) => {
                            this.stage.set(Stage::Sleeping {
                                sleep: Box::pin(tokio::time::sleep(delay)),
                            });
                        }
                    }
                }
                StageProj::Sleeping { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    let fut = (this.make)();
                    let started = this.policy.times_attempts().then(Instant::now);
                    this.stage.set(Stage::Attempt { fut, started });
                }
                StageProj::Done => panic!("corral::Retry polled after completion"),
            }
        }
    }
}

impl<F, Fut, T, E> Future for Retry<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, RetryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_report(cx).map(|r| r.map(|done| done.value))
    }
}

impl<F, Fut, E> fmt::Debug for Retry<F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("failures", &self.failures.len())
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
        self.project().inner.poll_report(cx)
    }
}

impl<F, Fut, E> fmt::Debug for RetryReport<F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryReport").field(&self.inner).finish()
    }
}
