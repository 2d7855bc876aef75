//! Builds: one row per pushed commit built, kept whatever the outcome. Their logs are files
//! (`build/log.rs`); the `log` column holds those of builds made before.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, parse_text};
use crate::domain::{AppJson, BuildState, Timestamp};

#[derive(Debug, Clone)]
pub struct BuildRow {
    pub id: i64,
    pub app_id: i64,
    pub commit_sha: String,
    pub state: BuildState,
    pub state_detail: Option<String>,
    pub image: Option<String>,
    pub image_size: Option<i64>,
    pub process_types: BTreeMap<String, String>,
    pub buildpack: Option<String>,
    pub author: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub app_json: AppJson,
}

pub struct NewBuild<'a> {
    pub app_id: i64,
    pub commit_sha: &'a str,
    pub author: &'a str,
}

const SELECT: &str = "SELECT id, app_id, commit_sha, state, state_detail, image, image_size,
                             process_types, buildpack, author, created_at, finished_at, app_json
                      FROM builds";

type RawBuild = (BuildRow, String, String, String);

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawBuild> {
    Ok((
        BuildRow {
            id: r.get(0)?,
            app_id: r.get(1)?,
            commit_sha: r.get(2)?,
            state: BuildState::Pending,
            state_detail: r.get(4)?,
            image: r.get(5)?,
            image_size: r.get(6)?,
            process_types: BTreeMap::new(),
            buildpack: r.get(8)?,
            author: r.get(9)?,
            created_at: Timestamp(r.get(10)?),
            finished_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
            app_json: AppJson::default(),
        },
        r.get(3)?,
        r.get(7)?,
        r.get(12)?,
    ))
}

fn finish((mut row, state, types, app_json): RawBuild) -> Result<BuildRow, StoreError> {
    row.state = parse_text(state)?;
    row.process_types = serde_json::from_str(&types)?;
    row.app_json = serde_json::from_str(&app_json)?;
    Ok(row)
}

/// What a finished build produced; written once, by `finish_build`.
pub struct BuildOutcome<'a> {
    pub state: BuildState,
    pub detail: Option<&'a str>,
    pub image: Option<&'a str>,
    pub image_size: Option<i64>,
    pub process_types: &'a BTreeMap<String, String>,
    pub buildpack: Option<&'a str>,
    pub app_json: &'a AppJson,
}

impl Db<'_> {
    pub fn insert_build(&self, new: NewBuild<'_>) -> Result<BuildRow, StoreError> {
        self.conn.execute(
            "INSERT INTO builds (app_id, commit_sha, state, author, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                new.app_id,
                new.commit_sha,
                BuildState::Building.as_str(),
                new.author,
                Timestamp::now().0
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        self.build(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("build {id} vanished after insert")))
    }

    pub fn build(&self, id: i64) -> Result<Option<BuildRow>, StoreError> {
        let sql = format!("{SELECT} WHERE id = ?1");
        self.conn
            .query_row(&sql, params![id], from_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    pub fn builds(&self, app_id: i64, limit: i64) -> Result<Vec<BuildRow>, StoreError> {
        let sql = format!("{SELECT} WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![app_id, limit], from_row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// The log kept in the row by builds from before logs went to files (`build/log.rs`);
    /// empty for newer builds.
    pub fn build_log(&self, id: i64) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT log FROM builds WHERE id = ?1", params![id], |r| {
                r.get(0)
            })?)
    }

    /// The one place a build's state changes once it has started.
    pub fn finish_build(&self, id: i64, outcome: BuildOutcome<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE builds SET state = ?2, state_detail = ?3, image = ?4, image_size = ?5,
                               process_types = ?6, buildpack = ?7, finished_at = ?8, app_json = ?9
             WHERE id = ?1",
            params![
                id,
                outcome.state.as_str(),
                outcome.detail,
                outcome.image,
                outcome.image_size,
                serde_json::to_string(outcome.process_types)?,
                outcome.buildpack,
                Timestamp::now().0,
                serde_json::to_string(outcome.app_json)?
            ],
        )?;
        Ok(())
    }

    /// Builds a stopped server left running: they can never finish now.
    pub fn fail_unfinished_builds(&self, reason: &str) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE builds SET state = 'failed', state_detail = ?1, finished_at = ?2
             WHERE state IN ('pending', 'building')",
            params![reason, Timestamp::now().0],
        )?)
    }
}
