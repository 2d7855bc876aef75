//! Users: admins create them, reset passwords and remove them; everyone can change their
//! own password.

use crate::auth;
use crate::domain::{Invalid, UserName};
use crate::store::{NewEvent, UserRow};
use crate::wire::{CreateUser, CreatedUser, UserInfo};

use super::{Actor, OpsError, Platform};

pub async fn list(p: &Platform, actor: &Actor) -> Result<Vec<UserInfo>, OpsError> {
    actor.require_admin("list users")?;
    let users = p
        .store
        .read(|db| db.users().map_err(OpsError::from))
        .await?;
    Ok(users.into_iter().map(to_info).collect())
}

pub async fn create(p: &Platform, actor: &Actor, req: CreateUser) -> Result<CreatedUser, OpsError> {
    actor.require_admin("create users")?;
    let name = UserName::check(&req.name)?.to_owned();
    let (password, generated) = match req.password {
        Some(password) => (password, None),
        None => {
            let password = generate_password();
            (password.clone(), Some(password))
        }
    };
    let hash = hash_off_thread(p, password).await?;
    let actor_name = actor.name().to_owned();
    let user = p
        .store
        .write(move |tx| {
            if tx.user_by_name(&name)?.is_some() {
                return Err(OpsError::Conflict(format!(
                    "user \"{name}\" already exists; reset a password with paas users:passwd {name}"
                )));
            }
            let user = tx.insert_user(&name, Some(&hash), req.admin)?;
            let role = if req.admin { "admin" } else { "member" };
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: None,
                action: "user.create",
                detail: &format!("created {role} {name}"),
            })?;
            Ok(user)
        })
        .await?;
    Ok(CreatedUser {
        user: to_info(user),
        generated_password: generated,
    })
}

/// A new password, and what proves the change may be made.
pub struct PasswordChange {
    pub password: String,
    /// Required to change one's own password (an admin resetting another's needs none).
    pub current: Option<String>,
    /// Also revoke every API token of the user.
    pub end_tokens: bool,
    /// The client, for the failed-login limits the current password is checked under.
    pub addr: std::net::IpAddr,
}

/// Sets a password: one's own with the current one, anyone's as an admin. Every session
/// of the user ends (and every token, when asked).
pub async fn set_password(
    p: &Platform,
    actor: &Actor,
    name: &str,
    change: PasswordChange,
) -> Result<(), OpsError> {
    if name != actor.name() {
        actor.require_admin("reset another user's password")?;
    } else {
        check_current(p, name, change.current.as_deref(), change.addr).await?;
    }
    let hash = hash_off_thread(p, change.password).await?;
    let (name, actor_name, end_tokens) =
        (name.to_owned(), actor.name().to_owned(), change.end_tokens);
    p.store
        .write(move |tx| {
            let user = tx.user_by_name(&name)?.ok_or_else(|| {
                OpsError::NotFound(format!("user \"{name}\" not found; see paas users"))
            })?;
            tx.set_password_hash(user.id, &hash)?;
            tx.revoke_user_sessions(user.id)?;
            let tokens = if end_tokens {
                format!(" and {} tokens", tx.revoke_user_tokens(user.id)?)
            } else {
                String::new()
            };
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: None,
                action: "user.password",
                detail: &format!("changed {name}'s password; ended their sessions{tokens}"),
            })?;
            Ok(())
        })
        .await
}

/// One's own password changes only with the current one, under the sign-in limits.
async fn check_current(
    p: &Platform,
    name: &str,
    current: Option<&str>,
    addr: std::net::IpAddr,
) -> Result<(), OpsError> {
    let Some(current) = current.filter(|c| !c.is_empty()) else {
        return Err(OpsError::Invalid(Invalid::new(
            "to change your own password, give your current one too",
        )));
    };
    match super::sessions::limited_password_check(p, name, current, addr).await {
        Ok(_) => Ok(()),
        Err(OpsError::Unauthorized(_)) => Err(OpsError::Forbidden(
            "your current password is not right; nothing was changed".into(),
        )),
        Err(other) => Err(other),
    }
}

/// Removes a user (admins only, never oneself): their tokens stop working and their
/// sessions end at once. A user who still owns apps is refused, naming the apps.
pub async fn destroy(
    p: &Platform,
    actor: &Actor,
    name: &str,
    confirm: &str,
) -> Result<(), OpsError> {
    actor.require_admin("remove users")?;
    if confirm != name {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "to remove {name}, confirm with --confirm {name}"
        ))));
    }
    if name == actor.name() {
        return Err(OpsError::Invalid(Invalid::new(
            "you cannot remove yourself; another admin can",
        )));
    }
    let (name, actor_name) = (name.to_owned(), actor.name().to_owned());
    p.store
        .write(move |tx| {
            let user = tx.user_by_name(&name)?.ok_or_else(|| {
                OpsError::NotFound(format!("user \"{name}\" not found; see paas users"))
            })?;
            let owned = tx.apps_owned_by(user.id)?;
            if !owned.is_empty() {
                return Err(OpsError::Conflict(format!(
                    "{name} owns {}; transfer them first (paas apps:transfer USER -a APP) or destroy them",
                    owned.join(", ")
                )));
            }
            tx.delete_user(user.id)?;
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: None,
                action: "user.destroy",
                detail: &format!("removed {name}, their tokens and sessions"),
            })?;
            Ok(())
        })
        .await
}

/// argon2id is deliberately slow and memory-hard: keep it off the async threads, and
/// within the few hashing slots sign-ins share.
pub(crate) async fn hash_off_thread(p: &Platform, password: String) -> Result<String, OpsError> {
    let _slot = p
        .login_limiter
        .hash_slot()
        .await
        .map_err(|refusal| OpsError::TooManyAttempts {
            message: "the server is busy hashing other passwords; try again in a few seconds"
                .to_owned(),
            retry_after_secs: refusal.retry_after().as_secs().max(1),
        })?;
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| OpsError::Internal(e.to_string()))?
        .map_err(|e| match e {
            auth::AuthError::WeakPassword => {
                OpsError::Invalid(crate::domain::Invalid::new(e.to_string()))
            }
            other => OpsError::Internal(other.to_string()),
        })
}

/// 20 characters from an unambiguous alphabet: about 114 bits.
pub(crate) fn generate_password() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(crate) fn to_info(u: UserRow) -> UserInfo {
    UserInfo {
        name: u.name,
        admin: u.is_admin,
        created_at: u.created_at.rfc3339(),
    }
}
