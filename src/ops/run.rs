//! One-off processes (`paas run`): admin tasks in a fresh container of the current release.
//! The audit trail records the program and how many arguments it got, never their values
//! (`paas run env SECRET=... cmd` must not put the secret in `paas events`).

use crate::domain::{AddonKind, AppName, Invalid};
use crate::store::{AppRow, NewEvent};
use crate::wire::{AddonClient, TermSize};

use super::{Actor, OpsError, Platform};
use crate::scheduler::{OneOffOutput as OutputSink, RunSession, ToolRun};

/// Starts `command`; with `output` it waits and returns the exit code.
pub async fn run(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    command: &str,
    output: Option<OutputSink>,
) -> Result<(String, Option<i64>), OpsError> {
    let app = record(p, actor, name, command).await?;
    Ok(p.scheduler.run(&app, command, output).await?)
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
    Ok(p.scheduler.attach(&app, command, terminal).await?)
}

/// Starts the client of one of the app's add-ons (psql, redis-cli) attached to the
/// caller, with the add-on's password in its environment.
pub async fn attach_addon(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    client: &AddonClient,
    terminal: Option<TermSize>,
) -> Result<RunSession, OpsError> {
    let kind = AddonKind::parse(&client.kind)?;
    let (app, addon) = super::addons::of_app(p, actor, name, kind, client.name.as_deref()).await?;
    let image = p
        .builder
        .addon_image(kind, &super::Progress::silent())
        .await
        .map_err(|e| OpsError::Build(e.to_string()))?;
    let host = addon.name.to_string();
    let (label, argv, secret) = match kind {
        AddonKind::Postgres => (
            "psql",
            vec!["psql", "-h", &host, "-U", "paas", "-d", "paas"],
            "PGPASSWORD",
        ),
        AddonKind::Redis => ("redis-cli", vec!["redis-cli", "-h", &host], "REDISCLI_AUTH"),
    };
    let tool = ToolRun {
        image,
        label: label.to_owned(),
        argv: argv.into_iter().map(str::to_owned).collect(),
        env: [(secret.to_owned(), addon.password.clone())].into(),
        shown: format!("{label} on {host}"),
    };
    let (actor_name, app_name) = (actor.name().to_owned(), app.name.to_string());
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_name),
                action: "run",
                detail: &format!("ran {label} on {host}"),
            })
            .map_err(OpsError::from)
        })
        .await?;
    Ok(p.scheduler.attach_tool(&app, tool, terminal).await?)
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
        audit_summary(command),
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

/// What the audit trail says was run: the program's name and the number of words after
/// it. Leading `NAME=value` assignments are counted, never shown.
fn audit_summary(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let assignments = words
        .iter()
        .take_while(|w| w.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
        .count();
    let Some(program) = words.get(assignments) else {
        return format!("a command of {} words", words.len());
    };
    let program: String = program
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let arguments = words.len() - assignments - 1;
    let mut summary = match arguments {
        0 => program,
        1 => format!("{program} with 1 argument"),
        n => format!("{program} with {n} arguments"),
    };
    match assignments {
        0 => {}
        1 => summary.push_str(" (1 variable set)"),
        n => summary.push_str(&format!(" ({n} variables set)")),
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::audit_summary;

    #[test]
    fn the_audit_trail_names_the_program_and_counts_its_arguments() {
        assert_eq!(audit_summary("bash"), "bash");
        assert_eq!(
            audit_summary("python manage.py migrate"),
            "python with 2 arguments"
        );
        assert_eq!(
            audit_summary("API_KEY=s3cret ./deploy.sh --token=hunter2"),
            "./deploy.sh with 1 argument (1 variable set)"
        );
        assert_eq!(audit_summary("A=1 B=2"), "a command of 2 words");
        for summary in [
            audit_summary("API_KEY=s3cret run"),
            audit_summary("curl -H 'Authorization: hunter2' x"),
        ] {
            assert!(!summary.contains("s3cret") && !summary.contains("hunter2"));
        }
    }
}
