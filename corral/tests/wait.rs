//! `wait` (conformance catalog section 3), on tokio's paused clock.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Mutex;

use corral::{EmptyWait, Outcome, ReturnWhen, Task, TaskId, Waited};
use tokio::sync::oneshot;
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

/// A task that sleeps `dt` then returns `v`.
fn after<T: Send + 'static>(dt: Duration, v: T) -> Task<T, String> {
    corral::spawn(async move {
        sleep(dt).await;
        Ok(v)
    })
}

/// A task that sleeps `dt` then fails with `msg`.
fn fail_after<T: Send + 'static>(dt: Duration, msg: &'static str) -> Task<T, String> {
    corral::spawn(async move {
        sleep(dt).await;
        Err(msg.to_string())
    })
}

/// A task handle `wait` takes, owned or borrowed: its id.
trait HasId {
    fn task_id(&self) -> TaskId;
}

impl<T, E> HasId for Task<T, E> {
    fn task_id(&self) -> TaskId {
        self.id()
    }
}

impl<T, E> HasId for &mut Task<T, E> {
    fn task_id(&self) -> TaskId {
        self.id()
    }
}

/// Where each task stood in the input of the last `wait` it was given (see [`wait`]).
static POSITIONS: Mutex<BTreeMap<TaskId, usize>> = Mutex::new(BTreeMap::new());

/// `corral::wait`, noting each task's position in this call's input, so that [`indices`] can
/// say which inputs came back where. `wait` hands back the handles themselves; their ids are
/// how a caller tells them apart.
fn wait<I>(tasks: I) -> corral::Wait<I::Item>
where
    I: IntoIterator,
    I::Item: corral::WaitTask + HasId,
{
    let tasks: Vec<I::Item> = tasks.into_iter().collect();
    let mut positions = POSITIONS.lock().unwrap();
    for (i, t) in tasks.iter().enumerate() {
        positions.insert(t.task_id(), i);
    }
    drop(positions);
    corral::wait(tasks)
}

/// The input positions (in their last [`wait`]) of `tasks`.
fn indices<W: HasId>(tasks: &[W]) -> Vec<usize> {
    let positions = POSITIONS.lock().unwrap();
    tasks.iter().map(|t| positions[&t.task_id()]).collect()
}

/// The outcomes of the done tasks, read without waiting: they must already be there.
fn outcomes<T, E>(waited: &mut Waited<Task<T, E>>) -> Vec<Outcome<T, E>> {
    waited
        .done
        .iter_mut()
        .map(|t| {
            let id = t.id();
            t.try_outcome()
                .unwrap_or_else(|| panic!("done task {id} has no outcome"))
        })
        .collect()
}

// 3.1 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn all_completed_waits_for_every_task_3_1() {
    let t0 = Instant::now();
    let a = after(ms(100), "a");
    let b = after(ms(150), "b");
    let waited = wait([b, a]).await.unwrap();
    assert_eq!(t0.elapsed(), ms(150));
    assert_eq!(indices(&waited.done), vec![0, 1]);
    assert!(waited.pending.is_empty());

    // Waiting again on the finished tasks returns at once, and their outcomes are intact.
    let mut again = wait(waited.done).await.unwrap();
    assert_eq!(t0.elapsed(), ms(150));
    assert_eq!(
        outcomes(&mut again),
        vec![Outcome::Ok("b"), Outcome::Ok("a")]
    );
}

// 3.2 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn any_iterable_of_tasks_works_3_2() {
    let a = after(ms(10), 1);
    let b = after(ms(20), 2);
    let waited = wait(vec![b, a].into_iter()).await.unwrap();
    assert_eq!(waited.done.len(), 2);

    let generated = (0..10u64).map(|i| after(ms(i), i));
    let mut waited = wait(generated).await.unwrap();
    assert_eq!(waited.done.len(), 10);
    assert!(waited.pending.is_empty());
    let values: Vec<u64> = outcomes(&mut waited)
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    assert_eq!(values, (0..10).collect::<Vec<_>>());

    // Borrowed tasks too: the caller keeps them.
    let mut a = after(ms(5), "a");
    let mut b = after(ms(1), "b");
    let waited = wait([&mut a, &mut b]).await.unwrap();
    assert_eq!(indices(&waited.done), vec![0, 1]);
    drop(waited);
    assert_eq!(a.await.unwrap(), "a");
    assert_eq!(b.await.unwrap(), "b");
}

