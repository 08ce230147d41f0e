//! The demo's last part: `corral fetch` itself, run as a user runs it, against the embedded
//! server: the command line, the records, the summary and the exit code, as a terminal shows
//! them.

use std::borrow::Cow;
use std::process::Stdio;

use super::scenarios::{World, UNDER};
use super::{secs_text, Http};
use crate::exit;

/// A word as a shell needs it typed: quoted if it holds anything but plain URL characters.
fn shell_word(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// What an exit code of `corral fetch` means, for a plain run (no --any, --quorum, -z).
fn meaning(code: Option<i32>) -> &'static str {
    match code {
        Some(exit::OK) => "the run's condition was met: every request succeeded",
        Some(exit::NOT_MET) => {
            "the run's condition (every request succeeded) was not met; 0 if it had been"
        }
        Some(exit::USAGE) => "a usage error",
        Some(exit::DEADLINE) => "the deadline expired first",
        _ => "see `corral fetch --help`, Exit codes",
    }
}

/// Runs `corral fetch` on four URLs (one answers, one fails with a 500, one is cut by `-t`,
/// one is not a URL) as a child process, this same executable, and shows what it printed.
pub(super) async fn fetch(w: &Http) {
    let timeout = secs_text(w.scale);
    let args = [
        "fetch".to_owned(),
        "-o".to_owned(),
        "text".to_owned(),
        "-k".to_owned(),
        "-t".to_owned(),
        format!("{timeout}s"),
        w.server.url("/get"),
        w.server.url("/status/500"),
        w.server
            .url(&format!("/delay/{}", secs_text(3.0 * w.scale))),
        "not a url".to_owned(),
    ];
    w.print(format_args!(""));
    w.say(format_args!(
        "7. the command: corral fetch runs the same strategies over URLs"
    ));
    for line in [
        "one record per input on stdout, in input order with -k (gather), else as they finish;",
        "the summary on stderr; -t caps each request; -o text is the default on a terminal",
    ] {
        w.print(format_args!("{UNDER}   {line}"));
    }
    let typed: Vec<Cow<'_, str>> = args.iter().map(|a| shell_word(a)).collect();
    w.print(format_args!("{UNDER}   $ corral {}", typed.join(" ")));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            w.say(format_args!("   cannot find this executable to run: {e}"));
            return;
        }
    };
    let run = tokio::process::Command::new(&exe)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match run {
        Ok(output) => output,
        Err(e) => {
            w.say(format_args!("   cannot run {}: {e}", exe.display()));
            return;
        }
    };
    // A terminal shows the records as they come and the summary after them.
    for text in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(text).lines() {
            w.print(format_args!("{UNDER}   {line}"));
        }
    }
    let code = output.status.code();
    w.print(format_args!("{UNDER}   $ echo $?"));
    w.print(format_args!(
        "{UNDER}   {}",
        code.map_or_else(|| "(killed by a signal)".to_owned(), |c| c.to_string())
    ));
    w.say(format_args!(
        "   exit {}: {}",
        code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        meaning(code)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("http://127.0.0.1:80/get"),
            "http://127.0.0.1:80/get"
        );
        assert_eq!(shell_word("-t"), "-t");
        assert_eq!(shell_word("not a url"), "'not a url'");
        assert_eq!(shell_word("a?b"), "'a?b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
