//! What `corral serve` offers to test a client's policies (retries, `Retry-After`, hedging,
//! per-host limits), all deterministic:
//!
//! * `/fail/{k}?key=NAME&code=503&retry_after=SECS&retry_after_date=SECS`: the first `k`
//!   requests with that key answer `code` (default 503), with a `Retry-After` header of SECS
//!   seconds, or of an HTTP date SECS seconds ahead, if asked; later ones answer 200 with a
//!   JSON body naming the key and the request's number. Keys count separately.
//! * `/latency?fast=SECS&slow=SECS&every=N&key=NAME`: a heavy tail by a counter: every N-th
//!   request with that key (the N-th, the 2N-th, ...) takes `slow` seconds, the others `fast`
//!   (defaults 0.01, 1 and 20), capped by `--max-delay`.
//! * per-host counters for `/stats`: in flight, peak and requests by `Host` header.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::{IntoResponse, Json};
use serde_json::{json, Value};

use super::{bad_request, seconds, App, Args, StatsSnapshot};

/// Request counters per key, for `/fail` and `/latency`.
#[derive(Debug, Default)]
pub(super) struct Keys {
    counts: Mutex<HashMap<(&'static str, String), u64>>,
}

impl Keys {
    /// Counts a request to `endpoint` with `key` and returns its number, from 1.
    fn next(&self, endpoint: &'static str, key: &str) -> u64 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry((endpoint, key.to_owned())).or_insert(0);
        *n += 1;
        *n
    }
}

/// One host's counters.
#[derive(Debug, Default)]
pub(super) struct HostCount {
    in_flight: AtomicU64,
    peak: AtomicU64,
    total: AtomicU64,
}

impl HostCount {
    /// A request leaves.
    pub(super) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counters by `Host` header.
#[derive(Debug, Default)]
pub(super) struct Hosts {
    map: Mutex<HashMap<String, Arc<HostCount>>>,
}

impl Hosts {
    /// A request for `host` arrives; the caller calls [`HostCount::leave`] when it ends.
    pub(super) fn enter(&self, host: &str) -> Arc<HostCount> {
        let count = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(host) {
                Some(c) => c.clone(),
                None => map.entry(host.to_owned()).or_default().clone(),
            }
        };
        count.total.fetch_add(1, Ordering::Relaxed);
        let now = count.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        count.peak.fetch_max(now, Ordering::AcqRel);
        count
    }

    /// Every host's counters now.
    pub(super) fn snapshot(&self) -> BTreeMap<String, StatsSnapshot> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(host, c)| {
                let s = StatsSnapshot {
                    in_flight: c.in_flight.load(Ordering::Acquire),
                    peak_in_flight: c.peak.load(Ordering::Acquire),
                    requests: c.total.load(Ordering::Acquire),
                };
                (host.clone(), s)
            })
            .collect()
    }

    /// Starts every host's peak afresh from what is in flight now.
    pub(super) fn reset_peaks(&self) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for c in map.values() {
            let now = c.in_flight.load(Ordering::Acquire);
            c.peak.store(now, Ordering::Release);
        }
    }
}

/// `/stats`' `hosts` object.
pub(super) fn hosts_json(hosts: &Hosts) -> Value {
    let map: serde_json::Map<String, Value> = hosts
        .snapshot()
        .into_iter()
        .map(|(host, s)| {
            let v = json!({
                "in_flight": s.in_flight,
                "peak_in_flight": s.peak_in_flight,
                "requests": s.requests,
            });
            (host, v)
        })
        .collect();
    Value::Object(map)
}

/// `/fail/{k}`: fails the first `k` requests of a key, then succeeds.
pub(super) async fn fail(
    State(app): State<App>,
    Path(k): Path<u64>,
    Query(args): Args,
) -> Response<Body> {
    let key = args.get("key").map_or("", String::as_str);
    let code = match args.get("code").map(|c| c.parse::<u16>()) {
        None => StatusCode::SERVICE_UNAVAILABLE,
        Some(Ok(c)) if (400..=599).contains(&c) => {
            StatusCode::from_u16(c).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        }
        Some(_) => return bad_request("code must be a failing status, 400 to 599"),
    };
    let retry_after = match (args.get("retry_after"), args.get("retry_after_date")) {
        (Some(_), Some(_)) => {
            return bad_request("retry_after and retry_after_date exclude each other");
        }
        (Some(s), None) => match s.parse::<u64>() {
            Ok(n) => Some(n.to_string()),
            Err(_) => return bad_request("retry_after must be a whole number of seconds"),
        },
        (None, Some(s)) => match s.parse::<u64>() {
            Ok(n) => Some(httpdate::fmt_http_date(
                SystemTime::now() + Duration::from_secs(n.min(1 << 32)),
            )),
            Err(_) => return bad_request("retry_after_date must be a whole number of seconds"),
        },
        (None, None) => None,
    };
    let n = app.keys.next("fail", key);
    if n <= k {
        let mut response = (
            code,
            Json(json!({ "key": key, "request": n, "failing": k })),
        )
            .into_response();
        if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    Json(json!({ "key": key, "request": n, "failing": k })).into_response()
}

/// `/latency`: every `every`-th request of a key is slow, the others fast.
pub(super) async fn latency(State(app): State<App>, Query(args): Args) -> Response<Body> {
    let cap = app.config.max_delay;
    let get = |k: &str, default: &str| args.get(k).cloned().unwrap_or_else(|| default.to_owned());
    let fast = match seconds(&get("fast", "0.01"), cap) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("fast: {e}")),
    };
    let slow = match seconds(&get("slow", "1"), cap) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("slow: {e}")),
    };
    let every = match get("every", "20").parse::<u64>() {
        Ok(n) if n >= 1 => n,
        _ => return bad_request("every must be a whole number, 1 or more"),
    };
    let key = args.get("key").map_or("", String::as_str);
    let n = app.keys.next("latency", key);
    let took = if n % every == 0 { slow } else { fast };
    tokio::time::sleep(took).await;
    Json(json!({ "key": key, "request": n, "delay": took.as_secs_f64() })).into_response()
}
