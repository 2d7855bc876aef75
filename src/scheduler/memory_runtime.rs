//! An in-memory `Runtime` for the reconciler's unit tests: processes are records, a web
//! process is "healthy" when it listens on its own loopback address (127.x.y.z:5000),
//! and every start and stop is written to a journal with what the router served for the
//! app at that moment, so tests can assert the order of a rollout.
//!
//! `swarm_like` behaves as a swarm does where it differs from one engine: a stop removes
//! another process of the same release and type when there is one (Swarm chooses which
//! task goes on a scale-down), a crashed process comes back as a new one in its place
//! (a new task in the same slot), and a process no longer wanted cannot be restarted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;

use crate::router::{AppRoute, Router};
use crate::runtime::{
    Attached, Instance, InstanceEvent, InstanceState, LogStream, ProcessKind, ProcessSpec, Runtime,
    RuntimeError,
};

/// How a process of an image behaves: images are named after it.
/// `good` listens at once; `slow` listens after half a second; `crash` exits at once.
pub const GOOD: &str = "good";
pub const SLOW: &str = "slow";
pub const CRASH: &str = "crash";

struct Process {
    instance: Instance,
    /// Keeps the health-check port open while the process "runs".
    listener: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    processes: HashMap<String, Process>,
    journal: Vec<String>,
    next: u32,
}

pub struct MemoryRuntime {
    state: Mutex<State>,
    router: Router,
    events: broadcast::Sender<InstanceEvent>,
    /// Distinct loopback addresses per runtime, so tests in parallel never share a port.
    base: u32,
    swarm_like: bool,
}

impl MemoryRuntime {
    pub fn new(router: Router) -> Arc<Self> {
        Self::with(router, false)
    }

    /// A runtime that chooses, restarts and replaces processes as a swarm does.
    pub fn swarm_like(router: Router) -> Arc<Self> {
        Self::with(router, true)
    }

