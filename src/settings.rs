//! Server settings: every one is a `PAAS_*` environment variable with a default, and
//! `paas server --help` lists them (clap reads the doc comments below).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::domain::{AppName, Hostname};

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address of the public HTTP listener (control plane, git, router).
    #[arg(long, env = "PAAS_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Where the database, git repos and build caches live
    /// [default: /var/lib/paas as root, else $XDG_DATA_HOME/paas].
    #[arg(long, env = "PAAS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Apps answer at APP.<domain>.
    #[arg(long, env = "PAAS_DOMAIN", default_value = "localhost")]
    pub domain: String,

    /// Extra hostname for the control plane (localhost and IP literals always are).
    #[arg(long, env = "PAAS_CONTROL_HOST")]
    pub control_host: Option<String>,

    /// Log format: text or json (one event per line on stdout either way).
    #[arg(long, env = "PAAS_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// On first start, use this value as the admin's first API token instead of printing a
    /// new one (for install scripts and CI).
    #[arg(long, env = "PAAS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Memory limit of each process when its type sets none, in MiB.
    #[arg(long, env = "PAAS_DEFAULT_MEMORY_MB", default_value_t = 512)]
    pub default_memory_mb: u32,

    /// Docker engine to use (unix:///path or tcp://host:port).
    #[arg(long, env = "PAAS_DOCKER_HOST")]
    pub docker_host: Option<String>,

    /// Use this local image to build apps in, instead of paas/stack-build:bookworm.
    #[arg(long, env = "PAAS_STACK_BUILD_IMAGE")]
    pub stack_build_image: Option<String>,

    /// Use this local image to run apps on, instead of paas/stack-run:bookworm.
    #[arg(long, env = "PAAS_STACK_RUN_IMAGE")]
    pub stack_run_image: Option<String>,

    /// A directory of extra CA certificates (*.crt) the stack images trust, for hosts
    /// whose HTTPS goes through a TLS-inspecting proxy (pip, npm and git in builds)
    /// [default: /usr/local/share/ca-certificates when it holds *.crt files].
    #[arg(long, env = "PAAS_EXTRA_CA_CERTS")]
    pub extra_ca_certs: Option<PathBuf>,

    /// Debian mirror the stack images are made from.
    #[arg(
        long,
        env = "PAAS_DEBIAN_MIRROR",
        default_value = "http://deb.debian.org/debian"
    )]
    pub debian_mirror: String,

    /// A build running longer than this many seconds is stopped.
    #[arg(long, env = "PAAS_BUILD_TIMEOUT", default_value_t = 900)]
    pub build_timeout: u64,

    /// Memory limit of a build container, in MiB.
    #[arg(long, env = "PAAS_BUILD_MEMORY_MB", default_value_t = 2048)]
    pub build_memory_mb: u32,

    /// Docker network of build containers: `app` (the app's own network, as its
    /// processes), or `host` where only the host reaches package indexes (an admin's
    /// choice: a build on the host network reaches the host's services).
    #[arg(long, env = "PAAS_BUILD_NETWORK", default_value = "app")]
    pub build_network: String,

    /// Address pool of the apps' own networks: each app gets one subnet of it.
    #[arg(long, env = "PAAS_APP_SUBNETS", default_value = "10.200.0.0/15")]
    pub app_subnets: crate::runtime::Ipv4Net,

    /// Size of each app's subnet (24: 253 containers, 512 apps in the default pool).
    #[arg(long, env = "PAAS_APP_SUBNET_PREFIX", default_value_t = 24, value_parser = clap::value_parser!(u8).range(16..=29))]
    pub app_subnet_prefix: u8,

    /// Destinations app and build containers may reach although they are this host or
    /// link-local (blocked by default): comma-separated ADDRESS[/PREFIX][:PORT].
    #[arg(long, env = "PAAS_CONTAINER_ALLOW", value_delimiter = ',')]
    pub container_allow: Vec<crate::runtime::firewall::Allow>,

    /// Memory limit of each add-on's container (Postgres, Redis), in MiB.
    #[arg(long, env = "PAAS_ADDON_MEMORY_MB", default_value_t = 512)]
    pub addon_memory_mb: u32,

    /// Scheduled backups kept per add-on (older ones are deleted; manual ones stay).
    #[arg(long, env = "PAAS_BACKUP_KEEP", default_value_t = 7)]
    pub backup_keep: u32,

    /// How often the backup schedule is checked, in seconds.
    #[arg(long, env = "PAAS_BACKUP_CHECK_SECS", default_value_t = 30)]
    pub backup_check_secs: u64,

    /// Seconds between two metrics samples of each app (requests, response times, memory,
    /// CPU, restarts); the charts keep a point per sample for the last hour.
    #[arg(long, env = "PAAS_METRICS_INTERVAL_SECS", default_value_t = 60)]
    pub metrics_interval_secs: u64,

    /// The most processes one app may run in all (each type is capped at 100 too).
    #[arg(long, env = "PAAS_MAX_APP_PROCESSES", default_value_t = 100)]
    pub max_app_processes: u32,

    /// The only directory whose buildpacks may be named by a server path (BUILDPACK_URL or
    /// .buildpacks), and only by admins; members use built-in names and git URLs
    /// [default: DATA/buildpacks].
    #[arg(long, env = "PAAS_BUILDPACKS_DIR")]
    pub buildpacks_dir: Option<PathBuf>,

    /// Images a member's Dockerfile may start from (FROM, COPY --from, RUN --mount from=)
    /// besides the stack images and the app's own: a comma list of names, `*` at the end
    /// matches any rest (python:*, mycorp/*). Admins' builds may use any local image.
    #[arg(long, env = "PAAS_ALLOWED_BASE_IMAGES", value_delimiter = ',')]
    pub allowed_base_images: Vec<String>,

    /// Largest pushed source tree a build unpacks (all files inflated), in bytes.
    #[arg(long, env = "PAAS_MAX_SOURCE_BYTES", default_value_t = 2 << 30)]
    pub max_source_bytes: u64,

    /// Largest single file of a pushed source tree (inflated), in bytes.
    #[arg(long, env = "PAAS_MAX_FILE_BYTES", default_value_t = 512 << 20)]
    pub max_file_bytes: u64,

    /// Images of this many latest releases are kept per app; older ones are pruned.
    #[arg(long, env = "PAAS_KEEP_RELEASES", default_value_t = 5)]
    pub keep_releases: usize,

    /// Seconds BuildKit's cache of a slug build is kept after its last use.
    #[arg(long, env = "PAAS_BUILD_CACHE_KEEP", default_value_t = 3600)]
    pub build_cache_keep: u64,

    /// Seconds a new web process has to pass its health check.
    #[arg(long, env = "PAAS_BOOT_TIMEOUT", default_value_t = 60)]
    pub boot_timeout: u64,

    /// Seconds between two looks of the idle watcher at apps with autosleep on.
    #[arg(long, env = "PAAS_AUTOSLEEP_CHECK_SECS", default_value_t = 10)]
    pub autosleep_check_secs: u64,

    /// Seconds between two looks for review apps past their days without a push.
    #[arg(long, env = "PAAS_REVIEW_APPS_CHECK_SECS", default_value_t = 3600)]
    pub review_apps_check_secs: u64,

    /// Seconds the router holds a request for a sleeping app while it wakes.
    #[arg(long, env = "PAAS_WAKE_TIMEOUT", default_value_t = 75)]
    pub wake_timeout: u64,

    /// Seconds a stopping process gets after SIGTERM before SIGKILL.
    #[arg(long, env = "PAAS_STOP_GRACE", default_value_t = 30)]
    pub stop_grace: u64,

    /// Largest accepted git push, in bytes.
    #[arg(long, env = "PAAS_MAX_PUSH_BYTES", default_value_t = 1 << 30)]
    pub max_push_bytes: u64,

    /// Seconds allowed to receive a push's pack.
    #[arg(long, env = "PAAS_PUSH_TIMEOUT", default_value_t = 600)]
    pub push_timeout: u64,

    /// Seconds a second push to the same app waits for the deploy in progress.
    #[arg(long, env = "PAAS_DEPLOY_WAIT", default_value_t = 900)]
    pub deploy_wait: u64,

    /// Peers whose X-Forwarded-For is trusted (comma-separated IPs or CIDRs).
    #[arg(long, env = "PAAS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Seconds to connect to an app process.
    #[arg(long, env = "PAAS_ROUTER_CONNECT_TIMEOUT", default_value_t = 5)]
    pub router_connect_timeout: u64,

    /// Seconds an app has to send response headers (Heroku's H12).
    #[arg(long, env = "PAAS_ROUTER_RESPONSE_TIMEOUT", default_value_t = 30)]
    pub router_response_timeout: u64,

    /// Seconds a connection may stay idle.
    #[arg(long, env = "PAAS_ROUTER_IDLE_TIMEOUT", default_value_t = 60)]
    pub router_idle_timeout: u64,

    /// Forward plain HTTP/1.1 requests on the router's fast path (httparse, bare pooled
    /// streams); `false` sends every request through hyper (for comparison).
    #[arg(long, env = "PAAS_ROUTER_FAST_PATH", default_value_t = true, action = clap::ArgAction::Set)]
    pub router_fast_path: bool,

    /// Where app processes run: `docker` (this host's engine) or `swarm` (services on
    /// the swarm this host's engine manages; `paas swarm:init` makes one).
    #[arg(long, env = "PAAS_SCHEDULER", value_enum, default_value_t = SchedulerBackend::Docker)]
    pub scheduler: SchedulerBackend,

    /// Port of the image registry paas runs while its engine is a swarm manager (on the
    /// swarm advertise address; nodes pull release images from it).
    #[arg(long, env = "PAAS_REGISTRY_PORT", default_value_t = 5443)]
    pub registry_port: u16,

    /// Where the manager's Docker engine reads the CAs of registries (paas writes its own
    /// CA there for the registry's address).
    #[arg(
        long,
        env = "PAAS_DOCKER_CERTS_DIR",
        default_value = "/etc/docker/certs.d"
    )]
    pub docker_certs_dir: PathBuf,

    #[command(flatten)]
    pub tls: crate::certs::TlsSettings,
}

