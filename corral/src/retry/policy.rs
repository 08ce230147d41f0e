//! [`RetryPolicy`]: the knobs of a retry, and the decision after each failure.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::{random_seed, Backoff, Delays, SplitMix64};
use super::budget::RetryBudget;
use super::{GaveUp, Retry};

type Predicate<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;
type Hint<E> = Arc<dyn Fn(&E) -> Option<Duration> + Send + Sync>;

/// How to retry a failing operation: which errors to retry ([`retry_if`]), how many attempts
/// ([`max_attempts`]), how long to wait between them ([`backoff`], overridden by a
/// [`delay_hint`] from the error), and a [`budget`] shared with other calls. A retry is also
/// *deadline-aware*: inside a [`timeout`](crate::timeout) scope it neither sleeps past the
/// deadline nor starts an attempt that cannot finish before it ([`min_attempt_time`]).
///
/// The default ([`RetryPolicy::new`]): 3 attempts, every error retried,
/// [`Backoff::default`] (100 ms doubling, capped at 10 s, full jitter), no hint, no budget.
///
/// Cloning is cheap (the closures and the budget are shared). Clones draw different jitter
/// for each call; a policy made with [`seed`](RetryPolicy::seed) draws the same delays every
/// run (calls are numbered in the order they first fail).
///
/// asyncio: hand-written (a `for attempt in range(n): try: ... except: await sleep(...)` loop).
///
/// [`retry_if`]: RetryPolicy::retry_if
/// [`max_attempts`]: RetryPolicy::max_attempts
/// [`backoff`]: RetryPolicy::backoff
/// [`delay_hint`]: RetryPolicy::delay_hint
/// [`budget`]: RetryPolicy::budget
/// [`min_attempt_time`]: RetryPolicy::min_attempt_time
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{Backoff, Jitter, RetryPolicy};
///
/// #[derive(Debug)]
/// enum FetchError { Refused, Busy { retry_after: Duration }, NotFound }
///
/// let policy = RetryPolicy::new()
///     .max_attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(50)).jitter(Jitter::Decorrelated))
///     .retry_if(|e: &FetchError| !matches!(e, FetchError::NotFound))
///     .delay_hint(|e: &FetchError| match e {
///         FetchError::Busy { retry_after } => Some(*retry_after),
///         _ => None,
///     })
///     .budget(corral::RetryBudget::default());
/// # let _ = policy;
/// ```
pub struct RetryPolicy<E> {
    // One pointer: a retry future carries its policy, and a gather of 100,000 retries moves
    // 100,000 of them into place. Builders copy the knobs on write.
    knobs: Arc<Knobs<E>>,
}

struct Knobs<E> {
    max_attempts: u32,
    backoff: Backoff,
    retry_if: Option<Predicate<E>>,
    hint: Option<Hint<E>>,
    budget: Option<RetryBudget>,
    min_attempt_time: Option<Duration>,
    seed: u64,
    /// Calls through this policy and its clones that have failed: mixed into each one's
    /// jitter seed.
    calls: Arc<AtomicU64>,
}

// By hand: `E` need not be `Clone` (only functions of `&E` are kept).
impl<E> Clone for Knobs<E> {
    fn clone(&self) -> Self {
        Knobs {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            retry_if: self.retry_if.clone(),
            hint: self.hint.clone(),
            budget: self.budget.clone(),
            min_attempt_time: self.min_attempt_time,
            seed: self.seed,
            calls: self.calls.clone(),
        }
    }
}

