//! The slug becomes an image: the build API gets a context made of a two-line Dockerfile
//! (in memory) followed by the slug tar streamed straight from the build container.

use std::collections::HashMap;

use futures_util::StreamExt;

use crate::ops::Progress;
use crate::runtime::{BuildContainer, Docker};

use super::{BuildError, BuildInput, source};

pub async fn make_image(
    docker: &Docker,
    container: &BuildContainer,
    input: &BuildInput<'_>,
    tag: &str,
    labels: &HashMap<String, String>,
    progress: &Progress,
) -> Result<(), BuildError> {
    progress.step("Compressing the slug into an image");
    let dockerfile = format!(
        "FROM {}\nCOPY --chown={uid}:{uid} app /app\n",
        input.stacks.run,
        uid = source::APP_UID
    );
    // A tar is a sequence of entries: the Dockerfile's entry, then the slug's entries and
    // its end marker, make one valid archive without buffering the slug.
    let head = source::memory_tar(&[("Dockerfile", dockerfile.as_bytes())])
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let head = head[..head.len() - 1024].to_vec();
    let context = futures_util::stream::once(async move { Ok(bytes::Bytes::from(head)) })
        .chain(container.download("/app"));
    docker
        .build_from_context(
            context,
            tag,
            labels,
            input.settings.memory_mb,
            false,
            |line| {
                tracing::debug!(line, "slug image build");
            },
        )
        .await
        .map_err(|e| BuildError::Compile(format!("could not make the image: {e}")))
}