/// Where Debian's update-ca-certificates takes the host's locally added CAs from.
const HOST_CA_DIR: &str = "/usr/local/share/ca-certificates";

/// True if `dir` holds a `*.crt` file (the stacks then trust the CAs in it).
fn holds_certificates(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "crt"))
        })
        .unwrap_or(false)
}

/// `PAAS_SCHEDULER`: where app processes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedulerBackend {
    /// Containers on this host's engine.
    Docker,
    /// Swarm services on the swarm this host's engine manages.
    Swarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let is_root = std::env::var("USER").is_ok_and(|u| u == "root")
            || std::fs::metadata("/proc/self").is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                m.uid() == 0
            });
        if is_root {
            return PathBuf::from("/var/lib/paas");
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("paas")
    }

    pub fn stack_settings(&self) -> crate::build::StackSettings {
        crate::build::StackSettings {
            build_image: self.stack_build_image.clone(),
            run_image: self.stack_run_image.clone(),
            work_dir: self.data_dir().join("stack"),
            mirror: self.debian_mirror.clone(),
            extra_ca_certs: self
                .extra_ca_certs
                .clone()
                .or_else(|| holds_certificates(Path::new(HOST_CA_DIR)).then(|| HOST_CA_DIR.into())),
        }
    }

    pub fn build_settings(&self) -> crate::build::BuildSettings {
        crate::build::BuildSettings {
            stacks: self.stack_settings(),
            timeout: std::time::Duration::from_secs(self.build_timeout),
            memory_mb: self.build_memory_mb,
            network: self.build_network.clone(),
            keep_images: self.keep_releases,
            cache_keep: std::time::Duration::from_secs(self.build_cache_keep),
            buildpacks_dir: self
                .buildpacks_dir
                .clone()
                .unwrap_or_else(|| self.data_dir().join("buildpacks")),
            allowed_base_images: self
                .allowed_base_images
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            limits: crate::build::SourceLimits {
                max_source_bytes: self.max_source_bytes,
                max_file_bytes: self.max_file_bytes,
            },
            data_dir: self.data_dir(),
        }
    }

    pub fn registry_settings(&self) -> crate::registry::RegistrySettings {
        crate::registry::RegistrySettings {
            port: self.registry_port,
            dir: self.data_dir().join("registry"),
            ca_dir: self.data_dir().join("certs").join("ca"),
            engine_certs_dir: self.docker_certs_dir.clone(),
            program: PathBuf::from("docker-registry"),
        }
    }

    pub fn subnet_pool(&self) -> crate::runtime::SubnetPool {
        crate::runtime::SubnetPool {
            pool: self.app_subnets,
            prefix: self.app_subnet_prefix,
        }
    }

    pub fn swarm_runtime_settings(&self) -> crate::runtime::SwarmRuntimeSettings {
        crate::runtime::SwarmRuntimeSettings {
            port: crate::scheduler::PORT,
            registry_port: self.registry_port,
            stop_grace: std::time::Duration::from_secs(self.stop_grace),
            // A node pulls the release image first (seconds for ~200 MB), then boots it.
            start_timeout: std::time::Duration::from_secs(self.boot_timeout + 120),
        }
    }

    pub fn scheduler_settings(&self) -> crate::scheduler::SchedulerSettings {
        crate::scheduler::SchedulerSettings {
            boot_timeout: std::time::Duration::from_secs(self.boot_timeout),
            stop_grace: std::time::Duration::from_secs(self.stop_grace),
            default_memory_mb: self.default_memory_mb,
            domain: self.domain.clone(),
        }
    }

    /// `http://APP.DOMAIN[:PORT]`, the port left out when it is 80.
    pub fn app_url(&self, app: &AppName) -> String {
        let port = self.http_addr.port();
        if port == 80 {
            format!("http://{app}.{}", self.domain)
        } else {
            format!("http://{app}.{}:{port}", self.domain)
        }
    }

    /// Names under the platform domain are the platform's to hand out, not a user's.
    pub fn is_platform_host(&self, host: &Hostname) -> bool {
        let host = host.as_str().trim_start_matches("*.");
        host == self.domain || host.ends_with(&format!(".{}", self.domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: Settings,
    }

    fn settings(args: &[&str]) -> Settings {
        let mut argv = vec!["paas"];
        argv.extend_from_slice(args);
        Wrapper::parse_from(argv).settings
    }

    #[test]
    fn app_urls_carry_the_listener_port_unless_it_is_80() {
        let app = AppName::parse("myapp").unwrap();
        assert_eq!(settings(&[]).app_url(&app), "http://myapp.localhost:8080");
        assert_eq!(
            settings(&["--http-addr", "0.0.0.0:80", "--domain", "apps.example.com"]).app_url(&app),
            "http://myapp.apps.example.com"
        );
    }

    #[test]
    fn a_directory_of_crt_files_holds_certificates_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!holds_certificates(dir.path()), "empty");
        std::fs::write(dir.path().join("README"), "x").unwrap();
        assert!(!holds_certificates(dir.path()), "no *.crt");
        std::fs::write(dir.path().join("proxy.crt"), "x").unwrap();
        assert!(holds_certificates(dir.path()));
        assert!(!holds_certificates(&dir.path().join("missing")));
    }

    #[test]
    fn build_settings_default_the_buildpacks_dir_into_the_data_dir() {
        let s = settings(&[
            "--data-dir",
            "/srv/paas",
            "--allowed-base-images",
            "python:*, ,x",
        ]);
        let build = s.build_settings();
        assert_eq!(build.buildpacks_dir, PathBuf::from("/srv/paas/buildpacks"));
        assert_eq!(build.allowed_base_images, ["python:*", "x"]);
        assert_eq!(build.limits.max_file_bytes, 512 << 20);
    }

    #[test]
    fn platform_domain_names_are_not_custom_domains() {
        let s = settings(&["--domain", "apps.example.com"]);
        assert!(s.is_platform_host(&Hostname::parse("x.apps.example.com").unwrap()));
        assert!(s.is_platform_host(&Hostname::parse("*.apps.example.com").unwrap()));
        assert!(!s.is_platform_host(&Hostname::parse("www.example.com").unwrap()));
    }
}
