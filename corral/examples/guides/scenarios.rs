//! The scenarios of the asyncio guides, written once with corral, for two worlds: the `guides`
//! example simulates each request on tokio's paused clock, and `corral demo` sends it over HTTP
//! to the command's embedded server. A world is a [`World`]: how to send a request, how many
//! requests its server is answering, and where the lines go.
//!
//! Each scenario puts the asyncio call next to corral's, and reports in the library's words:
//! the [`Outcome`] of each input (`Ok`, `Err`, `Cancelled`, `Panicked`), `Err(Elapsed)` from a
//! timeout, `Ok(values)` or `Err(failure)` from `gather`. Every line starts with the time since
//! the world's start, one clock for the whole story.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use corral::{Outcome, ReturnWhen};
use tokio::time::Instant;

/// One request, as the guides write `get(url)`: what its server is asked to answer.
#[derive(Clone, Copy, Debug)]
pub enum Get {
    /// `status`, after `after` (httpbin's `/status/{status}?delay={secs}`).
    Status {
        /// The status to answer with.
        status: u16,
        /// How long to wait before answering.
        after: Duration,
    },
    /// Nothing: nobody listens on the port, so the connection is refused.
    Refused,
    /// Bytes that are not HTTP.
    Garbage,
}

/// Why a request failed.
#[derive(Debug)]
pub enum GetError {
    /// The server answered with this error status (4xx or 5xx): see [`raise_for_status`].
    Status(u16),
    /// No answer, in the HTTP client's words (refused, not HTTP, ...).
    Transport(String),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Status(status) => write!(f, "HTTP {status}"),
            GetError::Transport(why) => f.write_str(why),
        }
    }
}

/// What a request returns: the status of the answer, whatever it is (as `aiohttp` does until
/// `raise_for_status()`).
pub type Reply = Result<u16, GetError>;

/// Where the scenarios run.
pub trait World {
    /// Sends one request. Any answer is `Ok(status)`, an error status too.
    fn get(&self, get: Get) -> impl Future<Output = Reply> + Send + 'static;

    /// The requests the server is answering now, once it has noticed the ones given up.
    fn in_flight(&self) -> impl Future<Output = u64>;

    /// Starts counting the most requests in flight at once afresh.
    fn reset_peak(&self);

    /// The most requests in flight at once since [`World::reset_peak`].
    fn peak(&self) -> u64;

    /// Every time of the scenarios is multiplied by this (1 but in tests).
    fn scale(&self) -> f64;

    /// When the story began.
    fn start(&self) -> Instant;