impl<E> RetryPolicy<E> {
    /// The default policy: 3 attempts, every error retried, [`Backoff::default`], no budget.
    ///
    /// # Examples
    ///
    /// ```
    /// let policy = corral::RetryPolicy::<std::io::Error>::new();
    /// # let _ = policy;
    /// ```
    pub fn new() -> RetryPolicy<E> {
        RetryPolicy {
            knobs: Arc::new(Knobs {
                max_attempts: 3,
                backoff: Backoff::default(),
                retry_if: None,
                hint: None,
                budget: None,
                min_attempt_time: None,
                seed: random_seed(),
                calls: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// The knobs, to change (copied first if another clone shares them).
    fn set(&mut self) -> &mut Knobs<E> {
        Arc::make_mut(&mut self.knobs)
    }

    /// At most `n` attempts in all, the first included (default 3). `0` counts as 1: the
    /// operation always runs once.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new().max_attempts(2);
    /// let err = corral::retry(policy, || async { Err::<(), _>("down") }).await.unwrap_err();
    /// assert_eq!(err.attempts(), 2);
    /// assert_eq!(err.reason(), corral::GaveUp::Exhausted);
    /// # }
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.set().max_attempts = n.max(1);
        self
    }

    /// The delays between attempts (default [`Backoff::default`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let policy = corral::RetryPolicy::new()
    ///     .max_attempts(3)
    ///     .backoff(corral::Backoff::constant(Duration::from_secs(1)));
    /// let _ = corral::retry(policy, || async { Err::<(), _>("down") }).await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2)); // two waits of one second
    /// # }
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.set().backoff = backoff;
        self
    }

    /// Retries only errors for which `pred` returns true (default: every error). An error it
    /// refuses ends the call at once with [`GaveUp::NotRetryable`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new().retry_if(|status: &u16| *status >= 500);
    /// let err = corral::retry(policy, || async { Err::<(), u16>(404) }).await.unwrap_err();
    /// assert_eq!(err.attempts(), 1);
    /// assert_eq!(err.reason(), corral::GaveUp::NotRetryable);
    /// # }
    /// ```
    pub fn retry_if(mut self, pred: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.set().retry_if = Some(Arc::new(pred));
        self
    }

    /// A delay the error asks for, such as HTTP's `Retry-After`: when `hint` returns
    /// `Some(d)`, the retry waits `d` instead of the backoff's delay, capped at the backoff's
    /// [cap](Backoff::max_delay). `None` keeps the backoff's delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let policy = corral::RetryPolicy::new()
    ///     .max_attempts(2)
    ///     .delay_hint(|retry_after: &u64| Some(Duration::from_secs(*retry_after)));
    /// let _ = corral::retry(policy, || async { Err::<(), u64>(3) }).await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(3));
    /// # }
    /// ```
    pub fn delay_hint(
        mut self,
        hint: impl Fn(&E) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.set().hint = Some(Arc::new(hint));
        self
    }

    /// Draws retries from `budget`, shared with other calls: a retry it refuses ends the call
    /// with [`GaveUp::Budget`]. Each call deposits once, for its first attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // No floor, and 50 %: two calls pay for one retry between them.
    /// let budget = corral::RetryBudget::new(0.5, 0, Duration::from_secs(10));
    /// let policy = corral::RetryPolicy::new()
    ///     .max_attempts(10)
    ///     .backoff(corral::Backoff::none())
    ///     .budget(budget);
    /// let mut attempts = Vec::new();
    /// for _ in 0..2 {
    ///     let err = policy.retry(|| async { Err::<(), _>("down") }).await.unwrap_err();
    ///     attempts.push(err.attempts());
    /// }
    /// // The first call earned half a retry, too little; the second made it a whole one.
    /// assert_eq!(attempts, [1, 2]);
    /// # }
    /// ```
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.set().budget = Some(budget);
        self
    }

    /// The least time an attempt needs. Inside a [`timeout`](crate::timeout) scope, a retry
    /// is not started with less than this left before the deadline: the call gives up at once
    /// with [`GaveUp::Deadline`] and the last failure. Default: the shortest attempt this
    /// call has made so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let policy = corral::RetryPolicy::new()
    ///     .max_attempts(10)
    ///     .backoff(corral::Backoff::constant(Duration::from_millis(100)))
    ///     .min_attempt_time(Duration::from_millis(500));
    /// let r = corral::timeout(Duration::from_secs(1), corral::retry(policy, || async {
    ///     Err::<(), _>("down")
    /// }))
    /// .await;
    /// let err = r.unwrap().unwrap_err(); // the retry gave up before the scope expired
    /// assert_eq!(err.reason(), corral::GaveUp::Deadline);
    /// // Attempts at 0, 100, ..., 500 ms (that one could just finish by 1 s); one at
    /// // 600 ms could not, so the call gave up at 500 ms.
    /// assert_eq!(err.attempts(), 6);
    /// assert_eq!(start.elapsed(), Duration::from_millis(500));
    /// # }
    /// ```
    pub fn min_attempt_time(mut self, d: Duration) -> Self {
        self.set().min_attempt_time = Some(d);
        self
    }

    /// Seeds the jitter, so that a run can be replayed (tests). Each call through the policy
    /// or its clones still draws its own sequence: the n-th call to fail gets the same delays
    /// every run. (Calls are numbered when they first fail, not when they start, so that a
    /// call that succeeds at once costs nothing here.)
    ///
    /// # Examples
    ///
    /// ```
    /// let policy = corral::RetryPolicy::<()>::new().seed(42);
    /// # let _ = policy;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        let knobs = self.set();
        knobs.seed = seed;
        knobs.calls = Arc::new(AtomicU64::new(0));
        self
    }

