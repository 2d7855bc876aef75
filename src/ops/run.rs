//! One-off processes (`paas run`): admin tasks in a fresh container of the current release.

use crate::domain::{AppName, Invalid};
use crate::store::{AppRow, NewEvent};
use crate::wire::TermSize;

use super::deploy::{OutputSink, RunSession};
use super::{Actor, OpsError, Platform};

/// Starts `command`; with `output` it waits and returns the exit code.
pub async fn run(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    command: &str,
    output: Option<OutputSink>,
) -> Result<(String, Option<i64>), OpsError> {
    let app = record(p, actor, name, command).await?;
    Ok(p.deployer.run(&app, command, output).await?)
}

/// Starts `command` with its stdin and output handed to the caller, with a terminal of
/// `terminal`'s size if given.
pub async fn attach(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    command: &str,
    terminal: Option<TermSize>,
) -> Result<RunSession, OpsError> {
    let app = record(p, actor, name, command).await?;
    Ok(p.deployer.attach(&app, command, terminal).await?)
}

/// Checks the command and the actor's access, and records who ran what.
async fn record(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    command: &str,
) -> Result<AppRow, OpsError> {
    if command.trim().is_empty() {
        return Err(OpsError::Invalid(Invalid::new(
            "give a command to run, e.g. paas run python manage.py migrate",
        )));
    }
    let app = super::apps::find(p, actor, name).await?;
    let (actor_name, app_name, what) = (
        actor.name().to_owned(),
        app.name.to_string(),
        command.to_owned(),
    );
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_name),
                action: "run",
                detail: &format!("ran {what}"),
            })
            .map_err(OpsError::from)
        })
        .await?;
    Ok(app)
}