    fn with(router: Router, swarm_like: bool) -> Arc<Self> {
        let base = u32::from(Ipv4Addr::new(127, 1, 0, 0)) + (rand::random::<u32>() % 4000) * 256;
        Arc::new(MemoryRuntime {
            state: Mutex::default(),
            router,
            events: broadcast::channel(64).0,
            base,
            swarm_like,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every start and stop so far: `start v2 web.1`, `stop v1 web.1 (routed: v2 web.1)`.
    pub fn journal(&self) -> Vec<String> {
        self.state().journal.clone()
    }

    /// The running processes of the formation, as `v2 web.1`.
    pub fn running(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .state()
            .processes
            .values()
            .filter(|p| !p.instance.one_off && p.instance.is_running())
            .map(|p| label(&p.instance))
            .collect();
        out.sort();
        out
    }

    /// The process `label` (`v1 web.1`) dies, as the engine would report it.
    pub fn crash(&self, wanted: &str) {
        let id = {
            let mut state = self.state();
            let Some(p) = state
                .processes
                .values_mut()
                .find(|p| label(&p.instance) == wanted)
            else {
                return;
            };
            p.instance.state = InstanceState::Exited {
                code: 137,
                oom_killed: false,
            };
            if let Some(l) = p.listener.take() {
                l.abort();
            }
            p.instance.id.clone()
        };
        let _ = self.events.send(InstanceEvent::Died { id, exit_code: 137 });
    }

    /// What the router serves for `app` now, as `v2 web.1` labels of running processes.
    pub fn routed_now(&self, app: &str) -> String {
        self.routed(&self.state(), app)
    }

    /// What the router serves for `app` now, as `v2 web.1` labels.
    fn routed(&self, state: &State, app: &str) -> String {
        let snapshot = self.router.snapshot();
        let Some(entry) = snapshot.app(app) else {
            return "nothing".into();
        };
        let AppRoute::Serving(endpoints) = entry.route() else {
            return "nothing".into();
        };
        let mut names: Vec<String> = endpoints
            .iter()
            .filter_map(|e| {
                state
                    .processes
                    .values()
                    .find(|p| p.instance.ip == Some(e.addr().ip()))
                    .map(|p| label(&p.instance))
            })
            .collect();
        names.sort();
        names.join(", ")
    }

    async fn start_process(&self, spec: ProcessSpec) -> Result<Instance, RuntimeError> {
        let (id, ip) = {
            let mut state = self.state();
            state.next += 1;
            let n = state.next;
            (format!("mem-{n}"), Ipv4Addr::from(self.base + n))
        };
        let crashes = spec.image == CRASH;
        let instance = Instance {
            id: id.clone(),
            name: id.clone(),
            app: spec.app.clone(),
            release: spec.release,
            process_type: spec.process_type.clone(),
            index: spec.index,
            one_off: spec.kind == ProcessKind::OneOff,
            attached: false,
            state: if crashes {
                InstanceState::Exited {
                    code: 1,
                    oom_killed: false,
                }
            } else {
                InstanceState::Running
            },
            ip: Some(IpAddr::V4(ip)),
            endpoint: None,
            node: None,
            started_at: Some(crate::domain::Timestamp::now().0),
        };
        let listener = (!crashes && spec.process_type == "web").then(|| {
            let delay = if spec.image == SLOW {
                Duration::from_millis(500)
            } else {
                Duration::ZERO
            };
            tokio::spawn(listen(SocketAddr::new(IpAddr::V4(ip), 5000), delay))
        });
        let mut state = self.state();
        state.journal.push(format!("start {}", label(&instance)));
        state.processes.insert(
            id,
            Process {
                instance: instance.clone(),
                listener,
            },
        );
        Ok(instance)
    }

    /// On a swarm, a crashed process comes back as a new one with the same index and a
    /// new id and address; one that was removed is gone.
    fn replace_process(&self, id: &str) -> Result<Instance, RuntimeError> {
        let mut state = self.state();
        let Some(old) = state.processes.remove(id) else {
            return Err(RuntimeError::Gone(id.to_owned()));
        };
        state.next += 1;
        let n = state.next;
        let ip = Ipv4Addr::from(self.base + n);
        let instance = Instance {
            id: format!("mem-{n}"),
            name: format!("mem-{n}"),
            ip: Some(IpAddr::V4(ip)),
            state: InstanceState::Running,
            started_at: Some(crate::domain::Timestamp::now().0),
            ..old.instance
        };
        let listener = (instance.process_type == "web").then(|| {
            tokio::spawn(listen(
                SocketAddr::new(IpAddr::V4(ip), 5000),
                Duration::ZERO,
            ))
        });
        state.journal.push(format!("replace {}", label(&instance)));
        state.processes.insert(
            instance.id.clone(),
            Process {
                instance: instance.clone(),
                listener,
            },
        );
        Ok(instance)
    }

    /// The process a stop of `id` removes: `id`, or on a swarm the first other running
    /// process of its release and type.
    fn chosen(&self, state: &State, id: &str) -> String {
        let Some(asked) = state.processes.get(id).map(|p| &p.instance) else {
            return id.to_owned();
        };
        let mut others: Vec<&Instance> = state
            .processes
            .values()
            .map(|p| &p.instance)
            .filter(|i| {
                self.swarm_like
                    && i.id != id
                    && i.is_running()
                    && (&i.app, i.release, &i.process_type)
                        == (&asked.app, asked.release, &asked.process_type)
            })
            .collect();
        others.sort_by_key(|i| i.index);
        others.first().map_or(id.to_owned(), |i| i.id.clone())
    }

    fn stop_process(&self, id: &str) {
        let mut state = self.state();
        let chosen = self.chosen(&state, id);
        let Some(p) = state.processes.remove(&chosen) else {
            return;
        };
        if chosen != id {
            let _ = self.events.send(InstanceEvent::Died {
                id: chosen.clone(),
                exit_code: 143,
            });
        }
        if let Some(l) = p.listener {
            l.abort();
        }
        if !p.instance.one_off {
            let routed = self.routed(&state, &p.instance.app);
            state
                .journal
                .push(format!("stop {} (routed: {routed})", label(&p.instance)));
        }
    }
}

fn label(i: &Instance) -> String {
    format!("v{} {}.{}", i.release, i.process_type, i.index)
}

/// Accepts and drops connections: enough for a TCP health check.
async fn listen(addr: SocketAddr, delay: Duration) {
    tokio::time::sleep(delay).await;
    let Ok(listener) = tokio::net::TcpListener::bind(addr).await else {
        return;
    };
    while let Ok((conn, _)) = listener.accept().await {
        drop(conn);
    }
}

fn unsupported<T>() -> Result<T, RuntimeError> {
    Err(RuntimeError::Engine("not in the memory runtime".into()))
}

impl Runtime for MemoryRuntime {
    fn start(&self, spec: ProcessSpec) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        Box::pin(self.start_process(spec))
    }

    fn stop(&self, id: &str, _grace: Duration) -> BoxFuture<'_, Result<(), RuntimeError>> {
        self.stop_process(id);
        Box::pin(async { Ok(()) })
    }

    fn restart(&self, id: &str) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        if self.swarm_like {
            let replaced = self.replace_process(id);
            return Box::pin(async move { replaced });
        }
        let mut state = self.state();
        let restarted = state.processes.get_mut(id).map(|p| {
            p.instance.state = InstanceState::Running;
            if p.instance.process_type == "web"
                && let Some(ip) = p.instance.ip
            {
                p.listener = Some(tokio::spawn(listen(
                    SocketAddr::new(ip, 5000),
                    Duration::ZERO,
                )));
            }
            p.instance.clone()
        });
        if let Some(i) = &restarted {
            state.journal.push(format!("restart {}", label(i)));
        }
        let result = restarted.ok_or_else(|| RuntimeError::ContainerMissing(id.into()));
        Box::pin(async move { result })
    }

    fn list(&self, app: Option<&str>) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        let list = self
            .state()
            .processes
            .values()
            .map(|p| p.instance.clone())
            .filter(|i| !i.one_off && app.is_none_or(|a| a == i.app))
            .collect();
        Box::pin(async move { Ok(list) })
    }

    fn one_offs(&self) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<Option<Instance>, RuntimeError>> {
        let found = self.state().processes.get(id).map(|p| p.instance.clone());
        Box::pin(async move { Ok(found) })
    }

    fn wait(&self, _id: &str) -> BoxFuture<'_, Result<i64, RuntimeError>> {
        Box::pin(async { unsupported() })
    }

    fn logs(&self, _id: &str, _since: i64, _follow: bool) -> LogStream {
        Box::pin(futures_util::stream::empty())
    }

    fn attach(&self, _id: &str) -> BoxFuture<'_, Result<Attached, RuntimeError>> {
        Box::pin(async { unsupported() })
    }

    fn resize(&self, _: &str, _: u16, _: u16) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>> {
        let rx = self.events.subscribe();
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((Ok(event), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    fn prepare_app(&self, _app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn forget_app(&self, _app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn replaces_processes(&self) -> bool {
        self.swarm_like
    }

    fn endpoint(&self, instance: &Instance, port: u16) -> Option<SocketAddr> {
        instance.ip.map(|ip| SocketAddr::new(ip, port))
    }
}
