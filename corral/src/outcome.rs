//! The one outcome type every corral API reports: [`Outcome`].
//!
//! A unit of work ends in exactly one of four ways: it returned a value, it returned an error,
//! it panicked, or it was cancelled. [`Outcome`] names those four, [`Failure`] names the last
//! three (it is what `?` propagates), and [`IntoOutcome`] says which future outputs count as
//! success and which as error.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

/// How a unit of work ended: returned a value, returned an error, panicked, or was cancelled.
///
/// Every corral API that reports on a task or future uses this type: awaiting a [`Task`],
/// each slot of [`gather_settled`], each item of [`as_completed`], the members of a
/// [`TaskGroup`](crate::TaskGroup)'s report. Convert it to a `Result` with
/// [`into_result`](Outcome::into_result) (or `?` via `Result::from`) when only success matters.
///
/// asyncio: a finished `Task` or `Future`, i.e. `result()`, `exception()` and `cancelled()`
/// rolled into one value.
///
/// # Examples
///
/// ```
/// use corral::{Failure, Outcome};
///
/// let ok: Outcome<u32, String> = Outcome::Ok(7);
/// assert!(ok.is_ok());
/// assert_eq!(ok.into_result().unwrap(), 7);
///
/// let err: Outcome<u32, String> = Outcome::from(Err("boom".to_string()));
/// match err.into_result() {
///     Err(Failure::Error(e)) => assert_eq!(e, "boom"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
///
/// [`Task`]: crate::Task
/// [`gather_settled`]: crate::gather_settled
/// [`as_completed`]: crate::as_completed
#[must_use = "an outcome may hold an error, a panic or a cancellation"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T, E> {
    /// The work returned a value.
    Ok(T),
    /// The work returned an error (`Err(E)` from its future).
    Err(E),
    /// The work panicked; the panic was captured, not propagated.
    Panicked(Panic),
    /// The work was cancelled (asked to stop and stopped, aborted, or dropped) before it ended.
    Cancelled(Cancelled),
}

/// Why a unit of work did not succeed: the non-`Ok` part of an [`Outcome`].
///
/// This is the error type of [`gather`](crate::gather) and of [`Outcome::into_result`], so
/// that `?` works on it. It implements [`std::error::Error`] when `E` does.
///
/// asyncio: the exception an `await` raises (`CancelledError` included).
///
/// # Examples
///
/// ```
/// use corral::{Cancelled, Failure};
///
/// let f: Failure<std::io::Error> = Failure::Cancelled(Cancelled::new());
/// assert!(f.is_cancelled());
/// assert_eq!(f.to_string(), "cancelled");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// The work returned this error.
    Error(E),
    /// The work panicked.
    Panicked(Panic),
    /// The work was cancelled.
    Cancelled(Cancelled),
}

/// A captured panic: the message the panic carried (`"<non-string panic payload>"` when the
/// payload was neither `&str` nor `String`).
///
/// asyncio has no equivalent: an exception escaping a task is the closest thing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = corral::spawn(async {
///     if true { panic!("kaboom") }
///     Ok::<u32, std::convert::Infallible>(1)
/// });
/// match task.await {
///     corral::Outcome::Panicked(p) => assert_eq!(p.message(), "kaboom"),
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Panic {
    message: Message,
}

/// A message shared by every clone of a [`Panic`] or [`Cancelled`]: one pointer wide (an
/// `Arc<str>` is two), so that an [`Outcome`] is no wider than its value needs. Outcomes are
/// stored once per input (`gather_settled`'s result, a group's children), messages are rare:
/// the extra allocation is paid only where a message exists.
#[derive(Clone, PartialEq, Eq)]
struct Message(Arc<Arc<str>>);

impl Message {
    fn new(text: impl Into<Arc<str>>) -> Self {
        Message(Arc::new(text.into()))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl Panic {
    /// A panic outcome with this message (for tests and for adapters).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Outcome, Panic};
    ///
    /// let o: Outcome<u8, ()> = Outcome::Panicked(Panic::new("boom"));
    /// assert!(o.is_panicked());
    /// ```
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        Panic {
            message: Message::new(message),
        }
    }

    /// Builds a `Panic` from the payload `catch_unwind` or tokio's `JoinError` hands back.
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Arc::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Arc::from(s.as_str())
        } else {
            Arc::from("<non-string panic payload>")
        };
        Panic {
            message: Message::new(message),
        }
    }

    /// The panic's message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Panic::new("boom").message(), "boom");
    /// ```
    pub fn message(&self) -> &str {
        self.message.as_str()
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panic")
            .field(&self.message.as_str())
            .finish()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message.as_str())
    }
}

