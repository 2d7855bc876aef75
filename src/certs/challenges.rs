//! Answers to ACME challenges while an order is open: TLS-ALPN-01 certificates (served by
//! the SNI resolver to `acme-tls/1` handshakes) and HTTP-01 tokens (answered by the router
//! on plain HTTP). A `Published` guard takes its answer down when dropped, so an order
//! that fails, times out or is cancelled at shutdown leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

use super::material::{self, MaterialError};
use super::settings::ChallengeKind;
use crate::router::Router;

pub struct Challenges {
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    router: Router,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges").finish_non_exhaustive()
    }
}

impl Challenges {
    pub fn new(router: Router) -> Self {
        Self {
            alpn: RwLock::default(),
            router,
        }
    }

    /// The TLS-ALPN-01 certificate for `hostname`, while its challenge is open.
    pub fn alpn_certificate(&self, hostname: &str) -> Option<Arc<CertifiedKey>> {
        let alpn = self.alpn.read().unwrap_or_else(|p| p.into_inner());
        alpn.get(hostname).cloned()
    }

    /// Publishes the answer to one challenge until the guard is dropped.
    pub fn publish(
        self: &Arc<Self>,
        kind: ChallengeKind,
        hostname: &str,
        token: &str,
        key_authorization: &instant_acme::KeyAuthorization,
    ) -> Result<Published, MaterialError> {
        let answer = match kind {
            ChallengeKind::TlsAlpn01 => {
                let certificate =
                    material::alpn_challenge(hostname, key_authorization.digest().as_ref())?;
                let mut alpn = self.alpn.write().unwrap_or_else(|p| p.into_inner());
                alpn.insert(hostname.to_owned(), certificate);
                Answer::Alpn(hostname.to_owned())
            }
            ChallengeKind::Http01 => {
                self.router
                    .https()
                    .add_http01(token, key_authorization.as_str());
                Answer::Http(token.to_owned())
            }
        };
        Ok(Published {
            challenges: Arc::clone(self),
            answer,
        })
    }
}

enum Answer {
    Alpn(String),
    Http(String),
}

/// An answer being served; dropping it withdraws the answer.
pub struct Published {
    challenges: Arc<Challenges>,
    answer: Answer,
}

impl Drop for Published {
    fn drop(&mut self) {
        match &self.answer {
            Answer::Alpn(hostname) => {
                let mut alpn = self
                    .challenges
                    .alpn
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                alpn.remove(hostname);
            }
            Answer::Http(token) => self.challenges.router.https().remove_http01(token),
        }
    }
}
