//! Cron jobs of app.json, as Dokku runs them: each job of the current release runs on its
//! schedule (UTC) as a one-off process of that release, never two runs of one job at
//! once; `cron:run` runs one now. Each run is recorded (release, start, end, exit code),
//! its output goes to the app's log as `cron[ID]` lines. A restarted server follows the
//! runs it finds still going and never runs a time of the schedule twice.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{AppName, CronJob, Timestamp};
use crate::scheduler::CronProcess;
use crate::store::{AppRow, CronClaim, CronRunRow, Db, NewCronRun, NewEvent, StoreError};
use crate::wire::{CronJobInfo, CronRunInfo};

use super::{Actor, OpsError, Platform, visible_app};

/// Runs kept per job.
const KEEP_RUNS: usize = 20;
/// A time of the schedule missed by at most this much (a server restarting) still runs.
const CATCH_UP_SECS: i64 = 60;

/// The current release's jobs with their next time and their kept runs.
pub async fn list(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
) -> Result<Vec<CronJobInfo>, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let (jobs, runs) = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let jobs = current_jobs(db, &app)?.map_or_else(Vec::new, |(_, jobs)| jobs);
            Ok::<_, OpsError>((jobs, db.cron_runs(app.id)?))
        })
        .await?;
    let now = Timestamp::now().0;
    Ok(jobs
        .into_iter()
        .map(|job| {
            let runs: Vec<CronRunInfo> = runs
                .iter()
                .filter(|r| r.job_id == job.id)
                .map(run_info)
                .collect();
            CronJobInfo {
                next_run: (!job.suspended)
                    .then(|| job.schedule.next_after(now))
                    .flatten()
                    .map(|t| Timestamp(t).rfc3339()),
                suspended: job.suspended,
                running: runs.iter().any(|r| r.finished_at.is_none()),
                last_run: runs.first().cloned(),
                runs,
                id: job.id,
                schedule: job.schedule.to_string(),
                command: job.command,
            }
        })
        .collect())
}

/// `cron:run ID`: runs the job now, unless a run of it is still going.
pub async fn run_now(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    id: &str,
) -> Result<CronRunInfo, OpsError> {
    let (actor, name, wanted) = (actor.clone(), name.clone(), id.to_owned());
    let (app, version, job, claim) = p
        .store
        .write(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let (version, jobs) = current_jobs(db, &app)?.unwrap_or_default();
            let Some(job) = jobs.into_iter().find(|j| j.id == wanted) else {
                return Err(OpsError::NotFound(format!(
                    "{name} has no cron job {wanted}; see paas cron -a {name}"
                )));
            };
            if job.suspended {
                return Err(OpsError::Conflict(format!(
                    "cron[{wanted}] is in maintenance (\"maintenance\": true in app.json); deploy without it to run the job"
                )));
            }
            let claim = db.claim_cron_run(NewCronRun {
                app_id: app.id,
                job_id: &job.id,
                release_version: version,
                trigger: "manual",
                scheduled_for: None,
            })?;
            if matches!(claim, CronClaim::Claimed(_)) {
                db.insert_event(NewEvent {
                    actor: actor.name(),
                    app_name: Some(app.name.as_str()),
                    action: "cron:run",
                    detail: &format!("ran cron[{}]", job.id),
                })?;
            }
            Ok((app, version, job, claim))
        })
        .await?;
    match claim {
        CronClaim::Claimed(run) => {
            start(p, &app, version, &job, &run).await?;
            Ok(run_info(&run))
        }
        CronClaim::Busy(running) => Err(OpsError::Conflict(format!(
            "cron[{}] is already running (run {} started {}); wait for it to end",
            job.id, running.id, running.started_at
        ))),
        // A manual run is for no time of the schedule, so it cannot collide with one.
        CronClaim::AlreadyRan => Err(OpsError::Internal(format!(
            "the store refused a run of cron[{}]; try again",
            job.id
        ))),
    }
}

