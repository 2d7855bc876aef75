//! `ps:autosleep [on|off] [--after 30m] [--keep worker]`: scale to zero when idle, wake on
//! the next request.

use anyhow::Result;

use crate::wire::{AutosleepInfo, AutosleepPatch};

use super::{Ctx, app_path, output};

pub async fn run(
    ctx: &Ctx,
    switch: Option<&str>,
    after: Option<String>,
    keep: Vec<String>,
) -> Result<()> {
    let app = ctx.app()?;
    let path = format!("{}/autosleep", app_path(&app));
    let info: AutosleepInfo = match switch {
        None => ctx.client.get(&path).await?,
        Some(switch) => {
            let patch = AutosleepPatch {
                enabled: switch == "on",
                after,
                keep,
            };
            ctx.client.patch(&path, &patch).await?
        }
    };
    if ctx.json {
        return output::json(&info);
    }
    print(&app, &info);
    Ok(())
}

fn print(app: &str, info: &AutosleepInfo) {
    match (&info.after, info.keep.is_empty()) {
        (Some(after), true) => println!("{app} sleeps after {after} without a request"),
        (Some(after), false) => println!(
            "{app} sleeps after {after} without a request; {} keep running",
            info.keep.join(", ")
        ),
        (None, _) => println!("autosleep is off for {app}"),
    }
    println!("{}", state_line(app, info));
}

/// One line on whether the app sleeps now (also under `paas ps`).
pub fn state_line(app: &str, info: &AutosleepInfo) -> String {
    let since = info
        .since
        .as_deref()
        .map(|s| format!(" since {s}"))
        .unwrap_or_default();
    match info.state.as_str() {
        "sleeping" => format!("{app} is sleeping{since}: the next request wakes it"),
        "crashed" => format!(
            "{app} crashed on its last wake{since}: {}; the next request tries again",
            info.note.as_deref().unwrap_or("see paas logs")
        ),
        _ => format!("{app} is awake"),
    }
}
