//! Dockerfile builds: the commit's tree is the build context, built by the engine with no
//! pull; a `FROM` image the engine lacks is refused up front with how to fix it.

use std::collections::HashMap;

use crate::ops::Progress;
use crate::runtime::Docker;

use super::log::BuildLog;
use super::source;
use super::{BuildError, BuildInput};

pub async fn build(
    docker: &Docker,
    input: &BuildInput<'_>,
    tag: &str,
    labels: &HashMap<String, String>,
    log: &mut BuildLog,
    progress: &Progress,
) -> Result<(), BuildError> {
    let dockerfile = read_dockerfile(input).await?;
    for image in base_images(&dockerfile) {
        if docker.image(&image).await?.is_none() {
            return Err(BuildError::Dockerfile(format!(
                "FROM {image}: that image is not in the Docker engine and paas never pulls images; \
                 use FROM {} or load it on the server with docker load",
                input.stacks.run
            )));
        }
    }
    progress.step("Building with the Dockerfile");
    let context = source::tar_stream(input.objects.clone(), input.commit.to_owned());
    let mut lines = Vec::new();
    let built = tokio::time::timeout(
        input.settings.timeout,
        docker.build_from_context(
            context,
            tag,
            labels,
            input.settings.memory_mb,
            true,
            |line| {
                progress.detail(line);
                lines.push(line.to_owned());
            },
        ),
    )
    .await;
    for line in &lines {
        log.line(line).await;
    }
    match built {
        Ok(result) => result.map_err(|e| BuildError::Compile(format!("docker build failed: {e}"))),
        Err(_) => Err(BuildError::Timeout(input.settings.timeout)),
    }
}

async fn read_dockerfile(input: &BuildInput<'_>) -> Result<String, BuildError> {
    let (objects, commit) = (input.objects.clone(), input.commit.to_owned());
    tokio::task::spawn_blocking(move || {
        let repo = objects
            .open_repository()
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let oid = git2::Oid::from_str(&commit).map_err(|e| BuildError::Source(e.to_string()))?;
        let tree = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let entry = tree
            .get_name("Dockerfile")
            .ok_or_else(|| BuildError::Source("the Dockerfile vanished".into()))?;
        let blob = entry
            .to_object(&repo)
            .and_then(|o| o.peel_to_blob())
            .map_err(|e| BuildError::Source(e.to_string()))?;
        Ok(String::from_utf8_lossy(blob.content()).into_owned())
    })
    .await
    .map_err(|e| BuildError::Source(e.to_string()))?
}

/// The images `FROM` lines name, leaving out earlier stages, `scratch` and names built
/// from build arguments (those cannot be checked before the build).
pub fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let mut image = None;
        for word in words.by_ref() {
            if !word.starts_with("--") {
                image = Some(word.to_owned());
                break;
            }
        }
        let Some(image) = image else { continue };
        let is_earlier_stage = stages.contains(&image.to_ascii_lowercase());
        if let (Some(as_kw), Some(name)) = (words.next(), words.next())
            && as_kw.eq_ignore_ascii_case("AS")
        {
            stages.push(name.to_ascii_lowercase());
        }
        if image == "scratch" || image.contains('$') || is_earlier_stage {
            continue;
        }
        if !images.contains(&image) {
            images.push(image);
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_skip_stages_scratch_and_build_args() {
        let dockerfile = "FROM paas/stack-build:bookworm AS builder\nRUN make\nFROM --platform=linux/amd64 builder AS again\nFROM scratch\nFROM $BASE\nfrom paas/stack-run:bookworm\n";
        assert_eq!(
            base_images(dockerfile),
            ["paas/stack-build:bookworm", "paas/stack-run:bookworm"]
        );
    }
}
