//! Certificate material: a PEM chain and key become a rustls `CertifiedKey` (checked to
//! belong together) plus its `CertSummary`; new keys and certificates are made with rcgen.
//! Key bytes pass through here and go nowhere else: never into errors or logs.

use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::x509::{self, CertSummary};
use crate::domain::Timestamp;

/// A certificate ready to serve, with what `paas certs` shows about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub certified: Arc<CertifiedKey>,
    pub summary: CertSummary,
}

impl Loaded {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.summary.not_after <= now
    }
}

/// Why certificate material was refused, in words for the user (never quoting the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaterialError {
    #[error("no certificate found: give a PEM file with -----BEGIN CERTIFICATE----- blocks")]
    NoCertificate,
    #[error("the certificate is not valid X.509: give the PEM file your CA issued")]
    Unreadable,
    #[error("no private key found: give the PEM key file (-----BEGIN PRIVATE KEY-----, RSA or EC)")]
    NoKey,
    #[error("the private key is of a type paas cannot use: use an RSA, ECDSA or Ed25519 key")]
    UnsupportedKey,
    #[error(
        "the private key does not belong to the certificate: give the key the certificate was issued for"
    )]
    KeyMismatch,
    #[error("cannot make a certificate: {0}")]
    Generate(String),
}

/// Parses a PEM chain (leaf first) and a PEM private key and checks that they match.
pub fn load(chain_pem: &[u8], key_pem: &[u8]) -> Result<Loaded, MaterialError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| MaterialError::Unreadable)?;
    let leaf = chain.first().ok_or(MaterialError::NoCertificate)?;
    let summary = x509::summarise(leaf).ok_or(MaterialError::Unreadable)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| MaterialError::NoKey)?;
    let signing_key = any_supported_type(&key).map_err(|_| MaterialError::UnsupportedKey)?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|_| MaterialError::KeyMismatch)?;
    Ok(Loaded {
        certified: Arc::new(certified),
        summary,
    })
}

/// A new ECDSA P-256 key, as PEM.
pub fn new_key() -> Result<rcgen::KeyPair, MaterialError> {
    rcgen::KeyPair::generate().map_err(|e| MaterialError::Generate(e.to_string()))
}

/// A self-signed certificate for `names` (DNS names or IP literals), valid `days` days.
/// Returns (certificate PEM, key PEM).
pub fn self_signed(names: &[String], days: i64) -> Result<(String, String), MaterialError> {
    let key = new_key()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "paas self-signed");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    let cert = params
        .self_signed(&key)
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The certificate a TLS-ALPN-01 validation must see (RFC 8737): self-signed for
/// `hostname`, carrying the SHA-256 of the key authorization in acmeIdentifier.
pub fn alpn_challenge(hostname: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, MaterialError> {
    let key = new_key()?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()])
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params
        .self_signed(&key)
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    let signing_key = any_supported_type(&key_der).map_err(|_| MaterialError::UnsupportedKey)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing_key,
    )))
}

/// A certificate signing request for `hostname` with `key`, in DER.
pub fn csr(hostname: &str, key: &rcgen::KeyPair) -> Result<Vec<u8>, MaterialError> {
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()])
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let request = params
        .serialize_request(key)
        .map_err(|e| MaterialError::Generate(e.to_string()))?;
    Ok(request.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_loads_with_its_key() {
        let names = vec!["localhost".to_owned(), "*.localhost".to_owned()];
        let (cert, key) = self_signed(&names, 30).unwrap();
        let loaded = load(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(loaded.summary.names, names);
        assert_eq!(loaded.summary.issuer, "paas self-signed");
        assert!(!loaded.is_expired(Timestamp::now()));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let names = vec!["a.example.com".to_owned()];
        let (cert, _) = self_signed(&names, 30).unwrap();
        let (_, other_key) = self_signed(&names, 30).unwrap();
        assert_eq!(
            load(cert.as_bytes(), other_key.as_bytes()).unwrap_err(),
            MaterialError::KeyMismatch
        );
    }

    #[test]
    fn missing_pieces_are_named() {
        let (cert, key) = self_signed(&["a.example.com".to_owned()], 30).unwrap();
        assert_eq!(
            load(b"nothing here", key.as_bytes()).unwrap_err(),
            MaterialError::NoCertificate
        );
        assert_eq!(
            load(cert.as_bytes(), b"nothing").unwrap_err(),
            MaterialError::NoKey
        );
        let error = load(cert.as_bytes(), b"nothing").unwrap_err().to_string();
        assert!(!error.contains("PRIVATE KEY-----\n"), "{error}");
    }

    #[test]
    fn the_alpn_challenge_certificate_carries_the_acme_identifier() {
        let digest = [7u8; 32];
        let certified = alpn_challenge("www.example.com", &digest).unwrap();
        let der = certified.end_entity_cert().unwrap();
        // id-pe-acmeIdentifier 1.3.6.1.5.5.7.1.31, then the OCTET STRING of the digest.
        let oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        assert!(der.windows(oid.len()).any(|w| w == oid));
        assert!(der.windows(digest.len()).any(|w| w == digest));
    }
}
