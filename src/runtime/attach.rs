//! Attached one-off processes (`paas run` from a terminal): the container's stdin, its
//! output as it comes, and its terminal size.

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::query_parameters::{AttachContainerOptionsBuilder, ResizeContainerTTYOptions};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::io::AsyncWrite;

use super::{Docker, RuntimeError};

/// Which stream a piece of output came from; a terminal merges both into `Stdout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// A process's stdin and output, attached before it started so no output is missed.
pub struct Attached {
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub output: BoxStream<'static, Result<(OutputStream, Bytes), RuntimeError>>,
}

impl Docker {
    /// Attaches to a created (not yet started) container, then starts it.
    pub async fn attach_and_start(&self, id: &str) -> Result<Attached, RuntimeError> {
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .api
            .attach_container(id, Some(options))
            .await
            .map_err(self.fail())?;
        self.start_container(id).await?;
        let host = self.host.clone();
        let output = attached
            .output
            .filter_map(move |item| {
                std::future::ready(match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok((OutputStream::Stdout, message)))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok((OutputStream::Stderr, message))),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(RuntimeError::from_bollard(&host, e))),
                })
            })
            .boxed();
        Ok(Attached {
            input: attached.input,
            output,
        })
    }

    /// Tells the process's terminal its new size (a resized window).
    pub async fn resize_terminal(
        &self,
        id: &str,
        cols: u16,
        rows: u16,
    ) -> Result<(), RuntimeError> {
        let options = ResizeContainerTTYOptions {
            w: i32::from(cols),
            h: i32::from(rows),
        };
        self.api
            .resize_container_tty(id, options)
            .await
            .map_err(self.fail())
    }
}
