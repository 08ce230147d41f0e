//! The progress bar on stderr, shown only when stderr is a terminal and `-q` is not given.

use std::cell::Cell;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display that may be off; every method is a no-op when it is.
pub struct Progress(Option<Bar>);

struct Bar {
    bar: ProgressBar,
    /// When the message was last set: formatting it for every record would cost more than
    /// writing the record (a million "not started" records after a stop).
    message_at: Cell<Option<Instant>>,
}

/// How often the message (failed, running) is brought up to date; the bar is drawn less often.
const MESSAGE_EVERY: Duration = Duration::from_millis(50);

impl Progress {
    /// A bar if `enabled`, with a known `total` (URL arguments) or a counter (streamed input).
    pub fn new(enabled: bool, total: Option<u64>) -> Self {
        if !enabled {
            return Progress(None);
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
                    )
                    .expect("static template is valid"),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} done {msg}")
                    .expect("static template is valid"),
            ),
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(Bar {
            bar,
            message_at: Cell::new(None),
        }))
    }

    /// Counts one written record; `failed` is the number of failures so far.
    pub fn record(&self, failed: u64, running: usize) {
        if let Some(b) = &self.0 {
            b.bar.inc(1);
            let now = Instant::now();
            if b.message_at
                .get()
                .is_none_or(|at| now - at >= MESSAGE_EVERY)
            {
                b.message_at.set(Some(now));
                b.bar
                    .set_message(format!("({failed} failed, {running} running)"));
            }
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
