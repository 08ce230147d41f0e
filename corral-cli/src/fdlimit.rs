//! The limit on open files: raised at start, and checked against what `-c` needs.
//!
//! Each request holds a socket, and with `--save` a file too, so `-c 2000` needs over 2,000
//! descriptors, while most Linux systems start a process with a soft limit of 1,024 under a
//! hard limit of 524,288 or more. Servers and crawlers raise the soft limit to the hard one
//! at start; so does corral. When even the hard limit is too low for `-c`, the run says so
//! once and runs fewer requests at once, instead of failing thousands of them with EMFILE.

/// Descriptors a run needs besides those of its requests: stdio, the runtime's epoll and
/// wake-ups, the input file, the signal pipe, DNS look-ups, and a margin.
pub const RESERVE: u64 = 64;

/// The limit on open files in force (the soft limit), and the hard limit it may be raised to;
/// `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The soft limit: what the process may open now.
    pub soft: Option<u64>,
    /// The hard limit: how far the soft limit may be raised.
    pub hard: Option<u64>,
}

impl Limit {
    /// How many requests fit at once, each holding `per_request` descriptors, beside
    /// [`RESERVE`]; at least 1.
    pub fn fitting(&self, per_request: u64) -> u64 {
        match self.soft {
            None => u64::MAX,
            Some(soft) => (soft.saturating_sub(RESERVE) / per_request.max(1)).max(1),
        }
    }
}

/// Raises the soft limit on open files as far as the hard limit, and returns the limit then in
/// force. Failing to raise it is not an error: the limit stays as it was.
#[cfg(unix)]
pub fn raise() -> Limit {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    // An unlimited hard limit is refused as a soft one (Linux caps it at fs.nr_open): aim at
    // nr_open's default then.
    let target = now.maximum.unwrap_or(1 << 20);
    if now.current.is_some_and(|soft| soft < target) {
        let raised = Rlimit {
            current: Some(target),
            maximum: now.maximum,
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
    let now = getrlimit(Resource::Nofile);
    Limit {
        soft: now.current,
        hard: now.maximum,
    }
}

/// Raises the soft limit on open files; not done on this platform.
#[cfg(not(unix))]
pub fn raise() -> Limit {
    Limit {
        soft: None,
        hard: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fit_beside_the_reserve() {
        let l = |soft| Limit {
            soft: Some(soft),
            hard: None,
        };
        assert_eq!(l(1024).fitting(1), 960);
        assert_eq!(l(1024).fitting(2), 480);
        assert_eq!(l(10).fitting(1), 1, "at least one");
        assert_eq!(
            Limit {
                soft: None,
                hard: None
            }
            .fitting(2),
            u64::MAX
        );
    }

    #[test]
    fn raising_reaches_the_hard_limit_and_is_idempotent() {
        let l = raise();
        if l.hard.is_some() {
            assert_eq!(l.soft, l.hard);
        }
        assert_eq!(raise(), l);
    }
}
