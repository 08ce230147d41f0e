//! Multi-thread stress: thousands of randomized operations on a 2-worker runtime, several
//! running at once, each checked against what its inputs did, and at the end a check that
//! nothing is left running.
//!
//! Every operation builds random leaf bodies (yields, millisecond sleeps, then a value, an
//! error, a panic, or waiting forever; some listen with `cancelled()` and clean up; some hold a
//! permit of a shared [`Limiter`]) and runs them through one of corral's combinators: gather,
//! gather_settled, race, any, quorum, as_completed (partly consumed, then dropped or
//! cancelled), wait (then the pending ones cancelled), task groups (children that succeed,
//! fail, panic, spawn more, nested groups, limits, supervisor mode), spawned tasks that are
//! cancelled, aborted or detached, timeouts and wait_for, shield, and the Limiter itself. The
//! combinator's future is often dropped at a random point (a tiny `tokio::time::timeout`, or a
//! few manual polls), and whole operations run inside timeout scopes and inside tasks that are
//! cancelled part-way.
//!
//! Checked after each operation: its result is one the documentation allows for what the
//! inputs did (input order, the first failure of a poll pass going to the lowest index, every
//! failure kept, quorum's counts, ...), and the bodies it ran have ended whenever the
//! combinator promises that (it returned, or it was a plain future that was dropped). Checked
//! at the end, after a bounded settle period (aborting a task on another worker is
//! asynchronous): no body is alive, the runtime has no task left beyond the baseline
//! (`RuntimeMetrics::num_alive_tasks`, stable since tokio 1.39), the shared limiter has all its
//! permits back, and no panic other than the scenarios' own happened anywhere.
//!
//! # Reproducing
//!
//! A failure names its lane, its operation, the operation's own seed and plan, and prints the
//! seed of the run. `CORRAL_STRESS_SEED=<seed>` replays the same operations (which operation,
//! which inputs, which drop points); thread interleavings still vary, so a rare race may need a
//! few runs. `CORRAL_STRESS_OPS=<n>` sets the number of operations per test (default a few
//! thousand), `CORRAL_STRESS_LANES=<n>` how many run at once (default 3; 1 is the most
//! repeatable).
//!
//! # Found and fixed, and one documented exception
//!
//! This test found five library bugs, K1 to K5. Four are fixed, each with a reduced test in
//! the test file of its concept: K2 (`quorum(0)` and `k > n` left task inputs running) in
//! `race.rs`, K3 (an error returned as a cancel request arrived became `Cancelled`) in
//! `task.rs` and `group.rs`, K4 (an unpolled zero `wait_for` took a borrowed task's outcome)
//! in `wait_for.rs`, K5 (a group started under a pending cancel request was dropped, not
//! drained) in `group.rs` and `timeout.rs`.
//!
//! K1 is documented instead (under `Gather::limit`, with the test
//! `gather::with_a_limit_tasks_left_in_the_iterator_after_a_failure_are_aborted_not_drained`):
//! with a limit, `gather(tasks)` does not pull the inputs still in the iterator when a failure
//! comes, so a task handle there is dropped, which aborts its task (no cleanup, and it may
//! end just after `gather` returns), as race, any and quorum do. Draining those tasks would
//! mean pulling the rest of the iterator, and an iterator that spawns its tasks as it is
//! pulled (the usual reason to limit tasks) would then spawn all the rest just to cancel them.
//! So by default the check that gather leaves nothing running is relaxed there, as it is for
//! race, any and quorum. `CORRAL_STRESS_STRICT_GATHER_LIMIT=1` makes it strict; it then fails,
//! tagged `[documented K1]`.

mod common;
use common::ms;

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::task::Poll;
use std::time::Duration;

use corral::{
    AnyError, Builder, CancelRequest, Child, Completed, Elapsed, Failure, GroupError, Limiter,
    Outcome, OwnedPermit, Permit, QuorumError, RaceError, ReturnWhen, Spawner, Task, TaskGroup,
    TaskRef, Winner,
};
use futures::{FutureExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::yield_now;
use tokio::time::{sleep, Instant};

// ---------------------------------------------------------------------------------------------
// Knobs

/// Permits of the limiter that leaf bodies share across all operations of a test.
const SHARED_PERMITS: usize = 3;
/// Grace of spawned tasks that listen for a cancel request (their cleanup takes ~1 ms).
const TASK_GRACE: Duration = Duration::from_millis(300);
/// Grace of timeout scopes and group bodies. Short: a scope whose listener has cleaned up may
/// still hold a sibling that never ends, and waits this long for it.
const SCOPE_GRACE: Duration = Duration::from_millis(50);
/// An operation that takes longer than this is reported as hung (they take milliseconds).
const OP_HANG: Duration = Duration::from_secs(20);
/// How long the end-of-test checks wait for aborted tasks to go away.
const SETTLE: Duration = Duration::from_secs(5);
/// How long the whole test may take before it is reported as hung (a deadlocked runtime).
const WATCHDOG: Duration = Duration::from_secs(120);
/// Ok value of a leaf that was asked to stop and cleaned up: its id plus this.
const CLEAN: u32 = 1_000_000;
/// Marker in the failure log for a nested group that ended cancelled by its own body.
const NESTED_CANCEL: u32 = u32::MAX;
/// The message of the scenarios' own panics (the panic hook keeps them quiet).
const PANIC: &str = "stress panic ";
/// The message of the cancel requests the scenarios send.
const CANCEL_MSG: &str = "stress cancel";

// ---------------------------------------------------------------------------------------------
// Configuration

struct Config {
    seed: u64,
    ops: usize,
    lanes: usize,
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let s = raw.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={raw:?} is not a number ({e}); unset it or give e.g. {name}=42"),
    }
}

/// The seed of this process: `CORRAL_STRESS_SEED`, or a random one.
fn master_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        env_number("CORRAL_STRESS_SEED").unwrap_or_else(|| {
            let mut h = RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        })
    })
}

fn config(test: u64, default_ops: usize) -> Config {
    let ops = env_number("CORRAL_STRESS_OPS").map_or(default_ops, |n| n as usize);
    let lanes = env_number("CORRAL_STRESS_LANES").map_or(3, |n| (n as usize).max(1));
    Config {
        seed: splitmix(master_seed() ^ splitmix(test)),
        ops,
        lanes,
    }
}

/// `CORRAL_STRESS_REPLAY=<test>:<op seed>`: the named test runs only that operation, over and
/// over, in every lane (the other tests do nothing).
fn replay() -> Option<(String, u64)> {
    let raw = std::env::var("CORRAL_STRESS_REPLAY").ok()?;
    let parsed = raw.split_once(':').and_then(|(test, seed)| {
        let seed = seed.trim();
        let n = match seed.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => seed.parse().ok(),
        };
        Some((test.to_string(), n?))
    });
    match parsed {
        Some(p) => Some(p),
        None => panic!(
            "CORRAL_STRESS_REPLAY={raw:?}: give <test>:<op seed>, e.g. groups:0x8c0f4986631c82d0"
        ),
    }
}

/// `CORRAL_STRESS_STRICT_GATHER_LIMIT=1` checks that `gather(tasks).limit(n)` drains the task
/// inputs it never pulled, which it documents that it does not do (see the module docs).
fn strict_gather_limit() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| env_number("CORRAL_STRESS_STRICT_GATHER_LIMIT").is_some_and(|n| n != 0))
}

