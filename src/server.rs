//! `paas server`: opens the data dir and store, creates the first admin, wires the
//! control plane, and serves until SIGTERM or SIGINT. Also `paas stack:build`, which makes
//! the stack and add-on images through the same modules with no server running.

use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::build::stack::{self, StackKind};
use crate::build::{Builder, addon_image};
use crate::domain::AddonKind;
use crate::git::Repos;
use crate::logs::AppLogs;
use crate::ops::{self, Platform};
use crate::progress::Progress;
use crate::router::{AccessLine, Router, RouterSettings};
use crate::runtime::Docker;
use crate::scheduler::Scheduler;
use crate::settings::{LogFormat, Settings};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create data dir {path}: {error}; set PAAS_DATA_DIR to a writable directory")]
    DataDir {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("first start failed: {0}")]
    Bootstrap(#[from] ops::OpsError),
    #[error("cannot listen on {addr}: {error}; set PAAS_HTTP_ADDR to a free address")]
    Listen {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
    #[error("invalid setting {0}")]
    Setting(String),
    #[error(transparent)]
    Engine(#[from] crate::runtime::RuntimeError),
    #[error("cannot listen on {addr}: {error}; set PAAS_HTTPS_ADDR to a free address")]
    ListenHttps {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Certs(#[from] crate::certs::CertsError),
    #[error("cannot build the stack images: {0}")]
    StackEngine(crate::runtime::RuntimeError),
    #[error(transparent)]
    Stack(#[from] crate::build::BuildError),
}

pub async fn run(mut settings: Settings) -> Result<(), ServerError> {
    init_tracing(settings.log_format);
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .map_err(|error| ServerError::Listen {
            addr: settings.http_addr,
            error,
        })?;
    // Port 0 asks the OS for a free port; URLs must name the one it gave.
    settings.http_addr = listener.local_addr().map_err(ServerError::Serve)?;
    let https_listener = tokio::net::TcpListener::bind(settings.tls.https_addr)
        .await
        .map_err(|error| ServerError::ListenHttps {
            addr: settings.tls.https_addr,
            error,
        })?;
    settings.tls.https_addr = https_listener.local_addr().map_err(ServerError::Serve)?;
    let data_dir = settings.data_dir();
    create_private_dir(&data_dir)?;
    create_private_dir(&data_dir.join("repos"))?;
    let store = Store::open(&data_dir.join("paas.db"))?;
    restrict_data_dir(&data_dir)?;
    let repos = Repos::new(data_dir.join("repos"));
    // No push is in flight yet: every quarantine is a crash's leftover.
    let swept = repos.sweep_all(Duration::ZERO).await;
    if swept > 0 {
        tracing::info!(
            quarantines = swept,
            "removed leftovers of interrupted pushes"
        );
    }
    let settings = Arc::new(settings);
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    let (logs, log_writer) = AppLogs::start(data_dir.join("logs"), shutdown.clone());
    let router = Router::new(router_settings(&settings)?, access_logger(logs.clone()));
    let certs = crate::certs::Certs::open(
        certs_config(&settings),
        data_dir.join("certs"),
        store.clone(),
        router.clone(),
        logs.clone(),
    )
    .await?;
    let docker = Docker::connect(
        settings.docker_host.as_deref(),
        &instance_id(&data_dir)?,
        settings.subnet_pool(),
    )
    .await?;
    if let Err(e) = crate::runtime::firewall::install(&settings.container_allow).await {
        tracing::error!(error = %e, "app containers can reach this host: the firewall rules could not be set");
    }
    let addons = crate::addons::Addons::new(
        docker.clone(),
        logs.clone(),
        data_dir.join("backups"),
        shutdown.clone(),
    );
    adopt_addons(&store, &addons).await?;
    let registry = crate::registry::Registry::start(
        docker.clone(),
        settings.registry_settings(),
        shutdown.clone(),
    );
    let builder = Builder::new(
        docker.clone(),
        store.clone(),
        settings.build_settings(),
        registry.clone(),
    );
    builder.clean_up_interrupted().await;
    let sampler_docker = docker.clone();
    let runtime: Arc<dyn crate::runtime::Runtime> = match settings.scheduler {
        crate::settings::SchedulerBackend::Docker => Arc::new(docker),
        crate::settings::SchedulerBackend::Swarm => Arc::new(crate::runtime::SwarmRuntime::new(
            docker,
            settings.swarm_runtime_settings(),
        )),
    };
    let scheduler = Scheduler::start(
        runtime,
        store.clone(),
        logs.clone(),
        router.clone(),
        settings.scheduler_settings(),
        shutdown.clone(),
    )
    .await;
    let platform = Platform {
        store,
        repos,
        scheduler: scheduler.clone(),
        builder,
        logs,
        deploys: ops::deploys::Deploys::new(shutdown.clone()),
        login_limiter: Default::default(),
        settings: Arc::clone(&settings),
        certs: certs.clone(),
        addons: addons.clone(),
    };
    if let Some(first) = ops::bootstrap::ensure_admin(&platform).await? {
        hand_over_first_start(&first, &settings, &data_dir)?;
    }
    tracing::info!(addr = %settings.http_addr, https_addr = %settings.tls.https_addr, data_dir = %data_dir.display(), domain = %settings.domain, "paas server listening");

    let renewal = certs.spawn_renewal(shutdown.clone());

    let deploys = platform.deploys.clone();
    tokio::spawn(ops::backups::run_schedule(
        platform.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(ops::cron::run_schedule(platform.clone(), shutdown.clone()));
    tokio::spawn(ops::reviewapps::run_expiry(
        platform.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(ops::autosleep::run(
        platform.clone(),
        router.clone(),
        shutdown.clone(),
    ));
    let sampler = tokio::spawn(ops::metrics::run_sampler(
        platform.clone(),
        router.clone(),
        sampler_docker,
        shutdown.clone(),
    ));
    let control = control_plane(platform, router.clone());
    let public = Arc::new(crate::router::Listener::new(
        router,
        control,
        shutdown.clone(),
    ));
    let serve_tls: crate::certs::listener::Serve = {
        let public = Arc::clone(&public);
        Arc::new(move |io, info| public.serve_stream(io, info))
    };
    let (plain, tls) = tokio::join!(
        public.accept_loop(listener),
        crate::certs::listener::accept_loop(
            https_listener,
            certs.server_config(),
            serve_tls,
            shutdown.clone()
        ),
    );
    public.drain().await;
    plain.map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))?;
    tls.map_err(ServerError::Serve)?;
    shutdown.cancel();
    deploys.join().await;
    addons.join().await;
    registry.join().await;
    if let Some(renewal) = renewal {
        let _ = renewal.await;
    }
    let _ = sampler.await;
    scheduler.join().await;
    let _ = log_writer.await;
    tracing::info!("paas server stopped");
    Ok(())
}

/// Everything served on the control host: health, metrics, API (and git and the web UI).
pub fn control_plane(platform: Platform, router: Router) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(crate::api::routes())
        .merge(crate::api::git::routes())
        .merge(crate::web::routes())
        .layer(axum::Extension(router))
        .with_state(platform)
}

/// Prometheus metrics of the router: an admin's token sees every series, a member's only
/// those of the apps they can see.
async fn metrics(
    axum::extract::State(p): axum::extract::State<Platform>,
    axum::Extension(router): axum::Extension<Router>,
    actor: ops::Actor,
) -> Result<axum::response::Response, crate::api::error::ApiError> {
    let only = ops::apps::visible_names(&p, &actor).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        match &only {
            None => router.metrics_text(),
            Some(apps) => router.metrics_text_of(apps),
        },
    )
        .into_response())
}

fn certs_config(settings: &Settings) -> crate::certs::CertsConfig {
    crate::certs::CertsConfig {
        tls: settings.tls.clone(),
        paas_domain: settings.domain.clone(),
        control_host: settings.control_host.clone(),
        https_port: settings
            .tls
            .https_public_port
            .unwrap_or(settings.tls.https_addr.port()),
    }
}

fn router_settings(settings: &Settings) -> Result<RouterSettings, ServerError> {
    let mut router = RouterSettings::new(settings.domain.clone());
    router.control_hosts = settings.control_host.iter().cloned().collect();
    router.trusted_proxies = settings
        .trusted_proxies
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map_err(|e| ServerError::Setting(format!("PAAS_TRUSTED_PROXIES: {e}")))
        })
        .collect::<Result<_, _>>()?;
    router.connect_timeout = Duration::from_secs(settings.router_connect_timeout);
    router.response_header_timeout = Duration::from_secs(settings.router_response_timeout);
    router.idle_timeout = Duration::from_secs(settings.router_idle_timeout);
    router.fast_path = settings.router_fast_path;
    router.wake_timeout = Duration::from_secs(settings.wake_timeout.max(1));
    Ok(router)
}

/// `paas stack:build`: makes the stack images and the add-on images on this host (root,
/// beside the Docker engine) as a server would on first need, without a server running;
/// `force` rebuilds them all even when they are current. Progress lines go to stdout, then
/// the name of each image.
pub async fn stack_build(settings: &Settings, force: bool) -> Result<(), ServerError> {
    let data_dir = settings.data_dir();
    create_private_dir(&data_dir)?;
    let docker = Docker::connect(
        settings.docker_host.as_deref(),
        &instance_id(&data_dir)?,
        settings.subnet_pool(),
    )
    .await
    .map_err(ServerError::StackEngine)?;
    let (progress, mut rx) = Progress::channel();
    let printer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            println!("{line}");
        }
    });
    let stack_settings = settings.stack_settings();
    let started = std::time::Instant::now();
    let result = async {
        if force {
            for kind in [StackKind::Run, StackKind::Build] {
                progress.step(format!("Building the {kind:?} stack image"));
                stack::build(&docker, &stack_settings, kind, &progress).await?;
            }
            for kind in AddonKind::ALL {
                progress.step(format!("Building the {kind} add-on image"));
                addon_image::build(&docker, &stack_settings, kind, &progress).await?;
            }
        }
        let stacks = stack::ensure(&docker, &stack_settings, &progress).await?;
        let mut images = vec![("run", stacks.run), ("build", stacks.build)];
        for kind in AddonKind::ALL {
            let image = addon_image::ensure(&docker, &stack_settings, kind, &progress).await?;
            images.push((kind.as_str(), image));
        }
        Ok::<_, crate::build::BuildError>(images)
    }
    .await;
    drop(progress);
    let _ = printer.await;
    let images = result?;
    println!(
        "Stack and add-on images ready in {:.0}s:",
        started.elapsed().as_secs_f64()
    );
    for (what, image) in images {
        println!("  {what:<9} {image}");
    }
    Ok(())
}

