//! `corral serve`: an httpbin-compatible server with fault endpoints, for tests and demos.
//!
//! Endpoints, all answering any method unless noted:
//!
//! | path | answer |
//! |---|---|
//! | `/get` (GET) | JSON echo: `args` (repeated ones as lists), `headers` (named as sent), `origin`, `url` |
//! | `/anything`, `/anything/{path}` | JSON echo plus `method`, `data`, `json`, `form`, `files` |
//! | `/headers`, `/ip`, `/user-agent` (GET) | the matching part of the echo |
//! | `/response-headers?K=V` | those headers, and the response's headers as JSON |
//! | `/basic-auth/{user}/{passwd}` (GET) | 200 with those Basic credentials, else 401 |
//! | `/gzip` (GET) | `gzipped`, `headers`, `method`, `origin`, gzip-encoded |
//! | `/status/{codes}` | that status; `200,500` picks one; `200:0.8,500:0.2` picks by weight; `?delay=SECS` answers later |
//! | `/delay/{secs}` | the echo after `secs` (fractional, capped by `--max-delay`) |
//! | `/bytes/{n}` (GET) | `n` random bytes (capped by `--max-bytes`; `?seed=` makes them repeatable), streamed |
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
//! | `/knee?capacity=M&base=SECS` | `base` seconds while at most M requests (per `key`) are in flight, in proportion beyond |
//!
//! This module holds the server, its connections and the router; the endpoints are in
//! `echo` (httpbin's echoes, with `form` for request bodies and `gzip`), `bodies` (large and
//! slow bodies, streamed), `faults`, `redirect` and `policy` (for a client's retries, hedging
//! and per-host limits).
//!
//! Each connection speaks HTTP/1.1, or HTTP/2 when the client opens with the HTTP/2 preface
//! (h2c with prior knowledge). A client that has not sent a complete request head within
//! [`Config::header_timeout`] of connecting, or of its previous request (on HTTP/1), is
//! disconnected, and so is an HTTP/2 client that does not answer a PING within it, so that
//! half-open and slowloris connections cannot hold the server's file descriptors for ever.
//!
//! The server owns its accept loop so that `/reset` and `/garbage` can act below HTTP: each
//! connection's socket is wrapped (`conn`), a `/garbage` request flips the wrapper into
//! writing garbage instead of hyper's response, and a `/reset` request fails the service,
//! which makes hyper drop the connection, whose socket was set to reset on close. This works
//! on kept-alive connections too. Over HTTP/2, `/reset` resets its stream only (RST_STREAM),
//! and `/garbage` breaks the whole connection. A request hyper cannot parse gets hyper's own
//! 4xx answer; the server goes on serving.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{Request, Response, StatusCode, Uri};
use axum::response::{IntoResponse, Json};
use axum::routing::{any, get};
use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::cli::ServeArgs;
use crate::stdio::note;

mod bodies;
mod conn;
mod echo;
mod faults;
mod form;
mod gzip;
mod policy;
mod redirect;
mod wire;

pub use faults::pick_status;

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
    /// How long a client may take to send a request head, from connecting or from its
    /// previous request; then it is disconnected (`None`: never).
    pub header_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_delay: Duration::from_secs(10),
            max_bytes: 10 * 1024 * 1024,
            log_requests: false,
            header_timeout: Some(Duration::from_secs(10)),
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
        header_timeout: Some(args.header_timeout).filter(|t| !t.is_zero()),
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

/// Serves connections until `shutdown` fires; stopping closes them all.
async fn accept_loop(listener: TcpListener, app: App, mut shutdown: oneshot::Receiver<()>) {
    let router = router(app.clone());
    let header_timeout = app.config.header_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // `Content-Type`, as httpbin writes them, rather than hyper's `content-type`.
        .title_case_headers(true);
    // An HTTP/2 client that does not answer a PING within the header timeout (one that sent
    // the preface and went quiet) is disconnected too; real clients answer on their own.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_timeout)
        .keep_alive_timeout(header_timeout.unwrap_or(Duration::from_secs(20)));
    let builder = Arc::new(builder);
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
        let conn = conn::Conn::new(stream);
        let shared = conn.shared();
        let service = service(router.clone(), app.stats.clone(), shared.clone(), peer);
        let builder = builder.clone();
        connections.spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(conn), service);
            tokio::pin!(connection);
            // hyper times out a slow head once it knows the connection is HTTP/1; this also
            // cuts off a client that sends nothing, or too little to tell.
            if let Some(timeout) = header_timeout {
                tokio::select! {
                    // The connection first: a request that has arrived is served even when
                    // the task was not polled until after the timeout (a busy server).
                    biased;
                    _ = &mut connection => return,
                    _ = tokio::time::sleep(timeout) => {}
                }
                if !shared.started.load(Ordering::Acquire) {
                    return;
                }
            }
            let _ = connection.await;
        });
    }
}

