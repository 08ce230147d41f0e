//! `shield`: catalog section 6, plus leak tests. Paused clock, exact virtual times.

mod common;
use common::*;

use std::convert::Infallible;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::{shield, timeout, wait_for, Elapsed, Outcome, Task};
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

#[derive(Debug, PartialEq, Eq, Clone)]
struct Boom(&'static str);

/// A task that sleeps `d` and returns `v`.
fn after<T: Send + 'static>(d: Duration, v: T) -> Task<T, Infallible> {
    corral::spawn(async move {
        sleep(d).await;
        Ok(v)
    })
}

#[tokio::test(start_paused = true)]
async fn result_passes_through_6_1() {
    let t0 = Instant::now();
    assert_eq!(shield(after(ms(10), 42)).await, Outcome::Ok(42));
    assert_eq!(
        shield(async { Ok::<_, Infallible>(43) }).await,
        Outcome::Ok(43)
    );
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn error_passes_through_unchanged_6_2() {
    let s = shield(async {
        sleep(ms(10)).await;
        Err::<(), _>(Boom("the same error"))
    });
    assert_eq!(s.await, Outcome::Err(Boom("the same error")));
}

#[tokio::test(start_paused = true)]
async fn cancelled_inner_means_cancelled_outer_6_3() {
    let inner = after(ms(100), 1);
    let s = shield(inner);
    yield_now().await;
    assert!(s.task_ref().cancel_with("inner cancelled"));
    assert_eq!(
        s.await,
        Outcome::Cancelled(corral::Cancelled::with_message("inner cancelled"))
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_waiter_leaves_the_inner_running_6_4() {
    let t0 = Instant::now();
    let s = shield(after(ms(300), "done"));
    let mut waiter = Box::pin(s.clone().into_future());
    assert!(futures::poll!(waiter.as_mut()).is_pending());
    sleep(ms(100)).await;
    drop(waiter); // asyncio: outer.cancel()
    assert!(!s.is_finished());
    assert_eq!(alive_tasks().await, 1);
    assert_eq!(s.await, Outcome::Ok("done"));
    assert_eq!(t0.elapsed(), ms(300));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_awaiting_task_leaves_the_inner_running_6_5() {
    let t0 = Instant::now();
    let proof = Arc::new(AtomicUsize::new(0));
    let s = shield({
        let proof = proof.clone();
        async move {
            sleep(ms(200)).await;
            proof.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(())
        }
    });
    let outer = corral::spawn({
        let s = s.clone();
        async move { Ok::<_, Infallible>(s.await) }
    });
    sleep(ms(50)).await;
    outer.cancel();
    assert!(outer.await.is_cancelled());
    assert_eq!(t0.elapsed(), ms(50));
    assert_eq!(proof.load(Ordering::SeqCst), 0);
    s.finished().await;
    assert_eq!(t0.elapsed(), ms(200));
    assert_eq!(proof.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shielded_group_of_futures_survives_the_waiter_6_6() {
    // A join of two futures stands in for gather (gather's own semantics: section 2).
    let s = shield(async {
        let (a, b) = tokio::join!(
            async {
                sleep(ms(10)).await;
                1
            },
            async {
                sleep(ms(20)).await;
                2
            }
        );
        Ok::<_, Infallible>(vec![a, b])
    });
    let outer = corral::spawn({
        let s = s.clone();
        async move { Ok::<_, Infallible>(s.await) }
    });
    yield_now().await;
    outer.cancel();
    assert!(outer.await.is_cancelled());
    assert_eq!(s.await, Outcome::Ok(vec![1, 2]));
}

#[tokio::test(start_paused = true)]
async fn cancelled_join_of_shields_leaves_both_inners_running_6_7() {
    let t0 = Instant::now();
    let s1 = shield(after(ms(10), 1));
    let s2 = shield(after(ms(20), 2));
    let joined = corral::spawn({
        let (s1, s2) = (s1.clone(), s2.clone());
        async move { Ok::<_, Infallible>(tokio::join!(s1, s2)) }
    });
    yield_now().await;
    joined.cancel();
    assert!(joined.await.is_cancelled());
    assert_eq!(s1.await, Outcome::Ok(1));
    assert_eq!(s2.await, Outcome::Ok(2));
    assert_eq!(t0.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn already_finished_inner_gives_its_result_6_8() {
    let done = corral::spawn(async { Ok::<_, Infallible>(42) });
    yield_now().await;
    assert!(done.is_finished());
    let s = shield(done);
    assert!(s.is_finished());
    assert_eq!(s.state(), corral::TaskState::Succeeded);
    assert_eq!(s.with_outcome(Outcome::clone), Some(Outcome::Ok(42)));
    assert_eq!(s.await, Outcome::Ok(42));
}

#[tokio::test(start_paused = true)]
async fn zero_wait_for_on_a_shield_times_out_and_the_task_goes_on_6_9() {
    let t0 = Instant::now();
    let s = shield(after(ms(10), "done"));
    assert_eq!(
        wait_for(Duration::ZERO, s.clone()).await,
        Err(Elapsed::new())
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!s.is_finished());
    assert!(!s.task_ref().is_cancel_requested());
    assert_eq!(s.await, Outcome::Ok("done"));
    assert_eq!(t0.elapsed(), ms(10));
}

/// asyncio: `wait_for(shield(t), 0)` returns `t`'s result once `t` is done (the outer future is
/// done with it). A zero timeout never polls, so the shield must be read without polling.
#[tokio::test(start_paused = true)]
async fn zero_wait_for_on_a_finished_shield_returns_its_outcome() {
    // Shielding a task that has already finished.
    let done = corral::spawn(async { Ok::<_, Infallible>(42) });
    yield_now().await;
    assert!(done.is_finished());
    let s = shield(done);
    assert_eq!(
        wait_for(Duration::ZERO, s.clone()).await,
        Ok(Outcome::Ok(42))
    );
    // Shielded work that finished after it was shielded, read by every clone.
    let s = shield(after(ms(10), "done"));
    sleep(ms(10)).await;
    yield_now().await;
    assert!(s.is_finished());
    assert_eq!(
        wait_for(Duration::ZERO, s.clone()).await,
        Ok(Outcome::Ok("done"))
    );
    assert_eq!(wait_for(Duration::ZERO, s).await, Ok(Outcome::Ok("done")));
    // A timeout scope polls once, and agrees.
    let s = shield(after(ms(10), 7));
    sleep(ms(20)).await;
    assert_eq!(timeout(Duration::ZERO, s).await, Ok(Outcome::Ok(7)));
}

#[tokio::test(start_paused = true)]
async fn wait_for_none_on_a_shield_waits_6_10() {
    let t0 = Instant::now();
    let s = shield(after(ms(100), "done"));
    assert_eq!(wait_for(None, s).await, Ok(Outcome::Ok("done")));
    assert_eq!(t0.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn timed_out_wait_for_on_a_shield_leaves_the_task_running_6_11() {
    let t0 = Instant::now();
    let s = shield(after(ms(100), "done"));
    assert_eq!(wait_for(ms(10), s.clone()).await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
    assert!(!s.is_finished());
    assert!(!s.task_ref().is_cancel_requested());
    assert_eq!(s.await, Outcome::Ok("done"));
    assert_eq!(t0.elapsed(), ms(100));

    // The same through a timeout scope.
    let s = shield(after(ms(100), "again"));
    assert!(timeout(ms(10), s.clone()).await.is_err());
    assert_eq!(s.await, Outcome::Ok("again"));
    assert_eq!(t0.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn unobserved_failure_stays_in_the_handle_6_12() {
    let s = shield(async {
        sleep(ms(10)).await;
        Err::<(), _>(Boom("unobserved"))
    });
    // Every waiter gives up before the failure.
    assert!(timeout(ms(5), s.clone()).await.is_err());
    sleep(ms(20)).await;
    assert!(s.is_finished());
    assert_eq!(alive_tasks().await, 0);
    // Nothing was printed or lost: the failure is in the handle, for every clone.
    let other = s.clone();
    assert_eq!(
        s.with_outcome(Outcome::clone),
        Some(Outcome::Err(Boom("unobserved")))
    );
    assert_eq!(other.await, Outcome::Err(Boom("unobserved")));
    // Moved out once, for error types that are not Clone.
    assert_eq!(s.try_outcome(), Some(Outcome::Err(Boom("unobserved"))));
    assert_eq!(s.try_outcome(), None);
}

#[tokio::test(start_paused = true)]
async fn every_waiter_is_woken_whichever_polled_last() {
    let t0 = Instant::now();
    let s = shield(after(ms(30), 7));
    let w1 = corral::spawn({
        let s = s.clone();
        async move { Ok::<_, Infallible>(s.await) }
    });
    let w2 = corral::spawn({
        let s = s.clone();
        async move { Ok::<_, Infallible>(s.await) }
    });
    // A third waiter polls last, then is dropped.
    let mut w3 = Box::pin(s.clone().into_future());
    sleep(ms(10)).await;
    assert!(futures::poll!(w3.as_mut()).is_pending());
    drop(w3);
    assert_eq!(w1.await.unwrap(), Outcome::Ok(7));
    assert_eq!(w2.await.unwrap(), Outcome::Ok(7));
    assert_eq!(t0.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_shield_returns() {
    assert_eq!(shield(after(ms(10), 1)).await, Outcome::Ok(1));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn shielded_task_keeps_running_after_the_last_handle_is_dropped_then_finishes() {
    let t0 = Instant::now();
    let finished_at = Arc::new(std::sync::Mutex::new(None));
    let s = shield({
        let finished_at = finished_at.clone();
        async move {
            sleep(ms(100)).await;
            *finished_at.lock().unwrap() = Some(t0.elapsed());
            Ok::<_, Infallible>(())
        }
    });
    let mut waiter = Box::pin(s.clone().into_future());
    assert!(futures::poll!(waiter.as_mut()).is_pending());
    drop(waiter);
    drop(s);
    assert_eq!(alive_tasks().await, 1, "shielded: still running, by design");
    sleep(ms(200)).await;
    assert_eq!(*finished_at.lock().unwrap(), Some(ms(100)));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn explicit_cancel_stops_the_shielded_task() {
    let s = shield(after(ms(100), 1));
    assert!(s.cancel());
    assert!(s.clone().await.is_cancelled());
    assert!(!s.cancel());
    assert_eq!(alive_tasks().await, 0);
}
