//! The `corral` command: fetch or health-check many URLs at once with asyncio's strategies, and
//! an embedded httpbin-style server to run them against offline.
//!
//! One module per concern, in the order a run goes through them: [`cli`] (flags), [`input`]
//! (streamed lines, and [`rows`] for csv and jsonl), [`select`] (which of them this run takes:
//! [`shard`], and what the [`journal`] has done), [`fetch`] (the shared HTTP client and error
//! kinds, with [`request`] for what each request sends), [`run`] (one `as_completed` stream
//! over the inputs, stopped as the [`strategy`] decides, with [`reorder`] for `-k`, and
//! [`policy`] for retries, rate and per-host limits, hedging and the circuit breaker),
//! [`output`] (records), [`journal`] (a run that survives a crash), [`summary`] and
//! [`progress`] (stderr); plus [`report`] (the summary of record files, and [`html`] for its
//! page), [`serve`] (the test
//! server) and [`demo`]. [`stdio`] writes to stdout and stderr without panicking when a pipe
//! is closed, and [`fdlimit`] raises the open-file limit at start; [`stable_hash`] is the hash
//! that every process agrees on.

use clap::Parser;

pub mod cli;
pub mod demo;
pub mod duration;
pub mod fdlimit;
pub mod fetch;
pub mod html;
pub mod input;
pub mod journal;
pub mod output;
pub mod policy;
pub mod progress;
pub mod record;
pub mod reorder;
pub mod report;
pub mod request;
pub mod rows;
pub mod run;
pub mod select;
pub mod serve;
pub mod shard;
pub mod stable_hash;
pub mod stdio;
pub mod strategy;
pub mod summary;

/// The exit codes; see [`cli::EXIT_CODES`].
pub mod exit {
    /// The strategy's condition was met.
    pub const OK: i32 = 0;
    /// It was not.
    pub const NOT_MET: i32 = 1;
    /// Usage error.
    pub const USAGE: i32 = 2;
    /// The deadline expired first.
    pub const DEADLINE: i32 = 124;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: i32 = 130;
    /// Stdout was closed (`| head`) before everything was written: the command stopped there.
    ///
    /// 128 + SIGPIPE (13), which is what a shell reports for a program that a closed pipe
    /// killed (`yes | head -1` with `set -o pipefail`), so scripts that already handle that case
    /// handle this one. Rust ignores SIGPIPE, so corral sees the failed write instead of dying,
    /// stops cleanly (no panic, no partial line on stderr), and exits with the same status.
    pub const BROKEN_PIPE: i32 = 141;
}

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    // Before anything opens a file: as many descriptors as the hard limit allows.
    fdlimit::raise();
    // `fetch` on one thread: a request and the hyper connection task it goes out on are then
    // polled by the same thread, instead of crossing between the `block_on` thread and the
    // workers twice per request (BENCHMARKS.md, "The command": about a third less CPU per
    // request, and the futex wake-ups between threads gone).
    let mut builder = match cli.command {
        cli::Command::Fetch(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            stdio::note!("corral: cannot start the async runtime: {e}");
            return exit::NOT_MET;
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            cli::Command::Fetch(args) => run::run(*args).await,
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::Demo(args) => demo::run(args).await,
            cli::Command::Report(args) => report::run(args),
        }
    });
    // A read of stdin may still be blocked in tokio's blocking pool; do not wait for it.
    runtime.shutdown_background();
    code
}
