//! Web UI sign-in: password checks with failed-login limits per address and per user,
//! sessions that expire and can be revoked, and a CSRF token per session.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::auth::{self, Refusal, random_hex};
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
    pub expires_at: Timestamp,
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
    Ok((
        secret,
        Session {
            actor,
            csrf,
            expires_at: expires,
        },
    ))
}

/// Checks a password under the failed-login limits (API logins and password changes use
/// it too). The attempt is counted before the hash, and waits for one of the few hashing
/// slots; `addr` is the client (behind `PAAS_TRUSTED_PROXIES`, the forwarded one).
pub async fn limited_password_check(
    p: &Platform,
    user: &str,
    password: &str,
    addr: IpAddr,
) -> Result<Actor, OpsError> {
    let key = user.trim().to_lowercase();
    let attempt = p
        .login_limiter
        .begin(&key, addr, Instant::now())
        .map_err(refused)?;
    let slot = match p.login_limiter.hash_slot().await {
        Ok(slot) => slot,
        Err(refusal) => {
            attempt.cancel();
            return Err(refused(refusal));
        }
    };
    let checked = tokens::check_password(p, user, password).await;
    drop(slot);
    // A failure keeps its place in the counters: dropping the attempt records it.
    let actor = checked?;
    attempt.succeeded();
    Ok(actor)
}

fn refused(refusal: Refusal) -> OpsError {
    let wait = refusal.retry_after();
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let message = match refusal {
        Refusal::Address(_) => {
            format!("too many failed sign-ins from this address; try again in {minutes} minutes")
        }
        Refusal::User(_) => {
            format!("too many failed sign-ins for this user; try again in {minutes} minutes")
        }
        Refusal::Busy(_) => {
            "the server is busy checking other sign-ins; try again in a few seconds".to_owned()
        }
    };
    OpsError::TooManyAttempts {
        message,
        retry_after_secs: wait.as_secs().max(1),
    }
}

/// The live session behind a cookie secret.
pub async fn find(p: &Platform, secret: &str) -> Result<Option<Session>, OpsError> {
    let hash = auth::hash_token(secret);
    let row = p.store.read(move |db| db.session(&hash)).await?;
    Ok(row.map(|r| Session {
        actor: Actor(r.user),
        csrf: r.csrf,
        expires_at: r.expires_at,
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
            expires_at: Timestamp(0),
        };
        assert!(csrf_matches(&session, "abc123"));
        assert!(!csrf_matches(&session, "abc124"));
        assert!(!csrf_matches(&session, "abc12"));
        assert!(!csrf_matches(&session, ""));
    }
}
