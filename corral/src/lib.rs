//! # corral: asyncio's task coordination for tokio, made structured
//!
//! corral brings Python asyncio's toolkit for coordinating groups of tasks to Rust:
//! [`gather`], [`wait`] with [`ReturnWhen`], [`as_completed`], [`wait_for`], [`timeout`]
//! scopes, [`shield`], [`TaskGroup`], [`Limiter`] (asyncio's `Semaphore`), and also
//! [`race`], [`any`] and [`quorum`]. Names follow asyncio; the semantics are stated exactly,
//! and tightened where asyncio leaves work running or loses errors. Beyond asyncio, it has the
//! policies that asyncio code writes as loops by hand: [`retry`], [`hedge`], [`RateLimiter`]
//! (also as `.rate(..)` on the fan-out combinators), [`KeyedLimiter`] and [`CircuitBreaker`],
//! each a future or a guard that composes with every combinator.
//!
//! | asyncio | corral |
//! |---|---|
//! | `create_task(coro, name=)` | [`spawn`], [`spawn_named`], [`Builder`] → [`Task`] (its [`state`](Task::state): a [`TaskState`]) |
//! | `gather(*aws)` | [`gather`] (siblings cancelled and drained on the first failure, which says which input failed) |
//! | `gather(*aws, return_exceptions=True)` | [`gather_settled`] → `Vec<`[`Outcome`]`>` |
//! | `wait(aws, timeout, return_when)` | [`wait`] + [`ReturnWhen`] (done and pending in input order) |
//! | `as_completed(aws, timeout)` | [`as_completed`] (a `Stream`; each item says which input it was; keys and streams of inputs through [`source`]) |
//! | `wait_for(aw, timeout)` | [`wait_for`] |
//! | `timeout(d)`, `timeout_at(t)` | [`timeout`], [`timeout_at`] |
//! | `shield(aw)` | [`shield`] |
//! | `TaskGroup` | [`TaskGroup`] |
//! | `Semaphore`, `BoundedSemaphore` | [`Limiter`] |
//! | `current_task()` | [`current_task`] |
//! | `except CancelledError:` | [`cancelled()`] |
//! | hand-written retry loop | [`retry`] + [`RetryPolicy`] ([`Backoff`], [`Jitter`], [`RetryBudget`]) |
//! | hand-written rate loop | [`RateLimiter`] + [`Rate`] |
//! | hand-written dict of `Semaphore`s | [`KeyedLimiter`] (at most N per key) |
//! | hand-written acquire in every coroutine | `.rate(..)`: [`Gather::rate`], [`AsCompleted::rate`], [`Any::rate`], … |
//! | hand-written hedging loop | [`hedge`] + [`HedgePolicy`] ([`LatencyTracker`], [`RetryBudget`]) |
//! | hand-written breaker | [`CircuitBreaker`] (per key; [`BreakerError::Open`] fails fast) |
//! | Trio's `nursery.start` | [`Spawner::start`] + [`TaskStatus`] |
//! | hand-resized `Semaphore` | [`AdaptiveLimiter`] (AIMD or Vegas: finds the capacity by itself), also as `.limit(..)` ([`Limit`]) |
//!
//! ## One outcome type
//!
//! Work ends in one of four ways, and every API reports it the same way: [`Outcome`] is
//! `Ok(T)`, `Err(E)`, `Panicked(Panic)` or `Cancelled(Cancelled)`. Futures return
//! `Result<T, E>`; panics are caught and become `Panicked`; [`Outcome::into_result`] turns an
//! outcome into `Result<T, Failure<E>>` for `?`.
//!
//! ## Two ways to run work
//!
//! Every combinator takes [`Awaitable`]s: plain futures and [`Task`] handles alike.
//!
//! * **Futures polled in place** run inside the caller's task, like coroutines awaited in
//!   asyncio's single thread. They may borrow, need not be `Send` or `'static`, and cost no
//!   allocation beyond the combinator's own. They stop when the combinator drops them.
//! * **Spawned tasks** ([`spawn`]) run on the runtime's worker threads, so they use every core,
//!   and live independently of whoever waits for them. [`wait`] and [`shield`] are about work
//!   that outlives a waiter, so they take tasks.
//!
//! ## Cancellation: drop is the floor, requests are the courtesy
//!
//! Rust cancels a future by dropping it: it stops at its current `.await` and runs its
//! destructors, and nothing can catch or refuse that. corral keeps that as the floor, and
//! builds asyncio's *graceful* cancellation on top of it.
//!
//! Every place that can stop work it runs (a spawned task, a [`timeout`] scope, a
//! [`TaskGroup`]) owns a *cancel scope*. Scopes nest the way the code nests: a timeout polled
//! inside a task is a child of the task's scope. Asking a scope to stop is a *request*, and what
//! happens next depends on whether the code inside is listening:
//!
//! * [`Task::cancel`] and an expiring [`timeout`] are *requests*. Code that is not listening is
//!   dropped at once, exactly like asyncio code that does not catch `CancelledError`.
//! * Code that listens with [`cancelled()`] is handed the request instead, may clean up with
//!   `.await`s, and then returns a value, an error, or the cancellation
//!   ([`CancelRequest::propagate`]). It has a grace period ([`DEFAULT_GRACE`], or
//!   [`Builder::grace`]); after that it is dropped anyway.
//!
//! This is asyncio's `CancelledError` without the foot-guns: code that does not care is
//! cancelled promptly, code that does care sees exactly one request per `cancel()`, and no body
//! can keep a cancelled scope alive past its grace period.
//!
//! ## Structured: nothing left running, no error lost
//!
//! When a corral combinator returns, or is dropped half-way, no task or future it started is
//! still running, unless you asked for that ([`Task::detach`], [`shield`], or the pending tasks
//! [`wait`] hands back). A [`Task`] handle aborts its task when dropped. [`gather`] cancels and
//! drains the siblings of a failure before returning it; [`TaskGroup`] and [`any`] keep every
//! error, not just the first.
//!
//! ## Ties: what finishes at the deadline counts as finished
//!
//! When a deadline arrives while corral waits ([`wait`]'s and [`as_completed`]'s timeouts,
//! [`wait_for`], [`timeout`] scopes), work that finishes at that same instant counts as
//! finished: corral yields to the scheduler once before it decides, so that a task woken by
//! the same timer tick runs first. The rule holds whether the waiter runs in the runtime's main
//! future or in a spawned task, and whether the work is a plain future or a task
//! (`tests/ties.rs` runs every combination). asyncio decides such ties by the order in which
//! its timers were armed; corral does not depend on that order. Work that needs more steps
//! after the instant is not finished.
//!
//! A deadline that has already passed when the waiting begins is not a tie. A [`timeout`]
//! scope with a zero or past deadline fires at the body's first suspension point, and
//! `wait_for(Duration::ZERO, x)` never starts a plain future and returns only an outcome that
//! was already there (a finished task's, or finished [`shield`]ed work's), as in asyncio.
//! [`wait`] and [`as_completed`] treat a zero timeout as a deadline that arrives at once: what
//! finishes at that instant comes out.

