//! `wait_for`: catalog section 5, plus leak tests. Paused clock, exact virtual times.

mod common;
use common::*;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{wait_for, Elapsed, Outcome, Task};
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

#[derive(Debug, PartialEq, Eq, Clone)]
struct Foo;

/// A task that sleeps `d` (with a `finally` flag) and returns "done".
fn sleeper(d: Duration, finally: &Arc<AtomicBool>) -> Task<&'static str, Infallible> {
    let finally = finally.clone();
    corral::spawn(async move {
        let _guard = Finally(finally);
        sleep(d).await;
        Ok("done")
    })
}

/// A task that handles a cancel request by sleeping `cleanup`, then ending as `then`.
fn handles_cancel(
    cleanup: Duration,
    then: Outcome<u32, Foo>,
    finally: &Arc<AtomicBool>,
) -> Task<u32, Foo> {
    let finally = finally.clone();
    corral::spawn(async move {
        let _guard = Finally(finally);
        tokio::select! {
            req = corral::cancelled() => {
                sleep(cleanup).await;
                match then {
                    Outcome::Ok(v) => Ok(v),
                    Outcome::Err(e) => Err(e),
                    _ => req.propagate().await,
                }
            }
            _ = sleep(secs(3600)) => Ok(0),
        }
    })
}

