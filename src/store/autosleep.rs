//! Scale to zero: each app's autosleep setting (`app_sleep`: idle time, kept process
//! types) and its sleep state (awake, sleeping, or crashed with the reason its last wake
//! failed). An app without a row never sleeps and is awake.

use std::collections::BTreeSet;
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError};
use crate::domain::{Autosleep, SleepState, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SleepRow {
    pub app_id: i64,
    /// None: autosleep is off (the app may still be asleep until its next request).
    pub autosleep: Option<Autosleep>,
    pub state: SleepState,
    /// Why the last wake failed (`crashed` only).
    pub note: Option<String>,
    /// When the state last changed.
    pub since: Option<Timestamp>,
}

impl SleepRow {
    /// An app with no row: awake, never sleeps.
    pub fn awake(app_id: i64) -> SleepRow {
        SleepRow {
            app_id,
            autosleep: None,
            state: SleepState::Awake,
            note: None,
            since: None,
        }
    }

    /// Whether `process_type` runs now: every type while awake; asleep, only kept ones.
    pub fn runs(&self, process_type: &str) -> bool {
        !self.state.is_asleep()
            || self
                .autosleep
                .as_ref()
                .is_some_and(|a| a.keeps(process_type))
    }
}

const SELECT: &str = "SELECT app_id, idle_secs, keep, state, note, since FROM app_sleep";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SleepRow> {
    let corrupt = |i, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let idle: Option<i64> = r.get(1)?;
    let keep: String = r.get(2)?;
    let keep: BTreeSet<String> = serde_json::from_str(&keep).map_err(|e| corrupt(2, e.into()))?;
    let state: String = r.get(3)?;
    let state = SleepState::parse(&state)
        .ok_or_else(|| corrupt(3, format!("unknown sleep state {state}").into()))?;
    Ok(SleepRow {
        app_id: r.get(0)?,
        autosleep: idle.map(|secs| Autosleep {
            idle: Duration::from_secs(secs.max(0) as u64),
            keep,
        }),
        state,
        note: r.get(4)?,
        since: r.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

impl Db<'_> {
    /// The app's setting and state (awake, never sleeps, when it has no row).
    pub fn sleep(&self, app_id: i64) -> Result<SleepRow, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("{SELECT} WHERE app_id = ?1"),
                params![app_id],
                from_row,
            )
            .optional()?;
        Ok(row.unwrap_or_else(|| SleepRow::awake(app_id)))
    }

    /// Every app whose autosleep is on, with its name, for the idle watcher.
    pub fn autosleeping_apps(&self) -> Result<Vec<(SleepRow, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.app_id, s.idle_secs, s.keep, s.state, s.note, s.since, a.name
             FROM app_sleep s JOIN apps a ON a.id = s.app_id
             WHERE s.idle_secs IS NOT NULL ORDER BY a.name",
        )?;
        let rows = stmt.query_map([], |r| Ok((from_row(r)?, r.get::<_, String>(6)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Turns autosleep on (with its idle time and kept types) or off; the state is kept.
    pub fn set_autosleep(
        &self,
        app_id: i64,
        autosleep: Option<&Autosleep>,
    ) -> Result<(), StoreError> {
        let idle = autosleep.map(|a| a.idle.as_secs() as i64);
        let keep = serde_json::to_string(&autosleep.map(|a| &a.keep).cloned().unwrap_or_default())?;
        self.conn.execute(
            "INSERT INTO app_sleep (app_id, idle_secs, keep) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id) DO UPDATE SET idle_secs = ?2, keep = ?3",
            params![app_id, idle, keep],
        )?;
        Ok(())
    }

    /// Records a new sleep state (with the failed wake's reason for `crashed`).
    pub fn set_sleep_state(
        &self,
        app_id: i64,
        state: SleepState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO app_sleep (app_id, state, note, since) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (app_id) DO UPDATE SET state = ?2, note = ?3, since = ?4",
            params![app_id, state.as_str(), note, Timestamp::now().0],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppName;

    async fn app(store: &crate::store::Store) -> i64 {
        store
            .write(|db| {
                let admin = db.insert_user("admin", None, true)?;
                let app = db.insert_app(&AppName::parse("sleepy").unwrap(), &admin)?;
                Ok::<_, StoreError>(app.id)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_app_without_a_row_is_awake_and_the_setting_and_state_are_kept_apart() {
        let store = crate::store::open_in_memory();
        let id = app(&store).await;
        let row = store.read(move |db| db.sleep(id)).await.unwrap();
        assert_eq!(row, SleepRow::awake(id));
        assert!(row.runs("web"));

        let sleep = Autosleep {
            idle: Duration::from_secs(90),
            keep: ["worker".to_owned()].into(),
        };
        let on = sleep.clone();
        store
            .write(move |db| {
                db.set_autosleep(id, Some(&on))?;
                db.set_sleep_state(id, SleepState::Asleep, None)
            })
            .await
            .unwrap();
        let row = store.read(move |db| db.sleep(id)).await.unwrap();
        assert_eq!(row.autosleep, Some(sleep));
        assert_eq!(row.state, SleepState::Asleep);
        assert!(!row.runs("web") && row.runs("worker") && !row.runs("clock"));
        let listed = store.read(|db| db.autosleeping_apps()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1, "sleepy");

        store
            .write(move |db| {
                db.set_sleep_state(id, SleepState::Crashed, Some("web.1 exited with code 1"))?;
                db.set_autosleep(id, None)
            })
            .await
            .unwrap();
        let row = store.read(move |db| db.sleep(id)).await.unwrap();
        assert_eq!(row.autosleep, None);
        assert_eq!(row.state, SleepState::Crashed);
        assert_eq!(row.note.as_deref(), Some("web.1 exited with code 1"));
        assert!(
            !row.runs("worker"),
            "off, but asleep until the next request"
        );
        assert!(
            store
                .read(|db| db.autosleeping_apps())
                .await
                .unwrap()
                .is_empty()
        );
    }
}
