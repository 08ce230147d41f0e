//! The cases shared by the `coord` (criterion, time) and `alloc` (bytes per task) benches.
//!
//! Every case runs `n` trivial tasks (each yields once, then returns `Ok(index)`) and returns the
//! sum of the indices, which the benches check once before measuring. A case is a plain `fn`
//! so that the table below is the one place to add one: a corral combinator slots in next to
//! the peers of its mode as soon as its API exists.

#![allow(dead_code)] // each bench binary uses a different part of this module

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use futures::stream::{self, FuturesUnordered, StreamExt};
use futures_buffered::BufferedStreamExt;

/// The task counts every case runs at.
pub const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// The concurrency limit of the `limit100` cases.
pub const LIMIT: usize = 100;

/// How the work runs, which decides the peer a corral case is compared to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each task spawned on the runtime (runs on both workers); the bar is the fastest spawned
    /// peer, a `Vec<JoinHandle>` awaited in order, except for `TaskGroup`, whose bar is
    /// tokio's `JoinSet` (see [`bar`]).
    Spawned,
    /// Futures polled in place in the caller's task; the bar is the best in-place peer.
    InPlace,
    /// At most [`LIMIT`] futures running at once, polled in place, results in input order.
    Limit100,
    /// At most [`LIMIT`] tasks at once, each spawned when admitted, results in input order.
    Limit100Spawned,
}

impl Mode {
    /// Every mode, in the order the benches run them.
    pub const ALL: [Mode; 4] = [
        Mode::Spawned,
        Mode::InPlace,
        Mode::Limit100,
        Mode::Limit100Spawned,
    ];

    /// The criterion group name (and directory under `target/criterion`).
    pub fn group(self) -> &'static str {
        match self {
            Mode::Spawned => "spawned",
            Mode::InPlace => "in_place",
            Mode::Limit100 => "limit100",
            Mode::Limit100Spawned => "limit100_spawned",
        }
    }
}

/// The peer a case is timed and weighed against in its mode (its *bar*), or `None` for a bar.
///
/// A corral case gets its mode's bar: in spawned mode the fastest spawned peer,
/// `tokio_JoinHandle_vec`, for the gather-like cases (gather, gather_settled, wait,
/// as_completed) and `tokio_JoinSet` for `TaskGroup`, which like a `JoinSet` owns its
/// children. Every other peer gets the bar too, so that a paired run shows whether the bar is
/// still the fastest peer (a peer's ratio below 1 says it is not).
pub fn bar(mode: Mode, name: &str) -> Option<&'static str> {
    let bar = match (mode, name) {
        (Mode::Spawned, "corral_taskgroup") => "tokio_JoinSet",
        (Mode::Spawned, _) => "tokio_JoinHandle_vec",
        (Mode::InPlace, _) => "futures_buffered_join_all",
        (Mode::Limit100, _) => "futures_buffered_ordered",
        (Mode::Limit100Spawned, _) => "tokio_spawn_buffered",
    };
    (bar != name).then_some(bar)
}

/// The future a case returns: the sum of the task outputs.
pub type Run = Pin<Box<dyn Future<Output = usize>>>;

/// One benchmarked way of running `n` tasks.
pub struct Case {
    /// The criterion function id: `corral_*` for corral, the peer's own name otherwise.
    pub name: &'static str,
    /// How the work runs.
    pub mode: Mode,
    /// Runs the case over `n` tasks.
    pub run: fn(usize) -> Run,
}

impl Case {
    /// Whether this is one of corral's cases (as opposed to a peer's).
    pub fn is_corral(&self) -> bool {
        self.name.starts_with("corral")
    }

    /// `mode/name`: unique, unlike the name (corral's cases recur across modes).
    pub fn id(&self) -> String {
        format!("{}/{}", self.mode.group(), self.name)
    }

    /// The name of the peer this case is compared to, or `None` for a bar ([`bar`]).
    pub fn bar(&self) -> Option<&'static str> {
        bar(self.mode, self.name)
    }
}

/// The trivial task: yield to the scheduler once, then return the index.
pub async fn work(i: usize) -> Result<usize, Infallible> {
    tokio::task::yield_now().await;
    Ok(i)
}

/// What every case must return for `n` tasks.
pub fn expected(n: usize) -> usize {
    n * (n - 1) / 2
}

fn ok<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e {},
    }
}

