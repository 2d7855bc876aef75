//! App logs: recent history, and following new lines as they come.

use tokio::sync::broadcast;

use crate::domain::AppName;
use crate::logs::{LogEntry, LogFilter};

use super::{Actor, OpsError, Platform};

/// Most lines one request may ask for.
pub const MAX_LINES: usize = 10_000;

pub struct LogView {
    pub history: Vec<LogEntry>,
    /// Present when the caller asked to follow.
    pub live: Option<broadcast::Receiver<LogEntry>>,
}

pub async fn view(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    lines: usize,
    filter: LogFilter,
    follow: bool,
) -> Result<LogView, OpsError> {
    let app = super::apps::find(p, actor, name).await?;
    // Subscribe first, so no line falls between the history and the live stream.
    let live = follow.then(|| p.logs.follow(app.name.as_str()));
    let history = p
        .logs
        .history(app.name.as_str(), lines.min(MAX_LINES), filter)
        .await;
    Ok(LogView { history, live })
}
