//! What a timeout adds to an [`AsCompleted`] stream: the [`Untimed`] and [`Timed`] markers
//! that tell the two apart in its type, the lazily armed timer, and the methods and `Stream`
//! impl of a timed stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use tokio::time::{Instant, Sleep};

use crate::awaitable::Awaitable;
use crate::outcome::IntoOutcome;
use crate::set::Source;
use crate::timeout::Elapsed;

use super::stream::AsCompleted;
use super::{Completed, Item};

/// Marker for an [`AsCompleted`] with no timeout: its items are [`Completed`] values. The
/// default; [`AsCompleted::timeout`] turns it into [`Timed`].
///
/// # Examples
///
/// ```
/// use corral::{source::Iter, AsCompleted, Untimed};
///
/// fn plain(s: AsCompleted<Iter<std::vec::IntoIter<corral::Task<u8, ()>>>, Untimed>) {}
/// ```
#[derive(Debug)]
pub enum Untimed {}

/// Marker for an [`AsCompleted`] with a timeout: its items are `Result<Completed, Elapsed>`,
/// and it has [`deadline`](AsCompleted::deadline), [`reschedule`](AsCompleted::reschedule) and
/// [`expired`](AsCompleted::expired).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{source::Iter, AsCompleted, Timed};
///
/// fn with_budget(
///     tasks: Vec<corral::Task<u8, ()>>,
/// ) -> AsCompleted<Iter<std::vec::IntoIter<corral::Task<u8, ()>>>, Timed> {
///     corral::as_completed(tasks).timeout(Duration::from_secs(5))
/// }
/// ```
#[derive(Debug)]
pub enum Timed {}

/// The deadline of a timed stream; lazily armed, so that a stream that never waits never
/// registers a timer.
#[derive(Default)]
pub(super) struct Timer {
    pub(super) deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    pub(super) expired: bool,
    /// The deadline passed and the stream yielded to the scheduler once, so that inputs
    /// finishing at that very instant come out before the timeout does (the tie rule).
    settling: bool,
}

impl Timer {
    pub(super) fn set(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.expired = false;
        self.settling = false;
        match (deadline, &mut self.sleep) {
            (Some(d), Some(sleep)) => sleep.as_mut().reset(d),
            (None, sleep) => *sleep = None,
            (Some(_), None) => {}
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return false;
        }
        if !std::mem::replace(&mut self.settling, true) {
            // Yield once: what finishes at the deadline is polled before the stream ends.
            cx.waker().wake_by_ref();
            return false;
        }
        self.expired = true;
        self.sleep = None;
        true
    }
}

impl<S> AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    /// The deadline, or `None` if it was removed.
    ///
    /// asyncio: `Timeout.when()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut s = corral::as_completed([async { Ok::<_, ()>(1) }]).timeout(Duration::from_secs(1));
    /// assert!(s.deadline().is_some());
    /// s.reschedule(None);
    /// assert_eq!(s.deadline(), None);
    /// # }
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.deadline
    }

    /// Moves the deadline (`None`: no deadline). After the timeout has ended the stream, this
    /// re-opens it: the inputs left come out again, until the new deadline.
    ///
    /// asyncio: `Timeout.reschedule()`; asyncio's `as_completed` cannot be re-armed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_secs(3)).await;
    ///     Ok::<_, ()>("late")
    /// };
    /// let mut s = corral::as_completed([slow]).timeout(Duration::from_secs(1));
    /// assert!(s.next().await.unwrap().is_err()); // timed out at 1 s
    /// s.reschedule(None);
    /// assert_eq!(s.next().await.unwrap().unwrap().outcome.unwrap(), "late"); // at 3 s
    /// # }
    /// ```
    pub fn reschedule(&mut self, deadline: Option<Instant>) {
        self.timer.set(deadline);
    }

    /// True once the timeout has ended the stream (until it is
    /// [rescheduled](AsCompleted::reschedule)).
    ///
    /// asyncio: `Timeout.expired()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::as_completed([async { Ok::<_, ()>(1) }]).timeout(Duration::from_secs(1));
    /// assert!(!s.expired());
    /// # }
    /// ```
    pub fn expired(&self) -> bool {
        self.timer.expired
    }
}

impl<S> Stream for AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    type Item = Result<Item<S>, Elapsed>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.timer.expired {
            return Poll::Ready(None);
        }
        // Results first: an input that has finished comes out even if the deadline has passed
        // too; the timeout bounds waiting, not work already done.
        match this.set.poll_next(cx) {
            Poll::Ready(Some(d)) => Poll::Ready(Some(Ok(Completed::from_done(d)))),
            Poll::Ready(None) => {
                // Disarm: the stream is over, and an empty one never armed a timer at all.
                this.timer.sleep = None;
                Poll::Ready(None)
            }
            Poll::Pending if this.timer.poll_expired(cx) => Poll::Ready(Some(Err(Elapsed::new()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.timer.expired {
            return (0, Some(0));
        }
        let (_, hi) = self.set.size_hint();
        // One more item (the timeout) may come if there is a deadline.
        let extra = usize::from(self.timer.deadline.is_some());
        (0, hi.and_then(|h| h.checked_add(extra)))
    }
}

impl<S> FusedStream for AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    fn is_terminated(&self) -> bool {
        self.timer.expired || self.set.is_terminated()
    }
}
