//! `stack:build`: makes the stack images on this host, as the server would on first need.

use anyhow::{Context, Result};

use crate::build::stack::{self, StackKind};
use crate::progress::Progress;
use crate::runtime::Docker;
use crate::settings::Settings;

pub async fn build(settings: &Settings, force: bool) -> Result<()> {
    let data_dir = settings.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let instance = crate::server::instance_id(&data_dir)?;
    let docker = Docker::connect(
        settings.docker_host.as_deref(),
        &instance,
        settings.subnet_pool(),
    )
    .await
    .context("cannot build the stack images")?;
    let (progress, mut rx) = Progress::channel();
    let printer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            println!("{line}");
        }
    });
    let stack_settings = settings.stack_settings();
    let started = std::time::Instant::now();
    let result = if force {
        async {
            for kind in [StackKind::Run, StackKind::Build] {
                progress.step(format!("Building the {kind:?} stack image"));
                stack::build(&docker, &stack_settings, kind, &progress).await?;
            }
            Ok(())
        }
        .await
    } else {
        stack::ensure(&docker, &stack_settings, &progress)
            .await
            .map(drop)
    };
    drop(progress);
    let _ = printer.await;
    result?;
    println!(
        "Stack images ready in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
