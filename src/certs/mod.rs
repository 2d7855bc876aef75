//! HTTPS inside the binary: the TLS listener with SNI, certificates users bring, and
//! certificates obtained and renewed with ACME (instant-acme) for every app domain and the
//! control host.
//!
//! # Layout
//!
//! ```text
//! mod.rs         Certs: the handle server, ops and the renewal task share; CertsError
//! settings.rs    PAAS_HTTPS_ADDR, PAAS_ACME_* (flattened into paas server's settings)
//! plan.rs        pure rules: which names ACME manages, what serves a name, when to renew
//! x509.rs        names, issuer and validity out of a DER certificate
//! material.rs    PEM chain + key -> rustls CertifiedKey; rcgen keys, CSRs, self-signed
//! files.rs       DATA/certs: 0600 files written atomically
//! resolver.rs    SniTable and the rustls resolver; the listener's ServerConfig
//! challenges.rs  TLS-ALPN-01 certificates and HTTP-01 tokens while an order is open
//! ca.rs          paas's own CA and the swarm registry's server certificate
//! acme.rs        the ACME account and one order for one hostname
//! acme_http.rs   instant-acme's HTTP client over reqwest (extra CA roots, timeouts)
//! renew.rs       the renewal task: sync managed names, order what is due, back off
//! listener.rs    TLS accept loop: handshake, then the router's Listener::serve_stream
//! ```
//!
//! Why instant-acme and our own loop rather than rustls-acme: rustls-acme keeps one domain
//! set per state and its own cache layout, so domains added at run time would need a state
//! per domain behind our resolver anyway, and its failures would not reach the store.
//! instant-acme speaks only the protocol; paas keeps the states with their reasons in
//! SQLite, the keys as 0600 files, one certificate per hostname (a domain whose DNS is not
//! ready never blocks another), and one resolver for ACME, user and self-signed
//! certificates.

mod acme;
mod acme_http;
pub mod ca;
mod challenges;
pub mod files;
pub mod listener;
pub mod material;
pub mod plan;
mod renew;
mod resolver;
pub mod settings;
pub mod x509;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::Timestamp;
use crate::logs::AppLogs;
use crate::router::{AppHttps, HttpsPolicies, Router};
use crate::store::{Store, StoreError};

pub use files::{CertFile, CertFiles};
pub use material::{Loaded, MaterialError};
pub use plan::{AppHosts, DomainStatus, Facts, Policy};
pub use settings::{ChallengeKind, TlsSettings};

use challenges::Challenges;
use resolver::SniTable;

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("cannot use the certificate directory {path}: {source}; check PAAS_DATA_DIR")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the self-signed certificate: {0}")]
    SelfSigned(#[from] MaterialError),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("certificate task stopped: {0}")]
    Task(String),
}

/// What the certificate manager needs to know of the server.
#[derive(Clone, Debug)]
pub struct CertsConfig {
    pub tls: TlsSettings,
    /// Apps answer at `APP.<paas_domain>`.
    pub paas_domain: String,
    pub control_host: Option<String>,
    /// Port of https-only redirects.
    pub https_port: u16,
}

/// Certificates of the running server. Cheap to clone.
#[derive(Clone)]
pub struct Certs {
    inner: Arc<Inner>,
}

struct Inner {
    config: CertsConfig,
    files: CertFiles,
    store: Store,
    router: Router,
    logs: AppLogs,
    table: Arc<ArcSwap<SniTable>>,
    challenges: Arc<Challenges>,
    server_config: Arc<rustls::ServerConfig>,
    /// Certificates read from disk, so rebuilding the table reads no files.
    loaded: Mutex<HashMap<CertFile, Loaded>>,
    default: Loaded,
    wake: Notify,
    /// One rebuild at a time, so an older read of the store never replaces a newer table.
    rebuilding: tokio::sync::Mutex<()>,
}

impl Certs {
    /// Opens `certs_dir`: makes (or reuses) the self-signed certificate, loads every stored
    /// certificate, and builds the SNI table and the router's HTTPS policies.
    pub async fn open(
        config: CertsConfig,
        certs_dir: std::path::PathBuf,
        store: Store,
        router: Router,
        logs: AppLogs,
    ) -> Result<Certs, CertsError> {
        let files = CertFiles::new(certs_dir);
        let self_signed_names = self_signed_names(&config);
        let (default, loaded) = {
            let files = files.clone();
            tokio::task::spawn_blocking(move || load_all(&files, &self_signed_names))
                .await
                .map_err(|e| CertsError::Task(e.to_string()))??
        };
        let challenges = Arc::new(Challenges::new(router.clone()));
        let table = Arc::new(ArcSwap::from_pointee(SniTable::new(
            HashMap::new(),
            Arc::clone(&default.certified),
        )));
        let server_config = resolver::server_config(Arc::clone(&table), Arc::clone(&challenges))?;
        let certs = Certs {
            inner: Arc::new(Inner {
                config,
                files,
                store,
                router,
                logs,
                table,
                challenges,
                server_config,
                loaded: Mutex::new(loaded),
                default,
                wake: Notify::new(),
                rebuilding: tokio::sync::Mutex::new(()),
            }),
        };
        certs.refresh().await?;
        Ok(certs)
    }

