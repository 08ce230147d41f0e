//! End to end: the request flags (`-H`, `-X`, `-d`, `--json`, `-A`), redirects
//! (`--max-redirects`, `final_url`, `redirects`), `--proxy` and the environment's proxies, and
//! the HTTP version flags, with the real `corral` binary against the server started in-process
//! on 127.0.0.1. What a request sent is read back from the server's echo, saved with `--save`.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{corral, TestServer};

/// The proxy variables reqwest reads, removed from every run here so that the machine's own
/// settings cannot change what the tests see.
const PROXY_VARS: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

struct Run {
    code: i32,
    records: Vec<Value>,
    stderr: String,
}

/// Runs `corral fetch -o jsonl -q ARGS` with `env` set (and no other proxy variable).
fn fetch_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = corral();
    cmd.args(["fetch", "-o", "jsonl", "-q"]).args(args);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    records.sort_by_key(|r| r["index"].as_u64().unwrap());
    Run {
        code: out.status.code().unwrap_or(-1),
        records,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn fetch(args: &[&str]) -> Run {
    fetch_env(args, &[])
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("corral-req-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server's echo of the request with this index, saved by `--save dir`.
fn echo(dir: &Path, index: u64) -> Value {
    let text = std::fs::read(dir.join(index.to_string())).unwrap();
    serde_json::from_slice(&text).unwrap()
}

fn s(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn headers_method_user_agent_and_form_data_reach_the_server() {
    let srv = TestServer::start();
    let dir = scratch("shape");
    let body_file = dir.join("body");
    std::fs::write(&body_file, "b=2\n").unwrap();
    let saved = dir.join("saved");
    let at_file = format!("@{}", body_file.display());
    let url = srv.url("/anything");
    let r = fetch(&[
        "-X",
        "PUT",
        "-H",
        "X-Twice: 1",
        "-H",
        "X-Twice: 2",
        "-H",
        "X-Empty;",
        "-A",
        "probe/1",
        "-d",
        "a=1",
        "-d",
        &at_file,
        "--save",
        s(&saved),
        &url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&saved, 0);
    assert_eq!(e["method"], "PUT");
    assert_eq!(
        e["data"], "a=1&b=2\n",
        "parts joined by &, the file as it is"
    );
    let h = &e["headers"];
    assert_eq!(h["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(h["x-twice"], "1,2", "a header given twice is sent twice");
    assert_eq!(h["x-empty"], "");
    assert_eq!(h["user-agent"], "probe/1");

    // Without the flags: a GET with corral's user agent, no body, no content type.
    let plain = dir.join("plain");
    let r = fetch(&["--save", s(&plain), &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&plain, 0);
    assert_eq!(e["method"], "GET");
    assert_eq!(e["data"], "");
    assert!(e["headers"].get("content-type").is_none(), "{e}");
    let ua = e["headers"]["user-agent"].as_str().unwrap();
    assert!(ua.starts_with("corral/"), "{ua}");

    // -d without -X is a POST, as in curl; -A '' sends no user agent.
    let post = dir.join("post");
    let r = fetch(&["-d", "x", "-A", "", "--save", s(&post), &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&post, 0);
    assert_eq!((&e["method"], &e["data"]), (&"POST".into(), &"x".into()));
    assert!(e["headers"].get("user-agent").is_none(), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_posts_with_its_content_type_and_accept_unless_h_says_otherwise() {
    let srv = TestServer::start();
    let dir = scratch("json");
    let url = srv.url("/anything");
    let r = fetch(&["--json", r#"{"n":[1,2]}"#, "--save", s(&dir), &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&dir, 0);
    assert_eq!(e["method"], "POST");
    assert_eq!(e["json"], serde_json::json!({"n": [1, 2]}));
    assert_eq!(e["headers"]["content-type"], "application/json");
    assert_eq!(e["headers"]["accept"], "application/json");

    let other = dir.join("other");
    let r = fetch(&[
        "--json",
        "[]",
        "-H",
        "Accept: text/plain",
        "-X",
        "PATCH",
        "--save",
        s(&other),
        &url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&other, 0);
    assert_eq!(e["method"], "PATCH");
    assert_eq!(e["headers"]["accept"], "text/plain");
    assert_eq!(e["headers"]["content-type"], "application/json");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `-d @FILE` reads FILE once, at start, for every request: here FILE is a FIFO, which can be
/// read only once (a second open would wait for a writer that never comes, and the run would
/// hang until the test's 60 s limit).
#[cfg(unix)]
#[test]
fn a_body_file_is_read_once_for_all_the_requests() {
    let srv = TestServer::start();
    let dir = scratch("fifo");
    let fifo = dir.join("body");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "once").unwrap())
    };
    let saved = dir.join("saved");
    let url = srv.url("/anything");
    let at_fifo = format!("@{}", fifo.display());
    let r = fetch(&[
        "-c",
        "1",
        "-d",
        &at_fifo,
        "--save",
        s(&saved),
        &url,
        &url,
        &url,
    ]);
    if !writer.is_finished() {
        // corral did not open the FIFO: unblock the writer, so that the test fails, not hangs.
        let _ = std::fs::read(&fifo);
    }
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 3);
    for i in 0..3 {
        assert_eq!(echo(&saved, i)["data"], "once", "request {i}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn head_gets_the_status_and_no_body() {
    let srv = TestServer::start();
    let url = srv.url("/bytes/1000");
    let head = fetch(&["-X", "HEAD", &url]);
    assert_eq!(head.code, 0, "{}", head.stderr);
    let get = fetch(&[&url]);
    let (h, g) = (&head.records[0], &get.records[0]);
    assert_eq!(
        (&h["status"], &h["bytes"], &h["ok"]),
        (&200.into(), &0.into(), &true.into())
    );
    assert_eq!((&g["status"], &g["bytes"]), (&200.into(), &1000.into()));
}

#[test]
fn bad_request_flags_exit_2_and_say_why_before_any_request() {
    let srv = TestServer::start();
    let url = srv.url("/get");
    let scratch_dir = scratch("missing");
    let missing = scratch_dir.join("nothing-here");
    let at_missing = format!("@{}", missing.display());
    for (args, says) in [
        (vec!["-H", "NoColon"], "no colon"),
        (vec!["-H", "Bad Name: x"], "not a header name"),
        (vec!["-H", "X:"], "has no value"),
        (vec!["-H", "X: a\rb"], "control character"),
        (vec!["-d", &at_missing], "cannot read the body file"),
        (vec!["--json", &at_missing], "cannot read the body file"),
        (vec!["-d", "@-"], "stdin"),
        (vec!["-X", "GET POST"], "not a method"),
        (vec!["-X", "HEAD", "-d", "x"], "HEAD sends no body"),
        (vec!["-d", "x", "--json", "{}"], "cannot be used with"),
        (vec!["--http1.1", "--http2"], "cannot be used with"),
        (
            vec!["--http2", "--http2-prior-knowledge"],
            "cannot be used with",
        ),
        (vec!["--max-redirects", "many"], "invalid value"),
        (vec!["--proxy", "socks5://127.0.0.1:1080"], "not supported"),
        (vec!["--proxy", "http://"], "proxy"),
    ] {
        let mut all = args.clone();
        all.push(&url);
        let r = fetch(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.records.is_empty(), "{args:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    assert_eq!(srv.stats().requests, 0, "nothing was fetched");
    std::fs::remove_dir_all(&scratch_dir).unwrap();
}

#[test]
fn redirects_are_followed_counted_and_end_at_the_final_url() {
    let srv = TestServer::start();
    let inputs = [
        ("/redirect/3", 3),
        ("/relative-redirect/2", 2),
        ("/absolute-redirect/4", 4),
        ("/redirect/2?absolute=true", 2),
        ("/redirect-to?url=/get&status_code=307", 1),
        ("/get", 0),
    ];
    let urls: Vec<String> = inputs.iter().map(|(p, _)| srv.url(p)).collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let r = fetch(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), inputs.len());
    for (rec, (path, hops)) in r.records.iter().zip(inputs) {
        assert_eq!(rec["ok"], true, "{path}: {rec}");
        assert_eq!(rec["status"], 200, "{path}");
        assert_eq!(rec["redirects"], hops, "{path}: {rec}");
        assert_eq!(rec["final_url"], srv.url("/get"), "{path}: {rec}");
        assert_eq!(rec["attempts"], 1, "{path}");
    }
    // One request per hop reached the server.
    let hops: u64 = inputs.iter().map(|(_, h)| h + 1).sum();
    assert_eq!(srv.stats().requests, hops);
}

#[test]
fn max_redirects_caps_the_chain_and_zero_makes_the_redirect_the_answer() {
    let srv = TestServer::start();
    let (two, three) = (srv.url("/redirect/2"), srv.url("/redirect/3"));
    let r = fetch(&["--max-redirects", "2", &two, &three]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (ok, over) = (&r.records[0], &r.records[1]);
    assert_eq!(
        (&ok["ok"], &ok["redirects"]),
        (&true.into(), &2.into()),
        "{ok}"
    );
    assert_eq!(over["error_kind"], "redirect", "{over}");
    assert_eq!(over["redirects"], 2, "{over}");
    assert_eq!(
        over["status"], 302,
        "the refused redirect's own status: {over}"
    );
    assert_eq!(over["final_url"], srv.url("/relative-redirect/1"), "{over}");
    let error = over["error"].as_str().unwrap();
    assert!(
        error.contains("--max-redirects 2") && error.contains("/get"),
        "{error}"
    );

    let one = srv.url("/redirect/1");
    let r = fetch(&["--max-redirects", "0", &one]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(
        (&rec["status"], &rec["error_kind"]),
        (&302.into(), &"status".into()),
        "{rec}"
    );
    assert_eq!(
        (&rec["redirects"], &rec["final_url"]),
        (&0.into(), &one.clone().into())
    );
    let r = fetch(&["--max-redirects", "0", "--ok-status", "2xx,3xx", &one]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records[0]["ok"], true);
    assert_eq!(
        srv.stats().requests,
        3 + 3 + 2,
        "no redirect followed with 0"
    );
}

#[test]
fn a_redirect_to_another_scheme_is_a_redirect_error_on_its_line() {
    let srv = TestServer::start();
    let dir = scratch("scheme");
    let file = dir.join("urls.txt");
    let lines = [
        "# redirects".to_owned(),
        srv.url("/get"),
        String::new(),
        srv.url("/redirect-to?url=ftp://files.invalid/x"),
        srv.url("/redirect-to?url=file:///etc/passwd&status_code=301"),
        srv.url("/redirect-to?url=mailto:someone@mail.invalid"),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let r = fetch(&["-i", s(&file)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let seen: Vec<(u64, &str)> = r
        .records
        .iter()
        .map(|rec| {
            let kind = rec["error_kind"].as_str().unwrap_or("ok");
            (rec["line"].as_u64().unwrap(), kind)
        })
        .collect();
    assert_eq!(
        seen,
        [(2, "ok"), (4, "redirect"), (5, "redirect"), (6, "redirect")]
    );
    for (rec, (target, status)) in r.records[1..].iter().zip([
        ("ftp://files.invalid/x", 302),
        ("file:///etc/passwd", 301),
        ("mailto:someone@mail.invalid", 302),
    ]) {
        let error = rec["error"].as_str().unwrap();
        assert!(error.contains(target), "{error}");
        assert_eq!(
            (&rec["attempts"], &rec["status"]),
            (&1.into(), &status.into()),
            "{rec}"
        );
        assert_eq!(
            rec["final_url"], rec["url"],
            "the URL that redirected: {rec}"
        );
        assert_eq!(rec["redirects"], 0, "{rec}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redirects_keep_or_drop_the_method_and_body_as_http_says() {
    let srv = TestServer::start();
    let dir = scratch("redirect-body");
    let to = |code: u16| srv.url(&format!("/redirect-to?url=/anything&status_code={code}"));
    let urls = [to(307), to(308), to(303), to(302), to(301)];
    let mut args = vec!["-k", "-d", "x=1", "--save", s(&dir)];
    args.extend(urls.iter().map(String::as_str));
    let r = fetch(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Vec<(String, String)> = (0..5)
        .map(|i| {
            let e = echo(&dir, i);
            (
                e["method"].as_str().unwrap().to_owned(),
                e["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let post = ("POST".to_owned(), "x=1".to_owned());
    let get = ("GET".to_owned(), String::new());
    assert_eq!(got, [post.clone(), post, get.clone(), get.clone(), get]);
    // The redirected request names the URL that redirected.
    assert_eq!(echo(&dir, 0)["headers"]["referer"], urls[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A request stopped by the deadline after its redirects, while its body arrives: the
/// cancelled record still says where it went.
#[test]
fn a_cancelled_record_keeps_the_redirects_that_had_happened() {
    let srv = TestServer::start();
    let url = srv.url("/redirect-to?url=%2Fdrip%3Fduration%3D8%26numbytes%3D4");
    let r = fetch(&["-z", "1s", &url]);
    assert_eq!(r.code, 124, "{}", r.stderr);
    let rec = &r.records[0];
    assert_eq!(rec["error_kind"], "cancelled", "{rec}");
    assert_eq!(
        (&rec["status"], &rec["redirects"]),
        (&200.into(), &1.into()),
        "{rec}"
    );
    assert_eq!(
        rec["final_url"],
        srv.url("/drip?duration=8&numbytes=4"),
        "{rec}"
    );
}

#[test]
fn a_url_too_long_for_the_http_client_is_invalid_input_on_its_line() {
    let srv = TestServer::start();
    let dir = scratch("long");
    let file = dir.join("urls.txt");
    // Under the 64 KiB line limit, but over the 65534 bytes an HTTP request's URI may have
    // once its non-ASCII characters are percent-encoded (2 bytes each here, 6 encoded).
    let long = srv.url(&format!("/get?q={}", "\u{e9}".repeat(30_000)));
    assert!(long.len() < 64 * 1024 && long.len() * 3 > 65_534 * 2);
    std::fs::write(&file, format!("# long\n{long}\n{}\n", srv.url("/get"))).unwrap();
    let r = fetch(&["-i", s(&file)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let bad = &r.records[0];
    assert_eq!(bad["error_kind"], "invalid_input", "{}", r.stderr);
    assert_eq!((&bad["attempts"], &bad["line"]), (&0.into(), &2.into()));
    let error = bad["error"].as_str().unwrap();
    assert!(error.starts_with("line 2: "), "{error}");
    assert!(bad["final_url"].is_null());
    assert_eq!(r.records[1]["ok"], true);
    assert_eq!(srv.stats().requests, 1, "only the good line was fetched");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A plain-HTTP forward proxy gets the absolute URL in the request line: the server stands in
/// for the proxy, routes on the path, and echoes the Host the request was meant for. The
/// target's name does not resolve, so the request can only have gone through the proxy.
#[test]
fn a_proxy_gets_the_request_and_the_environments_proxies_are_honoured() {
    let srv = TestServer::start();
    let dir = scratch("proxy");
    let via = srv.addr().to_string();
    let proxy_url = format!("http://{via}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let target = "http://corral-proxy-test.invalid/anything";
    let by_flag = dir.join("flag");
    let with_user = format!("http://u:p@{via}");
    let r = fetch(&["--proxy", &with_user, "--save", s(&by_flag), target]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = echo(&by_flag, 0);
    assert_eq!(e["headers"]["host"], "corral-proxy-test.invalid");
    assert_eq!(e["url"], target);
    assert_eq!(
        e["headers"]["proxy-authorization"], "Basic dTpw",
        "u:p in base64"
    );

    // No scheme means http://.
    let bare = dir.join("bare");
    let r = fetch(&["--proxy", &via, "--save", s(&bare), target]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        echo(&bare, 0)["headers"]["host"],
        "corral-proxy-test.invalid"
    );

    let by_env = dir.join("env");
    let r = fetch_env(
        &["--save", s(&by_env), target],
        &[("HTTP_PROXY", &proxy_url)],
    );
    assert_eq!(r.code, 0, "HTTP_PROXY is used: {}", r.stderr);
    assert_eq!(
        echo(&by_env, 0)["headers"]["host"],
        "corral-proxy-test.invalid"
    );

    let direct = srv.url("/get");
    let kind = |r: &Run| {
        r.records[0]["error_kind"]
            .as_str()
            .unwrap_or("ok")
            .to_owned()
    };
    // A proxy that refuses connections fails the request...
    let r = fetch_env(&[&direct], &[("HTTP_PROXY", &closed)]);
    assert_eq!(kind(&r), "connect", "{:?}", r.records);
    // ...unless NO_PROXY names the host, or --proxy '' turns proxies off.
    let r = fetch_env(
        &[&direct],
        &[("HTTP_PROXY", &closed), ("NO_PROXY", "127.0.0.1")],
    );
    assert_eq!(kind(&r), "ok", "{:?}", r.records);
    let r = fetch_env(&["--proxy", "", &direct], &[("HTTP_PROXY", &closed)]);
    assert_eq!(kind(&r), "ok", "{:?}", r.records);
    // --proxy wins over the environment, and NO_PROXY applies to it too, as in curl.
    let r = fetch_env(
        &["--proxy", &closed, &direct],
        &[("HTTP_PROXY", &proxy_url)],
    );
    assert_eq!(kind(&r), "connect", "{:?}", r.records);
    let r = fetch_env(&["--proxy", &closed, &direct], &[("NO_PROXY", "127.0.0.1")]);
    assert_eq!(kind(&r), "ok", "{:?}", r.records);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `corral serve` speaks HTTP/1.1, and HTTP/2 to a client that starts with it: every version
/// flag fetches it, `--http2-prior-knowledge` over h2c, and `--insecure` over plain HTTP too
/// (tests/tls.rs tests it against a TLS server).
#[test]
fn http_version_flags_and_insecure() {
    let srv = TestServer::start();
    let url = srv.url("/get");
    for flag in [
        "--http1.1",
        "--http2",
        "--http2-prior-knowledge",
        "--insecure",
    ] {
        let r = fetch(&[flag, &url]);
        assert_eq!(r.code, 0, "{flag}: {}", r.stderr);
        assert_eq!(r.records[0]["status"], 200, "{flag}");
    }
}

#[test]
fn a_journal_remembers_the_request_flags() {
    let srv = TestServer::start();
    let dir = scratch("journal");
    let journal = dir.join("j");
    let url = srv.url("/get");
    let j = s(&journal);
    let r = fetch(&["--journal", j, "-H", "X-A: 1", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = fetch(&["--journal", j, "--resume", "-H", "X-A: 2", &url]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--header"), "{}", r.stderr);
    let r = fetch(&["--journal", j, "--resume", "-H", "X-A: 1", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
