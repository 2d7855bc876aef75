//! Runs of app.json's cron jobs: one row per run (scheduled or `cron:run`), with its
//! release, start, end and exit code. A job has at most one unfinished run; history is
//! kept for the last runs of each job only.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError};
use crate::domain::Timestamp;

#[derive(Debug, Clone)]
pub struct CronRunRow {
    pub id: i64,
    pub app_id: i64,
    pub job_id: String,
    pub release_version: i64,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The schedule's time this run is for (scheduled runs only).
    pub scheduled_for: Option<Timestamp>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i64>,
    /// Why a run ended without an exit code.
    pub note: Option<String>,
}

pub struct NewCronRun<'a> {
    pub app_id: i64,
    pub job_id: &'a str,
    pub release_version: i64,
    pub trigger: &'a str,
    pub scheduled_for: Option<i64>,
}

/// What `claim_cron_run` did.
#[derive(Debug)]
pub enum CronClaim {
    /// The run was recorded: start it.
    Claimed(CronRunRow),
    /// The job is still running: no second run.
    Busy(CronRunRow),
    /// This time of the schedule already had its run (a restarted server's second look).
    AlreadyRan,
}

const SELECT: &str = "SELECT id, app_id, job_id, release_version, trigger, scheduled_for,
                             started_at, finished_at, exit_code, note FROM cron_runs";

fn from_row(r: &Row<'_>) -> rusqlite::Result<CronRunRow> {
    Ok(CronRunRow {
        id: r.get(0)?,
        app_id: r.get(1)?,
        job_id: r.get(2)?,
        release_version: r.get(3)?,
        trigger: r.get(4)?,
        scheduled_for: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        started_at: Timestamp(r.get(6)?),
        finished_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        exit_code: r.get(8)?,
        note: r.get(9)?,
    })
}

impl Db<'_> {
    /// Records a run of the job unless one is still going or this time of the schedule
    /// already had one. Call it in a write transaction: the check and the insert are one.
    pub fn claim_cron_run(&self, run: NewCronRun<'_>) -> Result<CronClaim, StoreError> {
        let running = self
            .conn
            .query_row(
                &format!("{SELECT} WHERE app_id = ?1 AND job_id = ?2 AND finished_at IS NULL"),
                params![run.app_id, run.job_id],
                from_row,
            )
            .optional()?;
        if let Some(running) = running {
            return Ok(CronClaim::Busy(running));
        }
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO cron_runs (app_id, job_id, release_version, trigger, scheduled_for, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run.app_id,
                run.job_id,
                run.release_version,
                run.trigger,
                run.scheduled_for,
                Timestamp::now().0
            ],
        )?;
        if inserted == 0 {
            return Ok(CronClaim::AlreadyRan);
        }
        let id = self.conn.last_insert_rowid();
        let row = self
            .conn
            .query_row(&format!("{SELECT} WHERE id = ?1"), params![id], from_row)?;
        Ok(CronClaim::Claimed(row))
    }

    /// Ends a run with its exit code (or, without one, the reason), then keeps only the
    /// newest `keep` runs of its job.
    pub fn finish_cron_run(
        &self,
        id: i64,
        exit_code: Option<i64>,
        note: Option<&str>,
        keep: usize,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE cron_runs SET finished_at = ?2, exit_code = ?3, note = ?4 WHERE id = ?1",
            params![id, Timestamp::now().0, exit_code, note],
        )?;
        self.conn.execute(
            "DELETE FROM cron_runs WHERE id IN (
                 SELECT old.id FROM cron_runs old JOIN cron_runs run ON run.id = ?1
                 WHERE old.app_id = run.app_id AND old.job_id = run.job_id
                   AND old.finished_at IS NOT NULL
                 ORDER BY old.id DESC LIMIT -1 OFFSET ?2)",
            params![id, keep as i64],
        )?;
        Ok(())
    }

    /// The app's runs, newest first.
    pub fn cron_runs(&self, app_id: i64) -> Result<Vec<CronRunRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT} WHERE app_id = ?1 ORDER BY id DESC"))?;
        let rows = stmt.query_map(params![app_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs a dead server left going, with their app's name.
    pub fn unfinished_cron_runs(&self) -> Result<Vec<(CronRunRow, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.app_id, r.job_id, r.release_version, r.trigger, r.scheduled_for,
                    r.started_at, r.finished_at, r.exit_code, r.note, a.name
             FROM cron_runs r JOIN apps a ON a.id = r.app_id
             WHERE r.finished_at IS NULL ORDER BY r.id",
        )?;
        let rows = stmt.query_map([], |r| Ok((from_row(r)?, r.get::<_, String>(10)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The jobs the app has runs of.
    pub fn cron_run_jobs(&self, app_id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT job_id FROM cron_runs WHERE app_id = ?1")?;
        let rows = stmt.query_map(params![app_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets the ended runs of a job the app no longer has.
    pub fn forget_cron_job(&self, app_id: i64, job_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM cron_runs WHERE app_id = ?1 AND job_id = ?2 AND finished_at IS NOT NULL",
            params![app_id, job_id],
        )?;
        Ok(())
    }

    /// The newest time of the schedule that had a run, per job of the app.
    pub fn last_scheduled_cron_runs(
        &self,
        app_id: i64,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT job_id, MAX(scheduled_for) FROM cron_runs
             WHERE app_id = ?1 AND scheduled_for IS NOT NULL GROUP BY job_id",
        )?;
        let rows = stmt.query_map(params![app_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppName;

    #[tokio::test]
    async fn a_job_runs_once_at_a_time_once_per_time_and_keeps_its_last_runs() {
        let store = crate::store::open_in_memory();
        store
            .write(|db| {
                let owner = db.insert_user("alice", None, false)?;
                let app = db.insert_app(&AppName::parse("a").unwrap(), &owner)?;
                let run = |at: Option<i64>| NewCronRun {
                    app_id: app.id,
                    job_id: "0123456789",
                    release_version: 2,
                    trigger: if at.is_some() { "schedule" } else { "manual" },
                    scheduled_for: at,
                };
                let CronClaim::Claimed(first) = db.claim_cron_run(run(Some(60)))? else {
                    panic!("the first run is claimed");
                };
                assert!(matches!(db.claim_cron_run(run(Some(120)))?, CronClaim::Busy(r) if r.id == first.id));
                assert!(matches!(db.claim_cron_run(run(None))?, CronClaim::Busy(_)));
                assert_eq!(db.unfinished_cron_runs()?.len(), 1);
                db.finish_cron_run(first.id, Some(0), None, 3)?;
                assert!(matches!(db.claim_cron_run(run(Some(60)))?, CronClaim::AlreadyRan));
                for at in [120, 180, 240, 300] {
                    let CronClaim::Claimed(r) = db.claim_cron_run(run(Some(at)))? else {
                        panic!("run at {at} is claimed");
                    };
                    db.finish_cron_run(r.id, Some(1), None, 3)?;
                }
                let runs = db.cron_runs(app.id)?;
                assert_eq!(runs.len(), 3);
                assert_eq!(runs[0].scheduled_for, Some(Timestamp(300)));
                assert_eq!(runs[0].exit_code, Some(1));
                assert_eq!(db.last_scheduled_cron_runs(app.id)?["0123456789"], 300);
                assert!(db.unfinished_cron_runs()?.is_empty());
                assert_eq!(db.cron_run_jobs(app.id)?, ["0123456789"]);
                db.forget_cron_job(app.id, "0123456789")?;
                assert!(db.cron_runs(app.id)?.is_empty());
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
}
