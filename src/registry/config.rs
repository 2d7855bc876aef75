//! The registry's own config file (`DATA/registry/config.yml`, 0600): CNCF distribution's
//! YAML, written whole at every start. Filesystem storage under the data dir, deletes
//! enabled (so old release tags can be removed and their blobs collected), no access log,
//! TLS with paas's certificate, listening on one address. Every value is written as a
//! JSON string, which YAML reads as is, so no path or address can break the file.

use std::net::SocketAddr;
use std::path::Path;

/// What the file says.
pub struct RegistryConfig<'a> {
    pub listen: SocketAddr,
    pub storage: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
    /// Signs upload state between requests (distribution makes a random one, with a
    /// warning, when there is none).
    pub http_secret: &'a str,
}

impl RegistryConfig<'_> {
    pub fn yaml(&self) -> String {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let path = |p: &Path| q(&p.to_string_lossy());
        format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: {secret}\n  tls:\n    certificate: {cert}\n    key: {key}\n",
            storage = path(self.storage),
            addr = q(&self.listen.to_string()),
            secret = q(self.http_secret),
            cert = path(self.cert),
            key = path(self.key),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(storage: &str) -> String {
        RegistryConfig {
            listen: "10.99.0.1:5443".parse().unwrap(),
            storage: Path::new(storage),
            cert: Path::new("/var/lib/paas/certs/ca/registry.crt"),
            key: Path::new("/var/lib/paas/certs/ca/registry.key"),
            http_secret: "0123abcd",
        }
        .yaml()
    }

    #[test]
    fn the_config_is_distributions_with_deletes_tls_and_no_access_log() {
        assert_eq!(
            config("/var/lib/paas/registry/data"),
            r#"version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: "/var/lib/paas/registry/data"
  delete:
    enabled: true
http:
  addr: "10.99.0.1:5443"
  secret: "0123abcd"
  tls:
    certificate: "/var/lib/paas/certs/ca/registry.crt"
    key: "/var/lib/paas/certs/ca/registry.key"
"#
        );
    }

    #[test]
    fn odd_paths_stay_one_yaml_string() {
        let yaml = config("/srv/my \"paas\": #data\nnext: x");
        // A YAML double-quoted scalar takes JSON's escapes: one line, one value.
        assert!(
            yaml.contains("    rootdirectory: \"/srv/my \\\"paas\\\": #data\\nnext: x\"\n"),
            "{yaml}"
        );
        assert_eq!(yaml.lines().count(), 16, "{yaml}");
        let v6 = RegistryConfig {
            listen: "[fd00::1]:5443".parse().unwrap(),
            storage: Path::new("/d"),
            cert: Path::new("/c"),
            key: Path::new("/k"),
            http_secret: "s",
        }
        .yaml();
        assert!(v6.contains("  addr: \"[fd00::1]:5443\"\n"), "{v6}");
    }
}