    /// Runs `make`'s futures under this policy: `corral::retry(self.clone(), make)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::RetryPolicy::new();
    /// let v = policy.retry(|| async { Ok::<_, ()>(5) }).await;
    /// assert_eq!(v.unwrap(), 5);
    /// # }
    /// ```
    pub fn retry<F, Fut, T>(&self, make: F) -> Retry<F, Fut, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        super::retry(self.clone(), make)
    }

    /// A call is starting its first attempt: it pays into the budget, if any.
    #[inline]
    pub(super) fn first_attempt(&self) {
        if let Some(b) = &self.knobs.budget {
            b.deposit();
        }
    }

    /// The delays of a call that has just failed for the first time: its own jitter sequence,
    /// numbered among the calls of this policy and its clones that have failed. Drawn only
    /// then, so a call that succeeds at once pays for none of it (not even the count).
    pub(super) fn delays(&self) -> Delays {
        let k = &self.knobs;
        let call = k.calls.fetch_add(1, Ordering::Relaxed);
        let seed = SplitMix64::new(k.seed ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
        k.backoff.delays(seed)
    }

    /// Whether an attempt about to start is to be timed: its duration is the estimate of what
    /// the next attempt needs before an enclosing deadline, unless a fixed one is set.
    #[inline]
    pub(super) fn times_attempts(&self) -> bool {
        crate::timeout::current_deadline().is_some() && self.knobs.min_attempt_time.is_none()
    }

    /// After a failed attempt (`made` attempts so far, the fastest taking `fastest`): the
    /// delay before the next one, or why the call gives up now.
    pub(super) fn decide(
        &self,
        err: &E,
        made: u32,
        delays: &mut Delays,
        fastest: Duration,
    ) -> Result<Duration, GaveUp> {
        if let Some(pred) = &self.knobs.retry_if {
            if !pred(err) {
                return Err(GaveUp::NotRetryable);
            }
        }
        if made >= self.knobs.max_attempts {
            return Err(GaveUp::Exhausted);
        }
        // Drawn even when a hint overrides it, so that the sequence does not depend on hints.
        let mut delay = delays.next().unwrap_or_default();
        if let Some(hint) = &self.knobs.hint {
            if let Some(d) = hint(err) {
                delay = d.min(self.knobs.backoff.cap());
            }
        }
        if let Some(deadline) = crate::timeout::current_deadline() {
            let need = self.knobs.min_attempt_time.unwrap_or(fastest);
            let start = Instant::now().checked_add(delay);
            match start {
                // Sleeping up to the deadline, or starting an attempt that needs longer than
                // what is left, would only turn a failure we have into an `Elapsed`.
                Some(at)
                    if at < deadline && at.checked_add(need).is_some_and(|e| e <= deadline) => {}
                _ => return Err(GaveUp::Deadline),
            }
        }
        if let Some(b) = &self.knobs.budget {
            if !b.try_withdraw() {
                return Err(GaveUp::Budget);
            }
        }
        Ok(delay)
    }
}

impl<E> Default for RetryPolicy<E> {
    fn default() -> Self {
        RetryPolicy::new()
    }
}

impl<E> Clone for RetryPolicy<E> {
    fn clone(&self) -> Self {
        RetryPolicy {
            knobs: self.knobs.clone(),
        }
    }
}

impl<E> fmt::Debug for RetryPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.knobs.max_attempts)
            .field("backoff", &self.knobs.backoff)
            .field("retry_if", &self.knobs.retry_if.is_some())
            .field("delay_hint", &self.knobs.hint.is_some())
            .field("budget", &self.knobs.budget)
            .field("min_attempt_time", &self.knobs.min_attempt_time)
            .finish_non_exhaustive()
    }
}
