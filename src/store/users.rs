//! Users: names, password hashes, the admin flag; removal.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError};
use crate::domain::Timestamp;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, name, password_hash, is_admin, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        is_admin: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
    })
}

impl Db<'_> {
    pub fn user_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![name], from_row)
            .optional()?)
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![id], from_row)
            .optional()?)
    }

    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        is_admin: bool,
    ) -> Result<UserRow, StoreError> {
        let now = Timestamp::now();
        self.conn.execute(
            "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, password_hash, is_admin, now.0],
        )?;
        Ok(UserRow {
            id: self.conn.last_insert_rowid(),
            name: name.to_owned(),
            password_hash: password_hash.map(str::to_owned),
            is_admin,
            created_at: now,
        })
    }

    pub fn set_password_hash(&self, user_id: i64, hash: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user_id, hash],
        )?;
        Ok(())
    }

    /// Removes the user; their tokens, sessions and memberships go with them.
    pub fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.revokes_access();
        self.conn
            .execute("DELETE FROM users WHERE id = ?1", params![user_id])?;
        Ok(())
    }

    /// Names of the apps `user_id` owns.
    pub fn apps_owned_by(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM apps WHERE owner_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map(params![user_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