/// The runtime every case runs on: tokio multi-thread with 2 workers; the case's own future
/// runs in `block_on` on the calling thread, as under `#[tokio::main]`.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Every case, peers first within each mode.
pub fn cases() -> Vec<Case> {
    vec![
        // ---- spawned: each task on the runtime ----
        Case {
            name: "tokio_JoinSet",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let mut set = tokio::task::JoinSet::new();
                    for i in 0..n {
                        set.spawn(work(i));
                    }
                    let mut sum = 0;
                    while let Some(r) = set.join_next().await {
                        sum += ok(r.expect("task ran"));
                    }
                    sum
                })
            },
        },
        Case {
            name: "tokio_JoinHandle_vec",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(work(i))).collect();
                    let mut sum = 0;
                    for h in handles {
                        sum += ok(h.await.expect("task ran"));
                    }
                    sum
                })
            },
        },
        Case {
            name: "corral_gather",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let tasks: Vec<_> = (0..n).map(|i| corral::spawn(work(i))).collect();
                    let values = corral::gather(tasks).await.expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
        Case {
            name: "corral_gather_settled",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let tasks: Vec<_> = (0..n).map(|i| corral::spawn(work(i))).collect();
                    let outcomes = corral::gather_settled(tasks).await;
                    outcomes.into_iter().map(|o| o.unwrap()).sum()
                })
            },
        },
        Case {
            // wait takes task handles only (no in-place form): as asyncio.wait(tasks), then
            // each done task's result
            name: "corral_wait",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let tasks: Vec<_> = (0..n).map(|i| corral::spawn(work(i))).collect();
                    let waited = corral::wait(tasks)
                        .return_when(corral::ReturnWhen::AllCompleted)
                        .await
                        .expect("tasks given");
                    assert!(waited.pending.is_empty());
                    let mut sum = 0;
                    for mut task in waited.done {
                        sum += task.try_outcome().expect("finished").unwrap();
                    }
                    sum
                })
            },
        },
        Case {
            name: "corral_as_completed",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let tasks: Vec<_> = (0..n).map(|i| corral::spawn(work(i))).collect();
                    let mut stream = std::pin::pin!(corral::as_completed(tasks));
                    let mut sum = 0;
                    while let Some(done) = stream.next().await {
                        sum += done.outcome.unwrap();
                    }
                    sum
                })
            },
        },
        Case {
            // asyncio.TaskGroup: spawn every child from the body, the group waits for them all
            name: "corral_taskgroup",
            mode: Mode::Spawned,
            run: |n| {
                Box::pin(async move {
                    let children = corral::TaskGroup::new()
                        .run(|g| async move {
                            let children: Vec<_> = (0..n).map(|i| g.spawn(work(i))).collect();
                            Ok::<_, Infallible>(children)
                        })
                        .await
                        .expect("no failure");
                    let mut sum = 0;
                    for mut child in children {
                        sum += child.try_outcome().expect("finished").unwrap();
                    }
                    sum
                })
            },
        },
        // ---- in place: futures polled in the caller's task ----
        Case {
            name: "futures_join_all",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let results = futures::future::join_all((0..n).map(work)).await;
                    results.into_iter().map(ok).sum()
                })
            },
        },
        Case {
            name: "futures_try_join_all",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let values = ok(futures::future::try_join_all((0..n).map(work)).await);
                    values.into_iter().sum()
                })
            },
        },
        Case {
            name: "FuturesUnordered",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let mut set: FuturesUnordered<_> = (0..n).map(work).collect();
                    let mut sum = 0;
                    while let Some(r) = set.next().await {
                        sum += ok(r);
                    }
                    sum
                })
            },
        },
        Case {
            name: "futures_buffered_join_all",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let results = futures_buffered::join_all((0..n).map(work)).await;
                    results.into_iter().map(ok).sum()
                })
            },
        },
        Case {
            name: "corral_gather",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let values = corral::gather((0..n).map(work)).await.expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
        Case {
            name: "corral_gather_settled",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let outcomes = corral::gather_settled((0..n).map(work)).await;
                    outcomes.into_iter().map(|o| o.unwrap()).sum()
                })
            },
        },
        Case {
            name: "corral_as_completed",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    let mut stream = std::pin::pin!(corral::as_completed((0..n).map(work)));
                    let mut sum = 0;
                    while let Some(done) = stream.next().await {
                        sum += done.outcome.unwrap();
                    }
                    sum
                })
            },
        },
        // ---- policies that never fire, on top of in-place gather (issue 11: at most +5 %) ----
        Case {
            name: "corral_gather_rate_unused",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    // A rate far above the load, and a burst that covers every input.
                    let rate =
                        corral::RateLimiter::new(corral::Rate::per_second(u32::MAX), u32::MAX);
                    let values = corral::gather((0..n).map(work))
                        .rate(rate)
                        .await
                        .expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
        Case {
            name: "corral_gather_retry_unused",
            mode: Mode::InPlace,
            run: |n| {
                Box::pin(async move {
                    // Every attempt succeeds at once: the policy only wraps.
                    let policy = corral::RetryPolicy::new();
                    let values = corral::gather((0..n).map(|i| policy.retry(move || work(i))))
                        .await
                        .expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
        // ---- at most LIMIT at once, results in input order (in place, then spawned) ----
        Case {
            name: "futures_util_buffered",
            mode: Mode::Limit100,
            run: |n| {
                Box::pin(async move {
                    let results: Vec<_> = stream::iter((0..n).map(work))
                        .buffered(LIMIT)
                        .collect()
                        .await;
                    results.into_iter().map(ok).sum()
                })
            },
        },
        Case {
            name: "futures_buffered_ordered",
            mode: Mode::Limit100,
            run: |n| {
                Box::pin(async move {
                    let results: Vec<_> = stream::iter((0..n).map(work))
                        .buffered_ordered(LIMIT)
                        .collect()
                        .await;
                    results.into_iter().map(ok).sum()
                })
            },
        },
        Case {
            name: "tokio_spawn_buffered",
            mode: Mode::Limit100Spawned,
            run: |n| {
                Box::pin(async move {
                    // spawned only when admitted: `buffered` pulls the next input when there is room
                    let results: Vec<_> = stream::iter((0..n).map(|i| tokio::spawn(work(i))))
                        .buffered(LIMIT)
                        .collect()
                        .await;
                    results.into_iter().map(|r| ok(r.expect("task ran"))).sum()
                })
            },
        },
        Case {
            name: "corral_gather_limit",
            mode: Mode::Limit100,
            run: |n| {
                Box::pin(async move {
                    let values = corral::gather((0..n).map(work))
                        .limit(LIMIT)
                        .await
                        .expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
        Case {
            name: "corral_gather_limit",
            mode: Mode::Limit100Spawned,
            run: |n| {
                Box::pin(async move {
                    // the iterator is pulled lazily, so each task is spawned when admitted
                    let values = corral::gather((0..n).map(|i| corral::spawn(work(i))))
                        .limit(LIMIT)
                        .await
                        .expect("no failure");
                    values.into_iter().sum()
                })
            },
        },
    ]
}
