//! One-off processes: `paas run`, the release phase, the postdeploy script. Each runs in a
//! new container of the release with the app's environment, and is removed when it ends.

use std::time::Duration;

use futures_util::StreamExt;

use crate::logs::{LogEntry, Source};
use crate::ops::DeployError;
use crate::runtime::ProcessKind;

use super::Inner;
use super::plan::ReleasePlan;

pub use crate::ops::deploy::OutputSink as OneOffOutput;

/// Runs `command` as `label.NNNN`. With `output`, waits and returns the exit code; without,
/// returns once started (detached) and removes the container when it ends.
pub async fn run(
    s: &Inner,
    plan: &ReleasePlan,
    label: &str,
    command: &str,
    output: Option<OneOffOutput>,
) -> Result<(String, Option<i64>), DeployError> {
    let index = 1000 + rand::random::<u32>() % 9000;
    let dyno = format!("{label}.{index}");
    let spec = plan.spec(label, index, ProcessKind::OneOff, command);
    let instance = s
        .runtime
        .start(spec)
        .await
        .map_err(|e| DeployError(format!("could not start {dyno}: {e}")))?;
    s.logs
        .platform(&plan.app, "run", format!("starting {dyno}: {command}"));
    let id = instance.id.clone();
    let attached = output.is_some();
    let mut lines = s.runtime.logs(&id, 0, true);
    let logs = s.logs.clone();
    let app = plan.app.clone();
    let runtime = std::sync::Arc::clone(&s.runtime);
    let copy = {
        let dyno = dyno.clone();
        async move {
            while let Some(Ok(line)) = lines.next().await {
                if let Some(output) = &output {
                    output(&line.text);
                }
                logs.push(
                    &app,
                    LogEntry {
                        at: line.at,
                        source: Source::App,
                        dyno: dyno.clone(),
                        text: line.text,
                    },
                );
            }
        }
    };
    let finish = {
        let (dyno, app, logs) = (dyno.clone(), plan.app.clone(), s.logs.clone());
        async move {
            let code = runtime.wait(&id).await;
            let _ = runtime.stop(&id, Duration::ZERO).await;
            let code = code.ok();
            logs.platform(
                &app,
                "run",
                format!(
                    "{dyno} exited with {}",
                    code.map_or("no exit code".into(), |c| c.to_string())
                ),
            );
            code
        }
    };
    if attached {
        let ((), code) = tokio::join!(copy, finish);
        return Ok((dyno, code));
    }
    s.tasks.spawn(async move {
        tokio::join!(copy, finish);
    });
    Ok((dyno, None))
}
