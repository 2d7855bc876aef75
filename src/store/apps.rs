//! Apps and their members.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, UserRow};
use crate::domain::{AppName, Timestamp};

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: i64,
    pub name: AppName,
    pub owner_id: i64,
    pub owner: String,
    pub deploy_branch: Option<String>,
    pub created_at: Timestamp,
    /// The router answers 503 "in maintenance" instead of proxying.
    pub maintenance: bool,
}

const SELECT: &str =
    "SELECT a.id, a.name, a.owner_id, u.name, a.deploy_branch, a.created_at, a.maintenance
                      FROM apps a JOIN users u ON u.id = a.owner_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AppRow> {
    let name: String = r.get(1)?;
    let name = AppName::parse(&name).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(AppRow {
        id: r.get(0)?,
        name,
        owner_id: r.get(2)?,
        owner: r.get(3)?,
        deploy_branch: r.get(4)?,
        created_at: Timestamp(r.get(5)?),
        maintenance: r.get(6)?,
    })
}

/// Apps a user may see: all of them for an admin, else owned or shared ones; a review
/// app is seen by whoever sees its parent (its own owner and members do not count, so a
/// transfer or a grant of the parent is at once the review apps').
const VISIBLE: &str = "(?2 OR EXISTS (SELECT 1 FROM apps g
                        WHERE g.id = COALESCE((SELECT r.parent_id FROM review_apps r WHERE r.app_id = a.id), a.id)
                        AND (g.owner_id = ?1 OR EXISTS
                         (SELECT 1 FROM app_members m WHERE m.app_id = g.id AND m.user_id = ?1))))";

impl Db<'_> {
    pub fn app(&self, name: &AppName) -> Result<Option<AppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE a.name = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![name.as_str()], from_row)
            .optional()?)
    }

    pub fn app_by_id(&self, id: i64) -> Result<Option<AppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE a.id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![id], from_row)
            .optional()?)
    }

    /// The app, if it exists and `user` may see it.
    pub fn app_for(&self, name: &AppName, user: &UserRow) -> Result<Option<AppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE a.name = ?3 AND {VISIBLE}");
        Ok(self
            .conn
            .query_row(
                &sql,
                params![user.id, user.is_admin, name.as_str()],
                from_row,
            )
            .optional()?)
    }

    pub fn apps_for(&self, user: &UserRow) -> Result<Vec<AppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE {VISIBLE} ORDER BY a.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![user.id, user.is_admin], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn all_apps(&self) -> Result<Vec<AppRow>, StoreError> {
        let sql = format!("{SELECT} ORDER BY a.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_app(&self, name: &AppName, owner: &UserRow) -> Result<AppRow, StoreError> {
        let now = Timestamp::now();
        self.conn.execute(
            "INSERT INTO apps (name, owner_id, created_at) VALUES (?1, ?2, ?3)",
            params![name.as_str(), owner.id, now.0],
        )?;
        Ok(AppRow {
            id: self.conn.last_insert_rowid(),
            name: name.clone(),
            owner_id: owner.id,
            owner: owner.name.clone(),
            deploy_branch: None,
            created_at: now,
            maintenance: false,
        })
    }

    pub fn delete_app(&self, app_id: i64) -> Result<(), StoreError> {
        self.revokes_access();
        self.conn
            .execute("DELETE FROM apps WHERE id = ?1", params![app_id])?;
        Ok(())
    }

    pub fn set_maintenance(&self, app_id: i64, on: bool) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE apps SET maintenance = ?2 WHERE id = ?1",
            params![app_id, on],
        )?;
        Ok(())
    }

    pub fn set_deploy_branch(&self, app_id: i64, branch: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE apps SET deploy_branch = ?2 WHERE id = ?1",
            params![app_id, branch],
        )?;
        Ok(())
    }

    /// Records that the app's postdeploy script ran; true only for the first caller.
    pub fn mark_postdeployed(&self, app_id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE apps SET postdeployed = 1 WHERE id = ?1 AND postdeployed = 0",
            params![app_id],
        )?;
        Ok(n > 0)
    }

    pub fn add_member(&self, app_id: i64, user_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO app_members (app_id, user_id) VALUES (?1, ?2)",
            params![app_id, user_id],
        )?;
        Ok(())
    }

    pub fn set_owner(&self, app_id: i64, user_id: i64) -> Result<(), StoreError> {
        self.revokes_access();
        self.conn.execute(
            "UPDATE apps SET owner_id = ?2 WHERE id = ?1",
            params![app_id, user_id],
        )?;
        Ok(())
    }

    pub fn remove_member(&self, app_id: i64, user_id: i64) -> Result<bool, StoreError> {
        self.revokes_access();
        let n = self.conn.execute(
            "DELETE FROM app_members WHERE app_id = ?1 AND user_id = ?2",
            params![app_id, user_id],
        )?;
        Ok(n > 0)
    }

    pub fn members(&self, app_id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT u.name FROM app_members m JOIN users u ON u.id = m.user_id
             WHERE m.app_id = ?1 ORDER BY u.name",
        )?;
        let rows = stmt.query_map(params![app_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
