//! The one-off processes of cron jobs (`cron.RUN`, the run's number): started like any
//! one-off of the current release, their output in the app's log as `cron[JOB]` lines,
//! their exit code handed to whoever runs the schedule. A stopping server leaves them
//! running, and adoption leaves them to the cron runner (`cron_processes`), which
//! records how each ended before it is removed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;

use crate::logs::{LogEntry, Source};
use crate::runtime::{InstanceState, ProcessKind};
use crate::store::AppRow;

use super::{Inner, Scheduler, SchedulerError};

/// The process type of cron runs' one-offs.
pub const CRON_PROCESS: &str = "cron";

/// A cron run's process, started or found again after a restart.
pub struct CronProcess {
    /// `cron.57` for run 57.
    pub dyno: String,
    /// The exit code once it ended and was removed (None: no code known). Closed with no
    /// value when the server stops first: the process runs on for the next server.
    pub exit: oneshot::Receiver<Option<i64>>,
}

/// A cron run's container as the engine reports it at start-up.
#[derive(Debug, Clone)]
pub struct CronInstance {
    pub id: String,
    pub app: String,
    /// The run's number.
    pub run: i64,
    pub running: bool,
}

impl Scheduler {
    /// Starts run `run` of job `job` (`command`) as a one-off of the current release.
    pub async fn start_cron(
        &self,
        app: &AppRow,
        job: &str,
        run: i64,
        command: &str,
    ) -> Result<CronProcess, SchedulerError> {
        let s = &self.inner;
        let plan = s.plan_to_run(app).await?;
        let dyno = format!("{CRON_PROCESS}.{run}");
        let index = u32::try_from(run).map_err(|_| {
            SchedulerError::start(
                &dyno,
                crate::runtime::RuntimeError::Engine("run number out of range".into()),
            )
        })?;
        let spec = plan.spec(CRON_PROCESS, index, ProcessKind::OneOff, command);
        let instance = s
            .runtime
            .start(spec)
            .await
            .map_err(|e| SchedulerError::start(&dyno, e))?;
        let exit = keep(s, app.name.as_str(), job, instance.id, 0);
        Ok(CronProcess { dyno, exit })
    }

    /// Every cron run's container on the engine, running or ended.
    pub async fn cron_processes(&self) -> Result<Vec<CronInstance>, SchedulerError> {
        let one_offs = self.inner.runtime.one_offs().await?;
        Ok(one_offs
            .into_iter()
            .filter(|i| i.process_type == CRON_PROCESS)
            .map(|i| CronInstance {
                running: i.is_running(),
                run: i64::from(i.index),
                id: i.id,
                app: i.app,
            })
            .collect())
    }

    /// Follows a run an earlier server started: its output from the last stored line on,
    /// then its exit code (at once if it already ended), then removes it.
    pub async fn resume_cron(&self, instance: &CronInstance, job: &str) -> CronProcess {
        let s = &self.inner;
        let since = s.logs.last_at(&instance.app).await.map_or(0, |t| t + 1);
        let exit = keep(s, &instance.app, job, instance.id.clone(), since);
        CronProcess {
            dyno: format!("{CRON_PROCESS}.{}", instance.run),
            exit,
        }
    }

    /// Removes a cron run's container nobody keeps a record of.
    pub async fn remove_cron(&self, instance: &CronInstance) -> Result<(), SchedulerError> {
        Ok(self
            .inner
            .runtime
            .stop(&instance.id, Duration::ZERO)
            .await?)
    }
}

/// Copies the process's output into the app's log as `cron[JOB]` lines and waits for its
/// exit; then removes it and sends the code. A stopping server leaves it be.
fn keep(s: &Inner, app: &str, job: &str, id: String, since: i64) -> oneshot::Receiver<Option<i64>> {
    let (tx, rx) = oneshot::channel();
    let mut lines = s.runtime.logs(&id, since, true);
    let (logs, runtime, shutdown) = (s.logs.clone(), Arc::clone(&s.runtime), s.shutdown.clone());
    let (app, job) = (app.to_owned(), job.to_owned());
    let copy = async move {
        while let Some(Ok(line)) = lines.next().await {
            logs.push(
                &app,
                LogEntry {
                    at: line.at,
                    source: Source::Cron,
                    dyno: job.clone(),
                    text: line.text,
                },
            );
        }
    };
    s.tasks.spawn(async move {
        let ended = async {
            let ((), code) = tokio::join!(copy, runtime.wait(&id));
            let code = match code {
                Ok(code) => Some(code),
                // The engine forgot the wait (it restarted): read the code it kept.
                Err(_) => match runtime.inspect(&id).await {
                    Ok(Some(i)) => match i.state {
                        InstanceState::Exited { code, .. } => Some(code),
                        _ => None,
                    },
                    _ => None,
                },
            };
            let _ = runtime.stop(&id, Duration::ZERO).await;
            code
        };
        tokio::select! {
            code = ended => { let _ = tx.send(code); }
            () = shutdown.cancelled() => {}
        }
    });
    rx
}
