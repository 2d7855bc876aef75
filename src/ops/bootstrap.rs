//! First start: the admin user and its first token.

use crate::auth::ApiToken;
use crate::store::NewEvent;

use super::users::{generate_password, hash_off_thread};
use super::{OpsError, Platform};

/// What the first start made, for the operator to read once.
pub struct FirstStart {
    pub admin: String,
    /// None when the operator supplied `PAAS_ADMIN_TOKEN` (they know it already).
    pub token: Option<String>,
    pub password: String,
}

/// Creates the `admin` user when the database has no user yet.
pub async fn ensure_admin(p: &Platform) -> Result<Option<FirstStart>, OpsError> {
    let has_users = p
        .store
        .read(|db| db.user_count().map_err(OpsError::from))
        .await?
        > 0;
    if has_users {
        return Ok(None);
    }
    let password = generate_password();
    let hash = hash_off_thread(p, password.clone()).await?;
    let (token, operator_supplied) = match &p.settings.admin_token {
        Some(value) => (ApiToken::from_operator(value.clone()), true),
        None => (ApiToken::generate(), false),
    };
    let token_hash = token.hash();
    p.store
        .write(move |tx| {
            if tx.user_count()? > 0 {
                return Ok(());
            }
            let admin = tx.insert_user("admin", Some(&hash), true)?;
            tx.insert_token(admin.id, "first start", &token_hash)?;
            tx.insert_event(NewEvent {
                actor: "paas",
                app_name: None,
                action: "user.create",
                detail: "created admin admin at first start",
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    Ok(Some(FirstStart {
        admin: "admin".to_owned(),
        token: (!operator_supplied).then(|| token.secret().to_owned()),
        password,
    }))
}
