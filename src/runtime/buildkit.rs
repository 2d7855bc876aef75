//! Builds through the engine's BuildKit builder (`POST /build?version=2`), for slug images.
//!
//! The classic builder runs a container and commits it for every Dockerfile instruction,
//! `LABEL` included: on fuse-overlayfs that is 1.5-2 s a step. BuildKit copies the slug
//! into a layer and writes labels into the image config, with no container at all (1.3-1.9
//! s against 3.3-4.0 s for the same slug, see docs/BENCHMARKS.md).
//!
//! bollard can send this request, but without its gRPC `buildkit` feature its output type
//! cannot hold BuildKit's progress messages (base64 `aux` strings) and its stream stops at
//! the first one, which cancels the build. So this one call goes over a plain HTTP/1.1
//! connection to the same engine, and its JSON lines are read here.

use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{Docker, RuntimeError};

/// How a BuildKit build ended without an image.
enum BuildKitFailure {
    /// The engine refused the request before building (no BuildKit in an old or
    /// non-Docker engine, or an API it does not speak): the classic builder may still work.
    Refused(String),
    Failed(RuntimeError),
}

impl Docker {
    /// Builds `tag` from the tar context that `context` makes: with BuildKit, or with the
    /// classic builder (a fresh context) on an engine that refuses BuildKit, remembered
    /// from then on. Nothing is pulled: `FROM` images must be in the engine already.
    pub async fn build_quietly<S>(
        &self,
        context: impl Fn() -> S,
        tag: &str,
        memory_mb: u32,
    ) -> Result<(), RuntimeError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        if !self.buildkit_refused.load(Ordering::Relaxed) {
            match self.build_with_buildkit(context(), tag).await {
                Ok(()) => return Ok(()),
                Err(BuildKitFailure::Failed(e)) => return Err(e),
                Err(BuildKitFailure::Refused(why)) => {
                    tracing::warn!(%why, "the engine refused a BuildKit build; using the classic builder");
                    self.buildkit_refused.store(true, Ordering::Relaxed);
                }
            }
        }
        let quiet = |line: &str| tracing::debug!(line, "classic build");
        let build = super::ImageBuild {
            tag,
            labels: &HashMap::new(),
            dockerfile: "Dockerfile",
            target: None,
            build_args: &std::collections::BTreeMap::new(),
            memory_mb,
            use_cache: false,
        };
        self.build_from_context(context(), build, quiet).await
    }

    async fn build_with_buildkit<S>(&self, context: S, tag: &str) -> Result<(), BuildKitFailure>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let version = self.api.client_version();
        let path = format!(
            "/v{}.{}/build?version=2&dockerfile=Dockerfile&nocache=1&t={}",
            version.major_version,
            version.minor_version,
            percent_encode(tag)
        );
        let body = StreamBody::new(context.map(|chunk| chunk.map(Frame::data)));
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, "docker")
            .header(hyper::header::CONTENT_TYPE, "application/x-tar")
            .body(body)
            .map_err(|e| BuildKitFailure::Failed(RuntimeError::Engine(e.to_string())))?;
        let unreachable = |detail: String| {
            BuildKitFailure::Failed(RuntimeError::Unreachable {
                host: self.host.clone(),
                detail,
            })
        };
        let response = self.send(request).await.map_err(unreachable)?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let text = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(BuildKitFailure::Refused(format!(
                "{status}: {}",
                engine_message(&text)
            )));
        }
        let mut lines = LineBuffer::default();
        let mut built = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| unreachable(e.to_string()))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            for line in lines.push(data) {
                match parse_line(&line) {
                    Outcome::Error(message) => {
                        return Err(BuildKitFailure::Failed(RuntimeError::Stream(message)));
                    }
                    Outcome::ImageId => built = true,
                    Outcome::Progress => {}
                }
            }
        }
        if built {
            Ok(())
        } else {
            Err(BuildKitFailure::Failed(RuntimeError::Stream(
                "the engine ended the build without an image".into(),
            )))
        }
    }

    /// The ids of the engine's BuildKit cache records (`GET /system/df`, read here because
    /// bollard's response type has the newer API's shape, not 20.10's `BuildCache` list).
    /// The engine runs one disk-usage operation at a time and refuses the others: those
    /// are asked again, for up to about ten seconds.
    pub async fn build_cache_ids(&self) -> Result<Vec<String>, RuntimeError> {
        let mut attempt = 0;
        loop {
            match self.disk_usage_cache_ids().await {
                Err(RuntimeError::Engine(message))
                    if message.contains("already running") && attempt < 40 =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn disk_usage_cache_ids(&self) -> Result<Vec<String>, RuntimeError> {
        let version = self.api.client_version();
        let path = format!(
            "/v{}.{}/system/df",
            version.major_version, version.minor_version
        );
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let unreachable = |detail: String| RuntimeError::Unreachable {
            host: self.host.clone(),
            detail,
        };
        let response = self.send(request).await.map_err(unreachable)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(RuntimeError::Engine(engine_message(&body)));
        }
        Ok(cache_ids(&body))
    }

    async fn send<B>(
        &self,
        request: hyper::Request<B>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let host = self.host.as_str();
        if let Some(path) = host.strip_prefix("unix://") {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| e.to_string())?;
            exchange(TokioIo::new(stream), request).await
        } else {
            let authority = host
                .trim_start_matches("tcp://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| e.to_string())?;
            exchange(TokioIo::new(stream), request).await
        }
    }
}

async fn exchange<T, B>(
    io: T,
    request: hyper::Request<B>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "BuildKit build connection ended");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// Splits a byte stream into lines; a line may arrive over several frames.
#[derive(Default)]
struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let rest = self.pending.split_off(end + 1);
            let mut line = std::mem::replace(&mut self.pending, rest);
            line.pop();
            if !line.is_empty() {
                lines.push(line);
            }
        }
        lines
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Error(String),
    ImageId,
    Progress,
}

