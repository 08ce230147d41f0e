//! The endpoints that misbehave on purpose, above the socket: `/status/{codes}` (a chosen or
//! random status, optionally late), `/hang` and `/truncated`. (`/reset` and `/garbage` act on
//! the socket: see [`conn`](super::conn); the slow bodies are in [`bodies`](super::bodies).)

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use rand::Rng;

use super::{bad_request, seconds, App, Args};

/// Picks a status from `200`, `200,500` (uniform) or `200:0.8,500:0.2` (weighted).
///
/// # Errors
///
/// A message naming what in `spec` is not a status code (100-599) or a weight.
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

/// `/status/{codes}?delay=SECS`.
pub(super) async fn status(
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

/// `/hang`: never answers.
pub(super) async fn hang() -> Response<Body> {
    std::future::pending().await
}

/// `/truncated`: a 200 whose body breaks off half-way.
pub(super) async fn truncated() -> Response<Body> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

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
