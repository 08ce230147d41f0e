//! Tasks: cancellation, state and naming (conformance catalog section 1).
//!
//! asyncio cancels by raising a catchable `CancelledError` at the next `await`. corral's model:
//! `cancel()` is a request; a task that listens with `corral::cancelled()` gets it delivered and
//! may clean up within its grace period (the graceful path), and a task that does not listen is
//! dropped at its next suspension point. Every test runs on tokio's paused clock unless it
//! needs several threads.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Builder, Cancelled, Failure, Outcome, Panic, Task};
use tokio::sync::oneshot;
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

/// Counts how many times it was dropped: proof that a future was dropped (cancelled).
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits until the receiving side is dropped; fails (rather than hangs) if it never is.
async fn closed<T>(tx: &mut oneshot::Sender<T>) {
    tokio::time::timeout(Duration::from_secs(3600), tx.closed())
        .await
        .expect("the receiver was never dropped");
}

fn sleeper(d: Duration) -> Task<(), ()> {
    corral::spawn(async move {
        sleep(d).await;
        Ok(())
    })
}

// 1.1 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn auto_names_increase_in_creation_order_1_1() {
    let tasks: Vec<Task<(), ()>> = (0..3).map(|_| sleeper(ms(1))).collect();
    let numbers: Vec<u64> = tasks
        .iter()
        .map(|t| {
            let name = t.name();
            let n = name.strip_prefix("Task-").expect("auto name is Task-<n>");
            let n: u64 = n.parse().expect("n is a number");
            assert_eq!(n, t.id().as_u64(), "n is the task id");
            n
        })
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    // Inside the task, the current task has the same auto name.
    let t = corral::spawn(async { Ok::<_, ()>(corral::current_task().unwrap().name()) });
    let name = t.name();
    assert_eq!(t.await.unwrap(), name);
}

// 1.2 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn explicit_names_are_seen_inside_the_task_and_can_be_changed_1_2() {
    let t = corral::spawn_named("No-op", async {
        Ok::<_, ()>(corral::current_task().unwrap().name())
    });
    assert_eq!(&*t.name(), "No-op");
    assert_eq!(&*t.await.unwrap(), "No-op");

    let (go, wait_go) = oneshot::channel::<()>();
    let t = Builder::new().name("first").spawn(async move {
        let before = corral::current_task().unwrap().name();
        let _ = wait_go.await;
        let after = corral::current_task().unwrap().name();
        Ok::<_, ()>((before, after))
    });
    yield_now().await;
    t.set_name("second");
    assert_eq!(&*t.name(), "second");
    go.send(()).unwrap();
    let (before, after) = t.await.unwrap();
    assert_eq!((&*before, &*after), ("first", "second"));

    // Renaming from inside, through current_task(), is seen by the handle.
    let t = corral::spawn_named(String::from("old"), async {
        corral::current_task()
            .unwrap()
            .set_name(format!("new-{}", 1));
        Ok::<(), ()>(())
    });
    let r = t.task_ref();
    t.await.unwrap();
    assert_eq!(&*r.name(), "new-1");
}

// 1.4 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancel_is_only_a_request_1_4() {
    let t0 = Instant::now();
    let mut t = sleeper(Duration::from_secs(10));
    yield_now().await; // the task is now suspended in its sleep
    assert!(t.cancel());
    // Right after the request, the task is "cancelling": asked, not finished.
    assert!(!t.is_finished());
    assert!(t.task_ref().is_cancel_requested());
    // corral has no counter: a repeated request is the same request, and says so.
    assert!(!t.cancel());
    assert!(!t.cancel_with("again"));
    let outcome = (&mut t).await;
    assert_eq!(outcome, Outcome::Cancelled(Cancelled::new()));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(t.is_finished());
    assert!(!t.cancel(), "a finished task cannot be cancelled");
}

// 1.5 ------------------------------------------------------------------------------------------

