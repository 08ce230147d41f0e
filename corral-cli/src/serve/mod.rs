//! `corral serve`: an httpbin-compatible server with fault endpoints, for tests and demos.
//!
//! Endpoints, all answering any method unless noted:
//!
//! | path | answer |
//! |---|---|
//! | `/get` (GET) | JSON echo: `args`, `headers`, `origin`, `url` |
//! | `/anything`, `/anything/{path}` | JSON echo plus `method`, `data`, `json` |
//! | `/headers`, `/ip`, `/user-agent` (GET) | the matching part of the echo |
//! | `/status/{codes}` | that status; `200,500` picks one; `200:0.8,500:0.2` picks by weight; `?delay=SECS` answers later |
//! | `/delay/{secs}` | the echo after `secs` (fractional, capped by `--max-delay`) |
//! | `/bytes/{n}` (GET) | `n` random bytes (capped by `--max-bytes`; `?seed=` makes them repeatable) |
//! | `/drip` (GET) | `numbytes` bytes spread over `duration` seconds after `delay`, status `code` |
//! | `/slow/{bytes_per_sec}` (GET) | `?bytes=N` bytes (default 1024) at that rate |
//! | `/hang` | never answers |
//! | `/reset` | closes the connection with a TCP reset, without a response |
//! | `/garbage` | answers with bytes that are not HTTP, then closes |
//! | `/truncated` (GET) | a 200 whose body breaks off half-way (the connection is dropped) |
//! | `/stats` (GET) | `in_flight`, `peak_in_flight`, `requests` seen by this server, and by `Host` header in `hosts` |
//! | `/redirect/{n}`, `/relative-redirect/{n}` | n 302s with relative `Location`s, then `/get` (`/redirect/{n}?absolute=true`: as the next) |
//! | `/absolute-redirect/{n}` | n 302s to `http://HOST/...`, then `/get` |
//! | `/redirect-to?url=URL&status_code=3xx` | that redirect (302 by default) to URL, any scheme |
//! | `/fail/{k}?key=NAME` | the first `k` requests of a key fail (503, or `code`; `retry_after`), then 200 |
//! | `/latency?fast=&slow=&every=N` | every N-th request (per `key`) takes `slow` seconds, the others `fast` |
//!
//! The endpoints for a client's policies (`/fail`, `/latency`, the per-host counters) are in
//! `policy`.
//!
//! The server owns its accept loop so that `/reset` and `/garbage` can act below HTTP: each
//! connection's socket is wrapped, a `/garbage` request flips the wrapper into writing garbage
//! instead of hyper's response, and a `/reset` request fails the service, which makes hyper drop
//! the connection, whose socket was set to reset on close. This works on kept-alive
//! connections too. A request hyper cannot parse gets hyper's own 4xx answer; the server goes
//! on serving.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use axum::response::{IntoResponse, Json};
use axum::routing::{any, get};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::cli::ServeArgs;
use crate::stdio::note;

mod policy;
mod redirect;

/// What the endpoints may cost.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest wait `/delay`, `/drip` and `/slow` will make.
    pub max_delay: Duration,
    /// Largest body `/bytes`, `/drip` and `/slow` will send.
    pub max_bytes: u64,
    /// Keep the path and query of every request, for [`Server::request_log`] (tests: which
    /// inputs were fetched, and how often). Off for `corral serve`: it grows without bound.
    pub log_requests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_delay: Duration::from_secs(10),
            max_bytes: 10 * 1024 * 1024,
            log_requests: false,
        }
    }
}

/// Request counters: how many are being handled now, the most at once, and the total.
#[derive(Debug, Default)]
pub struct Stats {
    in_flight: AtomicU64,
    peak: AtomicU64,
    total: AtomicU64,
    /// With [`Config::log_requests`], every request's path and query, in arrival order.
    log: Option<std::sync::Mutex<Vec<String>>>,
    /// The same counters by `Host` header.
    hosts: policy::Hosts,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests whose handler is running now.
    pub in_flight: u64,
    /// The most requests handled at once so far.
    pub peak_in_flight: u64,
    /// Requests received so far.
    pub requests: u64,
}

