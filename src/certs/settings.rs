//! The `PAAS_*` settings of HTTPS and ACME, flattened into `paas server`'s settings (so
//! `paas server --help` lists them with the rest). Pure data.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Let's Encrypt's production directory, the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory, for `PAAS_ACME_DIRECTORY=staging`.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

#[derive(Debug, Clone, clap::Args)]
pub struct TlsSettings {
    /// Address of the HTTPS listener (TLS with SNI; the same routing as HTTP).
    #[arg(long, env = "PAAS_HTTPS_ADDR", default_value = "0.0.0.0:8443")]
    pub https_addr: SocketAddr,

    /// The HTTPS port clients use, for https-only redirects, when a port forward puts the
    /// listener elsewhere [default: the port of PAAS_HTTPS_ADDR].
    #[arg(long, env = "PAAS_HTTPS_PUBLIC_PORT")]
    pub https_public_port: Option<u16>,

    /// Contact email of the ACME account. Set it to obtain and renew certificates for every
    /// app domain and the control host automatically.
    #[arg(long, env = "PAAS_ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// ACME directory URL, or `staging` for Let's Encrypt's staging CA.
    #[arg(long, env = "PAAS_ACME_DIRECTORY", default_value = LETS_ENCRYPT)]
    pub acme_directory: String,

    /// How the CA checks a domain: tls-alpn-01 (it connects to port 443, the HTTPS
    /// listener) or http-01 (it fetches a file from port 80, the HTTP listener).
    #[arg(long, env = "PAAS_ACME_CHALLENGE", default_value = "tls-alpn-01")]
    pub acme_challenge: ChallengeKind,

    /// PEM file of CA certificates trusted for the ACME directory, for an internal ACME CA
    /// (step-ca, Pebble) whose certificate the system does not trust.
    #[arg(long, env = "PAAS_ACME_CA_CERTS")]
    pub acme_ca_certs: Option<PathBuf>,
}

/// The ACME challenge paas answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChallengeKind {
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
    #[value(name = "http-01")]
    Http01,
}

impl TlsSettings {
    /// The directory URL with the `staging` shorthand expanded.
    pub fn directory_url(&self) -> &str {
        match self.acme_directory.trim() {
            "staging" => LETS_ENCRYPT_STAGING,
            "production" | "" => LETS_ENCRYPT,
            url => url,
        }
    }

    pub fn acme_enabled(&self) -> bool {
        self.acme_email
            .as_deref()
            .is_some_and(|email| !email.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        tls: TlsSettings,
    }

    #[test]
    fn staging_is_a_shorthand_for_lets_encrypt_staging() {
        let tls = Wrapper::parse_from(["paas", "--acme-directory", "staging"]).tls;
        assert_eq!(tls.directory_url(), LETS_ENCRYPT_STAGING);
        let tls = Wrapper::parse_from(["paas"]).tls;
        assert_eq!(tls.directory_url(), LETS_ENCRYPT);
        assert!(!tls.acme_enabled());
        assert_eq!(tls.acme_challenge, ChallengeKind::TlsAlpn01);
        let tls = Wrapper::parse_from([
            "paas",
            "--acme-email",
            "ops@example.com",
            "--acme-challenge",
            "http-01",
        ])
        .tls;
        assert!(tls.acme_enabled());
        assert_eq!(tls.acme_challenge, ChallengeKind::Http01);
    }
}
