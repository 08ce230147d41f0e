//! The tie rule, pinned: when a deadline arrives while corral waits, work that finishes at
//! that same instant counts as finished, whatever waits for it (`wait`, `wait_for`, `timeout`,
//! `as_completed`), wherever the waiter runs (the runtime's main future or a spawned task), and
//! whatever the input is (a plain future polled in place, or a spawned task). corral yields to
//! the scheduler once at the deadline before it decides, so a task woken by the same timer
//! tick runs first. (A deadline that has already passed when the wait begins is no tie: see
//! the crate docs.)
//!
//! Each case: the work finishes at t0 + 50 ms; the waiter sleeps 20 ms, then waits with a 30 ms
//! timeout, whose deadline is the same instant.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use corral::{Outcome, Task};
use tokio::time::{sleep, sleep_until, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Work that finishes at `at` with 7.
async fn work(at: Instant) -> Result<u32, Infallible> {
    sleep_until(at).await;
    Ok(7)
}

fn task(at: Instant) -> Task<u32, Infallible> {
    corral::spawn(work(at))
}

/// What a waiter saw: `Some(7)` if the work's value won the tie, `None` if the timeout did.
type Seen = Pin<Box<dyn Future<Output = Option<u32>> + Send>>;

fn wait_on_task(at: Instant) -> Seen {
    let t = task(at);
    Box::pin(async move {
        sleep(ms(20)).await;
        let waited = corral::wait([t]).timeout(ms(30)).await.unwrap();
        let mut done = waited.done.into_iter();
        done.next()
            .map(|mut t| t.try_outcome().expect("done").unwrap())
    })
}

fn wait_for_task(at: Instant) -> Seen {
    let t = task(at);
    Box::pin(async move {
        sleep(ms(20)).await;
        corral::wait_for(ms(30), t).await.ok().map(Outcome::unwrap)
    })
}

fn wait_for_future(at: Instant) -> Seen {
    Box::pin(async move {
        sleep(ms(20)).await;
        corral::wait_for(ms(30), work(at))
            .await
            .ok()
            .map(Result::unwrap)
    })
}

fn timeout_on_task(at: Instant) -> Seen {
    let t = task(at);
    Box::pin(async move {
        sleep(ms(20)).await;
        corral::timeout(ms(30), t).await.ok().map(Outcome::unwrap)
    })
}

fn timeout_on_future(at: Instant) -> Seen {
    Box::pin(async move {
        sleep(ms(20)).await;
        corral::timeout(ms(30), work(at))
            .await
            .ok()
            .map(Result::unwrap)
    })
}

fn as_completed_on_task(at: Instant) -> Seen {
    let t = task(at);
    Box::pin(async move {
        sleep(ms(20)).await;
        let mut s = corral::as_completed([t]).timeout(ms(30));
        s.next().await.unwrap().ok().map(|c| c.outcome.unwrap())
    })
}

fn as_completed_on_future(at: Instant) -> Seen {
    Box::pin(async move {
        sleep(ms(20)).await;
        let mut s = corral::as_completed([work(at)]).timeout(ms(30));
        s.next().await.unwrap().ok().map(|c| c.outcome.unwrap())
    })
}

/// A waiter for work due at the given instant.
type Case = fn(Instant) -> Seen;

const CASES: &[(&str, Case)] = &[
    ("wait over a task", wait_on_task),
    ("wait_for over a task", wait_for_task),
    ("wait_for over a future", wait_for_future),
    ("timeout over a task", timeout_on_task),
    ("timeout over a future", timeout_on_future),
    ("as_completed over a task", as_completed_on_task),
    ("as_completed over a future", as_completed_on_future),
];

#[tokio::test(start_paused = true)]
async fn waited_from_the_main_future_the_result_wins_the_tie() {
    for (name, case) in CASES {
        let t0 = Instant::now();
        assert_eq!(
            case(t0 + ms(50)).await,
            Some(7),
            "{name}, from the main future"
        );
        assert_eq!(t0.elapsed(), ms(50), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn waited_from_a_spawned_task_the_result_wins_the_tie() {
    for (name, case) in CASES {
        let t0 = Instant::now();
        let seen = corral::spawn(async move { Ok::<_, Infallible>(case(t0 + ms(50)).await) });
        assert_eq!(
            seen.await,
            Outcome::Ok(Some(7)),
            "{name}, from a spawned task"
        );
        assert_eq!(t0.elapsed(), ms(50), "{name}");
    }
}

/// Work due one millisecond after the deadline is not a tie: the timeout wins, in every
/// placement (and a task left running by `wait` or a shielding caller is not the point here).
#[tokio::test(start_paused = true)]
async fn work_due_after_the_deadline_loses_wherever_it_is_waited() {
    for (name, case) in CASES {
        let t0 = Instant::now();
        assert_eq!(
            case(t0 + ms(51)).await,
            None,
            "{name}, from the main future"
        );
        let t0 = Instant::now();
        let seen = corral::spawn(async move { Ok::<_, Infallible>(case(t0 + ms(51)).await) });
        assert_eq!(seen.await, Outcome::Ok(None), "{name}, from a spawned task");
    }
}
