//! The progress bar on stderr, shown only when stderr is a terminal and `-q` is not given.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display that may be off; every method is a no-op when it is.
pub struct Progress(Option<ProgressBar>);

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
        Progress(Some(bar))
    }

    /// Counts one written record; `failed` is the number of failures so far.
    pub fn record(&self, failed: u64, running: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            bar.set_message(format!("({failed} failed, {running} running)"));
        }
    }

    /// Runs `f` with the bar hidden, so that text written to the same terminal is not torn.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
