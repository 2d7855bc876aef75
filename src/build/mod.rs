//! Builds: a pushed commit becomes a runnable image and a Build record, entirely in the
//! Docker engine (no `docker` CLI, nothing pulled). Buildpack builds run Heroku's classic
//! buildpack API in a build container of the stack build image, then the slug becomes an
//! image on top of the run image; a repository with a Dockerfile is built with it. The
//! add-on images (Postgres, Redis) are made here too, from Debian packages like the stacks.

pub mod addon_image;
mod buildpacks;
mod dockerfile;
mod dockerfile_refs;
mod embedded;
mod hints;
mod kinds;
mod log;
mod manifests;
mod prune;
mod slug;
mod source;
pub mod stack;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{AppJson, AppJsonError, BuildState, ConfigVars, Invalid};
use crate::git::quarantine::PushedObjects;
use crate::progress::Progress;
use crate::registry::{Registry, RegistryError};
use crate::runtime::{Docker, RuntimeError, labels};
use crate::store::{AppRow, BuildOutcome, BuildRow, NewBuild, Store, StoreError};

pub use source::SourceLimits;
pub use stack::{StackSettings, Stacks};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    NoBuildpack(String),
    #[error("{0}")]
    Compile(String),
    #[error("{0}")]
    Dockerfile(String),
    /// What the pusher may not name (a server path, another app's image).
    #[error("{0}")]
    Refused(String),
    /// A pushed file or tree larger than the settings allow.
    #[error("{0}")]
    SourceLimit(String),
    #[error("the build took longer than {}s and was stopped (PAAS_BUILD_TIMEOUT)", .0.as_secs())]
    Timeout(Duration),
    #[error("the build was cancelled")]
    Cancelled,
    #[error("stack images: {0}")]
    Stack(String),
    #[error("reading the pushed source: {0}")]
    Source(String),
    /// app.json, heroku.yml, DOKKU_SCALE or the Procfile refused.
    #[error(transparent)]
    Manifest(#[from] AppJsonError),
    /// app.json's health checks or the CHECKS file refused.
    #[error(transparent)]
    Checks(#[from] crate::domain::ChecksError),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
    /// The image could not reach the swarm's registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub stacks: StackSettings,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Network of build containers: `bridge` (default) or `host`.
    pub network: String,
    /// How many releases' images to keep per app.
    pub keep_images: usize,
    /// How long BuildKit's cache of a slug build outlives its last use.
    pub cache_keep: Duration,
    /// `PAAS_BUILDPACKS_DIR`: the only place server-path buildpacks come from.
    pub buildpacks_dir: PathBuf,
    /// `PAAS_ALLOWED_BASE_IMAGES`: what members' Dockerfiles may start from besides the
    /// stacks and their app's own images (`*` at the end matches any rest).
    pub allowed_base_images: Vec<String>,
    pub limits: SourceLimits,
    /// Build logs and the record of our BuildKit cache live under `DATA/builds`.
    pub data_dir: PathBuf,
}

impl BuildSettings {
    fn builds_dir(&self) -> PathBuf {
        self.data_dir.join("builds")
    }
}

/// What the pusher may name in a build. Plain data from whoever knows the user (ops' Actor),
/// so nothing here depends on ops/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildPolicy {
    /// Admins may name server buildpack directories (under `PAAS_BUILDPACKS_DIR`) and
    /// build from any image in the engine; members get built-in buildpacks, git URLs, and
    /// the stacks, their app's own images and the allowed base images.
    pub admin: bool,
}

#[derive(Clone)]
pub struct Builder {
    docker: Docker,
    store: Store,
    settings: Arc<BuildSettings>,
    stack_lock: Arc<tokio::sync::Mutex<()>>,
    cache_records: prune::CacheRecords,
    registry: Registry,
}

/// Everything one build reads.
pub(crate) struct BuildInput<'a> {
    pub app: &'a str,
    pub build_id: i64,
    pub commit: &'a str,
    pub objects: &'a PushedObjects,
    pub config: &'a ConfigVars,
    pub stacks: &'a Stacks,
    pub settings: &'a BuildSettings,
    pub cancel: &'a CancellationToken,
    pub instance: &'a str,
    pub policy: BuildPolicy,
}

/// What the image of a successful build holds.
struct Built {
    process_types: BTreeMap<String, String>,
    buildpack: String,
}

