//! End to end: the real `corral` binary against the server started in-process on 127.0.0.1
//! (port 0), or as a `corral serve --port 0` child. Real clock: only generous bounds on time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command as StdCommand, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::TestServer;

/// A port nobody listens on: bound, then released.
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/")
}

fn corral() -> Command {
    let mut c = Command::cargo_bin("corral").unwrap();
    c.timeout(Duration::from_secs(30));
    c
}

struct Run {
    code: i32,
    records: Vec<Value>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn indices(&self) -> Vec<u64> {
        self.records
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        let mut by_index: Vec<(u64, String)> = self
            .records
            .iter()
            .map(|r| {
                let k = match &r["error_kind"] {
                    Value::Null => "ok".to_owned(),
                    v => v.as_str().unwrap().to_owned(),
                };
                (r["index"].as_u64().unwrap(), k)
            })
            .collect();
        by_index.sort();
        by_index.into_iter().map(|(_, k)| k).collect()
    }

    /// Exactly one record per input, indices 0..n.
    fn assert_one_record_per_input(&self, n: u64) {
        let mut idx = self.indices();
        idx.sort();
        assert_eq!(idx, (0..n).collect::<Vec<_>>(), "stdout:\n{}", self.stdout);
    }
}

fn run_cmd(mut cmd: Command) -> Run {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        records,
        stdout,
        stderr: String::from_utf8(out.stderr).unwrap(),
        took,
    }
}

fn fetch(args: &[&str]) -> Run {
    let mut cmd = corral();
    cmd.arg("fetch").args(["-o", "jsonl"]).args(args);
    run_cmd(cmd)
}

// ---- ordering and strategies ----

