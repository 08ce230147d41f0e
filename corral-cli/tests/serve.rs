//! `corral serve` end to end: it survives slowloris, streams large bodies in bounded memory,
//! speaks HTTP/2 with prior knowledge, and answers in httpbin's shapes.
//!
//! The robustness tests run `corral serve` as a child process (its file descriptors and its
//! memory are then its own to measure) and stop it by its PID; the others use the in-process
//! server. Requests are written by hand over TCP where the test needs control over the bytes
//! (header names' case, partial request lines, the HTTP/2 preface).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

mod common;
use common::TestServer;

/// A `corral serve` child process; dropping it kills it by its PID and reaps it.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Served {
    /// `corral serve --port 0 ARGS`, run through `sh -c PREFIX; exec corral ...` (the shell
    /// becomes corral: the PID stays the same), once it has printed its address.
    fn start(shell_prefix: &str, args: &[&str]) -> Served {
        let bin = assert_cmd::cargo::cargo_bin("corral");
        let script = format!("{shell_prefix} exec \"$0\" serve --port 0 \"$@\"");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn corral serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .parse()
            .unwrap();
        Served { child, addr }
    }

    /// The child's peak resident memory (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in {status}"));
        kb * 1024
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 response read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one response framed by `Content-Length` from `r`.
fn read_answer(r: &mut impl BufRead) -> Answer {
    let mut status_line = String::new();
    r.read_line(&mut status_line)
        .unwrap_or_else(|e| panic!("no answer (within the socket's read timeout): {e}"));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = answer
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    answer.body = vec![0; len];
    r.read_exact(&mut answer.body).unwrap();
    answer
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends `requests` (whole HTTP/1.1 requests, one after the other) on one connection, and
/// reads as many answers.
fn exchange(addr: SocketAddr, requests: &[&[u8]]) -> Vec<Answer> {
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    requests
        .iter()
        .map(|req| {
            s.write_all(req).unwrap();
            read_answer(&mut r)
        })
        .collect()
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Answer {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n");
    exchange(addr, &[req.as_bytes()]).remove(0)
}

/// How many more sockets this process may open, beside a margin for the other tests running
/// in parallel.
fn sockets_that_fit(wanted: u64) -> u64 {
    let limit = corral_cli::fdlimit::raise();
    let free = limit.soft.map_or(u64::MAX, |soft| soft.saturating_sub(512));
    wanted.min(free).max(1)
}

/// Slowloris: 2,000 connections (or as many as the open-file limit lets this process have)
/// that send part of a request line and nothing more. A real request is still answered
/// promptly, and every idle connection is closed by the server (a read returns EOF), not
/// before the header timeout and not long after.
#[test]
fn slowloris_connections_are_cut_off_and_real_clients_are_served() {
    let n = sockets_that_fit(2_000);
    let what = format!(
        "{n} slowloris connections (of 2000 wanted; fewer only if the open-file limit is low)"
    );
    let served = Served::start("", &["--header-timeout", "1s"]);
    let opened = Instant::now();
    let mut idle = Vec::new();
    for i in 0..n {
        let mut s = TcpStream::connect(served.addr)
            .unwrap_or_else(|e| panic!("{what}: connection {i}: {e}"));
        s.write_all(b"GET /get HTT").unwrap();
        idle.push(s);
    }
    let started = Instant::now();
    let answer = get(served.addr, "/get?real=1", "Connection: close\r\n");
    assert_eq!(answer.status, 200, "{what}");
    assert_eq!(answer.json()["args"]["real"], "1", "{what}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{what}: a real request took {:?}",
        started.elapsed()
    );
    let (mut eof, mut other) = (0, Vec::new());
    // One budget for all the reads, so that a server that never closes fails the test in
    // 40 s rather than hanging it for 30 s a connection.
    let deadline = opened + Duration::from_secs(40);
    for s in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut [0u8; 64]) {
            Ok(0) => eof += 1,
            Ok(k) => other.push(format!("{k} bytes")),
            Err(e) => other.push(e.kind().to_string()),
        }
    }
    let closed_after = opened.elapsed();
    other.truncate(5);
    assert_eq!(eof, n, "{what}: all end in EOF; not so: {other:?}");
    assert!(
        closed_after >= Duration::from_secs(1),
        "{what}: closed after {closed_after:?}, before the 1 s header timeout"
    );
    assert!(
        closed_after < Duration::from_secs(40),
        "{what}: closed only after {closed_after:?}"
    );
}