impl Builder {
    pub fn new(docker: Docker, store: Store, settings: BuildSettings, registry: Registry) -> Self {
        Builder {
            docker,
            store,
            registry,
            cache_records: prune::CacheRecords::new(settings.builds_dir()),
            stack_lock: Arc::new(tokio::sync::Mutex::new(())),
            settings: Arc::new(settings),
        }
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The registry release images are pushed to while the engine is a swarm manager.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The stack images, built once when missing (one builder at a time).
    pub async fn ensure_stacks(&self, progress: &Progress) -> Result<Stacks, BuildError> {
        let _guard = self.stack_lock.lock().await;
        stack::ensure(&self.docker, &self.settings.stacks, progress).await
    }

    /// app.json of `commit` as the build will read it (with `DOKKU_SCALE` as its
    /// formation), so a deploy can check and set its `env` before building.
    pub async fn app_json(
        &self,
        objects: &PushedObjects,
        commit: &str,
        config: &ConfigVars,
    ) -> Result<AppJson, BuildError> {
        // The tree's sizes are the build's to check, once.
        let mut info = source::inspect(objects, commit, None).await?;
        let read = manifests::read(&mut info, config.contains_key("BUILDPACK_URL"))?;
        Ok(read.app_json)
    }

    /// Builds `commit` of `app` into `paas/APP:bN` with what `policy` lets the pusher name,
    /// stopping when `cancel` fires; the Build record and its log are kept whatever
    /// happens. One build per app at a time is the caller's to ensure (ops' deploy locks).
    #[allow(clippy::too_many_arguments)]
    pub async fn build(
        &self,
        app: &AppRow,
        commit: &str,
        objects: &PushedObjects,
        config: &ConfigVars,
        (author, policy): (&str, BuildPolicy),
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<BuildRow, BuildError> {
        let stacks = self.ensure_stacks(progress).await?;
        let (app_id, commit_owned, author) = (app.id, commit.to_owned(), author.to_owned());
        let record = self
            .store
            .write(move |tx| {
                tx.insert_build(NewBuild {
                    app_id,
                    commit_sha: &commit_owned,
                    author: &author,
                })
            })
            .await?;
        let mut log = log::BuildLog::create(&self.settings.builds_dir(), record.id);
        let input = BuildInput {
            app: app.name.as_str(),
            build_id: record.id,
            commit,
            objects,
            config,
            stacks: &stacks,
            settings: &self.settings,
            cancel,
            instance: self.docker.instance(),
            policy,
        };
        let started = std::time::Instant::now();
        let outcome = self.run(&input, &mut log, progress).await;
        if let Err(e) = &outcome {
            log.line(&format!(" !     build failed: {e}"));
        }
        log.finish();
        let build_id = record.id;
        self.record_outcome(build_id, &outcome).await?;
        outcome?;
        progress.step(format!(
            "Build finished in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        self.store
            .read(move |db| db.build(build_id))
            .await?
            .ok_or_else(|| {
                BuildError::Store(StoreError::Corrupt(format!("build {build_id} vanished")))
            })
    }

    /// Writes how the build ended into its record, whatever the outcome.
    async fn record_outcome(
        &self,
        build_id: i64,
        outcome: &Result<(Built, String, i64, AppJson), BuildError>,
    ) -> Result<(), BuildError> {
        let (state, detail, image, size, built, app_json) = match outcome {
            Ok((built, image, size, app_json)) => (
                BuildState::Succeeded,
                None,
                Some(image.clone()),
                Some(*size),
                Some(built),
                app_json.clone(),
            ),
            Err(BuildError::Cancelled) => (
                BuildState::Cancelled,
                Some("cancelled".to_owned()),
                None,
                None,
                None,
                AppJson::default(),
            ),
            Err(e) => (
                BuildState::Failed,
                Some(e.to_string()),
                None,
                None,
                None,
                AppJson::default(),
            ),
        };
        let process_types = built.map(|b| b.process_types.clone()).unwrap_or_default();
        let buildpack = built.map(|b| b.buildpack.clone());
        self.store
            .write(move |tx| {
                tx.finish_build(
                    build_id,
                    BuildOutcome {
                        state,
                        detail: detail.as_deref(),
                        image: image.as_deref(),
                        image_size: size,
                        process_types: &process_types,
                        buildpack: buildpack.as_deref(),
                        app_json: &app_json,
                    },
                )
            })
            .await?;
        Ok(())
    }

    async fn run(
        &self,
        input: &BuildInput<'_>,
        log: &mut log::BuildLog,
        progress: &Progress,
    ) -> Result<(Built, String, i64, AppJson), BuildError> {
        let mut info =
            source::inspect(input.objects, input.commit, Some(input.settings.limits)).await?;
        let forced_url = input.config.contains_key("BUILDPACK_URL");
        let read = manifests::read(&mut info, forced_url)?;
        for note in &read.notes {
            progress.detail(note);
            log.line(note);
        }
        let tag = format!("paas/{}:b{}", input.app, input.build_id);
        let forced = forced_url || info.buildpacks_file.is_some();
        let built = if let Some(heroku) = &read.heroku {
            progress.step("Building with heroku.yml");
            self.heroku_yml_build(input, heroku, &tag, log, progress)
                .await?
        } else if let Some(dockerfile) = info.dockerfile.as_deref().filter(|_| !forced) {
            let process_types = kinds::procfile_types(info.procfile.as_deref())?;
            let build = dockerfile::DockerfileBuild::root(dockerfile);
            self.dockerfile_build(input, build, process_types, &tag, log, progress)
                .await?
        } else {
            self.buildpack_build(input, &info, &tag, log, progress)
                .await?
        };
        let size = self.docker.image(&tag).await?.map_or(0, |i| i.size);
        progress.detail(format!("image {tag} ({} MB)", size / 1_000_000));
        self.push(input, log, progress).await?;
        prune::old_images(
            &self.docker,
            &self.registry,
            &self.store,
            input.app,
            self.settings.keep_images,
            &tag,
        )
        .await;
        Ok((built, tag, size, read.app_json))
    }

    /// With a swarm, the image goes to its registry, where nodes pull it.
    async fn push(
        &self,
        input: &BuildInput<'_>,
        log: &mut log::BuildLog,
        progress: &Progress,
    ) -> Result<(), BuildError> {
        let tag = format!("b{}", input.build_id);
        if let crate::registry::State::Running(addr) = self.registry.state() {
            let line = format!("Pushing the image to the swarm registry {addr}");
            progress.step(&line);
            log.line(&format!("-----> {line}"));
        }
        if let Some(pushed) = self.registry.push(input.app, &tag).await? {
            let line = format!("pushed {} in {:.1}s", pushed.image, pushed.seconds);
            progress.detail(&line);
            log.line(&format!("       {line}"));
        }
        Ok(())
    }

    /// Build `id`'s log from its file; None for builds that kept theirs in the store.
    pub async fn read_log(&self, id: i64) -> Result<Option<String>, BuildError> {
        log::read(&self.settings.builds_dir(), id)
            .await
            .map_err(|e| BuildError::Source(format!("cannot read the log of build {id}: {e}")))
    }

    /// Removes the log files of builds `ids` (an app being destroyed).
    async fn forget_logs(&self, ids: &[i64]) {
        let dir = self.settings.builds_dir();
        for id in ids {
            let _ = tokio::fs::remove_file(log::path(&dir, *id)).await;
        }
    }

    /// Removes the app's images, build cache and build logs.
    pub async fn forget_app(&self, app: &str) -> Result<(), BuildError> {
        let name = crate::domain::AppName::parse(app).map_err(|e| BuildError::Source(e.0))?;
        let ids = self
            .store
            .read(move |db| {
                let Some(app) = db.app(&name)? else {
                    return Ok(Vec::new());
                };
                Ok::<_, StoreError>(db.builds(app.id, i64::MAX)?.iter().map(|b| b.id).collect())
            })
            .await?;
        self.forget_logs(&ids).await;
        for image in self.docker.app_images(app).await? {
            self.docker.remove_image(&image.id).await?;
        }
        self.registry.prune(app, &[]).await?;
        self.docker
            .remove_volume(&buildpacks::cache_volume(self.docker.instance(), app))
            .await?;
        Ok(())
    }

    /// At start: builds a stopped server left running failed, and their containers gone.
    pub async fn clean_up_interrupted(&self) {
        // The first listing of the engine's build cache, in the background (it takes
        // seconds): the first slug build counts what appears after it as its own.
        let (records, docker) = (self.cache_records.clone(), self.docker.clone());
        tokio::spawn(async move { records.refresh(&docker).await });
        let failed = self
            .store
            .write(|tx| tx.fail_unfinished_builds("interrupted by a server restart"))
            .await;
        match failed {
            Ok(0) => {}
            Ok(n) => tracing::info!(builds = n, "marked interrupted builds failed"),
            Err(e) => {
                let e: StoreError = e;
                tracing::error!(error = %e, "cannot mark interrupted builds");
            }
        }
        match self.docker.leftover_build_containers().await {
            Ok(ids) => {
                for id in ids {
                    let _ = self.docker.remove_container(&id).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list leftover build containers"),
        }
    }
}

fn image_labels(
    input: &BuildInput<'_>,
    process_types: &BTreeMap<String, String>,
) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_owned(), input.instance.to_owned()),
        (labels::APP.to_owned(), input.app.to_owned()),
        (labels::BUILD.to_owned(), input.build_id.to_string()),
        (labels::COMMIT.to_owned(), input.commit.to_owned()),
        (
            labels::PROCESS_TYPES.to_owned(),
            serde_json::to_string(process_types).unwrap_or_default(),
        ),
    ])
}
