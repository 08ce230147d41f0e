//! [`quorum`]: k of n. Stops as soon as `k` inputs have succeeded, or as soon as `k` has become
//! impossible, and cancels and drains the rest before returning (see `race.rs` for its
//! siblings, [`race`](crate::race) and [`any`](crate::any)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::adaptive::Limit;
use crate::awaitable::Awaitable;
use crate::outcome::IntoOutcome;
use crate::race::{list, Err_, InputFailure, Ok_, Winner};
use crate::rate::RateLimiter;
use crate::set::{Iter, Set};

/// Runs every input concurrently until `k` of them have succeeded, and returns those `k`
/// successes (in input order, with their positions); fails **as soon as `k` successes have
/// become impossible**, with the failures seen so far. Either way it cancels and drains the
/// inputs still running before returning.
///
/// "Impossible" means more than `n - k` inputs have failed, where `n` is the number of
/// inputs: known from the iterator's [`size_hint`](Iterator::size_hint) upper bound (exact for
/// arrays, `Vec`s, ranges and maps over them), or once the iterator is exhausted. So
/// `quorum(3, five_inputs)` fails on the third failure, and `k > n` fails at its first poll
/// without starting anything: it is decided before any input is polled, so plain futures are
/// dropped unpolled and task inputs (running already) are cancelled and drained like losers.
/// Failures are errors, panics, and cancelled [`Task`](crate::Task) inputs. Inputs that
/// finish during the same poll count in input order, so exactly `k` successes are returned.
/// Losers are cancelled and drained as in [`race`](crate::race), and their outcomes discarded. Use
/// [`.limit(n)`](Quorum::limit) to run at most `n` at a time (as in [`race`](crate::race), inputs not
/// pulled when the quorum is decided are never pulled).
///
/// asyncio has no equivalent.
///
/// # Errors
///
/// * [`QuorumError::Unreachable`] once `k` successes cannot happen, with the successes and
///   the failures (in input order) seen until then. An empty input is unreachable at once.
/// * [`QuorumError::ZeroQuorum`] if `k` is 0, without starting anything (task inputs are
///   cancelled and drained first, as for `k > n`): a quorum of nothing is taken for a mistake.
///
/// # Cancel safety
///
/// Dropping the future drops every plain future it runs and aborts every task it was given.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let after = |secs: u64, r: Result<u64, &'static str>| async move {
///     sleep(Duration::from_secs(secs)).await;
///     r
/// };
/// let start = Instant::now();
/// let ok = corral::quorum(2, [after(3, Ok(3)), after(1, Ok(1)), after(2, Ok(2))]).await;
/// let indexes: Vec<usize> = ok.unwrap().iter().map(|w| w.index).collect();
/// assert_eq!(indexes, [1, 2]); // the third input was cancelled at t=2s
/// assert_eq!(start.elapsed(), Duration::from_secs(2));
///
/// let start = Instant::now();
/// let e = corral::quorum(2, [after(9, Ok(9)), after(1, Err("x")), after(2, Err("y"))]).await;
/// assert_eq!(
///     e.unwrap_err().to_string(),
///     "quorum of 2 unreachable with 3 inputs: 0 succeeded, 2 failed: input 1: x; input 2: y"
/// );
/// assert_eq!(start.elapsed(), Duration::from_secs(2)); // not 9
/// # }
/// ```
pub fn quorum<I>(k: usize, inputs: I) -> Quorum<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    Quorum {
        k,
        set: Set::new(Iter(inputs.into_iter())),
        seen: 0,
        successes: Vec::new(),
        failures: Vec::new(),
        verdict: None,
        inputs: None,
    }
}

/// Why a [`quorum`] was not reached.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::future::ready;
/// let e = corral::quorum(2, [ready(Ok::<u8, &str>(1)), ready(Err("down"))])
///     .await
///     .unwrap_err();
/// match e {
///     corral::QuorumError::Unreachable { needed, successes, failures, inputs } => {
///         assert_eq!((needed, successes.len(), failures.len(), inputs), (2, 1, 1, Some(2)));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumError<T, E> {
    /// `k` was 0.
    ZeroQuorum,
    /// `needed` successes became impossible.
    Unreachable {
        /// The `k` that was asked for.
        needed: usize,
        /// The successes before it gave up, in input order.
        successes: Vec<Winner<T>>,
        /// The failures before it gave up, in input order.
        failures: Vec<InputFailure<E>>,
        /// The number of inputs, if it was known exactly (the iterator was exhausted, or its
        /// size hint was exact).
        inputs: Option<usize>,
    },
}

impl<T, E> QuorumError<T, E> {
    /// The failures that made the quorum unreachable, in input order (empty for
    /// [`QuorumError::ZeroQuorum`] and for an input too short to reach `k` at all).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::future::ready;
    /// let e = corral::quorum(1, [ready(Err::<u8, _>("down"))]).await.unwrap_err();
    /// assert_eq!(e.failures()[0].to_string(), "input 0: down");
    /// # }
    /// ```
    pub fn failures(&self) -> &[InputFailure<E>] {
        match self {
            QuorumError::ZeroQuorum => &[],
            QuorumError::Unreachable { failures, .. } => failures,
        }
    }
}

