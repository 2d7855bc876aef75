//! Buildpack builds: the source, config and any server-side buildpack go into a build
//! container of the build image, `paas-build` runs Heroku's classic buildpack API as the
//! `app` user, and its output streams to the push line by line.
//!
//! A buildpack named by a server path is the server's own file system reaching into a
//! tenant's container: only admins may name one, only under `PAAS_BUILDPACKS_DIR`, checked
//! on the canonical path, and copied without following symlinks. A member naming any path
//! learns nothing about the host: one refusal, whether the path exists or not.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use serde::Deserialize;

use crate::progress::Progress;
use crate::runtime::{BuildContainer, BuildContainerSpec, Docker};

use super::hints::Watch;
use super::log::BuildLog;
use super::source::{self, SourceInfo};
use super::{BuildError, BuildInput};

const DRIVER: &str = "/usr/local/bin/paas-build";
const RESULT_MARKER: &str = "PAAS-BUILD-RESULT ";
const FAILED_MARKER: &str = "PAAS-BUILD-FAILED ";

/// What `paas-build` reports in `/app/.paas/build-result.json`.
#[derive(Debug, Deserialize)]
pub struct BuildResult {
    #[serde(default)]
    pub buildpacks: Vec<BuildpackUsed>,
    #[serde(default)]
    pub process_types: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct BuildpackUsed {
    pub name: String,
}

/// Runs the buildpacks; on success the container holds the slug in /app (the caller turns
/// it into an image, then removes the container).
pub async fn compile(
    docker: &Docker,
    input: &BuildInput<'_>,
    info: &SourceInfo,
    log: &mut BuildLog,
    progress: &Progress,
) -> Result<(BuildContainer, BuildResult), BuildError> {
    let server_dirs = server_buildpacks(input, info).await?;
    let mut env = BTreeMap::new();
    env.insert("SOURCE_VERSION".to_owned(), input.commit.to_owned());
    let cache = cache_volume(input.instance, input.app);
    docker.ensure_volume(&cache).await?;
    let container = docker
        .create_build_container(BuildContainerSpec {
            app: input.app.to_owned(),
            build_id: input.build_id,
            image: input.stacks.build.clone(),
            argv: vec![DRIVER.to_owned()],
            env,
            user: "app".to_owned(),
            memory_mb: input.settings.memory_mb,
            network_mode: input.settings.network.clone(),
            volumes: vec![(cache, "/cache".to_owned())],
        })
        .await?;
    match run(&container, input, info, &server_dirs, log, progress).await {
        Ok(result) => Ok((container, result)),
        Err(e) => {
            let _ = container.remove().await;
            Err(e)
        }
    }
}

/// CACHE_DIR of an app: one volume per app and server instance.
pub fn cache_volume(instance: &str, app: &str) -> String {
    format!("paas-cache-{instance}-{app}")
}

async fn run(
    container: &BuildContainer,
    input: &BuildInput<'_>,
    info: &SourceInfo,
    server_dirs: &[ServerBuildpack],
    log: &mut BuildLog,
    progress: &Progress,
) -> Result<BuildResult, BuildError> {
    container
        .upload(
            "/app",
            source::tar_stream(
                input.objects.clone(),
                input.commit.to_owned(),
                input.settings.limits,
            ),
        )
        .await?;
    if let Some(list) = info
        .buildpacks_file
        .as_deref()
        .filter(|_| info.buildpacks_from_app_json)
    {
        progress.detail("using the buildpacks app.json lists");
        let file = source::memory_tar(&[(".buildpacks", list.as_bytes())])
            .map_err(|e| BuildError::Source(e.to_string()))?;
        container.upload("/app", once(file)).await?;
    }
    let env_files: Vec<(&str, &[u8])> = input
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let env_tar = source::memory_tar(&env_files).map_err(|e| BuildError::Source(e.to_string()))?;
    container.upload("/env", once(env_tar)).await?;
    for dir in server_dirs {
        progress.detail(format!("using buildpack {} from the server", dir.named));
        let tar = directory_tar(dir).await?;
        container.upload("/", once(tar)).await?;
    }

    container.start().await?;
    let mut output = container.output();
    let mut failure = None;
    let mut hints = Watch::default();
    let timeout = input.settings.timeout;
    let watched = tokio::time::timeout(timeout, async {
        while let Some(line) = output.next().await {
            let Ok(line) = line else { break };
            log.line(&line.text);
            hints.see(&line.text);
            if let Some(reason) = line.text.strip_prefix(FAILED_MARKER) {
                failure = Some(
                    reason
                        .split_once(' ')
                        .map_or(reason, |(_, why)| why)
                        .to_owned(),
                );
            } else if !line.text.starts_with(RESULT_MARKER) {
                progress.line(line.text);
            }
        }
        container.wait().await
    });
    let code = tokio::select! {
        waited = watched => match waited {
            Ok(code) => code?,
            Err(_) => return Err(BuildError::Timeout(timeout)),
        },
        () = input.cancel.cancelled() => return Err(BuildError::Cancelled),
    };
    match code {
        0 => read_result(container).await,
        2 => Err(BuildError::NoBuildpack(
            failure.unwrap_or_else(|| "no buildpack detected this app".into()),
        )),
        _ => Err(BuildError::Compile(hints.explain(failure.unwrap_or_else(
            || format!("the build exited with code {code}"),
        )))),
    }
}

async fn read_result(container: &BuildContainer) -> Result<BuildResult, BuildError> {
    let mut stream = Box::pin(container.download("/app/.paas/build-result.json"));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(
            &chunk
                .map_err(|e| BuildError::Compile(format!("cannot read the build result: {e}")))?,
        );
    }
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut json = String::new();
    for entry in archive
        .entries()
        .map_err(|e| BuildError::Compile(e.to_string()))?
    {
        let mut entry = entry.map_err(|e| BuildError::Compile(e.to_string()))?;
        std::io::Read::read_to_string(&mut entry, &mut json)
            .map_err(|e| BuildError::Compile(e.to_string()))?;
    }
    serde_json::from_str(&json)
        .map_err(|e| BuildError::Compile(format!("the build result is unreadable: {e}")))
}

