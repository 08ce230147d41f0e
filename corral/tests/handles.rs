//! Looking without taking, on every handle: `state()` (one [`TaskState`] for `Task`, `TaskRef`,
//! `Child` and `Shielded`), `with_outcome` by reference, and `try_outcome`, which takes on every
//! handle. On tokio's paused clock.

mod common;
use common::*;

use std::panic::{catch_unwind, AssertUnwindSafe};

use corral::{Outcome, TaskGroup, TaskState};
use tokio::task::yield_now;
use tokio::time::sleep;

/// An error type that is neither `Clone` nor `PartialEq`: looking must not need either.
#[derive(Debug)]
struct Opaque(&'static str);

#[tokio::test(start_paused = true)]
async fn a_task_ref_sees_every_kind_of_end_without_the_outcome() {
    let ok = corral::spawn(after(10, 1u8));
    let err = corral::spawn(fail_after::<u8>(20, "bad"));
    let panicked = corral::spawn(async {
        sleep(ms(30)).await;
        if true {
            panic!("boom");
        }
        Ok::<u8, String>(0)
    });
    let requested = corral::spawn(std::future::pending::<Result<u8, String>>());
    let aborted = corral::spawn(std::future::pending::<Result<u8, String>>());
    let refs = [&ok, &err, &panicked, &requested, &aborted].map(|t| t.task_ref());
    assert!(refs.iter().all(|r| r.state() == TaskState::Running));
    assert!(refs.iter().all(|r| !r.is_finished()));

    yield_now().await;
    requested.cancel();
    assert_eq!(refs[3].state(), TaskState::Cancelling);
    aborted.abort();
    // The handles go; the references outlive them.
    ok.detach();
    err.detach();
    panicked.detach();
    drop(requested);
    drop(aborted);
    sleep(ms(40)).await;
    let states: Vec<TaskState> = refs.iter().map(|r| r.state()).collect();
    assert_eq!(
        states,
        [
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Panicked,
            TaskState::Cancelled,
            TaskState::Cancelled,
        ]
    );
    assert!(refs.iter().all(|r| r.is_finished()));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_task_never_polled_and_aborted_is_finished_and_cancelled_for_its_ref() {
    let t = corral::spawn(after(10, ()));
    let r = t.task_ref();
    drop(t); // aborts before the first poll
    yield_now().await;
    assert!(r.is_finished());
    assert_eq!(r.state(), TaskState::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_tasks_state_agrees_with_is_finished_and_never_takes_the_outcome() {
    let mut t = corral::spawn(async {
        sleep(ms(10)).await;
        Err::<(), _>(Opaque("disk full"))
    });
    assert_eq!(t.state(), TaskState::Running);
    assert_eq!(t.with_outcome(|_| ()), None);
    sleep(ms(10)).await;
    yield_now().await;
    assert_eq!(t.state().is_finished(), t.is_finished());
    assert_eq!(t.state(), TaskState::Failed);
    // Looked at twice, by reference: the error is neither cloned nor taken.
    let first = t.with_outcome(|o| match o {
        Outcome::Err(Opaque(m)) => *m,
        other => panic!("{other:?}"),
    });
    assert_eq!(first, Some("disk full"));
    assert_eq!(t.with_outcome(|o| o.is_err()), Some(true));
    assert_eq!(t.state(), TaskState::Failed);
    // `try_outcome` takes it: then there is nothing to look at, and the state stays.
    assert!(matches!(
        t.try_outcome(),
        Some(Outcome::Err(Opaque("disk full")))
    ));
    assert_eq!(t.with_outcome(|_| ()), None);
    assert!(t.try_outcome().is_none());
    assert_eq!(t.state(), TaskState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_panic_reads_as_panicked_by_reference_and_by_state() {
    let mut t = corral::spawn(async {
        if true {
            panic!("at the disco");
        }
        Ok::<(), ()>(())
    });
    sleep(ms(1)).await;
    assert_eq!(t.state(), TaskState::Panicked);
    let msg = t.with_outcome(|o| match o {
        Outcome::Panicked(p) => Some(p.message().to_owned()),
        _ => None,
    });
    assert_eq!(msg, Some(Some("at the disco".to_string())));
    assert!(t.await.is_panicked());
}

#[tokio::test(start_paused = true)]
async fn a_child_goes_waiting_running_then_its_end_and_keeps_it_after_it_is_taken() {
    let mut kept = Vec::new();
    let err = TaskGroup::new()
        .supervisor()
        .limit(1)
        .run(|g| {
            let kept = &mut kept;
            async move {
                let first = g.spawn(after(10, 1u8));
                let second = g.spawn(fail_after::<u8>(10, "bad"));
                yield_now().await;
                assert_eq!(first.state(), TaskState::Running);
                assert_eq!(second.state(), TaskState::Waiting); // no permit yet
                assert!(second.cancel());
                assert_eq!(second.state(), TaskState::Cancelling);
                kept.push(first);
                kept.push(second);
                let third = g.spawn(fail_after::<u8>(5, "worse"));
                kept.push(third);
                Ok::<(), String>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.errors().collect::<Vec<_>>(), ["worse"]);
    let [mut first, mut second, mut third] = <[_; 3]>::try_from(kept).unwrap();
    assert_eq!(
        [first.state(), second.state(), third.state()],
        [
            TaskState::Succeeded,
            TaskState::Cancelled,
            TaskState::Failed
        ]
    );
    // By reference, as `try_outcome` would give it: the failure names the child.
    let failed = third.with_outcome(|o| o.as_ref().err().map(|r| r.id()));
    assert_eq!(failed, Some(Some(third.id())));
    assert_eq!(
        first.with_outcome(|o| o.as_ref().ok().copied()),
        Some(Some(1))
    );
    // Still there after looking; taken once; the state keeps its kind.
    assert_eq!(first.try_outcome(), Some(Outcome::Ok(1)));
    assert!(first.try_outcome().is_none());
    assert_eq!(first.with_outcome(|_| ()), None);
    assert_eq!(first.state(), TaskState::Succeeded);
    assert!(second.try_outcome().unwrap().is_cancelled());
    assert_eq!(second.state(), TaskState::Cancelled);
    assert!(third.try_outcome().unwrap().is_err());
    assert_eq!(third.state(), TaskState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_childs_outcome_survives_a_panic_in_the_closure_that_looks_at_it() {
    let mut kept = None;
    TaskGroup::new()
        .run(|g| {
            kept = Some(g.spawn(after(1, String::from("kept"))));
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    let child = kept.unwrap();
    let looked = catch_unwind(AssertUnwindSafe(|| {
        child.with_outcome(|_| panic!("the closure panics"))
    }));
    assert!(looked.is_err());
    assert_eq!(child.state(), TaskState::Succeeded);
    assert_eq!(child.await.unwrap(), "kept");
}

#[tokio::test(start_paused = true)]
async fn shielded_work_is_looked_at_by_reference_and_taken_once() {
    let s = corral::shield(async {
        sleep(ms(10)).await;
        Err::<(), _>(Opaque("lost"))
    });
    let other = s.clone();
    assert_eq!(s.state(), TaskState::Running);
    assert_eq!(s.with_outcome(|_| ()), None);
    s.finished().await;
    assert_eq!(other.state(), TaskState::Failed);
    assert_eq!(s.state().is_finished(), s.is_finished());
    let m = other.with_outcome(|o| match o {
        Outcome::Err(Opaque(m)) => *m,
        _ => "",
    });
    assert_eq!(m, Some("lost"));
    // `try_outcome` takes, for every clone: one gets it.
    assert!(s.try_outcome().is_some());
    assert!(other.try_outcome().is_none());
    assert_eq!(other.with_outcome(|_| ()), None);
    assert_eq!(other.state(), TaskState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_zero_wait_for_reads_finished_shielded_work_without_taking_it() {
    let s = corral::shield(after(0, 7u8));
    s.finished().await;
    let got = corral::wait_for(std::time::Duration::ZERO, s.clone()).await;
    assert_eq!(got.unwrap().unwrap(), 7);
    assert_eq!(s.try_outcome(), Some(Outcome::Ok(7))); // still there to take
}