#[tokio::test(start_paused = true)]
async fn none_is_a_plain_await_5_1() {
    let t0 = Instant::now();
    let r = wait_for(None, async {
        sleep(ms(100)).await;
        "done"
    })
    .await;
    assert_eq!(r, Ok("done"));
    let never = flag();
    let r = wait_for(None, sleeper(ms(100), &never)).await;
    assert_eq!(r, Ok(Outcome::Ok("done")));
    assert_eq!(t0.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn expiry_stops_the_task_before_returning_5_2() {
    let t0 = Instant::now();
    let finally = flag();
    let mut task = sleeper(secs(3600), &finally);
    let r = wait_for(ms(100), &mut task).await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(100));
    assert!(task.is_finished());
    assert!(task.task_ref().is_cancel_requested());
    assert!(
        is_set(&finally),
        "the task's cleanup ran before Elapsed was returned"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_stops_a_running_task_at_once_5_3() {
    let t0 = Instant::now();
    let finally = flag();
    let mut task = sleeper(secs(3600), &finally);
    yield_now().await; // the task is running (asleep)
    let r = wait_for(Duration::ZERO, &mut task).await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(task.is_finished());
    assert!(is_set(&finally));
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_never_starts_a_future_5_4() {
    let started = flag();
    let dropped = flag();
    let r = wait_for(Duration::ZERO, {
        let started = started.clone();
        let guard = Finally(dropped.clone());
        async move {
            let _guard = guard;
            started.store(true, Ordering::SeqCst);
            "done"
        }
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert!(!is_set(&started));
    assert!(is_set(&dropped));

    // Same for a task that has not started yet: it is cancelled before its first step.
    let task = corral::spawn({
        let started = started.clone();
        async move {
            started.store(true, Ordering::SeqCst);
            Ok::<_, Infallible>(())
        }
    });
    assert_eq!(wait_for(Duration::ZERO, task).await, Err(Elapsed::new()));
    assert!(!is_set(&started));
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_returns_a_finished_tasks_outcome_5_5() {
    let done = corral::spawn(async { Ok::<_, Infallible>("done") });
    yield_now().await;
    assert!(done.is_finished());
    assert_eq!(
        wait_for(Duration::ZERO, done).await,
        Ok(Outcome::Ok("done"))
    );
    let failed = corral::spawn(async { Err::<(), _>(Foo) });
    yield_now().await;
    assert_eq!(
        wait_for(Duration::ZERO, failed).await,
        Ok(Outcome::Err(Foo))
    );
}

#[tokio::test(start_paused = true)]
async fn an_unpolled_zero_wait_for_leaves_a_borrowed_tasks_outcome() {
    let mut task = corral::spawn(async { Ok::<u8, ()>(7) });
    yield_now().await; // the task finishes
    assert!(task.is_finished());
    // Dropped before its first poll: "a `&mut Task` is left alone".
    drop(wait_for(Duration::ZERO, &mut task));
    assert_eq!(task.try_outcome(), Some(Outcome::Ok(7)));

    // Polled, it takes the outcome then.
    let mut task = corral::spawn(async { Ok::<u8, ()>(8) });
    let waiting = wait_for(Duration::ZERO, &mut task);
    yield_now().await; // the task finishes after wait_for was called, before its first poll
    assert_eq!(waiting.await, Ok(Outcome::Ok(8)));
    assert_eq!(task.try_outcome(), None);
}

#[tokio::test(start_paused = true)]
async fn future_resolved_soon_returns_before_the_deadline_5_6() {
    let t0 = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = corral::spawn(async move {
        let _ = tx.send("ok");
        Ok::<_, Infallible>(())
    });
    let r = wait_for(ms(200), rx).await;
    assert_eq!(r, Ok(Ok("ok")));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(sender.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn future_that_handles_the_timeout_returns_its_value_5_7() {
    let t0 = Instant::now();
    let r = wait_for(ms(100), async {
        tokio::select! {
            _req = corral::cancelled() => 42,
            _ = sleep(secs(10)) => 0,
        }
    })
    .await;
    assert_eq!(r, Ok(42));
    assert_eq!(t0.elapsed(), ms(100));

    // test_wait_for_cancellation_race_condition: returns 1 at 0.01
    let r = wait_for(ms(10), async {
        tokio::select! {
            _req = corral::cancelled() => {}
            _ = sleep(secs(1)) => unreachable!(),
        }
        1
    })
    .await;
    assert_eq!(r, Ok(1));
    assert_eq!(t0.elapsed(), ms(110));
}

#[tokio::test(start_paused = true)]
async fn task_that_handles_the_timeout_returns_its_value_5_7() {
    let t0 = Instant::now();
    let finally = flag();
    let task = handles_cancel(Duration::ZERO, Outcome::Ok(42), &finally);
    let r = wait_for(ms(100), task).await;
    assert_eq!(r, Ok(Outcome::Ok(42)));
    assert_eq!(t0.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_task_to_finish_stopping_5_8() {
    let t0 = Instant::now();
    let finally = flag();
    let mut task = handles_cancel(ms(50), Outcome::Cancelled(Default::default()), &finally);
    let r = wait_for(ms(100), &mut task).await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(150));
    assert!(is_set(&finally));
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_waits_for_the_task_to_finish_stopping_5_8() {
    let t0 = Instant::now();
    let finally = flag();
    let task = handles_cancel(ms(50), Outcome::Cancelled(Default::default()), &finally);
    yield_now().await; // listening
    let r = wait_for(Duration::ZERO, task).await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(50));
    assert!(is_set(&finally));
}

#[tokio::test(start_paused = true)]
async fn future_that_ignores_the_timeout_is_waited_for_and_its_value_wins_5_9() {
    let t0 = Instant::now();
    let r = wait_for(ms(100), async {
        tokio::select! {
            _req = corral::cancelled() => {} // noted, ignored
            _ = sleep(ms(200)) => {}
        }
        sleep(Duration::from_millis(200) - t0.elapsed()).await;
        "slow"
    })
    .await;
    assert_eq!(r, Ok("slow"));
    assert_eq!(t0.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn cancelled_caller_waits_for_an_inner_that_ignores_it_5_10() {
    let t0 = Instant::now();
    let caller = corral::spawn(async move {
        let r = wait_for(ms(400), async {
            tokio::select! {
                _req = corral::cancelled() => {} // swallowed
                _ = sleep(ms(200)) => {}
            }
            sleep(Duration::from_millis(200) - t0.elapsed()).await;
            "slow"
        })
        .await;
        Ok::<_, Infallible>(r)
    });
    yield_now().await;
    caller.cancel();
    assert_eq!(caller.await, Outcome::Ok(Ok("slow")));
    assert_eq!(t0.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn error_raised_while_stopping_wins_over_the_timeout_5_11() {
    let t0 = Instant::now();
    let r = wait_for(ms(10), async {
        tokio::select! {
            _req = corral::cancelled() => Err::<(), _>(Foo),
            _ = sleep(secs(10)) => Ok(()),
        }
    })
    .await;
    assert_eq!(r, Ok(Err(Foo)));
    assert_eq!(t0.elapsed(), ms(10));

    let finally = flag();
    let task = handles_cancel(Duration::ZERO, Outcome::Err(Foo), &finally);
    assert_eq!(wait_for(ms(10), task).await, Ok(Outcome::Err(Foo)));
    assert_eq!(t0.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_caller_cancels_the_inner_task_5_12() {
    for d in [None, Some(secs(60))] {
        let finally = flag();
        let inner = sleeper(secs(3600), &finally);
        let caller = corral::spawn(async move {
            let _ = wait_for(d, inner).await;
            Ok::<(), Infallible>(())
        });
        yield_now().await;
        assert!(caller.cancel());
        assert!(caller.await.is_cancelled());
        assert_eq!(alive_tasks().await, 0);
        assert!(is_set(&finally), "the inner task was stopped ({d:?})");
    }
}

#[tokio::test(start_paused = true)]
async fn cancel_after_wait_for_returned_is_not_lost_5_13() {
    let t0 = Instant::now();
    let stash: Arc<Mutex<Option<Outcome<&str, Infallible>>>> = Arc::default();
    let after_await = flag();
    let caller = corral::spawn({
        let stash = stash.clone();
        let after_await = after_await.clone();
        async move {
            let inner = corral::spawn(async { Ok("done") });
            let r = wait_for(secs(10), inner).await;
            // Cancelled right after wait_for returned, in the same step.
            corral::current_task().expect("in a task").cancel();
            *stash.lock().unwrap() = r.ok();
            sleep(secs(1)).await;
            after_await.store(true, Ordering::SeqCst);
            Ok::<(), Infallible>(())
        }
    });
    assert!(caller.await.is_cancelled());
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(*stash.lock().unwrap(), Some(Outcome::Ok("done")));
    assert!(!is_set(&after_await));
}

#[tokio::test(start_paused = true)]
async fn plain_future_runs_inline_in_the_callers_task_5_14() {
    let caller = corral::spawn(async {
        let me = corral::current_task().map(|t| t.id());
        let inside = wait_for(secs(1), async {
            let alive = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            (corral::current_task().map(|t| t.id()), alive)
        })
        .await
        .unwrap();
        Ok::<_, Infallible>((me, inside))
    });
    let id = caller.id();
    let (me, (inside, alive)) = caller.await.unwrap();
    assert_eq!(me, Some(id));
    assert_eq!(inside, Some(id));
    assert_eq!(alive, 1, "nothing but the caller was spawned");
}

#[tokio::test(start_paused = true)]
async fn shield_combinations_are_under_shield_5_15() {
    // Item 5.15 only points at 6.9-6.11 (tests/shield.rs). Checked here: a shielded task under
    // a zero wait_for is not stopped.
    let s = corral::shield(async {
        sleep(ms(10)).await;
        Ok::<_, Infallible>("done")
    });
    assert_eq!(
        wait_for(Duration::ZERO, s.clone()).await,
        Err(Elapsed::new())
    );
    assert_eq!(s.await, Outcome::Ok("done"));
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_wait_for_returns() {
    let never = flag();
    let r = wait_for(secs(1), sleeper(ms(10), &never)).await;
    assert_eq!(r, Ok(Outcome::Ok("done")));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_wait_for_times_out() {
    let finally = flag();
    let r = wait_for(ms(10), sleeper(secs(10), &finally)).await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(alive_tasks().await, 0);
    let r = wait_for(ms(10), async {
        let child = sleeper(secs(10), &finally);
        child.await
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_caller_drops_wait_for() {
    let finally = flag();
    let mut fut = Box::pin(wait_for(secs(10), sleeper(secs(10), &finally)));
    assert!(futures::poll!(fut.as_mut()).is_pending());
    sleep(ms(10)).await;
    drop(fut);
    assert_eq!(alive_tasks().await, 0);
    assert!(is_set(&finally));

    let finally = flag();
    let mut fut = Box::pin(wait_for(secs(10), async {
        // A task started by the future polled in place.
        sleeper(secs(10), &finally).await
    }));
    assert!(futures::poll!(fut.as_mut()).is_pending());
    sleep(ms(10)).await; // the task is running
    assert_eq!(alive_tasks().await, 1);
    drop(fut);
    assert_eq!(alive_tasks().await, 0);
    assert!(is_set(&finally));
}
