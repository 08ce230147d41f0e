//! `timeout` / `timeout_at` deadline scopes: catalog section 7, plus leak tests.
//! Every test runs on tokio's paused clock and checks exact virtual times.

mod common;
use common::*;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{
    timeout, timeout_at, timeout_at_with, timeout_with, Deadline, Elapsed, Outcome, RescheduleError,
};
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

/// Where a body leaves something for the test to look at.
type Slot<T> = Arc<Mutex<Option<T>>>;

#[derive(Debug, PartialEq, Eq, Clone)]
struct KeyError;

#[derive(Debug, PartialEq, Eq, Clone)]
struct ZeroDivision;

#[tokio::test(start_paused = true)]
async fn basic_expiry_drops_the_body_and_reports_elapsed_7_1() {
    let t0 = Instant::now();
    let finally = flag();
    let scope = timeout(ms(10), {
        let finally = finally.clone();
        async move {
            let _guard = Finally(finally);
            sleep(secs(10)).await;
        }
    });
    let deadline = scope.deadline();
    assert_eq!(scope.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
    assert!(deadline.expired());
    assert!(
        is_set(&finally),
        "the body was dropped before Elapsed was returned"
    );
}

#[tokio::test(start_paused = true)]
async fn body_sees_a_cancel_request_not_elapsed_and_the_task_is_not_cancelled_7_1() {
    let t0 = Instant::now();
    let task = corral::spawn(async {
        let seen_request = Arc::new(AtomicBool::new(false));
        let r = timeout(ms(10), {
            let seen_request = seen_request.clone();
            async move {
                tokio::select! {
                    req = corral::cancelled() => {
                        // Inside the block the expiry is a cancellation request.
                        seen_request.store(true, Ordering::SeqCst);
                        req.propagate::<()>().await
                    }
                    _ = sleep(secs(10)) => {}
                }
            }
        })
        .await;
        // Afterwards the task itself is not being cancelled (asyncio: cancelling() == 0).
        Ok::<_, Infallible>((r, is_set(&seen_request), corral::is_cancel_requested()))
    });
    assert_eq!(task.await.unwrap(), (Err(Elapsed::new()), true, false));
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn timeout_at_fires_at_its_deadline_and_reports_it_7_2() {
    let t0 = Instant::now();
    let at = t0 + ms(10);
    let scope = timeout_at(at, sleep(secs(10)));
    let deadline = scope.deadline();
    assert_eq!(deadline.when(), Some(at));
    assert_eq!(scope.await, Err(Elapsed::new()));
    assert_eq!(Instant::now(), at);
    assert_eq!(deadline.when(), Some(at));
    assert!(deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn body_that_finishes_in_time_is_not_expired_7_3() {
    let t0 = Instant::now();
    let scope = timeout(secs(10), async {
        sleep(ms(10)).await;
        "done"
    });
    let deadline = scope.deadline();
    assert_eq!(scope.await, Ok("done"));
    assert_eq!(t0.elapsed(), ms(10));
    assert!(!deadline.expired());
    assert!(deadline.when().unwrap() > Instant::now());
}

#[tokio::test(start_paused = true)]
async fn none_never_fires_7_4() {
    let t0 = Instant::now();
    let scope = timeout(None, async {
        sleep(secs(100)).await;
        1
    });
    let deadline = scope.deadline();
    assert_eq!(deadline.when(), None);
    assert_eq!(scope.await, Ok(1));
    assert_eq!(t0.elapsed(), secs(100));
    assert!(!deadline.expired());

    let scope = timeout_at(None, async {
        sleep(secs(100)).await;
        2
    });
    let deadline = scope.deadline();
    assert_eq!(deadline.when(), None);
    assert_eq!(scope.await, Ok(2));
    assert_eq!(t0.elapsed(), secs(200));
    assert!(!deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn zero_or_past_deadline_fires_at_the_first_suspension_point_7_5() {
    let t0 = Instant::now();

    // timeout(0) around sleep(10)
    let scope = timeout(Duration::ZERO, sleep(secs(10)));
    let deadline = scope.deadline();
    assert_eq!(deadline.when(), Some(t0));
    assert_eq!(scope.await, Err(Elapsed::new()));
    assert!(deadline.expired());

    // timeout(0) around sleep(0): a bare yield is a suspension point
    let reached = flag();
    let scope = timeout(Duration::ZERO, {
        let reached = reached.clone();
        async move {
            yield_now().await;
            reached.store(true, Ordering::SeqCst);
        }
    });
    assert_eq!(scope.await, Err(Elapsed::new()));
    assert!(!is_set(&reached));

    // timeout_at(now - 11 s) around sleep(0)
    let past = t0 - secs(11);
    let scope = timeout_at(past, yield_now());
    let deadline = scope.deadline();
    assert_eq!(deadline.when(), Some(past));
    assert_eq!(scope.await, Err(Elapsed::new()));
    assert!(deadline.expired());

    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn body_that_never_suspends_never_times_out_7_6() {
    let task = corral::spawn(async {
        let scope = timeout(Duration::ZERO, async { 5 });
        let deadline = scope.deadline();
        let r = scope.await;
        // No cancellation is left behind: the next await goes through.
        sleep(ms(1)).await;
        Ok::<_, Infallible>((r, deadline.expired(), corral::is_cancel_requested()))
    });
    assert_eq!(task.await, Outcome::Ok((Ok(5), false, false)));
}

#[tokio::test(start_paused = true)]
async fn error_from_the_body_passes_through_unchanged_7_7() {
    let scope = timeout(secs(10), async {
        sleep(ms(1)).await;
        Err::<(), _>(KeyError)
    });
    let deadline = scope.deadline();
    assert_eq!(scope.await, Ok(Err(KeyError)));
    assert!(!deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_task_is_not_reported_as_a_timeout_7_8() {
    let t0 = Instant::now();
    let scope = timeout(secs(10), async {
        corral::current_task().expect("in a task").cancel();
        sleep(secs(1)).await;
    });
    let deadline = scope.deadline();
    let task = corral::spawn(async move {
        let _ = scope.await;
        Ok::<(), Infallible>(())
    });
    assert!(task.await.is_cancelled());
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn nested_scopes_with_the_same_deadline_only_the_outer_reports_7_9() {
    let t0 = Instant::now();
    let inner_returned = flag();
    let inner_deadline: Arc<Mutex<Option<Deadline>>> = Arc::default();
    let outer = timeout(ms(10), {
        let inner_returned = inner_returned.clone();
        let inner_deadline = inner_deadline.clone();
        async move {
            let inner = timeout(ms(10), sleep(secs(10)));
            *inner_deadline.lock().unwrap() = Some(inner.deadline());
            let _ = inner.await;
            inner_returned.store(true, Ordering::SeqCst);
        }
    });
    let outer_deadline = outer.deadline();
    assert_eq!(outer.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
    assert!(
        !is_set(&inner_returned),
        "the inner scope let the cancellation pass"
    );
    assert!(outer_deadline.expired());
    assert!(inner_deadline.lock().unwrap().as_ref().unwrap().expired());
}

#[tokio::test(start_paused = true)]
async fn nested_scopes_with_the_same_deadline_and_a_listener_only_the_outer_reports_7_9() {
    let t0 = Instant::now();
    let inner_result: Arc<Mutex<Option<Result<(), Elapsed>>>> = Arc::default();
    let outer = timeout(ms(10), {
        let inner_result = inner_result.clone();
        async move {
            let r = timeout(ms(10), async {
                let req = corral::cancelled().await;
                sleep(ms(5)).await; // cleanup
                req.propagate::<()>().await
            })
            .await;
            *inner_result.lock().unwrap() = Some(r);
        }
    });
    assert_eq!(outer.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(15));
    assert_eq!(*inner_result.lock().unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn inner_scope_that_fires_alone_reports_and_the_outer_fires_later_7_10() {
    let t0 = Instant::now();
    let inner_at: Slot<(Result<(), Elapsed>, Duration)> = Arc::default();
    let outer = timeout(ms(100), {
        let inner_at = inner_at.clone();
        async move {
            let r = timeout(ms(10), sleep(secs(10))).await;
            *inner_at.lock().unwrap() = Some((r, t0.elapsed()));
            sleep(secs(10)).await;
        }
    });
    assert_eq!(outer.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(
        *inner_at.lock().unwrap(),
        Some((Err(Elapsed::new()), ms(10)))
    );
}

#[tokio::test(start_paused = true)]
async fn outer_scope_that_fires_first_reports_and_the_inner_is_not_expired_7_11() {
    let t0 = Instant::now();
    let inner_deadline: Arc<Mutex<Option<Deadline>>> = Arc::default();
    let outer = timeout(ms(2), {
        let inner_deadline = inner_deadline.clone();
        async move {
            let inner = timeout(ms(100), sleep(secs(10)));
            *inner_deadline.lock().unwrap() = Some(inner.deadline());
            let _ = inner.await;
        }
    });
    assert_eq!(outer.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(2));
    assert!(!inner_deadline.lock().unwrap().as_ref().unwrap().expired());
}

#[tokio::test(start_paused = true)]
async fn both_deadlines_passed_while_busy_only_the_outer_reports_7_11() {
    let t0 = Instant::now();
    let inner_returned = flag();
    let inner_deadline: Arc<Mutex<Option<Deadline>>> = Arc::default();
    let outer = timeout(ms(100), {
        let inner_returned = inner_returned.clone();
        let inner_deadline = inner_deadline.clone();
        async move {
            let inner = timeout(ms(10), sleep(secs(10)));
            *inner_deadline.lock().unwrap() = Some(inner.deadline());
            let _ = inner.await;
            inner_returned.store(true, Ordering::SeqCst);
            sleep(secs(1)).await;
        }
    });
    let mut outer = std::pin::pin!(outer);
    assert!(futures::poll!(outer.as_mut()).is_pending());
    // The loop is busy past both deadlines before the scopes get to run again.
    tokio::time::advance(ms(500)).await;
    assert_eq!(outer.await, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(500));
    assert!(!is_set(&inner_returned));
    assert!(inner_deadline.lock().unwrap().as_ref().unwrap().expired());
}

#[tokio::test(start_paused = true)]
async fn task_that_handles_its_timeout_goes_on_normally_7_12() {
    let t0 = Instant::now();
    let task = corral::spawn(async {
        let r = timeout(ms(10), sleep(secs(10))).await;
        assert_eq!(r, Err(Elapsed::new()));
        sleep(ms(500)).await;
        Ok::<_, Infallible>(corral::is_cancel_requested())
    });
    assert_eq!(task.await, Outcome::Ok(false));
    assert_eq!(t0.elapsed(), ms(510));
}

#[tokio::test(start_paused = true)]
async fn reschedule_moves_and_disables_the_deadline_7_13() {
    let t0 = Instant::now();
    let deadline1 = t0 + secs(10);
    let deadline2 = deadline1 + secs(20);
    let scope = timeout_at(deadline1, sleep(secs(50)));
    let deadline = scope.deadline();
    let mut task = corral::spawn(async move {
        let _ = scope.await;
        Ok::<(), Infallible>(())
    });
    yield_now().await; // the task enters the scope

    assert_eq!(deadline.when(), Some(deadline1));
    assert_eq!(deadline.reschedule(deadline2), Ok(()));
    assert_eq!(deadline.when(), Some(deadline2));
    assert_eq!(deadline.reschedule(None), Ok(()));
    assert_eq!(deadline.when(), None);

    sleep(secs(40)).await; // past both old deadlines: nothing fired
    assert!(!task.is_finished());
    assert!(!deadline.expired());

    task.cancel();
    assert!(task.join().await.is_cancelled());
    assert_eq!(t0.elapsed(), secs(40));
    assert!(!deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn reschedule_from_another_task_rearms_the_running_scope_7_13() {
    let t0 = Instant::now();
    let scope = timeout(secs(10), sleep(secs(50)));
    let deadline = scope.deadline();
    let task = corral::spawn(async move { Ok::<_, Infallible>(scope.await) });
    yield_now().await;
    deadline.reschedule(t0 + secs(1)).unwrap();
    assert_eq!(task.await, Outcome::Ok(Err(Elapsed::new())));
    assert_eq!(t0.elapsed(), secs(1));
}

#[tokio::test(start_paused = true)]
async fn reschedule_into_the_past_fires_at_the_next_suspension_point_7_13() {
    let t0 = Instant::now();
    let reached = flag();
    let r = timeout_with(secs(10), {
        let reached = reached.clone();
        |deadline| async move {
            sleep(ms(5)).await;
            deadline.reschedule(Instant::now() - secs(1)).unwrap();
            yield_now().await;
            reached.store(true, Ordering::SeqCst);
        }
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(5));
    assert!(!is_set(&reached));
}

#[tokio::test(start_paused = true)]
async fn expiry_during_cleanup_of_an_error_reports_elapsed_7_14() {
    let t0 = Instant::now();
    let r = timeout(ms(10), async {
        let failed: Result<(), ZeroDivision> = Err(ZeroDivision);
        // finally: sleep(1), not listening for the cancellation
        sleep(secs(1)).await;
        failed
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn error_raised_while_handling_the_expiry_wins_7_15() {
    let t0 = Instant::now();
    let scope = timeout(ms(10), async {
        tokio::select! {
            _ = corral::cancelled() => Err::<(), _>(ZeroDivision),
            _ = sleep(secs(10)) => Ok(()),
        }
    });
    let deadline = scope.deadline();
    assert_eq!(scope.await, Ok(Err(ZeroDivision)));
    assert_eq!(t0.elapsed(), ms(10));
    assert!(deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn new_timeout_inside_the_cleanup_of_an_expiring_one_works_7_16() {
    let t0 = Instant::now();
    let inner_at: Slot<(Result<(), Elapsed>, Duration)> = Arc::default();
    let r = timeout(ms(10), {
        let inner_at = inner_at.clone();
        async move {
            tokio::select! {
                req = corral::cancelled() => {
                    // finally: a fresh timeout around a long sleep
                    let inner = timeout(ms(10), sleep(secs(10))).await;
                    *inner_at.lock().unwrap() = Some((inner, t0.elapsed()));
                    req.propagate::<()>().await
                }
                _ = sleep(secs(1)) => {}
            }
        }
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(20));
    assert_eq!(
        *inner_at.lock().unwrap(),
        Some((Err(Elapsed::new()), ms(20)))
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_entered_after_a_handled_cancellation_still_fires_7_17() {
    let t0 = Instant::now();
    let task = corral::spawn(async {
        tokio::select! {
            _req = corral::cancelled() => {} // caught, not re-raised
            _ = sleep(secs(10)) => {}
        }
        let r = timeout(Duration::ZERO, sleep(secs(1))).await;
        Ok::<_, Infallible>(r)
    });
    yield_now().await;
    task.cancel();
    assert_eq!(task.await, Outcome::Ok(Err(Elapsed::new())));
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_pending_cancel_reaches_a_listener_inside_a_timeout_entered_after_it() {
    // Asked to stop, but nothing has listened yet: the code is not cleanup, so a timeout
    // entered now nests in the task's scope like any other code, and a listener inside gets
    // the request (asyncio raises the pending CancelledError at the first await in the block).
    let t0 = Instant::now();
    let task = corral::spawn(async {
        corral::current_task().unwrap().cancel();
        let r = timeout(secs(10), async {
            let requested = corral::is_cancel_requested();
            let _request = corral::cancelled().await;
            sleep(ms(5)).await; // cleanup
            requested
        })
        .await;
        Ok::<_, Infallible>(r)
    });
    assert_eq!(task.await, Outcome::Ok(Ok(true)));
    assert_eq!(t0.elapsed(), ms(5));
}

#[tokio::test(start_paused = true)]
async fn cancellation_handed_back_inside_that_timeout_is_a_cancellation_7_18() {
    let t0 = Instant::now();
    let inner_deadline: Arc<Mutex<Option<Deadline>>> = Arc::default();
    let task = corral::spawn({
        let inner_deadline = inner_deadline.clone();
        async move {
            let req = tokio::select! {
                req = corral::cancelled() => req,
                _ = sleep(secs(10)) => unreachable!(),
            };
            let _ = timeout_with(secs(1), |deadline| {
                *inner_deadline.lock().unwrap() = Some(deadline);
                async move { req.propagate::<()>().await }
            })
            .await;
            Ok::<(), Infallible>(())
        }
    });
    yield_now().await;
    task.cancel();
    assert!(task.await.is_cancelled());
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!inner_deadline.lock().unwrap().as_ref().unwrap().expired());
}

#[tokio::test(start_paused = true)]
async fn reschedule_is_refused_before_entering_7_19() {
    let scope = timeout(secs(10), async { 1 });
    let deadline = scope.deadline();
    assert_eq!(deadline.reschedule(None), Err(RescheduleError::NotEntered));
    assert_eq!(deadline.when().map(|w| w - Instant::now()), Some(secs(10)));
    assert_eq!(scope.await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn reschedule_is_refused_while_expiring_7_19() {
    let r = timeout_with(ms(10), |deadline| async move {
        let _req = corral::cancelled().await;
        deadline.reschedule(None)
    })
    .await;
    assert_eq!(r, Ok(Err(RescheduleError::Expiring)));
}

#[tokio::test(start_paused = true)]
async fn reschedule_is_refused_after_expiring_7_19() {
    let scope = timeout(ms(10), sleep(secs(10)));
    let deadline = scope.deadline();
    assert!(scope.await.is_err());
    assert_eq!(deadline.reschedule(None), Err(RescheduleError::Expired));
}

#[tokio::test(start_paused = true)]
async fn reschedule_is_refused_after_finishing_7_19() {
    let scope = timeout(secs(10), sleep(ms(10)));
    let deadline = scope.deadline();
    assert!(scope.await.is_ok());
    assert_eq!(deadline.reschedule(None), Err(RescheduleError::Finished));
}

#[tokio::test(start_paused = true)]
async fn body_that_handles_the_expiry_returns_normally_and_is_expired_7_20() {
    let t0 = Instant::now();
    let task = corral::spawn(async {
        let scope = timeout(ms(10), async {
            tokio::select! {
                _req = corral::cancelled() => 7, // the request is dropped: handled
                _ = sleep(secs(10)) => 0,
            }
        });
        let deadline = scope.deadline();
        let r = scope.await;
        Ok::<_, Infallible>((
            r,
            deadline.expired(),
            deadline.reschedule(None),
            corral::is_cancel_requested(),
        ))
    });
    assert_eq!(
        task.await,
        Outcome::Ok((Ok(7), true, Err(RescheduleError::Expired), false))
    );
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn grace_period_bounds_a_body_that_handles_the_expiry() {
    let t0 = Instant::now();
    let finally = flag();
    let r = timeout(ms(10), {
        let finally = finally.clone();
        async move {
            let _guard = Finally(finally);
            let _req = corral::cancelled().await;
            sleep(secs(60)).await; // ignores the request
        }
    })
    .grace(ms(100))
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(110));
    assert!(is_set(&finally));
}

#[tokio::test(start_paused = true)]
async fn a_listener_dropped_without_seeing_the_request_does_not_hold_the_scope() {
    let t0 = Instant::now();
    let r = timeout(ms(10), async {
        // Listens only until 5 ms, then carries on without listening.
        tokio::select! {
            _ = corral::cancelled() => unreachable!(),
            _ = sleep(ms(5)) => {}
        }
        sleep(secs(10)).await;
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn timeout_at_with_gives_the_body_its_deadline() {
    let at = Instant::now() + ms(10);
    let r = timeout_at_with(at, |deadline| async move { deadline.when() }).await;
    assert_eq!(r, Ok(Some(at)));
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_body_returns() {
    let r = timeout(secs(1), async {
        let child = corral::spawn(async {
            sleep(ms(10)).await;
            Ok::<_, Infallible>(3)
        });
        child.await.unwrap()
    })
    .await;
    assert_eq!(r, Ok(3));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_timeout_fires() {
    let t0 = Instant::now();
    let r = timeout(ms(10), async {
        let child = corral::spawn(async {
            sleep(secs(10)).await;
            Ok::<_, Infallible>(3)
        });
        child.await.unwrap()
    })
    .await;
    assert_eq!(r, Err(Elapsed::new()));
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_left_running_after_the_caller_drops_the_scope() {
    let finally = flag();
    let scope = timeout(secs(10), {
        let finally = finally.clone();
        async move {
            let _guard = Finally(finally);
            let child = corral::spawn(async {
                sleep(secs(10)).await;
                Ok::<_, Infallible>(3)
            });
            child.await.unwrap()
        }
    });
    let deadline = scope.deadline();
    let mut scope = Box::pin(scope);
    assert!(futures::poll!(scope.as_mut()).is_pending());
    sleep(ms(10)).await;
    drop(scope);
    assert!(is_set(&finally));
    assert_eq!(alive_tasks().await, 0);
    assert!(!deadline.expired());
    assert_eq!(deadline.reschedule(None), Err(RescheduleError::Finished));
}

/// 7.21: a timeout around a TaskGroup. At 10 ms the timeout asks the group to stop; the group
/// cancels its body (whose "cleanup" would sleep 1 s) and its child, whose cleanup fails. The
/// group's error escapes at t=10 ms: the timeout does not turn it into `Elapsed`, and the body's
/// own error never happened (its cleanup was cut short).
#[tokio::test(start_paused = true)]
async fn a_group_failing_under_an_expiring_timeout_reports_its_error_not_elapsed_7_21() {
    let t0 = Instant::now();
    let r = timeout(
        ms(10),
        corral::TaskGroup::new().run(|g| async move {
            g.spawn(async {
                let _request = corral::cancelled().await;
                Err::<(), &str>("zero division in cleanup")
            });
            sleep(secs(1)).await;
            Err::<(), &str>("value error")
        }),
    )
    .await;
    assert_eq!(t0.elapsed(), ms(10));
    let group_error = r.expect("the group's error, not Elapsed").unwrap_err();
    assert_eq!(
        group_error.errors().copied().collect::<Vec<_>>(),
        ["zero division in cleanup"]
    );
    yield_now().await;
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
}