    /// Writes one line.
    fn print(&self, line: fmt::Arguments<'_>);

    /// Writes one line, after the time since [`World::start`].
    fn say(&self, line: fmt::Arguments<'_>) {
        let t = self.start().elapsed().as_secs_f64();
        self.print(format_args!("{t:6.2}s  {line}"));
    }
}

/// `w.say(format_args!(...))`.
macro_rules! say {
    ($w:expr, $($arg:tt)*) => {
        $w.say(format_args!($($arg)*))
    };
}

/// The indent of a line that continues the one above it, under its text (past the time).
pub const UNDER: &str = "         ";

/// `secs` of the guides, in this world.
fn secs(w: &impl World, secs: f64) -> Duration {
    Duration::from_secs_f64(secs * w.scale())
}

/// `get(status, after=secs)`.
fn status(w: &impl World, status: u16, after: f64) -> Get {
    Get::Status {
        status,
        after: secs(w, after),
    }
}

/// aiohttp's `response.raise_for_status()`: an error status (4xx, 5xx) becomes an error.
pub async fn raise_for_status<W: World>(w: &W, get: Get) -> Reply {
    match w.get(get).await? {
        status @ 400.. => Err(GetError::Status(status)),
        status => Ok(status),
    }
}

/// An outcome, as its variant with what it carries: `Ok(200)`, `Err(HTTP 500)`, `Cancelled`.
fn show<E: fmt::Display>(outcome: &Outcome<u16, E>) -> String {
    match outcome {
        Outcome::Ok(status) => format!("Ok({status})"),
        Outcome::Err(e) => format!("Err({e})"),
        Outcome::Panicked(p) => format!("Panicked({p})"),
        Outcome::Cancelled(_) => "Cancelled".to_owned(),
    }
}

/// A reply, as the outcome it becomes: `Ok(200)`, `Err(HTTP 500)`.
fn show_reply(reply: &Reply) -> String {
    match reply {
        Ok(status) => format!("Ok({status})"),
        Err(e) => format!("Err({e})"),
    }
}

/// A scenario's title, timed, and its asyncio and corral calls under it.
fn heading(w: &impl World, n: u32, title: &str, asyncio: &str, corral: &str) {
    w.print(format_args!(""));
    say!(w, "{n}. {title}");
    w.print(format_args!("{UNDER}   asyncio: {asyncio}"));
    w.print(format_args!("{UNDER}   corral:  {corral}"));
}

/// Every scenario, in order.
pub async fn all(w: &impl World) {
    gather_keeps_order(w).await;
    as_completed_streams(w).await;
    first_completed_wins(w).await;
    budget(w).await;
    errors_as_values(w).await;
    limit_of_ten(w).await;
}

/// `gather` returns the values in input order, whatever order they finish in.
pub async fn gather_keeps_order(w: &impl World) {
    heading(
        w,
        1,
        "gather keeps input order",
        "await asyncio.gather(get(200, after=0.3), get(201, after=0.1), get(400, after=0.2))",
        "corral::gather([...]).await",
    );
    // Each request says when it finishes, to show the finishing order.
    let noted = |index: usize, get: Get| async move {
        let reply = w.get(get).await;
        say!(w, "   input {index} finished: {}", show_reply(&reply));
        reply
    };
    let inputs = [
        noted(0, status(w, 200, 0.3)),
        noted(1, status(w, 201, 0.1)),
        noted(2, status(w, 400, 0.2)),
    ];
    match corral::gather(inputs).await {
        Ok(statuses) => say!(
            w,
            "   gather returned Ok({statuses:?}): input order, not finishing order"
        ),
        Err(failure) => say!(w, "   gather returned Err({failure})"),
    }
}

/// `as_completed` yields each result as it finishes, and says which input it was.
pub async fn as_completed_streams(w: &impl World) {
    heading(
        w,
        2,
        "as_completed streams results as they finish",
        "for next in asyncio.as_completed([get(200, after=s) for s in (3, 1, 2)]): ...",
        "corral::as_completed([...]), a Stream; each item says which input it was",
    );
    let start = Instant::now();
    let inputs = [3.0, 1.0, 2.0].map(|after| w.get(status(w, 200, after)));
    let mut done = corral::as_completed(inputs);
    while let Some(item) = done.next().await {
        say!(w, "   input {}: {}", item.index, show(&item.outcome));
    }
    say!(
        w,
        "   all three in {:.2}s, the time of the slowest, not the sum ({:.2}s)",
        start.elapsed().as_secs_f64(),
        secs(w, 6.0).as_secs_f64()
    );
}

/// `wait(FirstCompleted)` returns at the first finished task; the rest are cancelled.
pub async fn first_completed_wins(w: &impl World) {
    heading(
        w,
        3,
        "the first completed of three (2 s, 1 s, 3 s) wins, the rest are cancelled",
        "done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED); cancel pending",
        "corral::wait(tasks).return_when(FirstCompleted), then cancel() the pending",
    );
    // Each task is named after its input: `wait` hands back the handles, which say who they are.
    let mut index = 0;
    let tasks = [2.0, 1.0, 3.0].map(|after| {
        index += 1;
        corral::spawn_named(format!("input {}", index - 1), w.get(status(w, 200, after)))
    });
    let waited = match corral::wait(tasks)
        .return_when(ReturnWhen::FirstCompleted)
        .await
    {
        Ok(waited) => waited,
        Err(empty) => return say!(w, "   {empty}"),
    };
    for task in waited.done {
        say!(w, "   first done: {}: {}", task.name(), show(&task.await));
    }
    for task in &waited.pending {
        task.cancel();
    }
    for task in waited.pending {
        say!(w, "   {}: {}", task.name(), show(&task.await));
    }
    say!(
        w,
        "   nothing left running: {} request(s) in flight",
        w.in_flight().await
    );
}

/// `timeout` gives a block of work a budget, and cancels it where it stands when it runs out.
pub async fn budget(w: &impl World) {
    heading(
        w,
        4,
        "a 5 s budget over three 2 s requests",
        "async with asyncio.timeout(5): for url in urls: await get(url)",
        "corral::timeout(5 s, async { for url in urls { get(url).await } }).await",
    );
    let start = Instant::now();
    let finished = Cell::new(0);
    let one_by_one = async {
        for index in 0..3 {
            let reply = w.get(status(w, 200, 2.0)).await;
            say!(w, "   request {index}: {}", show_reply(&reply));
            finished.set(index + 1);
        }
    };
    match corral::timeout(secs(w, 5.0), one_by_one).await {
        Ok(()) => say!(w, "   timeout returned Ok(()): all three within the budget"),
        Err(elapsed) => say!(
            w,
            "   timeout returned Err({elapsed:?}) after {:.2}s: request {} was cancelled mid-flight",
            start.elapsed().as_secs_f64(),
            finished.get()
        ),
    }
    let start = Instant::now();
    let together = corral::gather([2.0, 2.0, 2.0].map(|after| w.get(status(w, 200, after))));
    match corral::timeout(secs(w, 5.0), together).await {
        Ok(Ok(statuses)) => say!(
            w,
            "   the same three at once (gather): Ok(Ok({statuses:?})) in {:.2}s, within the budget",
            start.elapsed().as_secs_f64()
        ),
        Ok(Err(failure)) => say!(w, "   the same three at once: Ok(Err({failure}))"),
        Err(elapsed) => say!(w, "   the same three at once: Err({elapsed:?})"),
    }
}

/// `gather_settled` returns one outcome per input, errors included; `gather` stops at the
/// first error and cancels the rest.
pub async fn errors_as_values(w: &impl World) {
    heading(
        w,
        5,
        "errors are returned as values",
        "await asyncio.gather(*aws, return_exceptions=True)",
        "corral::gather_settled([...]).await: one Outcome per input",
    );
    let inputs = [
        status(w, 200, 0.0),
        status(w, 500, 0.0),
        Get::Refused,
        Get::Garbage,
    ];
    say!(
        w,
        "   gather_settled over get(200), get(500), a closed port, not HTTP; each raise_for_status():"
    );
    let outcomes = corral::gather_settled(inputs.map(|get| raise_for_status(w, get))).await;
    for (index, outcome) in outcomes.iter().enumerate() {
        say!(w, "   input {index}: {}", show(outcome));
    }
    say!(
        w,
        "   plain gather([get(200, after=0.1), get(500, after=0.2), get(200, after=1)]):"
    );
    let start = Instant::now();
    let inputs = [(200, 0.1), (500, 0.2), (200, 1.0)];
    let first_error =
        corral::gather(inputs.map(|(code, after)| raise_for_status(w, status(w, code, after))))
            .await;
    match first_error {
        Ok(statuses) => say!(w, "   gather returned Ok({statuses:?})"),
        Err(failure) => say!(
            w,
            "   gather returned Err({failure}) after {:.2}s, at the first error, and cancelled the rest:",
            start.elapsed().as_secs_f64()
        ),
    }
    w.print(format_args!(
        "{UNDER}   {} request(s) still in flight",
        w.in_flight().await
    ));
}

/// A `Limiter` of 10 lets 100 requests through 10 at a time.
pub async fn limit_of_ten(w: &impl World) {
    heading(
        w,
        6,
        "a limit of 10 over 100 requests",
        "sem = asyncio.Semaphore(10); then 100 of: async with sem: await get(url)",
        "let limiter = corral::Limiter::new(10); limiter.acquire().await inside each",
    );
    let start = Instant::now();
    w.reset_peak();
    let limiter = corral::Limiter::new(10);
    let limiter = &limiter;
    let requests = (0..100).map(|_| async move {
        let _permit = limiter.acquire().await;
        w.get(status(w, 200, 0.1)).await
    });
    match corral::gather(requests).await {
        Ok(statuses) => say!(
            w,
            "   gather returned {} statuses in {:.2}s: 10 waves of {:.2}s, at most {} in flight at once",
            statuses.len(),
            start.elapsed().as_secs_f64(),
            secs(w, 0.1).as_secs_f64(),
            w.peak()
        ),
        Err(failure) => say!(w, "   gather returned Err({failure})"),
    }
    w.print(format_args!(
        "{UNDER}   corral::gather(requests).limit(10) does the same without a limiter"
    ));
}
