//! `corral demo`: the scenarios of the asyncio guides against the embedded server, then
//! `corral fetch` itself on a few URLs, with what happened and when, on one clock.
//!
//! The scenarios are the library example's (`corral/examples/guides/scenarios.rs`, included
//! here): one source, run there on a simulated world and here on `Http`, whose requests go
//! to the embedded server. `command` is the last part, the command run as a user runs it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::DemoArgs;
use crate::exit;
use crate::fetch::{Fetcher, OkStatus, Settings};
use crate::input::{parse_url, Input};
use crate::serve::{Config, Server};
use crate::stdio::{note, Stdout};

mod command;
#[path = "../../corral/examples/guides/scenarios.rs"]
mod scenarios;

use scenarios::{Get, GetError, Reply, World};

/// The scenarios' world in the demo: requests to the embedded server, lines on stdout.
struct Http {
    server: Server,
    /// Every status is an answer, not an error: the scenarios decide what a status means.
    fetcher: Fetcher,
    /// A URL nobody listens on.
    refused: String,
    scale: f64,
    start: Instant,
    out: Stdout,
}

/// `secs` as the text of a path segment or a duration flag: `3`, `0.3`, `0.25`.
fn secs_text(secs: f64) -> String {
    let text = format!("{secs:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl World for Http {
    fn get(&self, get: Get) -> impl Future<Output = Reply> + Send + 'static {
        let text = match get {
            Get::Status { status, after } => self.server.url(&format!(
                "/status/{status}?delay={}",
                secs_text(after.as_secs_f64())
            )),
            Get::Refused => self.refused.clone(),
            Get::Garbage => self.server.url("/garbage"),
        };
        let input = Input {
            index: 0,
            line: 1,
            url: parse_url(&text),
            text,
            fields: None,
        };
        let fetch = self.fetcher.fetch(input, Default::default());
        async move {
            match fetch.await {
                Ok(record) => record
                    .status
                    .ok_or_else(|| GetError::Transport("no status".into())),
                Err(record) => Err(GetError::Transport(
                    record.error.unwrap_or_else(|| "failed".into()),
                )),
            }
        }
    }

    async fn in_flight(&self) -> u64 {
        // The server notices a closed connection a moment later: give it up to 1 s.
        let start = Instant::now();
        loop {
            let n = self.server.stats().in_flight;
            if n == 0 || start.elapsed() > Duration::from_secs(1) {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn reset_peak(&self) {
        self.server.reset_peak();
    }

    fn peak(&self) -> u64 {
        self.server.stats().peak_in_flight
    }

    fn scale(&self) -> f64 {
        self.scale
    }

    fn start(&self) -> Instant {
        self.start
    }

    fn print(&self, line: fmt::Arguments<'_>) {
        self.out.line(line);
    }
}

/// A port on loopback that nobody listens on: bound, then released.
fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(9, |a| a.port());
    format!("http://127.0.0.1:{port}/")
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
    let fetcher = match Fetcher::new(Settings {
        pool_per_host: 100,
        ok_status: OkStatus::parse("100-599").expect("static status list"),
        ..Settings::default()
    }) {
        Ok(f) => f,
        Err(e) => {
            note!("corral demo: {e}");
            return exit::NOT_MET;
        }
    };
    let world = Http {
        server,
        fetcher,
        refused: refused_url(),
        scale: if args.time_scale.is_finite() && args.time_scale > 0.0 {
            args.time_scale
        } else {
            1.0
        },
        start: Instant::now(),
        out: Stdout::new(),
    };
    let under = scenarios::UNDER;
    world.print(format_args!(
        "corral demo: the asyncio guides' scenarios against the embedded server at {}",
        world.server.url("")
    ));
    world.print(format_args!(
        "{under}    get(status, after=s) is GET /status/{{status}}?delay={{s}}; times are since the start"
    ));
    let story = async {
        scenarios::all(&world).await;
        command::fetch(&world).await;
        world.print(format_args!(""));
        world.print(format_args!(
            "corral demo: done in {:.2}s. The scenarios' code: corral/examples/guides/scenarios.rs",
            world.start.elapsed().as_secs_f64()
        ));
    };
    // Once nobody reads stdout (`corral demo | head`), stop at once: dropping the story drops
    // its requests (and kills the `corral fetch` it may be running).
    tokio::select! {
        () = story => {}
        () = world.out.closed() => {}
    }
    match world.out.error() {
        None => exit::OK,
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
        Some(e) => {
            note!("corral demo: cannot write to stdout: {e}");
            exit::NOT_MET
        }
    }
}