/// The issue's case: a server allowed 256 open files, 300 connections that send nothing. They
/// hold every descriptor the server has, so a real client waits in the listen queue; the
/// header timeout frees them, and the real client is answered (without it, never).
#[test]
fn half_open_connections_do_not_starve_a_server_short_of_descriptors() {
    let n = sockets_that_fit(300);
    let what = format!("{n} half-open connections (of 300 wanted) against ulimit -n 256");
    let served = Served::start("ulimit -n 256 &&", &["--header-timeout", "1s"]);
    let idle: Vec<TcpStream> = (0..n).map(|_| connect(served.addr)).collect();
    let started = Instant::now();
    let answer = get(served.addr, "/get", "Connection: close\r\n");
    assert_eq!(answer.status, 200, "{what}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{what}: the real request took {:?}",
        started.elapsed()
    );
    drop(idle);
}

/// 200 concurrent requests for 10 MiB from `/bytes`, each held open until all 200 have their
/// response head, then read in full: the server's peak resident memory stays under 150 MiB
/// (bodies built in memory would take 2 GB).
#[test]
fn two_hundred_ten_mib_bodies_at_once_take_bounded_memory() {
    const N: usize = 200;
    const SIZE: u64 = 10 * 1024 * 1024;
    let n = sockets_that_fit(N as u64) as usize;
    let served = Served::start("", &[]);
    let url = format!("http://{}/bytes/{SIZE}", served.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lengths = runtime.block_on(async move {
        // A hung server fails the test instead of hanging it.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(240))
            .build()
            .unwrap();
        let all_open = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (client, url, all_open) = (client.clone(), url.clone(), all_open.clone());
                tokio::spawn(async move {
                    let response = client.get(&url).send().await;
                    // Every task reaches the barrier, a failed one too, so that none waits
                    // for ever.
                    all_open.wait().await;
                    let mut response = response.map_err(|e| format!("request: {e:?}"))?;
                    if response.status() != 200 {
                        return Err(format!("status {}", response.status()));
                    }
                    let mut len = 0u64;
                    while let Some(piece) =
                        response.chunk().await.map_err(|e| format!("body: {e:?}"))?
                    {
                        len += piece.len() as u64;
                    }
                    Ok::<u64, String>(len)
                })
            })
            .collect();
        let mut lengths = Vec::new();
        for t in tasks {
            lengths.push(t.await.unwrap());
        }
        lengths
    });
    runtime.shutdown_background();
    assert_eq!(lengths.len(), n, "{n} of {N} wanted (open-file limit)");
    let wrong: Vec<_> = lengths.iter().filter(|l| **l != Ok(SIZE)).take(5).collect();
    assert!(wrong.is_empty(), "every body is 10 MiB; not so: {wrong:?}");
    let peak = served.peak_rss();
    eprintln!("peak RSS of the server: {} KiB", peak / 1024);
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MiB serving {n} x 10 MiB",
        peak / (1024 * 1024)
    );
}

/// An HTTP/2 client with prior knowledge is served over HTTP/2, on the same port as HTTP/1.
#[test]
fn http2_with_prior_knowledge_is_served() {
    let srv = TestServer::start();
    // By hand: the preface and an empty SETTINGS frame get the server's SETTINGS frame back.
    let mut s = connect(srv.addr());
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut frame = [0u8; 9];
    s.read_exact(&mut frame)
        .expect("an HTTP/2 frame, not a closed connection");
    assert_eq!(frame[3], 0x04, "a SETTINGS frame: {frame:?}");
    assert_eq!(&frame[5..9], &[0, 0, 0, 0], "on stream 0");
    // And by a client, on one connection: `/reset` resets its own stream only.
    let (url, reset_url) = (srv.url("/get?h=2"), srv.url("/reset"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (version, echo, reset, after) = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let r = client.get(&url).send().await.unwrap();
        let version = r.version();
        let echo = r.bytes().await.unwrap();
        let reset = client.get(&reset_url).send().await.map(|r| r.status());
        let after = client.get(&url).send().await.map(|r| r.status());
        (version, echo, reset, after)
    });
    assert_eq!(version, reqwest::Version::HTTP_2);
    let echo: Value = serde_json::from_slice(&echo).unwrap();
    assert_eq!(echo["args"], json!({"h": "2"}));
    assert!(
        echo["url"].as_str().unwrap().ends_with("/get?h=2"),
        "{echo}"
    );
    assert!(reset.is_err(), "/reset over HTTP/2: {reset:?}");
    assert_eq!(after.unwrap(), 200, "the next request");
}

