//! `corral demo`: the scenarios of the asyncio guides, each a fetch against the embedded
//! server, run with the corral call that maps the asyncio one, with what happened and when.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::DemoArgs;
use crate::exit;
use crate::fetch::{Fetched, Fetcher, OkStatus, Settings};
use crate::input::{parse_url, Input};
use crate::record::Record;
use crate::serve::{Config, Server};
use crate::stdio::{note, Stdout};

/// `println!` onto the demo's stdout ([`Stdout`]): never panics, and once a write fails the
/// rest are skipped and [`run`] stops the scenarios.
macro_rules! say {
    ($d:expr_2021, $($arg:tt)*) => {
        $d.out.line(format_args!($($arg)*))
    };
}

/// One demo run: the server, the clients, the time scale.
struct Demo {
    server: Server,
    /// Every status is a value (for showing statuses).
    any_status: Fetcher,
    /// Only 2xx is a success (for showing errors).
    strict: Fetcher,
    scale: f64,
    out: Stdout,
}

impl Demo {
    /// `secs` scaled, as the text of a `/delay/{secs}` path segment.
    fn secs(&self, secs: f64) -> String {
        format!("{}", secs * self.scale)
    }

    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs * self.scale)
    }

    fn get(
        &self,
        fetcher: &Fetcher,
        index: u64,
        path: &str,
    ) -> impl Future<Output = Fetched> + use<> {
        let text = if path.starts_with('/') {
            self.server.url(path)
        } else {
            path.to_owned()
        };
        let input = Input {
            index,
            line: index + 1,
            url: parse_url(&text),
            text,
            fields: None,
        };
        fetcher.fetch(input, Default::default())
    }
}

/// How long since `t0`, for people.
fn at(t0: Instant) -> String {
    format!("{:5.2}s", t0.elapsed().as_secs_f64())
}

/// One line for a finished request.
fn show(r: &Fetched) -> String {
    let r: &Record = match r {
        Ok(r) => r,
        Err(r) => r,
    };
    match (&r.error_kind, r.status) {
        (None, Some(s)) => format!("{s} from {}", path_of(&r.url)),
        (Some(k), _) => format!(
            "{k} error from {}: {}",
            path_of(&r.url),
            r.error.as_deref().unwrap_or("")
        ),
        _ => "?".to_owned(),
    }
}

/// One line for an outcome as the library hands it out.
fn show_outcome(o: corral::Outcome<Record, Box<Record>>) -> String {
    match o {
        corral::Outcome::Ok(r) => show(&Ok(r)),
        corral::Outcome::Err(r) => show(&Err(r)),
        corral::Outcome::Cancelled(_) => "cancelled".to_owned(),
        corral::Outcome::Panicked(p) => format!("panicked: {}", p.message()),
    }
}

fn path_of(url: &str) -> &str {
    url.find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..]))
        .unwrap_or(url)
}

fn heading(d: &Demo, n: u32, title: &str, asyncio: &str, corral: &str) {
    say!(d, "");
    say!(d, "{n}. {title}");
    say!(d, "   asyncio: {asyncio}");
    say!(d, "   corral:  {corral}");
}

/// Runs `corral demo` and returns the exit code.
pub async fn run(args: DemoArgs) -> i32 {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = match Server::bind(addr, Config::default()).await {
        Ok(s) => s,
        Err(e) => {
            note!("corral demo: cannot start the server on loopback: {e}");
            return exit::NOT_MET;
        }
    };
    let fetcher = |ok: &str| {
        Fetcher::new(Settings {
            pool_per_host: 100,
            ok_status: OkStatus::parse(ok).expect("static status list"),
            ..Settings::default()
        })
    };
    let (any_status, strict) = match (fetcher("100-599"), fetcher("2xx")) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) | (_, Err(e)) => {
            note!("corral demo: {e}");
            return exit::NOT_MET;
        }
    };
    let demo = Demo {
        server,
        any_status,
        strict,
        scale: if args.time_scale.is_finite() && args.time_scale > 0.0 {
            args.time_scale
        } else {
            1.0
        },
        out: Stdout::new(),
    };
    say!(
        demo,
        "corral demo: the asyncio guides' scenarios, against the embedded server at {}",
        demo.server.url("")
    );
    let t0 = Instant::now();
    let scenarios = async {
        gather_keeps_order(&demo).await;
        as_completed_streams(&demo).await;
        first_completed_wins(&demo).await;
        budget(&demo).await;
        errors_as_values(&demo).await;
        limit_of_ten(&demo).await;
        say!(demo, "");
        say!(
            demo,
            "corral demo: done in {:.2}s",
            t0.elapsed().as_secs_f64()
        );
    };
    // Once nobody reads stdout (`corral demo | head`), stop at once: dropping the scenarios
    // drops their requests.
    tokio::select! {
        () = scenarios => {}
        () = demo.out.closed() => {}
    }
    match demo.out.error() {
        None => exit::OK,
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
        Some(e) => {
            note!("corral demo: cannot write to stdout: {e}");
            exit::NOT_MET
        }
    }
}

