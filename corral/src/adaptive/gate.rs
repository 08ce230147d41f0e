//! [`AdaptiveGate`]: how the engine of the fan-out combinators runs under an
//! [`AdaptiveLimiter`]. It waits for a permit before each input is pulled, hands the permit to
//! the input's slot when the input starts, and gives the verdict when the input ends, from its
//! outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AdaptiveLimiter, AdaptivePermit};
use crate::limit::{AcquireOwned, OwnedPermit};
use crate::outcome::Outcome;

/// What an input's outcome says about the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `Ok`: a success, with its latency.
    Success,
    /// `Err` or `Panicked`: an overload.
    Overload,
    /// `Cancelled`, or stopped by the combinator: nothing to learn.
    None,
}

impl Verdict {
    /// What `outcome` says: `Ok` a success, `Err` and `Panicked` an overload, `Cancelled`
    /// nothing.
    pub(crate) fn of<T, E>(outcome: &Outcome<T, E>) -> Verdict {
        match outcome {
            Outcome::Ok(_) => Verdict::Success,
            Outcome::Err(_) | Outcome::Panicked(_) => Verdict::Overload,
            Outcome::Cancelled(_) => Verdict::None,
        }
    }
}

/// The permits of one set under an adaptive limit: the one waited for (or held for the next
/// input), and one per running input, by slot id.
pub(crate) struct AdaptiveGate {
    limiter: AdaptiveLimiter,
    acquiring: Option<AcquireOwned>,
    held: Option<OwnedPermit>,
    running: Vec<Option<AdaptivePermit>>,
    /// The set is stopping: nothing more is acquired, and no verdict is given (outcomes from
    /// now on are the stop's doing, not the service's).
    stopped: bool,
}

impl AdaptiveGate {
    pub(crate) fn new(limiter: AdaptiveLimiter) -> AdaptiveGate {
        AdaptiveGate {
            limiter,
            acquiring: None,
            held: None,
            running: Vec::new(),
            stopped: false,
        }
    }

    /// The limit's highest value: the most inputs that may ever run at once.
    pub(crate) fn max(&self) -> usize {
        self.limiter.max()
    }

    /// Ready once a permit is held for the next input (at once after a stop); waits in the
    /// limiter's queue until then.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.held.is_some() || self.stopped {
            return Poll::Ready(());
        }
        let acquiring = self
            .acquiring
            .get_or_insert_with(|| self.limiter.shared.limiter.clone().acquire_owned());
        let permit = std::task::ready!(Pin::new(acquiring).poll(cx));
        self.acquiring = None;
        self.held = Some(permit);
        Poll::Ready(())
    }

    /// The input pulled with the held permit started in slot `id`: the permit is its own, and
    /// its latency counts from now.
    // Out of line: a set without an adaptive limit keeps its hot path small (only the
    // `Option` check is inlined there).
    #[inline(never)]
    pub(crate) fn start(&mut self, id: usize) {
        let Some(permit) = self.held.take() else {
            return;
        };
        if self.running.len() <= id {
            self.running.resize_with(id + 1, || None);
        }
        self.running[id] = Some(self.limiter.permit(permit));
    }

    /// The input pulled with the held permit did not need to run (a task finished already):
    /// the permit goes back without a verdict, since no latency was measured.
    // Out of line: a set without an adaptive limit keeps its hot path small (only the
    // `Option` check is inlined there).
    #[inline(never)]
    pub(crate) fn skip(&mut self) {
        self.held = None;
    }

    /// The input in slot `id` ended: its permit goes back, with `verdict`.
    // Out of line: a set without an adaptive limit keeps its hot path small (only the
    // `Option` check is inlined there).
    #[inline(never)]
    pub(crate) fn end(&mut self, id: usize, verdict: Verdict) {
        let Some(permit) = self.running.get_mut(id).and_then(Option::take) else {
            return;
        };
        match verdict {
            _ if self.stopped => drop(permit),
            Verdict::Success => permit.success(),
            Verdict::Overload => permit.overload(),
            Verdict::None => drop(permit),
        }
    }

    /// The set stops: it leaves the limiter's queue and gives back the permit it held for the
    /// next input; running inputs keep theirs until they end, without a verdict.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.acquiring = None;
        self.held = None;
    }
}