/// One connection's request handler: counts the request, gives it the peer's address and its
/// header names as sent, and routes it, except for `/reset` and `/garbage`, which act on the
/// connection.
fn service(
    router: Router,
    stats: Arc<Stats>,
    shared: Arc<conn::Shared>,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = conn::Fault,
    Future = impl Future<Output = Result<Response<Body>, conn::Fault>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        shared.started.store(true, Ordering::Release);
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_owned();
        let guard = stats.enter(req.uri(), &host);
        if req.version() < hyper::Version::HTTP_2 {
            if let Some(names) = shared.next_names() {
                req.extensions_mut().insert(names);
            }
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        let shared = shared.clone();
        // `/reset` over HTTP/2 resets its stream only: the service's error does that, and the
        // connection, shared with other streams, closes as usual.
        let h2 = req.version() >= hyper::Version::HTTP_2;
        let reset = req.uri().path() == "/reset";
        let routed = match req.uri().path() {
            "/reset" => {
                if !h2 {
                    shared.reset.store(true, Ordering::Release);
                }
                None
            }
            "/garbage" => {
                shared.garbage.store(true, Ordering::Release);
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
                None if reset => Err(conn::Fault),
                // The connection wrapper replaces this answer's bytes with garbage.
                None => Ok(Response::new(Body::empty())),
            }
        }
    })
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
        .route("/get", get(echo::get))
        .route("/anything", any(echo::anything))
        .route("/anything/*rest", any(echo::anything))
        .route("/headers", get(echo::headers))
        .route("/ip", get(echo::ip))
        .route("/user-agent", get(echo::user_agent))
        .route("/response-headers", any(echo::response_headers))
        .route("/basic-auth/:user/:passwd", get(echo::basic_auth))
        .route("/gzip", get(echo::gzip))
        .route("/status/:codes", any(faults::status))
        .route("/delay/:secs", any(echo::delay))
        .route("/bytes/:n", get(bodies::bytes))
        .route("/drip", get(bodies::drip))
        .route("/slow/:rate", get(bodies::slow))
        .route("/hang", any(faults::hang))
        .route("/truncated", get(faults::truncated))
        .route("/stats", get(stats))
        .route("/redirect/:n", any(redirect::redirect))
        .route("/relative-redirect/:n", any(redirect::relative))
        .route("/absolute-redirect/:n", any(redirect::absolute))
        .route("/redirect-to", any(redirect::to))
        .route("/fail/:k", any(policy::fail))
        .route("/latency", any(policy::latency))
        .route("/knee", any(policy::knee))
        .fallback(not_found)
        .with_state(app)
}

type Args = Query<HashMap<String, String>>;

fn bad_request(message: impl Into<String>) -> Response<Body> {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// A number of seconds (fractional), capped at `cap`.
fn seconds(text: &str, cap: Duration) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` is not a number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs.min(cap.as_secs_f64())))
}

async fn index() -> &'static str {
    "corral serve: httpbin-style endpoints /get /anything /status/{codes} /delay/{secs} \
     /bytes/{n} /drip /headers /ip /user-agent /response-headers /basic-auth/{user}/{passwd} \
     /gzip; faults /hang /reset /garbage /truncated /slow/{bytes_per_sec}; for retries and \
     hedging /fail/{k} /latency; adaptive limits /knee; counters /stats; redirects /redirect/{n} \
     /relative-redirect/{n} /absolute-redirect/{n} /redirect-to?url=\n"
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
