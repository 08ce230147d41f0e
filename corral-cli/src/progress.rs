//! The progress display on stderr, shown only when stderr is a terminal and `-q` is not given.
//!
//! With a known total it is a bar with done/total, a rate and an ETA: the number of URL
//! arguments, or, for an input file, the share of its bytes read so far (a file's lines are
//! not counted ahead of the run; its size is known at once, and the bytes read track the lines
//! started). A pipe or a terminal has no total: a spinner and a count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What the progress is measured against.
pub enum Total {
    /// A known number of inputs (URL arguments).
    Inputs(u64),
    /// An input file of `size` bytes, of which `read` have been consumed.
    Bytes {
        /// The file's size.
        size: u64,
        /// Bytes consumed so far, kept up to date by the input.
        read: Arc<AtomicU64>,
    },
    /// A pipe or a terminal: no end known.
    Unknown,
}

/// A progress display that may be off; every method is a no-op when it is.
pub struct Progress(Option<Bar>);

struct Bar {
    bar: ProgressBar,
    /// For [`Total::Bytes`]: the counter the bar's position follows.
    read: Option<Arc<AtomicU64>>,
    /// Records written.
    done: Cell<u64>,
    started: Instant,
    /// When the message was last set: formatting it for every record would cost more than
    /// writing the record (a million "not started" records after a stop).
    message_at: Cell<Option<Instant>>,
}

/// How often the message (failed, running) is brought up to date; the bar is drawn less often.
const MESSAGE_EVERY: Duration = Duration::from_millis(50);

impl Progress {
    /// A display on stderr if `enabled`, measured against `total`.
    pub fn new(enabled: bool, total: Total) -> Self {
        if !enabled {
            return Progress(None);
        }
        Self::with_target(total, ProgressDrawTarget::stderr())
    }

    fn with_target(total: Total, target: ProgressDrawTarget) -> Self {
        let style = |template: &str| {
            ProgressStyle::with_template(template).expect("static template is valid")
        };
        let (bar, read) = match total {
            Total::Inputs(n) => (
                ProgressBar::with_draw_target(Some(n), target).with_style(style(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
                )),
                None,
            ),
            Total::Bytes { size, read } => (
                ProgressBar::with_draw_target(Some(size), target).with_style(style(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent}% of the input {msg} \
                     ETA {eta}",
                )),
                Some(read),
            ),
            Total::Unknown => (
                ProgressBar::with_draw_target(None, target)
                    .with_style(style("{spinner} [{elapsed_precise}] {msg}")),
                None,
            ),
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(Bar {
            bar,
            read,
            done: Cell::new(0),
            started: Instant::now(),
            message_at: Cell::new(None),
        }))
    }

    /// Counts one written record; `failed` is the number of failures so far.
    pub fn record(&self, failed: u64, running: usize) {
        let Some(b) = &self.0 else { return };
        let done = b.done.get() + 1;
        b.done.set(done);
        match &b.read {
            Some(read) => b.bar.set_position(read.load(Ordering::Relaxed)),
            None => b.bar.inc(1),
        }
        let now = Instant::now();
        if b.message_at
            .get()
            .is_none_or(|at| now - at >= MESSAGE_EVERY)
        {
            b.message_at.set(Some(now));
            let secs = (now - b.started).as_secs_f64();
            let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
            // With a count of inputs as the total, the bar shows done/total itself.
            let count = match &b.read {
                None if b.bar.length().is_some() => String::new(),
                _ => format!("{done} done, "),
            };
            b.bar.set_message(format!(
                "{count}{rate:.0}/s ({failed} failed, {running} running)"
            ));
        }
    }

    /// Runs `f` with the bar hidden, so that text written to the same terminal is not torn.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(b) => b.bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(p: &Progress) -> &ProgressBar {
        &p.0.as_ref().unwrap().bar
    }

    #[test]
    fn an_input_file_is_measured_by_the_share_of_its_bytes_read() {
        let read = Arc::new(AtomicU64::new(0));
        let p = Progress::with_target(
            Total::Bytes {
                size: 1000,
                read: read.clone(),
            },
            ProgressDrawTarget::hidden(),
        );
        assert_eq!(bar(&p).length(), Some(1000));
        read.store(250, Ordering::Relaxed);
        p.record(0, 3);
        assert_eq!(bar(&p).position(), 250, "the position is the bytes read");
        let msg = bar(&p).message();
        assert!(msg.starts_with("1 done, "), "{msg}");
        assert!(msg.ends_with("/s (0 failed, 3 running)"), "{msg}");
    }

    #[test]
    fn a_count_of_inputs_is_the_bar_and_an_unknown_total_a_counter() {
        let p = Progress::with_target(Total::Inputs(4), ProgressDrawTarget::hidden());
        p.record(1, 0);
        p.record(1, 0);
        assert_eq!((bar(&p).position(), bar(&p).length()), (2, Some(4)));
        assert!(!bar(&p).message().contains("done"), "{}", bar(&p).message());
        let p = Progress::with_target(Total::Unknown, ProgressDrawTarget::hidden());
        p.record(0, 0);
        assert_eq!(bar(&p).length(), None, "a spinner, no bar");
        assert!(bar(&p).message().starts_with("1 done, "));
    }

    #[test]
    fn off_is_a_no_op() {
        let p = Progress::new(false, Total::Unknown);
        p.record(0, 0);
        assert_eq!(p.suspend(|| 7), 7);
        p.finish();
    }
}
