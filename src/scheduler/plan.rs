//! What running one release means: its image, its environment, and how many of each
//! process type, read from the store in one go.

use std::collections::BTreeMap;

use crate::domain::{Checks, ConfigVars};
use crate::release::{PlatformVars, process_env};
use crate::runtime::{ProcessKind, ProcessSpec};
use crate::store::{Db, ReleaseRow, SleepRow, StoreError};

/// The port every process listens on; each container has its own address.
pub const PORT: u16 = 5000;
/// The stack's process launcher: sources `.profile.d`, then runs the command.
pub const LAUNCHER: &str = "/usr/local/bin/paas-launch";
/// The process type run once before a rollout.
pub const RELEASE_PHASE: &str = "release";

#[derive(Debug, Clone)]
pub struct ReleasePlan {
    pub app: String,
    pub app_id: i64,
    pub release_id: i64,
    pub version: i64,
    pub image: String,
    /// Images built from a Dockerfile run without the stack's launcher and user.
    pub dockerfile: bool,
    pub global: ConfigVars,
    pub config: ConfigVars,
    /// Formation types and their commands (the release phase is not one of them).
    pub commands: BTreeMap<String, String>,
    pub release_command: Option<String>,
    pub quantities: BTreeMap<String, u32>,
    /// Whether the app sleeps now: then only the types it keeps awake run.
    pub sleep: SleepRow,
    pub memory_mb: BTreeMap<String, u32>,
    /// Each process type's startup, liveness and readiness checks.
    pub checks: Checks,
    /// Heroku's postdeploy: once, after the app's first deploy.
    pub postdeploy: Option<String>,
    /// Dokku's `scripts.dokku.predeploy` (before the release phase) and `postdeploy`
    /// (after the routes moved), on every rollout of a release.
    pub dokku_predeploy: Option<String>,
    pub dokku_postdeploy: Option<String>,
}

impl ReleasePlan {
    /// The plan of `release`, or None when it has no build (nothing to run yet).
    pub fn load(
        db: &Db<'_>,
        app: &str,
        release: &ReleaseRow,
        default_memory: u32,
    ) -> Result<Option<ReleasePlan>, StoreError> {
        let Some(build_id) = release.build_id else {
            return Ok(None);
        };
        let Some(build) = db.build(build_id)? else {
            return Ok(None);
        };
        let Some(image) = build.image.clone() else {
            return Ok(None);
        };
        let stored = db.formation(release.app_id)?;
        let mut commands = build.process_types.clone();
        let release_command = commands.remove(RELEASE_PHASE);
        let quantities = commands
            .keys()
            .map(|t| {
                let quantity = stored
                    .iter()
                    .find(|f| &f.process_type == t)
                    .map_or(u32::from(t == "web"), |f| f.quantity);
                (t.clone(), quantity)
            })
            .collect();
        let memory_mb = commands
            .keys()
            .map(|t| {
                let memory = stored
                    .iter()
                    .find(|f| &f.process_type == t)
                    .and_then(|f| f.memory_mb)
                    .unwrap_or(default_memory);
                (t.clone(), memory)
            })
            .collect();
        Ok(Some(ReleasePlan {
            app: app.to_owned(),
            app_id: release.app_id,
            release_id: release.id,
            version: release.version,
            image,
            dockerfile: build.buildpack.as_deref() == Some("dockerfile"),
            global: db.global_config()?,
            config: db.config_version(release.config_version_id)?.vars,
            commands,
            release_command,
            quantities,
            sleep: db.sleep(release.app_id)?,
            memory_mb,
            checks: Checks::resolve(&build.app_json).unwrap_or_else(|e| {
                // Builds are refused with such checks now; one stored before runs paas's
                // default checks rather than none.
                tracing::warn!(app, build = build.id, error = %e, "checks not used");
                Checks::default()
            }),
            postdeploy: build.app_json.scripts.postdeploy.clone(),
            dokku_predeploy: build.app_json.scripts.dokku.predeploy.clone(),
            dokku_postdeploy: build.app_json.scripts.dokku.postdeploy.clone(),
        }))
    }

    /// How many `process_type` processes run now: the formation's, or none while the app
    /// sleeps (unless it keeps that type awake).
    pub fn quantity(&self, process_type: &str) -> u32 {
        if !self.sleep.runs(process_type) {
            return 0;
        }
        self.quantities.get(process_type).copied().unwrap_or(0)
    }

    /// The plan with the whole formation running, as a wake or a rollout starts it.
    pub fn awake(mut self) -> Self {
        self.sleep.state = crate::domain::SleepState::Awake;
        self
    }

    /// The container spec of process `process_type.index`, running `command`.
    pub fn spec(
        &self,
        process_type: &str,
        index: u32,
        kind: ProcessKind,
        command: &str,
    ) -> ProcessSpec {
        let dyno = match kind {
            ProcessKind::Formation => format!("{process_type}.{index}"),
            ProcessKind::OneOff => format!("{process_type}.{index}"),
        };
        let env = process_env(
            &self.global,
            &self.config,
            &PlatformVars {
                app: &self.app,
                release: self.version,
                process: &dyno,
                port: PORT,
            },
        );
        let argv = if command.is_empty() {
            None
        } else if self.dockerfile {
            Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                command.to_owned(),
            ])
        } else {
            Some(vec![LAUNCHER.to_owned(), command.to_owned()])
        };
        ProcessSpec {
            app: self.app.clone(),
            release: self.version,
            process_type: process_type.to_owned(),
            index,
            kind,
            image: self.image.clone(),
            argv,
            user: (!self.dockerfile).then(|| "app".to_owned()),
            env,
            memory_mb: self.memory_mb.get(process_type).copied().unwrap_or(512),
            interactive: false,
            tty: false,
        }
    }
}
