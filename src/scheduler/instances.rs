//! What the scheduler knows of each app's processes: one `Tracked` per container, with
//! its lifecycle state, kept in memory and rebuilt from engine labels after a restart.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use crate::runtime::Instance;

/// A process's lifecycle, changed only through `Registry::set_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Started, not yet healthy: out of the route table.
    Starting,
    /// Healthy (web) or running (other types).
    Up,
    /// Exited on its own; waiting for its next restart.
    Crashed { exit_code: i64 },
    /// Being drained and stopped on purpose.
    Stopping,
}

impl fmt::Display for ProcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcState::Starting => f.write_str("starting"),
            ProcState::Up => f.write_str("up"),
            ProcState::Crashed { .. } => f.write_str("crashed"),
            ProcState::Stopping => f.write_str("stopping"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: String,
    pub process_type: String,
    pub index: u32,
    pub release: i64,
    pub ip: Option<IpAddr>,
    /// Where the router and the checks reach its `PORT` (`ip:PORT` on one host, the
    /// node's address and host-mode port on a swarm).
    pub endpoint: Option<SocketAddr>,
    /// The swarm node it runs on.
    pub node: Option<String>,
    pub state: ProcState,
    /// Crash restarts since the process last stayed up for a while.
    pub restarts: u32,
    pub started_at: Option<i64>,
    /// In the published route table (web processes only).
    pub routed: bool,
    /// The readiness checks (by index) failing now: while any is, it is not routed.
    pub unready: BTreeSet<usize>,
    /// Which start of its container this is (each restart counts one), so the tasks
    /// watching an earlier start end.
    pub generation: u64,
}

impl Tracked {
    /// A process just started or found running, not yet checked; `endpoint` is where the
    /// runtime says its `PORT` is reached.
    pub fn starting(instance: &Instance, endpoint: Option<SocketAddr>) -> Tracked {
        Tracked {
            id: instance.id.clone(),
            process_type: instance.process_type.clone(),
            index: instance.index,
            release: instance.release,
            ip: instance.ip,
            endpoint,
            node: instance.node.clone(),
            state: ProcState::Starting,
            restarts: 0,
            started_at: instance.started_at,
            routed: false,
            unready: Default::default(),
            generation: 0,
        }
    }

    pub fn dyno(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    pub fn is_web(&self) -> bool {
        self.process_type == "web"
    }

    /// Up, and routed unless a readiness check fails.
    pub fn serves(&self) -> bool {
        self.is_web() && self.routed && self.state == ProcState::Up && self.unready.is_empty()
    }
}

/// Per app: container id -> process.
#[derive(Default)]
pub struct Registry {
    apps: Mutex<HashMap<String, HashMap<String, Tracked>>>,
}

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, HashMap<String, Tracked>>) -> T) -> T {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut apps)
    }

    pub fn insert(&self, app: &str, tracked: Tracked) {
        self.with(|apps| {
            apps.entry(app.to_owned())
                .or_default()
                .insert(tracked.id.clone(), tracked);
        });
    }

    /// Inserts `tracked` unless a process of that id is known already; true if inserted.
    pub fn insert_new(&self, app: &str, tracked: Tracked) -> bool {
        self.with(|apps| {
            let procs = apps.entry(app.to_owned()).or_default();
            if procs.contains_key(&tracked.id) {
                return false;
            }
            procs.insert(tracked.id.clone(), tracked);
            true
        })
    }

    /// The process `old` is now `new` (a swarm replaced its task): same dyno, new id.
    pub fn rekey(&self, app: &str, old: &str, new: &str) {
        self.with(|apps| {
            if let Some(procs) = apps.get_mut(app)
                && let Some(mut tracked) = procs.remove(old)
            {
                tracked.id = new.to_owned();
                procs.insert(new.to_owned(), tracked);
            }
        });
    }

    pub fn remove(&self, app: &str, id: &str) -> Option<Tracked> {
        self.with(|apps| apps.get_mut(app).and_then(|procs| procs.remove(id)))
    }

    pub fn forget_app(&self, app: &str) -> Vec<Tracked> {
        self.with(|apps| {
            apps.remove(app)
                .map(|p| p.into_values().collect())
                .unwrap_or_default()
        })
    }

    /// The app's processes sorted by type and index.
    pub fn of_app(&self, app: &str) -> Vec<Tracked> {
        let mut procs: Vec<Tracked> = self.with(|apps| {
            apps.get(app)
                .map(|p| p.values().cloned().collect())
                .unwrap_or_default()
        });
        procs.sort_by(|a, b| {
            (&a.process_type, a.index, a.release).cmp(&(&b.process_type, b.index, b.release))
        });
        procs
    }

    pub fn app_names(&self) -> Vec<String> {
        self.with(|apps| apps.keys().cloned().collect())
    }

    /// Finds a process by container id in any app.
    pub fn find(&self, id: &str) -> Option<(String, Tracked)> {
        self.with(|apps| {
            apps.iter()
                .find_map(|(app, procs)| procs.get(id).map(|t| (app.clone(), t.clone())))
        })
    }

    /// The one place a process's state changes; returns the updated process.
    pub fn set_state(&self, app: &str, id: &str, state: ProcState) -> Option<Tracked> {
        self.update(app, id, |t| {
            t.state = state;
            if state != ProcState::Up {
                t.routed = false;
            }
        })
    }

    /// Healthy: up, and in the route table if it is a web process.
    pub fn mark_up(&self, app: &str, id: &str) -> Option<Tracked> {
        self.update(app, id, |t| {
            t.state = ProcState::Up;
            t.routed = t.is_web();
        })
    }

    pub fn update(&self, app: &str, id: &str, f: impl FnOnce(&mut Tracked)) -> Option<Tracked> {
        self.with(|apps| {
            let tracked = apps.get_mut(app)?.get_mut(id)?;
            f(tracked);
            Some(tracked.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(id: &str, process_type: &str, index: u32) -> Tracked {
        Tracked {
            id: id.into(),
            process_type: process_type.into(),
            index,
            release: 1,
            ip: None,
            endpoint: None,
            node: None,
            state: ProcState::Up,
            restarts: 0,
            started_at: None,
            routed: true,
            unready: BTreeSet::new(),
            generation: 0,
        }
    }

    #[test]
    fn leaving_up_takes_a_process_out_of_the_route_table() {
        let registry = Registry::default();
        registry.insert("a", proc("c1", "web", 1));
        let crashed = registry
            .set_state("a", "c1", ProcState::Crashed { exit_code: 137 })
            .unwrap();
        assert!(!crashed.routed);
        assert_eq!(crashed.state.to_string(), "crashed");
        assert_eq!(registry.find("c1").unwrap().0, "a");
    }

    #[test]
    fn processes_list_in_type_and_index_order() {
        let registry = Registry::default();
        registry.insert("a", proc("c3", "worker", 1));
        registry.insert("a", proc("c2", "web", 2));
        registry.insert("a", proc("c1", "web", 1));
        let dynos: Vec<String> = registry.of_app("a").iter().map(Tracked::dyno).collect();
        assert_eq!(dynos, ["web.1", "web.2", "worker.1"]);
    }
}