impl<T, E: fmt::Display> fmt::Display for QuorumError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuorumError::ZeroQuorum => f.write_str("a quorum of 0 was asked for; k must be >= 1"),
            QuorumError::Unreachable {
                needed,
                successes,
                failures,
                inputs,
            } => {
                write!(f, "quorum of {needed} unreachable")?;
                if let Some(n) = inputs {
                    write!(f, " with {n} inputs")?;
                }
                write!(
                    f,
                    ": {} succeeded, {} failed",
                    successes.len(),
                    failures.len()
                )?;
                if !failures.is_empty() {
                    f.write_str(": ")?;
                    list(f, failures)?;
                }
                Ok(())
            }
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug + fmt::Display + 'static> std::error::Error
    for QuorumError<T, E>
{
    /// The first failure in input order; [`Display`](fmt::Display) lists them all.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures()
            .first()
            .map(|f| &f.failure as &(dyn std::error::Error + 'static))
    }
}

/// The future returned by [`quorum`]; `I` is the iterator of inputs. Dropping it stops what it
/// runs (see [`quorum`]'s cancel safety).
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Err(())), ready(Ok(3))];
/// let two: corral::Quorum<std::vec::IntoIter<Ready<Result<u8, ()>>>> = corral::quorum(2, inputs);
/// let values: Vec<u8> = two.await.unwrap().into_iter().map(|w| w.value).collect();
/// assert_eq!(values, [1, 3]);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Quorum<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    k: usize,
    set: Set<Iter<I>>,
    /// Inputs handed out by the set so far.
    seen: usize,
    successes: Vec<Winner<Ok_<I::Item>>>,
    failures: Vec<InputFailure<Err_<I::Item>>>,
    /// Decided: true for reached, false for unreachable. The set is then draining.
    verdict: Option<bool>,
    /// The number of inputs when it was decided, if known exactly.
    inputs: Option<usize>,
}

impl<I> Quorum<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once (`0` counts as `1`), pulling the next from the iterator
    /// when one finishes; or under an adaptive limit ([`Limit`]). See
    /// [`Gather::limit`](crate::Gather::limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let ok = corral::quorum(3, (0..100).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .limit(5)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(ok.len(), 3);
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot, so inputs start at most at its
    /// rate; composes with [`limit`](Quorum::limit). See [`Gather::rate`](crate::Gather::rate).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let ok = corral::quorum(2, (0..10).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .rate(RateLimiter::new(Rate::per_second(4), 1))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(ok.len(), 2);
    /// assert_eq!(start.elapsed(), Duration::from_millis(250)); // the second started at 250 ms
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }

    /// Bounds on the number of inputs: those handed out plus what the engine says is still
    /// to come (exact once the iterator has run out, or if its size hint was exact).
    fn inputs(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.set.size_hint();
        (self.seen + lo, hi.map(|h| self.seen + h))
    }

    fn unreachable(&self) -> bool {
        match self.inputs().1 {
            Some(n) => n.saturating_sub(self.failures.len()) < self.k,
            None => false,
        }
    }

    fn decide(&mut self, reached: bool) {
        self.settle(reached);
        self.set.stop();
    }

    /// Records the verdict and the number of inputs, if known exactly.
    fn settle(&mut self, reached: bool) {
        let (lo, hi) = self.inputs();
        self.inputs = (Some(lo) == hi).then_some(lo);
        self.verdict = Some(reached);
    }

    /// Decided before anything was pulled (`k` is 0, or more than the inputs): as if decided
    /// at the first poll, so the task inputs that poll would start (all of them, without a
    /// limit), which are running already, are cancelled and drained; plain futures are never
    /// polled.
    fn decide_before_start(&mut self) {
        self.settle(false);
        self.set.stop_before_start();
    }

    fn output(&mut self) -> <Self as Future>::Output {
        if self.k == 0 {
            return Err(QuorumError::ZeroQuorum);
        }
        let mut successes = std::mem::take(&mut self.successes);
        successes.sort_by_key(|w| w.index);
        if self.verdict == Some(true) {
            return Ok(successes);
        }
        let mut failures = std::mem::take(&mut self.failures);
        failures.sort_by_key(|f| f.index);
        Err(QuorumError::Unreachable {
            needed: self.k,
            successes,
            failures,
            inputs: self.inputs,
        })
    }
}

// Unpin whatever the inputs: nothing is structurally pinned (the set keeps its futures in heap
// segments of its own, pinned there; the other fields are plain data).
impl<I> Unpin for Quorum<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<I> Future for Quorum<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    type Output = Result<Vec<Winner<Ok_<I::Item>>>, QuorumError<Ok_<I::Item>, Err_<I::Item>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.verdict.is_none() && (this.k == 0 || this.unreachable()) {
            if this.set.pulled() == 0 {
                // A quorum of 0, or too few inputs to ever reach k: decided before anything
                // starts.
                this.decide_before_start();
            } else {
                this.decide(false);
            }
        }
        loop {
            let done = match this.set.poll_next(cx) {
                Poll::Ready(Some(done)) => done,
                Poll::Ready(None) => break,
                Poll::Pending => {
                    // Pulling inputs may have just exhausted the iterator, which can settle it.
                    if this.verdict.is_none() && this.unreachable() {
                        this.decide(false);
                        continue;
                    }
                    return Poll::Pending;
                }
            };
            this.seen += 1;
            if this.verdict.is_some() {
                continue; // a loser, drained
            }
            let index = done.index;
            match done.outcome.into_result() {
                Ok(value) => {
                    this.successes.push(Winner { index, value });
                    if this.successes.len() == this.k {
                        this.decide(true);
                    }
                }
                Err(failure) => {
                    this.failures.push(InputFailure { index, failure });
                    if this.unreachable() {
                        this.decide(false);
                    }
                }
            }
        }
        if this.verdict.is_none() {
            // Everything finished with fewer than k successes.
            this.inputs = Some(this.seen);
            this.verdict = Some(false);
        }
        Poll::Ready(this.output())
    }
}

impl<I> fmt::Debug for Quorum<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quorum")
            .field("remaining", &self.set.remaining())
            .finish_non_exhaustive()
    }
}
