//! The three ways a commit becomes an image: heroku.yml (its Dockerfile, build arguments
//! and commands), a Dockerfile at the root (with the Procfile's types), or buildpacks.

use std::collections::BTreeMap;

use crate::domain::{HerokuYml, Procfile};
use crate::progress::Progress;

use super::log::BuildLog;
use super::source::{self, SourceInfo};
use super::{BuildError, BuildInput, Builder, Built, buildpacks, dockerfile, image_labels, slug};

impl Builder {
    /// heroku.yml's Dockerfile with its build arguments; its `run` commands are the
    /// process types (the Procfile is not read, as on Heroku), `release` the release phase.
    pub(super) async fn heroku_yml_build(
        &self,
        input: &BuildInput<'_>,
        heroku: &HerokuYml,
        tag: &str,
        log: &mut BuildLog,
        progress: &Progress,
    ) -> Result<Built, BuildError> {
        let text = source::read_path(input, &heroku.dockerfile)
            .await?
            .ok_or_else(|| {
                BuildError::Dockerfile(format!(
                    "heroku.yml builds from {}, which is not in the pushed commit: add it or fix the path",
                    heroku.dockerfile
                ))
            })?;
        let mut process_types = heroku.commands.clone();
        if !process_types.keys().any(|t| t != "release") {
            // No `run`: the image's own command is the web process.
            process_types.insert("web".into(), String::new());
        }
        let build = dockerfile::DockerfileBuild {
            text: &text,
            path: &heroku.dockerfile,
            target: heroku.target.as_deref(),
            build_args: &heroku.build_args,
        };
        self.dockerfile_build(input, build, process_types, tag, log, progress)
            .await
    }

    pub(super) async fn dockerfile_build(
        &self,
        input: &BuildInput<'_>,
        build: dockerfile::DockerfileBuild<'_>,
        process_types: BTreeMap<String, String>,
        tag: &str,
        log: &mut BuildLog,
        progress: &Progress,
    ) -> Result<Built, BuildError> {
        let labels = image_labels(input, &process_types);
        let context = dockerfile::Context {
            build,
            tag,
            labels: &labels,
        };
        dockerfile::build(&self.docker, input, context, log, progress).await?;
        Ok(Built {
            process_types,
            buildpack: "dockerfile".into(),
        })
    }

    pub(super) async fn buildpack_build(
        &self,
        input: &BuildInput<'_>,
        info: &SourceInfo,
        tag: &str,
        log: &mut BuildLog,
        progress: &Progress,
    ) -> Result<Built, BuildError> {
        let (container, result) =
            buildpacks::compile(&self.docker, input, info, log, progress).await?;
        let labels = image_labels(input, &result.process_types);
        let before = self.cache_records.snapshot(&self.docker).await;
        let made = slug::make_image(&self.docker, &container, input, tag, &labels, progress).await;
        let _ = container.remove().await;
        made?;
        let records = self.cache_records.clone();
        let (docker, keep) = (self.docker.clone(), self.settings.cache_keep);
        tokio::spawn(async move {
            records.remember_new(&docker, before).await;
            records.prune(&docker, keep).await;
        });
        Ok(Built {
            buildpack: result
                .buildpacks
                .iter()
                .map(|b| b.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            process_types: result.process_types,
        })
    }
}

/// A Dockerfile app's process types from its Procfile; without one, the image's own
/// command is the web process.
pub(super) fn procfile_types(
    procfile: Option<&str>,
) -> Result<BTreeMap<String, String>, BuildError> {
    let parsed = match procfile {
        Some(text) => Procfile::parse(text).map_err(|e| BuildError::Source(e.to_string()))?,
        None => Procfile::default(),
    };
    let mut types: BTreeMap<String, String> = parsed
        .0
        .into_iter()
        .map(|(t, c)| (t.to_string(), c))
        .collect();
    if types.is_empty() {
        types.insert("web".into(), String::new());
    }
    Ok(types)
}