// 3.4 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn empty_input_is_an_error_not_a_hang_3_4() {
    let t0 = Instant::now();
    let none: Vec<Task<(), ()>> = Vec::new();
    assert_eq!(wait(none).await.unwrap_err(), EmptyWait);
    let none: [&mut Task<(), ()>; 0] = [];
    let err = wait(none)
        .return_when(ReturnWhen::FirstCompleted)
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err, EmptyWait);
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

// 3.6 ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn first_completed_returns_at_the_first_and_leaves_the_rest_running_3_6() {
    let t0 = Instant::now();
    let a = after(Duration::from_secs(10), "a");
    let b = after(ms(100), "b");
    let mut waited = wait([a, b])
        .return_when(ReturnWhen::FirstCompleted)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(indices(&waited.done), vec![1]);
    assert_eq!(indices(&waited.pending), vec![0]);
    assert_eq!(outcomes(&mut waited), vec![Outcome::Ok("b")]);
    let a = waited.pending.pop().unwrap();
    assert!(!a.is_finished());
    assert!(!a.task_ref().is_cancel_requested());
    assert_eq!(a.await.unwrap(), "a");
    assert_eq!(t0.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn first_completed_returns_at_once_if_a_task_has_already_finished() {
    let t0 = Instant::now();
    let a = after(Duration::from_secs(10), "a");
    let b = after(Duration::ZERO, "b");
    sleep(ms(1)).await;
    let waited = wait([a, b])
        .return_when(ReturnWhen::FirstCompleted)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(1));
    assert_eq!(indices(&waited.done), vec![1]);
}

// 3.7 ------------------------------------------------------------------------------------------

/// `a` triggers the wait; `b` finishes after that trigger but before the waiter resumes (a
/// wakes b just before it returns). Both are in `done`: the sets are computed on resume.
#[tokio::test(start_paused = true)]
async fn sets_are_computed_when_wait_resumes_3_7() {
    let (release_b, b_released) = oneshot::channel::<()>();
    let a = corral::spawn(async move {
        yield_now().await;
        release_b.send(()).unwrap();
        Ok::<_, ()>("a")
    });
    let b = corral::spawn(async move {
        b_released.await.unwrap();
        Ok::<_, ()>("b")
    });
    // The waiter is a task created after both.
    let waiter = corral::spawn(async move {
        let mut waited = wait([a, b])
            .return_when(ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        Ok::<_, ()>((indices(&waited.done), outcomes(&mut waited)))
    });
    let (done, outcomes) = waiter.await.unwrap();
    assert_eq!(done, vec![0, 1]);
    assert_eq!(outcomes, vec![Outcome::Ok("a"), Outcome::Ok("b")]);
}

#[tokio::test(start_paused = true)]
async fn finished_tasks_are_all_seen_in_one_resume_past_the_coop_budget() {
    // tokio's cooperative budget is 128 polls per task step: a scan that respected it would
    // report most of these finished tasks as pending.
    let tasks: Vec<Task<usize, ()>> = (0..300)
        .map(|i| corral::spawn(async move { Ok(i) }))
        .collect();
    sleep(ms(1)).await;
    let waited = wait(tasks)
        .return_when(ReturnWhen::FirstCompleted)
        .await
        .unwrap();
    assert_eq!(waited.done.len(), 300);
}

// 3.8, 3.9 -------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn first_exception_returns_at_a_failure_raised_at_once_3_8() {
    let t0 = Instant::now();
    let a = after(Duration::from_secs(10), ());
    let b = corral::spawn(async { Err::<(), _>("ZeroDivisionError".to_string()) });
    let mut waited = wait([a, b])
        .return_when(ReturnWhen::FirstException)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(indices(&waited.done), vec![1]);
    assert_eq!(indices(&waited.pending), vec![0]);
    assert_eq!(
        outcomes(&mut waited),
        vec![Outcome::Err("ZeroDivisionError".to_string())]
    );
}