async fn gather_keeps_order(d: &Demo) {
    heading(
        d,
        1,
        "gather keeps order",
        "await asyncio.gather(get(200, after=0.3s), get(201, after=0.1s), get(400, after=0.2s))",
        "corral::gather([...]).await",
    );
    let t0 = Instant::now();
    let job = |i: u64, code: u16, secs: f64| {
        let path = format!("/status/{code}?delay={}", d.secs(secs));
        let fut = d.get(&d.any_status, i, &path);
        async move {
            let r = fut.await;
            say!(d, "   {}  finished: {}", at(t0), show(&r));
            r
        }
    };
    let result = corral::gather([job(0, 200, 0.3), job(1, 201, 0.1), job(2, 400, 0.2)]).await;
    match result {
        Ok(records) => {
            let statuses: Vec<String> = records
                .iter()
                .map(|r| r.status.map_or("-".into(), |s| s.to_string()))
                .collect();
            say!(
                d,
                "   {}  gather returned [{}]: input order, not finishing order",
                at(t0),
                statuses.join(", ")
            );
        }
        Err(f) => say!(d, "   {}  gather failed: {f:?}", at(t0)),
    }
}

async fn as_completed_streams(d: &Demo) {
    heading(
        d,
        2,
        "as_completed streams results as they finish",
        "for next in asyncio.as_completed([get(delay=3), get(delay=1), get(delay=2)]): ...",
        "corral::as_completed([...]), a Stream; each item says which input it was",
    );
    let t0 = Instant::now();
    let jobs = [3.0, 1.0, 2.0]
        .into_iter()
        .enumerate()
        .map(|(i, s)| d.get(&d.any_status, i as u64, &format!("/delay/{}", d.secs(s))));
    let mut stream = corral::as_completed(jobs);
    while let Some(done) = stream.next().await {
        say!(
            d,
            "   {}  input {}: {}",
            at(t0),
            done.index,
            show_outcome(done.outcome)
        );
    }
    say!(
        d,
        "   {}  all three, in the time of the slowest ({:.2}s), not the sum ({:.2}s)",
        at(t0),
        d.scaled(3.0).as_secs_f64(),
        d.scaled(6.0).as_secs_f64()
    );
}

async fn first_completed_wins(d: &Demo) {
    heading(
        d,
        3,
        "the first completed wins, the rest are cancelled",
        "done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED); cancel pending",
        "corral::wait(tasks).return_when(FirstCompleted), then cancel() the pending tasks",
    );
    let t0 = Instant::now();
    let tasks = [2.0, 1.0, 3.0].into_iter().enumerate().map(|(i, s)| {
        corral::spawn(d.get(&d.any_status, i as u64, &format!("/delay/{}", d.secs(s))))
    });
    let waited = match corral::wait(tasks)
        .return_when(corral::ReturnWhen::FirstCompleted)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            say!(d, "   {e}");
            return;
        }
    };
    for (index, task) in waited.done {
        say!(
            d,
            "   {}  first: input {index}: {}",
            at(t0),
            show_outcome(task.await)
        );
    }
    for (_, task) in &waited.pending {
        task.cancel();
    }
    for (index, task) in waited.pending {
        say!(
            d,
            "   {}  input {index}: {}",
            at(t0),
            show_outcome(task.await)
        );
    }
    say!(
        d,
        "   {}  nothing left running: the server has {} request(s) in flight",
        at(t0),
        settle_in_flight(d).await
    );
}

