//! API tokens: stored only as a SHA-256 hash, revocable, with a last-used time.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, UserRow};
use crate::domain::Timestamp;

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        user_name: r.get(2)?,
        name: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        last_used_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

const SELECT: &str =
    "SELECT t.id, t.user_id, u.name, t.name, t.created_at, t.last_used_at, t.revoked_at
                      FROM tokens t JOIN users u ON u.id = t.user_id";

impl Db<'_> {
    pub fn insert_token(&self, user_id: i64, name: &str, hash: &[u8]) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO tokens (user_id, name, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![user_id, name, hash, Timestamp::now().0],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The live token with this hash and its user; marks it used (at most once a minute,
    /// so authenticating stays a read most of the time).
    pub fn user_for_token(&self, hash: &[u8]) -> Result<Option<(UserRow, i64)>, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT u.id, u.name, u.password_hash, u.is_admin, u.created_at, t.id, t.last_used_at
                 FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.revoked_at IS NULL",
                params![hash],
                |r| {
                    Ok((
                        UserRow {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            password_hash: r.get(2)?,
                            is_admin: r.get(3)?,
                            created_at: Timestamp(r.get(4)?),
                        },
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((user, token_id, last_used)) = found else {
            return Ok(None);
        };
        let now = Timestamp::now().0;
        if last_used.is_none_or(|t| now - t >= 60) {
            self.conn.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
                params![token_id, now],
            )?;
        }
        Ok(Some((user, token_id)))
    }

    /// Live tokens, of one user or of everyone.
    pub fn tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE t.revoked_at IS NULL AND (?1 IS NULL OR t.user_id = ?1) ORDER BY t.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![user_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn token(&self, id: i64) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("{SELECT} WHERE t.id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![id], from_row)
            .optional()?)
    }

    /// The id of the user of the live token with this hash, without marking it used.
    pub fn live_token_user(&self, hash: &[u8]) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT user_id FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
                params![hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Revokes every live token of a user; how many there were.
    pub fn revoke_user_tokens(&self, user_id: i64) -> Result<usize, StoreError> {
        self.revokes_access();
        Ok(self.conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, Timestamp::now().0],
        )?)
    }

    pub fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        self.revokes_access();
        self.conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, Timestamp::now().0],
        )?;
        Ok(())
    }
}
