//! `corral report --html FILE`: the report as one self-contained page, with no script and no
//! outside resource: the summary's text, a latency histogram and bars for the statuses and the
//! error kinds, drawn as inline SVG.

use std::fmt::Write as _;

use crate::summary::Summary;

/// Bars are at most this wide, in SVG units; the page scales with the window.
const WIDTH: f64 = 640.0;
const ROW: f64 = 22.0;
const LABEL: f64 = 120.0;

/// The page for `summary`, whose text report is `text`; `title` names the files.
pub fn page(summary: &Summary, text: &str, title: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>corral report: {t}</title>\n<style>\
         body{{font:14px system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}\
         pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}\
         svg{{width:100%;height:auto}}text{{font:12px monospace}}\
         .ok{{fill:#3a7d44}}.bad{{fill:#b8432f}}.lat{{fill:#4063a8}}</style></head><body>\n\
         <h1>corral report</h1>\n<p>{t}</p>\n<pre>{text}</pre>\n",
        t = escape(title),
        text = escape(text),
    );
    let latency = latency_buckets(summary);
    if !latency.is_empty() {
        h.push_str("<h2>Latency</h2>\n<p>Requests that ran to an end, by latency.</p>\n");
        h.push_str(&bars(&latency, "lat", |_| "lat"));
    }
    let statuses: Vec<(String, u64)> = summary
        .statuses()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    if !statuses.is_empty() {
        h.push_str("<h2>Statuses</h2>\n");
        h.push_str(&bars(&statuses, "status", |label| {
            if label.starts_with('2') {
                "ok"
            } else {
                "bad"
            }
        }));
    }
    let kinds: Vec<(String, u64)> = summary.kinds().map(|(k, n)| (k.to_string(), n)).collect();
    if !kinds.is_empty() {
        h.push_str("<h2>Errors</h2>\n");
        h.push_str(&bars(&kinds, "error kind", |_| "bad"));
    }
    h.push_str("</body></html>\n");
    h
}

/// The latency histogram in buckets that double: `[2^k, 2^(k+1))` microseconds, from the
/// fastest request's bucket to the slowest's, empty ones included, so the shape is true.
fn latency_buckets(summary: &Summary) -> Vec<(String, u64)> {
    let hist = summary.latency();
    if hist.is_empty() {
        return Vec::new();
    }
    let bucket = |us: u64| 63 - us.max(1).leading_zeros();
    let (lo, hi) = (bucket(hist.min()), bucket(hist.max()));
    let mut counts = vec![0u64; (hi - lo + 1) as usize];
    for v in hist.iter_recorded() {
        let b = bucket(hist.highest_equivalent(v.value_iterated_to())).clamp(lo, hi);
        counts[(b - lo) as usize] += v.count_at_value();
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let from = 1u64 << (lo + i as u32);
            let label = format!(
                "≥ {}",
                crate::duration::human(std::time::Duration::from_micros(from))
            );
            (label, n)
        })
        .collect()
}

/// Horizontal bars, one per `(label, count)`, scaled to the largest count; `class` gives each
/// bar's colour from its label.
fn bars(rows: &[(String, u64)], what: &str, class: impl Fn(&str) -> &'static str) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let height = ROW * rows.len() as f64 + 4.0;
    let total_width = LABEL + WIDTH + 90.0;
    let mut s = format!(
        "<svg viewBox=\"0 0 {total_width} {height}\" role=\"img\" aria-label=\"{} by {}\">\n",
        "requests",
        escape(what)
    );
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = ROW * i as f64 + 2.0;
        let w = (*n as f64 / max * WIDTH).max(if *n > 0 { 1.0 } else { 0.0 });
        let _ = writeln!(
            s,
            "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{l}</text>\
             <rect class=\"{c}\" x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\">\
             <title>{l}: {n}</title></rect>\
             <text x=\"{nx:.1}\" y=\"{ty}\">{n}</text>",
            tx = LABEL - 6.0,
            ty = y + ROW * 0.65,
            l = escape(label),
            c = class(label),
            h = ROW - 4.0,
            nx = LABEL + w + 6.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, Record};
    use std::time::Duration;

    fn summary() -> Summary {
        let mut s = Summary::new();
        let mut add = |status: Option<u16>, kind: Option<ErrorKind>, ms: u64, times: usize| {
            for _ in 0..times {
                let mut r =
                    Record::failed(0, 1, "http://a/".into(), ErrorKind::Status, String::new());
                (r.ok, r.status, r.error_kind) = (kind.is_none(), status, kind);
                (r.attempts, r.elapsed_ms) = (1, Duration::from_millis(ms));
                s.add(&r);
            }
        };
        add(Some(200), None, 3, 6);
        add(Some(500), Some(ErrorKind::Status), 40, 2);
        add(None, Some(ErrorKind::Timeout), 1000, 1);
        s
    }

    #[test]
    fn latency_buckets_double_and_hold_every_request_once() {
        let b = latency_buckets(&summary());
        // 3 ms is in [2048, 4096) µs and 1 s in [524288, 1048576) µs: buckets 11 to 19
        assert_eq!(b.len(), 9, "{b:?}");
        assert_eq!(b.iter().map(|r| r.1).sum::<u64>(), 9);
        assert_eq!(b[0].1, 6);
        assert_eq!(b[8].1, 1);
        assert!(b[0].0.starts_with("≥ 2"), "{}", b[0].0);
    }

    #[test]
    fn the_page_has_each_chart_and_escapes_what_it_is_given() {
        let s = summary();
        let html = page(&s, "corral: <9> inputs", "a&b.jsonl");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("<pre>corral: &lt;9&gt; inputs</pre>"),
            "{html}"
        );
        assert!(html.contains("<p>a&amp;b.jsonl</p>"));
        assert_eq!(html.matches("<svg").count(), 3, "latency, statuses, errors");
        assert!(html.contains("<title>200: 6</title>") && html.contains("<title>500: 2</title>"));
        assert!(html.contains("<title>timeout: 1</title>"));
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("src="));
    }

    #[test]
    fn an_empty_report_has_no_charts() {
        let html = page(&Summary::new(), "corral: 0 inputs", "-");
        assert!(!html.contains("<svg"));
    }
}
