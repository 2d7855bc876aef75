//! Web UI sessions: stored as a hash of the cookie value, with their CSRF token and expiry.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError, UserRow};
use crate::domain::Timestamp;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub user: UserRow,
    pub csrf: String,
    pub expires_at: Timestamp,
}

impl Db<'_> {
    pub fn insert_session(
        &self,
        hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, user_id, csrf, Timestamp::now().0, expires_at.0],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The live session with this hash: not revoked, not expired.
    pub fn session(&self, hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT s.id, s.csrf, s.expires_at, u.id, u.name, u.password_hash, u.is_admin, u.created_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2",
                params![hash, Timestamp::now().0],
                |r| {
                    Ok(SessionRow {
                        id: r.get(0)?,
                        csrf: r.get(1)?,
                        expires_at: Timestamp(r.get(2)?),
                        user: UserRow {
                            id: r.get(3)?,
                            name: r.get(4)?,
                            password_hash: r.get(5)?,
                            is_admin: r.get(6)?,
                            created_at: Timestamp(r.get(7)?),
                        },
                    })
                },
            )
            .optional()?)
    }

    pub fn revoke_session(&self, hash: &[u8]) -> Result<(), StoreError> {
        self.revokes_access();
        self.conn.execute(
            "UPDATE sessions SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
            params![hash, Timestamp::now().0],
        )?;
        Ok(())
    }

    /// Ends every session of a user (their password changed, or an admin asked).
    pub fn revoke_user_sessions(&self, user_id: i64) -> Result<usize, StoreError> {
        self.revokes_access();
        Ok(self.conn.execute(
            "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, Timestamp::now().0],
        )?)
    }

    /// Drops sessions that ended more than a day ago.
    pub fn prune_sessions(&self) -> Result<usize, StoreError> {
        let cutoff = Timestamp::now().0 - 86_400;
        Ok(self.conn.execute(
            "DELETE FROM sessions WHERE expires_at < ?1 OR revoked_at < ?1",
            params![cutoff],
        )?)
    }
}