/// A cancellation, with the message given to [`Task::cancel_with`](crate::Task::cancel_with)
/// if there was one.
///
/// asyncio: `CancelledError`, whose `args` are the message passed to `Task.cancel(msg)`.
///
/// # Examples
///
/// ```
/// use corral::Cancelled;
///
/// assert_eq!(Cancelled::new().message(), None);
/// assert_eq!(Cancelled::with_message("shutting down").message(), Some("shutting down"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cancelled {
    message: Option<Message>,
}

impl Cancelled {
    /// A cancellation with no message.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = corral::Cancelled::new();
    /// assert_eq!(c.message(), None);
    /// assert_eq!(c.to_string(), "cancelled");
    /// ```
    pub fn new() -> Self {
        Cancelled { message: None }
    }

    /// A cancellation that carries a message.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = corral::Cancelled::with_message("shutting down");
    /// assert_eq!(c.to_string(), "cancelled: shutting down");
    /// ```
    pub fn with_message(message: impl Into<Arc<str>>) -> Self {
        Cancelled {
            message: Some(Message::new(message)),
        }
    }

    /// The message given when the cancellation was requested, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// task.cancel_with("bye");
    /// match task.await {
    ///     corral::Outcome::Cancelled(c) => assert_eq!(c.message(), Some("bye")),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # }
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(Message::as_str)
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.debug_tuple("Cancelled").field(&m.as_str()).finish(),
            None => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "cancelled: {}", m.as_str()),
            None => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Cancelled {}
impl std::error::Error for Panic {}

impl<T, E> Outcome<T, E> {
    /// True if the work returned a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// assert!(Outcome::<u8, ()>::Ok(1).is_ok());
    /// assert!(!Outcome::<u8, ()>::Err(()).is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    /// True if the work returned an error (not a panic, not a cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Outcome, Panic};
    ///
    /// assert!(Outcome::<u8, &str>::Err("bad input").is_err());
    /// assert!(!Outcome::<u8, &str>::Panicked(Panic::new("boom")).is_err());
    /// ```
    pub fn is_err(&self) -> bool {
        matches!(self, Outcome::Err(_))
    }

    /// True if the work panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(async {
    ///     if true { panic!("kaboom") }
    ///     Ok::<u8, ()>(1)
    /// });
    /// assert!(task.await.is_panicked());
    /// # }
    /// ```
    pub fn is_panicked(&self) -> bool {
        matches!(self, Outcome::Panicked(_))
    }

