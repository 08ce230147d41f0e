//! The engine under gather / gather_settled / as_completed / race: ordering, limits, lazy
//! pulling, panics, and that nothing is left running.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::{Failure, InputFailure, Outcome};
use tokio::time::{sleep, Instant};

async fn after(ms: u64, v: u32) -> Result<u32, String> {
    sleep(Duration::from_millis(ms)).await;
    Ok(v)
}

async fn fail_after(ms: u64, e: &str) -> Result<u32, String> {
    sleep(Duration::from_millis(ms)).await;
    Err(e.to_string())
}

#[tokio::test(start_paused = true)]
async fn values_come_in_input_order_not_completion_order() {
    let t0 = Instant::now();
    let v = corral::gather([after(200, 1), after(100, 2), after(300, 3)]).await;
    assert_eq!(v, Ok(vec![1, 2, 3]));
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn first_failure_cancels_and_drains_spawned_siblings() {
    let t0 = Instant::now();
    let tasks = vec![
        corral::spawn(after(1000, 1)),
        corral::spawn(fail_after(100, "boom")),
        corral::spawn(after(2000, 3)),
    ];
    assert_eq!(alive(), 3);
    let r = corral::gather(tasks).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("boom".to_string())
        })
    );
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    assert_eq!(alive(), 0, "siblings are drained before gather returns");
}

#[tokio::test(start_paused = true)]
async fn siblings_listening_for_cancel_get_to_clean_up_before_gather_returns() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let listener = corral::spawn(async move {
        tokio::select! {
            _ = corral::cancelled() => {
                sleep(Duration::from_millis(50)).await;
                c.fetch_add(1, Ordering::SeqCst);
                Err("cleaned up".to_string())
            }
            v = after(10_000, 1) => v,
        }
    });
    let t0 = Instant::now();
    let r = corral::gather([listener, corral::spawn(fail_after(100, "boom"))]).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("boom".to_string())
        })
    );
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
    assert_eq!(t0.elapsed(), Duration::from_millis(150));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn limit_caps_concurrency_and_pulls_inputs_lazily() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let pulled = Arc::new(AtomicUsize::new(0));
    let (f, p, pu) = (in_flight.clone(), peak.clone(), pulled.clone());
    let inputs = (0..100u32).map(move |i| {
        pu.fetch_add(1, Ordering::SeqCst);
        let (f, p) = (f.clone(), p.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            sleep(Duration::from_millis(100)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok::<u32, ()>(i)
        }
    });
    let t0 = Instant::now();
    let mut g = Box::pin(corral::gather(inputs).limit(10));
    // After the first poll only the first 10 inputs have been pulled from the iterator.
    assert!(futures::poll!(g.as_mut()).is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 10);
    let v = g.await.unwrap();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 10);
    assert_eq!(t0.elapsed(), Duration::from_millis(1000));
}

#[tokio::test(start_paused = true)]
async fn panics_in_place_are_captured_as_outcomes() {
    let v = corral::gather_settled([
        Box::pin(after(10, 1))
            as std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, String>>>>,
        Box::pin(async {
            sleep(Duration::from_millis(5)).await;
            panic!("in place");
        }),
    ])
    .await;
    assert_eq!(v[0], Outcome::Ok(1));
    assert_eq!(v[1], Outcome::Panicked(corral::Panic::new("in place")));
}

#[tokio::test(start_paused = true)]
async fn empty_input_gives_empty_result_at_once() {
    let v = corral::gather(Vec::<corral::Task<u32, ()>>::new()).await;
    assert_eq!(v, Ok(vec![]));
    let s = corral::gather_settled(std::iter::empty::<std::future::Ready<Result<u8, ()>>>()).await;
    assert!(s.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_gather_midway_leaves_nothing_running() {
    let tasks: Vec<_> = (0..5).map(|i| corral::spawn(after(1000, i))).collect();
    let g = corral::gather(tasks);
    let r = tokio::time::timeout(Duration::from_millis(10), g).await;
    assert!(r.is_err());
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn many_inputs_each_yielding_once() {
    let v = corral::gather((0..50_000u32).map(|i| async move {
        tokio::task::yield_now().await;
        Ok::<u32, ()>(i)
    }))
    .await
    .unwrap();
    assert_eq!(v.len(), 50_000);
    assert!(v.iter().enumerate().all(|(i, x)| i as u32 == *x));
}

/// Finished tasks come out without polling and free their place at once: with more of them than
/// the limit, the set must go back for more rather than wait for a wake-up that never comes.
#[tokio::test(start_paused = true)]
async fn more_finished_tasks_than_the_limit_all_come_out() {
    let tasks: Vec<_> = (0..10u32)
        .map(|i| corral::spawn(async move { Ok::<_, String>(i) }))
        .collect();
    while !tasks.iter().all(|t| t.is_finished()) {
        tokio::task::yield_now().await;
    }
    let t0 = Instant::now();
    let gathered = tokio::time::timeout(Duration::from_secs(1), corral::gather(tasks).limit(2))
        .await
        .expect("gather does not stall");
    assert_eq!(gathered, Ok((0..10).collect::<Vec<_>>()));
    assert_eq!(t0.elapsed(), Duration::ZERO);

    let tasks: Vec<_> = (0..10u32)
        .map(|i| corral::spawn(async move { Ok::<_, String>(i) }))
        .collect();
    while !tasks.iter().all(|t| t.is_finished()) {
        tokio::task::yield_now().await;
    }
    let settled = tokio::time::timeout(
        Duration::from_secs(1),
        corral::gather_settled(tasks).limit(3),
    )
    .await
    .expect("gather_settled does not stall");
    assert_eq!(settled.len(), 10);
    assert!(settled.iter().all(|o| o.is_ok()));
    assert_eq!(alive(), 0);
}
