//! Runs bigger than one process: `corral report` over record files, `--shard`, and
//! `--journal` with `--resume` surviving SIGKILL. The real binary against the server started
//! in-process on 127.0.0.1 (port 0). Real clock: only generous bounds on time.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{corral, TestServer};

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
    // --html: the same report as a page, with its charts.
    let page_path = dir.join("report.html");
    let r = run(&["report", s(&a), s(&b), "--html", s(&page_path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.contains("corral: 6 inputs in "), "{page}");
    assert_eq!(
        page.matches("<svg").count(),
        3,
        "latency, statuses, errors: {page}"
    );
    assert!(page.contains("<title>500: 2</title>"), "{page}");
    assert!(page.contains("<title>invalid_input: 2</title>"), "{page}");
    let unwritable = run(&["report", s(&a), "--html", s(&dir.join("no/such/dir.html"))]);
    assert_eq!(unwritable.code, 2, "{}", unwritable.stderr);
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

// ---- --journal and --resume ----

/// A port nobody listens on: bound, then released.
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/")
}

/// The journal's lines: its header, then its records; a last line cut short by a kill is
/// left out, as `--resume` leaves it out.
fn journal(path: &Path) -> (Value, Vec<Value>) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["corral_journal"], 1, "{header}");
    let records = lines
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (header, records)
}

fn assert_one_final_record_per_input(records: &[Value], n: u64) {
    assert!(
        records.iter().all(|r| r["error_kind"] != "cancelled"),
        "a cancelled record is not final and must not be journaled"
    );
    let mut count = vec![0u32; n as usize];
    for i in sorted_indexes(records) {
        count[i as usize] += 1; // an index past n panics here, which says it well enough
    }
    let missing: Vec<usize> = (0..n as usize).filter(|&i| count[i] == 0).collect();
    let doubled: Vec<usize> = (0..n as usize).filter(|&i| count[i] > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} missing (first {:?}), {} duplicated (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)],
    );
}

