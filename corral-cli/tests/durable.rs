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

fn records(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.contains("\"corral_journal\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

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

// ---- --shard ----

#[test]
fn shards_by_index_together_equal_one_unsharded_run() {
    let srv = TestServer::start();
    let dir = scratch("shard-index");
    let input = dir.join("urls.txt");
    let mut text = String::from("# a comment, not an input\n");
    for i in 0..30 {
        match i % 7 {
            3 => text.push_str("not-a-url\n"),
            5 => text.push_str(&srv.url("/status/500\n")),
            _ => text.push_str(&format!("{}\n", srv.url(&format!("/get?i={i}")))),
        }
    }
    std::fs::write(&input, text).unwrap();
    let whole = run(&["fetch", "-q", "-o", "jsonl", "-i", s(&input)]);
    let all = sorted_indexes(&records(&whole.stdout));
    assert_eq!(all, (0..30).collect::<Vec<_>>(), "{}", whole.stderr);

    let mut union = Vec::new();
    let mut files = Vec::new();
    for i in 0..3 {
        let spec = format!("{i}/3");
        // -k too: the reorder buffer counts this shard's inputs, not the others'.
        let keep = if i == 1 { "-k" } else { "--ok-status=2xx" };
        let r = run(&[
            "fetch",
            "-q",
            keep,
            "-o",
            "jsonl",
            "-i",
            s(&input),
            "--shard",
            &spec,
        ]);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        let recs = records(&r.stdout);
        let idx: Vec<u64> = recs.iter().map(|r| r["index"].as_u64().unwrap()).collect();
        assert!(idx.iter().all(|x| x % 3 == i), "shard {spec}: {idx:?}");
        if i == 1 {
            assert!(
                idx.windows(2).all(|w| w[0] < w[1]),
                "-k keeps order: {idx:?}"
            );
        }
        // Records keep the global index: line numbers still match the file.
        for r in &recs {
            assert_eq!(
                r["line"].as_u64().unwrap(),
                r["index"].as_u64().unwrap() + 2
            );
        }
        union.extend(idx);
        let file = dir.join(format!("shard-{i}.jsonl"));
        std::fs::write(&file, &r.stdout).unwrap();
        files.push(file);
    }
    union.sort_unstable();
    assert_eq!(union, all);
    let mut args = vec!["report", "--check", "30"];
    args.extend(files.iter().map(|f| s(f)));
    let report = run(&args);
    assert_eq!(report.code, 0, "{}{}", report.stdout, report.stderr);
    // Without one shard, report says which indexes are missing.
    let report = run(&["report", "--check", "30", s(&files[0]), s(&files[2])]);
    assert_eq!(report.code, 1);
    assert!(
        report
            .stdout
            .contains("10 missing: 1, 4, 7, 10, 13, 16, 19, 22, …"),
        "{}",
        report.stdout
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shard_by_host_puts_each_host_on_exactly_one_shard() {
    let srv = TestServer::start();
    let port = srv
        .url("/")
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    // Eight hosts, all loopback: 127.0.0.1 answers, the others refuse the connection.
    let urls: Vec<String> = (0..40)
        .map(|i| format!("http://127.0.0.{}:{port}/get?i={i}", 1 + i % 8))
        .collect();
    let mut owner: std::collections::HashMap<String, u64> = Default::default();
    let mut union = Vec::new();
    for shard in 0..4u64 {
        let spec = format!("{shard}/4");
        let mut args = vec!["fetch", "-q", "-o", "jsonl", "-t", "10s", "--shard", &spec];
        args.extend(["--shard-by", "host"]);
        args.extend(urls.iter().map(String::as_str));
        let r = run(&args);
        for rec in records(&r.stdout) {
            let url = rec["url"].as_str().unwrap();
            let host = url.split('/').nth(2).unwrap().split(':').next().unwrap();
            let was = owner.insert(host.to_owned(), shard);
            assert!(
                was.is_none_or(|w| w == shard),
                "{host} on shards {was:?} and {shard}"
            );
            union.push(rec["index"].as_u64().unwrap());
        }
    }
    union.sort_unstable();
    assert_eq!(union, (0..40).collect::<Vec<_>>());
    assert_eq!(owner.len(), 8);
}

#[test]
fn shard_specs_are_checked_and_env_reads_job_completion_index() {
    for spec in ["4/4", "x/2", "1/0", "2", "1/-3"] {
        let r = run(&["fetch", "--shard", spec, "not-a-url"]);
        assert_eq!(r.code, 2, "{spec}: {}", r.stderr);
        assert!(r.stderr.contains("--shard"), "{spec}: {}", r.stderr);
    }
    let r = corral()
        .args(["fetch", "--shard", "env/3", "not-a-url"])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("JOB_COMPLETION_INDEX is not set"));
    let r = run(&["fetch", "--shard-by", "host", "not-a-url"]);
    assert_eq!(r.code, 2, "--shard-by needs --shard");

    // Five bad lines (no request needed): env/3 with index 1 is 1/3, inputs 1 and 4.
    let args = [
        "fetch", "-q", "-o", "jsonl", "--shard", "env/3", "a", "b", "c", "d", "e",
    ];
    let out = corral()
        .args(args)
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .unwrap();
    let idx = sorted_indexes(&records(&String::from_utf8(out.stdout).unwrap()));
    assert_eq!(idx, [1, 4]);
    // A shard with no inputs of its own is not an empty input: exit 0, no records.
    let r = run(&["fetch", "-o", "jsonl", "--shard", "2/3", "a", "b"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
}

/// The Kubernetes manifest cannot run here (no cluster), and no YAML parser is among the
/// dependencies: this checks, line by line, that it is an Indexed Job whose completions,
/// parallelism and `--shard env/N` agree.
#[test]
fn the_indexed_job_manifest_shards_by_job_completion_index() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/k8s/indexed-job.yaml"
    );
    let yaml = std::fs::read_to_string(path).unwrap();
    let value = |key: &str| -> String {
        let line = yaml
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no `{key}:` in {path}"));
        line.split_once(':').unwrap().1.trim().to_owned()
    };
    assert_eq!(value("kind"), "Job");
    assert_eq!(value("completionMode"), "Indexed");
    let n = value("completions");
    assert_eq!(value("parallelism"), n);
    assert!(
        yaml.contains(&format!("--shard env/{n} ")),
        "--shard env/{n}"
    );
    assert!(yaml.contains("$(JOB_COMPLETION_INDEX)"));
    assert!(!yaml.contains('\t'), "YAML allows no tabs");
}
