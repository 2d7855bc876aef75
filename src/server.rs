//! `paas server`: opens the data dir and store, creates the first admin, wires the
//! control plane, and serves until SIGTERM or SIGINT.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::git::Repos;
use crate::ops::{self, Platform};
use crate::settings::{LogFormat, Settings};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create data dir {path}: {source}; set PAAS_DATA_DIR to a writable directory")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("first start failed: {0}")]
    Bootstrap(#[from] ops::OpsError),
    #[error("cannot listen on {addr}: {source}; set PAAS_HTTP_ADDR to a free address")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
}

pub async fn run(mut settings: Settings) -> Result<(), ServerError> {
    init_tracing(settings.log_format);
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .map_err(|source| ServerError::Listen {
            addr: settings.http_addr,
            source,
        })?;
    // Port 0 asks the OS for a free port; URLs must name the one it gave.
    settings.http_addr = listener.local_addr().map_err(ServerError::Serve)?;
    let data_dir = settings.data_dir();
    create_private_dir(&data_dir)?;
    create_private_dir(&data_dir.join("repos"))?;
    let store = Store::open(&data_dir.join("paas.db"))?;
    let settings = Arc::new(settings);
    let platform = Platform {
        store,
        repos: Repos::new(data_dir.join("repos")),
        deployer: Arc::new(Unscheduled),
        settings: Arc::clone(&settings),
    };
    if let Some(first) = ops::bootstrap::ensure_admin(&platform).await? {
        print_first_start(&first, &settings);
    }
    tracing::info!(addr = %settings.http_addr, data_dir = %data_dir.display(), domain = %settings.domain, "paas server listening");

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let app = control_plane(platform);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(ServerError::Serve)?;
    tracing::info!("paas server stopped");
    Ok(())
}

/// Everything served on the control host: health, API (and later git and the web UI).
pub fn control_plane(platform: Platform) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::api::routes())
        .layer(middleware::from_fn_with_state(
            platform.clone(),
            only_control_hosts,
        ))
        .with_state(platform)
}

/// Until the router lands, a non-control host gets a page naming it.
async fn only_control_hosts(State(p): State<Platform>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if host.is_empty() || p.settings.is_control_host(&host) {
        return next.run(req).await;
    }
    (
        StatusCode::NOT_FOUND,
        format!("no app is served at {host}; add it with paas domains:add {host} -a APP\n"),
    )
        .into_response()
}

/// A deployer for a server without a scheduler yet.
struct Unscheduled;

impl ops::Deployer for Unscheduled {
    fn roll_out<'a>(
        &'a self,
        _app: &'a crate::store::AppRow,
        _release: &'a crate::store::ReleaseRow,
        _progress: &'a ops::Progress,
    ) -> ops::deploy::BoxFuture<'a, Result<(), ops::DeployError>> {
        Box::pin(async { Err(ops::DeployError("no scheduler is running".into())) })
    }
    fn scale<'a>(
        &'a self,
        _app: &'a crate::store::AppRow,
    ) -> ops::deploy::BoxFuture<'a, Result<(), ops::DeployError>> {
        Box::pin(async { Ok(()) })
    }
    fn restart<'a>(
        &'a self,
        _app: &'a crate::store::AppRow,
        _process_type: Option<&'a str>,
    ) -> ops::deploy::BoxFuture<'a, Result<(), ops::DeployError>> {
        Box::pin(async { Ok(()) })
    }
    fn destroy<'a>(
        &'a self,
        _app: &'a crate::store::AppRow,
    ) -> ops::deploy::BoxFuture<'a, Result<(), ops::DeployError>> {
        Box::pin(async { Ok(()) })
    }
    fn routes_changed(&self) -> ops::deploy::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn create_private_dir(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServerError::DataDir {
            path: path.to_owned(),
            source,
        })
}

/// Printed once, to the terminal of whoever started the server: not a log line.
fn print_first_start(first: &ops::bootstrap::FirstStart, settings: &Settings) {
    let url = format!("http://localhost:{}", settings.http_addr.port());
    eprintln!(
        "paas: first start: created the admin user \"{}\"",
        first.admin
    );
    eprintln!(
        "  password: {}   (for the web UI; shown only now)",
        first.password
    );
    match &first.token {
        Some(token) => {
            eprintln!("  token:    {token}   (shown only now)");
            eprintln!("  log in:   paas login {url} --token {token}");
        }
        None => eprintln!(
            "  token:    the value of PAAS_ADMIN_TOKEN\n  log in:   paas login {url} --token \"$PAAS_ADMIN_TOKEN\""
        ),
    }
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
