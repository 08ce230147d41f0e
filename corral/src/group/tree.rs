//! The tree of running groups, for debugging ([`group_tree`], [`Spawner::tree`]): where each
//! group runs, and the thread-local that tells a group being started which group and member
//! it runs in.
//!
//! [`Spawner::tree`]: super::spawner::Spawner::tree

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::rt::{frame, Scope};

use super::cell::{info, NodeCell};
use super::child::{whole_ms, ChildInfo};
use super::running::Shared;

/// Where a nested group runs: in its parent's body, or in one of its parent's children.
#[derive(Clone)]
pub(super) enum Host {
    Body,
    Child(Weak<Scope<dyn NodeCell>>),
}

impl Host {
    fn same(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Body, Host::Body) => true,
            (Host::Child(a), Host::Child(b)) => Weak::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A group as the tree sees it, whatever its error type.
pub(super) trait GroupNode: Send + Sync {
    fn header(&self) -> String;
    /// Each member's line, with the groups nested in it.
    fn members(&self) -> Vec<(String, Vec<Arc<dyn GroupNode>>)>;
    fn add_subgroup(&self, host: Host, node: Weak<dyn GroupNode>);
    fn remove_subgroup(&self, node: *const ());
    /// The body's scope, to tell whether a nested group runs directly in it.
    fn body_scope(&self) -> *const ();
}

impl<E: Send + 'static> GroupNode for Shared<E> {
    fn header(&self) -> String {
        let st = self.lock();
        let phase = if st.finished {
            "finished"
        } else if st.cancelling.is_some() {
            "cancelling"
        } else if !st.body_running {
            "waiting for children"
        } else {
            "running"
        };
        let n = st.children.len();
        let mut s = format!(
            "{} ({phase}, {n} child{}",
            self.label(),
            if n == 1 { "" } else { "ren" }
        );
        if let Some(limit) = &self.limit {
            let _ = write!(s, ", {}", limit.describe());
        }
        if self.supervisor {
            s.push_str(", supervisor");
        }
        let _ = write!(s, ", age {:?})", whole_ms(self.created.elapsed()));
        s
    }

    fn members(&self) -> Vec<(String, Vec<Arc<dyn GroupNode>>)> {
        let subs: Vec<(Host, Arc<dyn GroupNode>)> = self
            .subgroups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(h, w)| Some((h.clone(), w.upgrade()?)))
            .collect();
        let nested = |host: &Host| -> Vec<Arc<dyn GroupNode>> {
            subs.iter()
                .filter(|(h, _)| h.same(host))
                .map(|(_, n)| n.clone())
                .collect()
        };
        let (body_running, metas) = {
            let st = self.lock();
            let metas: Vec<Arc<Scope<dyn NodeCell>>> =
                st.children.values().map(|c| c.cell()).collect();
            (st.body_running, metas)
        };
        let mut out = Vec::new();
        let body_groups = nested(&Host::Body);
        if body_running || !body_groups.is_empty() {
            out.push(("body".to_string(), body_groups));
        }
        let mut kids: Vec<(ChildInfo, Arc<Scope<dyn NodeCell>>)> =
            metas.into_iter().map(|m| (info(&m), m)).collect();
        kids.sort_by_key(|(i, _)| i.id);
        for (info, meta) in kids {
            out.push((
                info.to_string(),
                nested(&Host::Child(Arc::downgrade(&meta))),
            ));
        }
        out
    }

    fn add_subgroup(&self, host: Host, node: Weak<dyn GroupNode>) {
        let mut subs = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(_, w)| w.strong_count() > 0);
        subs.push((host, node));
    }

    fn remove_subgroup(&self, node: *const ()) {
        let mut subs = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(_, w)| w.strong_count() > 0 && w.as_ptr() as *const () != node);
    }

    fn body_scope(&self) -> *const () {
        Arc::as_ptr(&self.scope) as *const ()
    }
}

/// Groups not nested in any other group, for [`group_tree`].
static ROOTS: Mutex<Vec<Weak<dyn GroupNode>>> = Mutex::new(Vec::new());

pub(super) fn roots() -> MutexGuard<'static, Vec<Weak<dyn GroupNode>>> {
    ROOTS.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn render(node: &dyn GroupNode, lead: &str, prefix: &str, out: &mut String) {
    out.push_str(lead);
    out.push_str(&node.header());
    out.push('\n');
    let members = node.members();
    let count = members.len();
    for (i, (label, subs)) in members.into_iter().enumerate() {
        let last = i + 1 == count;
        let _ = writeln!(out, "{prefix}{}{label}", if last { "└── " } else { "├── " });
        let inner = format!("{prefix}{}", if last { "    " } else { "│   " });
        let n = subs.len();
        for (j, sub) in subs.into_iter().enumerate() {
            let sub_last = j + 1 == n;
            render(
                &*sub,
                &format!("{inner}{}", if sub_last { "└── " } else { "├── " }),
                &format!("{inner}{}", if sub_last { "    " } else { "│   " }),
                out,
            );
        }
    }
}

/// A text tree of every task group running in the process: for each group not nested in
/// another, its state, body, children, and the groups nested in them. Empty if none is running.
/// For debugging a stuck program (print it from a signal handler or a debug endpoint).
///
/// asyncio: `python -m asyncio pstree PID`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tree = corral::TaskGroup::new()
///     .name("server")
///     .run(|g| async move {
///         g.spawn_named("listener", std::future::pending::<Result<(), ()>>());
///         let tree = corral::group_tree();
///         g.cancel();
///         Ok(tree)
///     })
///     .await
///     .unwrap();
/// assert!(tree.contains("group \"server\""));
/// assert!(tree.contains("\"listener\": waiting"));
/// # }
/// ```
pub fn group_tree() -> String {
    let live: Vec<Arc<dyn GroupNode>> = roots().iter().filter_map(Weak::upgrade).collect();
    let mut out = String::new();
    for node in live {
        render(&*node, "", "", &mut out);
    }
    out
}

/// The group and member being polled: set by the poller for the poll (with
/// [`with_frame`](crate::rt::with_frame), no clone per poll), so that a group started there
/// can hang itself under them in the tree.
pub(super) struct HostFrame {
    pub(super) group: Arc<dyn GroupNode>,
    pub(super) host: Host,
}

/// The group and member being polled on this thread, if any.
pub(super) fn current_host() -> Option<(Arc<dyn GroupNode>, Host)> {
    frame(|f: Option<&HostFrame>| f.map(|f| (f.group.clone(), f.host.clone())))
}
