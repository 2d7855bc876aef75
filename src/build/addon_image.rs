//! The add-on images `paas/postgres:15` and `paas/redis:7`, made from Debian bookworm's
//! packages like the stacks (`stack.rs`: the same debootstrap base tree, `prepare-rootfs.sh`
//! with KIND `postgres` or `redis`, the same inputs digest, so a changed binary rebuilds
//! them). Nothing is pulled. An add-on runs from the name carrying the digest
//! (`paas/postgres:15-<digest>`); the short name names the newest.
//!
//! The contract the add-on runtime relies on:
//!
//! - Data lives in `/var/lib/paas-addon` ([`ADDON_DATA_DIR`]): mount the add-on's named
//!   volume there. In the image that directory is owned by the service's user and mode
//!   0700, so Docker's copy-up gives a fresh named volume that owner.
//! - `USER` is the service's non-root user, Debian's `postgres` or `redis`, uid/gid 999 in
//!   both (fixed before the packages are installed, so a rebuilt image still owns existing
//!   volumes). The images work with all capabilities dropped, `no-new-privileges`,
//!   `Init=true` (docker-init as PID 1) and a memory limit, which they read at every
//!   start: Postgres's `shared_buffers` is a quarter of a limit under 512 MB (else 128 MB),
//!   Redis's `maxmemory` half the limit (writes are refused past it, `noeviction`).
//! - Env `PAAS_ADDON_PASSWORD` ([`ADDON_PASSWORD_ENV`]) is required: without it (or with a
//!   line break in it) the start script exits 1 with one line on stderr. The password is
//!   never printed nor on any process's command line (the scripts write it with shell
//!   builtins and unset it before exec).
//! - Postgres: CMD `/usr/local/bin/paas-addon-postgres`. First start (no cluster in
//!   `/var/lib/paas-addon/pgdata`): `initdb --auth-local=trust --auth-host=scram-sha-256`
//!   with the superuser `paas` (its password from a 0600 `--pwfile`, removed after), the
//!   database `paas` owned by it, `listen_addresses='*'`, port 5432, `pg_hba` letting any
//!   address in with scram-sha-256, sockets in `/var/run/postgresql`, `jit=off` (the image
//!   holds no LLVM). The cluster is made in `pgdata.init` and renamed, so an interrupted
//!   first start starts over. Later starts exec postgres, and read no password (change it
//!   with `ALTER ROLE`). `STOPSIGNAL SIGINT` (fast shutdown); `PATH` starts with
//!   `/usr/lib/postgresql/15/bin`; `LANG=C.UTF-8`; `PGDATA` is set.
//! - Redis: CMD `/usr/local/bin/paas-addon-redis` writes `/var/lib/paas-addon/redis.conf`
//!   (0600: `requirepass`, `appendonly yes`, `dir /var/lib/paas-addon`, `bind 0.0.0.0`,
//!   `protected-mode no`, `port 6379`) at every start, then execs
//!   `redis-server /var/lib/paas-addon/redis.conf`.
//! - Labels `paas.addon.kind` (`postgres`, `redis`), `paas.addon.version` (`15`, `7`) and
//!   `paas.stack.inputs` (the digest).
//! - No `ENTRYPOINT`: a container of the same image with other arguments runs them
//!   (`pg_dump -Fc`, `pg_restore`, `psql`, `pg_isready`, `redis-cli`), as the image's user.

use crate::domain::AddonKind;
use crate::progress::Progress;
use crate::runtime::Docker;

use super::stack::{self, DebianImage, StackSettings};
use super::{BuildError, Builder};

pub use crate::domain::{ADDON_DATA_DIR, ADDON_PASSWORD_ENV};

impl Builder {
    /// The image to run a `kind` add-on from, and its one-off clients: built from Debian
    /// packages the first time it is needed (one image build at a time).
    pub async fn addon_image(
        &self,
        kind: AddonKind,
        progress: &Progress,
    ) -> Result<String, BuildError> {
        let _guard = self.stack_lock.lock().await;
        ensure(&self.docker, &self.settings.stacks, kind, progress).await
    }
}

