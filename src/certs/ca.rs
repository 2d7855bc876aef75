//! paas's own certificate authority, for the registry it runs on a swarm manager: the CA is
//! made once under `DATA/certs/ca` (`ca.key` 0600, `ca.crt`) and never replaced, since every
//! node trusts it; the registry's server certificate is issued by it for the manager's
//! addresses (IP SANs) and issued again when that set changes or it nears its end.
//!
//! ```text
//! certs/ca/ca.{crt,key}         the CA (ten years)
//! certs/ca/registry.{crt,key}   the registry's server certificate (one year)
//! certs/ca/registry.addrs       the addresses it was issued for, one a line
//! ```
//!
//! rcgen without its x509 parser cannot read a CA back from its PEM, so the CA's
//! distinguished name and extensions are fixed here and rebuilt for each issue; every
//! issued certificate is verified against `ca.crt` (webpki) before it is written, so a CA
//! file that does not match its key is reported, never served. Blocking file I/O: call
//! from `spawn_blocking`. Key bytes go into no error and no log line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::domain::Timestamp;

const CA_NAME: &str = "paas registry CA";
const CA_DAYS: i64 = 3650;
const SERVER_DAYS: i64 = 365;
/// A server certificate this close to its end is issued again.
const RENEW_BEFORE_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot use {path}: {source}; check PAAS_DATA_DIR")]
    Files {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error(
        "{0} does not belong to its key or is damaged; move DATA/certs/ca aside to make a new CA (nodes must then trust the new one: run paas nodes:add's trust step again)"
    )]
    Mismatch(PathBuf),
    #[error("the registry certificate needs at least one address")]
    NoAddress,
    #[error("cannot set up an HTTPS client trusting paas's CA: {0}")]
    Client(String),
}

/// The CA, read from (or made in) its directory.
pub struct Ca {
    dir: PathBuf,
    key: KeyPair,
    cert_pem: String,
}

/// A server certificate of the CA: where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether this call issued it (false: the files on disk were still right).
    pub issued: bool,
}

impl Ca {
    /// Opens the CA in `dir` (`DATA/certs/ca`), making it on the first call.
    pub fn open(dir: &Path) -> Result<Ca, CaError> {
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |source| CaError::Files { path, source }
        };
        super::files::create_private_dir(dir).map_err(failed(dir))?;
        let (key_path, cert_path) = (dir.join("ca.key"), dir.join("ca.crt"));
        if !key_path.exists() {
            let key = KeyPair::generate().map_err(generate)?;
            let cert = ca_params()?.self_signed(&key).map_err(generate)?;
            // The key first: a crash in between leaves a key without a certificate, which
            // the next start completes, never a certificate without its key.
            super::files::write_private(&key_path, key.serialize_pem().as_bytes())
                .map_err(failed(&key_path))?;
            super::files::write_private(&cert_path, cert.pem().as_bytes())
                .map_err(failed(&cert_path))?;
        }
        let key_pem = std::fs::read_to_string(&key_path).map_err(failed(&key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| CaError::Mismatch(key_path.clone()))?;
        let cert_pem = match std::fs::read_to_string(&cert_path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = ca_params()?.self_signed(&key).map_err(generate)?.pem();
                super::files::write_private(&cert_path, pem.as_bytes())
                    .map_err(failed(&cert_path))?;
                pem
            }
            Err(e) => return Err(failed(&cert_path)(e)),
        };
        Ok(Ca {
            dir: dir.to_owned(),
            key,
            cert_pem,
        })
    }

    /// The CA certificate, PEM: what a node puts in `certs.d/ADDR:PORT/ca.crt`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The registry's server certificate for `addrs`: the one on disk when it names exactly
    /// these addresses and has more than 30 days left, else a new one.
    pub fn server_cert(&self, addrs: &[IpAddr]) -> Result<ServerCert, CaError> {
        let mut addrs = addrs.to_vec();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(CaError::NoAddress);
        }
        let files = ServerCert {
            cert: self.dir.join("registry.crt"),
            key: self.dir.join("registry.key"),
            issued: false,
        };
        let addrs_path = self.dir.join("registry.addrs");
        let listed = addrs_text(&addrs);
        if std::fs::read_to_string(&addrs_path).is_ok_and(|t| t == listed)
            && files.key.exists()
            && still_good(&files.cert)
        {
            return Ok(files);
        }
        let (cert_pem, key_pem) = self.issue(&addrs)?;
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |source| CaError::Files { path, source }
        };
        super::files::write_private(&files.key, key_pem.as_bytes()).map_err(failed(&files.key))?;
        super::files::write_private(&files.cert, cert_pem.as_bytes())
            .map_err(failed(&files.cert))?;
        super::files::write_private(&addrs_path, listed.as_bytes()).map_err(failed(&addrs_path))?;
        Ok(ServerCert {
            issued: true,
            ..files
        })
    }

    /// A server certificate for `addrs` signed by the CA, checked against `ca.crt`:
    /// (certificate PEM, key PEM).
    fn issue(&self, addrs: &[IpAddr]) -> Result<(String, String), CaError> {
        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, addrs[0].to_string());
        params.subject_alt_names = addrs.iter().copied().map(SanType::IpAddress).collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(SERVER_DAYS);
        let issuer = Issuer::new(ca_params()?, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(generate)?;
        verify(&self.cert_pem, cert.der(), addrs)
            .map_err(|_| CaError::Mismatch(self.dir.join("ca.crt")))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// The CA's parameters; the same on every call, so an issuer rebuilt from them names the
/// subject (and key identifier) `ca.crt` has.
fn ca_params() -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "paas");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    Ok(params)
}