impl Stats {
    fn enter(self: &Arc<Self>, uri: &hyper::Uri, host: &str) -> InFlight {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Some(log) = &self.log {
            let line = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        InFlight(self.clone(), self.hosts.enter(host))
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            in_flight: self.in_flight.load(Ordering::Acquire),
            peak_in_flight: self.peak.load(Ordering::Acquire),
            requests: self.total.load(Ordering::Acquire),
        }
    }
}

/// Counts one request as in flight until dropped (also when the client goes away).
struct InFlight(Arc<Stats>, Arc<policy::HostCount>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.1.leave();
    }
}

/// A running server. Dropping it stops the accept loop and closes every connection.
pub struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
    _shutdown: oneshot::Sender<()>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn bind(addr: SocketAddr, config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats {
            log: config.log_requests.then(Default::default),
            ..Stats::default()
        });
        let app = App {
            config: Arc::new(config),
            stats: stats.clone(),
            keys: Arc::default(),
        };
        let (tx, rx) = oneshot::channel();
        tokio::spawn(accept_loop(listener, app, rx));
        Ok(Server {
            addr,
            stats,
            _shutdown: tx,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The request counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The path and query of every request so far, in arrival order, if the server was bound
    /// with [`Config::log_requests`]; else empty.
    pub fn request_log(&self) -> Vec<String> {
        self.stats.log.as_ref().map_or_else(Vec::new, |log| {
            log.lock().unwrap_or_else(|e| e.into_inner()).clone()
        })
    }

    /// Starts counting the peak in-flight requests afresh, from the number in flight now
    /// (per host too).
    pub fn reset_peak(&self) {
        let now = self.stats.in_flight.load(Ordering::Acquire);
        self.stats.peak.store(now, Ordering::Release);
        self.stats.hosts.reset_peaks();
    }

    /// The request counters by `Host` header (`127.0.0.1:8080`, `localhost:8080`).
    pub fn host_stats(&self) -> std::collections::BTreeMap<String, StatsSnapshot> {
        self.stats.hosts.snapshot()
    }
}

/// `corral serve`: binds, prints `listening on http://HOST:PORT` first, serves until Ctrl-C.
pub async fn run(args: ServeArgs) -> i32 {
    let config = Config {
        max_delay: args.max_delay,
        max_bytes: args.max_bytes,
        log_requests: false,
    };
    let server = match Server::bind(SocketAddr::new(args.bind, args.port), config).await {
        Ok(s) => s,
        Err(e) => {
            note!(
                "corral serve: cannot listen on {}:{}: {e} (try another --port, or --port 0)",
                args.bind,
                args.port
            );
            return crate::exit::NOT_MET;
        }
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // The first line is a contract: scripts read the port from it.
        let _ = writeln!(out, "listening on http://{}", server.addr());
        let _ = out.flush();
    }
    let _ = tokio::signal::ctrl_c().await;
    drop(server);
    crate::exit::OK
}

async fn accept_loop(listener: TcpListener, app: App, mut shutdown: oneshot::Receiver<()>) {
    let router = router(app.clone());
    // Owning the connections here means stopping the loop closes them all.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(_) => {
                // Out of file descriptors or a connection aborted while queued: back off a
                // little and go on serving.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn::new(stream);
        let faults = conn.faults.clone();
        let router = router.clone();
        let stats = app.stats.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let host = req.headers().get(hyper::header::HOST);
            let guard = stats.enter(req.uri(), host.and_then(|h| h.to_str().ok()).unwrap_or(""));
            let faults = faults.clone();
            req.extensions_mut().insert(ConnectInfo(peer));
            let routed = match req.uri().path() {
                "/reset" => {
                    faults.reset.store(true, Ordering::Release);
                    None
                }
                "/garbage" => {
                    faults.garbage.store(true, Ordering::Release);
                    None
                }
                _ => Some(TowerToHyperService::new(router.clone()).call(req)),
            };
            async move {
                let _guard = guard;
                match routed {
                    Some(fut) => match fut.await {
                        Ok(response) => Ok(response),
                        Err(never) => match never {},
                    },
                    None if faults.reset.load(Ordering::Acquire) => Err(Fault),
                    // The connection wrapper replaces this answer's bytes with garbage.
                    None => Ok(Response::new(Body::empty())),
                }
            }
        });
        connections.spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .await;
        });
    }
}

