//! One task per process copying its output into the app's log stream.

use futures_util::StreamExt;

use crate::logs::{LogEntry, Source};

use super::Inner;

/// Follows the process's output from `since` (unix seconds) until it stops.
pub fn spawn(s: &Inner, app: &str, id: &str, dyno: &str, since: i64) {
    let mut lines = s.runtime.logs(id, since, true);
    let logs = s.logs.clone();
    let shutdown = s.shutdown.clone();
    let (app, dyno) = (app.to_owned(), dyno.to_owned());
    s.tasks.spawn(async move {
        loop {
            let next = tokio::select! {
                next = lines.next() => next,
                () = shutdown.cancelled() => break,
            };
            match next {
                Some(Ok(line)) => logs.push(
                    &app,
                    LogEntry {
                        at: line.at,
                        source: Source::App,
                        dyno: dyno.clone(),
                        text: line.text,
                    },
                ),
                Some(Err(e)) => {
                    tracing::debug!(app, dyno, error = %e, "log stream ended");
                    break;
                }
                None => break,
            }
        }
    });
}
