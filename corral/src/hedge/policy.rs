//! [`HedgePolicy`]: when to start a backup attempt and how many, and the source that starts
//! them on time for the engine.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use crate::retry::RetryBudget;

use super::latency::LatencyTracker;

/// When a backup starts.
#[derive(Clone, Copy, Debug)]
enum When {
    Fixed(Duration),
    Percentile {
        p: f64,
        min_samples: usize,
        fallback: Option<Duration>,
    },
}

/// When [`hedge`](crate::hedge) starts a backup attempt, how many attempts it may run, and
/// what caps the extra load.
///
/// * [`after`](HedgePolicy::after): a fixed delay.
/// * [`at_percentile`](HedgePolicy::at_percentile): the `p`-th percentile of the latencies a
///   [`LatencyTracker`] holds (each successful attempt is recorded into it). Until it holds
///   [`min_samples`](HedgePolicy::min_samples), the [`fallback`](HedgePolicy::fallback) delay
///   is used, or no backup at all.
/// * [`max_attempts`](HedgePolicy::max_attempts): 2 by default (the first and one backup).
/// * [`budget`](HedgePolicy::budget): backups may add at most the budget's share on top of
///   calls (tower's hedge uses 10 % over 10 s).
///
/// Cloning is cheap; the tracker and the budget are shared by the clones.
///
/// asyncio: hand-written (the delay and the counters a hedging loop keeps).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{HedgePolicy, LatencyTracker, RetryBudget};
///
/// let tracker = LatencyTracker::default();
/// let policy = HedgePolicy::at_percentile(95.0, tracker)
///     .fallback(Duration::from_millis(200))
///     .budget(RetryBudget::new(0.1, 1, Duration::from_secs(10)));
/// // No latency recorded yet: the fallback.
/// assert_eq!(policy.delay(), Some(Duration::from_millis(200)));
/// ```
#[derive(Clone)]
pub struct HedgePolicy {
    when: When,
    pub(super) max_attempts: u32,
    budget: Option<RetryBudget>,
    pub(super) tracker: Option<LatencyTracker>,
    min_attempt_time: Option<Duration>,
}

impl HedgePolicy {
    /// Starts a backup when an attempt has not succeeded after `delay` (zero starts them all
    /// at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = corral::HedgePolicy::after(Duration::from_millis(50));
    /// assert_eq!(policy.delay(), Some(Duration::from_millis(50)));
    /// ```
    pub fn after(delay: Duration) -> HedgePolicy {
        HedgePolicy {
            when: When::Fixed(delay),
            max_attempts: 2,
            budget: None,
            tracker: None,
            min_attempt_time: None,
        }
    }

    /// Starts a backup when an attempt has taken longer than the `p`-th percentile (0 to 100)
    /// of the latencies in `tracker`; successful attempts are recorded into it. Until the
    /// tracker holds [`min_samples`](HedgePolicy::min_samples) (default 20), the
    /// [`fallback`](HedgePolicy::fallback) delay is used, or no backup if there is none.
    ///
    /// # Panics
    ///
    /// If `p` is not between 0 and 100.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tracker = corral::LatencyTracker::new(100);
    /// let policy = corral::HedgePolicy::at_percentile(90.0, tracker.clone()).min_samples(10);
    /// assert_eq!(policy.delay(), None); // too few samples, no fallback: no backup
    /// for ms in 1..=10 {
    ///     tracker.record(Duration::from_millis(ms * 10));
    /// }
    /// assert_eq!(policy.delay(), Some(Duration::from_millis(90)));
    /// ```
    pub fn at_percentile(p: f64, tracker: LatencyTracker) -> HedgePolicy {
        assert!(
            (0.0..=100.0).contains(&p),
            "a percentile is between 0 and 100, not {p}"
        );
        HedgePolicy {
            when: When::Percentile {
                p,
                min_samples: 20,
                fallback: None,
            },
            max_attempts: 2,
            budget: None,
            tracker: Some(tracker),
            min_attempt_time: None,
        }
    }

    /// With [`at_percentile`](HedgePolicy::at_percentile): how many latencies the tracker must
    /// hold before its percentile is trusted (default 20; `0` counts as 1). No effect on a
    /// fixed delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tracker = corral::LatencyTracker::new(10);
    /// tracker.record(Duration::from_millis(40));
    /// let policy = corral::HedgePolicy::at_percentile(50.0, tracker).min_samples(1);
    /// assert_eq!(policy.delay(), Some(Duration::from_millis(40)));
    /// ```
    pub fn min_samples(mut self, n: usize) -> Self {
        if let When::Percentile { min_samples, .. } = &mut self.when {
            *min_samples = n.max(1);
        }
        self
    }

