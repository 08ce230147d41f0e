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
//! * `/knee?capacity=M&base=SECS&key=NAME`: a server with a capacity, for adaptive limits:
//!   a request answers after `base` seconds (default 0.05) while at most M requests (default
//!   10) with that key are in flight, itself included, and after `base × in flight / M` past
//!   that (a queue), capped by `--max-delay`. In flight is counted as it arrives.
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

/// Request counters per key, for `/fail` and `/latency`, and requests in flight per key, for
/// `/knee`.
#[derive(Debug, Default)]
pub(super) struct Keys {
    counts: Mutex<HashMap<(&'static str, String), u64>>,
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

/// A `/knee` request in flight: counted until dropped (answered, or the client went away).
struct Knee {
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
    key: String,
}

impl Drop for Knee {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl Keys {
    /// Counts a request to `endpoint` with `key` and returns its number, from 1.
    fn next(&self, endpoint: &'static str, key: &str) -> u64 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry((endpoint, key.to_owned())).or_insert(0);
        *n += 1;
        *n
    }

    /// A `/knee` request with `key` arrives: the number in flight with it, itself included.
    fn enter_knee(&self, key: &str) -> (Knee, u64) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.to_owned()).or_insert(0);
        *n += 1;
        let knee = Knee {
            in_flight: self.in_flight.clone(),
            key: key.to_owned(),
        };
        (knee, *n)
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

/// `/knee`: answers in `base` seconds up to `capacity` requests in flight, slower past it.
pub(super) async fn knee(State(app): State<App>, Query(args): Args) -> Response<Body> {
    let base = match seconds(
        args.get("base").map_or("0.05", String::as_str),
        app.config.max_delay,
    ) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("base: {e}")),
    };
    let capacity = match args.get("capacity").map_or(Ok(10), |c| c.parse::<u64>()) {
        Ok(n) if n >= 1 => n,
        _ => return bad_request("capacity must be a whole number, 1 or more"),
    };
    let key = args.get("key").map_or("", String::as_str);
    let (_counted, in_flight) = app.keys.enter_knee(key);
    let took = knee_delay(base, capacity, in_flight).min(app.config.max_delay);
    tokio::time::sleep(took).await;
    Json(json!({
        "key": key,
        "in_flight": in_flight,
        "capacity": capacity,
        "delay": took.as_secs_f64(),
    }))
    .into_response()
}

/// `base` up to `capacity` in flight, `base × in_flight / capacity` past it.
fn knee_delay(base: Duration, capacity: u64, in_flight: u64) -> Duration {
    if in_flight <= capacity {
        base
    } else {
        base.mul_f64(in_flight as f64 / capacity as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knee_delay_grows_in_proportion_past_the_capacity() {
        let ms = Duration::from_millis;
        assert_eq!(knee_delay(ms(50), 20, 1), ms(50));
        assert_eq!(knee_delay(ms(50), 20, 20), ms(50));
        assert_eq!(knee_delay(ms(50), 20, 30), ms(75));
        assert_eq!(knee_delay(ms(50), 20, 40), ms(100));
    }

    #[test]
    fn knee_requests_are_counted_per_key_until_dropped() {
        let keys = Keys::default();
        let (a1, n) = keys.enter_knee("a");
        assert_eq!(n, 1);
        let (_a2, n) = keys.enter_knee("a");
        assert_eq!(n, 2);
        assert_eq!(keys.enter_knee("b").1, 1);
        drop(a1);
        assert_eq!(keys.enter_knee("a").1, 2);
    }
}
