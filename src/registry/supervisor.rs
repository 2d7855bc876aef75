//! The registry's supervisor: a task that asks the engine every few seconds (or at once
//! when woken, after `swarm:init`) whether it is a swarm manager and on which address,
//! and keeps `docker-registry serve` running there: started (certificate, config, the
//! manager's trust, then the process, then a TLS request that must answer), started again
//! on another address when the advertise address changes, restarted with backoff (1 s
//! doubling to a minute; forgiven after a minute up) when it dies, and stopped when the
//! engine leaves the swarm or the server stops.

use std::net::IpAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::config::RegistryConfig;
use super::{Inner, RegistryError, State, first_line, registry_addr};
use crate::certs::ca::{self, Ca};

/// How often the engine is asked whether it is a manager.
const POLL: Duration = Duration::from_secs(5);
/// How long a started registry has to answer over TLS.
const READY_WITHIN: Duration = Duration::from_secs(15);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A registry up this long is forgiven its earlier crashes.
const STABLE: Duration = Duration::from_secs(60);
/// At shutdown, how long a push or collection in progress may still take.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The registry process, and where it serves.
struct Running {
    child: Child,
    host: String,
    addr: String,
    since: Instant,
    /// The last line it wrote, for the reason when it dies.
    last_line: Arc<Mutex<String>>,
}

