//! `corral demo` as a new user reads it, from one run at full time scale shared by the tests:
//! it ends with a real `corral fetch` run, its lines are on one clock, its library scenarios
//! speak the library's words, and the README shows it as it runs.

use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;

/// The width of a timestamp column, `" 12.34s  "`; a line indented this far continues the one
/// above it.
const UNDER: &str = "         ";

/// One `corral demo` run: exit code and stdout.
fn demo() -> &'static (Option<i32>, String) {
    static RUN: OnceLock<(Option<i32>, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = Command::cargo_bin("corral")
            .unwrap()
            .arg("demo")
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        (out.status.code(), stdout)
    })
}

/// The part of the demo from the heading of scenario `n` (`"  4.32s  7. ..."`) on, and the part
/// before it.
fn split_at_scenario(out: &str, n: u32) -> (&str, &str) {
    let mark = format!("s  {n}. ");
    let at = out
        .lines()
        .find(|l| l.contains(&mark))
        .and_then(|l| out.find(l))
        .unwrap_or_else(|| panic!("no scenario {n}:\n{out}"));
    out.split_at(at)
}

/// The seconds of a line's timestamp (`"  0.31s  ..."`, as `{:6.2}s` writes it), if it has one.
fn stamp(line: &str) -> Option<f64> {
    let (t, rest) = (line.get(..6)?, line.get(6..)?);
    if !rest.starts_with("s  ") {
        return None;
    }
    t.trim_start().parse().ok()
}

#[test]
fn demo_ends_with_a_real_fetch_run_its_records_summary_and_exit_code() {
    let (code, out) = demo();
    assert_eq!(*code, Some(0), "{out}");
    let port = out
        .lines()
        .next()
        .and_then(|l| l.split("http://127.0.0.1:").nth(1))
        .expect("the banner names the server")
        .trim();
    let (_, last) = split_at_scenario(out, 7);
    let lines: Vec<&str> = last.lines().map(|l| l.trim()).collect();
    let command = lines
        .iter()
        .position(|l| l.starts_with("$ corral fetch "))
        .expect("the command line as typed");
    assert!(
        lines[command].ends_with("'not a url'"),
        "{}",
        lines[command]
    );
    assert!(lines[command].contains(&format!("http://127.0.0.1:{port}/get")));
    // The records, in input order (-k), one per input, against the demo's own server.
    let records = &lines[command + 1..command + 5];
    for (index, (what, url)) in [
        ("200", format!("http://127.0.0.1:{port}/get")),
        ("500", format!("http://127.0.0.1:{port}/status/500")),
        ("timeout", format!("http://127.0.0.1:{port}/delay/3")),
        ("invalid_input", "not a url".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        let words: Vec<&str> = records[index].split_whitespace().collect();
        assert_eq!(words[..2], [index.to_string().as_str(), what], "{last}");
        assert!(records[index].contains(&url), "{last}");
    }
    // The summary, from stderr, after the records.
    assert!(
        lines[command + 5].starts_with("corral: 4 inputs in ")
            && lines[command + 5].contains("1 ok, 3 failed"),
        "{last}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("errors:")
            && l.contains("timeout ×1")
            && l.contains("status ×1")
            && l.contains("invalid_input ×1")),
        "{last}"
    );
    // The exit code, as a shell shows it, and what it means.
    let echo = lines.iter().position(|l| *l == "$ echo $?").expect("$?");
    assert!(echo > command + 5, "{last}");
    assert_eq!(lines[echo + 1], "1", "{last}");
    assert!(
        lines[echo + 2].contains("exit 1: ") && lines[echo + 2].contains("not met"),
        "{last}"
    );
    // ... and that is the end of the demo.
    let rest: Vec<&&str> = lines[echo + 3..].iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(rest.len(), 1, "{last}");
    assert!(rest[0].starts_with("corral demo: done in "), "{last}");
}

