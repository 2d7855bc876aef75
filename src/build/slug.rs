//! The slug becomes an image: the build API gets a context made of a short Dockerfile (in
//! memory) followed by the slug tar streamed straight from the build container.
//!
//! BuildKit makes it without running a container (`runtime::buildkit`). On an engine
//! without BuildKit each instruction costs a container and a commit, and every build-API
//! label option is one more: so the labels go into the Dockerfile as one `LABEL` line,
//! and the image is two steps in all.

use std::collections::HashMap;

use futures_util::StreamExt;

use crate::progress::Progress;
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
    let mut label_line: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quote_label(v)))
        .collect();
    label_line.sort();
    let dockerfile = format!(
        "FROM {}\nCOPY --chown={uid}:{uid} app /app\nLABEL {}\n",
        input.stacks.run,
        label_line.join(" "),
        uid = source::APP_UID
    );
    // A tar is a sequence of entries: the Dockerfile's entry, then the slug's entries and
    // its end marker, make one valid archive without buffering the slug.
    let head = source::memory_tar(&[("Dockerfile", dockerfile.as_bytes())])
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let head = bytes::Bytes::from(head[..head.len() - 1024].to_vec());
    let context = || {
        let head = head.clone();
        futures_util::stream::once(async move { Ok(head) }).chain(container.download("/app"))
    };
    docker
        .build_quietly(context, tag, input.settings.memory_mb)
        .await
        .map_err(|e| BuildError::Compile(format!("could not make the image: {e}")))
}

/// A Dockerfile double-quoted string: no variable expansion, no line breaks.
fn quote_label(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' | '$' => vec!['\\', c],
            '\n' | '\r' => vec![' '],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_quoted_without_expansion() {
        assert_eq!(quote_label("plain"), "\"plain\"");
        assert_eq!(
            quote_label("a \"b\" $PORT \\"),
            "\"a \\\"b\\\" \\$PORT \\\\\""
        );
        assert_eq!(quote_label("two\nlines"), "\"two lines\"");
    }
}
