//! The command line: every subcommand and flag, each defined once with its help text.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration;
use crate::fetch::OkStatus;
use crate::output::Format;
use crate::rows::InputFormat;
use crate::shard::{Shard, ShardBy};

/// Exit codes, shared by `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    the strategy's condition was met (plain fetch: every request succeeded;
       --any: one succeeded; --quorum K: K succeeded; --fail-fast: none failed)
  1    it was not
  2    usage error (bad flag, bad duration, unreadable input file or stdin,
       no inputs: an input without a single URL)
  124  the deadline (-z) expired before the condition was decided (inputs were
       cancelled, or lines of a pipe left unread)
  130  interrupted (Ctrl-C); every input read gets its record (a pipe or a
       terminal is not read further after a stop; a file is)
  141  stdout was closed (e.g. `| head`) before every record was written: the
       run stopped there (128 + SIGPIPE, as a shell reports a program killed
       by a closed pipe); a closed stderr only loses the messages";

/// Fetch or health-check many URLs at once, with asyncio's strategies, a concurrency limit,
/// timeouts and a deadline; or run the embedded httpbin-style server.
#[derive(Debug, Parser)]
#[command(name = "corral", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch URLs concurrently and write one record per input to stdout.
    #[command(after_help = EXIT_CODES)]
    Fetch(Box<FetchArgs>),
    /// Run the httpbin-compatible test server, with fault endpoints, on loopback.
    Serve(ServeArgs),
    /// Start the server in-process, walk through the asyncio guides' scenarios against it, and
    /// end with a `corral fetch` run on a few URLs.
    Demo(DemoArgs),
    /// Summarise record files (JSON lines from `fetch -o jsonl`, shards, journals), and check
    /// that every input has exactly one record.
    #[command(after_help = REPORT_EXIT_CODES)]
    Report(ReportArgs),
}

/// `corral report`'s exit codes.
pub const REPORT_EXIT_CODES: &str = "\
Exit codes:
  0    the files were read (and with --check, every index has exactly one record)
  1    --check found missing, duplicated or out-of-range indexes
  2    usage error, or a file that cannot be read";