/// One JSON line of the build output. Progress lines (vertex traces, `stream` text) are
/// not read: a slug build has nothing to say but its result.
fn parse_line(line: &[u8]) -> Outcome {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return Outcome::Progress;
    };
    let error = value
        .pointer("/errorDetail/message")
        .or_else(|| value.get("error"))
        .and_then(|m| m.as_str());
    if let Some(message) = error {
        return Outcome::Error(message.trim().to_owned());
    }
    if value.get("id").and_then(|i| i.as_str()) == Some("moby.image.id") {
        return Outcome::ImageId;
    }
    Outcome::Progress
}

/// `BuildCache[].ID` of a `/system/df` answer.
fn cache_ids(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let records = v.get("BuildCache")?.as_array()?.iter();
            Some(
                records
                    .filter_map(|r| r.get("ID")?.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .unwrap_or_default()
}

/// The engine's `{"message": ...}` error body, or the body as text.
fn engine_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

/// Image tags are `[a-z0-9./_:-]`; anything else is escaped rather than trusted.
fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'/' | b'_' | b'-' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_frames_are_joined() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push(b"{\"a\":").is_empty());
        let lines = buffer.push(b"1}\n\n{\"b\":2}\n{\"c\"");
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        assert_eq!(buffer.push(b":3}\n"), vec![b"{\"c\":3}".to_vec()]);
    }

    #[test]
    fn output_lines_are_sorted_into_errors_the_image_and_progress() {
        assert_eq!(
            parse_line(br#"{"errorDetail":{"message":"failed to compute cache key: \"/app\" not found"},"error":"x"}"#),
            Outcome::Error("failed to compute cache key: \"/app\" not found".into())
        );
        assert_eq!(
            parse_line(br#"{"id":"moby.image.id","aux":{"ID":"sha256:4e58"}}"#),
            Outcome::ImageId
        );
        assert_eq!(
            parse_line(br#"{"id":"moby.buildkit.trace","aux":"CngKR3NoYTI1Ng=="}"#),
            Outcome::Progress
        );
        assert_eq!(parse_line(b"not json"), Outcome::Progress);
    }

    #[test]
    fn cache_records_are_read_from_the_disk_usage_answer() {
        let body = br#"{"Images":[],"BuildCache":[{"ID":"abc","Type":"regular"},{"ID":"def"}]}"#;
        assert_eq!(cache_ids(body), ["abc", "def"]);
        assert!(cache_ids(br#"{"BuildCache":null}"#).is_empty());
    }

    #[test]
    fn tags_are_escaped_for_the_query() {
        assert_eq!(percent_encode("paas/app:12"), "paas/app:12");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn engine_errors_keep_their_message() {
        assert_eq!(
            engine_message(br#"{"message":"buildkit not supported"}"#),
            "buildkit not supported"
        );
        assert_eq!(engine_message(b"plain\n"), "plain");
    }
}
