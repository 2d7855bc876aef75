//! The releases table and rolling back to one of them.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform, Progress};

use super::apps::{AppHead, ReleaseLine, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav};

struct Row {
    line: ReleaseLine,
    current: bool,
    /// Only a release that ran can be rolled back to, and not the one running.
    can_roll_back: bool,
    detail: Option<String>,
    /// The lines of its rollout so far, while it is rolling out.
    rollout: Vec<String>,
}

#[derive(Template)]
#[template(path = "app_releases.html")]
struct Page {
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
    let (name, _, head) = load(&p, &actor, &app, "releases").await?;
    let releases = ops::releases::list(&p, &actor, &name).await?;
    // Once code runs, rolling back to a release without code would stop the app.
    let has_code = releases.iter().any(|r| r.build_id.is_some());
    let rows = releases
        .iter()
        .map(|r| Row {
            line: ReleaseLine::of(r),
            current: r.current,
            can_roll_back: !r.current
                && r.state == "succeeded"
                && (r.build_id.is_some() || !has_code),
            detail: r.state_detail.clone(),
            rollout: r.rollout.clone(),
        })
        .collect();
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · releases")),
        app: head,
        rows,
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    version: String,
}

pub async fn rollback(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<RollbackForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let back = format!("/apps/{name}/releases");
    let version = form
        .version
        .trim()
        .trim_start_matches('v')
        .parse::<i64>()
        .ok();
    let result =
        ops::releases::rollback(&p, ctx.actor(), &name, version, true, &Progress::silent())
            .await
            .map(|r| {
                Flash::notice(format!(
                    "rolled back: v{} is live now ({})",
                    r.version, r.description
                ))
            });
    ctx.finish(&back, result)
}