/// The built-in buildpacks, by name (`buildpacks/order.txt`).
const BUILT_IN: &str = "python, nodejs, go, static, procfile";

/// A buildpack directory of the server, checked, to copy into the build container.
#[derive(Debug, PartialEq)]
pub struct ServerBuildpack {
    /// The path as the app named it: where `paas-build` looks in the container.
    named: String,
    /// Its canonical path, inside `PAAS_BUILDPACKS_DIR`.
    source: PathBuf,
}

/// What the app asks for: BUILDPACK_URL, else the lines of `.buildpacks`.
fn requested(buildpack_url: Option<&String>, buildpacks_file: Option<&str>) -> Vec<String> {
    if let Some(url) = buildpack_url {
        return vec![url.trim().to_owned()];
    }
    buildpacks_file
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The server paths among the requested buildpacks, each checked against who pushes:
/// members may name none, admins only directories inside `PAAS_BUILDPACKS_DIR`.
async fn server_buildpacks(
    input: &BuildInput<'_>,
    info: &SourceInfo,
) -> Result<Vec<ServerBuildpack>, BuildError> {
    let wanted = requested(
        input.config.get("BUILDPACK_URL"),
        info.buildpacks_file.as_deref(),
    );
    let mut dirs = Vec::new();
    for named in wanted.into_iter().filter(|b| b.starts_with('/')) {
        if !input.policy.admin {
            return Err(BuildError::Refused(format!(
                "buildpack {named}: server paths are for admins; use a built-in name ({BUILT_IN}) or a git URL"
            )));
        }
        dirs.push(admin_buildpack(&input.settings.buildpacks_dir, named).await?);
    }
    Ok(dirs)
}

/// An admin's server path: a directory inside `root` once every symlink is resolved.
async fn admin_buildpack(root: &Path, named: String) -> Result<ServerBuildpack, BuildError> {
    let refuse = |why: String| Err(BuildError::Refused(format!("buildpack {named}: {why}")));
    if Path::new(&named)
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return refuse("give the path without . or .. in it".into());
    }
    let Ok(root_real) = tokio::fs::canonicalize(root).await else {
        return refuse(format!(
            "server paths must be under PAAS_BUILDPACKS_DIR ({}), which does not exist; create it and put the buildpack there",
            root.display()
        ));
    };
    let under_root = |real: &Path| real.starts_with(&root_real) && real != root_real;
    match tokio::fs::canonicalize(&named).await {
        Ok(real) if under_root(&real) && real.is_dir() => Ok(ServerBuildpack {
            named,
            source: real,
        }),
        Ok(real) if under_root(&real) => refuse("is not a directory".into()),
        _ => refuse(format!(
            "server paths must be directories under PAAS_BUILDPACKS_DIR ({}); copy the buildpack there",
            root.display()
        )),
    }
}