/// asyncio's `uncancel()` lets a task that caught the cancellation go on for ever. corral has no
/// counter to reset: a task that handled the request goes on for as long as its grace lasts,
/// and a longer grace (here unbounded) is how a task opts into surviving it.
#[tokio::test(start_paused = true)]
async fn a_handled_request_lets_the_task_go_on_within_its_grace_1_5() {
    let body = || async {
        let first = tokio::select! {
            _ = corral::cancelled() => "caught",
            _ = sleep(Duration::from_secs(10)) => "slept",
        };
        assert!(corral::is_cancel_requested());
        sleep(Duration::from_secs(10)).await; // the second sleep is not interrupted
        Ok::<_, ()>((first, Instant::now()))
    };
    let t0 = Instant::now();
    let t = Builder::new().grace(Duration::MAX).spawn(body());
    sleep(ms(10)).await;
    assert!(t.cancel());
    sleep(ms(10)).await;
    assert!(!t.cancel(), "a second cancel adds nothing");
    let (first, at) = t.await.unwrap();
    assert_eq!(first, "caught");
    assert_eq!(at - t0, ms(10_010));

    // With the default grace (5 s) the same body is dropped in its second sleep.
    let t0 = Instant::now();
    let t = corral::spawn(body());
    sleep(ms(10)).await;
    t.cancel();
    assert!(t.await.is_cancelled());
    assert_eq!(t0.elapsed(), ms(10) + corral::DEFAULT_GRACE);
}

// 1.7 ------------------------------------------------------------------------------------------

/// A hand-written timeout needs no `uncancel()` in corral: the timer never touches the task's
/// own cancel state, so nothing is left to withdraw and the code after it runs.
#[tokio::test(start_paused = true)]
async fn a_hand_written_timeout_leaves_no_cancel_behind_1_7() {
    let block = |body: Duration| async move {
        let finished = tokio::select! {
            _ = sleep(body) => true,
            _ = sleep(ms(100)) => false,
        };
        let after = "following code ran";
        Ok::<_, ()>((
            finished,
            after,
            corral::is_cancel_requested(),
            Instant::now(),
        ))
    };
    let t0 = Instant::now();
    let (finished, after, cancelling, at) =
        corral::spawn(block(Duration::from_secs(10))).await.unwrap();
    assert_eq!(
        (finished, after, cancelling),
        (false, "following code ran", false)
    );
    assert_eq!(at - t0, ms(100));

    let t0 = Instant::now();
    let (finished, _, cancelling, at) = corral::spawn(block(Duration::ZERO)).await.unwrap();
    assert_eq!((finished, cancelling), (true, false));
    assert_eq!(at, t0);
}

// 1.8 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancel_message_is_carried_to_the_outcome_1_8() {
    let t = sleeper(Duration::from_secs(10));
    yield_now().await;
    assert!(t.cancel_with("my message"));
    let outcome = t.await;
    assert_eq!(
        outcome,
        Outcome::Cancelled(Cancelled::with_message("my message"))
    );
    match outcome.into_result() {
        Err(Failure::Cancelled(c)) => assert_eq!(c.message(), Some("my message")),
        other => panic!("unexpected {other:?}"),
    }

    // No message: cancel() gives a cancellation without one.
    let t = sleeper(Duration::from_secs(10));
    yield_now().await;
    t.cancel();
    match t.await {
        Outcome::Cancelled(c) => assert_eq!(c.message(), None),
        other => panic!("unexpected {other:?}"),
    }

    // A listener sees the message, and handing the cancellation back keeps it.
    let t = corral::spawn(async {
        let req = corral::cancelled().await;
        assert_eq!(req.reason().message(), Some("stop now"));
        req.propagate::<Result<(), ()>>().await
    });
    yield_now().await;
    t.cancel_with("stop now");
    assert_eq!(
        t.await,
        Outcome::Cancelled(Cancelled::with_message("stop now"))
    );

    // So does a task dropped at the end of its grace period.
    let t = Builder::new().grace(ms(100)).spawn(async {
        let _req = corral::cancelled().await;
        sleep(Duration::from_secs(10)).await;
        Ok::<(), ()>(())
    });
    yield_now().await;
    t.cancel_with("too slow");
    assert_eq!(
        t.await,
        Outcome::Cancelled(Cancelled::with_message("too slow"))
    );
}

