//! `reviewapps`, `reviewapps:enable [--pattern P] [--copy-addons] [--expire-days N]`,
//! `reviewapps:disable`: a pushed branch becomes its own app.

use anyhow::{Context, Result};
use clap::Subcommand;
use reqwest::Method;

use crate::wire::{ReviewAppSettings, ReviewApps};

use super::{Ctx, app_path, output};

#[derive(Subcommand)]
pub enum ReviewAppsCommand {
    /// List the app's review apps: name, branch, URL, last push
    Reviewapps,
    /// Deploy each pushed branch matching the pattern (git push paas feature/x) to its own app APP-BRANCH
    #[command(name = "reviewapps:enable")]
    ReviewappsEnable {
        /// A glob on branch names, e.g. 'feature/*' [default: any branch but the deploy branch]
        #[arg(long)]
        pattern: Option<String>,
        /// Give each review app its own copy of the app's add-ons (Postgres from the latest backup)
        #[arg(long)]
        copy_addons: bool,
        /// Destroy a review app after this many days without a push [default: 5]
        #[arg(long)]
        expire_days: Option<u32>,
    },
    /// Make no new review apps (existing ones stay until their branch is deleted or they expire)
    #[command(name = "reviewapps:disable")]
    ReviewappsDisable,
}

pub async fn run(ctx: &Ctx, command: ReviewAppsCommand) -> Result<()> {
    let app = ctx.app()?;
    let path = format!("{}/reviewapps", app_path(&app));
    let (method, body) = match command {
        ReviewAppsCommand::Reviewapps => (Method::GET, None),
        ReviewAppsCommand::ReviewappsEnable {
            pattern,
            copy_addons,
            expire_days,
        } => (
            Method::PUT,
            Some(ReviewAppSettings {
                enabled: true,
                pattern,
                copy_addons,
                expire_days,
            }),
        ),
        ReviewAppsCommand::ReviewappsDisable => (Method::DELETE, None),
    };
    let answer: ReviewApps = ctx
        .client
        .request(method, &path, body.as_ref())
        .await?
        .json()
        .await
        .context("unexpected answer from the server")?;
    if ctx.json {
        return output::json(&answer);
    }
    print(&app, &answer);
    Ok(())
}

fn print(app: &str, answer: &ReviewApps) {
    match &answer.settings {
        Some(s) if s.enabled => println!(
            "review apps are on for {app}: branches matching {}{}, destroyed after {} days without a push",
            s.pattern.as_deref().unwrap_or("*"),
            if s.copy_addons {
                ", with copies of its add-ons"
            } else {
                ""
            },
            s.expire_days.unwrap_or(5)
        ),
        _ => println!("review apps are off for {app}"),
    }
    if answer.apps.is_empty() {
        println!("no review apps");
        return;
    }
    let rows: Vec<Vec<String>> = answer
        .apps
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.branch.clone(),
                r.web_url.clone(),
                r.last_push_at.clone(),
            ]
        })
        .collect();
    output::table(&["NAME", "BRANCH", "URL", "LAST PUSH"], &rows);
}