#[tokio::test(start_paused = true)]
async fn first_exception_returns_when_a_task_fails_later_3_9() {
    let t0 = Instant::now();
    let a = after(Duration::from_secs(10), ());
    let b = fail_after(ms(10), "late");
    let waited = wait([a, b])
        .return_when(ReturnWhen::FirstException)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(indices(&waited.done), vec![1]);
    assert_eq!(indices(&waited.pending), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn first_exception_counts_a_panic_as_a_failure() {
    let t0 = Instant::now();
    let a = after(Duration::from_secs(10), ());
    let b: Task<(), String> = corral::spawn(async {
        sleep(ms(20)).await;
        if true {
            panic!("boom");
        }
        Ok(())
    });
    let mut waited = wait([a, b])
        .return_when(ReturnWhen::FirstException)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(20));
    assert!(outcomes(&mut waited)[0].is_panicked());
}

// 3.10 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn first_exception_ignores_cancellation_3_10() {
    let t0 = Instant::now();
    let a = after(ms(200), "a");
    let c = after(Duration::from_secs(10), "c");
    let c_ref = c.task_ref();
    corral::spawn(async move {
        sleep(ms(50)).await;
        c_ref.cancel();
        Ok::<(), ()>(())
    })
    .detach();
    let mut waited = wait([a, c])
        .return_when(ReturnWhen::FirstException)
        .await
        .unwrap();
    // Nothing failed: it behaved like AllCompleted.
    assert_eq!(t0.elapsed(), ms(200));
    assert_eq!(indices(&waited.done), vec![0, 1]);
    let outcomes = outcomes(&mut waited);
    assert_eq!(outcomes[0], Outcome::Ok("a"));
    assert!(outcomes[1].is_cancelled());
}

// 3.11 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn all_completed_never_fails_because_a_task_did_3_11() {
    let t0 = Instant::now();
    let a = after(ms(100), ());
    let b = fail_after(ms(150), "b failed");
    let mut waited = wait([b, a]).await.unwrap();
    assert_eq!(t0.elapsed(), ms(150));
    assert_eq!(indices(&waited.done), vec![0, 1]);
    let failures = outcomes(&mut waited)
        .iter()
        .filter(|o| o.is_failure())
        .count();
    assert_eq!(failures, 1);
}