#[test]
fn demo_lines_are_on_one_clock_that_never_goes_backwards() {
    let (_, out) = demo();
    let mut stamps = Vec::new();
    for line in out.lines() {
        if line.is_empty() || line.starts_with("corral demo:") || line.starts_with(UNDER) {
            continue; // blank, the banner, or the continuation of the line above
        }
        let t = stamp(line).unwrap_or_else(|| panic!("a line without a time: {line:?}\n{out}"));
        stamps.push((t, line));
    }
    for pair in stamps.windows(2) {
        assert!(
            pair[1].0 >= pair[0].0,
            "the clock went back:\n{}\n{}\n\n{out}",
            pair[0].1,
            pair[1].1
        );
    }
    // Every scenario's heading and its events are on it, from the start to the end.
    for n in 1..=7 {
        let heading = stamps
            .iter()
            .position(|(_, l)| l.contains(&format!("s  {n}. ")));
        let heading = heading.unwrap_or_else(|| panic!("scenario {n} has no timed heading\n{out}"));
        let events = stamps[heading + 1..]
            .iter()
            .take_while(|(_, l)| !l.contains(&format!("s  {}. ", n + 1)))
            .count();
        assert!(
            events >= 1,
            "scenario {n}: no timed line after its heading\n{out}"
        );
    }
    let first = stamps.first().unwrap().0;
    let last = stamps.last().unwrap().0;
    assert!(first < 1.0, "{out}");
    // 0.3 s + 3 + 1 + 5 + 2 + 0.2 + 1 + 1 (fetch -t 1s): one clock sums them.
    assert!(
        last > 13.0,
        "the last line at {last}s: a clock restarted?\n{out}"
    );
    let done: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("corral demo: done in "))
        .and_then(|l| l.split_once('s'))
        .and_then(|(t, _)| t.parse().ok())
        .expect("the done line");
    assert!(done >= last, "{out}");
}

#[test]
fn demo_library_scenarios_speak_the_library_words() {
    let (_, out) = demo();
    let (library, command) = split_at_scenario(out, 7);
    // The command's vocabulary: flags (`not in --ok-status 2xx`), records, error kinds
    // (`status error from /status/500`).
    for word in [
        "--",
        "ok-status",
        "error_kind",
        "record",
        "invalid_input",
        "not in",
        " error from ",
    ] {
        assert!(
            !library.contains(word),
            "the library scenarios say {word:?}:\n{library}"
        );
    }
    // The library's: outcomes, Elapsed, gather's Result.
    for word in [
        "Ok(201)",
        "Err(HTTP 500)",
        "Cancelled",
        "Err(Elapsed)",
        "gather returned Ok([200, 201, 400])",
    ] {
        assert!(library.contains(word), "no {word:?}:\n{library}");
    }
    // The command's part is where its words belong.
    assert!(command.contains("--ok-status"), "{command}");
}

/// A demo line with what varies from run to run replaced: the server's port, times, sizes,
/// rates, an OS error number; runs of spaces are one space.
fn normalise(line: &str) -> String {
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    let mut rest = line.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("127.0.0.1:") {
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            out.push_str("127.0.0.1:PORT");
            rest = &after[digits..];
        } else if let Some(after) = rest.strip_prefix("os error ") {
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            out.push_str("os error N");
            rest = &after[digits..];
        } else if c.is_ascii_digit() && !out.ends_with(|c: char| c.is_alphanumeric() || c == '/') {
            let n = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .count();
            let after = &rest[n..];
            let measured = ["s", "ms", "µs", "B", " requests/s"]
                .iter()
                .any(|unit| after.starts_with(unit));
            out.push_str(if measured { "#" } else { &rest[..n] });
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[test]
fn readme_shows_the_demo_as_it_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let shown: Vec<String> = readme
        .split("\n$ corral demo\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README.md shows `$ corral demo` and its output in a text block")
        .lines()
        .map(normalise)
        .collect();
    let (_, out) = demo();
    let real: Vec<String> = out.lines().map(normalise).collect();
    for (i, (shown, real)) in shown.iter().zip(&real).enumerate() {
        assert_eq!(
            shown,
            real,
            "README.md's demo differs at its line {}; the demo printed:\n{out}",
            i + 1
        );
    }
    assert_eq!(shown.len(), real.len(), "the demo printed:\n{out}");
}

#[test]
fn normalise_keeps_what_is_stable_and_masks_what_varies() {
    assert_eq!(
        normalise("  0.31s     input 1 finished: Ok(201)"),
        "#s input 1 finished: Ok(201)"
    );
    assert_eq!(
        normalise("    0  200               13ms       147B  http://127.0.0.1:35091/get"),
        "0 200 #ms #B http://127.0.0.1:PORT/get"
    );
    assert_eq!(
        normalise("corral: 4 inputs in 1.01s: 1 ok, 3 failed; 3.0 requests/s, 147B received"),
        "corral: 4 inputs in #s: 1 ok, 3 failed; # requests/s, #B received"
    );
    assert_eq!(
        normalise("Err(tcp connect error: Connection refused (os error 111)) /delay/3 p50"),
        "Err(tcp connect error: Connection refused (os error N)) /delay/3 p50"
    );
    assert_ne!(normalise("Ok(200)"), normalise("Ok(500)"));
}