/// Flags of `corral report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Record files: JSON lines as `corral fetch -o jsonl` writes them, shards' outputs,
    /// journals (their header line is skipped); `-` is stdin. A line that is not a record is
    /// named with its file and line number on stderr and skipped.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Check that indexes 0..N-1 each have exactly one record, over all the files; exit 1
    /// naming the missing, duplicated and out-of-range ones.
    #[arg(long, value_name = "N")]
    pub check: Option<u64>,

    /// Also write the report as one self-contained HTML page to FILE (no script, nothing
    /// fetched): the summary, a latency histogram, and bars for statuses and error kinds.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Flags of `corral fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// URLs to fetch. Without any (and without -i), stdin is read when it is not a terminal.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one per line (`-` for stdin). Blank lines and lines starting with
    /// `#` are skipped, and so is a byte-order mark at the start; a bad line becomes an
    /// `invalid_input` record naming its line number. An input without a URL exits 2.
    #[arg(
        short = 'i',
        long = "input",
        value_name = "FILE|-",
        conflicts_with = "urls"
    )]
    pub input: Option<PathBuf>,

    /// How the input is read [default: lines]: `lines` is one URL per line; `csv` has a header
    /// line naming its fields, and `jsonl` one JSON object per line. A row's URL is in
    /// --url-field, and every other field goes into its record unchanged, under `fields`.
    #[arg(long, value_name = "FORMAT", conflicts_with = "urls")]
    pub input_format: Option<InputFormat>,

    /// With --input-format csv|jsonl: the field that holds the URL [default: url].
    // Not clap's default_value: clap does not check `requires` for an argument with one.
    #[arg(
        long,
        value_name = "NAME",
        requires = "input_format",
        conflicts_with = "urls"
    )]
    pub url_field: Option<String>,

    /// With --input-format csv|jsonl: the field that holds the input's index (a non-negative
    /// integer), for records, --shard, --resume and `report --check`, instead of its position
    /// in this input. For an input split up elsewhere (Spark partitions, `split`), so that
    /// records keep their index in the whole.
    #[arg(
        long,
        value_name = "NAME",
        requires = "input_format",
        conflicts_with = "urls"
    )]
    pub index_field: Option<String>,

    /// Run at most N requests at once. Inputs are read only as fast as slots free up. With
    /// --adaptive, the ceiling of the adaptive limit.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Give up on a request after DUR (connect, headers and body): error_kind `timeout`.
    /// Durations: 250ms, 2s, 1.5s, 1m; a bare number is seconds (2, 0.5).
    #[arg(short = 't', long, value_name = "DUR", value_parser = duration::parse)]
    pub timeout: Option<Duration>,

    /// Give up connecting (TCP and TLS) after DUR: error_kind `connect`.
    #[arg(long, value_name = "DUR", value_parser = duration::parse)]
    pub connect_timeout: Option<Duration>,

    /// Stop the whole run after DUR: requests still running and inputs not started are
    /// recorded as `cancelled`, and the exit code is 124. The run ends within about 0.1 s of
    /// DUR, plus the time to write the records of an input file's remaining lines (over a
    /// million a second); a pipe or a terminal is not read further.
    #[arg(short = 'z', long, value_name = "DUR", value_parser = duration::parse)]
    pub deadline: Option<Duration>,

    /// Write records in input order (gather), still streaming: a record is written as soon as
    /// all earlier ones are out. The default is completion order (as_completed). -c requests
    /// stay in flight while finished records wait behind a slow one, up to --reorder-buffer.
    #[arg(short = 'k', long, conflicts_with_all = ["any", "quorum"])]
    pub keep_order: bool,

    /// With -k, the most inputs held from the oldest one not yet written to the newest started
    /// (running, or finished and waiting for it): when that many are held, a new request starts
    /// only as the oldest is written. Raised to -c if smaller. About 200 bytes each, plus the
    /// URL.
    #[arg(long, value_name = "N", default_value_t = 10_000, requires = "keep_order",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub reorder_buffer: u64,

    /// Stop at the first success (mirrors): the rest are cancelled. Exit 0 if one succeeded.
    #[arg(long, conflicts_with_all = ["quorum", "fail_fast"])]
    pub any: bool,

    /// Stop as soon as K requests have succeeded (exit 0), or as soon as K has become
    /// impossible (exit 1). The rest are cancelled.
    #[arg(long, value_name = "K", conflicts_with = "fail_fast",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub quorum: Option<u64>,

    /// Stop at the first failure: the rest are cancelled. Exit 0 if none failed.
    #[arg(long)]
    pub fail_fast: bool,

    /// Statuses that count as success: classes, codes and ranges, e.g. `2xx,304` or
    /// `200-399`. Any other status is a failure with error_kind `status`.
    #[arg(long, value_name = "LIST", default_value = "2xx", value_parser = OkStatus::parse)]
    pub ok_status: OkStatus,

    /// Record format on stdout [default: text on a terminal, jsonl otherwise].
    #[arg(short = 'o', long, value_name = "FORMAT", value_enum)]
    pub output: Option<Format>,

    /// Save the body of each successful response to DIR/INDEX (INDEX is the record's index).
    /// DIR is created if missing. Only new files are written: an existing DIR/INDEX, or a
    /// symbolic link there, is not touched, and that record fails with `body`.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,

    /// With --save, also save the bodies of failed responses (a status not in --ok-status, a
    /// body cut short or cut by --max-body, a request cancelled while running), as far as
    /// they arrived.
    #[arg(long, requires = "save")]
    pub save_errors: bool,

    /// Read at most BYTES of each body (suffixes K, M, G: powers of 1024); a longer body is
    /// cut there and its record fails with `body`.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_body: Option<u64>,

    /// Handle only shard I of N (0 <= I < N): the other inputs are skipped, and records keep
    /// the input's index. `env/N` takes I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed
    /// Job).
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,

    /// How inputs are assigned to shards: `index` (input i goes to shard i % N) or `host`
    /// (by a stable hash of the URL's host, so each host is fetched by one shard only).
    #[arg(long, value_name = "RULE", value_enum, requires = "shard")]
    pub shard_by: Option<ShardBy>,

    /// Append every final record (all but `cancelled`) to FILE as a JSON line, after a header
    /// line fingerprinting the input and the flags; fsync'd every 100 ms and at the end. FILE
    /// must not exist yet, unless with --resume.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// With --journal: skip the inputs that already have a final record in FILE and append
    /// the rest. The input and the flags that change results must be as the journal says,
    /// else exit 2. A missing FILE starts a new journal.
    #[arg(long, requires = "journal", conflicts_with_all = ["any", "quorum", "fail_fast"])]
    pub resume: bool,

    /// Quiet: no progress bar and no summary on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// What each request sends, redirects, and how the client connects.
    #[command(flatten)]
    pub request: crate::request::RequestArgs,
    /// Retries, rate and per-host limits, hedging, circuit breaker.
    #[command(flatten)]
    pub policy: crate::policy::PolicyArgs,
}