// 3.12 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_timeout_returns_the_sets_and_cancels_nothing_3_12() {
    let t0 = Instant::now();
    let a = after(ms(100), "a");
    let b = after(ms(150), "b");
    let mut waited = wait([b, a]).timeout(ms(110)).await.unwrap();
    assert_eq!(t0.elapsed(), ms(110));
    assert_eq!(indices(&waited.done), vec![1]);
    assert_eq!(indices(&waited.pending), vec![0]);
    let b = waited.pending.pop().unwrap();
    assert!(!b.task_ref().is_cancel_requested());
    assert_eq!(b.await.unwrap(), "b");
    assert_eq!(t0.elapsed(), ms(150));
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_reports_what_has_already_finished() {
    let t0 = Instant::now();
    let a = after(Duration::ZERO, "a");
    let b = after(ms(10), "b");
    sleep(ms(1)).await;
    let waited = wait([a, b]).timeout(Duration::ZERO).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1));
    assert_eq!(indices(&waited.done), vec![0]);
    assert_eq!(indices(&waited.pending), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn no_timeout_and_an_unrepresentable_one_both_wait_as_long_as_it_takes() {
    let t0 = Instant::now();
    let waited = wait([after(Duration::from_secs(1000), ())])
        .timeout(None)
        .await
        .unwrap();
    assert_eq!(waited.done.len(), 1);
    let waited = wait([after(Duration::from_secs(1000), ())])
        .timeout(Duration::MAX)
        .await
        .unwrap();
    assert_eq!(waited.done.len(), 1);
    assert_eq!(t0.elapsed(), Duration::from_secs(2000));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_counts_from_the_first_poll() {
    let t0 = Instant::now();
    let w = wait([after(Duration::from_secs(10), ())]).timeout(ms(100));
    sleep(ms(50)).await;
    let waited = w.await.unwrap();
    assert_eq!(t0.elapsed(), ms(150));
    assert_eq!(waited.pending.len(), 1);
}

// 3.13 -----------------------------------------------------------------------------------------

/// asyncio: a task finishing at the very instant of the timeout is done if its timer was armed
/// before wait's, pending otherwise. corral: it is done either way, because at the deadline
/// `wait` yields once before computing the sets (without that yield, tokio's answer would
/// depend on whether the waiter is the runtime's main future or a spawned task).
#[tokio::test(start_paused = true)]
async fn a_task_finishing_at_the_timeout_instant_is_done_3_13() {
    async fn tie(task_started_first: bool) -> (Vec<usize>, Vec<usize>, Duration) {
        let t0 = Instant::now();
        let a = after(ms(100), "a");
        if task_started_first {
            yield_now().await; // a arms its timer before wait arms its own
        }
        let waited = wait([a]).timeout(ms(100)).await.unwrap();
        (
            indices(&waited.done),
            indices(&waited.pending),
            t0.elapsed(),
        )
    }
    for first in [true, false] {
        // wait in the runtime's main future, then in a spawned task
        assert_eq!(
            tie(first).await,
            (vec![0], vec![], ms(100)),
            "main, {first}"
        );
        let spawned = corral::spawn(async move { Ok::<_, ()>(tie(first).await) });
        assert_eq!(
            spawned.await.unwrap(),
            (vec![0], vec![], ms(100)),
            "spawned, {first}"
        );
    }
    // A task one step behind the timeout is still pending.
    let t0 = Instant::now();
    let a = corral::spawn(async {
        sleep(ms(100)).await;
        yield_now().await;
        yield_now().await;
        Ok::<_, ()>("a")
    });
    let waited = wait([a]).timeout(ms(100)).await.unwrap();
    assert_eq!(indices(&waited.pending), vec![0]);
    assert_eq!(t0.elapsed(), ms(100));
}

// 3.14 -----------------------------------------------------------------------------------------

/// asyncio's wait does not own its tasks, so a cancelled waiter leaves them running. corral's
/// wait owns the tasks it is given: a waiter that is dropped (cancelled) aborts them.
#[tokio::test(start_paused = true)]
async fn cancelling_a_waiter_aborts_the_tasks_it_owns_3_14() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let waiter = corral::spawn(async move {
        let tasks = (0..3).map(|_| {
            let f = f.clone();
            corral::spawn(async move {
                sleep(ms(100)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<(), ()>(())
            })
        });
        wait(tasks).await.map_err(|_| ())?;
        Ok::<(), ()>(())
    });
    sleep(ms(10)).await;
    assert_eq!(alive(), 4);
    waiter.cancel();
    assert!(waiter.await.is_cancelled());
    yield_now().await;
    assert_eq!(alive(), 0);
    sleep(ms(200)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

/// asyncio's behaviour, by choice: wait on `&mut Task` and the tasks outlive the waiter.
#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_of_borrowed_tasks_leaves_them_running_3_14() {
    let t0 = Instant::now();
    let waiter = corral::spawn(async move {
        let mut a = after(ms(100), 1);
        tokio::select! {
            _ = corral::cancelled() => {
                // The waiter is cancelled, not its task: a runs on and finishes.
                let proof = a.await.ok();
                Ok::<_, ()>((proof, Instant::now()))
            }
            _ = wait([&mut a]) => Ok((None, Instant::now())),
        }
    });
    sleep(ms(10)).await;
    waiter.cancel();
    let (proof, at) = waiter.await.unwrap();
    assert_eq!(proof, Some(1));
    assert_eq!(at - t0, ms(100));
}

// 3.15 -----------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn done_and_pending_come_in_input_order_3_15() {
    // Completion order is the reverse of input order.
    let tasks = (0..6u64).map(|i| after(ms(60 - 10 * i), i));
    let mut waited = wait(tasks).timeout(ms(35)).await.unwrap();
    assert_eq!(indices(&waited.done), vec![3, 4, 5]);
    assert_eq!(indices(&waited.pending), vec![0, 1, 2]);
    let values: Vec<u64> = outcomes(&mut waited)
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    assert_eq!(values, vec![3, 4, 5]);
}

// Done tasks keep their outcomes; pending tasks stay usable ----------------------------------

#[tokio::test(start_paused = true)]
async fn done_tasks_keep_every_kind_of_outcome() {
    let ok = after(ms(1), 1);
    let err = fail_after(ms(2), "e");
    let panicked: Task<i32, String> = corral::spawn(async {
        if true {
            panic!("p");
        }
        Ok(3)
    });
    let cancelled = after(Duration::from_secs(10), 4);
    cancelled.cancel_with("why");
    let waited = wait([ok, err, panicked, cancelled]).await.unwrap();
    let mut got = Vec::new();
    for t in waited.done {
        assert!(t.is_finished());
        got.push(t.await);
    }
    assert_eq!(
        got,
        vec![
            Outcome::Ok(1),
            Outcome::Err("e".to_string()),
            Outcome::Panicked(corral::Panic::new("p")),
            Outcome::Cancelled(corral::Cancelled::with_message("why")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn pending_tasks_can_be_waited_again_or_cancelled() {
    let t0 = Instant::now();
    let tasks = [ms(10), ms(20), ms(30), ms(40)].map(|d| after(d, d));
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.id()).collect();
    let input = |t: &Task<Duration, String>| ids.iter().position(|id| *id == t.id()).unwrap();
    let mut waited = wait(tasks)
        .return_when(ReturnWhen::FirstCompleted)
        .await
        .unwrap();
    // The handles keep their identity across rounds: no index bookkeeping.
    let mut order: Vec<usize> = waited.done.iter().map(input).collect();
    while !waited.pending.is_empty() {
        waited = wait(waited.pending)
            .return_when(ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        order.extend(waited.done.iter().map(input));
        if order.len() == 2 {
            // Cancel what is left, then collect it.
            for t in &waited.pending {
                assert!(t.cancel());
            }
            let mut rest = wait(waited.pending).await.unwrap();
            assert!(outcomes(&mut rest).iter().all(|o| o.is_cancelled()));
            break;
        }
    }
    assert_eq!(order, vec![0, 1]);
    assert_eq!(t0.elapsed(), ms(20));
    assert_eq!(alive(), 0);
}

/// asyncio's loop, `while pending: done, pending = await wait(pending,
/// return_when=FIRST_COMPLETED)`, written as it reads: `pending` goes back into `wait` as it
/// is, and each done task says who it is.
#[tokio::test(start_paused = true)]
async fn the_asyncio_first_completed_loop_passes_pending_straight_back() {
    let t0 = Instant::now();
    let mut pending: Vec<Task<u64, String>> = [("c", 30), ("a", 10), ("d", 40), ("b", 20)]
        .map(|(name, t)| {
            corral::spawn_named(name, async move {
                sleep(ms(t)).await;
                Ok(t)
            })
        })
        .into();
    let mut seen = Vec::new();
    let mut rounds = 0;
    while !pending.is_empty() {
        let waited = corral::wait(pending)
            .return_when(ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        rounds += 1;
        for task in waited.done {
            let name = task.name();
            seen.push((name.to_string(), task.await.unwrap(), t0.elapsed()));
        }
        pending = waited.pending;
    }
    assert_eq!(rounds, 4);
    assert_eq!(
        seen,
        [
            ("a".to_string(), 10, ms(10)),
            ("b".to_string(), 20, ms(20)),
            ("c".to_string(), 30, ms(30)),
            ("d".to_string(), 40, ms(40)),
        ]
    );
    assert_eq!(alive(), 0);
}

// Nothing left running ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn no_task_is_alive_after_all_complete() {
    let tasks = (0..20u64).map(|i| after(ms(i), i));
    let waited = wait(tasks).await.unwrap();
    assert_eq!(waited.done.len(), 20);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_task_is_alive_after_dropping_the_returned_pending_tasks() {
    let tasks = (0..20u64).map(|i| after(Duration::from_secs(i), i));
    let waited = wait(tasks).timeout(ms(1500)).await.unwrap();
    assert_eq!(waited.done.len(), 2);
    assert_eq!(alive(), 18, "pending tasks are still running until dropped");
    drop(waited);
    yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_task_is_alive_after_dropping_the_wait_mid_way() {
    let tasks = (0..20u64).map(|i| after(Duration::from_secs(i), i));
    let res = tokio::time::timeout(ms(1500), wait(tasks)).await;
    assert!(res.is_err(), "tokio's timeout dropped the wait future");
    yield_now().await;
    assert_eq!(alive(), 0);

    // Dropped before it was ever polled, too.
    let w = wait((1..=5u64).map(|i| after(Duration::from_secs(i), i)));
    yield_now().await;
    assert_eq!(alive(), 5);
    drop(w);
    yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn borrowed_tasks_survive_a_dropped_wait_and_finish() {
    let mut tasks: Vec<Task<u64, String>> = (1..=3u64)
        .map(|i| after(Duration::from_secs(i), i))
        .collect();
    let res = tokio::time::timeout(ms(1500), wait(tasks.iter_mut())).await;
    assert!(res.is_err());
    yield_now().await;
    assert_eq!(alive(), 2);
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap());
    }
    assert_eq!(values, vec![1, 2, 3]);
    assert_eq!(alive(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_sees_every_completion_on_a_multi_thread_runtime() {
    for _ in 0..20 {
        let tasks = (0..50usize).map(|i| {
            corral::spawn(async move {
                for _ in 0..(i % 7) {
                    yield_now().await;
                }
                Ok::<_, ()>(i)
            })
        });
        let mut waited = wait(tasks).await.unwrap();
        assert!(waited.pending.is_empty());
        let values: Vec<usize> = outcomes(&mut waited)
            .into_iter()
            .map(|o| o.unwrap())
            .collect();
        assert_eq!(values, (0..50).collect::<Vec<_>>());
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_whose_outcome_was_taken_counts_as_done_and_not_failed() {
    let mut taken = corral::spawn(async { Err::<(), _>("already seen".to_string()) });
    assert!((&mut taken).await.is_err());
    let mut slow = after(Duration::from_secs(1), ());
    let waited = wait([&mut taken, &mut slow])
        .return_when(ReturnWhen::FirstException)
        .await
        .unwrap();
    assert_eq!(indices(&waited.done), vec![0, 1]);
}
