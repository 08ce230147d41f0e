//! TaskGroup: catalog section 8 (CPython's test_taskgroups.py) on the paused clock, plus
//! supervisor mode, limits, introspection and leaks.

mod common;
use common::*;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{cancelled, Failure, GroupError, Member, Outcome, SpawnError, Spawner, TaskGroup};
use tokio::time::{sleep, Instant};

#[derive(Debug, Clone, PartialEq)]
enum TErr {
    Zero,
    Value(u32),
    Runtime,
    Custom,
    Spawn(SpawnError),
    Group(Box<GroupError<TErr>>),
}

impl fmt::Display for TErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TErr::Zero => f.write_str("division by zero"),
            TErr::Value(v) => write!(f, "value error {v}"),
            TErr::Runtime => f.write_str("runtime error"),
            TErr::Custom => f.write_str("custom error"),
            TErr::Spawn(e) => e.fmt(f),
            TErr::Group(g) => g.fmt(f),
        }
    }
}

impl From<SpawnError> for TErr {
    fn from(e: SpawnError) -> Self {
        TErr::Spawn(e)
    }
}

impl From<GroupError<TErr>> for TErr {
    fn from(e: GroupError<TErr>) -> Self {
        TErr::Group(Box::new(e))
    }
}

async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

async fn after<T>(d: Duration, v: T) -> Result<T, TErr> {
    sleep(d).await;
    Ok(v)
}

async fn fail_after<T>(d: Duration, e: TErr) -> Result<T, TErr> {
    sleep(d).await;
    Err(e)
}

/// A child that, when asked to stop, runs `on_cancel` (its cleanup) instead of being dropped.
async fn listening<T, F>(d: Duration, v: T, on_cancel: F) -> Result<T, TErr>
where
    F: std::future::Future<Output = Result<T, TErr>>,
{
    tokio::select! {
        _ = cancelled() => on_cancel.await,
        _ = sleep(d) => Ok(v),
    }
}

fn errors(e: &GroupError<TErr>) -> Vec<TErr> {
    e.errors().cloned().collect()
}

type Kids<T> = Arc<Mutex<Vec<corral::Child<T>>>>;

// ---------------------------------------------------------------------------------------------
// Section 8

