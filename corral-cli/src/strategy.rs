//! What counts as done for `corral fetch`, and when a run stops early: the strategy the flags
//! ask for (`--any`, `--quorum K`, `--fail-fast`, or every input), and why a run stopped.

use std::time::Duration;

use crate::cli::FetchArgs;
use crate::duration::human;
use crate::summary::Summary;

/// What counts as done, and when to stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every input runs; the condition is that every one succeeded.
    All,
    /// Stop at the first success.
    Any,
    /// Stop once K succeeded, or once K is impossible.
    Quorum(u64),
    /// Stop at the first failure.
    FailFast,
}

/// Why a run stopped before every input had run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The strategy decided: condition met or not, and why.
    Decided { met: bool, why: String },
    /// The `--deadline` expired.
    Deadline(Duration),
    /// Ctrl-C.
    Interrupted,
    /// Nobody reads stdout any more.
    BrokenPipe,
    /// The journal could not be written: the run is no longer durable.
    Journal(String),
}

impl Stop {
    pub(crate) fn why(&self) -> String {
        match self {
            Stop::Decided { why, .. } => why.clone(),
            Stop::Deadline(d) => format!("the deadline (-z {}) expired", human(*d)),
            Stop::Interrupted => "interrupted".to_owned(),
            Stop::BrokenPipe => "stdout was closed".to_owned(),
            Stop::Journal(e) => format!("writing the journal failed: {e}"),
        }
    }
}

impl Strategy {
    /// The strategy the flags ask for.
    pub fn from_args(args: &FetchArgs) -> Self {
        match (args.any, args.quorum, args.fail_fast) {
            (true, _, _) => Strategy::Any,
            (_, Some(k), _) => Strategy::Quorum(k),
            (_, _, true) => Strategy::FailFast,
            _ => Strategy::All,
        }
    }

    /// Whether to stop now, given the records so far, how many inputs are started but not yet
    /// recorded, and whether the input has ended.
    pub(crate) fn decide(self, s: &Summary, remaining: usize, input_done: bool) -> Option<Stop> {
        let failed = s.total - s.ok;
        let stop = |met: bool, why: String| Some(Stop::Decided { met, why });
        match self {
            Strategy::All => None,
            Strategy::Any if s.ok >= 1 => stop(true, "a request succeeded (--any)".into()),
            Strategy::Any => None,
            Strategy::Quorum(k) if s.ok >= k => {
                stop(true, format!("the quorum of {k} was reached"))
            }
            Strategy::Quorum(k) if input_done && s.ok + remaining as u64 > k - 1 => None,
            Strategy::Quorum(k) if input_done => {
                stop(false, format!("the quorum of {k} can no longer be reached"))
            }
            Strategy::Quorum(_) => None,
            Strategy::FailFast if failed > 0 => {
                stop(false, "a request failed (--fail-fast)".into())
            }
            Strategy::FailFast => None,
        }
    }

    /// Whether the condition holds after every input has run.
    pub(crate) fn met(self, s: &Summary) -> bool {
        match self {
            Strategy::All | Strategy::FailFast => s.ok == s.total,
            Strategy::Any => s.ok >= 1,
            Strategy::Quorum(k) => s.ok >= k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, Record};

    fn summary(ok: u64, failed: u64) -> Summary {
        let mut s = Summary::new();
        for i in 0..ok + failed {
            let mut r = Record::failed(i, 1, "http://a/".into(), ErrorKind::Status, "x".into());
            if i < ok {
                r.ok = true;
                r.error_kind = None;
            }
            s.add(&r);
        }
        s
    }

    #[test]
    fn any_stops_at_the_first_success_only() {
        assert!(Strategy::Any.decide(&summary(0, 3), 5, false).is_none());
        assert!(matches!(
            Strategy::Any.decide(&summary(1, 3), 5, false),
            Some(Stop::Decided { met: true, .. })
        ));
        assert!(!Strategy::Any.met(&summary(0, 3)));
    }

    #[test]
    fn quorum_stops_when_reached_or_impossible() {
        let q = Strategy::Quorum(3);
        assert!(matches!(
            q.decide(&summary(3, 0), 9, false),
            Some(Stop::Decided { met: true, .. })
        ));
        // 1 ok and 1 still running cannot reach 3 once the input has ended...
        assert!(matches!(
            q.decide(&summary(1, 5), 1, true),
            Some(Stop::Decided { met: false, .. })
        ));
        // ...but can while more input may come, or with 2 running.
        assert!(q.decide(&summary(1, 5), 1, false).is_none());
        assert!(q.decide(&summary(1, 5), 2, true).is_none());
    }

    #[test]
    fn fail_fast_stops_at_the_first_failure() {
        assert!(Strategy::FailFast
            .decide(&summary(4, 0), 1, false)
            .is_none());
        assert!(matches!(
            Strategy::FailFast.decide(&summary(4, 1), 1, false),
            Some(Stop::Decided { met: false, .. })
        ));
        assert!(Strategy::All.decide(&summary(0, 9), 1, true).is_none());
        assert!(Strategy::All.met(&summary(2, 0)) && !Strategy::All.met(&summary(2, 1)));
    }
}