/// An HTTP/2 client that sends the preface and then nothing, not even the answer to the
/// server's PING, is disconnected after the header timeout, as an HTTP/1 slowloris is.
#[test]
fn a_silent_http2_client_is_disconnected() {
    let srv = TestServer::with(corral_cli::serve::Config {
        header_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    });
    let mut s = connect(srv.addr());
    let started = Instant::now();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => seen.extend_from_slice(&buf[..k]),
            Err(e) => panic!("not closed within the socket's 30 s read timeout: {e}"),
        }
    }
    assert!(!seen.is_empty(), "the server spoke HTTP/2 before closing");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "closed after {:?}, before the timeout",
        started.elapsed()
    );
}

#[test]
fn repeated_query_arguments_become_lists() {
    let srv = TestServer::start();
    let echo = get(srv.addr(), "/get?a=1&b=x%20y&a=2&c=&a=3", "").json();
    assert_eq!(
        echo["args"],
        json!({"a": ["1", "2", "3"], "b": "x y", "c": ""})
    );
    let keys: Vec<&String> = echo["args"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a", "b", "c"], "first-seen order");
}

/// Header names come back as the client wrote them, in its order, repeated ones joined with
/// `,`, also on a kept-alive connection after bodies of either framing.
#[test]
fn header_names_keep_their_case_and_repeats_are_joined() {
    let srv = TestServer::start();
    let a = srv.addr();
    let chunked = format!(
        "POST /anything HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nX-No\r\n3\r\n: 1\r\n0\r\n\r\n"
    );
    let sized =
        format!("PUT /anything HTTP/1.1\r\nhost: {a}\r\nCONTENT-length: 9\r\n\r\nHost: z\r\n");
    let headers = format!(
        "GET /headers HTTP/1.1\r\nHost: {a}\r\nX-Mixed-Case: a\r\nUser-Agent: raw\r\n\
         x-mixed-case: b\r\nALLCAPS: z\r\n\r\n"
    );
    let answers = exchange(
        a,
        &[chunked.as_bytes(), sized.as_bytes(), headers.as_bytes()],
    );
    let first = answers[0].json();
    assert_eq!(first["data"], "X-No: 1");
    assert_eq!(
        first["headers"],
        json!({"Host": a.to_string(), "Transfer-Encoding": "chunked"})
    );
    let second = answers[1].json();
    assert_eq!(second["method"], "PUT");
    assert_eq!(
        second["headers"],
        json!({"host": a.to_string(), "CONTENT-length": "9"})
    );
    let third = answers[2].json();
    assert_eq!(
        third["headers"],
        json!({"Host": a.to_string(), "X-Mixed-Case": "a,b", "User-Agent": "raw", "ALLCAPS": "z"})
    );
    let names: Vec<&String> = third["headers"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["Host", "X-Mixed-Case", "User-Agent", "ALLCAPS"],
        "as sent"
    );
}

#[test]
fn anything_parses_form_and_multipart_bodies() {
    let srv = TestServer::start();
    let a = srv.addr();
    let body = "f=1&g=two+words&f=%3D";
    let urlencoded = format!(
        "POST /anything HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let multipart_body = "--BOUND\r\n\
        Content-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n\
        --BOUND\r\n\
        Content-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\n\
        Content-Type: text/plain\r\n\r\nfirst line\nsecond line\r\n\
        --BOUND--\r\n";
    let multipart = format!(
        "POST /anything/deeper HTTP/1.1\r\nHost: {a}\r\n\
         Content-Type: multipart/form-data; boundary=BOUND\r\nContent-Length: {}\r\n\r\n{multipart_body}",
        multipart_body.len()
    );
    let answers = exchange(a, &[urlencoded.as_bytes(), multipart.as_bytes()]);
    let form = answers[0].json();
    assert_eq!(form["form"], json!({"f": ["1", "="], "g": "two words"}));
    assert_eq!(form["files"], json!({}));
    assert_eq!(form["json"], Value::Null);
    let multi = answers[1].json();
    assert_eq!(multi["form"], json!({"field": "value"}));
    assert_eq!(multi["files"], json!({"upload": "first line\nsecond line"}));
    assert!(multi["url"].as_str().unwrap().ends_with("/anything/deeper"));
}

#[test]
fn response_headers_sets_the_headers_it_is_given() {
    let srv = TestServer::start();
    let r = get(
        srv.addr(),
        "/response-headers?X-Twice=1&X-Once=a%20b&X-Twice=2",
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.all("x-twice"), ["1", "2"]);
    assert_eq!(r.header("x-once"), Some("a b"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["X-Twice"], json!(["1", "2"]));
    assert_eq!(body["X-Once"], "a b");
    assert_eq!(body["Content-Type"], "application/json");
    assert_eq!(
        body["Content-Length"],
        r.body.len().to_string(),
        "states its own length"
    );
    let typed = get(srv.addr(), "/response-headers?Content-Type=text/plain", "");
    assert_eq!(typed.all("content-type"), ["text/plain"]);
    let refused = get(srv.addr(), "/response-headers?Content-Length=1", "");
    assert_eq!(refused.status, 400);
}

#[test]
fn basic_auth_wants_exactly_its_credentials() {
    let srv = TestServer::start();
    let a = srv.addr();
    // "dTpw" is base64 of "u:p"; "dTpx" of "u:q".
    let ok = get(a, "/basic-auth/u/p", "Authorization: Basic dTpw\r\n");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"authenticated": true, "user": "u"}));
    for extra in [
        "",
        "Authorization: Basic dTpx\r\n",
        "Authorization: Bearer dTpw\r\n",
    ] {
        let no = get(a, "/basic-auth/u/p", extra);
        assert_eq!(no.status, 401, "{extra:?}");
        assert_eq!(
            no.header("www-authenticate"),
            Some(r#"Basic realm="Fake Realm""#),
            "{extra:?}"
        );
    }
}

/// `/gzip` is gzip on the wire: the system's own `gzip -d` reads it back (an independent
/// decoder), and it says `gzipped: true`.
#[test]
fn gzip_is_gzip() {
    let srv = TestServer::start();
    let r = get(srv.addr(), "/gzip", "X-Probe: 1\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut gunzip = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip(1), to check the encoding independently");
    gunzip.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = gunzip.wait_with_output().unwrap();
    assert!(out.status.success(), "gzip -d refused the body");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["gzipped"], true);
    assert_eq!(doc["method"], "GET");
    assert_eq!(doc["headers"]["X-Probe"], "1");
}