    /// With [`at_percentile`](HedgePolicy::at_percentile): the delay to use while the tracker
    /// holds too few latencies. No effect on a fixed delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = corral::HedgePolicy::at_percentile(99.0, corral::LatencyTracker::default())
    ///     .fallback(Duration::from_secs(1));
    /// assert_eq!(policy.delay(), Some(Duration::from_secs(1)));
    /// ```
    pub fn fallback(mut self, delay: Duration) -> Self {
        if let When::Percentile { fallback, .. } = &mut self.when {
            *fallback = Some(delay);
        }
        self
    }

    /// At most `n` attempts in all, the first included (default 2; `0` counts as 1, which
    /// never hedges). Each backup starts one delay after the one before.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::HedgePolicy::after(Duration::from_millis(10)).max_attempts(3);
    /// let slow = || async {
    ///     sleep(Duration::from_secs(1)).await;
    ///     Ok::<_, ()>(())
    /// };
    /// let done = corral::hedge(policy, slow).await.unwrap();
    /// assert_eq!((done.winner, done.attempts), (0, 3)); // backups at 10 and 20 ms
    /// # }
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Caps backups with a budget shared by every call that uses it: each call deposits once,
    /// each backup withdraws one, and a backup the budget refuses is not started (the call
    /// goes on with the attempts it has). See [`RetryBudget`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // No floor and a 50 % share: one backup per two calls.
    /// let budget = corral::RetryBudget::new(0.5, 0, Duration::from_secs(10));
    /// let policy = corral::HedgePolicy::after(Duration::from_millis(10)).budget(budget);
    /// let slow = || async {
    ///     sleep(Duration::from_millis(100)).await;
    ///     Ok::<_, ()>(())
    /// };
    /// let first = corral::hedge(policy.clone(), slow).await.unwrap();
    /// let second = corral::hedge(policy, slow).await.unwrap();
    /// assert_eq!((first.attempts, second.attempts), (1, 2));
    /// # }
    /// ```
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Records the latency of every successful attempt into `tracker` (also with a fixed
    /// delay, to watch latencies or to feed another policy's percentile).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tracker = corral::LatencyTracker::default();
    /// let policy = corral::HedgePolicy::after(Duration::from_secs(1)).track(tracker.clone());
    /// corral::hedge(policy, || async {
    ///     tokio::time::sleep(Duration::from_millis(30)).await;
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(tracker.percentile(50.0), Some(Duration::from_millis(30)));
    /// # }
    /// ```
    pub fn track(mut self, tracker: LatencyTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// The least time a backup needs. Inside a [`timeout`](crate::timeout) scope, a backup is
    /// not started with less than this left before the deadline (see [`hedge`](crate::hedge),
    /// "Deadline"). Default: the fastest latency in the policy's tracker, if it has one and it
    /// holds any; otherwise a backup is only refused at or past the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::HedgePolicy::after(Duration::from_millis(100))
    ///     .min_attempt_time(Duration::from_millis(100));
    /// let slow = || async {
    ///     sleep(Duration::from_millis(120)).await;
    ///     Ok::<_, ()>("page")
    /// };
    /// // 150 ms in all: a backup at 100 ms would have 50 ms, too little. None is started.
    /// let r = corral::timeout(Duration::from_millis(150), corral::hedge(policy, slow)).await;
    /// assert_eq!(r.unwrap().unwrap().attempts, 1);
    /// # }
    /// ```
    pub fn min_attempt_time(mut self, d: Duration) -> Self {
        self.min_attempt_time = Some(d);
        self
    }

    /// The delay after which a hedge started now would start its first backup; `None`: it
    /// would start none (a percentile without enough samples and no fallback).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(corral::HedgePolicy::after(Duration::ZERO).delay(), Some(Duration::ZERO));
    /// ```
    pub fn delay(&self) -> Option<Duration> {
        match self.when {
            When::Fixed(d) => Some(d),
            When::Percentile {
                p,
                min_samples,
                fallback,
            } => match &self.tracker {
                Some(t) if t.len() >= min_samples => t.percentile(p),
                _ => fallback,
            },
        }
    }
}

impl fmt::Debug for HedgePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgePolicy")
            .field("when", &self.when)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .field("tracker", &self.tracker)
            .field("min_attempt_time", &self.min_attempt_time)
            .finish()
    }
}

