//! Durations on the command line: `250ms`, `2s`, `1.5s`, `1m`, `1h`, or a bare number of
//! seconds (`2`, `0.5`).

use std::time::Duration;

/// Parses a duration written as a number and a unit (`ms`, `s`, `m` or `h`), or as a bare
/// number of seconds.
///
/// The number may have a fraction (`1.5s`, `0.5`). A bare number is seconds because that is
/// what `timeout(1)`, `curl -m` and `curl --connect-timeout` take, so `-z 2` means what their
/// users expect.
///
/// # Errors
///
/// A message that says what was wrong and shows the accepted forms.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. 250ms, 2s, 1.5s or 1m".into());
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "" => 1.0,
        "ms" => 0.001,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`; use ms, s, m or h (e.g. 250ms, 2s, 1.5s, 1m)"
            ))
        }
    };
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return Err(format!("`{s}` has no number; write e.g. 2s"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{number}` in `{s}` is not a number"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration for people: `850ms`, `2.31s`, `1m05s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_seconds_fractions_and_minutes_parse() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse(" 3s "), Ok(Duration::from_secs(3)));
        assert_eq!(parse("0.25s"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn a_bare_number_is_seconds_as_in_timeout_and_curl() {
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 30 "), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1.25"), Ok(Duration::from_millis(1250)));
        assert!(parse(".").unwrap_err().contains("no number"));
        assert!(parse("1.2.3").unwrap_err().contains("not a number"));
        assert!(parse("1e400").is_err());
    }

    #[test]
    fn unknown_units_empty_and_garbage_are_refused() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("5x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse("ms").unwrap_err().contains("no number"));
        assert!(parse("s").unwrap_err().contains("no number"));
        assert!(parse("1.2.3s").unwrap_err().contains("not a number"));
        assert!(parse("-1s").is_err());
        assert!(parse("1e400s").is_err());
        assert!(parse("2 s").is_ok());
    }

    #[test]
    fn human_durations_pick_a_readable_unit() {
        assert_eq!(human(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(2310)), "2.31s");
        assert_eq!(human(Duration::from_secs(65)), "1m05s");
    }
}
