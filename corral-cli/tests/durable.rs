//! Runs bigger than one process: `corral report` over record files, `--shard`, and
//! `--journal` with `--resume` surviving SIGKILL. The real binary against the server started
//! in-process on 127.0.0.1 (port 0). Real clock: only generous bounds on time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use corral_cli::serve::{Config, Server, StatsSnapshot};
use serde_json::Value;

/// The server on its own runtime, in this test process. Dropping it stops it.
struct TestServer {
    server: Option<Server>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = runtime
            .block_on(Server::bind(addr, Config::default()))
            .unwrap();
        TestServer {
            server: Some(server),
            runtime: Some(runtime),
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.as_ref().unwrap().url(path)
    }

    #[allow(dead_code)]
    fn stats(&self) -> StatsSnapshot {
        self.server.as_ref().unwrap().stats()
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

fn corral() -> Command {
    let mut c = Command::cargo_bin("corral").unwrap();
    c.timeout(Duration::from_secs(60));
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Out {
    let out = corral().args(args).output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A fresh directory for one test (tests run in parallel threads of one process).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("corral-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[allow(dead_code)] // used by the shard and journal tests
fn records(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.contains("\"corral_journal\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[allow(dead_code)] // used by the shard and journal tests
fn sorted_indexes(records: &[Value]) -> Vec<u64> {
    let mut v: Vec<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    v.sort_unstable();
    v
}

// ---- corral report ----

#[test]
fn report_merges_files_into_one_summary_and_check_passes_on_a_full_set() {
    let srv = TestServer::start();
    let dir = scratch("report");
    let urls: Vec<String> = (0..6)
        .map(|i| match i % 3 {
            0 => srv.url(&format!("/get?i={i}")),
            1 => srv.url("/status/500"),
            _ => "not-a-url".to_owned(),
        })
        .collect();
    let mut args = vec!["fetch", "-q", "-o", "jsonl"];
    args.extend(urls.iter().map(String::as_str));
    let all = run(&args);
    assert_eq!(all.code, 1, "{}", all.stderr);
    // Split into two files, in any order.
    let lines: Vec<&str> = all.stdout.lines().collect();
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    std::fs::write(&a, lines[..2].join("\n") + "\n").unwrap();
    std::fs::write(&b, lines[2..].join("\n") + "\n").unwrap();

    let r = run(&["report", "--check", "6", s(&a), s(&b)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("corral: 6 inputs in ") && r.stdout.contains("2 ok, 4 failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("200 ×2  500 ×2"), "{}", r.stdout);
    assert!(
        r.stdout.contains("invalid_input ×2  status ×2"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("latency: p50") && r.stdout.contains("requests/s"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("2 files, 6 records, 0 bad lines skipped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("check:   0..6: every index exactly once"),
        "{}",
        r.stdout
    );
    // The same from stdin.
    let piped = corral()
        .args(["report", "-", "--check", "6"])
        .write_stdin(all.stdout.clone())
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_check_names_gaps_and_duplicates_and_exits_1() {
    let dir = scratch("check");
    let rec = |i: u64| {
        format!(
            r#"{{"index":{i},"url":"http://a/","ok":true,"status":200,"error_kind":null,"error":null,"elapsed_ms":1.0,"bytes":0,"attempts":1,"line":{},"ended_at":1700000000.0}}"#,
            i + 1
        )
    };
    let mut text: Vec<String> = [0, 1, 2, 2, 5, 9, 9, 9, 20].map(rec).to_vec();
    text.insert(3, "not json at all".to_owned());
    let file = dir.join("r.jsonl");
    // The last line is torn: no newline, cut mid-object.
    std::fs::write(&file, text.join("\n") + "\n{\"index\":10,\"url").unwrap();
    let r = run(&["report", "--check", "10", s(&file)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "check:   0..10: 5 missing: 3-4, 6-8; 2 duplicated: 2 ×2, 9 ×3; 1 out of range: 20"
        ),
        "{}",
        r.stdout
    );
    let name = file.display().to_string();
    assert!(
        r.stderr
            .contains(&format!("{name}:4: skipped, not a record")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{name}:11: skipped, not a record")),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("2 bad lines skipped"), "{}", r.stdout);
    // A file that cannot be read is a usage error.
    let missing = run(&["report", s(&dir.join("nope.jsonl"))]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
