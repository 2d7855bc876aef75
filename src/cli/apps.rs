//! `apps`, `apps:create`, `apps:info`, `apps:destroy`, `git:remote`.

use anyhow::{Result, bail};
use reqwest::Method;

use crate::wire::{AppInfo, CreateApp, UpdateApp};

use super::{Ctx, app_path, git_remote, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let apps: Vec<AppInfo> = ctx.client.get("/api/v1/apps").await?;
    if ctx.json {
        return output::json(&apps);
    }
    if apps.is_empty() {
        println!("You have no apps; create one with paas apps:create NAME");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = apps
        .into_iter()
        .map(|a| {
            vec![
                a.name,
                a.owner,
                a.current_release.map_or("-".into(), |v| format!("v{v}")),
                a.web_url,
            ]
        })
        .collect();
    output::table(&["NAME", "OWNER", "RELEASE", "URL"], &rows);
    Ok(())
}

pub async fn create(ctx: &Ctx, name: &str) -> Result<()> {
    output::begin(&format!("Creating {name}"));
    let app: AppInfo = ctx
        .client
        .post(
            "/api/v1/apps",
            &CreateApp {
                name: name.to_owned(),
            },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    let git_url = git_remote::remote_url(ctx.client.url(), &app.name);
    println!("{} | {git_url}", app.web_url);
    if git_remote::in_git_repo() {
        if git_remote::app_from_remote().is_some() {
            println!(
                "Git remote {} exists already; point it here with paas git:remote -a {name}",
                git_remote::REMOTE
            );
        } else {
            git_remote::set_remote(&git_url)?;
            println!("Git remote {} added", git_remote::REMOTE);
        }
    }
    Ok(())
}

pub async fn info(ctx: &Ctx, name: Option<String>) -> Result<()> {
    let name = match name {
        Some(name) => name,
        None => ctx.app()?,
    };
    let app: AppInfo = ctx.client.get(&app_path(&name)).await?;
    if ctx.json {
        return output::json(&app);
    }
    output::heading(&app.name);
    let release = app
        .current_release
        .map_or("none".into(), |v| format!("v{v}"));
    let git_url = git_remote::remote_url(ctx.client.url(), &app.name);
    let domains = app.domains.join(", ");
    let members = app.members.join(", ");
    output::key_values([
        ("Web URL", app.web_url.as_str()),
        ("Git URL", git_url.as_str()),
        ("Owner", app.owner.as_str()),
        ("Members", members.as_str()),
        ("Release", release.as_str()),
        ("Deploy branch", app.deploy_branch.as_str()),
        ("Domains", domains.as_str()),
        ("Created", app.created_at.as_str()),
    ]);
    Ok(())
}

pub async fn destroy(ctx: &Ctx, name: Option<String>, confirm: Option<String>) -> Result<()> {
    let name = match name {
        Some(name) => name,
        None => ctx.app()?,
    };
    let Some(confirm) = confirm else {
        bail!(
            "this deletes {name} for good; to proceed run paas apps:destroy {name} --confirm {name}"
        );
    };
    output::begin(&format!(
        "Destroying {name} (including all its releases and processes)"
    ));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!("{}?confirm={confirm}", app_path(&name)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

pub async fn git_remote(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let info: AppInfo = ctx.client.get(&app_path(&app)).await?;
    if !git_remote::in_git_repo() {
        bail!("not inside a git repository; cd into your app's clone first");
    }
    let url = git_remote::remote_url(ctx.client.url(), &info.name);
    git_remote::set_remote(&url)?;
    println!("Git remote {} set to {url}", git_remote::REMOTE);
    Ok(())
}

/// `git:deploy-branch [BRANCH]`: show or set the branch whose pushes deploy.
pub async fn deploy_branch(ctx: &Ctx, branch: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let Some(branch) = branch else {
        let info: AppInfo = ctx.client.get(&app_path(&app)).await?;
        println!("{}", info.deploy_branch);
        return Ok(());
    };
    output::begin(&format!("Setting the deploy branch of {app} to {branch}"));
    let info: AppInfo = ctx
        .client
        .patch(
            &app_path(&app),
            &UpdateApp {
                maintenance: None,
                deploy_branch: Some(branch),
            },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    println!(
        "Deploy with: git push {} HEAD:{}",
        git_remote::REMOTE,
        info.deploy_branch
    );
    Ok(())
}

/// `maintenance`, `maintenance:on`, `maintenance:off`.
pub async fn maintenance(ctx: &Ctx, set: Option<bool>) -> Result<()> {
    let app = ctx.app()?;
    let Some(on) = set else {
        let info: AppInfo = ctx.client.get(&app_path(&app)).await?;
        println!("{}", if info.maintenance { "on" } else { "off" });
        return Ok(());
    };
    let word = if on { "Enabling" } else { "Disabling" };
    output::begin(&format!("{word} maintenance mode for {app}"));
    ctx.client
        .patch::<_, AppInfo>(
            &app_path(&app),
            &UpdateApp {
                maintenance: Some(on),
                deploy_branch: None,
            },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
