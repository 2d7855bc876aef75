//! The audit trail: who did what to which app, when. Rows name apps and users by name so
//! they outlive what they describe; an app's own trail starts after the last destruction
//! of an app of its name, so a new app never shows an old namesake's events.

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

    /// Newest first; `app_names` limits the rows to those apps as they are now, i.e. after
    /// the last `app.destroy` of each name (`None`: every event ever).
    pub fn events(
        &self,
        app_names: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let filter = app_names.map(serde_json::to_string).transpose()?;
        let mut stmt = self.conn.prepare(
            "SELECT e.id, e.at, e.actor, e.app_name, e.action, e.detail FROM events e
             WHERE ?2 IS NULL
                OR (e.app_name IN (SELECT value FROM json_each(?2))
                    AND e.id > COALESCE((SELECT max(d.id) FROM events d
                                         WHERE d.app_name = e.app_name
                                           AND d.action = 'app.destroy'), 0))
             ORDER BY e.id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit, filter], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(app: &'a str, action: &'a str, detail: &'a str) -> NewEvent<'a> {
        NewEvent {
            actor: "admin",
            app_name: Some(app),
            action,
            detail,
        }
    }

    #[tokio::test]
    async fn an_app_made_after_a_namesake_was_destroyed_shows_none_of_its_events() {
        let store = super::super::open_in_memory();
        let rows = store
            .write(|db| {
                db.insert_event(event("shop", "app.create", "created shop"))?;
                db.insert_event(event("shop", "config.set", "set SECRET_HINT"))?;
                db.insert_event(event("shop", "app.destroy", "destroyed shop"))?;
                db.insert_event(event("shop", "app.create", "created shop again"))?;
                let mine = db.events(Some(&["shop".to_owned()]), 100)?;
                let all = db.events(None, 100)?;
                Ok::<_, StoreError>((mine, all))
            })
            .await
            .unwrap();
        let (mine, all) = rows;
        let details: Vec<&str> = mine.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["created shop again"]);
        assert_eq!(all.len(), 4, "the whole trail stays for admins");
    }
}