/// Backups a dead server left running are failed (their half-written files removed), and
/// the add-ons that still run are followed again.
async fn adopt_addons(store: &Store, addons: &crate::addons::Addons) -> Result<(), ServerError> {
    let interrupted = store
        .write(|tx| tx.fail_interrupted_backups())
        .await
        .map_err(ServerError::Store)?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "backups interrupted by the last stop are marked failed"
        );
    }
    addons.remove_partial_backups();
    let rows = store
        .read(|db| {
            let mut rows = Vec::new();
            for addon in db.all_addons()? {
                let apps = db
                    .attachments_of_addon(addon.id)?
                    .into_iter()
                    .map(|a| a.app_name)
                    .collect();
                rows.push((addon, apps));
            }
            Ok::<_, crate::store::StoreError>(rows)
        })
        .await
        .map_err(ServerError::Store)?;
    addons.adopt(&rows).await;
    Ok(())
}

/// Router access lines join the app's log stream as `paas[router]` lines.
fn access_logger(logs: AppLogs) -> impl Fn(AccessLine) + Send + Sync + 'static {
    move |line: AccessLine| {
        if let Some(app) = &line.app {
            let mut text = String::with_capacity(AccessLine::CAPACITY);
            line.write_to(&mut text);
            logs.platform(app, "router", text);
        }
    }
}

