//! Versioned migrations: each entry runs once, in order, recorded in `user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Append only: a shipped migration is never edited, a new change is a new entry.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE TABLE apps (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    owner_id      INTEGER NOT NULL REFERENCES users(id),
    deploy_branch TEXT,
    created_at    INTEGER NOT NULL
);
CREATE TABLE app_members (
    app_id  INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, user_id)
);
CREATE TABLE config_versions (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    vars       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX config_versions_by_app ON config_versions(app_id, id);
CREATE TABLE global_config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE builds (
    id            INTEGER PRIMARY KEY,
    app_id        INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    commit_sha    TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_detail  TEXT,
    image         TEXT,
    image_size    INTEGER,
    process_types TEXT NOT NULL DEFAULT '{}',
    buildpack     TEXT,
    log           TEXT NOT NULL DEFAULT '',
    author        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX builds_by_app ON builds(app_id, id);
CREATE TABLE releases (
    id                INTEGER PRIMARY KEY,
    app_id            INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    build_id          INTEGER REFERENCES builds(id),
    config_version_id INTEGER NOT NULL REFERENCES config_versions(id),
    description       TEXT NOT NULL,
    author            TEXT NOT NULL,
    state             TEXT NOT NULL,
    state_detail      TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (app_id, version)
);
CREATE TABLE formation (
    app_id       INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    process_type TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    memory_mb    INTEGER,
    PRIMARY KEY (app_id, process_type)
);
CREATE TABLE domains (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    hostname   TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    app_name TEXT,
    action   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX events_by_app ON events(app_name, id);
"#,
    r#"
ALTER TABLE builds ADD COLUMN app_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE apps ADD COLUMN postdeployed INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
"#,
    r#"
ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE acme_certs (
    hostname        TEXT PRIMARY KEY,
    app_id          INTEGER REFERENCES apps(id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    reason          TEXT,
    issuer          TEXT,
    not_after       INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE user_certs (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    names      TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    not_after  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX user_certs_by_app ON user_certs(app_id, id);
CREATE TABLE app_https (
    app_id       INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    https_only   INTEGER NOT NULL DEFAULT 0,
    hsts_max_age INTEGER
);
"#,
    r#"
CREATE TABLE addons (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    version      TEXT NOT NULL,
    owner_app_id INTEGER NOT NULL REFERENCES apps(id),
    password     TEXT NOT NULL,
    memory_mb    INTEGER NOT NULL,
    backup_at    TEXT,
    created_at   INTEGER NOT NULL
);
CREATE TABLE addon_attachments (
    addon_id   INTEGER NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (addon_id, app_id),
    UNIQUE (app_id, name)
);
CREATE TABLE backups (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    addon_name  TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    trigger     TEXT NOT NULL,
    size        INTEGER,
    sha256      TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX backups_by_app ON backups(app_id, id);
ALTER TABLE releases ADD COLUMN addons TEXT NOT NULL DEFAULT '[]';
"#,
    r#"
CREATE TABLE cron_runs (
    -- Never reused: a run's number names its process (cron.ID), which can outlive the row.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    job_id          TEXT NOT NULL,
    release_version INTEGER NOT NULL,
    trigger         TEXT NOT NULL,
    scheduled_for   INTEGER,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    exit_code       INTEGER,
    note            TEXT,
    UNIQUE (app_id, job_id, scheduled_for)
);
CREATE INDEX cron_runs_by_job ON cron_runs(app_id, job_id, id);
CREATE INDEX cron_runs_unfinished ON cron_runs(finished_at) WHERE finished_at IS NULL;
"#,
    r#"
CREATE TABLE app_sleep (
    app_id    INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    -- NULL: autosleep is off.
    idle_secs INTEGER,
    keep      TEXT NOT NULL DEFAULT '[]',
    state     TEXT NOT NULL DEFAULT 'awake',
    note      TEXT,
    since     INTEGER
);
"#,
    r#"
CREATE TABLE metric_samples (
    app_id    INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    -- The end of the period (unix seconds) and its length: the sampler's interval, or
    -- 300 once folded.
    at        INTEGER NOT NULL,
    span      INTEGER NOT NULL,
    r1xx      INTEGER NOT NULL,
    r2xx      INTEGER NOT NULL,
    r3xx      INTEGER NOT NULL,
    r4xx      INTEGER NOT NULL,
    r5xx      INTEGER NOT NULL,
    -- JSON: responses per bucket of the router's latency histogram.
    latency   TEXT NOT NULL,
    restarts  INTEGER NOT NULL,
    -- JSON: [{dyno, memory_bytes, cpu_percent}]
    processes TEXT NOT NULL
);
CREATE INDEX metric_samples_by_app ON metric_samples(app_id, at);
CREATE INDEX metric_samples_by_time ON metric_samples(at);
"#,
    r#"
CREATE TABLE review_app_settings (
    app_id      INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    enabled     INTEGER NOT NULL,
    pattern     TEXT NOT NULL,
    copy_addons INTEGER NOT NULL,
    expire_days INTEGER NOT NULL
);
CREATE TABLE review_apps (
    app_id       INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    parent_id    INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    branch       TEXT NOT NULL,
    last_push_at INTEGER NOT NULL,
    UNIQUE (parent_id, branch)
);
"#,
];

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::NewerSchema {
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
