//! Buildpack builds: the source, config and any server-side buildpack go into a build
//! container of the build image, `paas-build` runs Heroku's classic buildpack API as the
//! `app` user, and its output streams to the push line by line.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;
use serde::Deserialize;

use crate::ops::Progress;
use crate::runtime::{BuildContainer, BuildContainerSpec, Docker};

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
    match run(&container, input, info, log, progress).await {
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
    log: &mut BuildLog,
    progress: &Progress,
) -> Result<BuildResult, BuildError> {
    container
        .upload(
            "/app",
            source::tar_stream(input.objects.clone(), input.commit.to_owned()),
        )
        .await?;
    let env_files: Vec<(&str, &[u8])> = input
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let env_tar = source::memory_tar(&env_files).map_err(|e| BuildError::Source(e.to_string()))?;
    container.upload("/env", once(env_tar)).await?;
    for dir in server_buildpacks(
        input.config.get("BUILDPACK_URL"),
        info.buildpacks_file.as_deref(),
    ) {
        progress.detail(format!("using buildpack {dir} from the server"));
        let tar = directory_tar(Path::new(&dir)).await?;
        container.upload("/", once(tar)).await?;
    }

    container.start().await?;
    let mut output = container.output();
    let mut failure = None;
    let timeout = input.settings.timeout;
    let watched = tokio::time::timeout(timeout, async {
        while let Some(line) = output.next().await {
            let Ok(line) = line else { break };
            log.line(&line.text).await;
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
        _ => {
            Err(BuildError::Compile(failure.unwrap_or_else(|| {
                format!("the build exited with code {code}")
            })))
        }
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

/// Buildpacks named by an absolute path on this server: they are copied into the build
/// container at the same path.
fn server_buildpacks(buildpack_url: Option<&String>, buildpacks_file: Option<&str>) -> Vec<String> {
    let listed = buildpacks_file
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let chosen = match buildpack_url {
        Some(url) => vec![url.clone()],
        None => listed,
    };
    chosen
        .into_iter()
        .filter(|b| b.starts_with('/') && Path::new(b).is_dir())
        .collect()
}

async fn directory_tar(dir: &Path) -> Result<Vec<u8>, BuildError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(true);
        let inside = dir.strip_prefix("/").unwrap_or(&dir).to_owned();
        tar.append_dir_all(&inside, &dir)?;
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
    fn only_existing_absolute_directories_are_server_buildpacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_string_lossy().into_owned();
        let file = format!("# comment\n{path}\nhttps://github.com/x/y\n/does/not/exist\n");
        assert_eq!(server_buildpacks(None, Some(&file)), vec![path.clone()]);
        let url = "python".to_owned();
        assert!(
            server_buildpacks(Some(&url), Some(&file)).is_empty(),
            "BUILDPACK_URL wins"
        );
    }
}
