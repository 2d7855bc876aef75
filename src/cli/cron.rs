//! `cron` (the app's app.json cron jobs: ID, schedule, next run, last run, exit code,
//! command) and `cron:run ID`.

use anyhow::Result;

use crate::wire::{CronJobInfo, CronRunInfo};

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let jobs: Vec<CronJobInfo> = ctx.client.get(&format!("{}/cron", app_path(&app))).await?;
    if ctx.json {
        return output::json(&jobs);
    }
    output::heading(&format!("{app} Cron jobs"));
    if jobs.is_empty() {
        println!(
            "No cron jobs: add them to app.json, e.g. \"cron\": [{{\"command\": \"python tick.py\", \"schedule\": \"*/5 * * * *\"}}]"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = jobs
        .into_iter()
        .map(|job| {
            let (last, exit) = match &job.last_run {
                None => ("-".to_owned(), "-".to_owned()),
                Some(run) => (run.started_at.clone(), exit_of(run)),
            };
            vec![
                job.id,
                job.schedule,
                match (job.suspended, job.next_run) {
                    (true, _) => "in maintenance".to_owned(),
                    (false, Some(next)) => next,
                    (false, None) => "never".to_owned(),
                },
                last,
                exit,
                job.command,
            ]
        })
        .collect();
    output::table(
        &["ID", "SCHEDULE", "NEXT RUN", "LAST RUN", "EXIT", "COMMAND"],
        &rows,
    );
    Ok(())
}

fn exit_of(run: &CronRunInfo) -> String {
    match (run.exit_code, &run.finished_at) {
        (Some(code), _) => code.to_string(),
        (None, None) => "running".to_owned(),
        (None, Some(_)) => "none".to_owned(),
    }
}

pub async fn run(ctx: &Ctx, id: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Running cron[{id}] on {app}"));
    let run: CronRunInfo = ctx
        .client
        .post(&format!("{}/cron/{id}/run", app_path(&app)), &())
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done, run {} (v{})", run.id, run.release);
    println!("Its output: paas logs --source cron -a {app}");
    Ok(())
}