/// This server's id, made at first start and kept in the data dir: containers and images
/// carry it, so two servers on one engine never touch each other's.
pub fn instance_id(data_dir: &Path) -> Result<String, ServerError> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        _ => {}
    }
    let id = crate::auth::random_hex(8);
    write_private(&path, &id)?;
    Ok(id)
}

/// Writes `text` to a file only this user can read (0600 from its creation on).
fn write_private(path: &Path, text: &str) -> Result<(), ServerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|error| ServerError::DataDir {
            path: path.to_owned(),
            error,
        })
}

/// On every start (an operator's `cp -r` or an old version may have loosened them): the
/// data dir and its logs dir 0700, the database, its WAL and the log files 0600.
fn restrict_data_dir(data_dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &Path, mode: u32| match std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(mode),
    ) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ServerError::DataDir {
            path: path.to_owned(),
            error: e,
        }),
        _ => Ok(()),
    };
    set(data_dir, 0o700)?;
    set(&data_dir.join("repos"), 0o700)?;
    for file in [
        "paas.db",
        "paas.db-wal",
        "paas.db-shm",
        "instance-id",
        FIRST_START_FILE,
    ] {
        set(&data_dir.join(file), 0o600)?;
    }
    let logs = data_dir.join("logs");
    set(&logs, 0o700)?;
    if let Ok(entries) = std::fs::read_dir(&logs) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                set(&entry.path(), 0o600)?;
            }
        }
    }
    Ok(())
}

