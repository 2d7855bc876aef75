//! API tokens: create one (its secret shown once), revoke one; and the form to change
//! your own password, which lives on the same page.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform};

use super::error::WebError;
use super::extract::{Button, Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav, When};

struct Row {
    id: i64,
    name: String,
    user: String,
    created: When,
    last_used: Option<When>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct Page {
    layout: Layout,
    rows: Vec<Row>,
    /// Admins see everyone's tokens: show whose each is.
    show_user: bool,
    base_url: String,
}

pub async fn page(State(p): State<Platform>, mut ctx: Ctx) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let rows = ops::tokens::list(&p, &actor)
        .await?
        .into_iter()
        .map(|t| Row {
            id: t.id,
            created: When::parse(&t.created_at),
            last_used: t.last_used_at.as_deref().map(When::parse),
            name: t.name,
            user: t.user,
        })
        .collect();
    let page = Page {
        layout: ctx.layout(Nav::Tokens, "Tokens"),
        show_user: actor.is_admin(),
        base_url: ctx.client.base_url.clone(),
        rows,
    };
    Ok(ctx.page(page))
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
    let result = ops::tokens::create(&p, ctx.actor(), &form.name)
        .await
        .map(|created| {
            let usage = format!(
                "paas login {} --token {}",
                ctx.client.base_url, created.token
            );
            Flash::notice(format!(
                "created token {} \"{}\"; copy it now, it is not shown again",
                created.id, created.name
            ))
            .with_secret("Token", created.token, Some(usage))
        });
    ctx.finish("/tokens", result)
}

pub async fn revoke(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted(ctx, Button {}): Posted<Button>,
) -> Result<Response, WebError> {
    let result = match id.parse::<i64>() {
        Ok(id) => ops::tokens::revoke(&p, ctx.actor(), id).await.map(|()| {
            Flash::notice(format!(
                "revoked token {id}; clients using it are signed out"
            ))
        }),
        Err(_) => Ok(Flash::error(format!(
            "there is no token \"{id}\"; see the list below"
        ))),
    };
    ctx.finish("/tokens", result)
}
