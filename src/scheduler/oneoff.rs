//! One-off processes: `paas run`, the release phase, the postdeploy script. Each runs in a
//! new container of the release with the app's environment, and is removed when it ends.

use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};

use crate::logs::{LogEntry, Source};
use crate::runtime::{OutputStream, ProcessKind, ProcessSpec};
use crate::wire::TermSize;

use super::plan::ReleasePlan;
use super::{Inner, SchedulerError};

/// Where a one-off process's output lines go as they are printed.
pub type OneOffOutput = Box<dyn Fn(&str) + Send + Sync>;

/// Output of an attached one-off process; with a terminal, everything is `Stdout`.
pub enum RunOutput {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// A one-off process attached to its caller (`paas run` from a terminal or a pipe).
/// Dropping it before the process ended stops the process: nobody is left to talk to it.
pub struct RunSession {
    pub dyno: String,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    /// Ends when the process closed its output.
    pub output: BoxStream<'static, RunOutput>,
    /// Bounded: resizes that do not fit are dropped.
    pub resize: mpsc::Sender<TermSize>,
    /// The exit code once the process ended and was removed (None: no code known).
    /// Dropping it before then stops the process.
    pub exit: oneshot::Receiver<Option<i64>>,
}

/// Runs `command` as `label.NNNN`. With `output`, waits and returns the exit code; without,
/// returns once started (detached) and removes the container when it ends.
pub async fn run(
    s: &Inner,
    plan: &ReleasePlan,
    label: &str,
    command: &str,
    output: Option<OneOffOutput>,
) -> Result<(String, Option<i64>), SchedulerError> {
    let index = 1000 + rand::random::<u32>() % 9000;
    let dyno = format!("{label}.{index}");
    let spec = plan.spec(label, index, ProcessKind::OneOff, command);
    let instance = s
        .runtime
        .start(spec)
        .await
        .map_err(|e| SchedulerError::start(&dyno, e))?;
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
    let shutdown = s.shutdown.clone();
    s.tasks.spawn(async move {
        // A stopping server does not wait for a detached process: it runs on.
        tokio::select! {
            _ = async { tokio::join!(copy, finish) } => {}
            () = shutdown.cancelled() => {}
        }
    });
    Ok((dyno, None))
}

/// Runs `command` as `run.NNNN` with its stdin and output handed to the caller (and a
/// terminal of `terminal`'s size). A keeper task waits for the exit, or stops the process
/// when the caller drops the session (its `exit` receiver), and always removes the
/// container.
pub async fn attach(
    s: &Inner,
    plan: &ReleasePlan,
    command: &str,
    terminal: Option<TermSize>,
) -> Result<RunSession, SchedulerError> {
    let index = 1000 + rand::random::<u32>() % 9000;
    // Docker sizes a terminal only once the process runs, which can be after its first
    // `stty size`: the process sets its own first size, and later resizes are Docker's.
    let sized = match terminal {
        Some(size) => format!(
            "stty cols {} rows {} 2>/dev/null; {command}",
            size.cols, size.rows
        ),
        None => command.to_owned(),
    };
    let spec = plan.spec("run", index, ProcessKind::OneOff, &sized);
    attach_spec(s, spec, command, terminal).await
}

/// Runs `spec` attached (see `attach`); `shown` is what the platform log line says it runs.
pub async fn attach_spec(
    s: &Inner,
    mut spec: ProcessSpec,
    shown: &str,
    terminal: Option<TermSize>,
) -> Result<RunSession, SchedulerError> {
    let dyno = format!("{}.{}", spec.process_type, spec.index);
    let app = spec.app.clone();
    spec.interactive = true;
    spec.tty = terminal.is_some();
    let instance = s
        .runtime
        .start(spec)
        .await
        .map_err(|e| SchedulerError::start(&dyno, e))?;
    let id = instance.id;
    let attached = match s.runtime.attach(&id).await {
        Ok(attached) => attached,
        Err(e) => {
            let _ = s.runtime.stop(&id, Duration::ZERO).await;
            return Err(SchedulerError::start(dyno, e));
        }
    };
    s.logs
        .platform(&app, "run", format!("starting {dyno} (attached): {shown}"));

    let (resize, mut sizes) = mpsc::channel::<TermSize>(16);
    if let Some(size) = terminal {
        let _ = resize.try_send(size);
    }
    let runtime = Arc::clone(&s.runtime);
    let resized = id.clone();
    let shutdown = s.shutdown.clone();
    s.tasks.spawn(async move {
        loop {
            let size = tokio::select! {
                size = sizes.recv() => size,
                () = shutdown.cancelled() => None,
            };
            let Some(size) = size else { break };
            // A process that already ended has no terminal to resize: nothing to do.
            let _ = runtime.resize(&resized, size.cols, size.rows).await;
        }
    });

    let (mut exit_tx, exit) = oneshot::channel();
    let (runtime, logs) = (Arc::clone(&s.runtime), s.logs.clone());
    let keeper_dyno = dyno.clone();
    let shutdown = s.shutdown.clone();
    s.tasks.spawn(async move {
        // The caller's session lives in this server: when either goes, so does the process.
        let (code, outcome) = tokio::select! {
            code = runtime.wait(&id) => match code {
                Ok(code) => (Some(code), format!("{keeper_dyno} exited with {code}")),
                Err(e) => (None, format!("{keeper_dyno} ended with no exit code: {e}")),
            },
            () = exit_tx.closed() => (None, format!("{keeper_dyno} stopped: its caller went away")),
            () = shutdown.cancelled() => (None, format!("{keeper_dyno} stopped: the server is stopping")),
        };
        let _ = runtime.stop(&id, Duration::ZERO).await;
        logs.platform(&app, "run", outcome);
        let _ = exit_tx.send(code);
    });

    let output = attached
        .output
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| std::future::ready(item.ok()))
        .map(|(stream, bytes)| match stream {
            OutputStream::Stdout => RunOutput::Stdout(bytes),
            OutputStream::Stderr => RunOutput::Stderr(bytes),
        })
        .boxed();
    Ok(RunSession {
        dyno,
        input: attached.input,
        output,
        resize,
        exit,
    })
}