fn create_private_dir(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|error| ServerError::DataDir {
            path: path.to_owned(),
            error,
        })
}

/// Where the first start's secrets go when no terminal is there to show them to.
pub const FIRST_START_FILE: &str = "first-start-credentials";

/// The first start's password and token reach the operator once: on the terminal of
/// whoever started the server, or, when stderr goes to a journal, a file or a pipe (systemd,
/// docker, `> log`), in a 0600 file of the data dir whose path alone is printed.
fn hand_over_first_start(
    first: &ops::bootstrap::FirstStart,
    settings: &Settings,
    data_dir: &Path,
) -> Result<(), ServerError> {
    let under_systemd = ["INVOCATION_ID", "JOURNAL_STREAM"]
        .iter()
        .any(|var| std::env::var_os(var).is_some());
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let text = first_start_text(first, settings);
    if on_terminal && !under_systemd {
        eprint!("{text}");
        return Ok(());
    }
    let path = data_dir.join(FIRST_START_FILE);
    write_private(&path, &text)?;
    eprintln!(
        "paas: first start: created the admin user \"{}\"; its password and token are in {} (readable only by this user): read it, then delete it",
        first.admin,
        path.display()
    );
    Ok(())
}

fn first_start_text(first: &ops::bootstrap::FirstStart, settings: &Settings) -> String {
    let url = format!("http://localhost:{}", settings.http_addr.port());
    let mut text = format!(
        "paas: first start: created the admin user \"{}\"\n  password: {}   (for the web UI; shown only now)\n",
        first.admin, first.password
    );
    match &first.token {
        Some(token) => text.push_str(&format!(
            "  token:    {token}   (shown only now)\n  log in:   paas login {url} --token {token}\n"
        )),
        None => text.push_str(&format!(
            "  token:    the value of PAAS_ADMIN_TOKEN\n  log in:   paas login {url} --token \"$PAAS_ADMIN_TOKEN\"\n"
        )),
    }
    text
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop the server with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
    shutdown.cancel();
}