/// The guarantee: killed with SIGKILL at random moments and resumed each time, a journaled
/// run ends with exactly one final record per input, and the last run fetches exactly the
/// inputs that had none. `CORRAL_KILL_SEED` replays the kill points, `CORRAL_KILL_INPUTS`
/// sets the number of inputs (default 20,000, as issue 12 asks).
#[test]
fn a_journaled_run_killed_five_times_and_resumed_has_one_final_record_per_input() {
    use rand::{Rng, SeedableRng};
    let seed = std::env::var("CORRAL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let srv = TestServer::logging();
    let dir = scratch("kill");
    let (input, journal_path) = (dir.join("urls.txt"), dir.join("journal.jsonl"));
    let refused = closed_port_url();
    let n: u64 = std::env::var("CORRAL_KILL_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    // Fast answers, slow ones (/delay), failures (500, refused connections) and bad lines.
    let mut text = String::new();
    let mut reaches_server = vec![false; n as usize];
    for i in 0..n {
        let line = match i % 20 {
            0 => srv.url(&format!("/delay/0.2?i={i}")),
            1 => srv.url(&format!("/status/500?i={i}")),
            2 => format!("not-a-url-{i}"),
            3 if i % 60 == 3 => format!("{refused}?i={i}"),
            _ => srv.url(&format!("/get?i={i}")),
        };
        reaches_server[i as usize] = line.starts_with(&srv.url("/"));
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let fetch = || {
        StdCommand::new(assert_cmd::cargo::cargo_bin("corral"))
            .args(["fetch", "-q", "-c", "10", "-t", "20s", "-o", "jsonl"])
            .args(["-i", s(&input), "--journal", s(&journal_path), "--resume"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let lines = || {
        std::fs::read(&journal_path)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    };
    // Before each run: where the server's request log stood, and which inputs had a final
    // record in the journal.
    let done_now = || {
        let mut done = vec![false; n as usize];
        if journal_path.exists() {
            for r in journal(&journal_path).1 {
                done[r["index"].as_u64().unwrap() as usize] = true;
            }
        }
        done
    };
    let mut runs: Vec<(usize, Vec<bool>)> = Vec::new();
    let mut kill_points = Vec::new();
    while kill_points.len() < 5 {
        let before = lines();
        runs.push((srv.request_log().len(), done_now()));
        let mut child = fetch();
        let started = Instant::now();
        // Once this run has journaled something, a random moment later: SIGKILL.
        while lines() <= before && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        let wait = Duration::from_millis(rng.gen_range(0..600));
        std::thread::sleep(wait);
        let ended = child.try_wait().unwrap();
        assert!(
            ended.is_none(),
            "the run ended before the kill (seed {seed}, kills so far {kill_points:?}): make it longer"
        );
        child.kill().unwrap(); // SIGKILL, by PID
        child.wait().unwrap();
        kill_points.push((started.elapsed().as_millis(), lines() - 1));
    }
    // Let the requests of the last killed run end at the server, then count what the final
    // run fetches.
    let settle = Instant::now();
    while srv.stats().in_flight > 0 {
        assert!(
            settle.elapsed() < Duration::from_secs(20),
            "server never idle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, partial) = journal(&journal_path);
    let mut done = vec![false; n as usize];
    for r in &partial {
        done[r["index"].as_u64().unwrap() as usize] = true;
    }
    assert!(
        partial.len() < n as usize,
        "the kills came before the end (seed {seed})"
    );
    let expected = (0..n as usize)
        .filter(|&i| reaches_server[i] && !done[i])
        .count() as u64;
    let requests_before = srv.stats().requests;
    runs.push((srv.request_log().len(), done_now()));
    let status = fetch().wait().unwrap();
    assert_eq!(status.code(), Some(1), "failures are in the input");
    let fetched = srv.stats().requests - requests_before;

    let (_, records) = journal(&journal_path);
    let context = format!("seed {seed}, kill points (ms, journal lines) {kill_points:?}");
    assert_one_final_record_per_input(&records, n);
    assert_eq!(
        fetched, expected,
        "the last run fetches exactly the inputs without a final record ({context})"
    );
    // No run fetched an input that had a final record when it started. (A request of a killed
    // run that reaches the server late is for an input it had not finished, so it passes.)
    let log = srv.request_log();
    for (run, (from, done)) in runs.iter().enumerate() {
        let to = runs.get(run + 1).map_or(log.len(), |r| r.0);
        for path in &log[*from..to] {
            let i: usize = path.rsplit_once("i=").unwrap().1.parse().unwrap();
            assert!(
                !done[i],
                "run {run} fetched input {i} again ({path}; {context})"
            );
        }
    }
    eprintln!("{context}; the last run fetched {fetched}");
    let report = run(&["report", "--check", &n.to_string(), s(&journal_path)]);
    assert_eq!(
        report.code, 0,
        "{}{} ({context})",
        report.stdout, report.stderr
    );
    assert!(report.stdout.contains("0 bad lines"), "{}", report.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cancelled_inputs_are_not_journaled_and_run_again_on_resume() {
    let srv = TestServer::start();
    let dir = scratch("cancelled");
    let journal_path = dir.join("j.jsonl");
    let urls: Vec<String> = (0..6)
        .map(|i| match i {
            1 | 4 => srv.url(&format!("/delay/2.5?i={i}")),
            _ => srv.url(&format!("/get?i={i}")),
        })
        .collect();
    let mut args = vec!["fetch", "-q", "-o", "jsonl", "--journal", s(&journal_path)];
    args.extend(urls.iter().map(String::as_str));
    let mut first = args.clone();
    first.extend(["-z", "1s"]);
    let r = run(&first);
    assert_eq!(r.code, 124, "{}", r.stderr);
    assert_eq!(records(&r.stdout).len(), 6, "stdout still has every record");
    let (header, journaled) = journal(&journal_path);
    assert_eq!(header["input"]["source"], "args");
    assert_eq!(sorted_indexes(&journaled), [0, 2, 3, 5]);

    // Without --resume the journal is not overwritten.
    let again = run(&args);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("add --resume"), "{}", again.stderr);

    let mut resume = args.clone();
    resume.push("--resume");
    let r = run(&resume);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sorted_indexes(&records(&r.stdout)),
        [1, 4],
        "only the cancelled ones"
    );
    let (_, journaled) = journal(&journal_path);
    assert_one_final_record_per_input(&journaled, 6);
    // Everything done: a resume fetches nothing, and says so.
    let mut loud = resume.clone();
    loud.retain(|a| *a != "-q");
    let r = run(&loud);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("resumed: 6 inputs already had a final record"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_cuts_a_torn_last_line_and_runs_its_input_again() {
    let srv = TestServer::start();
    let dir = scratch("torn");
    let (input, journal_path) = (dir.join("urls.txt"), dir.join("j.jsonl"));
    let text: String = (0..5)
        .map(|i| srv.url(&format!("/get?i={i}")) + "\n")
        .collect();
    std::fs::write(&input, text).unwrap();
    let args = [
        "fetch",
        "-q",
        "-o",
        "jsonl",
        "-i",
        s(&input),
        "--journal",
        s(&journal_path),
    ];
    assert_eq!(run(&args).code, 0);
    // As if the crash came while the last record was being written.
    let full = std::fs::read_to_string(&journal_path).unwrap();
    let last_start = full.trim_end().rfind('\n').unwrap() + 1;
    let torn_index = serde_json::from_str::<Value>(&full[last_start..]).unwrap()["index"].clone();
    std::fs::write(&journal_path, &full[..last_start + 20]).unwrap();

    let mut resume = args.to_vec();
    resume.retain(|a| *a != "-q");
    resume.push("--resume");
    let r = run(&resume);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("was cut short by the crash"),
        "{}",
        r.stderr
    );
    let again = records(&r.stdout);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["index"], torn_index);
    let (_, journaled) = journal(&journal_path);
    assert_one_final_record_per_input(&journaled, 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_refuses_another_input_or_other_flags_with_exit_2() {
    let dir = scratch("mismatch");
    let (input, journal_path) = (dir.join("urls.txt"), dir.join("j.jsonl"));
    std::fs::write(&input, "not-a-url\nalso-not\n").unwrap();
    let args = [
        "fetch",
        "-q",
        "-o",
        "jsonl",
        "-i",
        s(&input),
        "--journal",
        s(&journal_path),
    ];
    assert_eq!(run(&args).code, 1, "two invalid_input records");
    let with = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.push("--resume");
        a.extend(extra);
        run(&a)
    };
    assert_eq!(
        with(&[]).code,
        1,
        "nothing left to do; the journal's failures count"
    );
    let r = with(&["-t", "5s"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--timeout was none, is now 5s"),
        "{}",
        r.stderr
    );
    let r = with(&["--shard", "0/2"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--shard was none, is now 0/2"),
        "{}",
        r.stderr
    );
    std::fs::write(&input, "not-a-url\nchanged\n").unwrap();
    let r = with(&[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot be resumed") && r.stderr.contains("first MiB"),
        "{}",
        r.stderr
    );
    // A journal of stdin cannot be recognised again.
    let piped = dir.join("piped.jsonl");
    let j = ["fetch", "-q", "-o", "jsonl", "--journal", s(&piped)];
    assert_eq!(
        corral()
            .args(j)
            .write_stdin("nope\n")
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    let out = corral()
        .args(j)
        .arg("--resume")
        .write_stdin("nope\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin"));
    // --resume needs --journal, and excludes the stopping strategies.
    assert_eq!(run(&["fetch", "--resume", "a"]).code, 2);
    let r = run(&["fetch", "--journal", s(&piped), "--resume", "--any", "a"]);
    assert_eq!(r.code, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
