//! Dockerfile builds: the commit's tree is the build context, built by the engine with no
//! pull. Every image the Dockerfile builds on (`dockerfile_refs`) is checked first: a
//! member's against what is theirs to use, anyone's against what the engine has.

use std::collections::{BTreeMap, HashMap};

use crate::progress::Progress;
use crate::runtime::Docker;

use super::dockerfile_refs::{ImageRef, image_refs};
use super::hints::Watch;
use super::log::BuildLog;
use super::source;
use super::stack::{DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE};
use super::{BuildError, BuildInput};

/// The Dockerfile (already read), where it is in the tree, and how to build it.
pub struct DockerfileBuild<'a> {
    pub text: &'a str,
    pub path: &'a str,
    pub target: Option<&'a str>,
    pub build_args: &'a BTreeMap<String, String>,
}

static NO_ARGS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> DockerfileBuild<'a> {
    /// The repository's own `Dockerfile`, built as it is.
    pub fn root(text: &'a str) -> Self {
        DockerfileBuild {
            text,
            path: "Dockerfile",
            target: None,
            build_args: &NO_ARGS,
        }
    }
}

/// What a Dockerfile build makes: the build, the tag and the labels.
pub struct Context<'a> {
    pub build: DockerfileBuild<'a>,
    pub tag: &'a str,
    pub labels: &'a HashMap<String, String>,
}

pub async fn build(
    docker: &Docker,
    input: &BuildInput<'_>,
    context: Context<'_>,
    log: &mut BuildLog,
    progress: &Progress,
) -> Result<(), BuildError> {
    let build = &context.build;
    for image in image_refs(build.text, build.build_args) {
        check_image(docker, input, &image).await?;
    }
    progress.step("Building with the Dockerfile");
    let tar = source::tar_stream(
        input.objects.clone(),
        input.commit.to_owned(),
        input.settings.limits,
    );
    let mut hints = Watch::default();
    let built = tokio::time::timeout(
        input.settings.timeout,
        docker.build_from_context(
            tar,
            crate::runtime::ImageBuild {
                tag: context.tag,
                labels: context.labels,
                dockerfile: build.path,
                target: build.target,
                build_args: build.build_args,
                memory_mb: input.settings.memory_mb,
                use_cache: true,
            },
            |line| {
                progress.detail(line);
                log.line(line);
                hints.see(line);
            },
        ),
    )
    .await;
    match built {
        Ok(result) => result
            .map_err(|e| BuildError::Compile(hints.explain(format!("docker build failed: {e}")))),
        Err(_) => Err(BuildError::Timeout(input.settings.timeout)),
    }
}

/// A member may build on the stacks, the app's own images and the allowed base images;
/// the refusal is the same whether the image exists or not, and names no other. Admins
/// may use any image the engine has. Nothing is ever pulled.
async fn check_image(
    docker: &Docker,
    input: &BuildInput<'_>,
    image: &ImageRef,
) -> Result<(), BuildError> {
    let admin = input.policy.admin;
    if !image.resolved {
        if admin {
            return Ok(());
        }
        return Err(BuildError::Refused(format!(
            "{} {}: the image cannot be checked before the build; name it, or give its build argument a default (ARG NAME=image before the first FROM)",
            image.instruction, image.name
        )));
    }
    let name = familiar(&image.name);
    if !admin && !may_use(input, &name) {
        return Err(BuildError::Refused(format!(
            "{} {}: a build may start only from the stack images ({}, {}), this app's own images (paas/{}:bN) and images an admin allows (PAAS_ALLOWED_BASE_IMAGES)",
            image.instruction, image.name, input.stacks.run, input.stacks.build, input.app
        )));
    }
    // By its name: the engine would also take a name for an image id prefix.
    let found = docker.image(&name).await?;
    if found.is_some_and(|i| admin || i.tags.contains(&name)) {
        return Ok(());
    }
    Err(BuildError::Dockerfile(format!(
        "{} {}: that image is not in the Docker engine and paas never pulls images; \
         use FROM {} or load it on the server with docker load",
        image.instruction, image.name, input.stacks.run
    )))
}

/// What a member's build may start from, by the image's familiar name.
fn may_use(input: &BuildInput<'_>, name: &str) -> bool {
    let stacks = [
        input.stacks.run.as_str(),
        input.stacks.build.as_str(),
        DEFAULT_RUN_IMAGE,
        DEFAULT_BUILD_IMAGE,
    ];
    stacks.contains(&name)
        || is_own_image(input.app, name)
        || input
            .settings
            .allowed_base_images
            .iter()
            .any(|pattern| matches_pattern(pattern, name))
}

/// `paas/APP:TAG`: the app's own images (paas tags nothing else in that repository).
fn is_own_image(app: &str, name: &str) -> bool {
    name.strip_prefix("paas/")
        .and_then(|rest| rest.strip_prefix(app))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|tag| !tag.is_empty() && !tag.contains(['/', '@', ':']))
}

/// An allowed-images entry: a name, or a prefix ending in `*`.
fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => familiar(pattern) == name,
    }
}

/// Docker's short form of a reference, as the engine lists tags: no `docker.io/` or
/// `library/`, and `:latest` when it names no tag or digest.
fn familiar(name: &str) -> String {
    let mut short = name;
    for registry in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = short.strip_prefix(registry) {
            short = rest;
            break;
        }
    }
    let short = short.strip_prefix("library/").unwrap_or(short);
    let last = short.rsplit('/').next().unwrap_or(short);
    if short.contains('@') || last.contains(':') {
        short.to_owned()
    } else {
        format!("{short}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_in_the_engines_short_form() {
        assert_eq!(familiar("python"), "python:latest");
        assert_eq!(familiar("docker.io/library/python:3.12"), "python:3.12");
        assert_eq!(familiar("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(familiar("paas/app@sha256:00"), "paas/app@sha256:00");
    }

    #[test]
    fn an_apps_own_images_are_its_repository_only() {
        assert!(is_own_image("web", "paas/web:b3"));
        assert!(!is_own_image("web", "paas/web-2:b3"));
        assert!(!is_own_image("web", "paas/webx:b1"));
        assert!(!is_own_image("web", "paas/web:"));
        assert!(!is_own_image("web", "paas/web@sha256:00"));
        assert!(!is_own_image("web", "other/paas/web:b1"));
    }

    #[test]
    fn allowed_images_are_names_or_prefixes() {
        assert!(matches_pattern("python:*", "python:3.12"));
        assert!(matches_pattern("python", "python:latest"));
        assert!(matches_pattern("mycorp/*", "mycorp/base:1"));
        assert!(!matches_pattern("python:*", "pythonista:1"));
        assert!(!matches_pattern("mycorp/base:1", "mycorp/base:2"));
    }
}
