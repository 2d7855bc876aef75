//! Config vars: shown masked until revealed, set (add or change) and removed; each change
//! is a new release, and the flash says which.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform, Progress};
use crate::wire::ConfigPatch;

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav};

struct Var {
    key: String,
    value: String,
    /// A stable, HTML-id-safe handle for the row's controls.
    id: String,
}

#[derive(Template)]
#[template(path = "app_config.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    vars: Vec<Var>,
    /// Values shown in the page without a click (`?reveal=1`, for use without JavaScript).
    revealed: bool,
    /// Prefills the add form with a key to change (`?edit=KEY`).
    edit: Option<(String, String)>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    reveal: Option<String>,
    #[serde(default)]
    edit: Option<String>,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Query(q): Query<PageQuery>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "config").await?;
    let vars: BTreeMap<String, String> = ops::config::get(&p, &actor, &name).await?;
    let edit = q
        .edit
        .and_then(|k| vars.get(&k).map(|v| (k.clone(), v.clone())));
    let vars = vars
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Var {
            id: format!("var-{i}"),
            key,
            value,
        })
        .collect();
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · config")),
        app: head,
        vars,
        revealed: q.reveal.is_some_and(|r| r == "1"),
        edit,
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct SetForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

pub async fn set(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<SetForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    // Browsers send textarea line breaks as CRLF; values keep the author's LF.
    let value = form.value.replace("\r\n", "\n");
    let patch = ConfigPatch::from([(form.key.trim().to_owned(), Some(value))]);
    apply(&p, &ctx, &name, patch).await
}

#[derive(Deserialize)]
pub struct UnsetForm {
    #[serde(default)]
    key: String,
}

pub async fn unset(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<UnsetForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let patch = ConfigPatch::from([(form.key.trim().to_owned(), None)]);
    apply(&p, &ctx, &name, patch).await
}

async fn apply(
    p: &Platform,
    ctx: &Ctx,
    name: &crate::domain::AppName,
    patch: ConfigPatch,
) -> Result<Response, WebError> {
    let back = format!("/apps/{name}/config");
    let result = ops::config::update(p, ctx.actor(), name, patch, true, &Progress::silent())
        .await
        .map(|updated| match updated.release {
            Some(r) => Flash::notice(format!("released v{}: {}", r.version, r.description)),
            None => Flash::notice("config saved"),
        });
    ctx.finish(&back, result)
}