/// The schedule: follows the runs a dead server left, then looks at every app's jobs at
/// each whole minute until `shutdown`.
pub async fn run_schedule(p: Platform, shutdown: CancellationToken) {
    resume(&p).await;
    let mut since = Timestamp::now().0 - CATCH_UP_SECS;
    loop {
        let now = Timestamp::now().0;
        if let Err(e) = round(&p, since, now).await {
            tracing::warn!(error = %e, "cron schedule");
        }
        since = now;
        tokio::select! {
            () = tokio::time::sleep(until_next_minute()) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Starts each job whose schedule had a time in `(since, now]` that has no run yet, and
/// forgets the ended runs of jobs the current releases no longer have.
async fn round(p: &Platform, since: i64, now: i64) -> Result<(), OpsError> {
    let (apps, gone) = p
        .store
        .read(|db| {
            let (mut out, mut gone) = (Vec::new(), Vec::new());
            for app in db.all_apps()? {
                let jobs = current_jobs(db, &app)?;
                for job in db.cron_run_jobs(app.id)? {
                    if !jobs
                        .as_ref()
                        .is_some_and(|(_, j)| j.iter().any(|j| j.id == job))
                    {
                        gone.push((app.id, job));
                    }
                }
                let Some((version, jobs)) = jobs.filter(|(_, jobs)| !jobs.is_empty()) else {
                    continue;
                };
                let last = db.last_scheduled_cron_runs(app.id)?;
                out.push((app, version, jobs, last));
            }
            Ok::<_, OpsError>((out, gone))
        })
        .await?;
    if !gone.is_empty() {
        let forgotten = p
            .store
            .write(move |db| {
                gone.iter()
                    .try_for_each(|(app, job)| db.forget_cron_job(*app, job))
            })
            .await;
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "cannot forget the runs of dropped cron jobs");
        }
    }
    for (app, version, jobs, last) in apps {
        for job in jobs {
            let Some(slot) = due(&job, &last, since, now) else {
                continue;
            };
            if let Err(e) = scheduled_run(p, &app, version, &job, slot).await {
                p.logs.platform(
                    app.name.as_str(),
                    "cron",
                    format!("cron[{}] could not start: {e}", job.id),
                );
            }
        }
    }
    Ok(())
}

/// The newest time of the job's schedule in `(since, now]` after its last scheduled run.
fn due(job: &CronJob, last: &HashMap<String, i64>, since: i64, now: i64) -> Option<i64> {
    if job.suspended {
        return None;
    }
    let mut from = since.max(now - CATCH_UP_SECS);
    if let Some(&ran) = last.get(&job.id) {
        from = from.max(ran);
    }
    let mut slot = None;
    while let Some(next) = job.schedule.next_after(from).filter(|&t| t <= now) {
        slot = Some(next);
        from = next;
    }
    slot
}

async fn scheduled_run(
    p: &Platform,
    app: &AppRow,
    version: i64,
    job: &CronJob,
    slot: i64,
) -> Result<(), OpsError> {
    let (app_id, job_id) = (app.id, job.id.clone());
    let claim = p
        .store
        .write(move |db| {
            db.claim_cron_run(NewCronRun {
                app_id,
                job_id: &job_id,
                release_version: version,
                trigger: "schedule",
                scheduled_for: Some(slot),
            })
        })
        .await?;
    match claim {
        CronClaim::Claimed(run) => start(p, app, version, job, &run).await,
        CronClaim::Busy(running) => {
            p.logs.platform(
                app.name.as_str(),
                "cron",
                format!(
                    "cron[{}] is still running (run {} started {}); skipped its run due at {}",
                    job.id,
                    running.id,
                    running.started_at,
                    Timestamp(slot)
                ),
            );
            Ok(())
        }
        CronClaim::AlreadyRan => Ok(()),
    }
}

/// Starts the claimed run's process and records its end when it exits; a run that could
/// not start is recorded as ended with the reason.
async fn start(
    p: &Platform,
    app: &AppRow,
    version: i64,
    job: &CronJob,
    run: &CronRunRow,
) -> Result<(), OpsError> {
    let name = app.name.as_str();
    match p
        .scheduler
        .start_cron(app, &job.id, run.id, &job.command)
        .await
    {
        Ok(process) => {
            p.logs.platform(
                name,
                "cron",
                format!(
                    "starting cron[{}] as {} (v{version}): {}",
                    job.id, process.dyno, job.command
                ),
            );
            record_end(p, name, &job.id, run.id, process);
            Ok(())
        }
        Err(e) => {
            let note = format!("could not start: {e}");
            finish(p, run.id, None, Some(note)).await?;
            Err(e.into())
        }
    }
}

/// Waits (on its own task) for the run's exit and records it; a stopping server records
/// nothing, and the next one follows the run again.
fn record_end(p: &Platform, app: &str, job: &str, run: i64, process: CronProcess) {
    let (p, app, job) = (p.clone(), app.to_owned(), job.to_owned());
    tokio::spawn(async move {
        let Ok(code) = process.exit.await else {
            return;
        };
        let outcome = code.map_or("no exit code".to_owned(), |c| c.to_string());
        p.logs.platform(
            &app,
            "cron",
            format!("cron[{job}] ({}) exited with {outcome}", process.dyno),
        );
        let note = code
            .is_none()
            .then(|| "the engine reported no exit code".to_owned());
        if let Err(e) = finish(&p, run, code, note).await {
            tracing::warn!(app, job, run, error = %e, "cannot record the end of a cron run");
        }
    });
}

async fn finish(
    p: &Platform,
    run: i64,
    code: Option<i64>,
    note: Option<String>,
) -> Result<(), OpsError> {
    p.store
        .write(move |db| db.finish_cron_run(run, code, note.as_deref(), KEEP_RUNS))
        .await
        .map_err(OpsError::from)
}

/// After a restart: follows each unfinished run whose process is still there (or reads
/// how it ended), records those whose process is gone, and removes cron processes no
/// run knows of.
async fn resume(p: &Platform) {
    let unfinished = p.store.read(|db| db.unfinished_cron_runs()).await;
    let instances = p.scheduler.cron_processes().await;
    let (unfinished, mut instances) = match (unfinished, instances) {
        (Ok(u), Ok(i)) => (u, i),
        (Err(e), _) => return tracing::warn!(error = %e, "cannot read unfinished cron runs"),
        (_, Err(e)) => return tracing::warn!(error = %e, "cannot list cron processes"),
    };
    for (run, app) in unfinished {
        let found = instances
            .iter()
            .position(|i| i.app == app && i.run == run.id);
        let Some(found) = found else {
            let note = "its process was gone when the server started again".to_owned();
            if let Err(e) = finish(p, run.id, None, Some(note)).await {
                tracing::warn!(error = %e, "cannot record a lost cron run");
            }
            continue;
        };
        let instance = instances.swap_remove(found);
        let process = p.scheduler.resume_cron(&instance, &run.job_id).await;
        if instance.running {
            p.logs.platform(
                &app,
                "cron",
                format!(
                    "cron[{}] ({}) still runs after a server restart; following it",
                    run.job_id, process.dyno
                ),
            );
        }
        record_end(p, &app, &run.job_id, run.id, process);
    }
    for leftover in instances {
        if let Err(e) = p.scheduler.remove_cron(&leftover).await {
            tracing::warn!(app = leftover.app, error = %e, "cannot remove a cron process");
        }
    }
}

/// The current release's version and jobs; None when nothing is deployed. Jobs were
/// checked when the build read app.json, so a job that no longer parses is skipped.
fn current_jobs(db: &Db<'_>, app: &AppRow) -> Result<Option<(i64, Vec<CronJob>)>, StoreError> {
    let Some(release) = db.current_release(app.id)? else {
        return Ok(None);
    };
    let Some(build) = release
        .build_id
        .map(|id| db.build(id))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let jobs = build.app_json.cron_jobs().unwrap_or_else(|e| {
        tracing::warn!(app = %app.name, error = %e, "cron jobs of the current release skipped");
        Vec::new()
    });
    Ok(Some((release.version, jobs)))
}

fn run_info(run: &CronRunRow) -> CronRunInfo {
    CronRunInfo {
        id: run.id,
        job: run.job_id.clone(),
        trigger: run.trigger.clone(),
        release: run.release_version,
        scheduled_for: run.scheduled_for.map(Timestamp::rfc3339),
        started_at: run.started_at.rfc3339(),
        finished_at: run.finished_at.map(Timestamp::rfc3339),
        exit_code: run.exit_code,
        note: run.note.clone(),
    }
}

/// A little past the next whole minute of the clock.
fn until_next_minute() -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into = u64::try_from(now.as_millis() % 60_000).unwrap_or(0);
    Duration::from_millis(60_000 - into + 250)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_due_once_and_only_within_the_window() {
        let job = CronJob::new(0, "true", "*/5 * * * *").unwrap();
        let mut last = HashMap::new();
        // 14:25:00 falls in (14:24:30, 14:25:01].
        let t = 1_796_135_100;
        assert_eq!(due(&job, &last, t - 30, t + 1), Some(t));
        assert_eq!(due(&job, &last, t + 1, t + 61), None);
        // A restart 50 s late still runs it, once.
        assert_eq!(due(&job, &last, t + 50 - CATCH_UP_SECS, t + 50), Some(t));
        last.insert(job.id.clone(), t);
        assert_eq!(due(&job, &last, t + 50 - CATCH_UP_SECS, t + 50), None);
        // Missed by longer than the catch-up: not run late.
        assert_eq!(due(&job, &HashMap::new(), t - 600, t + 90), None);
        // In maintenance: never due.
        let suspended = CronJob {
            suspended: true,
            ..job
        };
        assert_eq!(due(&suspended, &HashMap::new(), t - 30, t + 1), None);
    }
}
