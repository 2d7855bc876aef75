//! API tokens and logging in: how a request becomes an `Actor`.

use crate::auth::{self, ApiToken};
use crate::store::{NewEvent, TokenRow};
use crate::wire::{CreatedToken, TokenInfo};

use super::{Actor, OpsError, Platform};

/// The user behind a bearer token, or a 401 that says how to get a valid one.
pub async fn authenticate(p: &Platform, token: &str) -> Result<Actor, OpsError> {
    let hash = auth::hash_token(token);
    p.store
        .write(move |tx| {
            tx.user_for_token(&hash)?
                .map(|(user, _)| Actor(user))
                .ok_or_else(|| {
                    OpsError::Unauthorized("invalid or revoked token; run paas login".to_owned())
                })
        })
        .await
}

/// Checks a user name and password (under the failed-login limits of `addr` and the
/// user) and issues a token for this client.
pub async fn login(
    p: &Platform,
    user: &str,
    password: &str,
    token_name: Option<String>,
    addr: std::net::IpAddr,
) -> Result<CreatedToken, OpsError> {
    let actor = super::sessions::limited_password_check(p, user, password, addr).await?;
    let name = token_name.unwrap_or_else(|| "login".to_owned());
    issue(p, &actor, &name, "token.login").await
}

/// The user, if the password matches; the same error whether the user or the password
/// is wrong, so names cannot be probed.
pub async fn check_password(p: &Platform, user: &str, password: &str) -> Result<Actor, OpsError> {
    let name = user.to_owned();
    let found = p
        .store
        .read(move |db| db.user_by_name(&name).map_err(OpsError::from))
        .await?;
    let password = password.to_owned();
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    // An unknown user costs a hash too, so timing does not tell which names exist.
    let ok = tokio::task::spawn_blocking(move || {
        auth::verify_password_or_decoy(&password, stored.as_deref())
    })
    .await
    .map_err(|e| OpsError::Internal(e.to_string()))?;
    match (ok, found) {
        (true, Some(user)) => Ok(Actor(user)),
        _ => Err(OpsError::Unauthorized(
            "wrong user name or password".to_owned(),
        )),
    }
}

pub async fn create(p: &Platform, actor: &Actor, name: &str) -> Result<CreatedToken, OpsError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(OpsError::Invalid(crate::domain::Invalid::new(
            "give the token a name of 1 to 64 characters, e.g. paas tokens:create ci",
        )));
    }
    issue(p, actor, name, "token.create").await
}

async fn issue(
    p: &Platform,
    actor: &Actor,
    name: &str,
    action: &'static str,
) -> Result<CreatedToken, OpsError> {
    let token = ApiToken::generate();
    let hash = token.hash();
    let (user, name) = (actor.0.clone(), name.to_owned());
    let id = p
        .store
        .write(move |tx| {
            let id = tx.insert_token(user.id, &name, &hash)?;
            tx.insert_event(NewEvent {
                actor: &user.name,
                app_name: None,
                action,
                detail: &format!("created token {id} \"{name}\""),
            })?;
            Ok::<_, OpsError>((id, name))
        })
        .await?;
    Ok(CreatedToken {
        id: id.0,
        name: id.1,
        token: token.secret().to_owned(),
    })
}

/// Your own tokens; an admin sees everyone's.
pub async fn list(p: &Platform, actor: &Actor) -> Result<Vec<TokenInfo>, OpsError> {
    let filter = (!actor.is_admin()).then_some(actor.0.id);
    let rows = p
        .store
        .read(move |db| db.tokens(filter).map_err(OpsError::from))
        .await?;
    Ok(rows.into_iter().map(to_info).collect())
}

pub async fn revoke(p: &Platform, actor: &Actor, id: i64) -> Result<(), OpsError> {
    let actor = actor.clone();
    p.store
        .write(move |tx| {
            let token = tx
                .token(id)?
                .filter(|t| t.revoked_at.is_none())
                .filter(|t| actor.is_admin() || t.user_id == actor.0.id)
                .ok_or_else(|| {
                    OpsError::NotFound(format!("token {id} not found; see paas tokens"))
                })?;
            tx.revoke_token(id)?;
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: None,
                action: "token.revoke",
                detail: &format!(
                    "revoked token {id} \"{}\" of {}",
                    token.name, token.user_name
                ),
            })?;
            Ok(())
        })
        .await
}

fn to_info(t: TokenRow) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name,
        user: t.user_name,
        created_at: t.created_at.rfc3339(),
        last_used_at: t.last_used_at.map(|t| t.rfc3339()),
    }
}