// 1.9 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_before_its_first_step_never_runs_1_9() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let t = corral::spawn(async move {
        r.store(true, Ordering::SeqCst);
        Ok::<(), ()>(())
    });
    assert!(t.cancel_with("my message"));
    assert_eq!(
        t.await,
        Outcome::Cancelled(Cancelled::with_message("my message"))
    );
    assert!(!ran.load(Ordering::SeqCst), "the body never ran");

    // A body that would listen cannot: it has not started, so it is not listening yet.
    let r = ran.clone();
    let t = corral::spawn(async move {
        let _req = corral::cancelled().await;
        r.store(true, Ordering::SeqCst);
        Ok::<(), ()>(())
    });
    t.cancel();
    assert!(t.await.is_cancelled());
    assert!(!ran.load(Ordering::SeqCst));
}

// 1.10 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_task_cancelled_at_a_bare_yield_ends_cancelled_1_10() {
    let steps = Arc::new(AtomicUsize::new(0));
    let s = steps.clone();
    let mut t = corral::spawn(async move {
        s.fetch_add(1, Ordering::SeqCst);
        yield_now().await;
        s.fetch_add(1, Ordering::SeqCst);
        yield_now().await;
        s.fetch_add(1, Ordering::SeqCst);
        Ok::<u32, ()>(12)
    });
    yield_now().await; // one step: the task is at its first yield
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    assert!(t.cancel());
    assert!((&mut t).await.is_cancelled());
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    assert!(!t.cancel());
}

// 1.11 -----------------------------------------------------------------------------------------

/// The awaited task's `Cancelled` outcome passes through its awaiter as a cancellation, not as
/// an error: the one outcome type keeps them apart.
#[tokio::test(start_paused = true)]
async fn cancelling_the_awaited_task_cancels_the_awaiter_1_11() {
    for cancel_both in [false, true] {
        let inner = sleeper(Duration::from_secs(10));
        let inner_ref = inner.task_ref();
        let outer = corral::spawn(async move { inner.await });
        yield_now().await;
        assert!(inner_ref.cancel());
        if cancel_both {
            assert!(outer.cancel());
        }
        let outcome = outer.await;
        assert!(outcome.is_cancelled(), "{outcome:?}");
        assert!(!outcome.is_failure());
    }
}

// 1.12 -----------------------------------------------------------------------------------------

/// The request drops what the task awaits at the task's next poll, which the request
/// schedules at once: the same instant, one scheduler step later (a future being polled
/// elsewhere cannot be dropped from outside).
#[tokio::test(start_paused = true)]
async fn the_request_reaches_what_the_task_awaits_at_once_1_12() {
    let t0 = Instant::now();
    let (mut tx, rx) = oneshot::channel::<u32>();
    let t = corral::spawn(async move { Ok::<_, ()>(rx.await.ok()) });
    yield_now().await;
    assert!(!tx.is_closed());
    t.cancel();
    assert!(!tx.is_closed(), "not synchronously: the task drops it");
    closed(&mut tx).await; // the task's receiver is dropped
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(t.await.is_cancelled());

    // A task that listens gets the request, and the branch it was awaiting is dropped too.
    let (mut tx, rx) = oneshot::channel::<u32>();
    let t = corral::spawn(async move {
        tokio::select! {
            _ = corral::cancelled() => Ok::<_, ()>(42),
            v = rx => Ok(v.unwrap_or(0)),
        }
    });
    yield_now().await;
    t.cancel();
    closed(&mut tx).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(t.await, Outcome::Ok(42));
}

// 1.13 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_listening_task_may_return_a_value_instead_1_13() {
    let t0 = Instant::now();
    let t = corral::spawn(async {
        tokio::select! {
            _ = corral::cancelled() => {
                sleep(ms(50)).await; // asynchronous cleanup
                Ok::<u32, ()>(42)
            }
            _ = sleep(Duration::from_secs(10)) => Ok(0),
        }
    });
    yield_now().await;
    assert!(t.cancel());
    let outcome = t.await;
    assert_eq!(outcome, Outcome::Ok(42));
    assert!(!outcome.is_cancelled());
    assert_eq!(t0.elapsed(), ms(50));
}