/// An HTTPS client that trusts the CA in `ca_pem` and nothing else (for the registry's
/// own API), with short timeouts.
pub fn https_client(ca_pem: &str) -> Result<reqwest::Client, CaError> {
    // Installed once per process; a second call finds it there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
        .map_err(|e| CaError::Client(e.to_string()))?;
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| CaError::Client(e.to_string()))
}

fn generate(e: rcgen::Error) -> CaError {
    CaError::Generate(e.to_string())
}

fn addrs_text(addrs: &[IpAddr]) -> String {
    addrs.iter().map(|a| format!("{a}\n")).collect()
}

/// Whether the certificate at `path` reads and has more than 30 days left.
fn still_good(path: &Path) -> bool {
    let Ok(pem) = std::fs::read(path) else {
        return false;
    };
    let Ok(der) = CertificateDer::from_pem_slice(&pem) else {
        return false;
    };
    let renew_at = Timestamp(Timestamp::now().0 + RENEW_BEFORE_DAYS * 86_400);
    super::x509::summarise(&der).is_some_and(|s| s.not_after > renew_at)
}

/// Checks `leaf` as a TLS client would: issued by the CA in `ca_pem`, for every address.
fn verify(ca_pem: &str, leaf: &CertificateDer<'_>, addrs: &[IpAddr]) -> Result<(), String> {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
    for addr in addrs {
        let name = ServerName::IpAddress((*addr).into());
        verifier
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn leaf(cert: &ServerCert) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(&std::fs::read(&cert.cert).unwrap()).unwrap()
    }

    #[test]
    fn the_ca_is_made_once_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("certs/ca");
        let first = Ca::open(&ca_dir).unwrap();
        let again = Ca::open(&ca_dir).unwrap();
        assert_eq!(first.cert_pem(), again.cert_pem());
        assert!(first.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        for (path, mode) in [("ca.key", 0o600), ("ca.crt", 0o600), ("", 0o700)] {
            let found = std::fs::metadata(ca_dir.join(path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(found & 0o777, mode, "{path} is {found:o}");
        }
        let der = CertificateDer::from_pem_slice(first.cert_pem().as_bytes()).unwrap();
        let summary = crate::certs::x509::summarise(&der).unwrap();
        assert_eq!(summary.issuer, "paas (paas registry CA)");
    }

    #[test]
    fn the_server_certificate_verifies_for_each_address_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let addrs = [ip("10.99.0.1"), ip("fd00::1")];
        let cert = ca.server_cert(&addrs).unwrap();
        assert!(cert.issued);
        let mode = std::fs::metadata(&cert.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "registry.key is {mode:o}");
        verify(ca.cert_pem(), &leaf(&cert), &addrs).unwrap();
        let other = verify(ca.cert_pem(), &leaf(&cert), &[ip("10.99.0.2")]).unwrap_err();
        assert!(other.contains("not valid for name"), "{other}");
        // Another CA does not vouch for it.
        let stranger = tempfile::tempdir().unwrap();
        let stranger = Ca::open(stranger.path()).unwrap();
        assert!(verify(stranger.cert_pem(), &leaf(&cert), &addrs).is_err());
    }

    #[test]
    fn the_server_certificate_is_issued_again_only_when_the_addresses_change() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let first = ca.server_cert(&[ip("10.99.0.1")]).unwrap();
        let pem = std::fs::read(&first.cert).unwrap();
        // Same set, in another order or repeated: kept.
        let same = ca.server_cert(&[ip("10.99.0.1"), ip("10.99.0.1")]).unwrap();
        assert!(!same.issued);
        assert_eq!(std::fs::read(&same.cert).unwrap(), pem);
        let reopened = Ca::open(dir.path()).unwrap();
        assert!(!reopened.server_cert(&[ip("10.99.0.1")]).unwrap().issued);
        // A new address: a new certificate, still from the same CA.
        let moved = reopened
            .server_cert(&[ip("10.99.0.7"), ip("10.99.0.1")])
            .unwrap();
        assert!(moved.issued);
        verify(
            ca.cert_pem(),
            &leaf(&moved),
            &[ip("10.99.0.7"), ip("10.99.0.1")],
        )
        .unwrap();
        assert!(matches!(ca.server_cert(&[]), Err(CaError::NoAddress)));
    }

    #[test]
    fn a_ca_certificate_of_another_key_is_reported_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        Ca::open(dir.path()).unwrap();
        Ca::open(other.path()).unwrap();
        std::fs::copy(other.path().join("ca.crt"), dir.path().join("ca.crt")).unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let refused = ca.server_cert(&[ip("10.99.0.1")]).unwrap_err();
        assert!(matches!(refused, CaError::Mismatch(_)), "{refused}");
        assert!(!refused.to_string().contains("PRIVATE KEY"));
        assert!(!dir.path().join("registry.crt").exists());
    }
}
