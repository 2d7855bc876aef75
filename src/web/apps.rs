//! The apps dashboard, creating an app, its overview page, and its settings page with
//! members and the danger zone (destroy).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use serde::Deserialize;

use crate::domain::{AppName, BranchName};
use crate::ops::{self, Actor, OpsError, Platform};
use crate::wire::{AppInfo, FormationEntry, ProcessInfo, ReleaseInfo};

use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Badge, Layout, Nav, When, short_sha};

/// The name and links every app page shows above its tabs.
#[derive(Debug, Clone)]
pub struct AppHead {
    pub name: String,
    pub web_url: String,
    pub release: Option<i64>,
    /// The parent, for a review app.
    pub parent: Option<String>,
    /// The tab shown: overview, releases, config, scale, domains, https, addons, builds, logs,
    /// activity, settings.
    pub tab: &'static str,
}

impl AppHead {
    pub fn current(&self, tab: &str) -> &'static str {
        if self.tab == tab { "page" } else { "false" }
    }
}

/// `{app}` from the path: a name that cannot exist is simply not found.
pub fn parse_name(raw: &str) -> Result<AppName, WebError> {
    AppName::parse(raw)
        .map_err(|_| WebError::NotFound(format!("there is no app \"{raw}\"; see the apps list")))
}

/// The app as the signed-in user may see it (404 otherwise), with its page head.
pub async fn load(
    p: &Platform,
    actor: &Actor,
    raw: &str,
    tab: &'static str,
) -> Result<(AppName, AppInfo, AppHead), WebError> {
    let name = parse_name(raw)?;
    let info = ops::apps::info(p, actor, &name).await?;
    let head = AppHead {
        name: info.name.clone(),
        web_url: info.web_url.clone(),
        release: info.current_release,
        parent: info.review_app_of.clone(),
        tab,
    };
    Ok((name, info, head))
}

/// How an app is doing, in a word: from its releases, formation and processes.
pub struct Health {
    pub badge: Badge,
    pub up: usize,
    pub desired: u32,
}

pub fn health(
    releases: &[ReleaseInfo],
    formation: &[FormationEntry],
    processes: &[ProcessInfo],
) -> Health {
    let desired: u32 = formation.iter().map(|f| f.quantity).sum();
    let up = processes.iter().filter(|p| p.state == "up").count();
    let crashed = processes.iter().filter(|p| p.state == "crashed").count();
    let deployed = releases.iter().any(|r| r.build_id.is_some());
    let newest = releases.first().map(|r| r.state.as_str());
    let badge = if newest == Some("pending") {
        Badge::new("deploying", "busy")
    } else if !deployed {
        Badge::new("not deployed yet", "idle")
    } else if newest == Some("failed") {
        Badge::new("last deploy failed", "bad")
    } else if crashed > 0 {
        Badge::new(format!("{crashed} crashed"), "bad")
    } else if desired == 0 {
        Badge::new("scaled to zero", "idle")
    } else if up >= desired as usize {
        Badge::new("running", "ok")
    } else {
        Badge::new("starting", "busy")
    };
    Health { badge, up, desired }
}

/// A release in one line: `v5 Deploy 1a2b3c4 by admin, 5 minutes ago`.
pub struct ReleaseLine {
    pub version: i64,
    pub description: String,
    pub author: String,
    pub when: When,
    pub state: Badge,
    pub commit: Option<String>,
}

impl ReleaseLine {
    pub fn of(r: &ReleaseInfo) -> ReleaseLine {
        ReleaseLine {
            version: r.version,
            description: r.description.clone(),
            author: r.author.clone(),
            when: When::parse(&r.created_at),
            state: Badge::state(&r.state),
            commit: r.commit.as_deref().map(short_sha),
        }
    }
}

struct AppSummary {
    name: String,
    web_url: String,
    health: Health,
    current: Option<i64>,
    last_deploy: Option<ReleaseLine>,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct Dashboard {
    layout: Layout,
    apps: Vec<AppSummary>,
}

pub async fn dashboard(State(p): State<Platform>, mut ctx: Ctx) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let mut apps = Vec::new();
    for info in ops::apps::list(&p, &actor).await? {
        let name = parse_name(&info.name)?;
        let releases = ops::releases::list(&p, &actor, &name).await?;
        let formation = ops::ps::formation(&p, &actor, &name).await?;
        let processes = ops::ps::processes(&p, &actor, &name).await?;
        apps.push(AppSummary {
            health: health(&releases, &formation, &processes),
            last_deploy: releases
                .iter()
                .find(|r| r.build_id.is_some() && r.description.starts_with("Deploy"))
                .map(ReleaseLine::of),
            current: info.current_release,
            web_url: info.web_url,
            name: info.name,
        });
    }
    let layout = ctx.layout(Nav::Apps, "Apps");
    Ok(ctx.page(Dashboard { layout, apps }))
}