/// The buildpack directory as a tar at its named path. Symlinks stay symlinks: nothing
/// outside the directory is read.
async fn directory_tar(dir: &ServerBuildpack) -> Result<Vec<u8>, BuildError> {
    let inside = dir
        .named
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned();
    let source = dir.source.clone();
    tokio::task::spawn_blocking(move || {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        tar.append_dir_all(&inside, &source)?;
        tar.into_inner()
    })
    .await
    .map_err(|e| BuildError::Source(e.to_string()))?
    .map_err(|e| BuildError::Source(format!("cannot read the buildpack directory: {e}")))
}

fn once(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::once(async move { Ok(bytes::Bytes::from(bytes)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildpack_url_wins_over_the_buildpacks_file_and_comments_are_skipped() {
        let file = "# comment\n/srv/bp\n\nhttps://github.com/x/y\n";
        assert_eq!(
            requested(None, Some(file)),
            ["/srv/bp", "https://github.com/x/y"]
        );
        let url = " python ".to_owned();
        assert_eq!(requested(Some(&url), Some(file)), ["python"]);
        assert!(requested(None, None).is_empty());
    }

    #[tokio::test]
    async fn admins_name_only_directories_inside_the_buildpacks_dir() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("bp")).unwrap();
        std::fs::write(root.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        let name = |p: &str| root.path().join(p).to_string_lossy().into_owned();

        let ok = admin_buildpack(root.path(), name("bp")).await.unwrap();
        assert_eq!(ok.source, root.path().canonicalize().unwrap().join("bp"));
        for (path, why) in [
            (
                name("escape"),
                "must be directories under PAAS_BUILDPACKS_DIR",
            ),
            (
                name("missing"),
                "must be directories under PAAS_BUILDPACKS_DIR",
            ),
            (name("file"), "is not a directory"),
            (name("bp/../bp"), "without . or .."),
            (
                outside.path().to_string_lossy().into_owned(),
                "under PAAS_BUILDPACKS_DIR",
            ),
            (name(""), "under PAAS_BUILDPACKS_DIR"),
        ] {
            let refused = admin_buildpack(root.path(), path.clone())
                .await
                .unwrap_err();
            assert!(refused.to_string().contains(why), "{path}: {refused}");
        }
        let none = admin_buildpack(&root.path().join("nope"), name("bp")).await;
        assert!(
            none.unwrap_err()
                .to_string()
                .contains("which does not exist")
        );
    }

    #[tokio::test]
    async fn a_buildpack_directory_is_copied_with_its_symlinks_as_links() {
        let root = tempfile::tempdir().unwrap();
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "secret contents").unwrap();
        let bp = root.path().join("bp");
        std::fs::create_dir_all(bp.join("bin")).unwrap();
        std::fs::write(bp.join("bin/compile"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(secret.path(), bp.join("leak")).unwrap();
        let dir = ServerBuildpack {
            named: "/opt/bp".into(),
            source: bp,
        };
        let bytes = directory_tar(&dir).await.unwrap();
        assert!(
            !bytes.windows(15).any(|w| w == b"secret contents"),
            "the link's target is not read"
        );
        let mut archive = tar::Archive::new(&bytes[..]);
        let leak = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().ends_with("leak"))
            .expect("the link is in the archive");
        assert!(leak.header().entry_type().is_symlink());
        assert!(leak.path().unwrap().starts_with("opt/bp"));
    }
}
