//! Randomized task groups on the paused clock: random durations, errors, panics, nesting,
//! late spawns, children spawning children, limits and supervisor mode. After each case:
//! no task is alive, every error that happened is reported exactly once, no group ran more
//! children at once than its limit, and the group ended at the virtual time a simple model of
//! the scenario predicts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Failure, GroupError, Spawner, TaskGroup};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{sleep, Instant};

/// One virtual time unit.
const UNIT: Duration = Duration::from_millis(10);
const CASES: u64 = 300;

#[derive(Debug, Clone, PartialEq)]
enum TErr {
    Leaf(u32),
    Group(Box<GroupError<TErr>>),
}

impl fmt::Display for TErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TErr::Leaf(id) => write!(f, "leaf {id}"),
            TErr::Group(g) => g.fmt(f),
        }
    }
}

impl From<GroupError<TErr>> for TErr {
    fn from(e: GroupError<TErr>) -> Self {
        TErr::Group(Box::new(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    Ok,
    Err(u32),
    Panic(u32),
}

impl Ending {
    fn fails(self) -> bool {
        !matches!(self, Ending::Ok)
    }
}

#[derive(Debug, Clone)]
enum Kid {
    Leaf(u64, Ending),
    Nested(Box<Spec>),
    /// Sleeps, spawns a grandchild leaf into the same group, returns Ok.
    Spawner(u64, u64, Ending),
}

#[derive(Debug, Clone)]
struct Spec {
    limit: Option<usize>,
    supervisor: bool,
    kids: Vec<Kid>,
    body: u64,
    late: Vec<Kid>,
    body_end: Ending,
}

// ---------------------------------------------------------------------------------------------
// Generating

struct Gen {
    rng: SmallRng,
    next_id: u32,
}

impl Gen {
    fn ending(&mut self) -> Ending {
        let id = self.next_id;
        self.next_id += 1;
        match self.rng.gen_range(0..10) {
            0..=5 => Ending::Ok,
            6..=8 => Ending::Err(id),
            _ => Ending::Panic(id),
        }
    }

    fn kid(&mut self, depth: u32, limited: bool) -> Kid {
        match self.rng.gen_range(0..10) {
            0..=1 if depth < 2 => Kid::Nested(Box::new(self.spec(depth + 1))),
            2 if !limited => {
                let (d, gd) = (self.rng.gen_range(0..=6), self.rng.gen_range(0..=6));
                Kid::Spawner(d, gd, self.ending())
            }
            _ => Kid::Leaf(self.rng.gen_range(0..=10), self.ending()),
        }
    }

    fn spec(&mut self, depth: u32) -> Spec {
        let limit = self
            .rng
            .gen_bool(0.4)
            .then(|| self.rng.gen_range(1..=3usize));
        let limited = limit.is_some();
        let n = self.rng.gen_range(0..=4);
        let kids = (0..n).map(|_| self.kid(depth, limited)).collect();
        let n = self.rng.gen_range(0..=2);
        let late = (0..n).map(|_| self.kid(depth, limited)).collect();
        Spec {
            limit,
            supervisor: self.rng.gen_bool(0.25),
            kids,
            body: self.rng.gen_range(0..=8),
            late,
            body_end: if self.rng.gen_bool(0.3) {
                self.ending()
            } else {
                Ending::Ok
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model: when a group ends, and whether it fails

struct Sim {
    end: u64,
    failed: bool,
}

/// Each member's end and whether it fails, as if nothing were cancelled. Children wait for a
/// permit in spawn order (first the initial ones, then the late ones at `body`), each taking
/// the earliest released one. A group that fails at F cancels everything at F, so anything
/// after F never happens and anything before it happened exactly as modelled.
fn sim(spec: &Spec) -> Sim {
    let slots = spec.limit.unwrap_or(usize::MAX).min(16);
    let mut free: BinaryHeap<Reverse<u64>> = (0..slots).map(|_| Reverse(0)).collect();
    let mut events: Vec<(u64, bool)> = vec![(spec.body, spec.body_end.fails())];
    let mut schedule = |kid: &Kid, enqueued: u64, events: &mut Vec<(u64, bool)>| {
        let Reverse(slot) = free.pop().expect("slots");
        let start = slot.max(enqueued);
        let (dur, fails) = match kid {
            Kid::Leaf(d, e) => (*d, e.fails()),
            Kid::Nested(inner) => {
                let s = sim(inner);
                (s.end, s.failed)
            }
            Kid::Spawner(d, gd, ge) => {
                events.push((start + d + gd, ge.fails()));
                (*d, false)
            }
        };
        free.push(Reverse(start + dur));
        events.push((start + dur, fails));
    };
    for kid in &spec.kids {
        schedule(kid, 0, &mut events);
    }
    for kid in &spec.late {
        schedule(kid, spec.body, &mut events);
    }
    let last = events.iter().map(|e| e.0).max().unwrap_or(0);
    if spec.supervisor {
        if spec.body_end.fails() {
            return Sim {
                end: spec.body,
                failed: true,
            };
        }
        let failed = events.iter().any(|e| e.1);
        return Sim { end: last, failed };
    }
    match events.iter().filter(|e| e.1).map(|e| e.0).min() {
        Some(f) => Sim {
            end: f,
            failed: true,
        },
        None => Sim {
            end: last,
            failed: false,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Running

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    peak: AtomicUsize,
}

struct Running(Arc<Counters>);

impl Running {
    fn enter(c: &Arc<Counters>) -> Running {
        let now = c.running.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak.fetch_max(now, Ordering::SeqCst);
        Running(c.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A group's limit and its counters.
type GroupStats = (Option<usize>, Arc<Counters>);

#[derive(Clone, Default)]
struct Env {
    /// Ids of the errors and panics that happened.
    happened: Arc<Mutex<Vec<u32>>>,
    /// Each group's limit and its counters.
    groups: Arc<Mutex<Vec<GroupStats>>>,
}

fn finish(end: Ending, env: &Env) -> Result<(), TErr> {
    match end {
        Ending::Ok => Ok(()),
        Ending::Err(id) => {
            env.happened.lock().unwrap().push(id);
            Err(TErr::Leaf(id))
        }
        Ending::Panic(id) => {
            env.happened.lock().unwrap().push(id);
            panic!("leaf {id}");
        }
    }
}

async fn leaf(d: u64, end: Ending, counters: Arc<Counters>, env: Env) -> Result<(), TErr> {
    let _running = Running::enter(&counters);
    sleep(UNIT * d as u32).await;
    finish(end, &env)
}

fn child(
    kid: Kid,
    g: Spawner<TErr>,
    counters: Arc<Counters>,
    env: Env,
) -> Pin<Box<dyn Future<Output = Result<(), TErr>> + Send>> {
    match kid {
        Kid::Leaf(d, end) => Box::pin(leaf(d, end, counters, env)),
        Kid::Nested(spec) => Box::pin(async move {
            let _running = Running::enter(&counters);
            run_group(*spec, env).await.map_err(TErr::from)
        }),
        Kid::Spawner(d, gd, ge) => Box::pin(async move {
            let _running = Running::enter(&counters);
            sleep(UNIT * d as u32).await;
            // Refused if the group is shutting down at this very instant: that is fine.
            g.spawn(leaf(gd, ge, counters.clone(), env));
            Ok(())
        }),
    }
}

fn run_group(
    spec: Spec,
    env: Env,
) -> Pin<Box<dyn Future<Output = Result<(), GroupError<TErr>>> + Send>> {
    Box::pin(async move {
        let counters = Arc::new(Counters::default());
        env.groups
            .lock()
            .unwrap()
            .push((spec.limit, counters.clone()));
        let mut group = TaskGroup::new();
        if let Some(n) = spec.limit {
            group = group.limit(n);
        }
        if spec.supervisor {
            group = group.supervisor();
        }
        group
            .run(|g| async move {
                for kid in spec.kids {
                    g.spawn(child(kid, g.clone(), counters.clone(), env.clone()));
                }
                sleep(UNIT * spec.body as u32).await;
                for kid in spec.late {
                    g.spawn(child(kid, g.clone(), counters.clone(), env.clone()));
                }
                finish(spec.body_end, &env)
            })
            .await
    })
}

/// Every leaf id in a group error, through nested groups.
fn reported(err: &GroupError<TErr>, out: &mut Vec<u32>) {
    for f in err.failures() {
        match &f.failure {
            Failure::Error(TErr::Leaf(id)) => out.push(*id),
            Failure::Error(TErr::Group(inner)) => reported(inner, out),
            Failure::Panicked(p) => {
                let id = p
                    .message()
                    .strip_prefix("leaf ")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected panic {p:?}"));
                out.push(id);
            }
            Failure::Cancelled(c) => panic!("a cancellation is not a failure: {c:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn random_groups_keep_every_error_respect_limits_and_end_on_time() {
    // The scenarios' own panics are expected; keep the output readable, report the rest.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let leaf = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("leaf "));
        if !leaf {
            default_hook(info);
        }
    }));
    let failures_seen = AtomicU64::new(0);
    for case in 0..CASES {
        let mut r#gen = Gen {
            rng: SmallRng::seed_from_u64(case),
            next_id: 0,
        };
        let spec = r#gen.spec(0);
        let predicted = sim(&spec);
        let env = Env::default();
        let t0 = Instant::now();
        let result = run_group(spec.clone(), env.clone()).await;
        let took = t0.elapsed();
        let ctx = format!("case {case}: {spec:#?}");

        assert_eq!(took, UNIT * predicted.end as u32, "end time; {ctx}");
        assert_eq!(result.is_err(), predicted.failed, "failed; {ctx}");
        let mut got = Vec::new();
        if let Err(e) = &result {
            assert!(!e.is_empty(), "a failed group lists its failures; {ctx}");
            reported(e, &mut got);
            failures_seen.fetch_add(1, Ordering::Relaxed);
        }
        got.sort_unstable();
        let mut happened = env.happened.lock().unwrap().clone();
        happened.sort_unstable();
        assert_eq!(got, happened, "errors reported exactly once; {ctx}");
        for (limit, c) in env.groups.lock().unwrap().iter() {
            if let Some(limit) = limit {
                assert!(c.peak.load(Ordering::SeqCst) <= *limit, "limit; {ctx}");
            }
            assert_eq!(c.running.load(Ordering::SeqCst), 0, "still running; {ctx}");
        }
        assert_eq!(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            0,
            "tasks left alive; {ctx}"
        );
    }
    // The generator must exercise both paths.
    let failed = failures_seen.load(Ordering::Relaxed);
    assert!(
        failed > CASES / 5 && failed < CASES * 4 / 5,
        "{failed} of {CASES} failed"
    );
}