pub async fn to_dashboard() -> Redirect {
    Redirect::to("/")
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(p): State<Platform>,
    Posted(ctx, form): Posted<CreateForm>,
) -> Result<Response, WebError> {
    let name = form.name.trim().to_ascii_lowercase();
    match ops::apps::create(&p, ctx.actor(), &name).await {
        Ok(app) => Ok(ctx.redirect(
            &format!("/apps/{}", app.name),
            Flash::notice(format!(
                "created {}; deploy it with the two git commands below",
                app.name
            )),
        )),
        Err(e) => ctx.finish("/", Err(e)),
    }
}

/// One process type and its instances.
struct ProcessGroup {
    process_type: String,
    command: Option<String>,
    quantity: u32,
    up: usize,
    instances: Vec<Instance>,
}

struct Instance {
    dyno: String,
    state: Badge,
    release: i64,
    since: Option<When>,
    restarts: u32,
    exit_code: Option<i64>,
}

/// One app.json cron job on the overview.
struct CronLine {
    id: String,
    schedule: String,
    command: String,
    next: Option<When>,
    suspended: bool,
    last: Option<When>,
    /// `running`, `exit 0`, `exit 1`, `no exit code`.
    outcome: Option<Badge>,
}

impl CronLine {
    fn of(job: crate::wire::CronJobInfo) -> CronLine {
        let outcome = job.last_run.as_ref().map(|run| match run.exit_code {
            Some(0) => Badge::new("exit 0", "ok"),
            Some(code) => Badge::new(format!("exit {code}"), "bad"),
            None if run.finished_at.is_none() => Badge::new("running", "busy"),
            None => Badge::new("no exit code", "bad"),
        });
        CronLine {
            next: job.next_run.as_deref().map(When::parse),
            suspended: job.suspended,
            last: job.last_run.as_ref().map(|r| When::parse(&r.started_at)),
            outcome,
            id: job.id,
            schedule: job.schedule,
            command: job.command,
        }
    }
}

#[derive(Template)]
#[template(path = "app_overview.html")]
struct Overview {
    layout: Layout,
    app: AppHead,
    health: Health,
    domains: Vec<String>,
    domain_port: String,
    current: Option<ReleaseLine>,
    deployed: bool,
    latest_build: Option<(i64, Badge, When)>,
    groups: Vec<ProcessGroup>,
    cron: Vec<CronLine>,
    review_apps: Vec<crate::wire::ReviewAppInfo>,
    git_url: String,
    branch: String,
    base_url: String,
}

pub async fn overview(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, info, head) = load(&p, &actor, &app, "overview").await?;
    let releases = ops::releases::list(&p, &actor, &name).await?;
    let formation = ops::ps::formation(&p, &actor, &name).await?;
    let processes = ops::ps::processes(&p, &actor, &name).await?;
    let latest_build = ops::builds::list(&p, &actor, &name)
        .await?
        .into_iter()
        .next()
        .map(|b| (b.id, Badge::state(&b.state), When::parse(&b.created_at)));
    let groups = group_processes(&formation, &processes);
    let cron = ops::cron::list(&p, &actor, &name)
        .await?
        .into_iter()
        .map(CronLine::of)
        .collect();
    let review_apps = ops::reviewapps::list(&p, &actor, &name).await?.apps;
    let port = p.settings.http_addr.port();
    let page = Overview {
        layout: ctx.layout(Nav::Apps, info.name.clone()),
        health: health(&releases, &formation, &processes),
        deployed: releases.iter().any(|r| r.build_id.is_some()),
        current: releases.iter().find(|r| r.current).map(ReleaseLine::of),
        latest_build,
        groups,
        cron,
        review_apps,
        domains: info.domains,
        domain_port: if port == 80 {
            String::new()
        } else {
            format!(":{port}")
        },
        git_url: format!("{}/{}.git", ctx.client.base_url, info.name),
        branch: info.deploy_branch,
        base_url: ctx.client.base_url.clone(),
        app: head,
    };
    Ok(ctx.page(page))
}

