//! HTTPS of an app: each hostname's certificate and its state (ACME pending, valid, failed
//! with the reason), certificates the user brings (add, remove), https-only and HSTS.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::{AppName, Invalid};
use crate::ops::{self, OpsError, Platform};
use crate::wire::HttpsInfo;

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Badge, Layout, Nav, When};

struct Row {
    hostname: String,
    /// What serves it, in words.
    source: &'static str,
    state: Badge,
    reason: Option<String>,
    issuer: Option<String>,
    expires: Option<When>,
    /// Set for a certificate the user added: it can be removed here.
    user_cert_id: Option<i64>,
}

#[derive(Template)]
#[template(path = "app_certs.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    rows: Vec<Row>,
    https_only: bool,
    hsts_max_age: String,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "https").await?;
    let rows = ops::certs::list(&p, &actor, &name)
        .await?
        .into_iter()
        .map(|c| Row {
            source: match c.source.as_str() {
                "acme" => "ACME (automatic)",
                "user" => "added by you",
                "self-signed" => "self-signed (development)",
                _ => "none yet",
            },
            state: Badge::state(&c.state),
            expires: c.expires_at.as_deref().map(When::parse),
            user_cert_id: c.id,
            hostname: c.hostname,
            reason: c.reason,
            issuer: c.issuer,
        })
        .collect();
    let https = ops::certs::https(&p, &actor, &name).await?;
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · HTTPS")),
        app: head,
        rows,
        https_only: https.https_only,
        hsts_max_age: https
            .hsts_max_age
            .map(|age| age.to_string())
            .unwrap_or_default(),
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct HttpsForm {
    /// A checkbox: present when ticked.
    #[serde(default)]
    https_only: Option<String>,
    /// Seconds; empty turns HSTS off.
    #[serde(default)]
    hsts_max_age: String,
}

pub async fn set_https(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<HttpsForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let result = match parse_hsts(&form.hsts_max_age) {
        Ok(hsts_max_age) => {
            let change = HttpsInfo {
                https_only: form.https_only.is_some(),
                hsts_max_age,
            };
            ops::certs::set_https(&p, ctx.actor(), &name, change)
                .await
                .map(|now| Flash::notice(describe(&name, &now)))
        }
        Err(e) => Err(OpsError::Invalid(e)),
    };
    ctx.finish(&back(&name), result)
}

fn parse_hsts(raw: &str) -> Result<Option<u32>, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| {
        Invalid::new(format!(
            "HSTS max-age \"{raw}\" is not a number of seconds; try 31536000 (a year), or leave it empty for no HSTS"
        ))
    })
}

fn describe(name: &AppName, https: &HttpsInfo) -> String {
    let only = if https.https_only {
        "plain HTTP now redirects to HTTPS"
    } else {
        "plain HTTP is served as is"
    };
    let hsts = https
        .hsts_max_age
        .map_or("no HSTS header".to_owned(), |age| {
            format!("HSTS max-age={age}")
        });
    format!("{name}: {only}; {hsts}")
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    key: String,
}

pub async fn add(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AddForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let result = ops::certs::add(&p, ctx.actor(), &name, &form.certificate, &form.key)
        .await
        .map(|certs| {
            let served: Vec<String> = certs
                .into_iter()
                .filter(|c| c.source == "user")
                .map(|c| c.hostname)
                .collect();
            Flash::notice(format!(
                "certificate installed; it now serves {}",
                served.join(", ")
            ))
        });
    ctx.finish(&back(&name), result)
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    id: String,
}

pub async fn remove(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<RemoveForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let result = ops::certs::remove(&p, ctx.actor(), &name, &form.id)
        .await
        .map(|()| {
            Flash::notice(format!(
                "certificate {} removed; ACME or the default certificate takes its hostnames over",
                form.id.trim()
            ))
        });
    ctx.finish(&back(&name), result)
}

fn back(name: &AppName) -> String {
    format!("/apps/{name}/https")
}
