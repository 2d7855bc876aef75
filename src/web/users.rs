//! Users (admins): create them, reset a password, remove them; and everyone's own
//! password change.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use serde::Deserialize;

use crate::domain::Invalid;
use crate::ops::{self, OpsError, Platform};
use crate::wire::CreateUser;

use super::cookies::Cookie;
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav, When};

struct Row {
    name: String,
    admin: bool,
    created: When,
    /// HTML-id-safe handle for the row's reset form.
    id: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct Page {
    layout: Layout,
    rows: Vec<Row>,
    apps: Vec<String>,
    /// Users who are not admins: the ones access can be given to.
    members: Vec<String>,
    me: String,
}

pub async fn page(State(p): State<Platform>, mut ctx: Ctx) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let users = ops::users::list(&p, &actor).await?;
    let members = users
        .iter()
        .filter(|u| !u.admin)
        .map(|u| u.name.clone())
        .collect();
    let rows = users
        .into_iter()
        .enumerate()
        .map(|(i, u)| Row {
            id: format!("user-{i}"),
            created: When::parse(&u.created_at),
            name: u.name,
            admin: u.admin,
        })
        .collect();
    let apps = ops::apps::list(&p, &actor)
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let page = Page {
        layout: ctx.layout(Nav::Users, "Users"),
        me: actor.name().to_owned(),
        rows,
        apps,
        members,
    };
    Ok(ctx.page(page))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: Option<String>,
}

pub async fn create(
    State(p): State<Platform>,
    Posted(ctx, form): Posted<CreateForm>,
) -> Result<Response, WebError> {
    let request = CreateUser {
        name: form.name.trim().to_owned(),
        password: Some(form.password).filter(|p| !p.is_empty()),
        admin: form.admin.is_some(),
    };
    let result = ops::users::create(&p, ctx.actor(), request)
        .await
        .map(|created| {
            let role = if created.user.admin {
                "admin"
            } else {
                "member"
            };
            let flash = Flash::notice(format!(
                "created {role} {}; give them access to apps below",
                created.user.name
            ));
            match created.generated_password {
                Some(password) => flash.with_secret(
                    &format!("Password for {}", created.user.name),
                    password,
                    None,
                ),
                None => flash,
            }
        });
    ctx.finish("/users", result)
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

pub async fn reset_password(
    State(p): State<Platform>,
    Path(name): Path<String>,
    Posted(ctx, form): Posted<ResetForm>,
) -> Result<Response, WebError> {
    let (password, generated) = if form.password.is_empty() {
        let password = ops::users::generate_password();
        (password.clone(), Some(password))
    } else {
        (form.password, None)
    };
    let change = ops::users::PasswordChange {
        password,
        current: None,
        end_tokens: false,
        addr: ctx.client.addr,
    };
    let result = ops::users::set_password(&p, ctx.actor(), &name, change).await;
    if result.is_ok() && name == ctx.actor().name() {
        return Ok(signed_out(
            &ctx,
            "your password changed and every session of yours ended; sign in with the new one",
        ));
    }
    let result = result.map(|()| {
        let flash = Flash::notice(format!(
            "reset {name}'s password; their open sessions were signed out"
        ));
        match generated {
            Some(password) => {
                flash.with_secret(&format!("New password for {name}"), password, None)
            }
            None => flash,
        }
    });
    ctx.finish("/users", result)
}

#[derive(Deserialize)]
pub struct DestroyForm {
    #[serde(default)]
    confirm: String,
}

pub async fn destroy(
    State(p): State<Platform>,
    Path(name): Path<String>,
    Posted(ctx, form): Posted<DestroyForm>,
) -> Result<Response, WebError> {
    let result = ops::users::destroy(&p, ctx.actor(), &name, form.confirm.trim())
        .await
        .map(|()| Flash::notice(format!("removed {name}; their tokens and sessions ended")));
    ctx.finish("/users", result)
}

#[derive(Deserialize)]
pub struct OwnPasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_own_password(
    State(p): State<Platform>,
    Posted(ctx, form): Posted<OwnPasswordForm>,
) -> Result<Response, WebError> {
    let back = "/tokens#password";
    if form.password != form.confirm {
        let e = OpsError::Invalid(Invalid::new(
            "the new password and its confirmation differ; type the same one twice",
        ));
        return ctx.finish(back, Err(e));
    }
    let me = ctx.actor().name().to_owned();
    let change = ops::users::PasswordChange {
        password: form.password,
        current: Some(form.current),
        end_tokens: false,
        addr: ctx.client.addr,
    };
    match ops::users::set_password(&p, ctx.actor(), &me, change).await {
        Ok(()) => Ok(signed_out(
            &ctx,
            "password changed and every session of yours ended; sign in with the new one",
        )),
        Err(e) => ctx.finish(back, Err(e)),
    }
}

/// The store revoked this session with the password change: say so on the sign-in page.
fn signed_out(ctx: &Ctx, message: &str) -> Response {
    let mut response = ctx.redirect("/login", Flash::notice(message));
    response
        .headers_mut()
        .append(header::SET_COOKIE, Cookie::Session.clear(ctx.client.secure));
    response
}