fn group_processes(formation: &[FormationEntry], processes: &[ProcessInfo]) -> Vec<ProcessGroup> {
    let mut types: Vec<&str> = formation.iter().map(|f| f.process_type.as_str()).collect();
    types.extend(processes.iter().map(|p| p.process_type.as_str()));
    types.sort_unstable();
    types.dedup();
    types
        .into_iter()
        .map(|t| {
            let entry = formation.iter().find(|f| f.process_type == t);
            let mut instances: Vec<Instance> = processes
                .iter()
                .filter(|p| p.process_type == t)
                .map(|p| Instance {
                    dyno: p.dyno.clone(),
                    state: Badge::state(&p.state),
                    release: p.release,
                    since: p.started_at.as_deref().map(When::parse),
                    restarts: p.restarts,
                    exit_code: p.exit_code,
                })
                .collect();
            instances.sort_by(|a, b| a.dyno.cmp(&b.dyno));
            ProcessGroup {
                process_type: t.to_owned(),
                command: entry.and_then(|e| e.command.clone()),
                quantity: entry.map_or(0, |e| e.quantity),
                up: instances.iter().filter(|i| i.state.word == "up").count(),
                instances,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "app_settings.html")]
struct Settings {
    layout: Layout,
    app: AppHead,
    owner: String,
    members: Vec<String>,
    created: When,
    branch: String,
    git_url: String,
    can_manage: bool,
    maintenance: bool,
}

pub async fn settings(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (_, info, head) = load(&p, &actor, &app, "settings").await?;
    let page = Settings {
        layout: ctx.layout(Nav::Apps, format!("{} · settings", info.name)),
        can_manage: actor.is_admin() || actor.name() == info.owner,
        created: When::parse(&info.created_at),
        git_url: format!("{}/{}.git", ctx.client.base_url, info.name),
        owner: info.owner,
        members: info.members,
        maintenance: info.maintenance,
        branch: info.deploy_branch,
        app: head,
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct MaintenanceForm {
    /// `on` or `off`.
    #[serde(default)]
    mode: String,
}

pub async fn maintenance(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<MaintenanceForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let on = form.mode == "on";
    let result = ops::apps::set_maintenance(&p, ctx.actor(), &name, on)
        .await
        .map(|_| {
            Flash::notice(if on {
                format!("{name} is in maintenance: visitors get a 503 page, processes keep running")
            } else {
                format!("{name} serves visitors again")
            })
        });
    ctx.finish(&format!("/apps/{name}/settings"), result)
}

#[derive(Deserialize)]
pub struct DeployBranchForm {
    #[serde(default)]
    branch: String,
}

pub async fn deploy_branch(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<DeployBranchForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let result = match BranchName::parse(form.branch.trim()) {
        Ok(branch) => ops::apps::set_deploy_branch(&p, ctx.actor(), &name, branch)
            .await
            .map(|info| {
                Flash::notice(format!(
                    "{name} now deploys from {0}: git push paas HEAD:{0}",
                    info.deploy_branch
                ))
            }),
        Err(e) => Err(OpsError::Invalid(e)),
    };
    ctx.finish(&format!("/apps/{name}/settings"), result)
}

#[derive(Deserialize)]
pub struct DestroyForm {
    #[serde(default)]
    confirm: String,
}

pub async fn destroy(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<DestroyForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let back = format!("/apps/{name}/settings");
    if form.confirm.trim() != name.as_str() {
        // Checked here too so the message speaks of the form, not of the CLI flag.
        ops::apps::find(&p, ctx.actor(), &name).await?;
        return ctx.finish(
            &back,
            Err(OpsError::Invalid(crate::domain::Invalid::new(format!(
                "type the app name \"{name}\" exactly to destroy it; nothing was deleted"
            )))),
        );
    }
    match ops::apps::destroy(&p, ctx.actor(), &name, name.as_str()).await {
        Ok(()) => Ok(ctx.redirect(
            "/",
            Flash::notice(format!(
                "destroyed {name}, its releases, processes and git repository"
            )),
        )),
        Err(e) => ctx.finish(&back, Err(e)),
    }
}
