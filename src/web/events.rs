//! The audit trail: one app's activity, and everything the user may see.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use crate::ops::{self, Platform};
use crate::wire::EventInfo;

use super::apps::{AppHead, load};
use super::error::WebError;
use super::extract::Ctx;
use super::view::{Layout, Nav, When};

struct Row {
    when: When,
    actor: String,
    app: Option<String>,
    action: String,
    detail: String,
}

impl Row {
    fn of(e: EventInfo) -> Row {
        Row {
            when: When::parse(&e.at),
            actor: e.actor,
            app: e.app,
            action: e.action,
            detail: e.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "app_activity.html")]
struct AppPage {
    layout: Layout,
    app: AppHead,
    rows: Vec<Row>,
}

pub async fn of_app(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "activity").await?;
    let rows = ops::events::list(&p, &actor, Some(&name))
        .await?
        .into_iter()
        .map(Row::of)
        .collect();
    let page = AppPage {
        layout: ctx.layout(Nav::Apps, format!("{name} · activity")),
        app: head,
        rows,
    };
    Ok(ctx.page(page))
}

#[derive(Template)]
#[template(path = "activity.html")]
struct AllPage {
    layout: Layout,
    rows: Vec<Row>,
}

pub async fn all(State(p): State<Platform>, mut ctx: Ctx) -> Result<Response, WebError> {
    let rows = ops::events::list(&p, ctx.actor(), None)
        .await?
        .into_iter()
        .map(Row::of)
        .collect();
    let page = AllPage {
        layout: ctx.layout(Nav::Activity, "Activity"),
        rows,
    };
    Ok(ctx.page(page))
}