#[test]
fn records_come_in_completion_order_by_default() {
    let s = TestServer::start();
    let r = fetch(&[&s.url("/delay/0.8"), &s.url("/delay/0.4"), &s.url("/get")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.indices(), [2, 1, 0]);
    assert!(
        r.took < Duration::from_millis(1_500),
        "concurrent, not 1.2s+: {:?}",
        r.took
    );
}

#[test]
fn keep_order_writes_records_in_input_order() {
    let s = TestServer::start();
    let r = fetch(&[
        "-k",
        &s.url("/delay/0.6"),
        &s.url("/delay/0.3"),
        &s.url("/get"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.indices(), [0, 1, 2]);
    assert!(r.took < Duration::from_millis(1_500), "{:?}", r.took);
}

#[test]
fn keep_order_with_fail_fast_stops_at_the_failure() {
    let s = TestServer::start();
    let r = fetch(&[
        "-k",
        "--fail-fast",
        &s.url("/get"),
        &s.url("/status/500"),
        &s.url("/delay/5"),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.indices(), [0, 1, 2]);
    assert_eq!(r.kinds(), ["ok", "status", "cancelled"]);
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
}

#[test]
fn any_stops_at_the_first_success_and_cancels_the_rest() {
    let s = TestServer::start();
    let r = fetch(&[
        "--any",
        &s.url("/status/500"),
        &s.url("/delay/0.2"),
        &s.url("/delay/5"),
        &s.url("/delay/5"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_one_record_per_input(4);
    assert_eq!(r.kinds(), ["status", "ok", "cancelled", "cancelled"]);
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
}

#[test]
fn any_without_a_success_exits_1() {
    let s = TestServer::start();
    let r = fetch(&["--any", &s.url("/status/500"), &closed_port_url()]);
    assert_eq!(r.code, 1);
    r.assert_one_record_per_input(2);
}

#[test]
fn quorum_stops_once_reached() {
    let s = TestServer::start();
    let r = fetch(&[
        "--quorum",
        "2",
        &s.url("/get"),
        &s.url("/status/503"),
        &s.url("/delay/0.2"),
        &s.url("/delay/5"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.kinds(), ["ok", "status", "ok", "cancelled"]);
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
}

#[test]
fn quorum_stops_as_soon_as_it_is_impossible() {
    let s = TestServer::start();
    let r = fetch(&[
        "--quorum",
        "3",
        &s.url("/status/500"),
        &s.url("/status/500"),
        &s.url("/delay/5"),
        &s.url("/delay/5"),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.kinds(), ["status", "status", "cancelled", "cancelled"]);
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
}

#[test]
fn fail_fast_cancels_running_and_unstarted_inputs() {
    let s = TestServer::start();
    let r = fetch(&[
        "--fail-fast",
        "-c",
        "2",
        &s.url("/delay/5"),
        &s.url("/status/404"),
        &s.url("/delay/5"),
        &s.url("/delay/5"),
        &s.url("/get"),
    ]);
    assert_eq!(r.code, 1);
    r.assert_one_record_per_input(5);
    let kinds = r.kinds();
    assert_eq!(kinds[1], "status");
    assert_eq!(kinds[0], "cancelled");
    assert!(kinds[2..].iter().all(|k| k == "cancelled"), "{kinds:?}");
    let not_started = r.records.iter().filter(|v| v["attempts"] == 0).count();
    // The failure is handed out before its freed slot is refilled, and the run stops before
    // asking for more: no input after it starts.
    assert_eq!(not_started, 3, "no more input starts: {}", r.stdout);
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
}

#[test]
fn plain_fetch_exits_0_only_if_every_request_succeeded() {
    let s = TestServer::start();
    assert_eq!(fetch(&[&s.url("/get"), &s.url("/status/204")]).code, 0);
    assert_eq!(fetch(&[&s.url("/get"), &s.url("/status/500")]).code, 1);
    let r = fetch(&["--ok-status", "2xx,5xx", &s.url("/status/500")]);
    assert_eq!(r.code, 0);
    assert_eq!(r.records[0]["ok"], true);
    assert_eq!(r.records[0]["status"], 500);
}

// ---- limits and time ----

#[test]
fn the_concurrency_limit_is_honoured() {
    let s = TestServer::start();
    let urls: Vec<String> = (0..12).map(|_| s.url("/delay/0.25")).collect();
    let mut args = vec!["-c", "3"];
    args.extend(urls.iter().map(String::as_str));
    let r = fetch(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_one_record_per_input(12);
    let peak = s.stats().peak_in_flight;
    assert!((2..=3).contains(&peak), "peak in flight {peak}, limit 3");
    assert!(
        r.took >= Duration::from_millis(900),
        "4 waves of 250ms: {:?}",
        r.took
    );
}

#[test]
fn deadline_cancels_running_and_unstarted_inputs_and_exits_124() {
    let s = TestServer::start();
    let r = fetch(&[
        "-z",
        "500ms",
        "-c",
        "2",
        &s.url("/get"),
        &s.url("/delay/5"),
        &s.url("/delay/5"),
        &s.url("/get"),
    ]);
    assert_eq!(r.code, 124, "{}", r.stderr);
    r.assert_one_record_per_input(4);
    let kinds = r.kinds();
    assert_eq!(kinds[0], "ok");
    assert!(kinds[1..3].iter().all(|k| k == "cancelled"), "{kinds:?}");
    assert!(r.took < Duration::from_secs(3), "{:?}", r.took);
    assert!(r.stderr.contains("deadline"), "{}", r.stderr);
}

#[test]
fn a_deadline_that_does_not_expire_changes_nothing() {
    let s = TestServer::start();
    let r = fetch(&["-z", "10s", &s.url("/get")]);
    assert_eq!(r.code, 0);
}

#[test]
fn per_request_timeout_ends_a_hanging_request() {
    let s = TestServer::start();
    let r = fetch(&["-t", "300ms", &s.url("/hang"), &s.url("/get")]);
    assert_eq!(r.code, 1);
    assert_eq!(r.kinds(), ["timeout", "ok"]);
    let hang = r.records.iter().find(|v| v["index"] == 0).unwrap();
    let ms = hang["elapsed_ms"].as_f64().unwrap();
    assert!((250.0..2_000.0).contains(&ms), "{ms}");
    assert!(r.took < Duration::from_secs(3));
}

#[test]
fn a_slow_body_is_a_timeout_too() {
    let s = TestServer::start();
    let r = fetch(&["-t", "300ms", &s.url("/slow/20?bytes=100")]);
    assert_eq!(r.kinds(), ["timeout"]);
}

// ---- error kinds ----

#[test]
fn every_error_kind_producible_on_loopback() {
    let s = TestServer::start();
    let r = fetch(&[
        "-t",
        "500ms",
        &closed_port_url(),
        &s.url("/hang"),
        &s.url("/garbage"),
        &s.url("/reset"),
        &s.url("/status/418"),
        "not a url",
        "ftp://example.com/",
        &s.url("/get"),
        &s.url("/truncated"),
        // TLS spoken to a plain HTTP port
        &s.url("/get").replace("http://", "https://"),
    ]);
    assert_eq!(r.code, 1);
    r.assert_one_record_per_input(10);
    assert_eq!(
        r.kinds(),
        [
            "connect",
            "timeout",
            "protocol",
            "protocol",
            "status",
            "invalid_input",
            "invalid_input",
            "ok",
            "body",
            "tls"
        ],
        "{}",
        r.stdout
    );
    let by_index = |i: u64| r.records.iter().find(|v| v["index"] == i).unwrap().clone();
    assert_eq!(by_index(4)["status"], 418);
    assert!(by_index(5)["error"]
        .as_str()
        .unwrap()
        .starts_with("argument 6: "));
    for v in &r.records {
        for field in [
            "index",
            "url",
            "ok",
            "status",
            "error_kind",
            "error",
            "elapsed_ms",
            "bytes",
            "attempts",
        ] {
            assert!(v.get(field).is_some(), "{field} missing: {v}");
        }
    }
}

// ---- input and output ----

#[test]
fn stdin_lines_skip_blanks_and_comments_and_bad_lines_name_their_line() {
    let s = TestServer::start();
    let input = format!(
        "# a list\n\n{}\nexample.com\n   # indented\n{}\n\n",
        s.url("/get"),
        s.url("/status/201")
    );
    let mut cmd = corral();
    cmd.args(["fetch", "-o", "jsonl"]).write_stdin(input);
    let r = run_cmd(cmd);
    assert_eq!(r.code, 1);
    r.assert_one_record_per_input(3);
    let bad = r.records.iter().find(|v| v["index"] == 1).unwrap();
    assert_eq!(bad["error_kind"], "invalid_input");
    assert_eq!(bad["line"], 4);
    assert!(
        bad["error"].as_str().unwrap().starts_with("line 4: "),
        "{bad}"
    );
    let last = r.records.iter().find(|v| v["index"] == 2).unwrap();
    assert_eq!(last["line"], 6);
    assert_eq!(last["status"], 201);
}

#[test]
fn an_input_file_is_read_with_dash_i() {
    let s = TestServer::start();
    let dir = std::env::temp_dir().join(format!("corral-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("urls.txt");
    let lines: Vec<String> = (0..200).map(|i| s.url(&format!("/anything/{i}"))).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let r = fetch(&["-i", file.to_str().unwrap(), "-c", "20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_one_record_per_input(200);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory for one test (tests run in parallel threads of one process).
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("corral-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_byte_order_mark_at_the_start_of_the_input_is_ignored() {
    let s = TestServer::start();
    let dir = scratch("bom");
    let text = format!("\u{feff}{}\n{}\n", s.url("/get"), s.url("/status/201"));
    let file = dir.join("urls.txt");
    std::fs::write(&file, &text).unwrap();
    let from_file = fetch(&["-i", file.to_str().unwrap()]);
    let mut cmd = corral();
    cmd.args(["fetch", "-o", "jsonl"]).write_stdin(text);
    let from_stdin = run_cmd(cmd);
    for r in [from_file, from_stdin] {
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert_eq!(r.kinds(), ["ok", "ok"]);
        let first = r.records.iter().find(|v| v["index"] == 0).unwrap();
        assert_eq!(first["url"], s.url("/get"), "no mark in the record");
        assert_eq!(first["line"], 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_input_that_is_a_directory_or_unreadable_exits_2() {
    let dir = scratch("dir-input");
    let out = corral()
        .args(["fetch", "-i", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("is a directory"), "{stderr}");
    // A directory as stdin opens, and fails at the first read.
    let out = StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .arg("fetch")
        .stdin(std::fs::File::open(&dir).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot read stdin"), "{stderr}");
    // A file that opens and cannot be read, even by root: its own memory, at address 0.
    #[cfg(target_os = "linux")]
    {
        let out = corral()
            .args(["fetch", "-i", "/proc/self/mem"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("cannot read -i /proc/self/mem"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_input_exits_2_with_no_inputs() {
    let dir = scratch("empty-input");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let comments = dir.join("comments.txt");
    std::fs::write(&comments, "\u{feff}# nothing yet\n\n   \n").unwrap();
    let mut runs = Vec::new();
    for file in [&empty, &comments] {
        let mut cmd = corral();
        cmd.args(["fetch", "-i", file.to_str().unwrap()]);
        runs.push(cmd);
    }
    for stdin in ["", "# only a comment\n"] {
        let mut cmd = corral();
        cmd.args(["fetch", "-o", "csv"]).write_stdin(stdin);
        runs.push(cmd);
    }
    for mut cmd in runs {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(stderr.contains("no inputs"), "{cmd:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{cmd:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_and_text_write_one_record_per_input() {
    let s = TestServer::start();
    for (format, header) in [("csv", 1), ("text", 0)] {
        let out = corral()
            .args([
                "fetch",
                "-o",
                format,
                &s.url("/get"),
                "bad",
                &s.url("/status/500"),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 3 + header, "{format}:\n{stdout}");
        if format == "csv" {
            assert!(stdout.starts_with("index,url,ok,status,error_kind,error,elapsed_ms"));
        }
    }
}

#[test]
fn text_output_escapes_control_characters_from_the_input() {
    let s = TestServer::start();
    // OSC 0 (set the window title), then SGR red, in a URL that is fetched and in a bad line.
    let fetched = s.url("/get?a=\x1b]0;owned\x07\x1b[31mred");
    let bad = "\x1b[2Jnot a url\u{9b}";
    let out = corral()
        .args(["fetch", "-o", "text", &fetched, bad])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout:?}");
    assert!(
        !stdout.contains(['\x1b', '\x07', '\u{9b}']),
        "raw control characters reach the terminal: {stdout:?}"
    );
    assert!(
        stdout.contains("/get?a=\\x1b]0;owned\\x07\\x1b[31mred"),
        "{stdout}"
    );
    assert!(stdout.contains("\\x1b[2Jnot a url\\u{9b}"), "{stdout}");
}

#[test]
fn save_writes_each_body_to_a_file_named_by_index() {
    let s = TestServer::start();
    let dir = std::env::temp_dir().join(format!("corral-save-{}", std::process::id()));
    let r = fetch(&[
        "--save",
        dir.to_str().unwrap(),
        &s.url("/bytes/1000?seed=3"),
        &s.url("/get"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(dir.join("0")).unwrap().len(), 1000);
    assert!(std::fs::read_to_string(dir.join("1"))
        .unwrap()
        .contains("\"url\""));
    let rec = r.records.iter().find(|v| v["index"] == 0).unwrap();
    assert_eq!(rec["bytes"], 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quiet_silences_stderr_and_the_summary_is_there_otherwise() {
    let s = TestServer::start();
    let loud = fetch(&[&s.url("/get"), &s.url("/status/500")]);
    assert!(loud.stderr.contains("2 inputs"), "{}", loud.stderr);
    assert!(loud.stderr.contains("200 ×1") && loud.stderr.contains("500 ×1"));
    assert!(loud.stderr.contains("p50") && loud.stderr.contains("requests/s"));
    let quiet = fetch(&["-q", &s.url("/get"), &s.url("/status/500")]);
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.records.len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["fetch", "-t", "5x", "http://a/"][..],
        &["fetch", "--any", "--quorum", "2", "http://a/"],
        &["fetch", "-c", "0", "http://a/"],
        &["fetch", "-i", "/nonexistent/corral/urls.txt"],
        &["fetch", "--ok-status", "2x", "http://a/"],
        &["fetch", "-o", "xml", "http://a/"],
        &["frobnicate"],
    ] {
        let out = corral().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let help = corral().args(["fetch", "--help"]).output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    for code in ["124", "130", "usage error"] {
        assert!(text.contains(code), "--help documents exit {code}");
    }
}

// ---- closed pipes ----

/// The binary with every stdio piped.
fn spawn(args: &[&str]) -> Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` (killed by its PID past `limit`), reading its stderr if still piped.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        stderr.map_or_else(String::new, |h| h.join().unwrap()),
    )
}

#[test]
fn a_closed_stdout_stops_the_run_without_a_panic_and_exits_141() {
    let s = TestServer::start();
    // `corral fetch | head -1`, and `2>&1 | head -1` (stderr closed too). Input comes on
    // stdin so that the second record is surely written after the reader is gone.
    for close_stderr_too in [false, true] {
        let mut child = spawn(&["fetch", "-o", "jsonl"]);
        if close_stderr_too {
            drop(child.stderr.take());
        }
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", s.url("/get")).unwrap();
        stdin.flush().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.contains("\"index\":0"), "{first}");
        drop(stdout);
        let closed = Instant::now();
        // The /get's record finds the pipe closed; the run stops then, without waiting for
        // the slow request's record.
        writeln!(stdin, "{}\n{}", s.url("/get"), s.url("/delay/10")).unwrap();
        drop(stdin);
        let (status, stderr) = finish(child, Duration::from_secs(30));
        assert_ne!(status.code(), Some(101), "a panic: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(status.code(), Some(141), "{stderr}");
        assert!(
            closed.elapsed() < Duration::from_secs(8),
            "{:?}",
            closed.elapsed()
        );
        if !close_stderr_too {
            assert!(stderr.contains("stopped: stdout was closed"), "{stderr}");
        }
    }
}

#[test]
fn a_closed_stderr_loses_only_the_messages() {
    let s = TestServer::start();
    let mut child = spawn(&[
        "fetch",
        "-o",
        "jsonl",
        &s.url("/get"),
        &s.url("/status/204"),
    ]);
    drop(child.stdin.take());
    drop(child.stderr.take());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let (status, _) = finish(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "not a panic (101): the run went on");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
}

#[test]
fn demo_stops_without_a_panic_when_stdout_is_closed() {
    // `corral demo | head -3`, at full speed: the whole demo takes about 12 s.
    let start = Instant::now();
    let mut child = spawn(&["demo"]);
    drop(child.stdin.take());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
    }
    drop(stdout);
    let (status, stderr) = finish(child, Duration::from_secs(60));
    assert_ne!(status.code(), Some(101), "a panic: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "stops at the first write nobody reads, not at the end: {:?}",
        start.elapsed()
    );
}

// ---- Ctrl-C ----

#[test]
fn sigint_cancels_writes_every_record_and_exits_130() {
    let s = TestServer::start();
    let dir = std::env::temp_dir().join(format!("corral-int-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("urls.txt");
    let mut lines: Vec<String> = (0..40).map(|_| s.url("/delay/5")).collect();
    lines.push("# a comment".into());
    lines.push("bad line".into());
    std::fs::write(&file, lines.join("\n")).unwrap();

    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .args([
            "fetch",
            "-o",
            "jsonl",
            "-c",
            "4",
            "-i",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the child is mid-run: the server sees its requests.
    let start = Instant::now();
    while s.stats().in_flight < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "requests never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = StdCommand::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 41, "40 URLs and one bad line:\n{stdout}");
    let running = records
        .iter()
        .filter(|v| v["error_kind"] == "cancelled" && v["attempts"] == 1)
        .count();
    assert_eq!(
        running, 4,
        "the 4 running requests are cancelled and recorded"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether process `pid` has a handler for SIGINT (signal 2: bit 1 of `SigCgt`).
#[cfg(target_os = "linux")]
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 1) != 0)
}

#[test]
#[cfg(target_os = "linux")]
fn sigint_handler_is_installed_before_the_input_is_opened() {
    // The input is a FIFO, whose open blocks until a writer comes: the handler must already be
    // there while it waits (it used to come only after the input and the HTTP client), and a
    // SIGINT sent the moment the input flows, wherever it lands, still gives a record for
    // every input read, and the summary. A FIFO, like a pipe, is not read further after the
    // stop, so how many inputs were read depends on where the signal lands; the summary says
    // where reading stopped.
    let s = TestServer::start();
    let dir = scratch("sigint-early");
    let fifo = dir.join("urls");
    let made = StdCommand::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let mut child = spawn(&[
        "fetch",
        "-o",
        "jsonl",
        "-c",
        "2",
        "-i",
        fifo.to_str().unwrap(),
    ]);
    drop(child.stdin.take());
    let pid = child.id();
    let start = Instant::now();
    while !catches_sigint(pid) {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no SIGINT handler while the input is being opened");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines: Vec<String> = (0..3).map(|_| s.url("/delay/5")).collect();
    // Written from a thread that nobody waits for, so that the test cannot hang on a FIFO
    // that is never opened; the signal may then land before or after the input flows.
    let path = fifo.clone();
    std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        writeln!(w, "{}", lines.join("\n")).unwrap();
    });
    let killed = StdCommand::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let (status, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{stderr}");
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut indices: Vec<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    indices.sort();
    let read = indices.len() as u64;
    assert_eq!(
        indices,
        (0..read).collect::<Vec<_>>(),
        "one record per input read:\n{stdout}"
    );
    assert!(read <= 3, "{stdout}");
    assert!(
        records.iter().all(|r| r["error_kind"] == "cancelled"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("corral: {read} inputs")),
        "the summary: {stderr}"
    );
    assert!(stderr.contains("stopped: interrupted"), "{stderr}");
    if read < 3 {
        assert!(stderr.contains("was not read past line"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- -k throughput, stops on endless input, what a cancelled record keeps ----

/// Runs `corral fetch -o jsonl ARGS` on `urls` (a file in the scratch directory `name`), and
/// returns the server's request count at the moment the first record line came out, then the
/// whole run.
fn requests_before_the_first_record(
    name: &str,
    s: &TestServer,
    args: &[&str],
    urls: &[String],
) -> (u64, Run) {
    let dir = scratch(name);
    let file = dir.join("urls.txt");
    std::fs::write(&file, urls.join("\n")).unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .args(["fetch", "-o", "jsonl", "-i", file.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let seen = s.stats().requests;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let (status, stderr) = finish(child, Duration::from_secs(30));
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = first + &rest;
    let run = Run {
        code: status.code().unwrap_or(-1),
        records: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        stdout,
        stderr,
        took: Duration::ZERO,
    };
    (seen, run)
}

#[test]
fn keep_order_keeps_c_requests_in_flight_behind_a_slow_one() {
    // The first input is slow; with -k its record comes first, so every other record waits
    // for it. They must not hold their -c slots while they wait: all 500 run meanwhile.
    let s = TestServer::start();
    let mut urls = vec![s.url("/delay/4")];
    urls.extend((0..500).map(|_| s.url("/get")));
    let (seen, r) = requests_before_the_first_record("k-in-flight", &s, &["-k", "-c", "10"], &urls);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.indices(), (0..501).collect::<Vec<_>>(), "input order");
    assert_eq!(
        seen, 501,
        "every request ran while the slow first one held up the records"
    );
}

#[test]
fn keep_order_reorder_buffer_bounds_the_records_held() {
    // With --reorder-buffer 100, no more than 100 inputs from the slow first one on are held,
    // so the rest wait for its record.
    let s = TestServer::start();
    let mut urls = vec![s.url("/delay/4")];
    urls.extend((0..500).map(|_| s.url("/get")));
    let args = ["-k", "-c", "10", "--reorder-buffer", "100"];
    let (seen, r) = requests_before_the_first_record("k-bounded", &s, &args, &urls);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.indices(), (0..501).collect::<Vec<_>>(), "input order");
    // 100 held before the first record; a flush can come a little after the next ones start.
    assert!((100..=250).contains(&seen), "{seen} requests before it");
}

/// The binary reading URLs from an endless pipe: a thread writes `url` lines until the pipe
/// breaks, because the command stopped reading and exited. Returns the exit status, stdout,
/// stderr and how long it took.
fn fetch_endless_stdin(url: &str, args: &[&str], limit: Duration) -> (ExitStatus, String, String) {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .args(["fetch", "-o", "jsonl"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let line = format!("{url}\n").repeat(64);
    let writer = std::thread::spawn(move || while stdin.write_all(line.as_bytes()).is_ok() {});
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let (status, stderr) = finish(child, limit);
    writer.join().unwrap();
    (status, reader.join().unwrap(), stderr)
}

#[test]
fn a_stop_ends_the_run_on_an_endless_pipe_and_says_where_reading_stopped() {
    let s = TestServer::start();
    // --any: the first success decides; the pipe is not read further.
    let (status, stdout, stderr) =
        fetch_endless_stdin(&s.url("/get"), &["--any"], Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.lines().count() >= 1, "{stdout}");
    assert!(stderr.contains("was not read past line"), "{stderr}");
    // The deadline: the same, exit 124.
    let (status, stdout, stderr) =
        fetch_endless_stdin(&s.url("/hang"), &["-z", "1s"], Duration::from_secs(10));
    assert_eq!(status.code(), Some(124), "{stderr}");
    assert!(stdout
        .lines()
        .all(|l| l.contains("\"error_kind\":\"cancelled\"")));
    assert!(stderr.contains("was not read past line"), "{stderr}");
}

#[test]
fn after_a_stop_every_remaining_line_of_a_file_gets_a_not_started_record() {
    let s = TestServer::start();
    let dir = scratch("rest-of-file");
    let file = dir.join("urls.txt");
    let n = 200_000;
    let mut text = format!("{}\n", s.url("/get"));
    let slow = format!("{}\n", s.url("/delay/5"));
    text.push_str(&slow.repeat(n - 2));
    text.push_str("not a url\n");
    std::fs::write(&file, text).unwrap();
    let r = fetch(&["--any", "-c", "4", "-i", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_one_record_per_input(n as u64);
    let not_started = r
        .records
        .iter()
        .filter(|v| {
            v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("not started"))
        })
        .count();
    assert!(not_started >= n - 10, "{not_started}");
    let last = r
        .records
        .iter()
        .find(|v| v["index"] == n as u64 - 1)
        .unwrap();
    assert_eq!(last["error_kind"], "invalid_input", "a bad line stays bad");
    assert_eq!(last["line"], n as u64);
}

#[test]
fn a_record_cancelled_while_running_keeps_the_status_and_bytes_that_arrived() {
    let s = TestServer::start();
    // 100 bytes a second for 100 s: the head and some of the body arrive before the deadline.
    let r = fetch(&["-z", "1.5s", &s.url("/slow/100?bytes=10000")]);
    assert_eq!(r.code, 124, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["error_kind"], "cancelled", "{rec}");
    assert_eq!(rec["status"], 200, "{rec}");
    assert!(rec["bytes"].as_u64().unwrap() > 0, "{rec}");
}

// ---- --save and --max-body ----

#[test]
fn save_does_not_follow_a_symlink_planted_at_its_file_name() {
    let s = TestServer::start();
    let dir = scratch("save-symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let save = dir.join("out");
    std::fs::create_dir(&save).unwrap();
    std::os::unix::fs::symlink(&victim, save.join("0")).unwrap();
    let r = fetch(&[
        "--save",
        save.to_str().unwrap(),
        &s.url("/bytes/100"),
        &s.url("/bytes/200"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.kinds(), ["body", "ok"]);
    let rec = r.records.iter().find(|v| v["index"] == 0).unwrap();
    assert!(
        rec["error"].as_str().unwrap().contains("already exists"),
        "{rec}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(std::fs::read(save.join("1")).unwrap().len(), 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn max_body_cuts_the_body_with_a_body_error() {
    let s = TestServer::start();
    let r = fetch(&[
        "--max-body",
        "1K",
        &s.url("/bytes/10000"),
        &s.url("/bytes/1024"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.kinds(), ["body", "ok"]);
    let cut = r.records.iter().find(|v| v["index"] == 0).unwrap();
    assert_eq!(cut["bytes"], 1024, "{cut}");
    assert_eq!(cut["status"], 200, "{cut}");
    assert!(
        cut["error"].as_str().unwrap().contains("--max-body"),
        "{cut}"
    );
}

#[test]
fn save_keeps_failed_responses_only_with_save_errors() {
    let s = TestServer::start();
    let dir = scratch("save-errors");
    let urls = [
        s.url("/get"),
        s.url("/status/500"),
        s.url("/bytes/5000"),
        s.url("/truncated"),
    ];
    let (plain, errors) = (dir.join("plain"), dir.join("errors"));
    let mut args = vec!["--max-body", "4000", "--save", plain.to_str().unwrap()];
    args.extend(urls.iter().map(String::as_str));
    let r = fetch(&args);
    assert_eq!(r.kinds(), ["ok", "status", "body", "body"], "{}", r.stdout);
    assert!(plain.join("0").exists());
    for i in ["1", "2", "3"] {
        assert!(!plain.join(i).exists(), "failed response {i} saved");
    }
    args[3] = errors.to_str().unwrap();
    args.insert(0, "--save-errors");
    let r = fetch(&args);
    assert_eq!(r.kinds(), ["ok", "status", "body", "body"], "{}", r.stdout);
    assert!(errors.join("1").exists());
    assert_eq!(std::fs::read(errors.join("2")).unwrap().len(), 4000);
    assert!(!std::fs::read(errors.join("3")).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- open files ----

/// `corral fetch -o jsonl ARGS` under `ulimit` (a shell's), e.g. `-S -n 64`.
fn fetch_under_ulimit(ulimit: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.timeout(Duration::from_secs(30))
        .arg("-c")
        .arg(format!(
            "ulimit {ulimit} && exec \"$0\" fetch -o jsonl \"$@\""
        ))
        .arg(assert_cmd::cargo::cargo_bin("corral"))
        .args(args);
    run_cmd(cmd)
}

/// The hard limit on open files of this process (inherited by the children).
fn hard_fd_limit() -> u64 {
    let out = StdCommand::new("sh")
        .args(["-c", "ulimit -H -n"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or(u64::MAX)
}

#[test]
fn the_soft_open_file_limit_is_raised_so_that_c_fits() {
    if hard_fd_limit() < 1024 {
        eprintln!("skipped: the hard limit on open files is below 1024");
        return;
    }
    let s = TestServer::start();
    let urls: Vec<String> = (0..200).map(|_| s.url("/delay/0.5")).collect();
    let mut args = vec!["-c", "200"];
    args.extend(urls.iter().map(String::as_str));
    // 200 sockets at once under a soft limit of 64: only if the limit is raised.
    let r = fetch_under_ulimit("-S -n 64", &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.kinds(), vec!["ok"; 200]);
    assert!(!r.stderr.contains("open files"), "{}", r.stderr);
}

#[test]
fn a_concurrency_beyond_the_hard_limit_is_lowered_and_said_once() {
    let s = TestServer::start();
    let urls: Vec<String> = (0..200).map(|_| s.url("/delay/0.1")).collect();
    let mut args = vec!["-c", "200"];
    args.extend(urls.iter().map(String::as_str));
    let r = fetch_under_ulimit("-n 100", &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.kinds(),
        vec!["ok"; 200],
        "no request fails for want of a descriptor"
    );
    assert_eq!(r.stderr.matches("open files").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("running at most 36"), "{}", r.stderr);
}

// ---- the server ----

#[test]
fn serve_prints_its_address_first_and_serves() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"));
    let result = url.map(|base| {
        fetch(&[
            &format!("{base}/get"),
            &format!("{base}/status/200:1,500:0"),
        ])
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let r = result.unwrap_or_else(|| panic!("first line was {first:?}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn malformed_requests_get_4xx_and_the_server_keeps_serving() {
    let s = TestServer::start();
    for raw in [
        &b"BLAH BLAH\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(s.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(raw).unwrap();
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer:?}");
    }
    let r = fetch(&[
        "--ok-status",
        "4xx",
        &s.url("/status/abc"),
        &s.url("/delay/-1"),
        &s.url("/bytes/x"),
        &s.url("/nowhere"),
    ]);
    assert_eq!(r.code, 0, "all 4xx: {}", r.stdout);
    assert_eq!(fetch(&[&s.url("/get")]).code, 0, "still serving");
}

#[test]
fn the_httpbin_endpoints_answer() {
    let s = TestServer::start();
    let r = fetch(&[
        &s.url("/get?a=1"),
        &s.url("/anything/x"),
        &s.url("/bytes/64"),
        &s.url("/drip?duration=0.2&numbytes=7"),
        &s.url("/delay/0.1"),
        &s.url("/status/200,201"),
        &s.url("/headers"),
        &s.url("/ip"),
        &s.url("/user-agent"),
        &s.url("/stats"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let bytes = |i: u64| r.records.iter().find(|v| v["index"] == i).unwrap()["bytes"].clone();
    assert_eq!(bytes(2), 64);
    assert_eq!(bytes(3), 7);
}

// ---- demo ----

#[test]
fn demo_walks_the_scenarios_and_exits_0() {
    let out = corral()
        .args(["demo", "--time-scale", "0.1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for needle in [
        "gather",
        "as_completed",
        "cancel",
        "budget",
        "errors",
        "limit",
    ] {
        assert!(
            stdout.to_lowercase().contains(needle),
            "{needle} missing:\n{stdout}"
        );
    }
}
