//! The endpoints with large or slow bodies: `/bytes/{n}`, `/drip` and `/slow/{rate}`.
//!
//! Every body is produced as a stream of pieces of at most [`PIECE`] bytes, made when hyper
//! asks for the next one, so that a server answering 200 requests for 10 MiB holds a few
//! pieces per connection, not 2 GB: hyper asks for the next piece only while its write queue
//! has room (16 pieces), and flushes to the socket otherwise, so a connection whose client
//! reads slowly holds at most about 128 KiB of body.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{bad_request, seconds, App, Args};

/// The largest piece of a body made at once. A multiple of 8, so that `/bytes`'s pieces,
/// drawn one after the other, are the bytes one draw of the whole body gives (the generator
/// fills 8 bytes per number drawn).
const PIECE: usize = 8 * 1024;

/// What `/drip` and `/slow` send, a piece at a time.
static STARS: [u8; PIECE] = [b'*'; PIECE];

/// `n` bytes from `rng`, a piece at a time.
fn random(n: u64, mut rng: SmallRng) -> Body {
    let mut left = n;
    let pieces = std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let take = left.min(PIECE as u64) as usize;
        left -= take as u64;
        let mut piece = vec![0u8; take];
        rng.fill(&mut piece[..]);
        Some(Ok::<_, Infallible>(Bytes::from(piece)))
    });
    Body::from_stream(futures_util::stream::iter(pieces))
}

/// Sets `Content-Length` (a streamed body has none of its own) and the content type.
fn sized(body: Body, len: u64) -> Response<Body> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// `/bytes/{n}`: `n` random bytes (capped by `--max-bytes`); `?seed=` makes them repeatable.
pub(super) async fn bytes(
    State(app): State<App>,
    Path(n): Path<u64>,
    axum::extract::Query(args): Args,
) -> Response<Body> {
    let n = n.min(app.config.max_bytes);
    let rng = match args.get("seed").map(|s| s.parse::<u64>()) {
        Some(Ok(seed)) => SmallRng::seed_from_u64(seed),
        Some(Err(_)) => return bad_request("seed must be a number"),
        None => SmallRng::from_entropy(),
    };
    sized(random(n, rng), n)
}

/// A body of `total` bytes of `b'*'` sent in even steps over `over`, after `after`; each
/// step's bytes go out in pieces of at most [`PIECE`].
fn paced(total: u64, over: Duration, after: Duration) -> Body {
    // At most one step per 10 ms, at least one byte per step.
    let steps = ((over.as_millis() / 10) as u64).clamp(1, total.max(1));
    let pause = over / steps as u32;
    // (the next step, the bytes of the current step not sent yet)
    let stream = futures_util::stream::unfold((0u64, 0u64), move |(step, left)| async move {
        let (step, left) = if left > 0 {
            (step, left)
        } else {
            if step >= steps || total == 0 {
                return None;
            }
            tokio::time::sleep(if step == 0 { after + pause } else { pause }).await;
            (step + 1, total * (step + 1) / steps - total * step / steps)
        };
        let n = left.min(PIECE as u64);
        Some((
            Ok::<_, Infallible>(Bytes::from_static(&STARS[..n as usize])),
            (step, left - n),
        ))
    });
    Body::from_stream(stream)
}

/// `/drip?duration=&numbytes=&code=&delay=`: `numbytes` bytes spread over `duration` seconds
/// after `delay`, with status `code`.
pub(super) async fn drip(
    State(app): State<App>,
    axum::extract::Query(args): Args,
) -> Response<Body> {
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
    let mut response = sized(paced(total, duration, after), total);
    *response.status_mut() = code;
    response
}

/// `/slow/{bytes_per_sec}?bytes=N`: N bytes (default 1024) at that rate.
pub(super) async fn slow(
    State(app): State<App>,
    Path(rate): Path<u64>,
    axum::extract::Query(args): Args,
) -> Response<Body> {
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
    Response::new(paced(total, over, Duration::ZERO)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn pieces(body: Body) -> Vec<Bytes> {
        let mut stream = body.into_data_stream();
        let mut out = Vec::new();
        while let Some(piece) = stream.next().await {
            out.push(piece.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn random_pieces_are_small_and_the_bytes_of_one_draw() {
        for n in [0, 1, 7, 8, 9, PIECE - 1, PIECE, 3 * PIECE + 5] {
            let got = pieces(random(n as u64, SmallRng::seed_from_u64(3))).await;
            assert!(got.iter().all(|p| !p.is_empty() && p.len() <= PIECE), "{n}");
            let mut whole = vec![0u8; n];
            SmallRng::seed_from_u64(3).fill(&mut whole[..]);
            assert_eq!(got.concat(), whole, "{n} bytes");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paced_bodies_come_in_small_pieces_on_time() {
        let started = tokio::time::Instant::now();
        let got = pieces(paced(
            10 * PIECE as u64 + 1,
            Duration::ZERO,
            Duration::from_secs(1),
        ))
        .await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1),
            "the delay, then all"
        );
        assert!(got.iter().all(|p| p.len() <= PIECE));
        assert_eq!(got.concat(), vec![b'*'; 10 * PIECE + 1]);
        let started = tokio::time::Instant::now();
        let got = pieces(paced(10, Duration::from_secs(2), Duration::ZERO)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(got.len(), 10, "one byte per step");
    }
}