/// The name of `kind`'s image made from this binary's inputs, built when missing.
pub async fn ensure(
    docker: &Docker,
    settings: &StackSettings,
    kind: AddonKind,
    progress: &Progress,
) -> Result<String, BuildError> {
    stack::ensure_image(docker, settings, &image(kind), progress).await
}

/// Builds `kind`'s image, even when it is current (`paas stack:build --force`).
pub async fn build(
    docker: &Docker,
    settings: &StackSettings,
    kind: AddonKind,
    progress: &Progress,
) -> Result<(), BuildError> {
    stack::build_image(docker, settings, &image(kind), progress).await
}

/// `paas/postgres:15`, `paas/redis:7`: the name of the newest image of `kind`.
pub fn default_image(kind: AddonKind) -> &'static str {
    match kind {
        AddonKind::Postgres => "paas/postgres:15",
        AddonKind::Redis => "paas/redis:7",
    }
}

fn image(kind: AddonKind) -> DebianImage {
    const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let (path, user, extra_env, stop_signal) = match kind {
        AddonKind::Postgres => (
            format!("/usr/lib/postgresql/{}/bin:{PATH}", kind.version()),
            "postgres",
            vec![format!("ENV PGDATA={ADDON_DATA_DIR}/pgdata")],
            // docker stop's signal, through docker-init: a fast shutdown (SIGTERM would
            // wait for every client to disconnect).
            Some("SIGINT"),
        ),
        AddonKind::Redis => (PATH.to_owned(), "redis", Vec::new(), None),
    };
    let mut changes = vec![format!("ENV PATH={path}"), "ENV LANG=C.UTF-8".to_owned()];
    changes.extend(extra_env);
    changes.extend([
        format!("USER {user}"),
        format!("EXPOSE {}/tcp", kind.port()),
        format!("CMD [\"/usr/local/bin/paas-addon-{kind}\"]"),
        format!(
            "LABEL paas.addon.kind={kind} paas.addon.version={}",
            kind.version()
        ),
    ]);
    DebianImage {
        kind: kind.as_str(),
        what: format!("{kind} add-on image"),
        default_name: default_image(kind),
        changes,
        stop_signal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_image_user_command_and_labels() {
        for kind in AddonKind::ALL {
            let image = image(kind);
            assert_eq!(image.kind, kind.as_str(), "prepare-rootfs.sh's KIND");
            assert_eq!(
                image.default_name,
                format!("paas/{kind}:{}", kind.version())
            );
            let changes = image.changes.join("\n");
            assert!(
                changes.contains(&format!("CMD [\"/usr/local/bin/paas-addon-{kind}\"]")),
                "{changes}"
            );
            assert!(
                changes.contains(&format!(
                    "paas.addon.kind={kind} paas.addon.version={}",
                    kind.version()
                )),
                "{changes}"
            );
            assert!(
                !changes.contains("ENTRYPOINT"),
                "one-offs pass their own args"
            );
            assert!(!changes.contains("USER root"), "{changes}");
        }
        let postgres = image(AddonKind::Postgres);
        assert_eq!(postgres.stop_signal, Some("SIGINT"));
        assert!(
            postgres
                .changes
                .contains(&"ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned())
        );
        assert!(postgres.changes.contains(&"USER postgres".to_owned()));
        assert!(
            image(AddonKind::Redis)
                .changes
                .contains(&"USER redis".to_owned())
        );
    }

    #[test]
    fn the_start_scripts_and_package_lists_are_embedded() {
        for kind in AddonKind::ALL {
            let script = format!("stack/bin/paas-addon-{kind}");
            let (_, mode, contents) = super::super::embedded::FILES
                .iter()
                .find(|(p, _, _)| *p == script)
                .unwrap_or_else(|| panic!("{script} embedded"));
            assert_eq!(mode & 0o111, 0o111, "{script} stays executable");
            let text = String::from_utf8_lossy(contents);
            assert!(text.contains(ADDON_PASSWORD_ENV), "{script}");
            assert!(text.contains(ADDON_DATA_DIR), "{script}");
            let packages = format!("stack/packages-{kind}.txt");
            assert!(
                super::super::embedded::FILES
                    .iter()
                    .any(|(p, _, _)| *p == packages),
                "{packages} embedded"
            );
        }
    }
}
