//! The audit trail: who did what to which app, when. Rows name apps and users by name so
//! they outlive what they describe.

use rusqlite::{Row, params};

use super::{Db, StoreError};
use crate::domain::Timestamp;

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub app_name: Option<String>,
    pub action: String,
    pub detail: String,
}

pub struct NewEvent<'a> {
    pub actor: &'a str,
    pub app_name: Option<&'a str>,
    pub action: &'a str,
    pub detail: &'a str,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        at: Timestamp(r.get(1)?),
        actor: r.get(2)?,
        app_name: r.get(3)?,
        action: r.get(4)?,
        detail: r.get(5)?,
    })
}

impl Db<'_> {
    pub fn insert_event(&self, event: NewEvent<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO events (at, actor, app_name, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                Timestamp::now().0,
                event.actor,
                event.app_name,
                event.action,
                event.detail
            ],
        )?;
        Ok(())
    }

    /// Newest first; `app_names` limits the rows to those apps (`None`: every event).
    pub fn events(
        &self,
        app_names: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let filter = app_names.map(serde_json::to_string).transpose()?;
        let mut stmt = self.conn.prepare(
            "SELECT id, at, actor, app_name, action, detail FROM events
             WHERE ?2 IS NULL OR app_name IN (SELECT value FROM json_each(?2))
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit, filter], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