#[tokio::test(start_paused = true)]
async fn exit_waits_for_all_children_8_1() {
    let t0 = Instant::now();
    let (mut a, mut b) = TaskGroup::new()
        .run(|g| async move {
            let a = g.spawn(after(ms(100), 42));
            let b = g.spawn(after(ms(200), 11));
            Ok::<_, TErr>((a, b))
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(200));
    assert_eq!(a.try_outcome(), Some(Outcome::Ok(42)));
    assert_eq!(b.try_outcome(), Some(Outcome::Ok(11)));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn late_spawns_are_waited_for_8_2() {
    let t0 = Instant::now();
    let (mut a, mut b) = TaskGroup::new()
        .run(|g| async move {
            let a = g.spawn(after(ms(100), 42));
            sleep(ms(150)).await;
            let b = g.spawn(after(ms(200), 11));
            Ok::<_, TErr>((a, b))
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(350));
    assert_eq!(a.try_outcome(), Some(Outcome::Ok(42)));
    assert_eq!(b.try_outcome(), Some(Outcome::Ok(11)));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_one_child_is_not_a_failure_8_3() {
    let t0 = Instant::now();
    let (mut a, mut b) = TaskGroup::new()
        .run(|g| async move {
            let a = g.spawn(after(ms(1000), 42));
            sleep(ms(150)).await;
            assert!(a.cancel());
            let b = g.spawn(after(ms(200), 11));
            Ok::<_, TErr>((a, b))
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(350));
    assert!(a.try_outcome().unwrap().is_cancelled());
    assert_eq!(b.try_outcome(), Some(Outcome::Ok(11)));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn child_failure_cancels_siblings_and_skips_the_rest_8_4() {
    let t0 = Instant::now();
    let mut sibling = None;
    let mut after_group_ran = false;
    let res = async {
        TaskGroup::new()
            .run(|g| {
                let sibling = &mut sibling;
                async move {
                    *sibling = Some(g.spawn_named("sleeper", after(ms(10_000), ())));
                    g.spawn_named("divider", fail_after::<()>(ms(100), TErr::Zero));
                    Ok::<_, TErr>(())
                }
            })
            .await?;
        after_group_ran = true;
        Ok::<_, GroupError<TErr>>(())
    }
    .await;
    let err = res.unwrap_err();
    assert!(!after_group_ran);
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(errors(&err), [TErr::Zero]);
    match &err.failures()[0].member {
        Member::Task { name, .. } => assert_eq!(&**name, "divider"),
        other => panic!("unexpected member {other:?}"),
    }
    assert!(sibling.unwrap().try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn child_failure_cancels_the_body_and_simultaneous_failures_are_all_kept_8_5() {
    let t0 = Instant::now();
    let mut body_slept_through = false;
    let err = TaskGroup::new()
        .run(|g| {
            let flag = &mut body_slept_through;
            async move {
                for _ in 0..3 {
                    g.spawn(fail_after::<()>(ms(100), TErr::Zero));
                }
                sleep(ms(10_000)).await;
                *flag = true;
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert!(!body_slept_through);
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(errors(&err), [TErr::Zero, TErr::Zero, TErr::Zero]);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn external_cancel_while_waiting_in_exit_cancels_children_8_6() {
    let kids: Kids<()> = Arc::default();
    let k = kids.clone();
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|g| async move {
                for _ in 0..5 {
                    k.lock().unwrap().push(g.spawn(after(ms(5000), ())));
                }
                Ok::<_, TErr>(())
            })
            .await
    });
    sleep(ms(100)).await;
    let t0 = Instant::now();
    r.cancel_with("test");
    let out = r.await;
    assert_eq!(t0.elapsed(), ms(0));
    assert_eq!(
        out,
        Outcome::Cancelled(corral::Cancelled::with_message("test"))
    );
    for mut kid in kids.lock().unwrap().drain(..) {
        assert!(kid.try_outcome().unwrap().is_cancelled());
    }
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn external_cancel_while_body_awaits_reaches_body_and_children_8_7() {
    let num = Arc::new(AtomicUsize::new(0));
    let n = num.clone();
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|g| async move {
                for _ in 0..5 {
                    let n = n.clone();
                    g.spawn(async move {
                        tokio::select! {
                            req = cancelled() => {
                                n.fetch_add(1, Ordering::SeqCst);
                                req.propagate().await
                            }
                            _ = sleep(ms(5000)) => Ok::<(), TErr>(()),
                        }
                    });
                }
                tokio::select! {
                    req = cancelled() => {
                        n.fetch_add(10, Ordering::SeqCst);
                        req.propagate().await
                    }
                    _ = sleep(ms(10_000)) => Ok::<(), TErr>(()),
                }
            })
            .await
    });
    sleep(ms(100)).await;
    r.cancel();
    assert!(r.await.is_cancelled());
    assert_eq!(num.load(Ordering::SeqCst), 15);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn errors_during_external_cancel_beat_the_cancel_8_8() {
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|g| async move {
                for _ in 0..5 {
                    g.spawn(listening(ms(5000), (), async { Err(TErr::Zero) }));
                }
                Ok::<_, TErr>(())
            })
            .await
    });
    sleep(ms(100)).await;
    let t0 = Instant::now();
    r.cancel();
    let out = r.await;
    assert_eq!(t0.elapsed(), ms(0));
    match out {
        Outcome::Err(err) => assert_eq!(errors(&err), vec![TErr::Zero; 5]),
        other => panic!("expected the group error, not {other:?}"),
    }
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn body_error_cancels_children_and_is_reported_8_9() {
    let t0 = Instant::now();
    let mut kid = None;
    let err = TaskGroup::new()
        .run(|g| {
            let kid = &mut kid;
            async move {
                *kid = Some(g.spawn(after(ms(10_000), ())));
                sleep(ms(100)).await;
                Err::<(), _>(TErr::Zero)
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(err.failures().len(), 1);
    assert_eq!(err.failures()[0].member, Member::Body);
    assert_eq!(errors(&err), [TErr::Zero]);
    assert!(kid.unwrap().try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn body_error_at_once_starts_no_child_8_9() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let err = TaskGroup::new()
        .run(|g| async move {
            for _ in 0..5 {
                let s = s.clone();
                g.spawn(async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    after(ms(1000), ()).await
                });
            }
            Err::<(), _>(TErr::Zero)
        })
        .await
        .unwrap_err();
    assert_eq!(errors(&err), [TErr::Zero]);
    assert_eq!(started.load(Ordering::SeqCst), 0);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nested_groups_external_cancel_inner_failures_nest_8_10() {
    let kids: Kids<()> = Arc::default();
    let k = kids.clone();
    let r = corral::spawn(async move {
        TaskGroup::new()
            .name("outer")
            .run(|g| async move {
                k.lock().unwrap().push(g.spawn(after(ms(10_000), ())));
                TaskGroup::new()
                    .name("inner")
                    .run(|inner| async move {
                        for _ in 0..5 {
                            inner.spawn(listening(ms(5000), (), async { Err(TErr::Zero) }));
                        }
                        Ok::<_, TErr>(())
                    })
                    .await?;
                Ok::<_, TErr>(())
            })
            .await
    });
    sleep(ms(100)).await;
    r.cancel();
    let err = match r.await {
        Outcome::Err(err) => err,
        other => panic!("expected the group error, not {other:?}"),
    };
    // EG[EG[ZeroDivisionError x5]]
    assert_eq!(err.group_name(), Some("outer"));
    assert_eq!(err.len(), 1);
    assert_eq!(err.failures()[0].member, Member::Body);
    match &err.failures()[0].failure {
        Failure::Error(TErr::Group(inner)) => {
            assert_eq!(inner.group_name(), Some("inner"));
            assert_eq!(errors(inner), vec![TErr::Zero; 5]);
        }
        other => panic!("expected a nested group error, not {other:?}"),
    }
    assert!(kids.lock().unwrap()[0]
        .try_outcome()
        .unwrap()
        .is_cancelled());
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn outer_child_failure_cancels_inner_group_without_nesting_8_11() {
    let t0 = Instant::now();
    let mut inner_kid = None;
    let err = TaskGroup::new()
        .run(|g| {
            let inner_kid = &mut inner_kid;
            async move {
                g.spawn(fail_after::<()>(ms(100), TErr::Value(1)));
                TaskGroup::new()
                    .run(|inner| async move {
                        *inner_kid = Some(inner.spawn(after(ms(10_000), ())));
                        sleep(ms(10_000)).await;
                        Ok::<_, TErr>(())
                    })
                    .await?;
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(errors(&err), [TErr::Value(1)]); // flat
    assert!(inner_kid.unwrap().try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn inner_child_failure_nests_in_outer_error_8_12() {
    let t0 = Instant::now();
    let mut outer_kid = None;
    let err = TaskGroup::new()
        .run(|g| {
            let outer_kid = &mut outer_kid;
            async move {
                *outer_kid = Some(g.spawn(after(ms(10_000), ())));
                TaskGroup::new()
                    .run(|inner| async move {
                        inner.spawn(fail_after::<()>(ms(100), TErr::Value(1)));
                        sleep(ms(10_000)).await;
                        Ok::<_, TErr>(())
                    })
                    .await?;
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    match errors(&err).as_slice() {
        [TErr::Group(inner)] => assert_eq!(errors(inner), [TErr::Value(1)]),
        other => panic!("expected EG[EG[ValueError]], got {other:?}"),
    }
    assert!(outer_kid.unwrap().try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

/// asyncio cancels the children only when the body leaves `async with`; corral cancels them at
/// once, so the child here fails at 0.3 in its own cancellation cleanup. What the catalog pins
/// holds: the body's 0.5 s cleanup is cut at 0.3, the error wins, the task is not cancelled.
#[tokio::test(start_paused = true)]
async fn error_during_cancellation_cleanup_wins_8_13() {
    let cleanup_done = Arc::new(AtomicUsize::new(0));
    let c = cleanup_done.clone();
    let r = corral::spawn(async move {
        // An extra layer of async fn between the task and the group changes nothing.
        async fn layer(c: Arc<AtomicUsize>) -> Result<(), GroupError<TErr>> {
            TaskGroup::new()
                .run(|g| async move {
                    g.spawn(listening(ms(300), (), async {
                        sleep(ms(200)).await; // cancelled at 0.1: fails at 0.3
                        Err(TErr::Zero)
                    }));
                    tokio::select! {
                        _req = cancelled() => {
                            sleep(ms(500)).await; // cleanup, cut short at 0.3
                            c.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, TErr>(())
                        }
                        _ = sleep(ms(10_000)) => Ok(()),
                    }
                })
                .await
        }
        layer(c).await
    });
    let t0 = Instant::now();
    sleep(ms(100)).await;
    r.cancel();
    let out = r.await;
    assert_eq!(t0.elapsed(), ms(300));
    match out {
        Outcome::Err(err) => assert_eq!(errors(&err), [TErr::Zero]),
        other => panic!("expected the group error, not {other:?}"),
    }
    assert_eq!(cleanup_done.load(Ordering::SeqCst), 0);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn empty_group_external_cancel_is_a_cancellation_the_body_sees_8_14() {
    let saw = Arc::new(AtomicUsize::new(0));
    let s = saw.clone();
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|_g: Spawner<TErr>| async move {
                tokio::select! {
                    req = cancelled() => {
                        s.fetch_add(1, Ordering::SeqCst);
                        req.propagate().await
                    }
                    _ = sleep(ms(10_000)) => Ok(()),
                }
            })
            .await
    });
    sleep(ms(100)).await;
    r.cancel();
    assert!(r.await.is_cancelled());
    assert_eq!(saw.load(Ordering::SeqCst), 1);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn body_turning_the_cancel_into_an_error_reports_only_that_error_8_15() {
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|_g| async move {
                tokio::select! {
                    _ = cancelled() => Err(TErr::Custom),
                    _ = sleep(ms(10_000)) => Ok(()),
                }
            })
            .await
    });
    sleep(ms(100)).await;
    r.cancel();
    match r.await {
        Outcome::Err(err) => {
            assert_eq!(errors(&err), [TErr::Custom]);
            assert!(!err.is_cancelled());
        }
        other => panic!("expected the group error, not {other:?}"),
    }
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn child_failure_and_body_cleanup_error_are_both_kept_8_16() {
    let t0 = Instant::now();
    let err = TaskGroup::new()
        .run(|g| async move {
            g.spawn(fail_after::<()>(ms(100), TErr::Zero));
            tokio::select! {
                _ = cancelled() => Err(TErr::Custom),
                _ = sleep(ms(10_000)) => Ok(()),
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    let mut got = errors(&err);
    got.sort_by_key(|e| e.to_string());
    assert_eq!(got, [TErr::Custom, TErr::Zero]);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn external_cancel_while_waiting_for_children_8_18() {
    let r = corral::spawn(async move {
        TaskGroup::new()
            .run(|g| async move {
                g.spawn(after(ms(1000), ()));
                g.spawn(after(ms(2000), ()));
                Ok::<_, TErr>(())
            })
            .await
    });
    sleep(ms(50)).await;
    let t0 = Instant::now();
    r.cancel();
    assert!(r.await.is_cancelled());
    assert_eq!(t0.elapsed(), ms(0));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn finished_children_are_released_8_19() {
    TaskGroup::new()
        .run(|g| async move {
            for count in 0..10 {
                sleep(ms(100)).await;
                g.spawn(after(ms(300), ()));
                if count == 5 {
                    assert!(g.len() < 5, "group holds {} children", g.len());
                }
            }
            sleep(ms(1350)).await;
            assert_eq!(g.len(), 0);
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn children_may_spawn_children_8_20() {
    let t0 = Instant::now();
    TaskGroup::new()
        .run(|g| async move {
            let g2 = g.clone();
            g.spawn(async move {
                sleep(ms(100)).await;
                g2.spawn(after(ms(100), ()));
                g2.spawn(after(ms(200), ()));
                Ok::<_, TErr>(())
            });
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(300));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn unbounded_spawning_stops_on_error_8_21() {
    // Not an `async fn`: its future spawns copies of itself.
    #[allow(clippy::manual_async_fn)]
    fn hydra(
        g: Spawner<TErr>,
        n: Arc<AtomicUsize>,
    ) -> impl std::future::Future<Output = Result<(), TErr>> + Send {
        async move {
            n.fetch_add(1, Ordering::SeqCst);
            sleep(ms(10)).await;
            g.spawn(hydra(g.clone(), n.clone()));
            g.spawn(hydra(g.clone(), n.clone()));
            Ok(())
        }
    }
    let t0 = Instant::now();
    let n = Arc::new(AtomicUsize::new(0));
    let err = TaskGroup::new()
        .run(|g| async move {
            g.spawn(hydra(g.clone(), n.clone()));
            g.spawn(async move {
                while n.load(Ordering::SeqCst) < 10 {
                    sleep(ms(15)).await;
                }
                Err::<(), _>(TErr::Zero)
            });
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    assert_eq!(errors(&err), [TErr::Zero]);
    assert_eq!(t0.elapsed(), ms(45));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_failing_group_is_refused_and_never_runs_8_22() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let r2 = ran.clone();
    let mut refusal = None;
    let mut refused = None;
    let err = TaskGroup::new()
        .name("g")
        .run(|g| {
            let (refusal, refused) = (&mut refusal, &mut refused);
            async move {
                g.spawn(fail_after::<()>(ms(0), TErr::Zero));
                // Handle the cancel so the body runs on while the group is failing.
                let _req = cancelled().await;
                *refusal = g
                    .try_spawn(async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        Ok::<(), TErr>(())
                    })
                    .err();
                // `spawn` hands back a child that never started, cancelled with the refusal.
                *refused = Some(g.spawn_named("late", async move {
                    r2.fetch_add(1, Ordering::SeqCst);
                    Ok::<(), TErr>(())
                }));
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    // The refused child is not the group's: only the failure that shut it down is reported.
    assert_eq!(errors(&err), [TErr::Zero]);
    let refusal = refusal.expect("try_spawn was refused");
    assert!(refusal.is_shutting_down());
    assert!(refusal.to_string().contains("\"g\" is shutting down"));
    let refused = refused.expect("spawn returned a child");
    assert_eq!(refused.state(), corral::TaskState::Cancelled);
    assert!(refused.is_finished());
    assert!(refused.task_ref().is_finished());
    assert_eq!(&*refused.name(), "late");
    assert!(!refused.cancel());
    match refused.await {
        Outcome::Cancelled(c) => assert_eq!(c.message(), Some(refusal.to_string().as_str())),
        other => panic!("{other:?}"),
    }
    settle().await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_finished_group_is_refused_and_never_runs_8_23() {
    let mut saved = None;
    TaskGroup::new()
        .run(|g: Spawner<TErr>| {
            saved = Some(g);
            async { Ok(()) }
        })
        .await
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let g = saved.unwrap();
    assert!(!g.is_open());
    let r2 = ran.clone();
    let refusal = g
        .try_spawn(async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<(), TErr>(())
        })
        .unwrap_err();
    assert!(refusal.is_finished());
    assert!(refusal.to_string().contains("is finished"));
    let mut refused = g.spawn(async move {
        r2.fetch_add(1, Ordering::SeqCst);
        Ok::<(), TErr>(())
    });
    assert_eq!(refused.state(), corral::TaskState::Cancelled);
    let outcome = refused
        .try_outcome()
        .expect("a refused child has its outcome at once");
    assert!(outcome.is_cancelled());
    assert!(format!("{outcome:?}").contains("is finished"));
    settle().await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_caught_group_failure_leaves_no_cancellation_behind_8_24() {
    let r = corral::spawn(async move {
        let res = TaskGroup::new()
            .run(|g| async move {
                g.spawn(async { Err::<(), _>(TErr::Zero) });
                sleep(ms(1000)).await;
                Ok::<_, TErr>(())
            })
            .await;
        assert!(res.is_err());
        assert!(!corral::is_cancel_requested());
        let t0 = Instant::now();
        sleep(ms(500)).await; // not cancelled
        Ok::<_, TErr>(t0.elapsed())
    });
    assert_eq!(r.await.unwrap(), ms(500));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nested_groups_both_failing_at_once_8_25() {
    let r = corral::spawn(async move {
        let t0 = Instant::now();
        let res = TaskGroup::new()
            .run(|outer| async move {
                let inner = TaskGroup::new()
                    .run(|inner| {
                        let outer = outer.clone();
                        async move {
                            inner.spawn(async { Err::<(), _>(TErr::Runtime) });
                            outer.spawn(async { Err::<(), _>(TErr::Value(0)) });
                            sleep(ms(1000)).await;
                            Ok::<_, TErr>(())
                        }
                    })
                    .await;
                // except* RuntimeError: pass
                let inner = inner.unwrap_err();
                assert_eq!(errors(&inner), [TErr::Runtime]);
                // The outer group's cancel is still pending in its body: the next await is
                // cancelled.
                assert!(corral::is_cancel_requested());
                sleep(ms(1000)).await;
                unreachable!("the outer body's next await is cancelled");
                #[allow(unreachable_code)]
                Ok::<_, TErr>(())
            })
            .await;
        let outer = res.unwrap_err();
        assert_eq!(errors(&outer), [TErr::Value(0)]);
        assert_eq!(t0.elapsed(), ms(0));
        assert!(!corral::is_cancel_requested());
        Ok::<_, TErr>(())
    });
    r.await.unwrap();
    assert_eq!(alive(), 0);
}

/// Changed: once the group has answered the enclosing cancel with its error, the request
/// counts as handled (one `cancel()` is delivered once, 1.14). It is not lost:
/// `is_cancel_requested()` stays true and the task's grace period ends the task, cancelled.
/// asyncio instead cancels the next plain `await` at once.
#[tokio::test(start_paused = true)]
async fn error_and_concurrent_external_cancel_keeps_the_cancel_visible_8_26() {
    let r = corral::spawn(async move {
        let res = TaskGroup::new()
            .run(|g| async move {
                let me = corral::current_task().unwrap();
                // The parent's cancel and the child's error land in the same tick.
                g.spawn(async move {
                    me.cancel();
                    Err::<(), _>(TErr::Runtime)
                });
                sleep(ms(1000)).await;
                if true {
                    panic!("sleep in group should have been cancelled");
                }
                Ok::<(), TErr>(())
            })
            .await;
        assert_eq!(errors(&res.unwrap_err()), [TErr::Runtime]);
        assert!(corral::is_cancel_requested());
        sleep(ms(60_000)).await; // cut short when the grace period runs out
        Ok::<(), TErr>(())
    });
    let t0 = Instant::now();
    assert!(r.await.is_cancelled());
    assert_eq!(t0.elapsed(), corral::DEFAULT_GRACE);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn async_cleanup_in_the_body_that_fails_is_kept_8_27() {
    // The body's "context manager": async cleanup on cancel, which itself fails.
    async fn managed_work() -> Result<(), TErr> {
        tokio::select! {
            _ = cancelled() => {
                sleep(ms(10)).await; // __aexit__
                Err(TErr::Custom)
            }
            _ = sleep(ms(10_000)) => Ok(()),
        }
    }
    let r = corral::spawn(async move {
        let res = TaskGroup::new()
            .run(|g| async move {
                g.spawn(fail_after::<()>(ms(100), TErr::Custom));
                managed_work().await
            })
            .await;
        assert_eq!(errors(&res.unwrap_err()), [TErr::Custom, TErr::Custom]);
        Ok::<_, TErr>(corral::is_cancel_requested())
    });
    assert!(!r.await.unwrap(), "no cancel left pending");
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn children_have_the_names_they_are_given_8_28() {
    TaskGroup::new()
        .run(|g| async move {
            let t = g.spawn_named("yolo", async {
                Ok::<_, TErr>(corral::current_task().unwrap().name())
            });
            assert_eq!(&*t.name(), "yolo");
            assert_eq!(&*t.await.unwrap(), "yolo");
            let t = g.spawn_with(corral::Builder::new().name("example name"), async {
                Ok::<_, TErr>(corral::current_task().unwrap().name())
            });
            assert_eq!(&*t.await.unwrap(), "example name");
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_sibling_failing_at_once_cancels_its_spawner_8_29() {
    let reached = Arc::new(AtomicUsize::new(0));
    let r = reached.clone();
    let err = TaskGroup::new()
        .run(|g| async move {
            let g2 = g.clone();
            g.spawn(async move {
                g2.spawn(async { Err::<(), _>(TErr::Custom) });
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                    r.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, TErr>(())
            });
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    assert_eq!(errors(&err), [TErr::Custom]);
    assert!(
        reached.load(Ordering::SeqCst) <= 2,
        "spawner ran on for {:?} ticks",
        reached
    );
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn successful_children_keep_their_results_after_a_failure_8_30() {
    let mut kids = Vec::new();
    let err = TaskGroup::new()
        .run(|g| {
            let kids = &mut kids;
            async move {
                kids.push(g.spawn(after(ms(50), 'a')));
                kids.push(g.spawn(after(ms(200), 'b')));
                sleep(ms(100)).await;
                Err::<(), _>(TErr::Custom)
            }
        })
        .await
        .unwrap_err();
    assert_eq!(errors(&err), [TErr::Custom]);
    assert_eq!(kids[0].try_outcome(), Some(Outcome::Ok('a')));
    assert!(kids[1].try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

// ---------------------------------------------------------------------------------------------
// Beyond the catalog

#[tokio::test(start_paused = true)]
async fn panics_of_children_and_body_are_failures_with_their_member() {
    let err = TaskGroup::new()
        .run(|g| async move {
            g.spawn_named("p", async {
                if true {
                    panic!("child boom");
                }
                Ok::<(), TErr>(())
            });
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            if true {
                panic!("body boom");
            }
            Ok::<(), TErr>(())
        })
        .await;
    let err: GroupError<TErr> = match err {
        Err(e) => e,
        Ok(()) => unreachable!(),
    };
    let panics: Vec<&str> = err.panics().map(|p| p.message()).collect();
    assert_eq!(panics, ["child boom"]);
    assert!(err.to_string().contains("\"p\": panicked: child boom"));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn body_panic_is_captured_and_cancels_children() {
    let t0 = Instant::now();
    let err = TaskGroup::new()
        .run(|g| async move {
            g.spawn(after(ms(1000), ()));
            sleep(ms(10)).await;
            if true {
                panic!("body boom");
            }
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(err.failures()[0].member, Member::Body);
    assert_eq!(err.panics().next().unwrap().message(), "body boom");
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_child_handle_does_not_abort_the_child() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let t0 = Instant::now();
    TaskGroup::new()
        .run(|g| async move {
            drop(g.spawn(async move {
                sleep(ms(100)).await;
                d.fetch_add(1, Ordering::SeqCst);
                Ok::<(), TErr>(())
            }));
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn group_error_display_lists_every_failure_and_nests() {
    let err = TaskGroup::new()
        .name("outer")
        .run(|g| async move {
            g.spawn_named("a", fail_after::<()>(ms(10), TErr::Value(7)));
            TaskGroup::new()
                .name("inner")
                .run(|inner| async move {
                    inner.spawn_named("b", fail_after::<()>(ms(10), TErr::Zero));
                    sleep(ms(10_000)).await;
                    Ok::<_, TErr>(())
                })
                .await?;
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("task group \"outer\" failed with 2 errors:"),
        "{text}"
    );
    assert!(text.contains("\"a\": value error 7"), "{text}");
    assert!(
        text.contains("  - body: task group \"inner\" failed with 1 error:\n      - task "),
        "{text}"
    );
    assert!(text.contains("\"b\": division by zero"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn supervisor_failure_does_not_cancel_siblings_and_every_failure_is_reported() {
    let t0 = Instant::now();
    let mut kids = Vec::new();
    let err = TaskGroup::new()
        .supervisor()
        .run(|g| {
            let kids = &mut kids;
            async move {
                kids.push(g.spawn(fail_after::<u8>(ms(100), TErr::Value(1))));
                kids.push(g.spawn(after(ms(300), 3)));
                kids.push(g.spawn(fail_after::<u8>(ms(200), TErr::Value(2))));
                sleep(ms(250)).await; // the body is not cancelled either
                assert!(g.is_open());
                kids.push(g.spawn(after(ms(100), 4)));
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(350));
    assert_eq!(errors(&err), [TErr::Value(1), TErr::Value(2)]);
    let outs: Vec<_> = kids.iter_mut().map(|k| k.try_outcome().unwrap()).collect();
    assert!(matches!(outs[0], Outcome::Err(_)));
    assert_eq!(outs[1], Outcome::Ok(3));
    assert!(matches!(outs[2], Outcome::Err(_)));
    assert_eq!(outs[3], Outcome::Ok(4));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn supervisor_body_failure_still_cancels_children() {
    let t0 = Instant::now();
    let mut kid = None;
    let err = TaskGroup::new()
        .supervisor()
        .run(|g| {
            let kid = &mut kid;
            async move {
                *kid = Some(g.spawn(after(ms(1000), ())));
                sleep(ms(100)).await;
                Err::<(), _>(TErr::Custom)
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(errors(&err), [TErr::Custom]);
    assert!(kid.unwrap().try_outcome().unwrap().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn limit_caps_concurrency_and_runs_children_in_spawn_order() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    TaskGroup::new()
        .limit(3)
        .run(|g| async move {
            for i in 0..10u64 {
                let (running, peak, order) = (running.clone(), peak.clone(), order.clone());
                g.spawn(async move {
                    order.lock().unwrap().push(i);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    sleep(ms(100 + 10 * i)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), TErr>(())
                });
            }
            // spawn stayed synchronous: all ten are held, seven of them waiting.
            assert_eq!(g.len(), 10);
            tokio::task::yield_now().await;
            let waiting = g
                .children()
                .iter()
                .filter(|c| c.state == corral::TaskState::Waiting)
                .count();
            assert_eq!(waiting, 7);
            let snapshot = (peak.clone(), order.clone());
            Ok::<_, TErr>(snapshot)
        })
        .await
        .map(|(peak, order)| {
            assert_eq!(peak.load(Ordering::SeqCst), 3);
            assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        })
        .unwrap();
    // Greedy list schedule of 100..190 ms jobs on 3 slots, in spawn order.
    assert_eq!(t0.elapsed(), ms(580));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_child_cancelled_while_waiting_for_its_permit_never_starts() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let t0 = Instant::now();
    let err = TaskGroup::new()
        .limit(1)
        .run(|g| async move {
            g.spawn(fail_after::<()>(ms(100), TErr::Zero));
            let s = s.clone();
            g.spawn(async move {
                s.fetch_add(1, Ordering::SeqCst);
                Ok::<(), TErr>(())
            });
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(errors(&err), [TErr::Zero]);
    assert_eq!(started.load(Ordering::SeqCst), 0);
    assert_eq!(alive(), 0);
}

/// `limit(0)` counts as 1, as the combinators' `.limit(0)` does: one child at a time.
#[tokio::test(start_paused = true)]
async fn a_limit_of_zero_runs_one_child_at_a_time() {
    let t0 = Instant::now();
    TaskGroup::new()
        .limit(0)
        .run(|g| async move {
            for _ in 0..3 {
                g.spawn(async {
                    sleep(ms(100)).await;
                    Ok::<(), TErr>(())
                });
            }
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn own_cancel_stops_everything_and_reports_a_cancellation() {
    let t0 = Instant::now();
    let mut kid = None;
    let err = TaskGroup::new()
        .run(|g| {
            let kid = &mut kid;
            async move {
                *kid = Some(g.spawn(after(ms(1000), ())));
                let g2 = g.clone();
                g.spawn(async move {
                    sleep(ms(100)).await;
                    assert!(g2.cancel_with("enough"));
                    assert!(!g2.cancel());
                    Ok::<(), TErr>(())
                });
                sleep(ms(10_000)).await;
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(100));
    assert!(err.is_cancelled());
    assert_eq!(err.cancelled().unwrap().message(), Some("enough"));
    assert_eq!(err.to_string(), "task group was cancelled: enough");
    assert_eq!(
        kid.unwrap().try_outcome(),
        Some(Outcome::Cancelled(corral::Cancelled::with_message(
            "enough"
        )))
    );
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn own_cancel_after_the_body_returned_keeps_its_value() {
    // Trio's idiom: background workers, the main work, then cancel the workers.
    let v = TaskGroup::new()
        .run(|g| async move {
            g.spawn(std::future::pending::<Result<(), TErr>>());
            sleep(ms(100)).await;
            g.cancel();
            Ok::<_, TErr>(42)
        })
        .await
        .unwrap();
    assert_eq!(v, 42);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_child_error_returned_as_the_group_cancels_it_is_kept() {
    // The child cancels the group, and so itself, then fails in the same poll: its error is
    // kept (asyncio keeps an exception raised in the step a cancel arrives in). On a
    // multi-thread runtime the same happens when a sibling's failure on another worker
    // cancels a child that is just returning its error.
    let r = TaskGroup::new()
        .run(|g| async move {
            let group = g.clone();
            g.spawn(async move {
                group.cancel(); // the group is shutting down...
                Err::<(), _>(TErr::Zero) // ...and this child fails anyway, in the same poll
            });
            Ok::<(), TErr>(())
        })
        .await;
    let err = r.expect_err("a child failed; no error is lost");
    assert_eq!(errors(&err), [TErr::Zero]);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_group_started_under_a_pending_cancel_request_relays_it_at_the_first_suspension() {
    // The task is asked to stop and nothing has listened yet: the request reaches the group's
    // body at its first suspension, as it would reach code without a group, and the group
    // cancels the body (which cleans up) instead of being dropped with it.
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let t = corral::spawn(async move {
        corral::current_task().unwrap().cancel();
        TaskGroup::new()
            .run(|_g: Spawner<TErr>| async move {
                l.lock().unwrap().push("body started");
                tokio::select! {
                    req = cancelled() => {
                        sleep(ms(10)).await;
                        l.lock().unwrap().push("body cleaned up");
                        req.propagate().await
                    }
                    _ = sleep(ms(10_000)) => Ok(()),
                }
            })
            .await
    });
    assert!(t.await.is_cancelled());
    assert_eq!(*log.lock().unwrap(), ["body started", "body cleaned up"]);
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_group_in_a_timeout_started_under_a_pending_cancel_request_relays_it() {
    // As above, with a timeout scope between the task and the group: the pending request is
    // not cleanup's, so the timeout passes it on rather than cutting the group off from it.
    let t0 = Instant::now();
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let t = corral::spawn(async move {
        corral::current_task().unwrap().cancel();
        let group = TaskGroup::new().run(|_g: Spawner<TErr>| {
            listening(ms(10_000), (), async move {
                sleep(ms(10)).await;
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        });
        corral::timeout(secs(100), group)
            .await
            .map_err(|_| TErr::Runtime)
    });
    assert!(t.await.is_cancelled());
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the body did not clean up"
    );
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive(), 0);
}

/// Needs two workers: the child must start while the body, which must not suspend, waits for
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_started_under_a_pending_cancel_request_drains_its_children() {
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cleaned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s, c, waiting) = (started.clone(), cleaned.clone(), started.clone());
    let task = corral::spawn(async move {
        // Asked to stop; nothing listens yet, so the body runs on to its next suspension.
        corral::current_task().map(|t| t.cancel());
        TaskGroup::new()
            .run(|g| async move {
                g.spawn(async move {
                    s.store(true, Ordering::SeqCst);
                    let _request = cancelled().await;
                    c.store(true, Ordering::SeqCst); // the cleanup a drained child gets to do
                    Ok::<(), SpawnError>(())
                });
                tokio::spawn(async {}); // moves the child out of this worker's LIFO slot
                let t0 = std::time::Instant::now();
                while !waiting.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
                    std::thread::yield_now(); // let the other worker start the child
                }
                tokio::task::yield_now().await;
                Ok(())
            })
            .await
    });
    assert!(task.await.is_cancelled());
    assert!(
        started.load(Ordering::SeqCst),
        "the child did not start: the test did not run"
    );
    // As when the request comes after the group started: the child is asked to stop and
    // waited for, not aborted.
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the child was aborted, not asked to stop"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_started_in_cleanup_code_is_not_cancelled_by_the_request_being_handled() {
    let t0 = Instant::now();
    let t = corral::spawn(async {
        let request = cancelled().await;
        // Cleanup: the request was delivered, and does not stop the group that does it.
        let r = TaskGroup::new()
            .run(|g| async move {
                g.spawn(after(ms(10), ()));
                sleep(ms(5)).await;
                Ok::<_, TErr>(7)
            })
            .await;
        drop(request);
        Ok::<_, ()>(r.map_err(|e| e.to_string()))
    });
    tokio::task::yield_now().await;
    t.cancel();
    assert_eq!(t.await, Outcome::Ok(Ok(7)));
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_listening_body_gets_the_group_grace_then_is_dropped() {
    let t0 = Instant::now();
    let err = TaskGroup::new()
        .grace(ms(300))
        .run(|g| async move {
            g.spawn(fail_after::<()>(ms(100), TErr::Zero));
            let _req = cancelled().await;
            sleep(ms(10_000)).await; // cleanup that overstays its grace
            Ok::<_, TErr>(())
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(400));
    assert_eq!(errors(&err), [TErr::Zero]);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_listening_child_gets_its_own_grace() {
    let t0 = Instant::now();
    let mut kid = None;
    let err = TaskGroup::new()
        .run(|g| {
            let kid = &mut kid;
            async move {
                let b = corral::Builder::new().grace(ms(200));
                *kid = Some(g.spawn_with(b, async {
                    let _req = cancelled().await;
                    sleep(ms(10_000)).await;
                    Ok::<(), TErr>(())
                }));
                g.spawn(fail_after::<()>(ms(100), TErr::Zero));
                Ok::<_, TErr>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(300));
    assert_eq!(errors(&err), [TErr::Zero]);
    assert!(kid.unwrap().try_outcome().unwrap().is_cancelled());
    assert_eq!(alive(), 0);
}

// ---------------------------------------------------------------------------------------------
// Introspection

#[tokio::test(start_paused = true)]
async fn children_snapshot_reports_id_name_age_and_state() {
    TaskGroup::new()
        .limit(1)
        .run(|g| async move {
            let a = g.spawn_named("a", after(ms(1000), ()));
            let b = g.spawn_named("b", after(ms(1000), ()));
            sleep(ms(250)).await;
            let kids = g.children();
            assert_eq!(kids.len(), 2);
            assert_eq!((kids[0].id, &*kids[0].name), (a.id(), "a"));
            assert_eq!(kids[0].state, corral::TaskState::Running);
            assert_eq!(kids[0].age, ms(250));
            assert_eq!((kids[1].id, &*kids[1].name), (b.id(), "b"));
            assert_eq!(kids[1].state, corral::TaskState::Waiting);
            b.cancel();
            a.cancel();
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn tree_shows_nested_groups_under_the_member_that_runs_them() {
    let tree = TaskGroup::new()
        .name("outer")
        .limit(4)
        .run(|g| async move {
            g.spawn_named("worker", async {
                TaskGroup::new()
                    .name("inner")
                    .run(|inner| async move {
                        inner.spawn_named("leaf", after(ms(1000), ()));
                        sleep(ms(1000)).await;
                        Ok::<_, TErr>(())
                    })
                    .await
                    .map_err(TErr::from)
            });
            sleep(ms(500)).await;
            let tree = g.tree();
            assert!(corral::group_tree().contains(&tree));
            g.cancel();
            Ok::<_, TErr>(tree)
        })
        .await
        .unwrap();
    let lines: Vec<&str> = tree.lines().collect();
    let re_id = |s: &str| {
        // Ids vary between runs: replace every number after '#' or "task " with N.
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        let mut prev = String::new();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() && (prev.ends_with('#') || prev.ends_with("task ")) {
                while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                    chars.next();
                }
                out.push('N');
                prev.push('N');
            } else {
                out.push(c);
                prev.push(c);
            }
        }
        out
    };
    let lines: Vec<String> = lines.into_iter().map(re_id).collect();
    assert_eq!(
        lines,
        [
            "group \"outer\" #N (running, 1 child, limit 4, age 500ms)",
            "├── body",
            "└── task N \"worker\": running for 500ms",
            "    └── group \"inner\" #N (running, 1 child, age 500ms)",
            "        ├── body",
            "        └── task N \"leaf\": running for 500ms",
        ]
    );
    assert_eq!(alive(), 0);
}

// ---------------------------------------------------------------------------------------------
// Nothing left running

#[tokio::test(start_paused = true)]
async fn dropping_the_group_future_aborts_every_child_and_grandchild() {
    let mut kids = Vec::new();
    {
        let run = TaskGroup::new().run(|g| {
            let kids = &mut kids;
            async move {
                for _ in 0..3 {
                    kids.push(g.spawn(after(ms(10_000), ())));
                }
                g.spawn(async {
                    TaskGroup::new()
                        .run(|inner| async move {
                            inner.spawn(after(ms(10_000), ()));
                            Ok::<_, TErr>(())
                        })
                        .await
                        .map_err(TErr::from)
                });
                sleep(ms(10_000)).await;
                Ok::<_, TErr>(())
            }
        });
        let timed = tokio::time::timeout(ms(100), run).await;
        assert!(timed.is_err());
    }
    settle().await;
    assert_eq!(alive(), 0);
    for kid in &mut kids {
        assert!(kid.try_outcome().unwrap().is_cancelled());
    }
}

#[tokio::test(start_paused = true)]
async fn aborting_the_task_that_runs_a_group_leaves_nothing_running() {
    let r = corral::spawn(async {
        TaskGroup::new()
            .run(|g| async move {
                for _ in 0..4 {
                    g.spawn(after(ms(10_000), ()));
                }
                sleep(ms(10_000)).await;
                Ok::<_, TErr>(())
            })
            .await
    });
    sleep(ms(100)).await;
    assert_eq!(alive(), 5);
    r.abort();
    assert!(r.await.is_cancelled());
    settle().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_long_lived_group_does_not_grow() {
    TaskGroup::new()
        .run(|g| async move {
            for i in 0..2000u64 {
                g.spawn(after(ms(i % 7), ()));
                if i % 100 == 0 {
                    sleep(ms(10)).await;
                    assert!(g.len() <= 100, "holds {}", g.len());
                }
            }
            Ok::<_, TErr>(())
        })
        .await
        .unwrap();
    assert_eq!(alive(), 0);
}

/// Real threads: children on two workers spawn siblings and fail while the group collects
/// them. Nothing deadlocks, every failure is kept, and nothing is left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_thread_runtime_groups_drain_and_keep_every_failure() {
    for round in 0..50u32 {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let res = TaskGroup::new()
            .limit(4)
            .run(|g| async move {
                for i in 0..20u32 {
                    let (g2, d) = (g.clone(), d.clone());
                    g.spawn(async move {
                        for _ in 0..3 {
                            tokio::task::yield_now().await;
                        }
                        if i % 2 == 0 {
                            let d = d.clone();
                            g2.spawn(async move {
                                tokio::task::yield_now().await;
                                d.fetch_add(1, Ordering::SeqCst);
                                Ok::<(), TErr>(())
                            });
                        }
                        d.fetch_add(1, Ordering::SeqCst);
                        if round % 5 == 0 && i == 7 {
                            return Err(TErr::Value(i));
                        }
                        Ok(())
                    });
                }
                Ok::<_, TErr>(())
            })
            .await;
        if round % 5 == 0 {
            assert_eq!(errors(&res.unwrap_err()), [TErr::Value(7)]);
        } else {
            res.unwrap();
            assert_eq!(done.load(Ordering::SeqCst), 30);
        }
    }
    // Completed tasks are released by the worker that ran them, a moment after they end.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive() > 0 && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(alive(), 0);
}