    /// True if the work was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// task.cancel();
    /// assert!(task.await.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Outcome::Cancelled(_))
    }

    /// True for an error or a panic: what [`ReturnWhen::FirstException`](crate::ReturnWhen)
    /// and a [`TaskGroup`](crate::TaskGroup) treat as a failure. A cancellation is not one.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Cancelled, Outcome, Panic};
    ///
    /// assert!(Outcome::<u8, &str>::Err("bad input").is_failure());
    /// assert!(Outcome::<u8, &str>::Panicked(Panic::new("boom")).is_failure());
    /// assert!(!Outcome::<u8, &str>::Cancelled(Cancelled::new()).is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Err(_) | Outcome::Panicked(_))
    }

    /// The value, if the work returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Cancelled, Outcome};
    ///
    /// assert_eq!(Outcome::<u8, ()>::Ok(3).ok(), Some(3));
    /// assert_eq!(Outcome::<u8, ()>::Cancelled(Cancelled::new()).ok(), None);
    /// ```
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// The error, if the work returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// assert_eq!(Outcome::<u8, &str>::Err("bad input").err(), Some("bad input"));
    /// assert_eq!(Outcome::<u8, &str>::Ok(3).err(), None);
    /// ```
    pub fn err(self) -> Option<E> {
        match self {
            Outcome::Err(e) => Some(e),
            _ => None,
        }
    }

    /// Borrows the value and the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// let o: Outcome<String, ()> = Outcome::Ok("hello".to_string());
    /// assert_eq!(o.as_ref().map(|s| s.len()), Outcome::Ok(5));
    /// assert!(o.is_ok()); // `o` was only borrowed
    /// ```
    pub fn as_ref(&self) -> Outcome<&T, &E> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(v),
            Outcome::Err(e) => Outcome::Err(e),
            Outcome::Panicked(p) => Outcome::Panicked(p.clone()),
            Outcome::Cancelled(c) => Outcome::Cancelled(c.clone()),
        }
    }

    /// Maps the value, leaving every other ending as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Outcome, Panic};
    ///
    /// assert_eq!(Outcome::<u8, ()>::Ok(2).map(|v| v * 10), Outcome::Ok(20));
    /// let p = Outcome::<u8, ()>::Panicked(Panic::new("boom"));
    /// assert_eq!(p.map(|v| v * 10), Outcome::Panicked(Panic::new("boom")));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U, E> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(f(v)),
            Outcome::Err(e) => Outcome::Err(e),
            Outcome::Panicked(p) => Outcome::Panicked(p),
            Outcome::Cancelled(c) => Outcome::Cancelled(c),
        }
    }

    /// Maps the error, leaving every other ending as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// let o = Outcome::<u8, &str>::Err("bad input").map_err(str::len);
    /// assert_eq!(o, Outcome::Err(9));
    /// assert_eq!(Outcome::<u8, &str>::Ok(1).map_err(str::len), Outcome::Ok(1));
    /// ```
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Outcome<T, F> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(v),
            Outcome::Err(e) => Outcome::Err(f(e)),
            Outcome::Panicked(p) => Outcome::Panicked(p),
            Outcome::Cancelled(c) => Outcome::Cancelled(c),
        }
    }

    /// Converts to a `Result`, so that `?` can propagate anything but success.
    ///
    /// # Errors
    ///
    /// Returns the [`Failure`] when the outcome is not `Ok`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async fn double(task: corral::Task<u32, String>) -> Result<u32, corral::Failure<String>> {
    ///     let v = task.await.into_result()?;
    ///     Ok(v * 2)
    /// }
    /// let task = corral::spawn(async { Ok::<u32, String>(21) });
    /// assert_eq!(double(task).await, Ok(42));
    /// # }
    /// ```
    pub fn into_result(self) -> Result<T, Failure<E>> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(Failure::Error(e)),
            Outcome::Panicked(p) => Err(Failure::Panicked(p)),
            Outcome::Cancelled(c) => Err(Failure::Cancelled(c)),
        }
    }

    /// The value.
    ///
    /// # Panics
    ///
    /// Panics, naming the ending, if the outcome is not `Ok`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// assert_eq!(Outcome::<u8, ()>::Ok(7).unwrap(), 7);
    /// ```
    ///
    /// ```should_panic
    /// use corral::{Cancelled, Outcome};
    ///
    /// // panics: "called `Outcome::unwrap()` on a cancellation: cancelled"
    /// Outcome::<u8, ()>::Cancelled(Cancelled::new()).unwrap();
    /// ```
    #[track_caller]
    pub fn unwrap(self) -> T
    where
        E: fmt::Debug,
    {
        match self {
            Outcome::Ok(v) => v,
            Outcome::Err(e) => panic!("called `Outcome::unwrap()` on an error: {e:?}"),
            Outcome::Panicked(p) => panic!("called `Outcome::unwrap()` on a panic: {p}"),
            Outcome::Cancelled(c) => panic!("called `Outcome::unwrap()` on a cancellation: {c}"),
        }
    }
}

impl<T, E> From<Result<T, E>> for Outcome<T, E> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl<T, E> From<Failure<E>> for Outcome<T, E> {
    fn from(f: Failure<E>) -> Self {
        match f {
            Failure::Error(e) => Outcome::Err(e),
            Failure::Panicked(p) => Outcome::Panicked(p),
            Failure::Cancelled(c) => Outcome::Cancelled(c),
        }
    }
}

impl<T, E> From<Outcome<T, E>> for Result<T, Failure<E>> {
    fn from(o: Outcome<T, E>) -> Self {
        o.into_result()
    }
}

impl<E> Failure<E> {
    /// True if the failure is an error the work returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::Outcome;
    ///
    /// let f = Outcome::<u8, &str>::Err("bad input").into_result().unwrap_err();
    /// assert!(f.is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        matches!(self, Failure::Error(_))
    }

    /// True if the work panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(async {
    ///     if true { panic!("kaboom") }
    ///     Ok::<u8, ()>(1)
    /// });
    /// let failure = task.await.into_result().unwrap_err();
    /// assert!(failure.is_panicked());
    /// # }
    /// ```
    pub fn is_panicked(&self) -> bool {
        matches!(self, Failure::Panicked(_))
    }

    /// True if the work was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// task.cancel();
    /// let failure = task.await.into_result().unwrap_err();
    /// assert!(failure.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Failure::Cancelled(_))
    }

    /// The error, if the work returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Failure, Panic};
    ///
    /// assert_eq!(Failure::Error("bad input").error(), Some("bad input"));
    /// assert_eq!(Failure::<&str>::Panicked(Panic::new("boom")).error(), None);
    /// ```
    pub fn error(self) -> Option<E> {
        match self {
            Failure::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Maps the error, leaving a panic or a cancellation as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Cancelled, Failure};
    ///
    /// assert_eq!(Failure::Error("bad input").map_err(str::len), Failure::Error(9));
    /// let c = Failure::<&str>::Cancelled(Cancelled::new()).map_err(str::len);
    /// assert!(c.is_cancelled());
    /// ```
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Failure<F> {
        match self {
            Failure::Error(e) => Failure::Error(f(e)),
            Failure::Panicked(p) => Failure::Panicked(p),
            Failure::Cancelled(c) => Failure::Cancelled(c),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Panicked(p) => p.fmt(f),
            Failure::Cancelled(c) => c.fmt(f),
        }
    }
}

