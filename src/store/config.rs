//! Config versions (one immutable row per change) and the platform-wide vars.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError};
use crate::domain::{ConfigVars, Timestamp};

#[derive(Debug, Clone)]
pub struct ConfigVersionRow {
    pub id: i64,
    pub vars: ConfigVars,
}

impl Db<'_> {
    /// The app's newest config version, or `None` before its first change.
    pub fn latest_config(&self, app_id: i64) -> Result<Option<ConfigVersionRow>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, vars FROM config_versions WHERE app_id = ?1 ORDER BY id DESC LIMIT 1",
                params![app_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(id, vars)| {
            Ok(ConfigVersionRow {
                id,
                vars: serde_json::from_str(&vars)?,
            })
        })
        .transpose()
    }

    pub fn config_version(&self, id: i64) -> Result<ConfigVersionRow, StoreError> {
        let vars: String = self.conn.query_row(
            "SELECT vars FROM config_versions WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        Ok(ConfigVersionRow {
            id,
            vars: serde_json::from_str(&vars)?,
        })
    }

    pub fn insert_config_version(
        &self,
        app_id: i64,
        vars: &ConfigVars,
    ) -> Result<ConfigVersionRow, StoreError> {
        self.conn.execute(
            "INSERT INTO config_versions (app_id, vars, created_at) VALUES (?1, ?2, ?3)",
            params![app_id, serde_json::to_string(vars)?, Timestamp::now().0],
        )?;
        Ok(ConfigVersionRow {
            id: self.conn.last_insert_rowid(),
            vars: vars.clone(),
        })
    }

    pub fn global_config(&self) -> Result<ConfigVars, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM global_config ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn replace_global_config(&self, vars: &ConfigVars) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM global_config", [])?;
        let mut stmt = self
            .conn
            .prepare("INSERT INTO global_config (key, value) VALUES (?1, ?2)")?;
        for (key, value) in vars {
            stmt.execute(params![key, value])?;
        }
        Ok(())
    }
}