/// A failure that a documented behaviour explains (see the module docs).
fn documented(id: &str, msg: &str) -> String {
    format!("[documented {id}] {msg}")
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Shared state: what is alive, what failed, what went wrong

/// The error type of every body; groups nest theirs.
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A check that failed in another thread must not hide this one's report.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one test shares across its operations.
struct EnvInner {
    /// Bodies alive now, over all operations.
    live: AtomicUsize,
    limiter: Arc<Limiter>,
    /// Holders of a `limiter` permit now.
    holders: AtomicUsize,
    /// Inconsistencies seen inside bodies, where there is nobody to return an error to.
    problems: Mutex<Vec<String>>,
    ops: Mutex<Vec<Arc<OpStats>>>,
    /// How often interesting paths were taken, for the summary.
    coverage: Mutex<std::collections::BTreeMap<&'static str, usize>>,
}

#[derive(Clone)]
struct Env(Arc<EnvInner>);

impl Env {
    fn new() -> Env {
        Env(Arc::new(EnvInner {
            live: AtomicUsize::new(0),
            limiter: Arc::new(Limiter::new(SHARED_PERMITS)),
            holders: AtomicUsize::new(0),
            problems: Mutex::new(Vec::new()),
            ops: Mutex::new(Vec::new()),
            coverage: Mutex::new(Default::default()),
        }))
    }

    fn count(&self, what: &'static str) {
        *lock(&self.0.coverage).entry(what).or_default() += 1;
    }

    fn problem(&self, p: String) {
        lock(&self.0.problems).push(p);
    }

    async fn permit(&self) -> SharedPermit {
        let permit = self.0.limiter.clone().acquire_owned().await;
        let holders = self.0.holders.fetch_add(1, SeqCst) + 1;
        if holders > SHARED_PERMITS {
            self.problem(format!(
                "shared limiter: {holders} holders of {SHARED_PERMITS} permits"
            ));
        }
        SharedPermit {
            env: self.clone(),
            _permit: permit,
        }
    }
}

/// A permit of the shared limiter; leaves the holder count before the permit goes back.
struct SharedPermit {
    env: Env,
    _permit: OwnedPermit,
}

impl Drop for SharedPermit {
    fn drop(&mut self) {
        self.env.0.holders.fetch_sub(1, SeqCst);
    }
}

/// One operation's record.
#[derive(Default)]
struct OpStats {
    desc: String,
    plan: Mutex<String>,
    /// Bodies of this operation alive now, and what they are.
    live: AtomicUsize,
    alive: Mutex<Vec<String>>,
    /// Bodies of this operation that ever started.
    started: AtomicUsize,
    /// Ids of the errors and panics that happened (a body recorded it just before).
    happened: Mutex<Vec<u32>>,
    groups: Mutex<Vec<Arc<GroupRec>>>,
}

impl OpStats {
    fn fail(&self, id: u32) {
        lock(&self.happened).push(id);
    }

    fn happened(&self, id: u32) -> bool {
        lock(&self.happened).contains(&id)
    }

    fn live(&self) -> usize {
        self.live.load(SeqCst)
    }

    fn plan(&self, plan: &dyn fmt::Debug) {
        *lock(&self.plan) = format!("{plan:?}");
    }
}

/// What an operation's code needs: its record, the test's shared state, and whether cancel
/// requests from outside (an enclosing timeout scope or cancelled task) may reach its plain
/// futures, which makes outcomes less predictable.
#[derive(Clone)]
struct Cx {
    op: Arc<OpStats>,
    env: Env,
    exposed: bool,
}

/// Counts a body as alive from its first poll until it is dropped.
struct Alive {
    env: Env,
    op: Arc<OpStats>,
    what: String,
}

impl Alive {
    fn enter(cx: &Cx, what: String) -> Alive {
        lock(&cx.op.alive).push(what.clone());
        cx.env.0.live.fetch_add(1, SeqCst);
        cx.op.live.fetch_add(1, SeqCst);
        cx.op.started.fetch_add(1, SeqCst);
        Alive {
            env: cx.env.clone(),
            op: cx.op.clone(),
            what,
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.op.live.fetch_sub(1, SeqCst);
        self.env.0.live.fetch_sub(1, SeqCst);
        let mut alive = lock(&self.op.alive);
        if let Some(k) = alive.iter().position(|w| *w == self.what) {
            alive.swap_remove(k);
        }
    }
}

type Res = Result<(), String>;

macro_rules! ensure {
    ($cond:expr_2021, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Leaves: the bodies every operation runs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Yield,
    Sleep(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Ok,
    Err,
    Panic,
    /// Never ends by itself.
    Hang,
}

/// What a listening body does once asked to stop: return a value, an error, or the
/// cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnCancel {
    Value,
    Error,
    Propagate,
}

#[derive(Debug, Clone)]
struct Leaf {
    id: u32,
    steps: Vec<Step>,
    end: End,
    listen: Option<OnCancel>,
    permit: bool,
}

impl Leaf {
    /// Completes during its first poll.
    fn immediate(&self) -> bool {
        self.steps.is_empty() && !self.permit && self.end != End::Hang
    }

    /// Certainly does not complete during its first poll.
    fn suspends(&self) -> bool {
        self.end == End::Hang || self.steps.first() == Some(&Step::Yield)
    }

    fn fails(&self) -> bool {
        matches!(self.end, End::Err | End::Panic)
    }
}

type LeafFut = Pin<Box<dyn Future<Output = Result<u32, TErr>> + Send>>;
type LeafOutcome = Outcome<u32, TErr>;

async fn run_steps(steps: &[Step]) {
    for s in steps {
        match s {
            Step::Yield => yield_now().await,
            Step::Sleep(n) => sleep(ms(*n)).await,
        }
    }
}

fn leaf_fut(spec: Leaf, cx: Cx) -> LeafFut {
    Box::pin(async move {
        let _alive = Alive::enter(&cx, format!("leaf {}", spec.id));
        let _permit = if spec.permit {
            Some(cx.env.permit().await)
        } else {
            None
        };
        match spec.listen {
            None => work(&spec, &cx.op).await,
            Some(on) => tokio::select! {
                req = corral::cancelled() => cleanup(spec.id, on, req, &cx).await,
                r = work(&spec, &cx.op) => r,
            },
        }
    })
}

async fn work(spec: &Leaf, op: &OpStats) -> Result<u32, TErr> {
    run_steps(&spec.steps).await;
    match spec.end {
        End::Ok => Ok(spec.id),
        End::Err => {
            op.fail(spec.id);
            Err(TErr::Leaf(spec.id))
        }
        End::Panic => {
            op.fail(spec.id);
            panic!("{PANIC}{}", spec.id)
        }
        End::Hang => std::future::pending().await,
    }
}

/// A listener's asynchronous cleanup, then the ending it chose.
async fn cleanup<T>(id: u32, on: OnCancel, req: CancelRequest, cx: &Cx) -> Result<T, TErr>
where
    T: From<u32>,
{
    if !corral::is_cancel_requested() {
        cx.env.problem(format!(
            "{}: body {id} got a cancel request but is_cancel_requested() is false",
            cx.op.desc
        ));
    }
    cx.env.count("listener cleaned up");
    yield_now().await;
    sleep(ms(1)).await;
    match on {
        OnCancel::Value => Ok(T::from(id + CLEAN)),
        OnCancel::Error => {
            cx.op.fail(id);
            Err(TErr::Leaf(id))
        }
        OnCancel::Propagate => req.propagate().await,
    }
}

/// Which cancellations an outcome may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MayCancel {
    No,
    Any,
    /// Only one carrying this message.
    Msg(&'static str),
    /// Only one without a message.
    NoMsg,
}

/// Whether `o` is an ending the leaf can have: its own, the one its cleanup chooses, or a
/// cancellation where one was possible.
fn check_leaf(spec: &Leaf, o: &Outcome<u32, TErr>, cancel: MayCancel, op: &OpStats) -> Res {
    let ok = match o {
        Outcome::Ok(v) => {
            (*v == spec.id && spec.end == End::Ok)
                || (*v == spec.id + CLEAN && spec.listen == Some(OnCancel::Value))
        }
        Outcome::Err(TErr::Leaf(x)) => {
            *x == spec.id
                && (spec.end == End::Err || spec.listen == Some(OnCancel::Error))
                && op.happened(spec.id)
        }
        Outcome::Err(TErr::Group(_)) => false,
        Outcome::Panicked(p) => {
            spec.end == End::Panic && p.message() == format!("{PANIC}{}", spec.id)
        }
        Outcome::Cancelled(c) => match cancel {
            MayCancel::No => false,
            MayCancel::Any => true,
            MayCancel::Msg(m) => c.message() == Some(m),
            MayCancel::NoMsg => c.message().is_none(),
        },
    };
    ensure!(
        ok,
        "leaf {spec:?} ended with {o:?}, which it cannot (cancellation allowed: {cancel:?})"
    );
    Ok(())
}

fn failure_outcome(f: &Failure<TErr>) -> Outcome<u32, TErr> {
    Outcome::from(f.clone())
}

// ---------------------------------------------------------------------------------------------
// Generating

struct Gen {
    rng: SmallRng,
    next_id: u32,
}

#[derive(Clone, Copy, Default)]
struct LeafOpts {
    hang: bool,
    panic: bool,
    permit: bool,
    /// Each leaf either completes in its first poll or surely suspends in it.
    first_pass: bool,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: SmallRng::seed_from_u64(seed),
            next_id: 0,
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn steps(&mut self) -> Vec<Step> {
        let n = self.rng.gen_range(0..=3);
        (0..n)
            .map(|_| {
                if self.chance(0.6) {
                    Step::Yield
                } else {
                    Step::Sleep(self.rng.gen_range(1..=2))
                }
            })
            .collect()
    }

    fn leaf(&mut self, o: LeafOpts) -> Leaf {
        let id = self.id();
        let end = match self.rng.gen_range(0..100) {
            0..=54 => End::Ok,
            55..=79 => End::Err,
            80..=89 if o.panic => End::Panic,
            90..=99 if o.hang => End::Hang,
            _ => End::Ok,
        };
        let listen = self.chance(0.25).then(|| match self.rng.gen_range(0..3) {
            0 => OnCancel::Value,
            1 => OnCancel::Error,
            _ => OnCancel::Propagate,
        });
        let mut permit = o.permit && end != End::Hang && self.chance(0.15);
        let mut steps = self.steps();
        if o.first_pass {
            if self.chance(0.5) {
                steps.clear();
                permit = false;
            } else {
                steps.insert(0, Step::Yield);
            }
        }
        Leaf {
            id,
            steps,
            end,
            listen,
            permit,
        }
    }

    fn drive(&mut self) -> Drive {
        if self.chance(0.7) {
            Drive::Complete
        } else {
            self.drop_point()
        }
    }

    fn drop_point(&mut self) -> Drive {
        if self.chance(0.5) {
            Drive::Within(Duration::from_micros(self.rng.gen_range(0..3000)))
        } else {
            Drive::Polls(self.rng.gen_range(0..6))
        }
    }

    fn tiny(&mut self) -> Duration {
        Duration::from_micros(self.rng.gen_range(0..4000))
    }

    async fn pause(&mut self) {
        for _ in 0..self.rng.gen_range(0..4) {
            if self.chance(0.7) {
                yield_now().await;
            } else {
                sleep(ms(1)).await;
            }
        }
    }
}

/// How the operation's main future is awaited: to the end, or dropped part-way.
#[derive(Debug, Clone, Copy)]
enum Drive {
    Complete,
    /// Dropped if not done within this (`tokio::time::timeout`).
    Within(Duration),
    /// Polled this many times (with a yield or a 1 ms sleep between), then dropped.
    Polls(u32),
}

async fn drive<F: Future>(d: Drive, fut: F) -> Option<F::Output> {
    match d {
        Drive::Complete => Some(fut.await),
        Drive::Within(t) => tokio::time::timeout(t, fut).await.ok(),
        Drive::Polls(n) => {
            let mut fut = pin!(fut);
            for i in 0..n {
                if let Poll::Ready(v) = futures::poll!(fut.as_mut()) {
                    return Some(v);
                }
                if i % 2 == 0 {
                    yield_now().await;
                } else {
                    sleep(ms(1)).await;
                }
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs of the many-input combinators

/// The leaves of a many-input operation and how they run.
#[derive(Debug)]
struct Plan {
    specs: Vec<Leaf>,
    /// Per input: a task that cancels it (with `CANCEL_MSG`) after this many yields.
    cancel: Vec<Option<u32>>,
    tasks: bool,
    limit: Option<usize>,
    drive: Drive,
    first_pass: bool,
}

impl Plan {
    fn n(&self) -> usize {
        self.specs.len()
    }

    fn may_cancel(&self, i: usize) -> MayCancel {
        if self.cancel[i].is_some() {
            MayCancel::Msg(CANCEL_MSG)
        } else {
            MayCancel::No
        }
    }

    /// Ends by itself, or is cancelled.
    fn finishes(&self, i: usize) -> bool {
        self.specs[i].end != End::Hang || self.cancel[i].is_some()
    }

    fn surely_fails(&self, i: usize) -> bool {
        let s = &self.specs[i];
        s.fails() && !(self.cancel[i].is_some() && s.listen == Some(OnCancel::Value))
    }

    /// (A task cancelled before it first runs never runs, so it never gets to clean up.)
    fn surely_succeeds(&self, i: usize) -> bool {
        self.specs[i].end == End::Ok && self.cancel[i].is_none()
    }

    /// The first poll decides what the documented tie rules predict: plain futures, no limit,
    /// each input either done in its first poll or surely suspended by it, nothing from outside.
    fn deterministic(&self, cx: &Cx) -> bool {
        let yes = self.first_pass
            && !self.tasks
            && self.limit.is_none()
            && !cx.exposed
            && self.specs.iter().all(|s| s.immediate() || s.suspends());
        if yes {
            cx.env.count("first-poll tie rule checked");
        }
        yes
    }

    /// Inputs done in the first poll, in input order.
    fn immediate(&self) -> impl Iterator<Item = (usize, &Leaf)> {
        self.specs.iter().enumerate().filter(|(_, s)| s.immediate())
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.specs.iter().position(|s| s.id == id)
    }

    /// The input a failure came from, if the failure names one.
    fn failure_index(&self, f: &Failure<TErr>) -> Option<usize> {
        match f {
            Failure::Error(TErr::Leaf(id)) => self.index_of(*id),
            Failure::Panicked(p) => p
                .message()
                .strip_prefix(PANIC)
                .and_then(|s| s.parse().ok())
                .and_then(|id| self.index_of(id)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
struct PlanOpts {
    cancellers: bool,
    hang: bool,
}

impl Gen {
    /// A plan whose operation ends by itself: hangs are turned into successes until
    /// `terminates` holds and a limit cannot be filled with inputs that never end.
    fn plan(&mut self, o: PlanOpts, terminates: impl Fn(&Plan) -> bool) -> Plan {
        let n = self.rng.gen_range(0..=6);
        let tasks = self.chance(0.4);
        let first_pass = !tasks && self.chance(0.3);
        let opts = LeafOpts {
            hang: o.hang,
            panic: true,
            permit: true,
            first_pass,
        };
        let specs: Vec<Leaf> = (0..n).map(|_| self.leaf(opts)).collect();
        let cancel = (0..n)
            .map(|_| (o.cancellers && tasks && self.chance(0.2)).then(|| self.rng.gen_range(0..4)))
            .collect();
        let limit = self.chance(0.3).then(|| self.rng.gen_range(1..=3));
        let mut plan = Plan {
            specs,
            cancel,
            tasks,
            limit,
            drive: self.drive(),
            first_pass,
        };
        loop {
            let stuck = (0..plan.n()).filter(|&i| !plan.finishes(i)).count();
            if plan.limit.is_none_or(|l| stuck < l) && terminates(&plan) {
                return plan;
            }
            let hang = (0..plan.n()).find(|&i| !plan.finishes(i));
            let Some(i) = hang else {
                panic!("generator: cannot make {plan:?} terminate");
            };
            plan.specs[i].end = End::Ok;
        }
    }
}

enum Inputs {
    InPlace(Vec<LeafFut>),
    Tasks(Vec<Task<u32, TErr>>),
}

/// Expands `$body` once for plain futures and once for task handles.
macro_rules! with_inputs {
    ($inputs:expr_2021, |$v:ident| $body:expr_2021) => {
        match $inputs {
            Inputs::InPlace($v) => $body,
            Inputs::Tasks($v) => $body,
        }
    };
}

fn spawn_leaf(spec: &Leaf, cx: &Cx) -> Task<u32, TErr> {
    Builder::new()
        .grace(TASK_GRACE)
        .spawn(leaf_fut(spec.clone(), cx.clone()))
}

fn spawn_canceller(task: TaskRef, yields: u32) {
    tokio::spawn(async move {
        for _ in 0..yields {
            yield_now().await;
        }
        task.cancel_with(CANCEL_MSG);
    });
}

fn inputs(plan: &Plan, cx: &Cx) -> Inputs {
    if plan.tasks {
        Inputs::Tasks(
            plan.specs
                .iter()
                .zip(&plan.cancel)
                .map(|(s, c)| {
                    let t = spawn_leaf(s, cx);
                    if let Some(yields) = c {
                        spawn_canceller(t.task_ref(), *yields);
                    }
                    t
                })
                .collect(),
        )
    } else {
        Inputs::InPlace(
            plan.specs
                .iter()
                .map(|s| leaf_fut(s.clone(), cx.clone()))
                .collect(),
        )
    }
}

/// After the operation's future was dropped: plain futures are dropped with it, at once.
fn after_drop(plan: &Plan, cx: &Cx) -> Res {
    cx.env.count("combinator dropped part-way");
    if !plan.tasks {
        ensure!(
            cx.op.live() == 0,
            "dropping the combinator left {} of its plain futures running",
            cx.op.live()
        );
    }
    Ok(())
}

/// The combinator returned: it promises that nothing it was given is still running.
fn drained(what: &str, cx: &Cx) -> Res {
    ensure!(
        cx.op.live() == 0,
        "{what} returned with {} of its inputs still running: {:?}",
        cx.op.live(),
        lock(&cx.op.alive)
    );
    Ok(())
}

/// Like [`drained`], for race, any, quorum and gather: with a limit, task inputs not yet
/// pulled when the answer is known are dropped, which aborts them (documented under `race` and
/// `Gather::limit`), and an abort on another worker lands later; the end-of-test checks see
/// them go.
fn drained_but_unpulled(what: &str, p: &Plan, cx: &Cx) -> Res {
    if p.tasks && p.limit.is_some() {
        return Ok(());
    }
    drained(what, cx)
}

/// Before an operation whose first poll is checked: a fresh scheduler turn, so that tokio's
/// cooperative budget cannot make a body that is ready at once suspend.
async fn fresh_turn(plan: &Plan) {
    if plan.first_pass {
        yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------------
// gather, gather_settled

async fn op_gather(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: true,
        hang: true,
    };
    let p = g.plan(opts, |p| {
        (0..p.n()).all(|i| p.finishes(i)) || (0..p.n()).any(|i| p.surely_fails(i))
    });
    cx.op.plan(&p);
    let limit = p.limit;
    let ins = inputs(&p, &cx);
    fresh_turn(&p).await;
    let r = with_inputs!(ins, |v| {
        let fut = corral::gather(v);
        let fut = match limit {
            Some(l) => fut.limit(l),
            None => fut,
        };
        drive(p.drive, fut).await
    });
    let Some(r) = r else {
        return after_drop(&p, &cx);
    };
    match &r {
        Ok(values) => {
            ensure!(values.len() == p.n(), "gather gave {values:?}");
            for (i, v) in values.iter().enumerate() {
                check_leaf(&p.specs[i], &Outcome::Ok(*v), p.may_cancel(i), &cx.op)
                    .map_err(|e| format!("gather gave {values:?}: {e}"))?;
            }
        }
        Err(fail) => {
            let (i, f) = (fail.index, &fail.failure);
            ensure!(
                i < p.n(),
                "gather failed with {fail:?}, for an input it was not given"
            );
            let o = failure_outcome(f);
            match f {
                Failure::Cancelled(_) => ensure!(
                    p.cancel[i].is_some(),
                    "gather said input {i} was cancelled, but nothing cancels it"
                ),
                _ => ensure!(
                    p.failure_index(f) == Some(i),
                    "gather said input {i} failed with {f:?}, which input {:?} gives",
                    p.failure_index(f)
                ),
            }
            check_leaf(&p.specs[i], &o, p.may_cancel(i), &cx.op)?;
        }
    }
    if p.tasks && p.limit.is_some() {
        // Documented under `Gather::limit`: task inputs not pulled yet are aborted.
        if !strict_gather_limit() {
            return drained_but_unpulled("gather", &p, &cx);
        }
        return drained("gather", &cx).map_err(|e| {
            documented(
                "K1",
                &format!("{e} (with a limit, unpulled task inputs are aborted, not drained)"),
            )
        });
    }
    if p.deterministic(&cx) {
        // The first failure of the first pass, ties in input order.
        if let Some((i, s)) = p.immediate().find(|(_, s)| s.fails()) {
            let got = r.as_ref().err().map(|f| f.index);
            ensure!(
                got == Some(i),
                "gather gave {r:?}; input {i} ({s:?}) failed in the first poll, the lowest index to do so"
            );
        }
    }
    drained("gather", &cx)
}

async fn op_gather_settled(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: true,
        hang: true,
    };
    let p = g.plan(opts, |p| (0..p.n()).all(|i| p.finishes(i)));
    cx.op.plan(&p);
    let limit = p.limit;
    let ins = inputs(&p, &cx);
    let r = with_inputs!(ins, |v| {
        let fut = corral::gather_settled(v);
        let fut = match limit {
            Some(l) => fut.limit(l),
            None => fut,
        };
        drive(p.drive, fut).await
    });
    let Some(outcomes) = r else {
        return after_drop(&p, &cx);
    };
    ensure!(
        outcomes.len() == p.n(),
        "gather_settled gave {} outcomes for {} inputs",
        outcomes.len(),
        p.n()
    );
    for (i, o) in outcomes.iter().enumerate() {
        check_leaf(&p.specs[i], o, p.may_cancel(i), &cx.op)
            .map_err(|e| format!("gather_settled, input {i}: {e}"))?;
    }
    drained("gather_settled", &cx)
}

// ---------------------------------------------------------------------------------------------
// race, any, quorum

async fn op_race(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: true,
        hang: true,
    };
    let p = g.plan(opts, |p| p.n() == 0 || (0..p.n()).any(|i| p.finishes(i)));
    cx.op.plan(&p);
    let limit = p.limit;
    let ins = inputs(&p, &cx);
    fresh_turn(&p).await;
    let r = with_inputs!(ins, |v| {
        let fut = corral::race(v);
        let fut = match limit {
            Some(l) => fut.limit(l),
            None => fut,
        };
        drive(p.drive, fut).await
    });
    let Some(r) = r else {
        return after_drop(&p, &cx);
    };
    let index = match &r {
        Ok(Winner { index, value }) => {
            ensure!(*index < p.n(), "race gave {r:?}");
            check_leaf(
                &p.specs[*index],
                &Outcome::Ok(*value),
                p.may_cancel(*index),
                &cx.op,
            )?;
            Some(*index)
        }
        Err(RaceError::Failed(f)) => {
            ensure!(f.index < p.n(), "race gave {r:?}");
            check_leaf(
                &p.specs[f.index],
                &failure_outcome(&f.failure),
                p.may_cancel(f.index),
                &cx.op,
            )?;
            Some(f.index)
        }
        Err(RaceError::Empty) => {
            ensure!(p.n() == 0, "race over {} inputs said Empty", p.n());
            None
        }
    };
    if p.deterministic(&cx) {
        if let Some((i, _)) = p.immediate().next() {
            ensure!(
                index == Some(i),
                "race gave {r:?}; input {i} is the lowest index done in the first poll"
            );
        }
    }
    drained_but_unpulled("race", &p, &cx)
}

async fn op_any(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: true,
        hang: true,
    };
    let p = g.plan(opts, |p| {
        (0..p.n()).all(|i| p.finishes(i)) || (0..p.n()).any(|i| p.surely_succeeds(i))
    });
    cx.op.plan(&p);
    let limit = p.limit;
    let ins = inputs(&p, &cx);
    fresh_turn(&p).await;
    let r = with_inputs!(ins, |v| {
        let fut = corral::any(v);
        let fut = match limit {
            Some(l) => fut.limit(l),
            None => fut,
        };
        drive(p.drive, fut).await
    });
    let Some(r) = r else {
        return after_drop(&p, &cx);
    };
    match &r {
        Ok(Winner { index, value }) => {
            ensure!(*index < p.n(), "any gave {r:?}");
            check_leaf(
                &p.specs[*index],
                &Outcome::Ok(*value),
                p.may_cancel(*index),
                &cx.op,
            )?;
        }
        Err(AnyError::Empty) => ensure!(p.n() == 0, "any over {} inputs said Empty", p.n()),
        Err(AnyError::AllFailed(fs)) => {
            let indexes: Vec<usize> = fs.iter().map(|f| f.index).collect();
            ensure!(
                indexes == (0..p.n()).collect::<Vec<_>>(),
                "any: all failed, but the failures list inputs {indexes:?} of {}",
                p.n()
            );
            for f in fs {
                check_leaf(
                    &p.specs[f.index],
                    &failure_outcome(&f.failure),
                    p.may_cancel(f.index),
                    &cx.op,
                )?;
            }
            if !cx.exposed {
                let sure = (0..p.n()).find(|&i| p.surely_succeeds(i));
                ensure!(
                    sure.is_none(),
                    "any: all failed, but input {sure:?} cannot fail: {r:?}"
                );
            }
        }
    }
    if p.deterministic(&cx) {
        if let Some((i, _)) = p.immediate().find(|(_, s)| s.end == End::Ok) {
            let got = r.as_ref().ok().map(|w| w.index);
            ensure!(
                got == Some(i),
                "any gave {r:?}; input {i} is the lowest index to succeed in the first poll"
            );
        }
    }
    drained_but_unpulled("any", &p, &cx)
}

async fn op_quorum(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: false,
        hang: true,
    };
    let k = g.rng.gen_range(0..=5usize);
    let p = g.plan(opts, |p| {
        let n = p.n();
        let s = p.specs.iter().filter(|s| s.end == End::Ok).count();
        let f = p.specs.iter().filter(|s| s.fails()).count();
        k == 0 || k > n || s >= k || f > n - k
    });
    cx.op.plan(&(k, &p));
    let limit = p.limit;
    let ins = inputs(&p, &cx);
    fresh_turn(&p).await;
    let r = with_inputs!(ins, |v| {
        let fut = corral::quorum(k, v);
        let fut = match limit {
            Some(l) => fut.limit(l),
            None => fut,
        };
        drive(p.drive, fut).await
    });
    let Some(r) = r else {
        return after_drop(&p, &cx);
    };
    let n = p.n();
    let successes = p.specs.iter().filter(|s| s.end == End::Ok).count();
    let sorted = |ix: &[usize]| ix.windows(2).all(|w| w[0] < w[1]);
    let check_wins = |ws: &[Winner<u32>]| -> Res {
        let ix: Vec<usize> = ws.iter().map(|w| w.index).collect();
        ensure!(sorted(&ix), "quorum: successes not in input order: {ix:?}");
        for w in ws {
            ensure!(w.index < n, "quorum: success of input {} of {n}", w.index);
            check_leaf(
                &p.specs[w.index],
                &Outcome::Ok(w.value),
                MayCancel::No,
                &cx.op,
            )?;
        }
        Ok(())
    };
    match &r {
        Err(QuorumError::ZeroQuorum) => ensure!(k == 0, "quorum({k}) said ZeroQuorum"),
        _ if k == 0 => return Err(format!("quorum(0) gave {r:?}")),
        Ok(ws) => {
            ensure!(ws.len() == k, "quorum({k}) gave {} successes", ws.len());
            check_wins(ws)?;
        }
        Err(QuorumError::Unreachable {
            needed,
            successes: ws,
            failures: fs,
            inputs,
        }) => {
            ensure!(*needed == k, "quorum({k}) says it needed {needed}");
            ensure!(*inputs == Some(n), "quorum over {n} inputs says {inputs:?}");
            ensure!(
                ws.len() < k,
                "quorum({k}) unreachable with {} successes",
                ws.len()
            );
            check_wins(ws)?;
            let ix: Vec<usize> = fs.iter().map(|f| f.index).collect();
            ensure!(sorted(&ix), "quorum: failures not in input order: {ix:?}");
            let expect = if k > n { 0 } else { n - k + 1 };
            ensure!(
                fs.len() == expect,
                "quorum({k}) of {n} gave up after {} failures, not {expect}",
                fs.len()
            );
            for f in fs {
                ensure!(f.index < n, "quorum: failure of input {} of {n}", f.index);
                let o = failure_outcome(&f.failure);
                check_leaf(&p.specs[f.index], &o, MayCancel::No, &cx.op)?;
            }
        }
    }
    if !cx.exposed && k > 0 {
        // Nothing from outside changes an ending, so the counts decide.
        ensure!(
            r.is_ok() == (successes >= k),
            "quorum({k}) with {successes} inputs that succeed gave {r:?}"
        );
    }
    if p.deterministic(&cx) && k > 0 {
        // Inputs done in the first poll count in input order.
        let (mut s, mut f) = (Vec::new(), Vec::new());
        let mut decided = k > n;
        for (i, spec) in p.immediate() {
            if decided {
                break;
            }
            if spec.end == End::Ok {
                s.push(i);
            } else {
                f.push(i);
            }
            decided = s.len() == k || f.len() > n - k;
        }
        if decided {
            let (got_s, got_f): (Vec<usize>, Vec<usize>) = match &r {
                Ok(ws) => (ws.iter().map(|w| w.index).collect(), Vec::new()),
                Err(QuorumError::Unreachable {
                    successes,
                    failures,
                    ..
                }) => (
                    successes.iter().map(|w| w.index).collect(),
                    failures.iter().map(|f| f.index).collect(),
                ),
                Err(QuorumError::ZeroQuorum) => (Vec::new(), Vec::new()),
            };
            if r.is_ok() {
                f.clear(); // a success lists no failures
            }
            ensure!(
                (got_s.clone(), got_f.clone()) == (s.clone(), f.clone()),
                "quorum({k}) decided in the first poll: expected successes {s:?} and failures \
                 {f:?}, got {got_s:?} and {got_f:?} ({r:?})"
            );
        }
    }
    drained_but_unpulled("quorum", &p, &cx)
}

// ---------------------------------------------------------------------------------------------
// as_completed

/// Index, key and outcome of an item.
type Parts = (usize, Option<u32>, LeafOutcome);

/// An item of any of the as_completed streams used here: index, key, outcome; or the timeout.
trait AcItem {
    fn parts(self) -> Result<Parts, Elapsed>;
}

impl AcItem for Completed<u32, TErr> {
    fn parts(self) -> Result<Parts, Elapsed> {
        Ok((self.index, None, self.outcome))
    }
}

impl AcItem for Completed<u32, TErr, u32> {
    fn parts(self) -> Result<Parts, Elapsed> {
        Ok((self.index, Some(self.key), self.outcome))
    }
}

impl<C: AcItem> AcItem for Result<C, Elapsed> {
    fn parts(self) -> Result<Parts, Elapsed> {
        self.and_then(C::parts)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcEnd {
    Drop,
    CancelRest,
    CancelAll,
    /// Read to the end (re-arming the timeout if it fired).
    Exhaust,
}

#[derive(Debug)]
struct AcPlan {
    plan: Plan,
    keyed: bool,
    ordered: bool,
    /// `Some`: a timeout this long (a long one never fires in practice).
    timeout: Option<Duration>,
    take: usize,
    end: AcEnd,
    /// Each `next()` may be dropped after this long and retried.
    next_within: Option<Duration>,
}

/// What came out of a stream.
#[derive(Default, Debug)]
struct AcLog {
    /// Each item, and whether it came after `cancel_rest`/`cancel_all`.
    items: Vec<(Parts, bool)>,
    elapsed: bool,
    ended: bool,
}

/// Stream operations the checks need, for every stream type.
trait AcStream: futures::Stream + Unpin
where
    Self::Item: AcItem,
{
    fn cancel(&mut self, all: bool);
    fn left(&self) -> usize;
    fn rearm(&mut self) {}
}

macro_rules! ac_stream {
    (untimed $($t:ty),*) => {$(
        impl AcStream for $t {
            fn cancel(&mut self, all: bool) {
                if all { self.cancel_all() } else { self.cancel_rest() }
            }
            fn left(&self) -> usize {
                self.remaining()
            }
        }
    )*};
    (timed $($t:ty),*) => {$(
        impl AcStream for $t {
            fn cancel(&mut self, all: bool) {
                if all { self.cancel_all() } else { self.cancel_rest() }
            }
            fn left(&self) -> usize {
                self.remaining()
            }
            fn rearm(&mut self) {
                self.reschedule(None)
            }
        }
    )*};
}

type Plain = std::vec::IntoIter<LeafFut>;
type Tasks = std::vec::IntoIter<Task<u32, TErr>>;
type KeyedPlain = std::vec::IntoIter<(u32, LeafFut)>;
type KeyedTasks = std::vec::IntoIter<(u32, Task<u32, TErr>)>;

ac_stream!(untimed
    corral::AsCompleted<corral::source::Iter<Plain>>,
    corral::AsCompleted<corral::source::Iter<Tasks>>,
    corral::AsCompleted<corral::source::Keyed<KeyedPlain>>,
    corral::AsCompleted<corral::source::Keyed<KeyedTasks>>
);
ac_stream!(timed
    corral::AsCompleted<corral::source::Iter<Plain>, corral::Timed>,
    corral::AsCompleted<corral::source::Iter<Tasks>, corral::Timed>,
    corral::AsCompleted<corral::source::Keyed<KeyedPlain>, corral::Timed>,
    corral::AsCompleted<corral::source::Keyed<KeyedTasks>, corral::Timed>
);

async fn consume<S>(mut s: S, a: &AcPlan, cx: &Cx) -> Result<AcLog, String>
where
    S: AcStream,
    S::Item: AcItem,
{
    let n = a.plan.n();
    let mut log = AcLog::default();
    ensure!(
        s.left() == n,
        "as_completed: remaining() is {} before the first poll, for {n} inputs",
        s.left()
    );
    while log.items.len() < a.take {
        let next = match a.next_within {
            Some(t) => match tokio::time::timeout(t, s.next()).await {
                Ok(x) => x,
                Err(_) => continue, // a dropped next() loses nothing
            },
            None => s.next().await,
        };
        let Some(item) = next else {
            log.ended = true;
            break;
        };
        match item.parts() {
            Ok(parts) => log.items.push((parts, false)),
            Err(_) => {
                cx.env.count("as_completed timed out");
                log.elapsed = true;
                break;
            }
        }
        ensure!(
            s.left() == n - log.items.len(),
            "as_completed: remaining() is {} after {} of {n} items",
            s.left(),
            log.items.len()
        );
    }
    if log.elapsed {
        ensure!(
            s.next().await.is_none(),
            "as_completed: an item came after the timeout ended the stream"
        );
    }
    let stop = match a.end {
        AcEnd::Drop => {
            drop(s);
            return Ok(log);
        }
        AcEnd::CancelRest => Some(false),
        AcEnd::CancelAll => Some(true),
        AcEnd::Exhaust => {
            s.rearm();
            None
        }
    };
    if let Some(all) = stop {
        s.cancel(all);
    }
    while let Some(item) = s.next().await {
        match item.parts() {
            Ok(parts) => log.items.push((parts, stop.is_some())),
            Err(_) => return Err("as_completed: timed out after it was disarmed".into()),
        }
    }
    log.ended = true;
    drop(s);
    let unpulled = a.plan.limit.is_some() || a.take == 0;
    if !(a.plan.tasks && unpulled && a.end == AcEnd::CancelRest) {
        // (cancel_rest drops the task handles it never pulled, which aborts them)
        drained("as_completed, read to the end,", cx)?;
    }
    Ok(log)
}

async fn op_as_completed(mut g: Gen, cx: Cx) -> Res {
    let opts = PlanOpts {
        cancellers: false,
        hang: true,
    };
    let mut plan = g.plan(opts, |_| true);
    plan.drive = Drive::Complete;
    let n = plan.n();
    let ordered = g.chance(0.25);
    let timeout = g.chance(0.4).then(|| {
        if g.chance(0.5) {
            g.tiny()
        } else {
            Duration::from_secs(60)
        }
    });
    let fires = timeout.is_some_and(|t| t < Duration::from_secs(1));
    // How many items can come out without waiting on an input that never ends.
    let first_hang = plan
        .specs
        .iter()
        .position(|s| s.end == End::Hang)
        .unwrap_or(n);
    let hangs = plan.specs.iter().filter(|s| s.end == End::Hang).count();
    let can_take = match (ordered, plan.limit) {
        (true, _) => first_hang,
        (false, Some(l)) if hangs >= l => 0,
        (false, _) => n - hangs,
    };
    let take = if fires {
        g.rng.gen_range(0..=n)
    } else {
        g.rng.gen_range(0..=can_take)
    };
    let mut end = match g.rng.gen_range(0..4) {
        0 => AcEnd::Drop,
        1 => AcEnd::CancelRest,
        2 => AcEnd::CancelAll,
        _ => AcEnd::Exhaust,
    };
    if end == AcEnd::Exhaust && hangs > 0 {
        end = AcEnd::CancelRest;
    }
    let a = AcPlan {
        keyed: g.chance(0.3),
        ordered,
        timeout,
        take,
        end,
        next_within: g.chance(0.3).then(|| g.tiny()),
        plan,
    };
    cx.op.plan(&a);
    fresh_turn(&a.plan).await;
    let log = {
        let ins = inputs(&a.plan, &cx);
        let ids: Vec<u32> = a.plan.specs.iter().map(|s| s.id).collect();
        macro_rules! build {
            ($s:expr_2021) => {{
                let s = $s;
                let s = match a.plan.limit {
                    Some(l) => s.limit(l),
                    None => s,
                };
                let s = if a.ordered { s.ordered() } else { s };
                match a.timeout {
                    Some(t) => consume(s.timeout(t), &a, &cx).await,
                    None => consume(s, &a, &cx).await,
                }
            }};
        }
        match (ins, a.keyed) {
            (Inputs::InPlace(v), false) => build!(corral::as_completed(v)),
            (Inputs::Tasks(v), false) => build!(corral::as_completed(v)),
            (Inputs::InPlace(v), true) => {
                build!(corral::as_completed(corral::source::keyed(
                    ids.into_iter().zip(v).collect::<Vec<_>>()
                )))
            }
            (Inputs::Tasks(v), true) => {
                build!(corral::as_completed(corral::source::keyed(
                    ids.into_iter().zip(v).collect::<Vec<_>>()
                )))
            }
        }
    }?;
    if a.end == AcEnd::Drop {
        after_drop(&a.plan, &cx)?;
    }
    let mut seen = vec![false; n];
    for ((i, key, o), after_stop) in &log.items {
        let i = *i;
        ensure!(i < n, "as_completed: item for input {i} of {n}");
        ensure!(!seen[i], "as_completed: input {i} came out twice: {log:?}");
        seen[i] = true;
        if a.keyed {
            ensure!(
                *key == Some(a.plan.specs[i].id),
                "as_completed: input {i} came with key {key:?}"
            );
        }
        let may = match (after_stop, a.plan.tasks) {
            (false, _) => MayCancel::No,
            (true, false) => MayCancel::NoMsg,
            (true, true) => MayCancel::Any,
        };
        check_leaf(&a.plan.specs[i], o, may, &cx.op)
            .map_err(|e| format!("as_completed, input {i}: {e}"))?;
    }
    let order: Vec<usize> = log.items.iter().map(|x| x.0 .0).collect();
    if a.ordered {
        ensure!(
            order.iter().enumerate().all(|(k, i)| k == *i),
            "as_completed().ordered() gave inputs in the order {order:?}"
        );
    }
    if log.ended {
        let all = match a.end {
            AcEnd::CancelAll | AcEnd::Exhaust => true,
            // Without a limit every input is pulled at the first poll.
            AcEnd::CancelRest => a.plan.limit.is_none() && (a.take > 0 || log.elapsed),
            AcEnd::Drop => !log.elapsed && a.take == n,
        };
        if all {
            ensure!(
                seen.iter().all(|s| *s),
                "as_completed ended without every input: {order:?} of {n}"
            );
        }
    }
    if first_items_known(&a, &cx) {
        // The inputs done in the first poll come out first, in input order.
        let imm: Vec<usize> = a.plan.immediate().map(|(i, _)| i).collect();
        let k = imm.len().min(a.take).min(order.len());
        ensure!(
            order[..k] == imm[..k],
            "as_completed gave {order:?}; the first poll finishes {imm:?}"
        );
    }
    Ok(())
}

/// The first poll decides the first items (see [`Plan::deterministic`]; a cancel request from
/// outside may send a listening input to its cleanup instead).
fn first_items_known(a: &AcPlan, cx: &Cx) -> bool {
    !cx.exposed
        && !a.ordered
        && a.timeout.is_none_or(|t| t >= Duration::from_secs(1))
        && a.plan.first_pass
        && !a.plan.tasks
        && a.plan.limit.is_none()
        && a.plan.specs.iter().all(|s| s.immediate() || s.suspends())
}

// ---------------------------------------------------------------------------------------------
// wait

async fn op_wait(mut g: Gen, cx: Cx) -> Res {
    let timeout = g.chance(0.4).then(|| g.tiny());
    let rw = match g.rng.gen_range(0..3) {
        0 => ReturnWhen::AllCompleted,
        1 => ReturnWhen::FirstCompleted,
        _ => ReturnWhen::FirstException,
    };
    let opts = PlanOpts {
        cancellers: true,
        hang: true,
    };
    let mut p = g.plan(opts, |p| {
        let n = p.n();
        timeout.is_some()
            || match rw {
                ReturnWhen::FirstCompleted => n == 0 || (0..n).any(|i| p.finishes(i)),
                _ => (0..n).all(|i| p.finishes(i)),
            }
    });
    p.tasks = true;
    let borrowed = g.chance(0.3);
    cx.op.plan(&(rw, timeout, borrowed, &p));
    let n = p.n();
    let mut tasks: Vec<Task<u32, TErr>> = p
        .specs
        .iter()
        .zip(&p.cancel)
        .map(|(s, c)| {
            let t = spawn_leaf(s, &cx);
            if let Some(yields) = c {
                spawn_canceller(t.task_ref(), *yields);
            }
            t
        })
        .collect();
    let cancel_msg = g.chance(0.5);
    // The cancellations task `i` may end with: its canceller's, and ours once we cancel it.
    let may = |i: usize, ours: bool| match (p.cancel[i].is_some(), ours, cancel_msg) {
        (false, false, _) => MayCancel::No,
        (true, false, _) | (_, true, true) => MayCancel::Msg(CANCEL_MSG),
        (false, true, false) => MayCancel::NoMsg,
        (true, true, false) => MayCancel::Any,
    };
    // Checks what a wait returned: the split, the condition, and the done tasks' outcomes.
    let check_split = |done: &[(usize, Option<Outcome<u32, TErr>>)], pending: &[usize]| -> Res {
        let d: Vec<usize> = done.iter().map(|x| x.0).collect();
        let mut all: Vec<usize> = d.iter().chain(pending).copied().collect();
        all.sort_unstable();
        ensure!(
            d.windows(2).all(|w| w[0] < w[1]) && pending.windows(2).all(|w| w[0] < w[1]),
            "wait: done {d:?} or pending {pending:?} not in input order"
        );
        ensure!(
            all == (0..n).collect::<Vec<_>>(),
            "wait: done {d:?} and pending {pending:?} do not split 0..{n}"
        );
        if timeout.is_none() {
            match rw {
                ReturnWhen::AllCompleted => {
                    ensure!(pending.is_empty(), "wait(ALL_COMPLETED) left {pending:?}")
                }
                ReturnWhen::FirstCompleted => {
                    ensure!(
                        !d.is_empty(),
                        "wait(FIRST_COMPLETED) returned with none done"
                    )
                }
                ReturnWhen::FirstException => {
                    let failed = done
                        .iter()
                        .any(|x| x.1.as_ref().is_some_and(|o| o.is_err() || o.is_panicked()));
                    ensure!(
                        pending.is_empty() || failed,
                        "wait(FIRST_EXCEPTION) returned with {pending:?} pending and no failure"
                    );
                }
            }
        }
        for (i, o) in done {
            let Some(o) = o else {
                return Err(format!("wait: done task {i} has no outcome"));
            };
            check_leaf(&p.specs[*i], o, may(*i, false), &cx.op)
                .map_err(|e| format!("wait, done task {i}: {e}"))?;
        }
        Ok(())
    };
    if n == 0 {
        let r = corral::wait(tasks).await;
        ensure!(r.is_err(), "wait over no tasks gave {r:?}");
        return Ok(());
    }
    let cancel = |t: &Task<u32, TErr>| {
        if cancel_msg {
            t.cancel_with(CANCEL_MSG);
        } else {
            t.cancel();
        }
    };
    // `wait` hands back the handles: their ids say which input each one was.
    let ids: Vec<corral::TaskId> = tasks.iter().map(|t| t.id()).collect();
    let pos = |t: &Task<u32, TErr>| {
        ids.iter()
            .position(|id| *id == t.id())
            .expect("a task wait was given")
    };
    if borrowed {
        let w = corral::wait(tasks.iter_mut())
            .return_when(rw)
            .timeout(timeout);
        let pending_ix: Vec<usize> = if let Some(r) = drive(p.drive, w).await {
            let waited = r.map_err(|e| format!("wait: {e}"))?;
            let done: Vec<_> = waited
                .done
                .into_iter()
                .map(|t| (pos(t), t.try_outcome()))
                .collect();
            let pending_ix: Vec<usize> = waited.pending.iter().map(|t| pos(t)).collect();
            check_split(&done, &pending_ix)?;
            pending_ix
        } else {
            (0..n).collect()
        };
        // The tasks are ours: cancel what may still run and wait for all.
        for &i in &pending_ix {
            cancel(&tasks[i]);
        }
        for &i in &pending_ix {
            let o = tasks[i].join().await;
            check_leaf(&p.specs[i], &o, may(i, true), &cx.op)
                .map_err(|e| format!("wait, cancelled pending task {i}: {e}"))?;
        }
    } else {
        let w = corral::wait(tasks).return_when(rw).timeout(timeout);
        let Some(r) = drive(p.drive, w).await else {
            return Ok(()); // the tasks were dropped with it, which aborts them
        };
        let waited = r.map_err(|e| format!("wait: {e}"))?;
        let done: Vec<_> = waited
            .done
            .into_iter()
            .map(|mut t| (pos(&t), t.try_outcome()))
            .collect();
        let pending = waited.pending;
        let pending_ix: Vec<usize> = pending.iter().map(pos).collect();
        check_split(&done, &pending_ix)?;
        for t in &pending {
            cancel(t);
        }
        if !pending.is_empty() {
            let again = corral::wait(pending)
                .await
                .map_err(|e| format!("wait: {e}"))?;
            ensure!(
                again.pending.is_empty(),
                "wait(ALL_COMPLETED) on cancelled tasks left {} pending",
                again.pending.len()
            );
            for mut t in again.done {
                let i = pos(&t);
                let Some(o) = t.try_outcome() else {
                    return Err(format!("wait: cancelled task {i} is done with no outcome"));
                };
                check_leaf(&p.specs[i], &o, may(i, true), &cx.op)
                    .map_err(|e| format!("wait, cancelled pending task {i}: {e}"))?;
            }
        }
    }
    drained("wait, then the pending ones cancelled and waited for,", &cx)
}

// ---------------------------------------------------------------------------------------------
// Task groups

#[derive(Debug, Clone)]
enum Kid {
    Leaf(Leaf),
    Nested(Box<GSpec>),
    /// Runs the steps, then spawns the leaf into the same group.
    Spawner(Vec<Step>, Leaf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    Ok,
    Err,
    Panic,
    /// Cancels its own group through the spawner, then waits.
    Cancel,
}

#[derive(Debug, Clone)]
struct GSpec {
    id: u32,
    limit: Option<usize>,
    supervisor: bool,
    kids: Vec<Kid>,
    steps: Vec<Step>,
    listen: Option<OnCancel>,
    late: Vec<Kid>,
    /// Cancel the leaf child with this position among the body's handles.
    cancel_kid: Option<usize>,
    inspect: bool,
    end: BodyEnd,
}

impl Gen {
    fn gspec(&mut self, depth: u32) -> GSpec {
        let id = self.id();
        let end = match self.rng.gen_range(0..20) {
            0..=13 => BodyEnd::Ok,
            14..=15 => BodyEnd::Err,
            16 => BodyEnd::Panic,
            _ => BodyEnd::Cancel,
        };
        // A child that never ends needs a body that ends the group.
        let hang = end != BodyEnd::Ok;
        let n = self.rng.gen_range(0..=4);
        let kids = (0..n).map(|_| self.kid(depth, hang)).collect();
        let n = self.rng.gen_range(0..=2);
        let late = (0..n).map(|_| self.kid(depth, hang)).collect();
        GSpec {
            id,
            limit: self.chance(0.35).then(|| self.rng.gen_range(1..=3)),
            supervisor: self.chance(0.25),
            kids,
            steps: self.steps(),
            listen: self.chance(0.25).then(|| match self.rng.gen_range(0..3) {
                0 => OnCancel::Value,
                1 => OnCancel::Error,
                _ => OnCancel::Propagate,
            }),
            late,
            cancel_kid: self.chance(0.2).then(|| self.rng.gen_range(0..4)),
            inspect: self.chance(0.15),
            end,
        }
    }

    fn kid(&mut self, depth: u32, hang: bool) -> Kid {
        let opts = LeafOpts {
            hang,
            panic: true,
            permit: true,
            first_pass: false,
        };
        // Fewer failures than elsewhere: a group fails if any member does, and both
        // outcomes should be common.
        let leaf = |g: &mut Gen| {
            let mut l = g.leaf(opts);
            if l.fails() && g.chance(0.65) {
                l.end = End::Ok;
            }
            l
        };
        match self.rng.gen_range(0..10) {
            0..=1 if depth < 2 => Kid::Nested(Box::new(self.gspec(depth + 1))),
            2 => Kid::Spawner(self.steps(), leaf(self)),
            _ => Kid::Leaf(leaf(self)),
        }
    }
}

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts a child as running in its group while its body runs.
struct Running(Arc<Counters>);

impl Running {
    fn enter(c: &Arc<Counters>) -> Running {
        let now = c.running.fetch_add(1, SeqCst) + 1;
        c.peak.fetch_max(now, SeqCst);
        Running(c.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, SeqCst);
    }
}

/// One group's record, kept in the operation's.
#[derive(Default)]
struct GroupRec {
    id: u32,
    limit: Option<usize>,
    counters: Arc<Counters>,
    children: Mutex<Vec<(Leaf, Child<u32>)>>,
    /// Its `run` future resolved.
    returned: AtomicBool,
    /// Its body called `Spawner::cancel`.
    cancelled_by_body: AtomicBool,
}

type GroupFut = Pin<Box<dyn Future<Output = Result<u32, GroupError<TErr>>> + Send>>;

fn run_group(spec: GSpec, cx: Cx) -> (Arc<GroupRec>, GroupFut) {
    let rec = Arc::new(GroupRec {
        id: spec.id,
        limit: spec.limit,
        ..GroupRec::default()
    });
    lock(&cx.op.groups).push(rec.clone());
    let r = rec.clone();
    let fut = Box::pin(async move {
        let mut group = TaskGroup::new().grace(SCOPE_GRACE);
        if let Some(n) = spec.limit {
            group = group.limit(n);
        }
        if spec.supervisor {
            group = group.supervisor();
        }
        if spec.inspect {
            group = group.name(format!("g{}", spec.id));
        }
        let rec = r.clone();
        let out = group
            .run(|g| async move {
                let _alive = Alive::enter(&cx, format!("body of group g{}", spec.id));
                for kid in spec.kids {
                    spawn_kid(&g, kid, &rec, &cx);
                }
                let early = match spec.listen {
                    None => {
                        run_steps(&spec.steps).await;
                        None
                    }
                    Some(on) => tokio::select! {
                        req = corral::cancelled() => Some(cleanup(spec.id, on, req, &cx).await),
                        _ = run_steps(&spec.steps) => None,
                    },
                };
                if let Some(r) = early {
                    return r;
                }
                for kid in spec.late {
                    spawn_kid(&g, kid, &rec, &cx);
                }
                if let Some(k) = spec.cancel_kid {
                    if let Some((_, c)) = lock(&rec.children).get(k) {
                        c.cancel_with(CANCEL_MSG);
                    }
                }
                if spec.inspect {
                    let _ = (g.tree(), g.children(), g.len(), g.is_open());
                    let _ = corral::group_tree();
                }
                match spec.end {
                    BodyEnd::Ok => Ok(spec.id),
                    BodyEnd::Err => {
                        cx.op.fail(spec.id);
                        Err(TErr::Leaf(spec.id))
                    }
                    BodyEnd::Panic => {
                        cx.op.fail(spec.id);
                        panic!("{PANIC}{}", spec.id)
                    }
                    BodyEnd::Cancel => {
                        rec.cancelled_by_body.store(true, SeqCst);
                        g.cancel();
                        std::future::pending().await
                    }
                }
            })
            .await;
        r.returned.store(true, SeqCst);
        out
    });
    (rec, fut)
}

fn spawn_kid(g: &Spawner<TErr>, kid: Kid, rec: &Arc<GroupRec>, cx: &Cx) {
    let counters = rec.counters.clone();
    let b = Builder::new().grace(TASK_GRACE);
    // A refused spawn (the group is shutting down) is fine: the body goes on.
    match kid {
        Kid::Leaf(leaf) => {
            let f = leaf_fut(leaf.clone(), cx.clone());
            let spawned = g.try_spawn_with(b, async move {
                let _running = Running::enter(&counters);
                f.await
            });
            if let Ok(child) = spawned {
                lock(&rec.children).push((leaf, child));
            }
        }
        Kid::Nested(spec) => {
            let cx = cx.clone();
            g.spawn_with(b, async move {
                let _running = Running::enter(&counters);
                let _alive = Alive::enter(&cx, format!("task of group g{}", spec.id));
                let (_, fut) = run_group(*spec, cx.clone());
                let r = fut.await;
                if let Err(e) = &r {
                    if e.is_empty() {
                        cx.op.fail(NESTED_CANCEL);
                    }
                }
                r.map_err(TErr::from)
            });
        }
        Kid::Spawner(steps, leaf) => {
            let (g2, rec2, cx2) = (g.clone(), rec.clone(), cx.clone());
            g.spawn_with(b, async move {
                let _running = Running::enter(&counters);
                let _alive = Alive::enter(&cx2, format!("spawner of leaf {}", leaf.id));
                run_steps(&steps).await;
                spawn_kid(&g2, Kid::Leaf(leaf), &rec2, &cx2);
                Ok(0)
            });
        }
    }
}

/// Every failure id in a group error, through nested groups.
fn reported(err: &GroupError<TErr>, out: &mut Vec<u32>) -> Res {
    for f in err.failures() {
        match &f.failure {
            Failure::Error(TErr::Leaf(id)) => out.push(*id),
            Failure::Error(TErr::Group(inner)) if inner.is_empty() => {
                ensure!(
                    inner.is_cancelled(),
                    "a nested group error with no failure is not cancelled: {inner:?}"
                );
                out.push(NESTED_CANCEL);
            }
            Failure::Error(TErr::Group(inner)) => reported(inner, out)?,
            Failure::Panicked(p) => {
                let id = p.message().strip_prefix(PANIC).and_then(|s| s.parse().ok());
                let Some(id) = id else {
                    return Err(format!("a group reports a foreign panic: {p:?}"));
                };
                out.push(id);
            }
            Failure::Cancelled(c) => {
                return Err(format!("a group lists a cancellation as a failure: {c:?}"))
            }
        }
    }
    Ok(())
}

async fn op_group(mut g: Gen, cx: Cx) -> Res {
    let spec = g.gspec(0);
    let d = g.drive();
    cx.op.plan(&(d, &spec));
    let id = spec.id;
    let (top, fut) = run_group(spec, cx.clone());
    let recs = || lock(&cx.op.groups).clone();
    let Some(r) = drive(d, fut).await else {
        for rec in recs() {
            check_limit(&rec)?;
        }
        return Ok(()); // the children are aborted; the end-of-test checks see them go
    };
    // Every group that returned has every child's outcome: take them all, once.
    let mut outcomes: Vec<(u32, Leaf, Option<LeafOutcome>)> = Vec::new();
    for rec in recs() {
        check_limit(&rec)?;
        if !rec.returned.load(SeqCst) {
            // Dropped (its task's grace ran out): its children are aborted, asynchronously.
            continue;
        }
        ensure!(
            rec.counters.running.load(SeqCst) == 0,
            "group g{}: children still running after it returned",
            rec.id
        );
        for (leaf, child) in lock(&rec.children).iter_mut() {
            // A failed child's handle says `Reported`; the error itself is in the group's.
            let o = child.try_outcome().map(|o| match o {
                Outcome::Err(_) => Outcome::Err(TErr::Leaf(leaf.id)),
                Outcome::Ok(v) => Outcome::Ok(v),
                Outcome::Panicked(p) => Outcome::Panicked(p),
                Outcome::Cancelled(c) => Outcome::Cancelled(c),
            });
            outcomes.push((rec.id, leaf.clone(), o));
        }
    }
    for (g, leaf, o) in &outcomes {
        let Some(o) = o else {
            return Err(format!(
                "group g{g}: child {} has no outcome after the group ended",
                leaf.id
            ));
        };
        check_leaf(leaf, o, MayCancel::Any, &cx.op)
            .map_err(|e| format!("group g{g}, child handle: {e}"))?;
    }
    let mut happened = lock(&cx.op.happened).clone();
    happened.sort_unstable();
    match &r {
        Ok(v) => {
            ensure!(
                !top.cancelled_by_body.load(SeqCst),
                "group succeeded ({v}) although its body cancelled it"
            );
            ensure!(
                *v == id || *v == id + CLEAN,
                "group gave {v}, body was {id}"
            );
            cx.env.count("group succeeded");
            ensure!(
                !happened.contains(&id),
                "group succeeded although its body failed"
            );
            for (g, leaf, o) in &outcomes {
                ensure!(
                    *g != id || !matches!(o, Some(Outcome::Err(_) | Outcome::Panicked(_))),
                    "group succeeded although child {} failed: {o:?}",
                    leaf.id
                );
            }
            ensure!(
                happened.is_empty(),
                "group succeeded ({v}) although {happened:?} failed"
            );
        }
        Err(e) => {
            let mut got = Vec::new();
            reported(e, &mut got)?;
            got.sort_unstable();
            ensure!(
                got == happened,
                "group reported failures {got:?}, but {happened:?} happened: {e}"
            );
            if e.is_empty() {
                ensure!(
                    e.is_cancelled() && top.cancelled_by_body.load(SeqCst),
                    "group failed with no failure and no cancel from its body: {e:?}"
                );
            }
            cx.env.count("group failed");
        }
    }
    drained("TaskGroup::run", &cx)
}

fn check_limit(rec: &GroupRec) -> Res {
    if let Some(l) = rec.limit {
        let peak = rec.counters.peak.load(SeqCst);
        ensure!(
            peak <= l,
            "group g{} ran {peak} children at once, limit {l}",
            rec.id
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Spawned tasks: cancel, cancel_with, abort, detach, drop

async fn op_task(mut g: Gen, cx: Cx) -> Res {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Action {
        None,
        Cancel,
        CancelWith,
        ViaRef,
        Abort,
        Detach,
        DropHandle,
    }
    let action = match g.rng.gen_range(0..20) {
        0..=4 => Action::None,
        5..=8 => Action::Cancel,
        9..=11 => Action::CancelWith,
        12..=13 => Action::ViaRef,
        14..=15 => Action::Abort,
        16..=17 => Action::Detach,
        _ => Action::DropHandle,
    };
    let hang = matches!(
        action,
        Action::Cancel | Action::CancelWith | Action::ViaRef | Action::Abort | Action::DropHandle
    );
    let leaf = g.leaf(LeafOpts {
        hang,
        panic: true,
        permit: true,
        first_pass: false,
    });
    let how = g.rng.gen_range(0..4);
    let d = g.drive();
    cx.op.plan(&(action, how, d, &leaf));
    let named = g.chance(0.3);
    let mut b = Builder::new().grace(TASK_GRACE);
    if named {
        b = b.name("stress-task");
    }
    let mut t = b.spawn(leaf_fut(leaf.clone(), cx.clone()));
    if named {
        ensure!(&*t.name() == "stress-task", "task name is {:?}", t.name());
    }
    g.pause().await;
    let may = match action {
        Action::None => MayCancel::No,
        Action::Cancel | Action::CancelWith | Action::ViaRef => {
            let first = match action {
                Action::Cancel => t.cancel(),
                Action::CancelWith => t.cancel_with(CANCEL_MSG),
                _ => t.task_ref().cancel(),
            };
            if first {
                ensure!(!t.cancel(), "a second cancel() was accepted");
            } else {
                ensure!(
                    t.is_finished(),
                    "the first cancel() was refused, task not finished"
                );
            }
            if action == Action::CancelWith {
                MayCancel::Msg(CANCEL_MSG)
            } else {
                MayCancel::NoMsg
            }
        }
        Action::Abort => {
            t.abort();
            MayCancel::NoMsg
        }
        Action::Detach => {
            t.detach();
            return Ok(());
        }
        Action::DropHandle => {
            drop(t);
            return Ok(());
        }
    };
    let o = match how {
        0 => drive(d, std::future::IntoFuture::into_future(t)).await,
        1 => drive(d, t.join()).await,
        2 => match drive(d, corral::wait_for(None, &mut t)).await {
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => return Err(format!("wait_for(None, task) gave {e:?}")),
            None => None,
        },
        _ => loop {
            if let Some(o) = t.try_outcome() {
                break Some(o);
            }
            yield_now().await;
        },
    };
    let Some(o) = o else {
        return Ok(()); // dropped: the task is aborted
    };
    check_leaf(&leaf, &o, may, &cx.op)?;
    drained("awaiting a task", &cx)
}

// ---------------------------------------------------------------------------------------------
// Timeouts and wait_for

async fn op_timeout(mut g: Gen, cx: Cx) -> Res {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum How {
        Timeout,
        TimeoutAt,
        /// `timeout_with`, and the body removes its own deadline first.
        Unbounded,
        WaitForFuture,
        WaitForTask,
        WaitForBorrowed,
    }
    let how = match g.rng.gen_range(0..6) {
        0 => How::Timeout,
        1 => How::TimeoutAt,
        2 => How::Unbounded,
        3 => How::WaitForFuture,
        4 => How::WaitForTask,
        _ => How::WaitForBorrowed,
    };
    let d = match g.rng.gen_range(0..10) {
        0..=1 => None,
        2..=3 => Some(Duration::ZERO),
        4..=7 => Some(g.tiny()),
        _ => Some(Duration::from_secs(30)),
    };
    let task = matches!(how, How::WaitForTask | How::WaitForBorrowed);
    let fires = d.is_some_and(|d| d < Duration::from_secs(1)) && how != How::Unbounded;
    let leaf = g.leaf(LeafOpts {
        hang: fires,
        // A plain future's panic is not caught by a timeout: it would reach the caller.
        panic: task,
        permit: true,
        first_pass: false,
    });
    let drv = g.drive();
    cx.op.plan(&(how, d, drv, &leaf));
    let mut spawned = task.then(|| spawn_leaf(&leaf, &cx));
    if task && g.chance(0.5) {
        g.pause().await;
    }
    let finished_before = spawned.as_ref().is_some_and(|t| t.is_finished());
    let f = || leaf_fut(leaf.clone(), cx.clone());
    let r: Option<Result<Outcome<u32, TErr>, Elapsed>> = match how {
        How::Timeout => {
            let scope = corral::timeout(d, f()).grace(SCOPE_GRACE);
            let deadline = scope.deadline();
            let r = drive(drv, scope).await.map(|r| r.map(Outcome::from));
            if matches!(r, Some(Err(_))) {
                ensure!(
                    deadline.expired(),
                    "timeout gave Elapsed but its deadline says not expired"
                );
            }
            r
        }
        How::TimeoutAt => {
            let at = d.map(|d| Instant::now() + d);
            let scope = corral::timeout_at(at, f()).grace(SCOPE_GRACE);
            drive(drv, scope).await.map(|r| r.map(Outcome::from))
        }
        How::Unbounded => {
            let body = f();
            let scope = corral::timeout_with(d, |deadline| async move {
                let moved = deadline.reschedule(None);
                (moved, body.await)
            })
            .grace(SCOPE_GRACE);
            match drive(drv, scope).await {
                None => None,
                Some(Ok((moved, r))) => {
                    ensure!(
                        moved.is_ok(),
                        "Deadline::reschedule(None) in its body: {moved:?}"
                    );
                    Some(Ok(Outcome::from(r)))
                }
                Some(Err(e)) => Some(Err(e)),
            }
        }
        How::WaitForFuture => drive(drv, corral::wait_for(d, f()).grace(SCOPE_GRACE))
            .await
            .map(|r| r.map(Outcome::from)),
        How::WaitForTask => {
            let t = spawned.take().expect("spawned above");
            drive(drv, corral::wait_for(d, t)).await
        }
        How::WaitForBorrowed => {
            let t = spawned.as_mut().expect("spawned above");
            drive(drv, corral::wait_for(d, t)).await
        }
    };
    let Some(r) = r else {
        if how == How::WaitForBorrowed {
            // Ours: still running, or done. Stop it and check how it ended.
            let mut t = spawned.take().expect("spawned above");
            t.cancel();
            let o = match t.try_outcome() {
                Some(o) => o,
                None if t.is_finished() => {
                    return Err(
                        "the task's outcome is gone: the wait_for(.., &mut task) that \
                                was dropped had taken it (awaiting the task would panic)"
                            .to_string(),
                    );
                }
                None => t.await,
            };
            check_leaf(&leaf, &o, MayCancel::NoMsg, &cx.op)?;
            return drained("a task after wait_for was dropped", &cx);
        }
        if !task {
            ensure!(
                cx.op.live() == 0,
                "dropping a timeout left its body running"
            );
        }
        return Ok(());
    };
    match &r {
        Ok(o) => check_leaf(&leaf, o, MayCancel::No, &cx.op)
            .map_err(|e| format!("{how:?}({d:?}) gave Ok: {e}"))?,
        Err(_) => {
            cx.env.count("timeout or wait_for elapsed");
            ensure!(d.is_some(), "{how:?} with no deadline gave Elapsed");
            ensure!(
                how != How::Unbounded,
                "a body that removed its deadline timed out"
            );
        }
    }
    if d == Some(Duration::ZERO) {
        match how {
            How::WaitForFuture => {
                ensure!(r.is_err(), "wait_for(0, future) gave {r:?}");
                ensure!(
                    cx.op.started.load(SeqCst) == 0,
                    "wait_for(0, future) polled the future"
                );
            }
            How::WaitForTask | How::WaitForBorrowed if finished_before => {
                ensure!(r.is_ok(), "wait_for(0, finished task) gave {r:?}")
            }
            How::Timeout | How::TimeoutAt if leaf.immediate() && leaf.listen.is_none() => {
                ensure!(
                    r.is_ok(),
                    "timeout(0) of a body that never suspends gave {r:?}"
                )
            }
            _ => {}
        }
    }
    if how == How::WaitForBorrowed {
        let t = spawned.as_ref().expect("kept");
        ensure!(
            t.is_finished(),
            "wait_for(&mut task) returned, task not finished"
        );
    }
    drained(&format!("{how:?}"), &cx)
}

// ---------------------------------------------------------------------------------------------
// shield

async fn op_shield(mut g: Gen, cx: Cx) -> Res {
    let will_cancel = g.chance(0.25);
    let leaf = g.leaf(LeafOpts {
        // Shielded work outlives a dropped operation: it must end by itself then.
        hang: will_cancel && !cx.exposed,
        panic: true,
        permit: true,
        first_pass: false,
    });
    let from_task = g.chance(0.5);
    let fin = g.rng.gen_range(0..3);
    cx.op.plan(&(will_cancel, from_task, fin, &leaf));
    let sh = if from_task {
        corral::shield(spawn_leaf(&leaf, &cx))
    } else {
        corral::shield(leaf_fut(leaf.clone(), cx.clone()))
    };
    let mut seen: Vec<Outcome<u32, TErr>> = Vec::new();
    for _ in 0..g.rng.gen_range(0..=3) {
        match g.rng.gen_range(0..3) {
            0 => {
                if let Ok(o) = tokio::time::timeout(g.tiny(), sh.clone()).await {
                    seen.push(o);
                }
            }
            1 => {
                if let Ok(o) = corral::timeout(g.tiny(), sh.clone()).await {
                    seen.push(o);
                }
            }
            _ => {
                let s = sh.clone();
                let w = corral::spawn(async move { Ok::<_, Infallible>(s.await) });
                g.pause().await;
                if g.chance(0.5) {
                    w.abort();
                } else {
                    w.cancel();
                }
                if let Outcome::Ok(o) = w.await {
                    seen.push(o);
                }
            }
        }
    }
    if will_cancel {
        g.pause().await;
        sh.cancel();
    }
    match fin {
        0 => seen.push(sh.clone().await),
        1 => {
            sh.finished().await;
            ensure!(
                sh.is_finished(),
                "shield: finished() resolved, is_finished() false"
            );
            let o = sh.try_outcome();
            let Some(o) = o else {
                return Err("shield: try_outcome() after finished() gave None".into());
            };
            ensure!(
                sh.try_outcome().is_none(),
                "shield: the outcome was taken twice"
            );
            seen.push(o);
        }
        _ => {
            drop(sh); // the work runs on, detached
            if let Some(o) = seen.first() {
                check_leaf(&leaf, o, MayCancel::No, &cx.op)?;
            }
            return Ok(());
        }
    }
    let may = if will_cancel {
        MayCancel::NoMsg
    } else {
        MayCancel::No
    };
    for o in &seen {
        ensure!(
            *o == seen[0],
            "shield: waiters saw different outcomes: {seen:?}"
        );
    }
    check_leaf(&leaf, &seen[0], may, &cx.op)?;
    drained("waiting for shielded work", &cx)
}

// ---------------------------------------------------------------------------------------------
// Limiter

async fn op_limiter(mut g: Gen, cx: Cx) -> Res {
    #[derive(Debug, Clone, Copy)]
    enum How {
        Acquire,
        Owned,
        Try,
    }
    #[derive(Debug, Clone)]
    struct Worker {
        how: How,
        give_up: Option<Duration>,
        hold: Vec<Step>,
        forget: bool,
    }
    let total = g.rng.gen_range(1..=3usize);
    let bounded = g.chance(0.5);
    let workers: Vec<Worker> = (0..g.rng.gen_range(2..=8))
        .map(|_| Worker {
            how: match g.rng.gen_range(0..4) {
                0..=1 => How::Acquire,
                2 => How::Owned,
                _ => How::Try,
            },
            give_up: g.chance(0.3).then(|| g.tiny()),
            hold: g.steps(),
            forget: g.chance(0.15),
        })
        .collect();
    let resize = g
        .chance(0.4)
        .then(|| (g.rng.gen_range(0..4u32), g.rng.gen_range(1..=4usize)));
    let tasks = g.chance(0.5);
    let d = g.drive();
    cx.op.plan(&(total, bounded, &workers, resize, tasks, d));
    let lim = Arc::new(if bounded {
        Limiter::bounded(total)
    } else {
        Limiter::new(total)
    });
    let max_total = Arc::new(AtomicUsize::new(total));
    let holders = Arc::new(AtomicUsize::new(0));
    type WorkerFut = Pin<Box<dyn Future<Output = Result<(), TErr>> + Send>>;
    let mut futs: Vec<WorkerFut> = Vec::new();
    for w in workers {
        let (lim, max_total, holders, cx) =
            (lim.clone(), max_total.clone(), holders.clone(), cx.clone());
        futs.push(Box::pin(async move {
            let _alive = Alive::enter(&cx, "limiter worker".into());
            enum Held<'a> {
                Borrowed(Permit<'a>),
                Owned(OwnedPermit),
            }
            let held = match w.how {
                How::Acquire => match w.give_up {
                    Some(t) => tokio::time::timeout(t, lim.acquire()).await.ok(),
                    None => Some(lim.acquire().await),
                }
                .map(Held::Borrowed),
                How::Owned => match w.give_up {
                    Some(t) => tokio::time::timeout(t, lim.clone().acquire_owned())
                        .await
                        .ok(),
                    None => Some(lim.clone().acquire_owned().await),
                }
                .map(Held::Owned),
                How::Try => lim.try_acquire().map(Held::Borrowed),
            };
            let Some(held) = held else {
                return Ok(());
            };
            // Leaves the count before the permit goes back, also when the worker is dropped.
            struct Holding(Arc<AtomicUsize>);
            impl Drop for Holding {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, SeqCst);
                }
            }
            let now = holders.fetch_add(1, SeqCst) + 1;
            let holding = Holding(holders.clone());
            let max = max_total.load(SeqCst);
            if now > max {
                cx.env.problem(format!(
                    "{}: {now} holders of a limiter whose total was never above {max}",
                    cx.op.desc
                ));
            }
            run_steps(&w.hold).await;
            drop(holding);
            if w.forget {
                match held {
                    Held::Borrowed(p) => p.forget(),
                    Held::Owned(p) => p.forget(),
                }
                if let Err(e) = lim.release() {
                    cx.env
                        .problem(format!("{}: release after forget: {e}", cx.op.desc));
                }
            }
            Ok(())
        }));
    }
    if let Some((yields, new)) = resize {
        let (lim, max_total) = (lim.clone(), max_total.clone());
        futs.push(Box::pin(async move {
            for _ in 0..yields {
                yield_now().await;
            }
            max_total.fetch_max(new, SeqCst);
            lim.set_total(new);
            Ok(())
        }));
    }
    let done = if tasks {
        let ts: Vec<Task<(), TErr>> = futs.into_iter().map(corral::spawn).collect();
        drive(d, corral::gather_settled(ts)).await
    } else {
        drive(d, corral::gather_settled(futs)).await
    };
    let Some(outcomes) = done else {
        if !tasks {
            ensure!(
                cx.op.live() == 0,
                "dropping gather_settled left workers running"
            );
            check_permits(&lim)?;
        }
        return Ok(());
    };
    ensure!(
        outcomes.iter().all(|o| o.is_ok()),
        "limiter workers: {outcomes:?}"
    );
    check_permits(&lim)?;
    drained("the limiter's gather_settled", &cx)
}

/// Everything was given back: no permit lost, nobody waiting.
fn check_permits(lim: &Limiter) -> Res {
    ensure!(
        lim.available() == lim.total() && lim.in_use() == 0 && lim.waiters() == 0,
        "limiter after everyone left: {lim:?} (available {}, total {}, in use {}, waiters {})",
        lim.available(),
        lim.total(),
        lim.in_use(),
        lim.waiters()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Operations, and operations inside timeouts, cancelled tasks and dropped futures

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gather,
    GatherSettled,
    Race,
    Any,
    Quorum,
    AsCompleted,
    Wait,
    Group,
    Task,
    Timeout,
    Shield,
    Limiter,
    /// Another operation inside a timeout scope.
    InTimeout,
    /// Another operation inside a task that is cancelled or aborted part-way.
    InCancelledTask,
    /// Another operation, dropped part-way.
    Dropped,
}

type OpFut = Pin<Box<dyn Future<Output = Res> + Send>>;

fn run_op(kind: Kind, mut g: Gen, cx: Cx, inner: &'static [Kind]) -> OpFut {
    match kind {
        Kind::Gather => Box::pin(op_gather(g, cx)),
        Kind::GatherSettled => Box::pin(op_gather_settled(g, cx)),
        Kind::Race => Box::pin(op_race(g, cx)),
        Kind::Any => Box::pin(op_any(g, cx)),
        Kind::Quorum => Box::pin(op_quorum(g, cx)),
        Kind::AsCompleted => Box::pin(op_as_completed(g, cx)),
        Kind::Wait => Box::pin(op_wait(g, cx)),
        Kind::Group => Box::pin(op_group(g, cx)),
        Kind::Task => Box::pin(op_task(g, cx)),
        Kind::Timeout => Box::pin(op_timeout(g, cx)),
        Kind::Shield => Box::pin(op_shield(g, cx)),
        Kind::Limiter => Box::pin(op_limiter(g, cx)),
        Kind::InTimeout | Kind::InCancelledTask | Kind::Dropped => {
            let k = inner[g.rng.gen_range(0..inner.len())];
            let d = if g.chance(0.3) {
                Some(Duration::ZERO)
            } else {
                Some(g.tiny())
            };
            let seed = g.rng.r#gen();
            let pause = g.rng.gen_range(0..4);
            let abort = g.chance(0.3);
            let drv = g.drop_point();
            let exposed = Cx {
                exposed: true,
                ..cx.clone()
            };
            let body = run_op(k, Gen::new(seed), exposed, inner);
            match kind {
                Kind::InTimeout => Box::pin(async move {
                    match corral::timeout(d, body).grace(SCOPE_GRACE).await {
                        Ok(r) => r.map_err(|e| format!("inside a timeout, {k:?}: {e}")),
                        Err(_) => Ok(()),
                    }
                }),
                Kind::InCancelledTask => Box::pin(async move {
                    let t = Builder::new()
                        .grace(Duration::from_millis(100))
                        .spawn(async move { Ok::<_, Infallible>(body.await) });
                    for _ in 0..pause {
                        yield_now().await;
                    }
                    if abort {
                        t.abort();
                    } else {
                        t.cancel_with(CANCEL_MSG);
                    }
                    match t.await {
                        Outcome::Ok(r) => r.map_err(|e| format!("in a cancelled task, {k:?}: {e}")),
                        Outcome::Cancelled(_) => Ok(()),
                        other => Err(format!("a task running {k:?} ended with {other:?}")),
                    }
                }),
                _ => Box::pin(async move {
                    match drive(drv, body).await {
                        Some(r) => r.map_err(|e| format!("{k:?} (not dropped): {e}")),
                        None => Ok(()),
                    }
                }),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

#[derive(Debug, Default)]
struct Tally {
    ops: usize,
    by_kind: Vec<(Kind, usize)>,
}

async fn lane(
    seed: u64,
    replay: Option<u64>,
    lane: usize,
    ops: usize,
    kinds: &'static [(Kind, u32)],
    inner: &'static [Kind],
    env: Env,
) -> (Vec<String>, Tally) {
    let weight: u32 = kinds.iter().map(|k| k.1).sum();
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    for i in 0..ops {
        let op_seed =
            replay.unwrap_or_else(|| splitmix(seed ^ splitmix(((lane as u64) << 32) | i as u64)));
        let mut g = Gen::new(op_seed);
        let mut pick = g.rng.gen_range(0..weight);
        let kind = kinds
            .iter()
            .find(|k| {
                if pick < k.1 {
                    true
                } else {
                    pick -= k.1;
                    false
                }
            })
            .map_or(kinds[0].0, |k| k.0);
        let op = Arc::new(OpStats {
            desc: format!("lane {lane} op {i} ({kind:?}, op seed {op_seed:#x})"),
            ..OpStats::default()
        });
        lock(&env.0.ops).push(op.clone());
        let cx = Cx {
            op: op.clone(),
            env: env.clone(),
            exposed: false,
        };
        let op_fut = AssertUnwindSafe(run_op(kind, g, cx, inner)).catch_unwind();
        let r = match tokio::time::timeout(OP_HANG, op_fut).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(panic)) => Ok(Err(format!("panicked: {}", panic_message(&*panic)))),
            Err(e) => Err(e),
        };
        tally.ops += 1;
        match tally.by_kind.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1 += 1,
            None => tally.by_kind.push((kind, 1)),
        }
        let hang = r.is_err();
        let fail = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("did not finish within {OP_HANG:?}: a hang")),
        };
        if let Some(e) = fail {
            failures.push(format!("{}: {e}\n    plan: {}", op.desc, lock(&op.plan)));
            // Documented behaviours checked strictly recur; go on past them, but not past
            // real trouble.
            let unknown = failures.iter().filter(|f| category(f) == "other").count();
            if hang || unknown >= 5 {
                break;
            }
        }
    }
    (failures, tally)
}

/// `K1` for a failure a documented behaviour explains (see [`documented`]), else `other`.
fn category(failure: &str) -> &str {
    failure
        .split_once("[documented ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map_or("other", |(id, _)| id)
}

/// The failures, at most three of each category, and how many there were of each.
fn report(failures: &[String]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for f in failures {
        let n = counts.entry(category(f)).or_default();
        *n += 1;
        if *n <= 3 {
            out.push(f.as_str());
        }
    }
    format!("{}\nfailures by category: {counts:?}", out.join("\n"))
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

async fn run(
    replay: Option<u64>,
    cfg: Config,
    kinds: &'static [(Kind, u32)],
    inner: &'static [Kind],
) -> Result<String, String> {
    let baseline = alive_tasks();
    let env = Env::new();
    let start = std::time::Instant::now();
    let per_lane = cfg.ops.div_ceil(cfg.lanes);
    let lanes: Vec<_> = (0..cfg.lanes)
        .map(|l| {
            let env = env.clone();
            corral::spawn(async move {
                Ok::<_, Infallible>(lane(cfg.seed, replay, l, per_lane, kinds, inner, env).await)
            })
        })
        .collect();
    let mut failures = Vec::new();
    let mut total = Tally::default();
    for (l, t) in lanes.into_iter().enumerate() {
        match t.await {
            Outcome::Ok((f, tally)) => {
                failures.extend(f);
                total.ops += tally.ops;
                for (k, n) in tally.by_kind {
                    match total.by_kind.iter_mut().find(|x| x.0 == k) {
                        Some(x) => x.1 += n,
                        None => total.by_kind.push((k, n)),
                    }
                }
            }
            other => failures.push(format!("lane {l} ended with {other:?}")),
        }
    }
    let ran = start.elapsed();
    // Aborts on other workers land asynchronously: give them a bounded while.
    let live_ops = || {
        lock(&env.0.ops)
            .iter()
            .filter(|o| o.live() > 0)
            .map(|o| format!("{} ({} alive): {}", o.desc, o.live(), lock(&o.plan)))
            .collect::<Vec<_>>()
    };
    let settled = |env: &Env| {
        env.0.live.load(SeqCst) == 0
            && alive_tasks() <= baseline
            && env.0.holders.load(SeqCst) == 0
            && env.0.limiter.available() == SHARED_PERMITS
    };
    let t0 = std::time::Instant::now();
    while !settled(&env) && t0.elapsed() < SETTLE {
        sleep(ms(5)).await;
    }
    let live = env.0.live.load(SeqCst);
    if live != 0 {
        let ops = live_ops();
        failures.push(format!(
            "{live} bodies still alive {SETTLE:?} after the last operation; operations with \
             bodies alive: {ops:#?}"
        ));
    }
    let alive = alive_tasks();
    if alive > baseline {
        failures.push(format!(
            "{alive} tokio tasks alive after the run, {baseline} before"
        ));
    }
    let lim = &env.0.limiter;
    if lim.available() != SHARED_PERMITS || lim.waiters() != 0 || lim.in_use() != 0 {
        failures.push(format!(
            "shared limiter after the run: available {}, in use {}, waiters {} (of {SHARED_PERMITS})",
            lim.available(),
            lim.in_use(),
            lim.waiters()
        ));
    }
    failures.extend(lock(&env.0.problems).iter().cloned());
    if failures.is_empty() {
        Ok(format!(
            "{} operations in {ran:.1?} on {} lanes: {:?}\n  coverage: {:?}",
            total.ops,
            cfg.lanes,
            total.by_kind,
            lock(&env.0.coverage)
        ))
    } else {
        Err(report(&failures))
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("<non-string panic>")
}

/// Panics other than the scenarios' own, by thread name.
fn foreign_panics() -> &'static Mutex<Vec<(String, String)>> {
    static PANICS: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    PANICS.get_or_init(|| Mutex::new(Vec::new()))
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = panic_message(info.payload());
            if msg.starts_with(PANIC) {
                return; // a scenario's own
            }
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            let at = info.location().map(|l| l.to_string()).unwrap_or_default();
            lock(foreign_panics()).push((thread, format!("{msg} at {at}")));
            default(info);
        }));
    });
}

fn stress(
    name: &'static str,
    test: u64,
    default_ops: usize,
    kinds: &'static [(Kind, u32)],
    inner: &'static [Kind],
) {
    install_panic_hook();
    let replaying = match replay() {
        Some((test, _)) if test != name => return,
        Some((_, op_seed)) => Some(op_seed),
        None => None,
    };
    let cfg = config(test, default_ops);
    let (seed, ops, lanes) = (cfg.seed, cfg.ops, cfg.lanes);
    let repro = format!(
        "reproduce with CORRAL_STRESS_SEED={} CORRAL_STRESS_OPS={ops} CORRAL_STRESS_LANES={lanes} \
         (test seed {seed:#x}), or one operation with CORRAL_STRESS_REPLAY={name}:<op seed>",
        master_seed()
    );
    let prefix = format!("stress-{name}-");
    let (tx, rx) = std::sync::mpsc::channel();
    let worker_names = prefix.clone();
    std::thread::Builder::new()
        .name(format!("{prefix}main"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name(format!("{worker_names}worker"))
                .build()
                .expect("a 2-worker runtime");
            let report = rt.block_on(run(replaying, cfg, kinds, inner));
            drop(rt);
            let _ = tx.send(report);
        })
        .expect("a thread for the runtime");
    let report = match rx.recv_timeout(WATCHDOG) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "the run did not finish within {WATCHDOG:?}: the runtime is stuck"
        )),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err("the runtime's thread panicked".to_string())
        }
    };
    let foreign: Vec<String> = lock(foreign_panics())
        .iter()
        .filter(|(thread, _)| thread.starts_with(&prefix))
        .map(|(thread, msg)| format!("unexpected panic on {thread}: {msg}"))
        .collect();
    match report {
        Ok(summary) if foreign.is_empty() => println!("stress {name}: {summary}"),
        Ok(_) => panic!("{}\n{repro}", foreign.join("\n")),
        Err(e) => panic!("{e}\n{}\n{repro}", foreign.join("\n")),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

const COMBINATORS: &[Kind] = &[
    Kind::Gather,
    Kind::GatherSettled,
    Kind::Race,
    Kind::Any,
    Kind::Quorum,
    Kind::AsCompleted,
    Kind::Wait,
];

const ALL: &[Kind] = &[
    Kind::Gather,
    Kind::GatherSettled,
    Kind::Race,
    Kind::Any,
    Kind::Quorum,
    Kind::AsCompleted,
    Kind::Wait,
    Kind::Group,
    Kind::Task,
    Kind::Timeout,
    Kind::Shield,
    Kind::Limiter,
];

#[test]
fn combinators_agree_with_their_inputs_and_leave_nothing_running() {
    const KINDS: &[(Kind, u32)] = &[
        (Kind::Gather, 3),
        (Kind::GatherSettled, 2),
        (Kind::Race, 2),
        (Kind::Any, 2),
        (Kind::Quorum, 2),
        (Kind::AsCompleted, 3),
        (Kind::Wait, 2),
    ];
    stress("combinators", 1, 4000, KINDS, COMBINATORS);
}

#[test]
fn task_groups_report_every_failure_respect_limits_and_drain() {
    const KINDS: &[(Kind, u32)] = &[
        (Kind::Group, 6),
        (Kind::InTimeout, 1),
        (Kind::InCancelledTask, 1),
        (Kind::Dropped, 1),
    ];
    stress("groups", 2, 2500, KINDS, &[Kind::Group]);
}

#[test]
fn cancellation_timeouts_shields_and_limits_keep_their_promises() {
    const KINDS: &[(Kind, u32)] = &[
        (Kind::Task, 3),
        (Kind::Timeout, 3),
        (Kind::Shield, 2),
        (Kind::Limiter, 2),
    ];
    stress(
        "cancellation",
        3,
        4000,
        KINDS,
        &[Kind::Task, Kind::Timeout, Kind::Shield, Kind::Limiter],
    );
}

#[test]
fn mixed_operations_inside_timeouts_and_cancelled_tasks_leave_nothing_running() {
    const KINDS: &[(Kind, u32)] = &[
        (Kind::Gather, 1),
        (Kind::Race, 1),
        (Kind::Any, 1),
        (Kind::Quorum, 1),
        (Kind::AsCompleted, 1),
        (Kind::Wait, 1),
        (Kind::Group, 1),
        (Kind::Task, 1),
        (Kind::Shield, 1),
        (Kind::InTimeout, 2),
        (Kind::InCancelledTask, 2),
        (Kind::Dropped, 2),
    ];
    stress("mixed", 4, 4000, KINDS, ALL);
}