// 1.14 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn one_request_is_delivered_exactly_once_1_14() {
    let t0 = Instant::now();
    let (tx3, rx3) = oneshot::channel::<u32>();
    let t = corral::spawn(async move {
        let _req = corral::cancelled().await;
        // Listening again does not see the same request a second time.
        tokio::select! {
            _ = corral::cancelled() => Ok::<_, ()>(0),
            v = rx3 => Ok(v.unwrap()),
        }
    });
    yield_now().await;
    assert!(t.cancel());
    sleep(ms(10)).await;
    assert!(!tx3.is_closed(), "fut3 is not cancelled");
    tx3.send(42).unwrap();
    assert_eq!(t.await, Outcome::Ok(42));
    assert_eq!(t0.elapsed(), ms(10));
}

// 1.15 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn self_cancel_then_await_ends_cancelled_at_that_await_1_15() {
    let t0 = Instant::now();
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let t = corral::spawn(async move {
        assert!(corral::current_task().unwrap().cancel());
        sleep(Duration::from_secs(100)).await;
        a.store(true, Ordering::SeqCst);
        Ok::<(), ()>(())
    });
    assert!(t.await.is_cancelled());
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!after.load(Ordering::SeqCst));
}

// 1.16 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn self_cancel_then_return_discards_the_value_1_16() {
    let t = corral::spawn(async {
        corral::current_task().unwrap().cancel();
        Ok::<u32, ()>(12)
    });
    assert_eq!(t.await, Outcome::Cancelled(Cancelled::new()));
}

#[tokio::test(start_paused = true)]
async fn self_cancel_then_return_an_error_keeps_the_error() {
    // asyncio's `Task.__step` cancels only a normal return when a cancel is pending
    // (`_must_cancel`); an exception raised in that step is kept (`set_exception`).
    let t = corral::spawn(async {
        corral::current_task().unwrap().cancel_with("late");
        Err::<u32, _>("boom")
    });
    assert_eq!(t.await, Outcome::Err("boom"));
    let t = corral::spawn(async {
        corral::current_task().unwrap().cancel();
        Outcome::<u32, ()>::Cancelled(Cancelled::with_message("its own"))
    });
    assert_eq!(
        t.await,
        Outcome::Cancelled(Cancelled::with_message("its own"))
    );
    let t = corral::spawn(async {
        corral::current_task().unwrap().cancel();
        if true {
            panic!("boom");
        }
        Ok::<u32, ()>(1)
    });
    assert!(matches!(t.await, Outcome::Panicked(_)));
    assert_eq!(alive(), 0);
}

// 1.17 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_pending_cancel_reaches_the_task_being_awaited_1_17() {
    let nested_drops = Drops::default();
    let (mut tx, rx) = oneshot::channel::<()>();
    let guard = nested_drops.clone();
    let outer = corral::spawn(async move {
        let nested = corral::spawn(async move {
            let _g = guard.guard();
            let _ = rx.await;
            Ok::<(), ()>(())
        });
        yield_now().await;
        corral::current_task().unwrap().cancel();
        nested.await
    });
    assert!(outer.await.is_cancelled());
    closed(&mut tx).await; // the future nested was awaiting was dropped
    yield_now().await;
    assert_eq!(nested_drops.count(), 1, "nested was cancelled");
    assert_eq!(alive(), 0);
}

// 1.18 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn awaiting_a_cancelled_task_reports_it_to_the_awaiter_1_18() {
    let t0 = Instant::now();
    let s = sleeper(Duration::from_secs(5000));
    let s_ref = s.task_ref();
    corral::spawn(async move {
        sleep(ms(100)).await;
        s_ref.cancel();
        Ok::<(), ()>(())
    })
    .detach();
    let awaiter = corral::spawn(async move {
        match s.await {
            Outcome::Cancelled(_) => Ok::<_, ()>(("cancelled", Instant::now())),
            _ => Ok(("other", Instant::now())),
        }
    });
    let (what, at) = awaiter.await.unwrap();
    assert_eq!(what, "cancelled");
    assert_eq!(at - t0, ms(100));
}

