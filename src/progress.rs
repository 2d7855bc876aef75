//! `Progress`: the line stream a long operation reports to (a `git push`, an API call, the
//! CLI's `stack:build`), Heroku style (`-----> Releasing v7`). At the bottom of the layers:
//! build/, runtime/, scheduler/ and ops/ all report through it without importing each other.
//!
//! The channel behind it is bounded. A reader that falls behind (a slow `git push` client)
//! loses lines instead of growing the server's memory; once it catches up it reads one
//! `... N lines dropped` line in their place. Nothing waits on a reader: a client that went
//! away stops nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// Lines a reader may fall behind before lines are dropped.
pub const PROGRESS_LINES: usize = 1024;

#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<Arc<Sink>>,
}

struct Sink {
    tx: mpsc::Sender<String>,
    dropped: AtomicU64,
}

impl Progress {
    /// Reports into `tx`; lines that do not fit are counted and dropped.
    pub fn to(tx: mpsc::Sender<String>) -> Self {
        Progress {
            sink: Some(Arc::new(Sink {
                tx,
                dropped: AtomicU64::new(0),
            })),
        }
    }

    /// A progress and the receiving end of its channel of [`PROGRESS_LINES`].
    pub fn channel() -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(PROGRESS_LINES);
        (Progress::to(tx), rx)
    }

    pub fn silent() -> Self {
        Progress { sink: None }
    }

    /// A `-----> ` heading.
    pub fn step(&self, text: impl AsRef<str>) {
        self.line(format!("-----> {}", text.as_ref()));
    }

    /// An indented detail line under the last heading.
    pub fn detail(&self, text: impl AsRef<str>) {
        self.line(format!("       {}", text.as_ref()));
    }

    pub fn line(&self, text: String) {
        let Some(sink) = &self.sink else { return };
        let dropped = sink.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let notice = format!("       ... {dropped} lines dropped");
            if sink.tx.try_send(notice).is_err() {
                // Still full: the notice waits for the next line that finds room.
                sink.dropped.fetch_add(dropped + 1, Ordering::Relaxed);
                return;
            }
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = sink.tx.try_send(text) {
            sink.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_falls_behind_loses_lines_and_is_told_how_many() {
        let (tx, mut rx) = mpsc::channel(2);
        let progress = Progress::to(tx);
        for n in 0..10 {
            progress.line(format!("line {n}"));
        }
        assert_eq!(rx.try_recv().unwrap(), "line 0");
        assert_eq!(rx.try_recv().unwrap(), "line 1");
        assert!(rx.try_recv().is_err(), "the channel holds only two lines");
        progress.line("line 10".into());
        assert_eq!(rx.try_recv().unwrap(), "       ... 8 lines dropped");
        assert_eq!(rx.try_recv().unwrap(), "line 10");
    }

    #[test]
    fn a_gone_reader_stops_nothing() {
        let (progress, rx) = Progress::channel();
        drop(rx);
        progress.step("still fine");
        Progress::silent().detail("nobody listens");
    }
}