    /// Starts the ACME renewal task when `PAAS_ACME_EMAIL` is set.
    pub fn spawn_renewal(
        &self,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.inner.config.tls.acme_enabled() {
            return None;
        }
        Some(tokio::spawn(renew::run(self.clone(), shutdown)))
    }

    /// The HTTPS listener's TLS configuration (its resolver follows every refresh).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.inner.server_config)
    }

    /// Domains, certificates or HTTPS choices changed: rebuild the SNI table and the
    /// router's policies now, and let the renewal task look for new names.
    pub async fn refresh(&self) -> Result<(), CertsError> {
        self.rebuild().await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    pub fn config(&self) -> &CertsConfig {
        &self.inner.config
    }

    pub fn files(&self) -> &CertFiles {
        &self.inner.files
    }

    pub fn policy(&self) -> Policy {
        Policy {
            control_host: self
                .inner
                .config
                .control_host
                .as_deref()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
            acme: self.inner.config.tls.acme_enabled(),
        }
    }

    /// Keeps a certificate just written to disk (or forgets one with `None`).
    pub fn remember(&self, file: CertFile, loaded: Option<Loaded>) {
        let mut cache = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Some(loaded) => cache.insert(file, loaded),
            None => cache.remove(&file),
        };
    }

    /// What `paas certs` shows for each hostname of `app`.
    pub fn statuses(&self, app: &AppHosts, facts: &Facts) -> Vec<DomainStatus> {
        let policy = self.policy();
        let now = Timestamp::now();
        let cache = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
        app.hosts
            .iter()
            .map(|host| {
                let current = cache.get(&CertFile::Acme(host.clone())).map(|l| &l.summary);
                plan::status(
                    app,
                    host,
                    facts,
                    &policy,
                    current,
                    &self.inner.default.summary,
                    now,
                )
            })
            .collect()
    }

    /// Everything certificates depend on, in one read.
    pub async fn facts(&self) -> Result<Facts, CertsError> {
        let domain = self.inner.config.paas_domain.clone();
        self.inner
            .store
            .read(move |db| {
                let domains = db.all_domains()?;
                let apps = db
                    .all_apps()?
                    .into_iter()
                    .map(|app| {
                        let mut hosts = vec![default_host(app.name.as_str(), &domain)];
                        hosts.extend(
                            domains
                                .iter()
                                .filter(|d| d.app_id == app.id)
                                .map(|d| d.hostname.to_string()),
                        );
                        AppHosts {
                            id: app.id,
                            name: app.name.to_string(),
                            hosts,
                        }
                    })
                    .collect();
                Ok::<_, StoreError>(Facts {
                    apps,
                    user_certs: db.user_certs()?,
                    acme: db.acme_certs()?,
                    https: db.all_app_https()?,
                })
            })
            .await
            .map_err(CertsError::from)
    }

    /// Reads the store and swaps in a new SNI table and the router's HTTPS policies.
    async fn rebuild(&self) -> Result<(), CertsError> {
        let _one_at_a_time = self.inner.rebuilding.lock().await;
        let facts = self.facts().await?;
        self.swap_in(&facts);
        Ok(())
    }

    fn swap_in(&self, facts: &Facts) {
        let now = Timestamp::now();
        let cache = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let has_acme = |host: &str| cache.contains_key(&CertFile::Acme(host.to_owned()));
        let mut by_name = HashMap::new();
        let default = Arc::clone(&self.inner.default.certified);
        let mut place = |app_id: Option<i64>, host: &str| {
            let file = match plan::serving(app_id, host, facts, has_acme, now) {
                plan::Serving::User(id) => Some(CertFile::User(id)),
                plan::Serving::Acme(host) => Some(CertFile::Acme(host)),
                plan::Serving::Default => None,
            };
            // Every name of an app gets an entry, the default if nothing else: the lookup's
            // wildcard fallback must never hand it another app's `*.` certificate.
            let certified = file
                .and_then(|file| cache.get(&file))
                .map_or_else(|| Arc::clone(&default), |l| Arc::clone(&l.certified));
            by_name.insert(host.to_owned(), certified);
        };
        for app in &facts.apps {
            for host in &app.hosts {
                place(Some(app.id), host);
            }
        }
        if let Some(control) = self.policy().control_host {
            place(None, &control);
        }
        drop(cache);
        self.inner.table.store(Arc::new(SniTable::new(
            by_name,
            Arc::clone(&self.inner.default.certified),
        )));
        let names: HashMap<i64, &str> =
            facts.apps.iter().map(|a| (a.id, a.name.as_str())).collect();
        let apps = facts
            .https
            .iter()
            .filter_map(|(id, https)| {
                Some((
                    names.get(id)?.to_string(),
                    AppHttps {
                        https_only: https.https_only,
                        hsts_max_age: https.hsts_max_age,
                    },
                ))
            })
            .collect();
        self.inner.router.https().set_policies(HttpsPolicies {
            https_port: self.inner.config.https_port,
            apps,
        });
    }

    /// A line in the app's log stream (as `paas[certs]`) and the server log.
    fn report(&self, app_id: Option<i64>, facts: &Facts, text: &str, failed: bool) {
        if failed {
            tracing::warn!(message = text, "certificate");
        } else {
            tracing::info!(message = text, "certificate");
        }
        let app = app_id.and_then(|id| facts.apps.iter().find(|a| a.id == id));
        if let Some(app) = app {
            self.inner.logs.platform(&app.name, "certs", text);
        }
    }
}

