//! What keeps a long-lived stream open: `logs --tail`, the web UI's live log and `paas run`
//! sessions each hold a `Grant` (the credential that let them in and the app it opened),
//! and end the moment it no longer holds.
//!
//! The store bumps a revocation counter whenever a committed transaction takes access
//! away (a token, session, user or membership removed, an app destroyed or handed over);
//! each grant re-checks itself then, with one read. No polling, no per-stream hooks.

use tokio::sync::watch;

use crate::auth;
use crate::domain::{AppName, Timestamp};
use crate::store::Db;

use super::sessions::Session;
use super::{Actor, OpsError, Platform};

/// The secret a stream was opened with, kept only as its hash.
#[derive(Clone)]
enum Credential {
    Token(Vec<u8>),
    Session(Vec<u8>),
}

/// Access of one credential to one app, for as long as it holds.
pub struct Grant {
    credential: Credential,
    app_id: i64,
    /// Sessions end at their expiry even when nothing is revoked.
    expires: Option<Timestamp>,
    revocations: watch::Receiver<u64>,
}

impl Grant {
    /// The grant of an API token (`Authorization: Bearer`) to `app`.
    pub async fn of_token(
        p: &Platform,
        token: &str,
        actor: &Actor,
        app: &AppName,
    ) -> Result<Grant, OpsError> {
        let credential = Credential::Token(auth::hash_token(token));
        Grant::open(p, credential, actor, app, None).await
    }

    /// The grant of a web UI session (its cookie secret) to `app`.
    pub async fn of_session(
        p: &Platform,
        secret: &str,
        session: &Session,
        app: &AppName,
    ) -> Result<Grant, OpsError> {
        let credential = Credential::Session(auth::hash_token(secret));
        let expires = Some(session.expires_at);
        Grant::open(p, credential, &session.actor, app, expires).await
    }

    async fn open(
        p: &Platform,
        credential: Credential,
        actor: &Actor,
        app: &AppName,
        expires: Option<Timestamp>,
    ) -> Result<Grant, OpsError> {
        // Watch first: a revocation from here on wakes `lost`, even one that lands
        // between this check and the stream's start.
        let revocations = p.store.revocations();
        let app_row = super::apps::find(p, actor, app).await?;
        let grant = Grant {
            credential,
            app_id: app_row.id,
            expires,
            revocations,
        };
        if !grant.holds(p).await? {
            return Err(OpsError::AppNotFound(app.to_string()));
        }
        Ok(grant)
    }

    /// Resolves once the credential, its user or their access to the app is gone (or
    /// the session expired). A failed re-check counts as gone.
    pub async fn lost(mut self, p: Platform) {
        let expiry = async {
            match self.expires {
                Some(at) => {
                    let left = (at.0 - Timestamp::now().0).max(0) as u64;
                    tokio::time::sleep(std::time::Duration::from_secs(left)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                () = &mut expiry => return,
                changed = self.revocations.changed() => {
                    if changed.is_err() || !self.holds(&p).await.unwrap_or(false) {
                        return;
                    }
                }
            }
        }
    }

    /// Whether the credential is live and its user may still see the app.
    async fn holds(&self, p: &Platform) -> Result<bool, OpsError> {
        let (credential, app_id) = (self.credential.clone(), self.app_id);
        p.store
            .read(move |db| Ok(still_allowed(db, &credential, app_id)?))
            .await
    }
}

fn still_allowed(
    db: &Db<'_>,
    credential: &Credential,
    app_id: i64,
) -> Result<bool, crate::store::StoreError> {
    let user = match credential {
        Credential::Token(hash) => match db.live_token_user(hash)? {
            Some(user_id) => db.user_by_id(user_id)?,
            None => None,
        },
        Credential::Session(hash) => db.session(hash)?.map(|s| s.user),
    };
    let Some(user) = user else {
        return Ok(false);
    };
    let Some(app) = db.app_by_id(app_id)? else {
        return Ok(false);
    };
    Ok(db
        .app_for(&app.name, &user)?
        .is_some_and(|seen| seen.id == app_id))
}
