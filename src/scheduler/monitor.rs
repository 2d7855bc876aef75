//! Liveness and readiness checks: every process that passed its startup checks is checked
//! for the rest of its life, one task per check, every `wait` seconds after
//! `initialDelay` (counted from its start), each attempt within `timeout`.
//!
//! Liveness: `attempts` failures in a row restart the process the way a crash does (out
//! of the routes first, then a restart with backoff; `supervise::failed_liveness`).
//! Readiness: `attempts` failures in a row take it out of the route table, even the last
//! one (the router answers 503, as Kubernetes leaves an app with no ready endpoint), and
//! one pass puts it back; each change is logged once. With `warn`, a failure is logged
//! and changes nothing. A task ends when its process stops, crashes or is restarted.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Check, CheckKind, ProcessChecks};

use super::health::{Target, attempt, remaining};
use super::instances::{ProcState, Tracked};
use super::{Inner, routes, supervise};

/// Starts the liveness and readiness checks of `tracked`, which just passed its startup
/// checks.
pub fn spawn(s: &Inner, app: &str, tracked: &Tracked, checks: &ProcessChecks) {
    let Some(inner) = s.me.upgrade() else {
        return;
    };
    let readiness = checks
        .readiness
        .iter()
        .enumerate()
        .map(|(i, c)| (Some(i), c));
    let liveness = checks.liveness.iter().map(|c| (None, c));
    for (readiness_index, check) in liveness.chain(readiness) {
        let watch = Watch {
            s: Arc::clone(&inner),
            app: app.to_owned(),
            id: tracked.id.clone(),
            dyno: tracked.dyno(),
            started_at: tracked.started_at,
            generation: tracked.generation,
            check: check.clone(),
            readiness_index,
        };
        s.tasks.spawn(watch.run());
    }
}

struct Watch {
    s: Arc<Inner>,
    app: String,
    id: String,
    dyno: String,
    /// When the start this task watches began (for `initialDelay`).
    started_at: Option<i64>,
    /// The start this task watches: a restarted process gets new tasks.
    generation: u64,
    check: Check,
    /// Its place among the process's readiness checks (None for liveness).
    readiness_index: Option<usize>,
}

impl Watch {
    async fn run(self) {
        if !self
            .pause(remaining(self.started_at, self.check.initial_delay))
            .await
        {
            return;
        }
        let mut failures = 0u32;
        loop {
            let Some(tracked) = self.current() else {
                return;
            };
            if tracked.state == ProcState::Up {
                let target = Target {
                    id: self.id.clone(),
                    ip: tracked.ip,
                    endpoint: tracked.endpoint,
                    host: self.s.host_of(&self.app),
                };
                let result = tokio::time::timeout(
                    self.check.timeout,
                    attempt(self.s.runtime.as_ref(), &target, &self.check),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no answer within {}s",
                        self.check.timeout.as_secs()
                    ))
                });
                match result {
                    Ok(()) => {
                        failures = 0;
                        self.passed().await;
                    }
                    Err(answer) => {
                        failures += 1;
                        if failures == self.check.attempts && self.failed(&answer).await {
                            return;
                        }
                    }
                }
            }
            if !self.pause(self.check.wait).await {
                return;
            }
        }
    }

    /// The process as it is now, while it is the start this task watches.
    fn current(&self) -> Option<Tracked> {
        self.s
            .registry
            .of_app(&self.app)
            .into_iter()
            .find(|t| t.id == self.id && t.generation == self.generation)
            .filter(|t| matches!(t.state, ProcState::Up | ProcState::Starting))
    }

    /// The check failed `attempts` times in a row; true when this task is done.
    async fn failed(&self, answer: &str) -> bool {
        let (dyno, kind, name) = (&self.dyno, self.check.kind, &self.check.name);
        let times = match self.check.attempts {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        let what = format!("{dyno} failed its {kind} check \"{name}\" ({answer}) {times}");
        if self.check.warn {
            self.log(format!("warning: {what}; it only warns"));
            return false;
        }
        match (kind, self.readiness_index) {
            (CheckKind::Readiness, Some(index)) => {
                let changed = self.s.registry.update(&self.app, &self.id, |t| {
                    t.unready.insert(index);
                });
                match changed {
                    Some(t) if t.is_web() => {
                        routes::publish(&self.s, &self.app).await;
                        self.log(format!("{what}; out of the route table until it passes"));
                    }
                    Some(t) => self.log(format!(
                        "{what}; {} processes take no traffic, so nothing else changes",
                        t.process_type
                    )),
                    None => {}
                }
                false
            }
            _ => {
                supervise::failed_liveness(&self.s, &self.id, what).await;
                true
            }
        }
    }

    /// A readiness check that had taken the process out puts it back.
    async fn passed(&self) {
        let Some(index) = self.readiness_index else {
            return;
        };
        let mut was_out = false;
        let updated = self.s.registry.update(&self.app, &self.id, |t| {
            was_out = t.unready.remove(&index);
        });
        let Some(tracked) = updated.filter(|_| was_out) else {
            return;
        };
        let (dyno, name) = (&self.dyno, &self.check.name);
        if tracked.unready.is_empty() {
            routes::publish(&self.s, &self.app).await;
            let back = if tracked.is_web() {
                "; back in the route table"
            } else {
                ""
            };
            self.log(format!(
                "{dyno} passed its readiness check \"{name}\"{back}"
            ));
        } else {
            self.log(format!(
                "{dyno} passed its readiness check \"{name}\"; another one still fails"
            ));
        }
    }

    fn log(&self, line: String) {
        self.s.logs.platform(&self.app, "checks", line);
    }

    /// Sleeps; false when the server is stopping.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.s.shutdown.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}