/// The server's in-flight count once closed connections have been noticed (up to 1 s).
async fn settle_in_flight(d: &Demo) -> u64 {
    let t0 = Instant::now();
    loop {
        let n = d.server.stats().in_flight;
        if n == 0 || t0.elapsed() > Duration::from_secs(1) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn budget(d: &Demo) {
    heading(
        d,
        4,
        "a 5 s budget over three 2 s requests",
        "async with asyncio.timeout(5): for url in urls: await get(url)",
        "corral::timeout(5 s, async { for url in urls { get(url).await } }).await",
    );
    let t0 = Instant::now();
    let finished = std::cell::Cell::new(0u64);
    let one_by_one = async {
        for i in 0..3 {
            let r = d
                .get(&d.any_status, i, &format!("/delay/{}", d.secs(2.0)))
                .await;
            say!(d, "   {}  request {i}: {}", at(t0), show(&r));
            finished.set(i + 1);
        }
    };
    match corral::timeout(d.scaled(5.0), one_by_one).await {
        Ok(()) => say!(d, "   {}  all done within the budget", at(t0)),
        Err(elapsed) => say!(
            d,
            "   {}  {elapsed}: request {} was cancelled mid-flight",
            at(t0),
            finished.get()
        ),
    }
    let t1 = Instant::now();
    let together = (0..3).map(|i| d.get(&d.any_status, i, &format!("/delay/{}", d.secs(2.0))));
    match corral::timeout(d.scaled(5.0), corral::gather(together)).await {
        Ok(Ok(v)) => say!(
            d,
            "   {}  the same three at once (corral::gather) fit easily: {} done",
            at(t1),
            v.len()
        ),
        Ok(Err(f)) => say!(d, "   {}  failed: {f:?}", at(t1)),
        Err(elapsed) => say!(d, "   {}  {elapsed}", at(t1)),
    }
}

async fn errors_as_values(d: &Demo) {
    heading(
        d,
        5,
        "errors are returned as values",
        "await asyncio.gather(*aws, return_exceptions=True)",
        "corral::gather_settled([...]).await: one Outcome per input",
    );
    let t0 = Instant::now();
    let closed = {
        // A port nobody listens on: bound, then released.
        let l = std::net::TcpListener::bind("127.0.0.1:0");
        let port = l
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        format!("http://127.0.0.1:{port}/")
    };
    let paths = [
        "/get",
        "/status/500",
        closed.as_str(),
        "/garbage",
        "not a url",
    ];
    let jobs = paths
        .iter()
        .enumerate()
        .map(|(i, p)| d.get(&d.strict, i as u64, p));
    let outcomes = corral::gather_settled(jobs).await;
    let n = outcomes.len();
    for (i, o) in outcomes.into_iter().enumerate() {
        let variant = match &o {
            corral::Outcome::Ok(_) => "Ok",
            corral::Outcome::Err(_) => "Err",
            corral::Outcome::Cancelled(_) => "Cancelled",
            corral::Outcome::Panicked(_) => "Panicked",
        };
        say!(d, "   input {i}: {variant}({})", show_outcome(o));
    }
    say!(
        d,
        "   {}  {n} outcomes for {} inputs; nothing raised",
        at(t0),
        paths.len()
    );
}

async fn limit_of_ten(d: &Demo) {
    heading(
        d,
        6,
        "a limit of 10 over 100 requests",
        "sem = asyncio.Semaphore(10); async with sem: await get(url)  (x100, in a gather)",
        "let limiter = corral::Limiter::new(10); limiter.acquire().await inside each",
    );
    let t0 = Instant::now();
    d.server.reset_peak();
    let before = d.server.stats().requests;
    let limiter = corral::Limiter::new(10);
    let limiter = &limiter;
    let jobs = (0..100).map(|i| {
        let request = d.get(&d.strict, i, &format!("/delay/{}", d.secs(0.1)));
        async move {
            let _permit = limiter.acquire().await;
            request.await
        }
    });
    let result = corral::gather(jobs).await;
    let took = t0.elapsed();
    let stats = d.server.stats();
    match result {
        Ok(v) => say!(
        d,
            "   {}  {} requests of {:.2}s each: {} ok; the server saw at most {} at once ({} requests)",
            at(t0),
            v.len(),
            d.scaled(0.1).as_secs_f64(),
            v.iter().filter(|r| r.ok).count(),
            stats.peak_in_flight,
            stats.requests - before,
        ),
        Err(f) => say!(d, "   {}  failed: {f:?}", at(t0)),
    }
    say!(
        d,
        "   10 waves of {:.2}s: {:.2}s in all (gather(...).limit(10) does the same without a limiter)",
        d.scaled(0.1).as_secs_f64(),
        took.as_secs_f64()
    );
}
