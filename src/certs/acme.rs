//! The ACME protocol side, with instant-acme: the account (made once per directory, kept
//! in `DATA/certs/acme-account.json`), and one order for one hostname: challenge answered
//! (TLS-ALPN-01 or HTTP-01), CSR for a fresh ECDSA key, certificate chain downloaded.
//! Storing, state and retries are renew.rs's; this file only speaks to the CA.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::acme_http::{AcmeHttp, error_chain};
use super::challenges::Challenges;
use super::files::CertFiles;
use super::material;
use super::settings::{ChallengeKind, TlsSettings};

/// Why an ACME step failed; the text is what `paas certs` shows as the reason.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("cannot use the ACME directory {url}: {reason}")]
    Directory { url: String, reason: String },
    #[error("cannot store the ACME account: {0}")]
    AccountFile(std::io::Error),
    #[error("the CA refused the order: {0}")]
    Order(String),
    #[error("the CA offers no {kind} challenge for {host}; set PAAS_ACME_CHALLENGE to another")]
    NoChallenge { kind: &'static str, host: String },
    #[error("the CA could not validate {host} with {kind}: {reason}")]
    Validation {
        host: String,
        kind: &'static str,
        reason: String,
    },
    #[error("the CA did not issue the certificate: {0}")]
    Finalize(String),
    #[error("the issued certificate is unusable: {0}")]
    Material(#[from] material::MaterialError),
}

/// A certificate just issued: the chain as the CA sent it and the new key, both PEM.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The ACME account for the configured directory: the stored one, or a new one (which is
/// then stored with 0600 permissions).
pub async fn account(settings: &TlsSettings, files: &CertFiles) -> Result<Account, AcmeError> {
    let url = settings.directory_url().to_owned();
    let directory_error = |reason: String| AcmeError::Directory {
        url: url.clone(),
        reason,
    };
    let http = || {
        AcmeHttp::new(settings.acme_ca_certs.as_deref())
            .map(|client| Box::new(client) as Box<dyn instant_acme::HttpClient>)
            .map_err(|e| directory_error(e.to_string()))
    };
    let stored = {
        let files = files.clone();
        tokio::task::spawn_blocking(move || files.read_account())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|bytes| serde_json::from_slice::<StoredAccount>(&bytes).ok())
    };
    if let Some(stored) = stored.filter(|s| s.directory == url) {
        return Account::builder_with_http(http()?)
            .from_credentials(stored.credentials)
            .await
            .map_err(|e| directory_error(describe(&e)));
    }
    let contact = format!(
        "mailto:{}",
        settings.acme_email.as_deref().unwrap_or_default().trim()
    );
    let (account, credentials) = Account::builder_with_http(http()?)
        .create(
            &NewAccount {
                contact: &[&contact],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            url.clone(),
            None,
        )
        .await
        .map_err(|e| directory_error(describe(&e)))?;
    let json = serde_json::to_vec(&StoredAccount {
        directory: url.clone(),
        credentials,
    })
    .map_err(|e| directory_error(e.to_string()))?;
    let files = files.clone();
    tokio::task::spawn_blocking(move || files.write_account(&json))
        .await
        .map_err(|e| AcmeError::AccountFile(std::io::Error::other(e.to_string())))?
        .map_err(AcmeError::AccountFile)?;
    tracing::info!(directory = %url, "created an ACME account");
    Ok(account)
}

/// Orders, validates and downloads a certificate for `host`.
pub async fn issue(
    account: &Account,
    host: &str,
    kind: ChallengeKind,
    challenges: &Arc<Challenges>,
) -> Result<Issued, AcmeError> {
    let identifiers = [Identifier::Dns(host.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| AcmeError::Order(describe(&e)))?;
    let mut answers = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| AcmeError::Order(describe(&e)))?;
            match authorization.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(AcmeError::Order(format!(
                        "the authorization of {host} is {other:?}"
                    )));
                }
            }
            let mut challenge = authorization
                .challenge(challenge_type(kind))
                .ok_or_else(|| AcmeError::NoChallenge {
                    kind: kind_name(kind),
                    host: host.to_owned(),
                })?;
            let key_authorization = challenge.key_authorization();
            let token = challenge.token.clone();
            answers.push(challenges.publish(kind, host, &token, &key_authorization)?);
            challenge
                .set_ready()
                .await
                .map_err(|e| validation(host, kind, describe(&e)))?;
        }
    }
    let ready = order
        .poll_ready(&RetryPolicy::new().timeout(Duration::from_secs(90)))
        .await;
    match ready {
        Ok(OrderStatus::Ready) => {}
        Ok(_) | Err(instant_acme::Error::Api(_)) => {
            let reason = challenge_error(&mut order, kind)
                .await
                .unwrap_or_else(|| match ready {
                    Err(e) => describe(&e),
                    Ok(status) => format!("the order is {status:?}"),
                });
            return Err(validation(host, kind, reason));
        }
        Err(e) => return Err(validation(host, kind, describe(&e))),
    }
    drop(answers);
    let key = material::new_key()?;
    let csr = material::csr(host, &key)?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(|e| AcmeError::Finalize(describe(&e)))?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(90)))
        .await
        .map_err(|e| AcmeError::Finalize(describe(&e)))?;
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

/// The CA's own words on why validation failed, from the failed challenge.
async fn challenge_error(order: &mut instant_acme::Order, kind: ChallengeKind) -> Option<String> {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        let problem = state
            .challenges
            .iter()
            .filter(|c| c.r#type == challenge_type(kind))
            .find_map(|c| c.error.as_ref());
        if let Some(problem) = problem {
            return Some(problem_text(problem));
        }
    }
    None
}

fn validation(host: &str, kind: ChallengeKind, reason: String) -> AcmeError {
    AcmeError::Validation {
        host: host.to_owned(),
        kind: kind_name(kind),
        reason,
    }
}

fn challenge_type(kind: ChallengeKind) -> ChallengeType {
    match kind {
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
        ChallengeKind::Http01 => ChallengeType::Http01,
    }
}

fn kind_name(kind: ChallengeKind) -> &'static str {
    match kind {
        ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        ChallengeKind::Http01 => "http-01",
    }
}

/// instant-acme's errors in a line: a CA problem by its detail, others by their cause.
fn describe(error: &instant_acme::Error) -> String {
    match error {
        instant_acme::Error::Api(problem) => problem_text(problem),
        other => error_chain(other),
    }
}

fn problem_text(problem: &instant_acme::Problem) -> String {
    let detail = problem
        .detail
        .clone()
        .unwrap_or_else(|| "no detail".to_owned());
    match problem.r#type.as_deref().and_then(|t| t.rsplit(':').next()) {
        Some(kind) if !detail.contains(kind) => format!("{detail} ({kind})"),
        _ => detail,
    }
}
