//! instant-acme's HTTP client, over reqwest (the client the CLI already compiles in), so
//! the ACME directory can be trusted through extra CA certificates (an internal CA,
//! Pebble in tests) and every request has a connect and total timeout. instant-acme's own
//! client would pull in hyper-rustls with HTTP/2 and cannot add roots to the system's.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the ACME HTTP client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AcmeHttpError {
    #[error(
        "cannot read the ACME CA certificates {path}: {reason}; set PAAS_ACME_CA_CERTS to a PEM file"
    )]
    CaCerts { path: String, reason: String },
    #[error("cannot set up the ACME HTTP client: {0}")]
    Client(String),
}

pub struct AcmeHttp {
    client: reqwest::Client,
}

impl AcmeHttp {
    /// A client trusting the system's roots plus the certificates in `extra_roots` (PEM).
    pub fn new(extra_roots: Option<&std::path::Path>) -> Result<Self, AcmeHttpError> {
        // Installed once per process; a second call finds it there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("paas/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        if let Some(path) = extra_roots {
            let failed = |reason: String| AcmeHttpError::CaCerts {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
            let roots =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(e.to_string()))?;
            if roots.is_empty() {
                return Err(failed("no certificate in the file".to_owned()));
            }
            builder = builder.tls_certs_merge(roots);
        }
        let client = builder
            .build()
            .map_err(|e| AcmeHttpError::Client(error_chain(&e)))?;
        Ok(Self { client })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(error_chain(&e).into()))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| instant_acme::Error::Other(error_chain(&e).into()))?;
            let mut out = http::Response::new(Full::new(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(BytesResponse::from(out))
        })
    }
}

/// An error and its root cause in one line: reqwest's own message names the URL, the root
/// cause says what went wrong ("Connection refused").
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut root = error;
    while let Some(next) = root.source() {
        root = next;
    }
    let outer = error.to_string();
    let inner = root.to_string();
    if std::ptr::addr_eq(root, error) || outer.contains(&inner) {
        outer
    } else {
        format!("{outer}: {inner}")
    }
}