/// A `Failure` is an error whenever its `E` can be shown (`Debug + Display`), so that `?` turns
/// it into a `Box<dyn Error>` (or `anyhow::Error`) even for `String` or `&str` errors.
///
/// `source()` is `None` for [`Failure::Error`]: its `Display` already shows the error, and an
/// `E` that is only `Display` has no `source` to give. Match `Failure::Error(e)` to reach the
/// error itself, and through it its own chain.
impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Error(_) => None,
            Failure::Panicked(p) => Some(p),
            Failure::Cancelled(c) => Some(c),
        }
    }
}

#[diagnostic::on_unimplemented(
    message = "corral needs a future that returns `Result<T, E>` (or an `Outcome`), not `{Self}`",
    label = "this future's output is `{Self}`",
    note = "return `Ok::<_, std::convert::Infallible>(value)`, or wrap the future: `corral::infallible(fut)`"
)]
/// Output types corral knows how to read as an [`Outcome`]: `Result<T, E>` (the usual future
/// output) and `Outcome<T, E>` itself (what a [`Task`](crate::Task) resolves to).
///
/// This is what lets one combinator take plain futures and task handles alike. A future whose
/// output is a plain value can return `Ok::<_, Infallible>(value)`, or be wrapped with
/// [`infallible`].
///
/// # Examples
///
/// ```
/// use corral::{IntoOutcome, Outcome};
///
/// let o: Outcome<u8, ()> = Ok::<u8, ()>(3).into_outcome();
/// assert_eq!(o, Outcome::Ok(3));
/// ```
///
/// A future that returns a plain value is refused, with a message that says what to do
/// ("corral needs a future that returns `Result<T, E>` ..."):
///
/// ```compile_fail,E0277
/// async fn count() -> u64 { 1 }
/// # async fn f() {
/// let counts = corral::gather([count(), count()]).await;
/// # }
/// ```
///
/// Wrapped in [`infallible`], it is accepted:
///
/// ```
/// async fn count() -> u64 { 1 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let counts = corral::gather([corral::infallible(count()), corral::infallible(count())]).await;
/// assert_eq!(counts.unwrap(), [1, 1]);
/// # }
/// ```
pub trait IntoOutcome {
    /// The success type.
    type Ok;
    /// The error type.
    type Err;
    /// Reads `self` as an outcome.
    fn into_outcome(self) -> Outcome<Self::Ok, Self::Err>;
}

impl<T, E> IntoOutcome for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_outcome(self) -> Outcome<T, E> {
        self.into()
    }
}

impl<T, E> IntoOutcome for Outcome<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_outcome(self) -> Outcome<T, E> {
        self
    }
}

/// Wraps a future whose output is a plain value so that it can go where corral expects a
/// `Result`: its output becomes `Ok::<T, Infallible>(value)`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let squares = corral::gather((1..=3u32).map(|i| corral::infallible(async move { i * i })))
///     .await
///     .unwrap();
/// assert_eq!(squares, vec![1, 4, 9]);
/// # }
/// ```
pub async fn infallible<F: std::future::Future>(fut: F) -> Result<F::Output, Infallible> {
    Ok(fut.await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn an_outcome_is_no_wider_than_a_result_of_a_word() {
        // gather_settled keeps one outcome per input: a panic or cancellation message must not
        // make every outcome wider than its value needs.
        assert_eq!(size_of::<Panic>(), size_of::<usize>());
        assert_eq!(size_of::<Cancelled>(), size_of::<usize>());
        assert_eq!(
            size_of::<Outcome<usize, Infallible>>(),
            2 * size_of::<usize>()
        );
        assert_eq!(
            size_of::<Outcome<u64, u64>>(),
            size_of::<Result<u64, u64>>()
        );
    }

    #[test]
    fn messages_survive_clones_and_compare_by_text() {
        let c = Cancelled::with_message(String::from("bye"));
        let d = c.clone();
        assert_eq!(d.message(), Some("bye"));
        assert_eq!(c, Cancelled::with_message("bye"));
        assert_ne!(c, Cancelled::new());
        assert_eq!(format!("{c} {c:?}"), "cancelled: bye Cancelled(\"bye\")");
        let p = Panic::new("boom");
        assert_eq!(format!("{p} {p:?}"), "panicked: boom Panic(\"boom\")");
    }
}