#![warn(missing_docs)]

mod cancel;
mod outcome;
mod rt;
mod task;

mod adaptive;
mod as_completed;
mod awaitable;
mod breaker;
mod gather;
mod group;
mod hedge;
mod keyed;
mod limit;
mod quorum;
mod race;
mod rate;
mod retry;
mod set;
mod shield;
mod timeout;
mod wait;
mod wait_for;

pub use adaptive::{AdaptiveLimiter, AdaptivePermit, Limit};
pub use as_completed::{as_completed, AsCompleted, Completed, Timed, Untimed};
pub use awaitable::Awaitable;
pub use breaker::{BreakerError, BreakerOpen, BreakerPermit, BreakerState, CircuitBreaker};
pub use cancel::{cancelled, is_cancel_requested, CancelListener, CancelRequest, DEFAULT_GRACE};
pub use gather::{gather, gather_settled, Gather, GatherSettled};
pub use group::{
    group_tree, Child, ChildInfo, GroupError, GroupFailure, Member, Reported, SpawnError, Spawner,
    StartError, TaskGroup, TaskStatus,
};
pub use hedge::{hedge, Hedge, HedgeError, HedgePolicy, Hedged, LatencyTracker};
pub use keyed::{KeyedAcquire, KeyedLimiter, KeyedPermit};
pub use limit::{Acquire, AcquireOwned, Limiter, OwnedPermit, Permit, ReleaseError};
pub use outcome::{infallible, Cancelled, Failure, IntoOutcome, Outcome, Panic};
pub use quorum::{quorum, Quorum, QuorumError};
pub use race::{any, race, Any, AnyError, InputFailure, Race, RaceError, Winner};
pub use rate::{ParseRateError, Rate, RateLimiter, UntilReady};
pub use retry::{
    retry, Backoff, Delays, GaveUp, Jitter, Retried, Retry, RetryBudget, RetryError, RetryPolicy,
    RetryReport,
};
pub use shield::{shield, Finished, Shieldable, Shielded, ShieldedFuture};
pub use task::{
    current_task, spawn, spawn_named, Builder, Join, Task, TaskFuture, TaskId, TaskRef, TaskState,
};
pub use timeout::{
    timeout, timeout_at, timeout_at_with, timeout_with, Deadline, Elapsed, RescheduleError, Timeout,
};
pub use wait::{wait, EmptyWait, ReturnWhen, Wait, WaitTask, Waited};
pub use wait_for::{wait_for, WaitFor};

/// Where [`as_completed`] takes its inputs from. An iterator of awaitables needs nothing from
/// here; the adapters say what else the inputs are: [`keyed`](source::keyed) pairs, a
/// [`stream`](source::stream), or both ([`keyed_stream`](source::keyed_stream)). The types
/// name an [`AsCompleted`]'s first parameter, for a struct field or a signature:
/// `AsCompleted<source::Iter<std::vec::IntoIter<Task<u64, String>>>>`.
pub mod source {
    pub use crate::set::{
        keyed, keyed_stream, stream, IntoSource, Iter, Keyed, Source, Streamed, StreamedKeyed,
    };
}

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
