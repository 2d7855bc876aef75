//! Custom domains: each hostname belongs to at most one app.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError};
use crate::domain::{Hostname, Timestamp};

#[derive(Debug, Clone)]
pub struct DomainRow {
    pub app_id: i64,
    pub app_name: String,
    pub hostname: Hostname,
    pub created_at: Timestamp,
}

const SELECT: &str = "SELECT d.app_id, a.name, d.hostname, d.created_at
                      FROM domains d JOIN apps a ON a.id = d.app_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DomainRow> {
    let host: String = r.get(2)?;
    let hostname = Hostname::parse(&host).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(DomainRow {
        app_id: r.get(0)?,
        app_name: r.get(1)?,
        hostname,
        created_at: Timestamp(r.get(3)?),
    })
}

impl Db<'_> {
    pub fn domains(&self, app_id: i64) -> Result<Vec<DomainRow>, StoreError> {
        let sql = format!("{SELECT} WHERE d.app_id = ?1 ORDER BY d.hostname");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn all_domains(&self) -> Result<Vec<DomainRow>, StoreError> {
        let sql = format!("{SELECT} ORDER BY d.hostname");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn domain(&self, hostname: &Hostname) -> Result<Option<DomainRow>, StoreError> {
        let sql = format!("{SELECT} WHERE d.hostname = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![hostname.as_str()], from_row)
            .optional()?)
    }

    pub fn insert_domain(&self, app_id: i64, hostname: &Hostname) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO domains (app_id, hostname, created_at) VALUES (?1, ?2, ?3)",
            params![app_id, hostname.as_str(), Timestamp::now().0],
        )?;
        Ok(())
    }

    pub fn delete_domain(&self, app_id: i64, hostname: &Hostname) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM domains WHERE app_id = ?1 AND hostname = ?2",
            params![app_id, hostname.as_str()],
        )?;
        Ok(n > 0)
    }
}
