//! `events`: the audit trail.

use anyhow::Result;

use crate::wire::EventInfo;

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let path = match &ctx.app_flag {
        Some(app) => format!("{}/events", app_path(app)),
        None => "/api/v1/events".to_owned(),
    };
    let events: Vec<EventInfo> = ctx.client.get(&path).await?;
    if ctx.json {
        return output::json(&events);
    }
    let rows: Vec<Vec<String>> = events
        .into_iter()
        .map(|e| {
            vec![
                e.at,
                e.actor,
                e.app.unwrap_or_else(|| "-".into()),
                e.action,
                e.detail,
            ]
        })
        .collect();
    output::table(&["TIME", "BY", "APP", "ACTION", "DETAIL"], &rows);
    Ok(())
}
