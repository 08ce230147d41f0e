//! What the command's end-to-end test files share: the server, started in-process on
//! 127.0.0.1 (port 0) on a runtime of its own, and the binary.
#![allow(dead_code)] // each test file uses its own share of these

use std::net::SocketAddr;
use std::time::Duration;

use assert_cmd::Command;
use corral_cli::serve::{Config, Server, StatsSnapshot};

/// The server on its own runtime, in this test process. Dropping it stops it.
pub struct TestServer {
    server: Option<Server>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::with(Config::default())
    }

    /// A server that keeps every request's path and query.
    pub fn logging() -> Self {
        Self::with(Config {
            log_requests: true,
            ..Config::default()
        })
    }

    pub fn with(config: Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = runtime.block_on(Server::bind(addr, config)).unwrap();
        TestServer {
            server: Some(server),
            runtime: Some(runtime),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.as_ref().unwrap().url(path)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.server.as_ref().unwrap().stats()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }

    pub fn request_log(&self) -> Vec<String> {
        self.server.as_ref().unwrap().request_log()
    }

    pub fn reset_peak(&self) {
        self.server.as_ref().unwrap().reset_peak();
    }

    /// The counters by `Host` header (`127.0.0.1:PORT`, `localhost:PORT`).
    pub fn host_stats(&self) -> std::collections::BTreeMap<String, StatsSnapshot> {
        self.server.as_ref().unwrap().host_stats()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let rt = self.runtime.take().unwrap();
        let _guard = rt.enter();
        drop(self.server.take());
        drop(_guard);
        rt.shutdown_background();
    }
}

/// The `corral` binary, with a 60 s limit on each run.
pub fn corral() -> Command {
    let mut c = Command::cargo_bin("corral").unwrap();
    c.timeout(Duration::from_secs(60));
    c
}

/// What a `corral fetch -o jsonl` run gave: its exit code, its records, stderr, and how long
/// it took.
pub struct Fetched {
    pub code: i32,
    pub records: Vec<serde_json::Value>,
    pub stderr: String,
    pub took: Duration,
}

impl Fetched {
    /// The record with index `i`; panics naming the records if there is not exactly one.
    pub fn at(&self, i: u64) -> &serde_json::Value {
        let mut found = self.records.iter().filter(|r| r["index"] == i);
        match (found.next(), found.next()) {
            (Some(r), None) => r,
            _ => panic!("not one record with index {i}: {:#?}", self.records),
        }
    }

    /// The records sorted by index.
    pub fn by_index(&self) -> Vec<&serde_json::Value> {
        let mut v: Vec<&serde_json::Value> = self.records.iter().collect();
        v.sort_by_key(|r| r["index"].as_u64().unwrap());
        v
    }

    /// Each record's error kind, or `ok`, by index.
    pub fn kinds(&self) -> Vec<String> {
        self.by_index()
            .iter()
            .map(|r| r["error_kind"].as_str().unwrap_or("ok").to_owned())
            .collect()
    }

    /// The nearest-rank percentile of the records' `elapsed_ms`.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut ms: Vec<f64> = self
            .records
            .iter()
            .map(|r| r["elapsed_ms"].as_f64().unwrap())
            .collect();
        ms.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[rank.clamp(1, ms.len()) - 1]
    }
}

/// Runs `corral fetch -o jsonl ARGS` with `stdin`, and parses its records.
pub fn fetch_jsonl<S: AsRef<str>>(args: &[S], stdin: &str) -> Fetched {
    let start = std::time::Instant::now();
    let out = corral()
        .arg("fetch")
        .args(["-o", "jsonl"])
        .args(args.iter().map(AsRef::as_ref))
        .write_stdin(stdin)
        .output()
        .unwrap();
    let took = start.elapsed();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Fetched {
        code: out.status.code().unwrap_or(-1),
        records: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        took,
    }
}
