//! TLS certificates and HTTPS settings: the state of each ACME-managed hostname (with the
//! reason of its last failure and when to try again), the certificates users brought, and
//! each app's https-only and HSTS choice. Certificate and key files live under
//! `DATA/certs` (see `certs::files`); these rows never hold key material.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, parse_text};
use crate::domain::{CertState, Timestamp};

/// One hostname whose certificate paas obtains and renews with ACME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertRow {
    pub hostname: String,
    /// `None` for the control host.
    pub app_id: Option<i64>,
    pub state: CertState,
    /// Why the last attempt failed (kept while a renewal is pending, cleared on success).
    pub reason: Option<String>,
    pub issuer: Option<String>,
    pub not_after: Option<Timestamp>,
    /// Failed attempts in a row, for the backoff.
    pub failures: u32,
    pub next_attempt_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A certificate a user installed for an app (`paas certs:add`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCertRow {
    pub id: i64,
    pub app_id: i64,
    /// The DNS names the certificate is valid for (wildcards keep their `*.`).
    pub names: Vec<String>,
    pub issuer: String,
    pub not_after: Timestamp,
    pub created_at: Timestamp,
}

/// An app's HTTPS choices; the default is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppHttpsRow {
    pub https_only: bool,
    /// `Strict-Transport-Security: max-age=N` on TLS responses, when set.
    pub hsts_max_age: Option<u32>,
}

/// What one ACME attempt changes.
#[derive(Debug, Clone)]
pub struct AcmeOutcome<'a> {
    pub state: CertState,
    pub reason: Option<&'a str>,
    /// Of the certificate now served, when a new one was stored.
    pub issuer: Option<&'a str>,
    pub not_after: Option<Timestamp>,
    pub failures: u32,
    pub next_attempt_at: Timestamp,
}

const ACME_SELECT: &str = "SELECT hostname, app_id, state, reason, issuer, not_after, failures,
                                  next_attempt_at, updated_at FROM acme_certs";

fn acme_from_row(r: &Row<'_>) -> rusqlite::Result<(AcmeCertRow, String)> {
    let state: String = r.get(2)?;
    Ok((
        AcmeCertRow {
            hostname: r.get(0)?,
            app_id: r.get(1)?,
            state: CertState::Pending,
            reason: r.get(3)?,
            issuer: r.get(4)?,
            not_after: r.get::<_, Option<i64>>(5)?.map(Timestamp),
            failures: r.get(6)?,
            next_attempt_at: Timestamp(r.get(7)?),
            updated_at: Timestamp(r.get(8)?),
        },
        state,
    ))
}

fn with_state((mut row, state): (AcmeCertRow, String)) -> Result<AcmeCertRow, StoreError> {
    row.state = parse_text(state)?;
    Ok(row)
}

const USER_SELECT: &str = "SELECT id, app_id, names, issuer, not_after, created_at FROM user_certs";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<(UserCertRow, String)> {
    Ok((
        UserCertRow {
            id: r.get(0)?,
            app_id: r.get(1)?,
            names: Vec::new(),
            issuer: r.get(3)?,
            not_after: Timestamp(r.get(4)?),
            created_at: Timestamp(r.get(5)?),
        },
        r.get(2)?,
    ))
}

fn with_names((mut row, names): (UserCertRow, String)) -> Result<UserCertRow, StoreError> {
    row.names = serde_json::from_str(&names)?;
    Ok(row)
}