/// The redirect endpoints answer as httpbin's do.
#[test]
fn redirects_point_where_httpbin_points() {
    let srv = TestServer::start();
    let a = srv.addr();
    let cases = [
        ("/redirect/2", "/relative-redirect/1".to_owned()),
        ("/relative-redirect/1", "/get".to_owned()),
        (
            "/absolute-redirect/2",
            format!("http://{a}/absolute-redirect/1"),
        ),
        (
            "/redirect-to?url=http%3A%2F%2Fexample.test%2F",
            "http://example.test/".to_owned(),
        ),
    ];
    for (path, location) in cases {
        let r = get(a, path, "");
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("location"), Some(location.as_str()), "{path}");
    }
}

/// `/bytes` streams the same bytes it built in memory before (one draw of the seeded
/// generator), with a `Content-Length`; `/drip` too.
#[test]
fn streamed_bodies_keep_their_bytes_and_length() {
    let srv = TestServer::start();
    let n = 100_003;
    let r = get(srv.addr(), &format!("/bytes/{n}?seed=3"), "");
    assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
    assert!(r.header("transfer-encoding").is_none());
    let mut expected = vec![0u8; n];
    rand::rngs::SmallRng::seed_from_u64(3).fill(&mut expected[..]);
    assert!(r.body == expected, "the seeded bytes");
    let drip = get(srv.addr(), "/drip?numbytes=70000&duration=0.2", "");
    assert_eq!(drip.body, vec![b'*'; 70_000]);
}
