//! App members: who besides the owner may see and change an app; and who owns it.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform};

use super::apps::parse_name;
use super::error::WebError;
use super::extract::Posted;
use super::flash::Flash;

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    user: String,
}

pub async fn add(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<MemberForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let user = form.user.trim();
    let result = ops::access::add(&p, ctx.actor(), &name, user)
        .await
        .map(|()| Flash::notice(format!("{user} can now see and change {name}")));
    ctx.finish(&format!("/apps/{name}/settings"), result)
}

pub async fn remove(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<MemberForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let user = form.user.trim();
    let result = ops::access::remove(&p, ctx.actor(), &name, user)
        .await
        .map(|()| Flash::notice(format!("{user} no longer has access to {name}")));
    ctx.finish(&format!("/apps/{name}/settings"), result)
}

pub async fn transfer(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<MemberForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let user = form.user.trim();
    let result = ops::access::transfer(&p, ctx.actor(), &name, user)
        .await
        .map(|()| {
            Flash::notice(format!(
                "{user} owns {name} now; the previous owner stays a member"
            ))
        });
    ctx.finish(&format!("/apps/{name}/settings"), result)
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    app: String,
    #[serde(default)]
    user: String,
}

/// The same as `add`, from the users page, where the app is picked from a list.
pub async fn add_from_users(
    State(p): State<Platform>,
    Posted(ctx, form): Posted<GrantForm>,
) -> Result<Response, WebError> {
    let user = form.user.trim();
    let result = match parse_name(form.app.trim()) {
        Ok(name) => ops::access::add(&p, ctx.actor(), &name, user)
            .await
            .map(|()| Flash::notice(format!("{user} can now see and change {name}"))),
        Err(_) => Ok(Flash::error("pick an app to give access to")),
    };
    ctx.finish("/users", result)
}
