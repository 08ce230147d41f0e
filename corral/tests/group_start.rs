//! Spawner::start (Trio's nursery.start): returns the value the child signals while the child
//! keeps running in the group; a child that fails, panics, returns or is cancelled before it
//! signals surfaces as StartError, and every group semantic still holds.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corral::{Outcome, StartError, TaskGroup, TaskStatus};
use tokio::time::{sleep, Instant};

#[tokio::test(start_paused = true)]
async fn start_returns_the_ready_value_while_the_child_keeps_running() {
    let served = flag();
    let start = Instant::now();
    let s = served.clone();
    let (port, ready_at, child_done) = TaskGroup::new()
        .run(|g| async move {
            let (port, server) = g
                .start(move |status| async move {
                    sleep(ms(100)).await; // binding
                    status.started(8080u16);
                    sleep(ms(400)).await; // serving
                    s.store(true, Ordering::SeqCst);
                    Ok::<_, String>("served")
                })
                .await
                .map_err(|e| e.to_string())?;
            let ready_at = start.elapsed();
            assert!(!server.is_finished(), "the child runs on after signalling");
            assert!(!is_set(&served));
            let child_done = server.await.unwrap();
            Ok::<_, String>((port, ready_at, child_done))
        })
        .await
        .unwrap();
    assert_eq!(port, 8080);
    assert_eq!(ready_at, ms(100));
    assert_eq!(child_done, "served");
    assert_eq!(start.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn the_group_waits_for_a_started_child() {
    let start = Instant::now();
    TaskGroup::new()
        .run(|g| async move {
            g.start(|status| async move {
                status.started(());
                sleep(secs(2)).await;
                Ok::<(), ()>(())
            })
            .await
            .unwrap();
            Ok::<(), ()>(()) // the body returns at once
        })
        .await
        .unwrap();
    assert_eq!(start.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn an_early_failure_is_returned_by_start_not_counted_by_the_group() {
    let start = Instant::now();
    let fallback = TaskGroup::new()
        .run(|g| async move {
            let sibling = g.spawn(async {
                sleep(ms(100)).await;
                Ok::<_, String>("sibling done")
            });
            let e = g
                .start(|_status: TaskStatus<u16>| async {
                    sleep(ms(30)).await;
                    Err::<(), _>("bind: address in use".to_string())
                })
                .await
                .unwrap_err();
            assert_eq!(start.elapsed(), ms(30));
            assert!(
                matches!(&e, StartError::Ended(Outcome::Err(m)) if m == "bind: address in use")
            );
            assert_eq!(
                e.to_string(),
                "the child failed to start: bind: address in use"
            );
            // The sibling was not cancelled: the early failure is the starter's to handle.
            assert_eq!(sibling.await.unwrap(), "sibling done");
            Ok::<_, String>(8081)
        })
        .await
        .unwrap();
    assert_eq!(fallback, 8081);
}

#[tokio::test(start_paused = true)]
async fn an_early_failure_returned_by_the_body_fails_the_group() {
    let err = TaskGroup::new()
        .run(|g| async move {
            g.start(|_status: TaskStatus<u16>| async {
                Err::<(), _>("bind: address in use".to_string())
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
        .await
        .unwrap_err();
    // Kept once: the body's error, not also the child's.
    assert_eq!(
        err.errors().collect::<Vec<_>>(),
        [&"the child failed to start: bind: address in use".to_string()]
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_that_returns_without_signalling_is_an_error_with_its_value() {
    TaskGroup::new()
        .run(|g| async move {
            let e = g
                .start(|_status: TaskStatus<u16>| async { Ok::<_, &str>(7) })
                .await
                .unwrap_err();
            assert!(matches!(e, StartError::Ended(Outcome::Ok(7))));
            assert_eq!(
                e.to_string(),
                "the child returned without signalling that it started"
            );
            Ok::<(), &str>(())
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_panic_before_signalling_is_returned_by_start() {
    let err = TaskGroup::new()
        .run(|g| async move {
            let e = g
                .start(|_status: TaskStatus<()>| async {
                    sleep(ms(5)).await;
                    if true {
                        panic!("no config");
                    }
                    Ok::<(), ()>(())
                })
                .await
                .unwrap_err();
            assert!(matches!(e, StartError::Ended(Outcome::Panicked(_))));
            Ok::<(), ()>(())
        })
        .await;
    // The starter was told; the group did not fail.
    assert!(err.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_signalling_fails_the_group_and_cancels_the_body() {
    let body_cancelled = Arc::new(AtomicBool::new(false));
    let bc = body_cancelled.clone();
    let err = TaskGroup::new()
        .run(|g| async move {
            g.start(|status| async move {
                status.started(());
                sleep(ms(50)).await;
                Err::<(), _>("crashed")
            })
            .await
            .unwrap();
            let _req = corral::cancelled().await;
            bc.store(true, Ordering::SeqCst);
            Ok::<(), &str>(())
        })
        .await
        .unwrap_err();
    assert!(body_cancelled.load(Ordering::SeqCst));
    assert_eq!(err.errors().collect::<Vec<_>>(), [&"crashed"]);
}

#[tokio::test(start_paused = true)]
async fn a_child_cancelled_before_signalling_surfaces_as_cancelled() {
    TaskGroup::new()
        .run(|g| async move {
            let e = g
                .start(|_status: TaskStatus<()>| async {
                    sleep(ms(10)).await;
                    corral::current_task().unwrap().cancel_with("shutting down");
                    sleep(secs(60)).await; // not listening: dropped here
                    Ok::<(), ()>(())
                })
                .await
                .unwrap_err();
            match e {
                StartError::Ended(Outcome::Cancelled(c)) => {
                    assert_eq!(c.message(), Some("shutting down"))
                }
                other => panic!("{other:?}"),
            }
            Ok::<(), ()>(())
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn start_in_a_failing_group_is_refused() {
    let refused = flag();
    let r = refused.clone();
    let _ = TaskGroup::new()
        .run(|g| async move {
            g.cancel();
            let e = g
                .start(|status| async move {
                    status.started(());
                    Ok::<(), ()>(())
                })
                .await
                .unwrap_err();
            assert!(matches!(e, StartError::Refused(_)));
            r.store(true, Ordering::SeqCst);
            Ok::<(), ()>(())
        })
        .await;
    assert!(is_set(&refused));
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_group() {
    let before = alive_tasks().await;
    let _ = TaskGroup::new()
        .run(|g| async move {
            for _ in 0..3 {
                g.start(|status| async move {
                    status.started(());
                    sleep(secs(60)).await;
                    Ok::<(), &str>(())
                })
                .await
                .unwrap();
            }
            Err::<(), _>("body failed")
        })
        .await;
    assert_eq!(alive_tasks().await, before);
}
