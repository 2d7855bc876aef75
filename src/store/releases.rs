//! Releases: numbered per app, immutable but for their rollout state.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, parse_text};
use crate::domain::{ReleaseState, Timestamp};

#[derive(Debug, Clone)]
pub struct ReleaseRow {
    pub id: i64,
    pub app_id: i64,
    pub version: i64,
    pub build_id: Option<i64>,
    pub config_version_id: i64,
    pub description: String,
    pub author: String,
    pub state: ReleaseState,
    pub state_detail: Option<String>,
    pub created_at: Timestamp,
    /// The commit of the release's build, when it has one.
    pub commit: Option<String>,
}

pub struct NewRelease<'a> {
    pub app_id: i64,
    pub build_id: Option<i64>,
    pub config_version_id: i64,
    pub description: &'a str,
    pub author: &'a str,
    pub state: ReleaseState,
}

const SELECT: &str = "SELECT r.id, r.app_id, r.version, r.build_id, r.config_version_id,
                             r.description, r.author, r.state, r.state_detail, r.created_at,
                             b.commit_sha
                      FROM releases r LEFT JOIN builds b ON b.id = r.build_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(ReleaseRow, String)> {
    Ok((
        ReleaseRow {
            id: r.get(0)?,
            app_id: r.get(1)?,
            version: r.get(2)?,
            build_id: r.get(3)?,
            config_version_id: r.get(4)?,
            description: r.get(5)?,
            author: r.get(6)?,
            state: ReleaseState::Pending,
            state_detail: r.get(8)?,
            created_at: Timestamp(r.get(9)?),
            commit: r.get(10)?,
        },
        r.get(7)?,
    ))
}

fn finish((mut row, state): (ReleaseRow, String)) -> Result<ReleaseRow, StoreError> {
    row.state = parse_text(state)?;
    Ok(row)
}

impl Db<'_> {
    /// Inserts the app's next release number; callers hold the write transaction, so two
    /// releases can never get the same number.
    pub fn insert_release(&self, new: NewRelease<'_>) -> Result<ReleaseRow, StoreError> {
        let version: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = ?1",
            params![new.app_id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO releases (app_id, version, build_id, config_version_id, description, author, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                new.app_id,
                version,
                new.build_id,
                new.config_version_id,
                new.description,
                new.author,
                new.state.as_str(),
                Timestamp::now().0
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        // A release records the add-ons the app had then (`DATABASE=postgres-fluffy-1234`).
        self.conn.execute(
            "UPDATE releases SET addons = (
                 SELECT COALESCE(json_group_array(t.name || '=' || d.name), '[]')
                 FROM addon_attachments t JOIN addons d ON d.id = t.addon_id
                 WHERE t.app_id = ?2)
             WHERE id = ?1",
            params![id, new.app_id],
        )?;
        let sql = format!("{SELECT} WHERE r.id = ?1");
        finish(self.conn.query_row(&sql, params![id], from_row)?)
    }

    pub fn releases(&self, app_id: i64, limit: i64) -> Result<Vec<ReleaseRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.app_id = ?1 ORDER BY r.version DESC LIMIT ?2");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id, limit], from_row)?;
        rows.map(|r| finish(r?)).collect()
    }

    pub fn release(&self, app_id: i64, version: i64) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.app_id = ?1 AND r.version = ?2");
        self.conn
            .query_row(&sql, params![app_id, version], from_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    pub fn release_by_id(&self, id: i64) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.id = ?1");
        self.conn
            .query_row(&sql, params![id], from_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    /// The release serving now: the newest one whose rollout succeeded.
    pub fn current_release(&self, app_id: i64) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE r.app_id = ?1 AND r.state = 'succeeded' ORDER BY r.version DESC LIMIT 1"
        );
        self.conn
            .query_row(&sql, params![app_id], from_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    /// The one place a release's state changes.
    pub fn set_release_state(
        &self,
        release_id: i64,
        state: ReleaseState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE releases SET state = ?2, state_detail = ?3 WHERE id = ?1",
            params![release_id, state.as_str(), detail],
        )?;
        Ok(())
    }

    /// Releases left pending by a server that stopped mid-rollout.
    pub fn pending_releases(&self) -> Result<Vec<ReleaseRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.state = 'pending' ORDER BY r.id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], from_row)?;
        rows.map(|r| finish(r?)).collect()
    }
}

impl Db<'_> {
    /// The newest release that has not failed: what the next config change builds on.
    pub fn latest_live_release(&self, app_id: i64) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE r.app_id = ?1 AND r.state NOT IN ('failed', 'superseded') ORDER BY r.version DESC LIMIT 1"
        );
        self.conn
            .query_row(&sql, params![app_id], from_row)
            .optional()?
            .map(finish)
            .transpose()
    }
}