impl FetchArgs {
    /// The row field that holds the URL: --url-field, or `url`.
    pub fn url_field(&self) -> String {
        self.url_field.clone().unwrap_or_else(|| "url".to_owned())
    }
}

/// Parses a byte count: `1000`, `64K`, `10M`, `1G` (powers of 1024; `KiB`, `MiB`, `GiB` too).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("`{text}` is not a byte count (1000, 64K, 10M, 1G)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a byte count (1000, 64K, 10M, 1G)"))
}

/// Flags of `corral serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one. The first stdout line is always
    /// `listening on http://HOST:PORT`.
    #[arg(short = 'p', long, default_value_t = 8080)]
    pub port: u16,

    /// Address to bind. Loopback by default: the server is for tests, not for the network.
    #[arg(short = 'b', long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Longest delay `/delay/{secs}`, `/drip` and `/slow` will take; longer requests are cut
    /// to this.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = duration::parse)]
    pub max_delay: Duration,

    /// Largest body `/bytes/N`, `/drip` and `/slow` will send.
    #[arg(long, value_name = "N", default_value_t = 10 * 1024 * 1024)]
    pub max_bytes: u64,

    /// Disconnect a client that has not sent a whole request head DUR after connecting, or
    /// after its previous request on a kept-alive connection (on HTTP/2: that does not answer
    /// a PING within DUR), so that idle and half-open connections (slowloris) cannot use up
    /// the server's file descriptors; 0 never does.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = duration::parse)]
    pub header_timeout: Duration,
}

/// Flags of `corral demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Multiply every delay by this factor (the scenarios are written for 1.0).
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub time_scale: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn strategies_exclude_each_other() {
        for args in [
            &["corral", "fetch", "--any", "--quorum", "2", "http://a/"][..],
            &["corral", "fetch", "--any", "--fail-fast", "http://a/"],
            &["corral", "fetch", "-k", "--any", "http://a/"],
            &["corral", "fetch", "-i", "f", "http://a/"],
            &["corral", "fetch", "--quorum", "0", "http://a/"],
            &["corral", "fetch", "-c", "0", "http://a/"],
            &["corral", "fetch", "-t", "5x", "http://a/"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        assert!(Cli::try_parse_from(["corral", "fetch", "-k", "--fail-fast", "http://a/"]).is_ok());
    }

    #[test]
    fn defaults_are_as_documented() {
        let Command::Fetch(f) = Cli::try_parse_from(["corral", "fetch", "http://a/"])
            .unwrap()
            .command
        else {
            panic!("not fetch")
        };
        assert_eq!(f.concurrency, 50);
        assert_eq!(f.ok_status, OkStatus::default());
        assert!(f.output.is_none() && f.timeout.is_none() && !f.keep_order);
        assert_eq!(f.reorder_buffer, 10_000);
        assert!(f.max_body.is_none() && !f.save_errors);
    }

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        for bad in ["", "K", "1.5M", "10T", "-1", "99999999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