// 1.19 -----------------------------------------------------------------------------------------

/// Python raises in `inner` (which re-raises) then in `outer` (which catches). In corral
/// `inner` does not listen, so it is dropped (its cleanup is its destructor), and `outer`,
/// which listens, gets the request and returns normally.
#[tokio::test(start_paused = true)]
async fn the_request_unwinds_a_chain_of_calls_in_one_task_1_19() {
    let proof = Arc::new(Mutex::new(0));
    let (waiter_tx, waiter) = oneshot::channel::<()>();

    struct AddOnDrop(Arc<Mutex<i32>>, i32);
    impl Drop for AddOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += self.1;
        }
    }
    async fn inner(proof: Arc<Mutex<i32>>, waiter: oneshot::Receiver<()>) {
        let _cleanup = AddOnDrop(proof, 1);
        let _ = waiter.await;
    }
    async fn outer(proof: Arc<Mutex<i32>>, waiter: oneshot::Receiver<()>) -> Result<(), ()> {
        tokio::select! {
            _ = corral::cancelled() => {
                *proof.lock().unwrap() += 100;
                Ok(())
            }
            () = inner(proof.clone(), waiter) => Ok(()),
        }
    }

    let t = corral::spawn(outer(proof.clone(), waiter));
    yield_now().await;
    t.cancel();
    let outcome = t.await;
    assert_eq!(outcome, Outcome::Ok(()));
    assert_eq!(*proof.lock().unwrap(), 101);
    assert!(waiter_tx.is_closed(), "the waiter was dropped");
}

// 1.20 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_listening_task_may_end_with_an_error_instead_1_20() {
    let t = corral::spawn(async {
        let _req = corral::cancelled().await;
        Err::<(), _>("ValueError")
    });
    yield_now().await;
    t.cancel();
    let outcome = t.await;
    assert_eq!(outcome, Outcome::Err("ValueError"));
    assert!(!outcome.is_cancelled());

    // A panic during cleanup is captured too.
    let t = corral::spawn(async {
        let _req = corral::cancelled().await;
        if true {
            panic!("cleanup failed");
        }
        Ok::<(), ()>(())
    });
    yield_now().await;
    t.cancel();
    assert_eq!(t.await, Outcome::Panicked(Panic::new("cleanup failed")));
}

