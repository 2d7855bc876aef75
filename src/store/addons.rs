//! Add-ons, their attachments to apps, and their backups. An add-on belongs to the app it
//! was made for (its owner) and may be attached to others; a backup belongs to an app.

use std::fmt;

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, parse_text};
use crate::domain::{AddonKind, AddonName, AttachmentName, BackupState, Timestamp};

#[derive(Clone)]
pub struct AddonRow {
    pub id: i64,
    pub name: AddonName,
    pub kind: AddonKind,
    pub version: String,
    pub owner_app_id: i64,
    pub owner_app: String,
    /// Never logged, never in an event; only in the URL of the apps it is attached to.
    pub password: String,
    pub memory_mb: u32,
    /// `HH:MM` (UTC) of the daily backup, if scheduled.
    pub backup_at: Option<String>,
    pub created_at: Timestamp,
}

impl fmt::Debug for AddonRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddonRow")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("owner_app", &self.owner_app)
            .finish_non_exhaustive()
    }
}

pub struct NewAddon<'a> {
    pub name: &'a AddonName,
    pub kind: AddonKind,
    pub owner_app_id: i64,
    pub password: &'a str,
    pub memory_mb: u32,
}

#[derive(Debug, Clone)]
pub struct AttachmentRow {
    pub addon_id: i64,
    pub addon_name: AddonName,
    pub kind: AddonKind,
    pub app_id: i64,
    pub app_name: String,
    pub name: AttachmentName,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct BackupRow {
    pub id: i64,
    pub app_id: i64,
    pub addon_name: String,
    pub state: BackupState,
    pub reason: Option<String>,
    /// `manual`, `scheduled` or `destroy`.
    pub trigger: String,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

fn corrupt(index: usize, e: crate::domain::Invalid) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
}

const SELECT_ADDON: &str = "SELECT d.id, d.name, d.kind, d.version, d.owner_app_id, a.name,
                                   d.password, d.memory_mb, d.backup_at, d.created_at
                            FROM addons d JOIN apps a ON a.id = d.owner_app_id";

fn addon_from(r: &Row<'_>) -> rusqlite::Result<AddonRow> {
    let name: String = r.get(1)?;
    let kind: String = r.get(2)?;
    Ok(AddonRow {
        id: r.get(0)?,
        name: AddonName::parse(&name).map_err(|e| corrupt(1, e))?,
        kind: AddonKind::parse(&kind).map_err(|e| corrupt(2, e))?,
        version: r.get(3)?,
        owner_app_id: r.get(4)?,
        owner_app: r.get(5)?,
        password: r.get(6)?,
        memory_mb: r.get(7)?,
        backup_at: r.get(8)?,
        created_at: Timestamp(r.get(9)?),
    })
}

const SELECT_ATTACHMENT: &str = "SELECT t.addon_id, d.name, d.kind, t.app_id, a.name, t.name,
                                        t.created_at
                                 FROM addon_attachments t
                                 JOIN addons d ON d.id = t.addon_id
                                 JOIN apps a ON a.id = t.app_id";

fn attachment_from(r: &Row<'_>) -> rusqlite::Result<AttachmentRow> {
    let addon: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let name: String = r.get(5)?;
    Ok(AttachmentRow {
        addon_id: r.get(0)?,
        addon_name: AddonName::parse(&addon).map_err(|e| corrupt(1, e))?,
        kind: AddonKind::parse(&kind).map_err(|e| corrupt(2, e))?,
        app_id: r.get(3)?,
        app_name: r.get(4)?,
        name: AttachmentName::parse(&name).map_err(|e| corrupt(5, e))?,
        created_at: Timestamp(r.get(6)?),
    })
}

const SELECT_BACKUP: &str = "SELECT id, app_id, addon_name, state, reason, trigger, size, sha256,
                                    created_at, finished_at
                             FROM backups";

fn backup_from(r: &Row<'_>) -> rusqlite::Result<(BackupRow, String)> {
    Ok((
        BackupRow {
            id: r.get(0)?,
            app_id: r.get(1)?,
            addon_name: r.get(2)?,
            state: BackupState::Running,
            reason: r.get(4)?,
            trigger: r.get(5)?,
            size: r.get(6)?,
            sha256: r.get(7)?,
            created_at: Timestamp(r.get(8)?),
            finished_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        },
        r.get(3)?,
    ))
}

fn backup_finish((mut row, state): (BackupRow, String)) -> Result<BackupRow, StoreError> {
    row.state = parse_text(state)?;
    Ok(row)
}

impl Db<'_> {
    pub fn insert_addon(&self, new: NewAddon<'_>) -> Result<AddonRow, StoreError> {
        self.conn.execute(
            "INSERT INTO addons (name, kind, version, owner_app_id, password, memory_mb, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new.name.as_str(),
                new.kind.as_str(),
                new.kind.version(),
                new.owner_app_id,
                new.password,
                new.memory_mb,
                Timestamp::now().0
            ],
        )?;
        self.addon(new.name)?
            .ok_or_else(|| StoreError::Corrupt(format!("add-on {} vanished", new.name)))
    }

    pub fn addon(&self, name: &AddonName) -> Result<Option<AddonRow>, StoreError> {
        let sql = format!("{SELECT_ADDON} WHERE d.name = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![name.as_str()], addon_from)
            .optional()?)
    }

    pub fn all_addons(&self) -> Result<Vec<AddonRow>, StoreError> {
        let sql = format!("{SELECT_ADDON} ORDER BY d.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], addon_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The add-ons an app owns.
    pub fn owned_addons(&self, app_id: i64) -> Result<Vec<AddonRow>, StoreError> {
        let sql = format!("{SELECT_ADDON} WHERE d.owner_app_id = ?1 ORDER BY d.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id], addon_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_addon(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM addons WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn set_backup_schedule(&self, id: i64, at: Option<&str>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE addons SET backup_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    /// What is attached to an app, by attachment name.
    pub fn attachments_of_app(&self, app_id: i64) -> Result<Vec<AttachmentRow>, StoreError> {
        let sql = format!("{SELECT_ATTACHMENT} WHERE t.app_id = ?1 ORDER BY t.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id], attachment_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The apps an add-on is attached to.
    pub fn attachments_of_addon(&self, addon_id: i64) -> Result<Vec<AttachmentRow>, StoreError> {
        let sql = format!("{SELECT_ATTACHMENT} WHERE t.addon_id = ?1 ORDER BY a.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![addon_id], attachment_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_attachment(
        &self,
        addon_id: i64,
        app_id: i64,
        name: &AttachmentName,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO addon_attachments (addon_id, app_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![addon_id, app_id, name.as_str(), Timestamp::now().0],
        )?;
        Ok(())
    }

    pub fn delete_attachment(&self, addon_id: i64, app_id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM addon_attachments WHERE addon_id = ?1 AND app_id = ?2",
            params![addon_id, app_id],
        )?;
        Ok(n > 0)
    }

    /// The add-ons a release had, as `ATTACHMENT=ADDON` (`DATABASE=postgres-fluffy-1234`).
    pub fn release_addons(&self, release_id: i64) -> Result<Vec<String>, StoreError> {
        let raw: String = self.conn.query_row(
            "SELECT addons FROM releases WHERE id = ?1",
            params![release_id],
            |r| r.get(0),
        )?;
        Ok(serde_json::from_str(&raw)?)
    }

    pub fn insert_backup(
        &self,
        app_id: i64,
        addon: &AddonName,
        trigger: &str,
    ) -> Result<BackupRow, StoreError> {
        self.conn.execute(
            "INSERT INTO backups (app_id, addon_name, state, trigger, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                app_id,
                addon.as_str(),
                BackupState::Running.as_str(),
                trigger,
                Timestamp::now().0
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        self.backup(app_id, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("backup {id} vanished")))
    }

    pub fn finish_backup(
        &self,
        id: i64,
        outcome: Result<(i64, &str), &str>,
    ) -> Result<(), StoreError> {
        let (state, reason, size, sha) = match outcome {
            Ok((size, sha)) => (BackupState::Succeeded, None, Some(size), Some(sha)),
            Err(reason) => (BackupState::Failed, Some(reason), None, None),
        };
        self.conn.execute(
            "UPDATE backups SET state = ?2, reason = ?3, size = ?4, sha256 = ?5, finished_at = ?6
             WHERE id = ?1",
            params![id, state.as_str(), reason, size, sha, Timestamp::now().0],
        )?;
        Ok(())
    }

    /// Marks backups a dead server left running as failed; returns how many.
    pub fn fail_interrupted_backups(&self) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE backups SET state = 'failed', reason = 'the server stopped during the backup', finished_at = ?1
             WHERE state = 'running'",
            params![Timestamp::now().0],
        )?)
    }

    pub fn backup(&self, app_id: i64, id: i64) -> Result<Option<BackupRow>, StoreError> {
        let sql = format!("{SELECT_BACKUP} WHERE app_id = ?1 AND id = ?2");
        self.conn
            .query_row(&sql, params![app_id, id], backup_from)
            .optional()?
            .map(backup_finish)
            .transpose()
    }

    /// Newest first.
    pub fn backups(&self, app_id: i64) -> Result<Vec<BackupRow>, StoreError> {
        let sql = format!("{SELECT_BACKUP} WHERE app_id = ?1 ORDER BY id DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id], backup_from)?;
        rows.map(|r| backup_finish(r?)).collect()
    }

    pub fn delete_backup(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM backups WHERE id = ?1", params![id])?;
        Ok(())
    }
}
