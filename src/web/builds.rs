//! Builds: the list with status and duration, each build's full log, and cancelling the
//! one that runs.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use crate::ops::{self, Platform};
use crate::wire::BuildInfo;

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Button, Ctx, Posted};
use super::flash::Flash;
use super::view::{Badge, Layout, Nav, When, duration, short_sha};

struct Row {
    id: i64,
    state: Badge,
    running: bool,
    commit: String,
    buildpack: String,
    duration: String,
    author: String,
    when: When,
    detail: Option<String>,
}

impl Row {
    fn of(b: &BuildInfo) -> Row {
        Row {
            id: b.id,
            state: Badge::state(&b.state),
            running: matches!(b.state.as_str(), "pending" | "building"),
            commit: short_sha(&b.commit),
            buildpack: b.buildpack.clone().unwrap_or_else(|| "—".into()),
            duration: b.duration_secs.map_or_else(|| "—".into(), duration),
            author: b.author.clone(),
            when: When::parse(&b.created_at),
            detail: b.state_detail.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "app_builds.html")]
struct ListPage {
    layout: Layout,
    app: AppHead,
    rows: Vec<Row>,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "builds").await?;
    let rows = ops::builds::list(&p, &actor, &name)
        .await?
        .iter()
        .map(Row::of)
        .collect();
    let page = ListPage {
        layout: ctx.layout(Nav::Apps, format!("{name} · builds")),
        app: head,
        rows,
    };
    Ok(ctx.page(page))
}

#[derive(Template)]
#[template(path = "app_build.html")]
struct BuildPage {
    layout: Layout,
    app: AppHead,
    build: Row,
    full_commit: String,
    image: Option<String>,
    process_types: Vec<(String, String)>,
    log: String,
}

pub async fn show(
    State(p): State<Platform>,
    Path((app, id)): Path<(String, String)>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "builds").await?;
    let id = id.parse::<i64>().map_err(|_| {
        WebError::NotFound(format!(
            "there is no build \"{id}\"; see the builds of {name}"
        ))
    })?;
    let build = ops::builds::info(&p, &actor, &name, Some(id)).await?;
    let page = BuildPage {
        layout: ctx.layout(Nav::Apps, format!("{name} · build {id}")),
        app: head,
        full_commit: build.commit.clone(),
        image: build.image.clone(),
        process_types: build.process_types.clone().into_iter().collect(),
        log: build.log.clone().unwrap_or_default(),
        build: Row::of(&build),
    };
    Ok(ctx.page(page))
}

pub async fn cancel(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, Button {}): Posted<Button>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let result = ops::builds::cancel(&p, ctx.actor(), &name).await.map(|()| {
        Flash::notice(format!(
            "cancelling the build of {name}; the release stays as it was"
        ))
    });
    ctx.finish(&format!("/apps/{name}/builds"), result)
}
