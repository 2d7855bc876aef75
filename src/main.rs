//! The `paas` binary: `paas server` runs the platform and `paas stack:build` makes its stack
//! images (both in `server`); every other subcommand is the CLI.

use clap::Parser;
use paas::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Server(settings) => run_server(settings),
        Command::StackBuild { force, settings } => run_stack_build(settings, force),
        _ => run_cli(cli),
    };
    match outcome {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run_server(settings: paas::settings::Settings) -> anyhow::Result<u8> {
    // SAFETY: no other thread exists yet, so none can be using libgit2.
    unsafe { paas::git::libgit2::limit_mapped_memory() }?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(paas::server::run(settings))?;
    Ok(0)
}

/// A local admin command: needs the Docker engine, not a running server.
fn run_stack_build(settings: paas::settings::Settings, force: bool) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(paas::server::stack_build(&settings, force))?;
    Ok(0)
}

fn run_cli(cli: Cli) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(paas::cli::run(cli));
    // `paas run` may leave a read of stdin pending: it must not hold the exit up.
    runtime.shutdown_background();
    Ok(u8::try_from(code?).unwrap_or(1))
}