/// A TLS configuration serving fixed certificates by name (the default for every other
/// name) through the server's own SNI resolver: for benchmarks and embedding.
pub fn fixed_server_config(
    router: &Router,
    by_name: HashMap<String, Arc<rustls::sign::CertifiedKey>>,
    default: Arc<rustls::sign::CertifiedKey>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let table = Arc::new(ArcSwap::from_pointee(SniTable::new(by_name, default)));
    resolver::server_config(table, Arc::new(Challenges::new(router.clone())))
}

pub fn default_host(app: &str, paas_domain: &str) -> String {
    format!(
        "{app}.{}",
        paas_domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// The development certificate covers localhost names, IP loopbacks, and the platform
/// domain when it is itself a development name.
fn self_signed_names(config: &CertsConfig) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "*.localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let domain = config
        .paas_domain
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if domain != "localhost" && plan::is_local(&domain) {
        names.push(domain.clone());
        names.push(format!("*.{domain}"));
    }
    names
}

/// The self-signed certificate (reused while it has the same names and 30 days left) and
/// every stored certificate that still loads. A file that does not load is reported and
/// left for ACME (or its user) to replace.
fn load_all(
    files: &CertFiles,
    self_signed_names: &[String],
) -> Result<(Loaded, HashMap<CertFile, Loaded>), CertsError> {
    let files_error = |source| CertsError::Files {
        path: files.root().to_owned(),
        source,
    };
    files.prepare().map_err(files_error)?;
    let now = Timestamp::now();
    // IP addresses are not DNS names, so `CertSummary::names` leaves them out.
    let dns_names: Vec<String> = self_signed_names
        .iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_err())
        .cloned()
        .collect();
    let reusable = files
        .read(&CertFile::SelfSigned)
        .ok()
        .and_then(|(chain, key)| material::load(&chain, &key).ok())
        .filter(|l| {
            l.summary.names == dns_names && l.summary.not_after.0 - now.0 > plan::RENEW_BEFORE_SECS
        });
    let default = match reusable {
        Some(loaded) => loaded,
        None => {
            let (chain, key) = material::self_signed(self_signed_names, 365)?;
            files
                .write(&CertFile::SelfSigned, chain.as_bytes(), key.as_bytes())
                .map_err(files_error)?;
            material::load(chain.as_bytes(), key.as_bytes())?
        }
    };
    let mut loaded = HashMap::new();
    let stored = files
        .acme_hostnames()
        .map_err(files_error)?
        .into_iter()
        .map(CertFile::Acme)
        .chain(
            files
                .user_ids()
                .map_err(files_error)?
                .into_iter()
                .map(CertFile::User),
        );
    for file in stored {
        match files
            .read(&file)
            .map(|(chain, key)| material::load(&chain, &key))
        {
            Ok(Ok(certificate)) => {
                loaded.insert(file, certificate);
            }
            Ok(Err(error)) => tracing::warn!(?file, %error, "a stored certificate does not load"),
            Err(error) => tracing::warn!(?file, %error, "a stored certificate cannot be read"),
        }
    }
    Ok((default, loaded))
}
