//! Custom domains: add one (and learn the DNS record to create), remove one.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform};

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav, When};

struct Row {
    hostname: String,
    dns_hint: String,
    added: When,
}

#[derive(Template)]
#[template(path = "app_domains.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    rows: Vec<Row>,
    /// `APP.PAAS_DOMAIN`: what a CNAME points at.
    target: String,
    domain_port: String,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "domains").await?;
    let rows = ops::domains::list(&p, &actor, &name)
        .await?
        .into_iter()
        .map(|d| Row {
            added: When::parse(&d.created_at),
            hostname: d.hostname,
            dns_hint: d.dns_hint,
        })
        .collect();
    let port = p.settings.http_addr.port();
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · domains")),
        target: format!("{name}.{}", p.settings.domain),
        domain_port: if port == 80 {
            String::new()
        } else {
            format!(":{port}")
        },
        app: head,
        rows,
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct DomainForm {
    #[serde(default)]
    hostname: String,
}

pub async fn add(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<DomainForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let hostname = form.hostname.trim().to_ascii_lowercase();
    let result = ops::domains::add(&p, ctx.actor(), &name, &hostname)
        .await
        .map(|d| Flash::notice(format!("added {}; now {}", d.hostname, d.dns_hint)));
    ctx.finish(&format!("/apps/{name}/domains"), result)
}

pub async fn remove(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<DomainForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let hostname = form.hostname.trim().to_owned();
    let result = ops::domains::remove(&p, ctx.actor(), &name, &hostname)
        .await
        .map(|()| Flash::notice(format!("removed {hostname}; it no longer routes to {name}")));
    ctx.finish(&format!("/apps/{name}/domains"), result)
}