/// The service error that makes hyper drop a connection without answering (`/reset`).
#[derive(Debug)]
struct Fault;

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on request")
    }
}

impl std::error::Error for Fault {}

#[derive(Default)]
struct Faults {
    garbage: AtomicBool,
    reset: AtomicBool,
}

/// What `/garbage` sends instead of an HTTP response.
const GARBAGE: &[u8] = b"this is not HTTP \x00\xff\xfe{{{\r\n\r\n";

/// A connection's socket, wrapped so that fault endpoints can act below HTTP.
struct Conn {
    inner: TcpStream,
    faults: Arc<Faults>,
    garbage_sent: usize,
    shut: bool,
}

impl Conn {
    fn new(inner: TcpStream) -> Self {
        Conn {
            inner,
            faults: Arc::default(),
            garbage_sent: 0,
            shut: false,
        }
    }

    /// Writes the garbage (once) and closes the write side; reports `len` as written so hyper
    /// believes its response went out.
    fn poll_garbage(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        while self.garbage_sent < GARBAGE.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &GARBAGE[self.garbage_sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.garbage_sent += n;
        }
        if !self.shut {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.shut = true;
        }
        Poll::Ready(Ok(len))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.faults.reset.load(Ordering::Acquire) {
            // Linger 0 makes close send RST instead of FIN; it does not block for zero.
            #[allow(deprecated)]
            let _ = self.inner.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.faults.garbage.load(Ordering::Acquire) {
            return self.poll_garbage(cx, buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.faults.garbage.load(Ordering::Acquire) {
            let len = bufs.iter().map(|b| b.len()).sum();
            return self.poll_garbage(cx, len);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Clone)]
struct App {
    config: Arc<Config>,
    stats: Arc<Stats>,
    /// Request counts per key, for `/fail` and `/latency`.
    keys: Arc<policy::Keys>,
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/get", get(echo_get))
        .route("/anything", any(anything))
        .route("/anything/*rest", any(anything))
        .route("/headers", get(headers))
        .route("/ip", get(ip))
        .route("/user-agent", get(user_agent))
        .route("/status/:codes", any(status))
        .route("/delay/:secs", any(delay))
        .route("/bytes/:n", get(bytes))
        .route("/drip", get(drip))
        .route("/slow/:rate", get(slow))
        .route("/hang", any(hang))
        .route("/truncated", get(truncated))
        .route("/stats", get(stats))
        .route("/redirect/:n", any(redirect::redirect))
        .route("/relative-redirect/:n", any(redirect::relative))
        .route("/absolute-redirect/:n", any(redirect::absolute))
        .route("/redirect-to", any(redirect::to))
        .route("/fail/:k", any(policy::fail))
        .route("/latency", any(policy::latency))
        .fallback(not_found)
        .with_state(app)
}

type Args = Query<HashMap<String, String>>;
type Peer = ConnectInfo<SocketAddr>;

fn bad_request(message: impl Into<String>) -> Response<Body> {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// The headers as a JSON object; a name sent more than once has its values joined with `,`.
fn header_map(headers: &HeaderMap) -> Value {
    let map: serde_json::Map<String, Value> = headers
        .keys()
        .map(|k| {
            let values: Vec<_> = headers
                .get_all(k)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            (k.as_str().to_owned(), Value::String(values.join(",")))
        })
        .collect();
    Value::Object(map)
}

fn full_url(uri: &Uri, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("http://{host}{path}")
}

fn echo(args: &HashMap<String, String>, headers: &HeaderMap, peer: SocketAddr, uri: &Uri) -> Value {
    json!({
        "args": args,
        "headers": header_map(headers),
        "origin": peer.ip().to_string(),
        "url": full_url(uri, headers),
    })
}

async fn index() -> &'static str {
    "corral serve: httpbin-style endpoints /get /anything /status/{codes} /delay/{secs} \
     /bytes/{n} /drip /headers /ip /user-agent; faults /hang /reset /garbage /truncated \
     /slow/{bytes_per_sec}; for retries and hedging /fail/{k} /latency; counters /stats;\
     redirects /redirect/{n} /relative-redirect/{n} /absolute-redirect/{n} /redirect-to?url=\n"
}

async fn echo_get(
    Query(args): Args,
    ConnectInfo(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    Json(echo(&args, &headers, peer, &uri))
}

async fn anything(
    method: Method,
    Query(args): Args,
    ConnectInfo(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Json<Value> {
    let mut v = echo(&args, &headers, peer, &uri);
    v["method"] = json!(method.as_str());
    v["data"] = json!(String::from_utf8_lossy(&body));
    v["json"] = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    Json(v)
}

async fn headers(headers: HeaderMap) -> Json<Value> {
    Json(json!({ "headers": header_map(&headers) }))
}

async fn ip(ConnectInfo(peer): Peer) -> Json<Value> {
    Json(json!({ "origin": peer.ip().to_string() }))
}

async fn user_agent(headers: HeaderMap) -> Json<Value> {
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Json(json!({ "user-agent": ua }))
}

/// Picks a status from `200`, `200,500` (uniform) or `200:0.8,500:0.2` (weighted).
pub fn pick_status(spec: &str, rng: &mut impl Rng) -> Result<StatusCode, String> {
    let mut choices = Vec::new();
    for part in spec.split(',') {
        let (code, weight) = match part.split_once(':') {
            Some((c, w)) => (
                c,
                w.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("bad weight in `{part}`"))?,
            ),
            None => (part, 1.0),
        };
        let code = code
            .trim()
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|c| (100..=599).contains(&c.as_u16()))
            .ok_or_else(|| format!("`{}` is not a status code (100-599)", code.trim()))?;
        if !weight.is_finite() || weight < 0.0 {
            return Err(format!("bad weight in `{part}`"));
        }
        choices.push((code, weight));
    }
    let total: f64 = choices.iter().map(|c| c.1).sum();
    if total <= 0.0 {
        return Err("the weights add up to zero".into());
    }
    let mut x = rng.r#gen::<f64>() * total;
    for &(code, weight) in &choices {
        if x < weight {
            return Ok(code);
        }
        x -= weight;
    }
    Ok(choices.last().map(|c| c.0).unwrap_or(StatusCode::OK))
}

async fn status(
    State(app): State<App>,
    Path(codes): Path<String>,
    Query(args): Args,
) -> Response<Body> {
    let code = match pick_status(&codes, &mut rand::thread_rng()) {
        Ok(code) => code,
        Err(e) => return bad_request(e),
    };
    if let Some(secs) = args.get("delay") {
        match seconds(secs, app.config.max_delay) {
            Ok(d) => tokio::time::sleep(d).await,
            Err(e) => return bad_request(format!("delay: {e}")),
        }
    }
    code.into_response()
}

fn seconds(text: &str, cap: Duration) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` is not a number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs.min(cap.as_secs_f64())))
}

async fn delay(
    State(app): State<App>,
    Path(secs): Path<String>,
    Query(args): Args,
    ConnectInfo(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let d = match seconds(&secs, app.config.max_delay) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    tokio::time::sleep(d).await;
    let mut v = echo(&args, &headers, peer, &uri);
    v["delay"] = json!(d.as_secs_f64());
    Json(v).into_response()
}

async fn bytes(State(app): State<App>, Path(n): Path<u64>, Query(args): Args) -> Response<Body> {
    let n = n.min(app.config.max_bytes) as usize;
    let mut rng = match args.get("seed").map(|s| s.parse::<u64>()) {
        Some(Ok(seed)) => rand::rngs::SmallRng::seed_from_u64(seed),
        Some(Err(_)) => return bad_request("seed must be a number"),
        None => rand::rngs::SmallRng::from_entropy(),
    };
    let mut body = vec![0u8; n];
    rng.fill(&mut body[..]);
    (
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response()
}

/// A body of `total` bytes of `b'*'` sent in even steps over `over`, after `after`.
fn paced(total: u64, over: Duration, after: Duration) -> Body {
    // At most one step per 10 ms, at least one byte per step.
    let steps = ((over.as_millis() / 10) as u64).clamp(1, total.max(1));
    let pause = over / steps as u32;
    let stream = futures_util::stream::unfold(0u64, move |step| async move {
        if step >= steps || total == 0 {
            return None;
        }
        tokio::time::sleep(if step == 0 { after + pause } else { pause }).await;
        let n = total * (step + 1) / steps - total * step / steps;
        Some((
            Ok::<_, Infallible>(Bytes::from(vec![b'*'; n as usize])),
            step + 1,
        ))
    });
    Body::from_stream(stream)
}

async fn drip(State(app): State<App>, Query(args): Args) -> Response<Body> {
    let cap = app.config.max_delay;
    let get = |k: &str, default: &str| args.get(k).cloned().unwrap_or_else(|| default.to_owned());
    let duration = match seconds(&get("duration", "2"), cap) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("duration: {e}")),
    };
    let after = match seconds(&get("delay", "0"), cap) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("delay: {e}")),
    };
    let Ok(numbytes) = get("numbytes", "10").parse::<u64>() else {
        return bad_request("numbytes must be a whole number");
    };
    let Some(code) = get("code", "200")
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    else {
        return bad_request("code must be a status code");
    };
    let duration = duration.min(cap.saturating_sub(after));
    let total = numbytes.min(app.config.max_bytes);
    let mut response = Response::new(paced(total, duration, after));
    *response.status_mut() = code;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

async fn slow(State(app): State<App>, Path(rate): Path<u64>, Query(args): Args) -> Response<Body> {
    if rate == 0 {
        return bad_request("the rate must be at least 1 byte per second");
    }
    let total = match args.get("bytes").map(|b| b.parse::<u64>()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("bytes must be a whole number"),
        None => 1024,
    };
    let max_by_time = (rate as f64 * app.config.max_delay.as_secs_f64()) as u64;
    let total = total.min(app.config.max_bytes).min(max_by_time.max(1));
    let over = Duration::from_secs_f64(total as f64 / rate as f64);
    Response::new(paced(total, over, Duration::ZERO))
}

async fn hang() -> Response<Body> {
    std::future::pending().await
}

async fn truncated() -> Response<Body> {
    // A body stream that fails makes hyper drop the connection in the middle of the body. The
    // pause lets the head and the first half go out first.
    let stream = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(b"the first half of a body that ")), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Err(io::Error::new(io::ErrorKind::BrokenPipe, "cut on purpose")),
                    2,
                ))
            }
            _ => None,
        }
    });
    Response::new(Body::from_stream(stream))
}

async fn stats(State(app): State<App>) -> Json<Value> {
    let s = app.stats.snapshot();
    Json(json!({
        "in_flight": s.in_flight,
        "peak_in_flight": s.peak_in_flight,
        "requests": s.requests,
        "hosts": policy::hosts_json(&app.stats.hosts),
    }))
}

async fn not_found(uri: Uri) -> Response<Body> {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no endpoint {}; see / for the list", uri.path()) })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;

    #[test]
    fn weighted_status_follows_the_weights() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut ok = 0;
        for _ in 0..10_000 {
            if pick_status("200:0.8,500:0.2", &mut rng).unwrap() == StatusCode::OK {
                ok += 1;
            }
        }
        assert!((7_500..8_500).contains(&ok), "{ok}");
        assert_eq!(pick_status("201", &mut rng).unwrap(), StatusCode::CREATED);
        assert_eq!(pick_status("404:0,418:1", &mut rng).unwrap().as_u16(), 418);
    }

    #[test]
    fn bad_status_specs_are_refused() {
        let mut rng = SmallRng::seed_from_u64(7);
        for bad in [
            "", "abc", "99", "600", "200:x", "200:-1", "200:0", "200,,500",
        ] {
            assert!(pick_status(bad, &mut rng).is_err(), "{bad}");
        }
    }
}