impl Db<'_> {
    pub fn acme_certs(&self) -> Result<Vec<AcmeCertRow>, StoreError> {
        let sql = format!("{ACME_SELECT} ORDER BY hostname");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], acme_from_row)?;
        rows.map(|r| with_state(r?)).collect()
    }

    pub fn acme_cert(&self, hostname: &str) -> Result<Option<AcmeCertRow>, StoreError> {
        let sql = format!("{ACME_SELECT} WHERE hostname = ?1");
        self.conn
            .query_row(&sql, params![hostname], acme_from_row)
            .optional()?
            .map(with_state)
            .transpose()
    }

    /// Starts managing `hostname` (pending, due now), or moves it to another app, which
    /// starts over: nothing of the former app's orders (state, reason, issuer) is kept.
    pub fn ensure_acme_cert(&self, hostname: &str, app_id: Option<i64>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO acme_certs (hostname, app_id, state, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (hostname) DO UPDATE SET app_id = excluded.app_id,
                 state = excluded.state, reason = NULL, issuer = NULL, not_after = NULL,
                 failures = 0, next_attempt_at = 0, updated_at = excluded.updated_at
             WHERE acme_certs.app_id IS NOT excluded.app_id",
            params![
                hostname,
                app_id,
                CertState::Pending.as_str(),
                Timestamp::now().0
            ],
        )?;
        Ok(())
    }

    /// The one place an ACME hostname's state changes.
    pub fn record_acme_outcome(
        &self,
        hostname: &str,
        outcome: &AcmeOutcome<'_>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE acme_certs SET state = ?2, reason = ?3, issuer = COALESCE(?4, issuer),
                    not_after = COALESCE(?5, not_after), failures = ?6, next_attempt_at = ?7,
                    updated_at = ?8
             WHERE hostname = ?1",
            params![
                hostname,
                outcome.state.as_str(),
                outcome.reason,
                outcome.issuer,
                outcome.not_after.map(|t| t.0),
                outcome.failures,
                outcome.next_attempt_at.0,
                Timestamp::now().0
            ],
        )?;
        Ok(())
    }

    pub fn delete_acme_cert(&self, hostname: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM acme_certs WHERE hostname = ?1",
            params![hostname],
        )?;
        Ok(n > 0)
    }

    pub fn user_certs(&self) -> Result<Vec<UserCertRow>, StoreError> {
        let sql = format!("{USER_SELECT} ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], user_from_row)?;
        rows.map(|r| with_names(r?)).collect()
    }

    pub fn user_certs_of(&self, app_id: i64) -> Result<Vec<UserCertRow>, StoreError> {
        let sql = format!("{USER_SELECT} WHERE app_id = ?1 ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id], user_from_row)?;
        rows.map(|r| with_names(r?)).collect()
    }

    pub fn insert_user_cert(
        &self,
        app_id: i64,
        names: &[String],
        issuer: &str,
        not_after: Timestamp,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO user_certs (app_id, names, issuer, not_after, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                app_id,
                serde_json::to_string(names)?,
                issuer,
                not_after.0,
                Timestamp::now().0
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn delete_user_cert(&self, app_id: i64, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM user_certs WHERE app_id = ?1 AND id = ?2",
            params![app_id, id],
        )?;
        Ok(n > 0)
    }

    pub fn app_https(&self, app_id: i64) -> Result<AppHttpsRow, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT https_only, hsts_max_age FROM app_https WHERE app_id = ?1",
                params![app_id],
                |r| {
                    Ok(AppHttpsRow {
                        https_only: r.get(0)?,
                        hsts_max_age: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Every app's HTTPS choices that differ from the default, by app id.
    pub fn all_app_https(&self) -> Result<Vec<(i64, AppHttpsRow)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT app_id, https_only, hsts_max_age FROM app_https
             WHERE https_only = 1 OR hsts_max_age IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                AppHttpsRow {
                    https_only: r.get(1)?,
                    hsts_max_age: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_app_https(&self, app_id: i64, https: AppHttpsRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO app_https (app_id, https_only, hsts_max_age) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id) DO UPDATE SET https_only = excluded.https_only,
                                                hsts_max_age = excluded.hsts_max_age",
            params![app_id, https.https_only, https.hsts_max_age],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{AppName, CertState, Timestamp};
    use crate::store::{AcmeOutcome, AppHttpsRow, StoreError, open_in_memory};

    #[tokio::test]
    async fn acme_rows_follow_their_app_and_keep_the_last_certificate_on_failure() {
        let store = open_in_memory();
        store
            .write(|db| {
                let admin = db.insert_user("admin", None, true)?;
                let app = db.insert_app(&AppName::parse("blog").unwrap(), &admin)?;
                db.ensure_acme_cert("www.example.com", Some(app.id))?;
                db.ensure_acme_cert("www.example.com", Some(app.id))?;
                let row = db.acme_cert("www.example.com")?.unwrap();
                assert_eq!(row.state, CertState::Pending);
                db.record_acme_outcome(
                    "www.example.com",
                    &AcmeOutcome {
                        state: CertState::Valid,
                        reason: None,
                        issuer: Some("Test CA"),
                        not_after: Some(Timestamp(2_000_000_000)),
                        failures: 0,
                        next_attempt_at: Timestamp(0),
                    },
                )?;
                db.record_acme_outcome(
                    "www.example.com",
                    &AcmeOutcome {
                        state: CertState::Failed,
                        reason: Some("connection refused"),
                        issuer: None,
                        not_after: None,
                        failures: 1,
                        next_attempt_at: Timestamp(60),
                    },
                )?;
                let row = db.acme_cert("www.example.com")?.unwrap();
                assert_eq!(row.state, CertState::Failed);
                assert_eq!(row.issuer.as_deref(), Some("Test CA"));
                assert_eq!(row.not_after, Some(Timestamp(2_000_000_000)));
                assert_eq!(row.reason.as_deref(), Some("connection refused"));
                db.delete_app(app.id)?;
                assert!(db.acme_certs()?.is_empty());
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn user_certs_and_https_choices_belong_to_one_app() {
        let store = open_in_memory();
        store
            .write(|db| {
                let admin = db.insert_user("admin", None, true)?;
                let app = db.insert_app(&AppName::parse("shop").unwrap(), &admin)?;
                let names = vec!["*.example.com".to_owned(), "example.com".to_owned()];
                let id = db.insert_user_cert(app.id, &names, "Corp CA", Timestamp(5))?;
                assert_eq!(db.user_certs_of(app.id)?[0].names, names);
                assert!(!db.delete_user_cert(app.id + 1, id)?);
                assert!(db.delete_user_cert(app.id, id)?);
                assert_eq!(db.app_https(app.id)?, AppHttpsRow::default());
                let https = AppHttpsRow {
                    https_only: true,
                    hsts_max_age: Some(300),
                };
                db.set_app_https(app.id, https)?;
                assert_eq!(db.app_https(app.id)?, https);
                assert_eq!(db.all_app_https()?, vec![(app.id, https)]);
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
}
