//! A process's output as lines, with the engine's timestamps.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::stream::{BoxStream, StreamExt};

use super::containers::parse_engine_time;
use super::{Docker, RuntimeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Unix seconds, from the engine's timestamp.
    pub at: i64,
    pub stderr: bool,
    pub text: String,
}

pub type LogStream = BoxStream<'static, Result<LogLine, RuntimeError>>;

impl Docker {
    pub fn follow_logs(&self, id: &str, since: i64, follow: bool) -> LogStream {
        let frames = self.api.logs(id, Some(log_options(since, follow)));
        log_lines(frames, self.host.clone())
    }
}

/// Both streams with the engine's timestamps, from `since` (unix seconds).
pub(super) fn log_options(since: i64, follow: bool) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::default()
        .follow(follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .since(i32::try_from(since).unwrap_or(0))
        .build()
}

/// The engine's log frames (a container's or a swarm task's) as lines; `host` names the
/// engine in an error.
pub(super) fn log_lines(
    frames: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send + 'static,
    host: String,
) -> LogStream {
    frames
        .flat_map(move |frame| {
            let lines: Vec<Result<LogLine, RuntimeError>> = match frame {
                Ok(LogOutput::StdOut { message }) => {
                    split_frame(&message, false).into_iter().map(Ok).collect()
                }
                Ok(LogOutput::StdErr { message }) => {
                    split_frame(&message, true).into_iter().map(Ok).collect()
                }
                Ok(_) => Vec::new(),
                Err(e) => vec![Err(RuntimeError::from_bollard(&host, e))],
            };
            futures_util::stream::iter(lines)
        })
        .boxed()
}

/// A frame is one or more `TIMESTAMP text` lines.
fn split_frame(message: &[u8], stderr: bool) -> Vec<LogLine> {
    String::from_utf8_lossy(message)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (at, text) = match line.split_once(' ') {
                Some((stamp, text)) => match parse_engine_time(stamp) {
                    Some(at) => (at, text),
                    None => (crate::domain::Timestamp::now().0, line),
                },
                None => (crate::domain::Timestamp::now().0, line),
            };
            LogLine {
                at,
                stderr,
                text: text.trim_end_matches('\r').to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_timestamped_lines() {
        let lines = split_frame(
            b"2023-11-14T22:13:20.000000001Z hello\n2023-11-14T22:13:21.5Z world \r\n",
            true,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            LogLine {
                at: 1_700_000_000,
                stderr: true,
                text: "hello".into()
            }
        );
        assert_eq!(lines[1].text, "world ");
    }
}
