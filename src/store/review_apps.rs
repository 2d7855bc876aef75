//! Review apps: each parent app's setting (`review_app_settings`: on or off, branch
//! pattern, whether add-ons are copied, days without a push before one expires) and each
//! review app (`review_apps`: its parent, branch and last push). Who may see a review app
//! is its parent's question (`apps.rs`, `VISIBLE`).

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError};
use crate::domain::{AppName, BranchPattern, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSettingsRow {
    pub app_id: i64,
    /// Off: no new review apps; existing ones stay until deleted or expired.
    pub enabled: bool,
    pub pattern: BranchPattern,
    pub copy_addons: bool,
    pub expire_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAppRow {
    pub app_id: i64,
    pub name: AppName,
    pub parent_id: i64,
    pub parent: AppName,
    pub branch: String,
    pub last_push_at: Timestamp,
}

fn corrupt(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

fn settings_from_row(r: &Row<'_>) -> rusqlite::Result<ReviewSettingsRow> {
    let pattern: String = r.get(2)?;
    Ok(ReviewSettingsRow {
        app_id: r.get(0)?,
        enabled: r.get(1)?,
        pattern: BranchPattern::parse(&pattern).map_err(|e| corrupt(2, e))?,
        copy_addons: r.get(3)?,
        expire_days: r.get(4)?,
    })
}

const SELECT: &str = "SELECT r.app_id, a.name, r.parent_id, pa.name, r.branch, r.last_push_at
                      FROM review_apps r JOIN apps a ON a.id = r.app_id
                      JOIN apps pa ON pa.id = r.parent_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ReviewAppRow> {
    let name: String = r.get(1)?;
    let parent: String = r.get(3)?;
    Ok(ReviewAppRow {
        app_id: r.get(0)?,
        name: AppName::parse(&name).map_err(|e| corrupt(1, e))?,
        parent_id: r.get(2)?,
        parent: AppName::parse(&parent).map_err(|e| corrupt(3, e))?,
        branch: r.get(4)?,
        last_push_at: Timestamp(r.get(5)?),
    })
}

impl Db<'_> {
    pub fn review_settings(&self, app_id: i64) -> Result<Option<ReviewSettingsRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT app_id, enabled, pattern, copy_addons, expire_days
                 FROM review_app_settings WHERE app_id = ?1",
                params![app_id],
                settings_from_row,
            )
            .optional()?)
    }

    pub fn set_review_settings(&self, row: &ReviewSettingsRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO review_app_settings (app_id, enabled, pattern, copy_addons, expire_days)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (app_id) DO UPDATE
             SET enabled = ?2, pattern = ?3, copy_addons = ?4, expire_days = ?5",
            params![
                row.app_id,
                row.enabled,
                row.pattern.as_str(),
                row.copy_addons,
                row.expire_days
            ],
        )?;
        Ok(())
    }

    /// The review app of `parent_id`'s `branch`, if it has one.
    pub fn review_app_of_branch(
        &self,
        parent_id: i64,
        branch: &str,
    ) -> Result<Option<ReviewAppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.parent_id = ?1 AND r.branch = ?2");
        Ok(self
            .conn
            .query_row(&sql, params![parent_id, branch], from_row)
            .optional()?)
    }

    /// What makes `app_id` a review app (its parent and branch), if it is one.
    pub fn review_app(&self, app_id: i64) -> Result<Option<ReviewAppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.app_id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![app_id], from_row)
            .optional()?)
    }

    /// The review apps of a parent, by name.
    pub fn review_apps_of(&self, parent_id: i64) -> Result<Vec<ReviewAppRow>, StoreError> {
        let sql = format!("{SELECT} WHERE r.parent_id = ?1 ORDER BY a.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![parent_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every review app with the expiry days of its parent (5 when it has no setting).
    pub fn review_apps_with_expiry(&self) -> Result<Vec<(ReviewAppRow, u32)>, StoreError> {
        let sql = SELECT.replace(
            "FROM review_apps r",
            ", COALESCE(s.expire_days, 5) FROM review_apps r
               LEFT JOIN review_app_settings s ON s.app_id = r.parent_id",
        );
        let mut stmt = self.conn.prepare(&format!("{sql} ORDER BY a.name"))?;
        let rows = stmt.query_map([], |r| Ok((from_row(r)?, r.get(6)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_review_app(
        &self,
        app_id: i64,
        parent_id: i64,
        branch: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO review_apps (app_id, parent_id, branch, last_push_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![app_id, parent_id, branch, Timestamp::now().0],
        )?;
        Ok(())
    }

    /// A push reached the review app: its expiry starts over.
    pub fn touch_review_app(&self, app_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE review_apps SET last_push_at = ?2 WHERE app_id = ?1",
            params![app_id, Timestamp::now().0],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_review_app_is_seen_by_whoever_sees_its_parent_only() {
        let store = crate::store::open_in_memory();
        let (bob, carol) = store
            .write(|db| {
                let alice = db.insert_user("alice", None, false)?;
                let bob = db.insert_user("bob", None, false)?;
                let carol = db.insert_user("carol", None, false)?;
                let parent = db.insert_app(&AppName::parse("shop").unwrap(), &alice)?;
                // Made by carol's hand (as its owner), yet it is the parent's to share.
                let review = db.insert_app(&AppName::parse("shop-feature-x").unwrap(), &carol)?;
                db.insert_review_app(review.id, parent.id, "feature/x")?;
                db.add_member(parent.id, bob.id)?;
                db.set_review_settings(&ReviewSettingsRow {
                    app_id: parent.id,
                    enabled: true,
                    pattern: BranchPattern::parse("feature/*").unwrap(),
                    copy_addons: true,
                    expire_days: 3,
                })?;
                Ok::<_, StoreError>((bob, carol))
            })
            .await
            .unwrap();
        let name = AppName::parse("shop-feature-x").unwrap();
        let (n1, n2) = (name.clone(), name.clone());
        let for_bob = store.read(move |db| db.app_for(&n1, &bob)).await.unwrap();
        assert!(for_bob.is_some(), "a member of the parent sees it");
        let for_carol = store.read(move |db| db.app_for(&n2, &carol)).await.unwrap();
        assert!(for_carol.is_none(), "its own owner row does not count");
        let listed = store.read(|db| db.review_apps_with_expiry()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0.branch, "feature/x");
        assert_eq!(listed[0].0.parent.as_str(), "shop");
        assert_eq!(listed[0].1, 3);
    }
}