pub(super) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut running: Option<Running> = None;
    let mut backoff = BACKOFF_FIRST;
    let mut retry_at = Instant::now();
    let mut reported = String::new();
    loop {
        let wanted = match inner.docker.manager_address().await {
            Ok(host) => host,
            // An engine that does not answer now changes nothing: keep what runs.
            Err(e) => {
                tracing::debug!(error = %e, "cannot ask the engine about its swarm");
                running.as_ref().map(|r| r.host.clone())
            }
        };
        if running
            .as_ref()
            .is_some_and(|r| Some(&r.host) != wanted.as_ref())
        {
            stop(&inner, running.take()).await;
            backoff = BACKOFF_FIRST;
            retry_at = Instant::now();
        }
        match (&running, &wanted) {
            (None, None) => set(&inner, State::Off, &mut reported),
            (None, Some(host)) if Instant::now() >= retry_at => match start(&inner, host).await {
                Ok(started) => {
                    tracing::info!(addr = %started.addr, "swarm registry running");
                    set(&inner, State::Running(started.addr.clone()), &mut reported);
                    running = Some(started);
                }
                Err(e) => {
                    set(&inner, State::Down(e.to_string()), &mut reported);
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            },
            _ => {}
        }
        let pause = match (&running, &wanted) {
            (None, Some(_)) => retry_at.saturating_duration_since(Instant::now()).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            status = exited(&mut running) => {
                let Some(dead) = running.take() else { continue };
                if dead.since.elapsed() >= STABLE {
                    backoff = BACKOFF_FIRST;
                }
                let said = dead.last_line.lock().map(|l| l.clone()).unwrap_or_default();
                let reason = format!("docker-registry exited ({status}): {said}");
                tracing::warn!(addr = %dead.addr, %reason, restart_in_secs = backoff.as_secs(), "swarm registry died");
                set(&inner, State::Down(reason), &mut reported);
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    // A push or collection in progress finishes first (within reason).
    let _held = tokio::time::timeout(STOP_WAIT, inner.storage.lock()).await;
    stop(&inner, running.take()).await;
    inner.state.send_replace(State::Off);
}

/// Publishes the state; a new reason to be down is logged once, not at every retry.
fn set(inner: &Inner, state: State, reported: &mut String) {
    if let State::Down(reason) = &state
        && reason != reported
    {
        tracing::error!(%reason, "swarm registry not running; builds cannot push their images");
        reported.clone_from(reason);
    }
    if !matches!(state, State::Down(_)) {
        reported.clear();
    }
    inner.state.send_if_modified(|s| {
        let changed = *s != state;
        *s = state;
        changed
    });
}

/// The exit status of the registry; never resolves when none runs.
async fn exited(running: &mut Option<Running>) -> ExitStatus {
    match running {
        Some(r) => match r.child.wait().await {
            Ok(status) => status,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn stop(inner: &Inner, running: Option<Running>) {
    let Some(mut r) = running else { return };
    let _ = r.child.start_kill();
    let _ = r.child.wait().await;
    tracing::info!(addr = %r.addr, "swarm registry stopped");
    inner.state.send_replace(State::Off);
}

/// Certificate, config file and the manager's trust; then the process, until it answers.
async fn start(inner: &Inner, host: &str) -> Result<Running, RegistryError> {
    let settings = inner.settings.clone();
    let addr = registry_addr(host, settings.port)?;
    let ip: IpAddr = host
        .parse()
        .map_err(|_| RegistryError::NotAnIp(host.to_owned()))?;
    let (config_path, ca_pem) = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || prepare(&settings, ip, &addr))
            .await
            .map_err(|e| RegistryError::Task(e.to_string()))??
    };
    let program = inner.settings.program.clone();
    let mut command = Command::new(&program);
    // The registry dies with the server even when the server is killed with -9 (the
    // signal comes when the spawning thread ends: a runtime worker, which lives as long
    // as the server).
    // SAFETY: the closure only makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RegistryError::NotInstalled,
            _ => RegistryError::Spawn {
                program: program.display().to_string(),
                source,
            },
        })?;
    let last_line = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        tokio::spawn(forward(stream, Arc::clone(&last_line)));
    }
    let mut running = Running {
        child,
        host: host.to_owned(),
        addr,
        since: Instant::now(),
        last_line,
    };
    match ready(&mut running, &ca_pem).await {
        Ok(()) => Ok(running),
        Err(e) => {
            let _ = running.child.start_kill();
            let _ = running.child.wait().await;
            Err(e)
        }
    }
}

/// Writes what the process reads: the server certificate for `ip`, `config.yml`, and the
/// manager engine's `certs.d` entry. Returns (config path, CA PEM).
fn prepare(
    settings: &super::RegistrySettings,
    ip: IpAddr,
    addr: &str,
) -> Result<(std::path::PathBuf, String), RegistryError> {
    let ca = Ca::open(&settings.ca_dir)?;
    let cert = ca.server_cert(&[ip])?;
    if cert.issued {
        tracing::info!(%ip, "issued the swarm registry's certificate");
    }
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| RegistryError::Files { path, source }
    };
    let storage = settings.dir.join("data");
    private_dir(&storage).map_err(failed(&storage))?;
    let config = RegistryConfig {
        listen: std::net::SocketAddr::new(ip, settings.port),
        storage: &storage,
        cert: &cert.cert,
        key: &cert.key,
        http_secret: &crate::auth::random_hex(16),
    };
    let config_path = settings.dir.join("config.yml");
    write_file(&config_path, config.yaml().as_bytes(), 0o600).map_err(failed(&config_path))?;
    // The manager's engine pushes: it must trust the CA for this address as nodes do.
    let trust_dir = settings.engine_certs_dir.join(addr);
    let trust = trust_dir.join("ca.crt");
    if std::fs::read_to_string(&trust).ok().as_deref() != Some(ca.cert_pem()) {
        std::fs::create_dir_all(&trust_dir).map_err(failed(&trust_dir))?;
        write_file(&trust, ca.cert_pem().as_bytes(), 0o644).map_err(failed(&trust))?;
    }
    Ok((config_path, ca.cert_pem().to_owned()))
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if let Some(parent) = dir.parent() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `path` with `mode` from its creation on, then renames it into place.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension(format!("{}.tmp", crate::auth::random_hex(4)));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Until `GET /v2/` answers over TLS with paas's CA, or the process exits.
async fn ready(running: &mut Running, ca_pem: &str) -> Result<(), RegistryError> {
    let client = ca::https_client(ca_pem)?;
    let url = format!("https://{}/v2/", running.addr);
    let deadline = Instant::now() + READY_WITHIN;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = running.child.try_wait() {
            let said = running
                .last_line
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default();
            return Err(RegistryError::Down(format!(
                "docker-registry exited ({status}): {said}"
            )));
        }
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last = format!("HTTP {}", response.status()),
            Err(e) => last = error_chain(&e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(RegistryError::Unreachable {
        addr: running.addr.clone(),
        reason: last,
    })
}

/// What the registry says at error level about every push: the engine asks whether each
/// blob and manifest is there before it uploads it, and "no" is logged as an error.
const EXPECTED: [&str; 2] = ["err.code=\"blob unknown\"", "err.code=\"manifest unknown\""];

/// The registry's output goes to the server's log, a line at a time (but the expected
/// answers of a push).
async fn forward(
    stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    last_line: Arc<Mutex<String>>,
) {
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() || EXPECTED.iter().any(|e| line.contains(e)) {
            continue;
        }
        tracing::warn!(target: "paas::registry::docker_registry", "{line}");
        if let Ok(mut last) = last_line.lock() {
            *last = first_line(&line);
        }
    }
}

/// An error with its sources, on one line.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
