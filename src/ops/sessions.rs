//! Web UI sign-in: password checks with failed-login limits per address and per user,
//! sessions that expire and can be revoked, and a CSRF token per session.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::auth::{self, random_hex};
use crate::domain::Timestamp;
use crate::store::NewEvent;

use super::{Actor, OpsError, Platform, tokens};

/// A session lasts this long after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    /// Every form of the session must carry this value.
    pub csrf: String,
}

/// Signs in: returns the cookie secret (kept only hashed) and the session.
pub async fn login(
    p: &Platform,
    user: &str,
    password: &str,
    addr: IpAddr,
) -> Result<(String, Session), OpsError> {
    let actor = limited_password_check(p, user, password, addr).await?;
    let secret = random_hex(32);
    let csrf = random_hex(16);
    let hash = auth::hash_token(&secret);
    let (user_id, name, csrf_in) = (actor.0.id, actor.name().to_owned(), csrf.clone());
    let expires = Timestamp(Timestamp::now().0 + SESSION_TTL.as_secs() as i64);
    p.store
        .write(move |tx| {
            tx.prune_sessions()?;
            tx.insert_session(&hash, user_id, &csrf_in, expires)?;
            tx.insert_event(NewEvent {
                actor: &name,
                app_name: None,
                action: "session.login",
                detail: &format!("signed in to the web UI from {addr}"),
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    Ok((secret, Session { actor, csrf }))
}

/// Checks a password under the failed-login limits (API logins use it too).
pub async fn limited_password_check(
    p: &Platform,
    user: &str,
    password: &str,
    addr: IpAddr,
) -> Result<Actor, OpsError> {
    let now = Instant::now();
    let keys = [format!("ip:{addr}"), format!("user:{user}")];
    for key in &keys {
        if let Some(wait) = p.login_limiter.blocked_for(key, now) {
            let who = if key.starts_with("ip:") {
                "this address"
            } else {
                "this user"
            };
            return Err(OpsError::TooManyAttempts(format!(
                "too many failed sign-ins for {who}; try again in {} minutes",
                wait.as_secs().div_ceil(60).max(1)
            )));
        }
    }
    match tokens::check_password(p, user, password).await {
        Ok(actor) => {
            keys.iter().for_each(|k| p.login_limiter.record_success(k));
            Ok(actor)
        }
        Err(e) => {
            keys.iter()
                .for_each(|k| p.login_limiter.record_failure(k, now));
            Err(e)
        }
    }
}

/// The live session behind a cookie secret.
pub async fn find(p: &Platform, secret: &str) -> Result<Option<Session>, OpsError> {
    let hash = auth::hash_token(secret);
    let row = p.store.read(move |db| db.session(&hash)).await?;
    Ok(row.map(|r| Session {
        actor: Actor(r.user),
        csrf: r.csrf,
    }))
}

pub async fn logout(p: &Platform, secret: &str) -> Result<(), OpsError> {
    let hash = auth::hash_token(secret);
    p.store.write(move |tx| tx.revoke_session(&hash)).await?;
    Ok(())
}

/// Compares in constant time, so the token cannot be guessed byte by byte.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserRow;

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let session = Session {
            actor: Actor(UserRow {
                id: 1,
                name: "a".into(),
                password_hash: None,
                is_admin: false,
                created_at: Timestamp(0),
            }),
            csrf: "abc123".into(),
        };
        assert!(csrf_matches(&session, "abc123"));
        assert!(!csrf_matches(&session, "abc124"));
        assert!(!csrf_matches(&session, "abc12"));
        assert!(!csrf_matches(&session, ""));
    }
}
