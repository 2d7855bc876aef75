//! SNI: which certificate a TLS handshake gets. `SniTable` (hostname -> certificate, swapped
//! whole when certificates or domains change) is read lock-free on every handshake; a name
//! it does not know gets the default (self-signed) certificate, never another app's.
//! Handshakes offering `acme-tls/1` get the open TLS-ALPN-01 challenge certificate or none.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::challenges::Challenges;

/// ALPN protocol id of TLS-ALPN-01 validation handshakes (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Certificates by hostname; `*.example.com` keys serve wildcard domains one label deep.
pub struct SniTable {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl SniTable {
    pub fn new(by_name: HashMap<String, Arc<CertifiedKey>>, default: Arc<CertifiedKey>) -> Self {
        Self { by_name, default }
    }

    /// The certificate for a (lowercase) server name: exact, else the wildcard one label
    /// up, else the default.
    pub fn lookup(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return &self.default;
        };
        if let Some(certificate) = self.by_name.get(name) {
            return certificate;
        }
        if let Some((_, parent)) = name.split_once('.')
            && !self.by_name.is_empty()
            && let Some(certificate) = self.by_name.get(&format!("*.{parent}"))
        {
            return certificate;
        }
        &self.default
    }

    fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// The rustls side of `SniTable` and the challenge certificates.
pub struct SniResolver {
    table: Arc<ArcSwap<SniTable>>,
    challenges: Arc<Challenges>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("names", &self.table.load().len())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name().map(lowercase);
        let validating = client_hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if validating {
            return self.challenges.alpn_certificate(name.as_deref()?);
        }
        Some(Arc::clone(self.table.load().lookup(name.as_deref())))
    }
}

/// rustls hands SNI over as sent; DNS names compare without case.
fn lowercase(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The TLS configuration of the HTTPS listener: TLS 1.2 and 1.3 with ring, HTTP/1.1, and
/// `acme-tls/1` for validations.
pub fn server_config(
    table: Arc<ArcSwap<SniTable>>,
    challenges: Arc<Challenges>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { table, challenges }));
    config.alpn_protocols = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::material;

    fn certificate(name: &str) -> Arc<CertifiedKey> {
        let (cert, key) = material::self_signed(&[name.to_owned()], 1).unwrap();
        material::load(cert.as_bytes(), key.as_bytes())
            .unwrap()
            .certified
    }

    #[test]
    fn names_get_their_own_certificate_or_the_default_never_another_apps() {
        let blog = certificate("www.blog.com");
        let shop = certificate("*.shop.com");
        let default = certificate("localhost");
        let table = SniTable::new(
            HashMap::from([
                ("www.blog.com".to_owned(), Arc::clone(&blog)),
                ("*.shop.com".to_owned(), Arc::clone(&shop)),
            ]),
            Arc::clone(&default),
        );
        assert!(Arc::ptr_eq(table.lookup(Some("www.blog.com")), &blog));
        assert!(Arc::ptr_eq(table.lookup(Some("eu.shop.com")), &shop));
        assert!(Arc::ptr_eq(table.lookup(Some("a.eu.shop.com")), &default));
        assert!(Arc::ptr_eq(table.lookup(Some("blog.com")), &default));
        assert!(Arc::ptr_eq(table.lookup(Some("unknown.example")), &default));
        assert!(Arc::ptr_eq(table.lookup(None), &default));
    }

    #[test]
    fn server_names_compare_without_case() {
        assert_eq!(lowercase("WWW.Example.com"), "www.example.com");
        assert!(matches!(lowercase("www"), std::borrow::Cow::Borrowed(_)));
    }
}
