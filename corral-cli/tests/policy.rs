//! End to end: retries, `--rate`, `--per-host`, `--hedge`, `--circuit-breaker` and `--adaptive`, with the
//! real `corral` binary against the server started in-process on 127.0.0.1. Real clock: only
//! generous bounds on time (lower bounds come from sleeps, which never end early).

use std::time::Duration;

use serde_json::Value;

mod common;
use common::{corral, fetch_jsonl, Fetched, TestServer};

type Run = Fetched;

fn fetch<S: AsRef<str>>(args: &[S]) -> Run {
    fetch_jsonl(args, "")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

// ---- retries ----

#[test]
fn retries_turn_a_key_that_fails_twice_into_ok_with_attempts_3() {
    let s = TestServer::start();
    let r = fetch(&[
        "--retries",
        "2",
        "--backoff",
        "10ms",
        &s.url("/fail/2?key=a"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["ok"], true, "{rec}");
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["attempts"], 3);
    assert_eq!(
        strings(&rec["attempt_errors"]),
        ["status 503", "status 503"]
    );
    assert_eq!(s.stats().requests, 3);

    // One retry is not enough for a key that fails twice: the last failure, attempts 2.
    let r = fetch(&[
        "--retries",
        "1",
        "--backoff",
        "10ms",
        &s.url("/fail/2?key=b"),
    ]);
    assert_eq!(r.code, 1);
    let rec = &r.records[0];
    assert_eq!(
        (rec["status"].as_u64(), rec["attempts"].as_u64()),
        (Some(503), Some(2))
    );
    assert_eq!(rec["error_kind"], "status");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .ends_with("(gave up after 2 tries)"),
        "{rec}"
    );
    assert_eq!(strings(&rec["attempt_errors"]), ["status 503"]);

    // Without --retries, one request, as before.
    let r = fetch(&[&s.url("/fail/1?key=c")]);
    assert_eq!((r.code, r.records[0]["attempts"].as_u64()), (1, Some(1)));
    assert_eq!(r.records[0]["attempt_errors"], Value::Array(vec![]));
}

#[test]
fn retry_on_decides_which_failures_are_retried() {
    let s = TestServer::start();
    // 500 is not in the default list; connect is.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/")
    };
    let r = fetch(&[
        "-k",
        "--retries",
        "2",
        "--backoff",
        "10ms",
        &s.url("/fail/1?key=a&code=500"),
        &refused,
    ]);
    let recs = r.by_index();
    assert_eq!(recs[0]["status"], 500);
    assert_eq!(recs[0]["attempts"], 1, "{}", recs[0]);
    assert_eq!(recs[1]["error_kind"], "connect");
    assert_eq!(recs[1]["attempts"], 3, "{}", recs[1]);
    let r = fetch(&[
        "--retries",
        "2",
        "--retry-on",
        "5xx",
        "--backoff",
        "10ms",
        &s.url("/fail/1?key=b&code=500"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records[0]["attempts"], 2);
}

#[test]
fn retry_after_in_seconds_or_as_a_date_sets_the_wait_and_max_caps_it() {
    let s = TestServer::start();
    // Retry-After: 1, with a backoff of at most 5 ms: the wait is the server's.
    let r = fetch(&[
        "--retries",
        "1",
        "--backoff",
        "1ms,5s",
        &s.url("/fail/1?key=a&code=429&retry_after=1"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["attempts"], 2);
    assert!(rec["elapsed_ms"].as_f64().unwrap() >= 990.0, "{rec}");
    assert_eq!(strings(&rec["attempt_errors"]), ["status 429"]);

    // An HTTP date 2 s ahead (whole seconds): at least a second.
    let r = fetch(&[
        "--retries",
        "1",
        "--backoff",
        "1ms,5s",
        &s.url("/fail/1?key=b&retry_after_date=2"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ms = r.records[0]["elapsed_ms"].as_f64().unwrap();
    assert!(ms >= 900.0, "{}", r.records[0]);

    // Retry-After: 60, capped by MAX (300ms).
    let r = fetch(&[
        "--retries",
        "1",
        "--backoff",
        "10ms,300ms",
        &s.url("/fail/1?key=c&retry_after=60"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ms = r.records[0]["elapsed_ms"].as_f64().unwrap();
    assert!((290.0..10_000.0).contains(&ms), "{}", r.records[0]);

    // The failed response's own record keeps the header's value.
    let r = fetch(&[&s.url("/fail/1?key=d&retry_after=7")]);
    assert_eq!(r.records[0]["retry_after"], 7.0);
}

#[test]
fn retries_stop_before_the_deadline_and_a_cancelled_attempt_is_not_retried() {
    let s = TestServer::start();
    // Retry-After 1 s under -z 1.5s: the second attempt at 1 s; a third could not start
    // before the deadline, so the retry gives up with the last failure, not a cancellation.
    let r = fetch(&[
        "-z",
        "1.5s",
        "--retries",
        "5",
        "--backoff",
        "1ms,5s",
        &s.url("/fail/100?key=a&retry_after=1"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["error_kind"], "status", "{rec}");
    assert_eq!(rec["attempts"], 2, "{rec}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("the deadline leaves no time"),
        "{rec}"
    );

    // A request that hangs past the deadline is cancelled by the run, and not retried.
    let r = fetch(&["-z", "1s", "--retries", "3", &s.url("/hang")]);
    assert_eq!(r.code, 124, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["error_kind"], "cancelled", "{rec}");
    assert_eq!(rec["attempts"], 1, "{rec}");
    assert_eq!(s.stats().requests, 3);
}

// ---- rate and per-host limits ----

#[test]
fn rate_20_spreads_60_requests_over_at_least_3_seconds() {
    let s = TestServer::start();
    let url = s.url("/get");
    let mut args = vec!["-c", "50", "--rate", "20"];
    args.extend(std::iter::repeat_n(url.as_str(), 60));
    let r = fetch(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 60);
    // 20 a second, the first at once: the 60th goes at 2.95 s.
    assert!(r.took >= Duration::from_millis(2900), "{:?}", r.took);
    assert!(r.took < Duration::from_secs(20), "{:?}", r.took);
    // Spread out, not a burst of -c 50 at once (a /get takes milliseconds; they go 50 ms apart).
    assert!(s.stats().peak_in_flight < 10, "{:?}", s.stats());
}

#[test]
fn per_host_2_holds_each_host_to_2_at_once_in_the_servers_own_count() {
    let s = TestServer::start();
    let port = s.addr().port();
    let hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    let urls: Vec<String> = (0..16)
        .map(|i| format!("http://{}/delay/0.2", hosts[i % 2]))
        .collect();
    let run = |extra: &[&str]| {
        let mut args = vec!["-c", "16"];
        args.extend(extra);
        args.extend(urls.iter().map(String::as_str));
        let r = fetch(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };

    // Without --per-host, -c 16 puts more than 2 on a host at once: the test can fail.
    run(&[]);
    let before = s.host_stats();
    for h in &hosts {
        assert!(before[h].peak_in_flight > 2, "{before:?}");
    }

    s.reset_peak();
    let r = run(&["--per-host", "2"]);
    let after = s.host_stats();
    for h in &hosts {
        assert_eq!(after[h].peak_in_flight, 2, "{after:?}");
        assert_eq!(after[h].requests, 16, "{after:?}");
    }
    // The two hosts ran side by side: 4 waves of 0.2 s, not 8.
    assert!(s.stats().peak_in_flight >= 3, "{:?}", s.stats());
    assert!(r.took >= Duration::from_millis(790), "{:?}", r.took);
}

// ---- hedging ----

#[test]
fn hedge_at_least_halves_the_p99_against_a_heavy_tail() {
    let s = TestServer::start();
    // Every 50th request takes 1 s, the others 20 ms: p99 over 200 is a slow one.
    let run = |key: &str, extra: &[&str]| {
        let url = s.url(&format!("/latency?fast=0.02&slow=1&every=50&key={key}"));
        let mut args = vec!["-c", "8"];
        args.extend(extra);
        args.extend(std::iter::repeat_n(url.as_str(), 200));
        let r = fetch(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.records.len(), 200);
        r
    };
    let plain = run("plain", &[]);
    let p99 = plain.percentile_ms(99.0);
    assert!(p99 >= 1000.0, "plain p99 {p99} ms");
    assert!(plain.records.iter().all(|r| r["attempts"] == 1));

    let hedged = run("fixed", &["--hedge", "150ms"]);
    let hedged_p99 = hedged.percentile_ms(99.0);
    assert!(
        hedged_p99 * 2.0 <= p99,
        "hedged p99 {hedged_p99} ms, plain {p99} ms"
    );
    // The slow ones were answered by a backup: two requests for those inputs.
    let backed_up = hedged.records.iter().filter(|r| r["attempts"] == 2).count();
    assert!(backed_up >= 3, "{backed_up} inputs had a backup");

    // A percentile: backups after p90 of the latencies seen so far.
    let by_p90 = run("percentile", &["--hedge", "p90"]);
    let p90_p99 = by_p90.percentile_ms(99.0);
    assert!(
        p90_p99 * 2.0 <= p99,
        "p90-hedged p99 {p90_p99} ms, plain {p99} ms"
    );
}

// ---- circuit breaker ----

#[test]
fn circuit_breaker_fails_a_host_fast_after_n_failures_and_a_probe_closes_it() {
    let s = TestServer::start();
    let port = s.addr().port();
    let down = s.url("/fail/100?key=down");
    let other = format!("http://localhost:{port}/get");
    // One at a time, in order: three failures open 127.0.0.1's circuit; localhost is apart.
    let urls = [&down, &other, &down, &down, &other, &down, &down];
    let mut args = vec!["-k", "-c", "1", "--circuit-breaker", "3,30s"];
    args.extend(urls.iter().map(|u| u.as_str()));
    let r = fetch(&args);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.kinds(),
        [
            "status",
            "ok",
            "status",
            "status",
            "ok",
            "circuit_open",
            "circuit_open"
        ]
    );
    let open = r.by_index()[5];
    assert_eq!(open["attempts"], 0, "{open}");
    assert!(open["status"].is_null());
    assert!(
        open["error"].as_str().unwrap().contains("circuit is open"),
        "{open}"
    );
    assert!(r.stderr.contains("circuit_open ×2"), "{}", r.stderr);
    // Failed fast: never sent.
    assert_eq!(s.host_stats()[&format!("127.0.0.1:{port}")].requests, 3);

    // After the cool-down (1 s, which the 1.5 s request to localhost outlasts), one probe:
    // /fail/2 has failed twice, so it answers 200 and closes the circuit.
    let flaky = s.url("/fail/2?key=flaky");
    let pause = format!("http://localhost:{port}/delay/1.5");
    let r = fetch(&[
        "-k",
        "-c",
        "1",
        "--circuit-breaker",
        "2,1s",
        &flaky,
        &flaky,
        &flaky,
        &pause,
        &flaky,
        &flaky,
    ]);
    assert_eq!(
        r.kinds(),
        ["status", "status", "circuit_open", "ok", "ok", "ok"]
    );
}

#[test]
fn bad_policy_values_exit_2_with_a_message() {
    for (args, says) in [
        (&["--rate", "fast"][..], "invalid rate"),
        (
            &["--retries", "1", "--backoff", "2s,1s"],
            "shorter than BASE",
        ),
        (&["--hedge", "p100"], "percentile"),
        (&["--circuit-breaker", "0"], "number of failures"),
        (&["--retry-on", "503"], "--retries"),
        (&["--adaptive=gradient"], "not an algorithm"),
        (&["--adaptive=aimd,0"], "longer than zero"),
    ] {
        let mut cmd = corral();
        cmd.arg("fetch").args(args).arg("http://127.0.0.1:9/");
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

// ---- adaptive ----

/// The summary's `adaptive:` line: the limit it settled at, and the lowest and highest seen.
fn adaptive_line(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("adaptive: limit settled at "))
        .unwrap_or_else(|| panic!("no adaptive line in: {stderr}"));
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|e| panic!("{e}: {line}"));
    let (settled, rest) = line.split_once(" (").unwrap();
    let (lo, rest) = rest.split_once("..").unwrap();
    let (hi, _) = rest.split_once(" seen").unwrap();
    (num(settled), num(lo), num(hi))
}

#[test]
fn adaptive_settles_within_20_percent_of_the_servers_knee() {
    let s = TestServer::start();
    // 20 requests at once take 100 ms each; more queue (the 30th in flight takes 150 ms).
    // -c 100 is only the ceiling; the limit starts at 10.
    let url = s.url("/knee?capacity=20&base=0.1&key=settle");
    let input = format!("{url}\n").repeat(1500);
    s.reset_peak();
    let r = common::fetch_jsonl(&["--adaptive", "-c", "100"], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 1500);
    let (settled, lo, hi) = adaptive_line(&r.stderr);
    assert!(
        (16..=24).contains(&settled),
        "settled at {settled} ({lo}..{hi}), not within 20 % of 20: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("seen; vegas, ceiling 100)"),
        "{}",
        r.stderr
    );
    // It grew from 10, and never near the ceiling; the server never saw more at once than
    // the highest limit.
    assert!(lo <= 10 && hi > 20 && hi < 40, "{lo}..{hi}");
    let peak = s.stats().peak_in_flight;
    assert!(
        peak <= hi,
        "{peak} in flight at the server, the limit went to {hi}"
    );
}

#[test]
fn adaptive_cuts_on_503_but_not_on_404() {
    let s = TestServer::start();
    let run = |path: &str| {
        let input = format!("{}\n", s.url(path)).repeat(150);
        let r = common::fetch_jsonl(&["--adaptive=aimd", "-c", "10"], &input);
        assert_eq!(r.records.len(), 150, "{}", r.stderr);
        adaptive_line(&r.stderr)
    };
    // 404s are answers: the limit keeps its start (10, the ceiling here).
    let (settled, lo, _) = run("/status/404?delay=0.02");
    assert_eq!((settled, lo), (10, 10));
    // 503s shed load: cut by 0.9 once a round trip, down to 1.
    let (settled, lo, hi) = run("/status/503?delay=0.02");
    assert!(
        settled < 5 && lo == settled && hi == 10,
        "{settled} ({lo}..{hi})"
    );
}
