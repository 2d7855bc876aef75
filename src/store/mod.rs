//! The SQLite store: the only module that speaks SQL and the platform's only durable state.
//!
//! One connection in WAL mode behind a mutex, used from `spawn_blocking`: SQLite serialises
//! writers anyway, and one `BEGIN IMMEDIATE` transaction per use case is what makes
//! concurrent changes (twenty `config:set` at once) lose nothing. Each topic adds its typed
//! queries to [`Db`] in its own file.
//!
//! A committed transaction that took access away (a token, session, user or membership
//! removed, an app destroyed or handed over) bumps the store's revocation counter, which
//! long-lived streams watch to re-check what let them in ([`Store::revocations`]).

mod addons;
mod apps;
mod autosleep;
mod builds;
mod certs;
mod config;
mod cron;
mod domains;
mod events;
mod formation;
mod metrics;
mod releases;
mod review_apps;
mod schema;
mod sessions;
mod tokens;
mod users;

use std::cell::Cell;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::watch;

pub use addons::{AddonRow, AttachmentRow, BackupRow, NewAddon};
pub use apps::AppRow;
pub use autosleep::SleepRow;
pub use builds::{BuildOutcome, BuildRow, NewBuild};
pub use certs::{AcmeCertRow, AcmeOutcome, AppHttpsRow, UserCertRow};
pub use config::ConfigVersionRow;
pub use cron::{CronClaim, CronRunRow, NewCronRun};
pub use domains::DomainRow;
pub use events::{EventRow, NewEvent};
pub use formation::FormationRow;
pub use metrics::{FOLDED_SPAN_SECS, MetricSample, ProcessSample, folded_end};
pub use releases::{NewRelease, ReleaseRow};
pub use review_apps::{ReviewAppRow, ReviewSettingsRow};
pub use sessions::SessionRow;
pub use tokens::TokenRow;
pub use users::UserRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
    #[error(
        "the database was made by a newer paas (schema {found}, this binary knows {known}); upgrade paas"
    )]
    NewerSchema { found: usize, known: usize },
    #[error("database task stopped: {0}")]
    Task(String),
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Counts committed transactions that took access away.
    revocations: Arc<watch::Sender<u64>>,
}

/// Typed queries over one connection or transaction; every SQL statement lives on it.
pub struct Db<'a> {
    conn: &'a Connection,
    /// Set by the queries that take access away; read after the commit.
    revokes: Cell<bool>,
}

impl Db<'_> {
    /// Marks this transaction as one that takes access away.
    fn revokes_access(&self) {
        self.revokes.set(true);
    }
}

impl Store {
    /// Opens (creating if needed) the database and runs pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Store::over(conn))
    }

    fn over(conn: Connection) -> Store {
        Store {
            conn: Arc::new(Mutex::new(conn)),
            revocations: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Changes each time a committed transaction took access away: a token, session,
    /// user or membership removed, an app destroyed or given another owner.
    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns `Ok`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(TransactionBehavior::Immediate, f).await
    }

    /// Runs read-only queries; a multi-statement read sees one snapshot.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(TransactionBehavior::Deferred, f).await
    }

    /// `f` in a transaction on a blocking thread; committed when `f` succeeds (a read
    /// commits nothing).
    async fn run<T, E, F>(&self, behavior: TransactionBehavior, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let revocations = Arc::clone(&self.revocations);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("database lock poisoned".into()))?;
            let tx = guard
                .transaction_with_behavior(behavior)
                .map_err(StoreError::from)?;
            let db = Db {
                conn: &tx,
                revokes: Cell::new(false),
            };
            let out = f(&db)?;
            let revoked = db.revokes.get();
            tx.commit().map_err(StoreError::from)?;
            if revoked {
                revocations.send_modify(|n| *n = n.wrapping_add(1));
            }
            Ok(out)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }
}

fn parse_text<T: std::str::FromStr>(raw: String) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    raw.parse::<T>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
pub(crate) fn open_in_memory() -> Store {
    let mut conn = Connection::open_in_memory().expect("in-memory database opens");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("foreign keys switch on");
    schema::migrate(&mut conn).expect("migrations apply");
    Store::over(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AppName, ConfigVars, ReleaseState};

    #[tokio::test]
    async fn releases_are_numbered_per_app_and_members_see_only_their_apps() {
        let store = open_in_memory();
        store
            .write(|db| {
                let admin = db.insert_user("admin", None, true)?;
                let alice = db.insert_user("alice", None, false)?;
                let bob = db.insert_user("bob", None, false)?;
                let a = db.insert_app(&AppName::parse("a").unwrap(), &alice)?;
                let b = db.insert_app(&AppName::parse("b").unwrap(), &bob)?;
                for app in [&a, &b, &a] {
                    let config = db.insert_config_version(app.id, &ConfigVars::new())?;
                    db.insert_release(NewRelease {
                        app_id: app.id,
                        build_id: None,
                        config_version_id: config.id,
                        description: "x",
                        author: "alice",
                        state: ReleaseState::Succeeded,
                    })?;
                }
                let versions: Vec<i64> = db.releases(a.id, 10)?.iter().map(|r| r.version).collect();
                assert_eq!(versions, vec![2, 1]);
                assert_eq!(db.releases(b.id, 10)?.len(), 1);
                assert_eq!(db.apps_for(&alice)?.len(), 1);
                assert!(db.app_for(&b.name, &alice)?.is_none());
                assert_eq!(db.apps_for(&admin)?.len(), 2);
                db.add_member(b.id, alice.id)?;
                assert!(db.app_for(&b.name, &alice)?.is_some());
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failed_write_commits_nothing() {
        let store = open_in_memory();
        let result = store
            .write(|db| {
                db.insert_user("carol", None, false)?;
                Err::<(), StoreError>(StoreError::Corrupt("stop".into()))
            })
            .await;
        assert!(result.is_err());
        let count = store.read(|db| db.user_count()).await.unwrap();
        assert_eq!(count, 0);
    }
}
