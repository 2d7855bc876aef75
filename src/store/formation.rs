//! Formation: the desired number of instances per process type.

use rusqlite::{Row, params};

use super::{Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormationRow {
    pub process_type: String,
    pub quantity: u32,
    pub memory_mb: Option<u32>,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<FormationRow> {
    Ok(FormationRow {
        process_type: r.get(0)?,
        quantity: r.get(1)?,
        memory_mb: r.get(2)?,
    })
}

impl Db<'_> {
    pub fn formation(&self, app_id: i64) -> Result<Vec<FormationRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT process_type, quantity, memory_mb FROM formation WHERE app_id = ?1 ORDER BY process_type",
        )?;
        let rows = stmt.query_map(params![app_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_quantity(
        &self,
        app_id: i64,
        process_type: &str,
        quantity: u32,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO formation (app_id, process_type, quantity) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity",
            params![app_id, process_type, quantity],
        )?;
        Ok(())
    }

    pub fn set_memory(
        &self,
        app_id: i64,
        process_type: &str,
        memory_mb: Option<u32>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO formation (app_id, process_type, quantity, memory_mb)
             VALUES (?1, ?2, CASE WHEN ?2 = 'web' THEN 1 ELSE 0 END, ?3)
             ON CONFLICT (app_id, process_type) DO UPDATE SET memory_mb = excluded.memory_mb",
            params![app_id, process_type, memory_mb],
        )?;
        Ok(())
    }
}