// 1.22 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn current_task_is_the_running_task_and_none_outside_1_22() {
    assert!(corral::current_task().is_none());
    // A plain tokio task is not a corral task.
    assert!(tokio::spawn(async { corral::current_task().is_none() })
        .await
        .unwrap());

    let t = corral::spawn_named("outer", async {
        // Futures polled in place inside the task see the task.
        let (a, b) = tokio::join!(async { corral::current_task().unwrap().name() }, async {
            yield_now().await;
            corral::current_task().unwrap().name()
        });
        Ok::<_, ()>((a, b))
    });
    let (a, b) = t.await.unwrap();
    assert_eq!((&*a, &*b), ("outer", "outer"));

    // Interleaving tasks on one thread: each sees itself at every step.
    let tasks: Vec<Task<u64, String>> = (0..3u64)
        .map(|i| {
            corral::spawn_named(format!("t{i}"), async move {
                let me = corral::current_task().unwrap();
                for step in 0..5 {
                    sleep(ms(10 + i)).await;
                    let now = corral::current_task().unwrap();
                    if now.id() != me.id() || *now.name() != *format!("t{i}") {
                        return Err(format!("t{i} saw {now:?} at step {step}"));
                    }
                }
                Ok(me.id().as_u64())
            })
        })
        .collect();
    let ids: Vec<u64> = tasks.iter().map(|t| t.id().as_u64()).collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    assert_eq!(seen, ids);
    assert!(corral::current_task().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_task_is_right_when_tasks_interleave_across_threads_1_22() {
    let tasks: Vec<Task<usize, String>> = (0..8)
        .map(|i| {
            corral::spawn_named(format!("w{i}"), async move {
                let me = corral::current_task().ok_or("no current task")?;
                let mut steps = 0;
                for _ in 0..200 {
                    yield_now().await;
                    let now = corral::current_task().ok_or("lost the current task")?;
                    if now.id() != me.id() || *now.name() != *format!("w{i}") {
                        return Err(format!("w{i} saw {now:?}"));
                    }
                    steps += 1;
                }
                Ok(steps)
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
}

// 1.23 -----------------------------------------------------------------------------------------

/// The scheduler step is `tokio::task::yield_now()` (tokio's `sleep(Duration::ZERO)` does not
/// yield).
#[tokio::test(start_paused = true)]
async fn a_yield_is_one_scheduler_step_1_23() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    corral::spawn(async move {
        r.store(true, Ordering::SeqCst);
        Ok::<(), ()>(())
    })
    .detach();
    assert!(!ran.load(Ordering::SeqCst));
    yield_now().await;
    assert!(
        ran.load(Ordering::SeqCst),
        "the scheduled task ran during the yield"
    );

    let t0 = Instant::now();
    let t = corral::spawn(async {
        sleep(ms(50)).await;
        sleep(ms(50)).await;
        Ok::<_, ()>("yeah")
    });
    assert_eq!(t.await.unwrap(), "yeah");
    assert_eq!(t0.elapsed(), ms(100));
}

// 1.24 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancelling_a_sleeping_task_drops_its_timer_1_24() {
    let t0 = Instant::now();
    let drops = Drops::default();
    let g = drops.clone();
    let t = corral::spawn(async move {
        let _g = g.guard();
        sleep(Duration::from_secs(10)).await; // the Sleep (and its timer entry) lives here
        Ok::<(), ()>(())
    });
    yield_now().await;
    t.cancel();
    assert!(t.await.is_cancelled());
    assert_eq!(drops.count(), 1, "the body, with its Sleep, was dropped");
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(alive(), 0);
}

// The core that the items rest on ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panic_is_captured_as_an_outcome() {
    let t = corral::spawn(async {
        if true {
            panic!("boom");
        }
        Ok::<u32, ()>(1)
    });
    assert_eq!(t.await, Outcome::Panicked(Panic::new("boom")));
}

#[tokio::test(start_paused = true)]
async fn a_listener_that_overstays_its_grace_is_dropped() {
    let drops = Drops::default();
    let g = drops.clone();
    let t = Builder::new().grace(ms(100)).spawn(async move {
        let _g = g.guard();
        let _req = corral::cancelled().await;
        sleep(Duration::from_secs(10)).await;
        Ok::<u32, ()>(1)
    });
    yield_now().await;
    let t0 = Instant::now();
    t.cancel();
    assert!(t.await.is_cancelled());
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(drops.count(), 1);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn propagate_ends_the_task_cancelled_after_cleanup() {
    let t0 = Instant::now();
    let t = corral::spawn(async {
        let req = corral::cancelled().await;
        sleep(ms(5)).await;
        req.propagate::<Result<(), ()>>().await
    });
    yield_now().await;
    t.cancel();
    assert!(t.await.is_cancelled());
    assert_eq!(t0.elapsed(), ms(5));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_aborts_the_task() {
    let drops = Drops::default();
    let g = drops.clone();
    let t = corral::spawn(async move {
        let _g = g.guard();
        sleep(Duration::from_secs(100)).await;
        Ok::<(), ()>(())
    });
    yield_now().await;
    assert_eq!(alive(), 1);
    drop(t);
    yield_now().await;
    assert_eq!(drops.count(), 1);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn abort_stops_a_listening_task_without_grace() {
    let t0 = Instant::now();
    let t = corral::spawn(async {
        let _req = corral::cancelled().await;
        sleep(Duration::from_secs(1)).await;
        Ok::<u8, ()>(1)
    });
    yield_now().await;
    t.abort();
    assert!(t.await.is_cancelled());
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_detached_task_runs_to_its_end() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    corral::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        d.store(true, Ordering::SeqCst);
        Ok::<(), ()>(())
    })
    .detach();
    yield_now().await;
    assert_eq!(alive(), 1);
    sleep(Duration::from_secs(2)).await;
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_a_cancel() {
    let tasks: Vec<Task<(), ()>> = (0..10).map(|_| sleeper(Duration::from_secs(60))).collect();
    yield_now().await;
    assert_eq!(alive(), 10);
    for t in &tasks {
        t.cancel();
    }
    for t in tasks {
        assert!(t.await.is_cancelled());
    }
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn try_outcome_sees_every_finished_task_past_the_coop_budget() {
    // tokio's cooperative budget is 128 polls per task step; a JoinHandle polled past it says
    // "pending" even when the task has finished.
    let mut tasks: Vec<Task<usize, ()>> = (0..300)
        .map(|i| corral::spawn(async move { Ok(i) }))
        .collect();
    sleep(ms(1)).await;
    assert!(tasks.iter().all(|t| t.is_finished()));
    let values: Vec<usize> = tasks
        .iter_mut()
        .map(|t| t.try_outcome().expect("finished").unwrap())
        .collect();
    assert_eq!(values, (0..300).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn join_keeps_the_handle_and_the_outcome_is_taken_once() {
    let mut t = corral::spawn(async { Ok::<u8, ()>(7) });
    assert_eq!(t.join().await, Outcome::Ok(7));
    assert!(t.is_finished());
    assert_eq!(t.try_outcome(), None);
    let mut t = corral::spawn(async { Ok::<u8, ()>(8) });
    sleep(ms(1)).await;
    assert_eq!(t.try_outcome(), Some(Outcome::Ok(8)));
    assert!(t.is_finished());
}

#[tokio::test(start_paused = true)]
async fn destructors_of_a_stopped_task_run_as_part_of_the_task() {
    // Cleanup that lives in a destructor (Rust's `finally`) still sees its task, whether the
    // task was cancelled, aborted, or its handle dropped.
    struct Cleanup(Arc<Mutex<Vec<Option<String>>>>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let me = corral::current_task().map(|t| t.name().to_string());
            self.0.lock().unwrap().push(me);
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spawn = |name: &str| {
        let cleanup = Cleanup(seen.clone());
        corral::spawn_named(name.to_string(), async move {
            let _cleanup = cleanup;
            sleep(Duration::from_secs(10)).await;
            Ok::<(), ()>(())
        })
    };
    let cancelled = spawn("cancelled");
    let aborted = spawn("aborted");
    let dropped = spawn("dropped");
    yield_now().await;
    cancelled.cancel();
    aborted.abort();
    drop(dropped);
    assert!(cancelled.await.is_cancelled());
    assert!(aborted.await.is_cancelled());
    yield_now().await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let expected: Vec<Option<String>> = ["aborted", "cancelled", "dropped"]
        .map(|s| Some(s.to_string()))
        .into();
    assert_eq!(seen, expected);
    assert!(corral::current_task().is_none());
}

/// Counts drops; panics when dropped.
struct PanicsOnDrop(&'static AtomicUsize);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a destructor that panics");
    }
}

#[tokio::test(start_paused = true)]
async fn an_aborted_body_whose_destructor_panics_is_dropped_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let task = corral::spawn(async {
        let _bomb = PanicsOnDrop(&DROPS);
        std::future::pending::<Result<(), ()>>().await
    });
    yield_now().await; // the body runs and holds the bomb
    task.abort();
    let outcome = task.await;
    assert!(outcome.is_panicked(), "{outcome:?}");
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_body_whose_destructor_panics_is_dropped_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let task = corral::spawn(async {
        let _bomb = PanicsOnDrop(&DROPS);
        std::future::pending::<Result<(), ()>>().await
    });
    yield_now().await;
    task.cancel(); // nobody listens: the body is dropped at the task's next turn
    let outcome = task.await;
    assert!(outcome.is_panicked(), "{outcome:?}");
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
}