/// The attempts of one hedged call, as a source for the engine: the first at once, then one
/// more each delay while the engine asks (it stops asking once the call is decided).
pub(crate) struct Attempts<F, A> {
    make: F,
    budget: Option<RetryBudget>,
    max: usize,
    /// Decided when the first attempt starts: `None`, no backup.
    delay: Option<Duration>,
    policy: Option<HedgePolicy>,
    /// What a backup needs before an enclosing deadline: the policy's `min_attempt_time`, or
    /// the fastest latency `tracker` holds.
    min_attempt_time: Option<Duration>,
    tracker: Option<LatencyTracker>,
    /// When each attempt started; shared with the [`Hedge`](super::Hedge), which reads it
    /// after the engine has let go of its source.
    starts: Starts,
    sleep: Option<Pin<Box<Sleep>>>,
    _attempt: PhantomData<fn() -> A>,
}

impl<F, A> Attempts<F, A> {
    pub(super) fn new(policy: HedgePolicy, make: F) -> Self {
        Attempts {
            make,
            budget: policy.budget.clone(),
            max: policy.max_attempts as usize,
            delay: None,
            min_attempt_time: policy.min_attempt_time,
            tracker: policy.tracker.clone(),
            policy: Some(policy),
            starts: Starts::default(),
            sleep: None,
            _attempt: PhantomData,
        }
    }

    /// The start times, shared.
    pub(super) fn starts(&self) -> Starts {
        self.starts.clone()
    }

    /// Whether a backup starting at `at` could finish by `deadline`: it starts before it, with
    /// at least what a backup needs left (nothing, when there is no estimate). A backup that
    /// could not would only add load: the timeout ends the call before it can answer.
    fn fits_before(&self, at: Instant, deadline: Instant) -> bool {
        let need = self
            .min_attempt_time
            .or_else(|| self.tracker.as_ref().and_then(|t| t.percentile(0.0)))
            .unwrap_or_default();
        at < deadline && at.checked_add(need).is_some_and(|end| end <= deadline)
    }
}

/// When each attempt of a call started, shared by its source and its future.
#[derive(Clone, Default)]
pub(crate) struct Starts(Arc<Mutex<Vec<Instant>>>);

impl Starts {
    fn lock(&self) -> MutexGuard<'_, Vec<Instant>> {
        // Pushes and reads only: a poisoned lock holds a usable list.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn push(&self, at: Instant) {
        self.lock().push(at);
    }

    /// When attempt `index` started.
    pub(super) fn get(&self, index: usize) -> Option<Instant> {
        self.lock().get(index).copied()
    }
}

// Nothing is structurally pinned: the sleep is boxed, `make` is only called through `&mut`.
impl<F, A> Unpin for Attempts<F, A> {}

impl<F, A> Stream for Attempts<F, A>
where
    F: FnMut() -> A,
{
    type Item = A;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<A>> {
        let this = self.get_mut();
        let n = this.starts.len();
        if n >= this.max {
            return Poll::Ready(None);
        }
        if let Some(policy) = this.policy.take() {
            // The first attempt: the delay is read now, from the latencies seen so far.
            this.delay = policy.delay();
            if let Some(budget) = &this.budget {
                budget.deposit();
            }
        } else {
            let Some(delay) = this.delay else {
                return Poll::Ready(None);
            };
            let Some(last) = this.starts.get(n - 1) else {
                return Poll::Ready(None);
            };
            let at = last + delay;
            if let Some(deadline) = crate::timeout::current_deadline() {
                if !this.fits_before(at, deadline) {
                    // No backup now, nor later: each would start later still.
                    this.sleep = None;
                    return Poll::Ready(None);
                }
            }
            if at > Instant::now() {
                let sleep = match &mut this.sleep {
                    Some(s) => {
                        if s.deadline() != at {
                            s.as_mut().reset(at);
                        }
                        s
                    }
                    None => this.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
                };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            if this.budget.as_ref().is_some_and(|b| !b.try_withdraw()) {
                return Poll::Ready(None);
            }
        }
        this.starts.push(Instant::now());
        Poll::Ready(Some((this.make)()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // The first attempt always comes; a backup only if the call is still undecided.
        let started = self.starts.len();
        (
            usize::from(started == 0),
            Some(self.max.saturating_sub(started)),
        )
    }
}
