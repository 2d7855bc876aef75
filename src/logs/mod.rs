//! Logs as event streams (twelve-factor): every app's process output, platform messages
//! and router access lines, merged into one stream per app.
//!
//! Writers never wait: lines go through a channel to one writer task that appends them to
//! a bounded file per app (history that survives restarts) and fans them out to live
//! followers (`paas logs --tail`, the web UI).

mod entry;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

pub use entry::{LogEntry, LogFilter, Source};

/// How many lines may wait for the writer before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// After a line arrives the writer gathers what follows for this long, so under load
/// (the router's access lines) it opens and writes each app's file once per tick, not
/// once per request; a line reaches followers and the file at most this much later.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);
const FOLLOWER_BUFFER: usize = 1024;

#[derive(Clone)]
pub struct AppLogs {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<(String, LogEntry)>,
    followers: Mutex<HashMap<String, broadcast::Sender<LogEntry>>>,
    files: store::LogFiles,
}

impl AppLogs {
    /// Starts the writer task; it drains the queue and stops with `shutdown`.
    pub fn start(
        dir: PathBuf,
        shutdown: CancellationToken,
    ) -> (AppLogs, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let logs = AppLogs {
            inner: Arc::new(Inner {
                queue,
                followers: Mutex::new(HashMap::new()),
                files: store::LogFiles::new(dir),
            }),
        };
        let writer = tokio::spawn(logs.clone().write_loop(rx, shutdown));
        (logs, writer)
    }

    /// Queues a line; never blocks (a full queue drops the line rather than stall a
    /// request or a deploy).
    pub fn push(&self, app: &str, entry: LogEntry) {
        let _ = self.inner.queue.try_send((app.to_owned(), entry));
    }

    pub fn platform(&self, app: &str, component: &str, text: impl Into<String>) {
        self.push(app, LogEntry::now(Source::Paas, component, text.into()));
    }

    /// Lines appended from now on.
    pub fn follow(&self, app: &str) -> broadcast::Receiver<LogEntry> {
        let mut followers = self
            .inner
            .followers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        followers
            .entry(app.to_owned())
            .or_insert_with(|| broadcast::channel(FOLLOWER_BUFFER).0)
            .subscribe()
    }

    /// The last `lines` stored lines that pass `filter`, oldest first.
    pub async fn history(&self, app: &str, lines: usize, filter: LogFilter) -> Vec<LogEntry> {
        let files = self.inner.files.clone();
        let app = app.to_owned();
        tokio::task::spawn_blocking(move || files.tail(&app, lines, &filter))
            .await
            .unwrap_or_default()
    }

    /// The time of the newest stored line of `app`, to resume following processes after
    /// a restart without repeating older output.
    pub async fn last_at(&self, app: &str) -> Option<i64> {
        self.history(app, 1, LogFilter::default())
            .await
            .last()
            .map(|e| e.at)
    }

    pub async fn remove(&self, app: &str) {
        let files = self.inner.files.clone();
        let app = app.to_owned();
        let _ = tokio::task::spawn_blocking(move || files.remove(&app)).await;
    }

    async fn write_loop(
        self,
        mut rx: mpsc::Receiver<(String, LogEntry)>,
        shutdown: CancellationToken,
    ) {
        let mut batch = Vec::new();
        loop {
            let received = tokio::select! {
                n = rx.recv_many(&mut batch, 4096) => n,
                () = shutdown.cancelled() => {
                    rx.close();
                    rx.recv_many(&mut batch, QUEUE).await
                }
            };
            if received == 0 {
                break;
            }
            if !shutdown.is_cancelled() {
                tokio::select! {
                    () = tokio::time::sleep(GATHER) => {}
                    () = shutdown.cancelled() => {}
                }
                while let Ok(line) = rx.try_recv() {
                    batch.push(line);
                    if batch.len() >= QUEUE {
                        break;
                    }
                }
            }
            self.fan_out(&batch);
            let files = self.inner.files.clone();
            let lines = std::mem::take(&mut batch);
            let written = tokio::task::spawn_blocking(move || files.append(&lines)).await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %e, "cannot write app logs");
            }
            if shutdown.is_cancelled() && rx.is_empty() {
                break;
            }
        }
    }

    fn fan_out(&self, batch: &[(String, LogEntry)]) {
        let followers = self
            .inner
            .followers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (app, entry) in batch {
            if let Some(sender) = followers.get(app) {
                let _ = sender.send(entry.clone());
            }
        }
    }
}
