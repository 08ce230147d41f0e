//! Writing to stdout and stderr without panicking.
//!
//! Rust ignores SIGPIPE, so writing into a pipe whose reader is gone (`corral demo | head -3`,
//! `corral fetch URL 2>&1 | head -1`) fails with `BrokenPipe` instead of killing the process,
//! and `println!` and `eprintln!` turn that failure into a panic (exit 101). The command writes
//! with `writeln!` instead and decides what a closed pipe means:
//!
//! * stderr carries messages for people: when it is closed they are dropped, and the run goes
//!   on, because stdout may still be a file that wants every record (`note!`);
//! * stdout carries the output proper: when it is closed nobody is left to write for, so the
//!   command stops and exits with [`exit::BROKEN_PIPE`](crate::exit::BROKEN_PIPE). `run.rs`
//!   does this for the records, [`Stdout`] for the demo.

use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;

use tokio::sync::Notify;

/// `eprintln!` that never panics: a message for people on stderr, dropped if it cannot be
/// written.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::stdio::stderr_line(format_args!($($arg)*))
    };
}
pub(crate) use note;

/// Writes `args` and a newline to stderr, and drops any error (see the module's doc).
pub fn stderr_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err
        .write_fmt(args)
        .and_then(|()| err.write_all(b"\n"))
        .and_then(|()| err.flush());
}

/// Lines on stdout that stop at the first failed write, and say so.
///
/// Shared by reference; [`Stdout::closed`] lets a caller race its work against the failure and
/// drop the work at once.
#[derive(Debug, Default)]
pub struct Stdout {
    failed: OnceLock<io::Error>,
    notify: Notify,
}

impl Stdout {
    /// A writer that has not failed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `args` and a newline, unless an earlier write failed.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        if self.failed.get().is_some() {
            return;
        }
        let mut out = io::stdout().lock();
        let written = out
            .write_fmt(args)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            let _ = self.failed.set(e);
            self.notify.notify_one();
        }
    }

    /// Resolves once a write has failed (at once if one already has).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, for one waiter: a failure while nobody waits is remembered for the next
    /// call.
    pub async fn closed(&self) {
        if self.failed.get().is_none() {
            self.notify.notified().await;
        }
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&io::Error> {
        self.failed.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_resolves_for_a_failure_before_or_while_waiting() {
        let out = Stdout::new();
        assert!(out.error().is_none());
        assert!(futures_util::FutureExt::now_or_never(out.closed()).is_none());
        let _ = out.failed.set(io::ErrorKind::BrokenPipe.into());
        out.notify.notify_one();
        out.closed().await;
        assert_eq!(
            out.error().map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );
    }
}
