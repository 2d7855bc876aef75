//! The renewal task: on start, on every wake-up (a domain, app or certificate changed) and
//! at the next due time, it syncs the managed hostnames with the store, orders a
//! certificate for each one that is due (new, within 30 days of expiry, or past the
//! backoff of its last failure), and records each outcome with its reason. One order at a
//! time, each bounded by a timeout; shutdown interrupts the one in flight.

use std::collections::BTreeMap;
use std::time::Duration;

use instant_acme::Account;
use tokio_util::sync::CancellationToken;

use super::acme::{self, AcmeError, Issued};
use super::plan::{self, Due, Facts};
use super::{CertFile, Certs, CertsError, material};
use crate::domain::{CertState, Timestamp};
use crate::store::{AcmeCertRow, AcmeOutcome, StoreError};

/// Longest an order may take, all steps together.
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);
/// Even with nothing due, look again this often (clock jumps, missed wake-ups).
const IDLE_PASS: i64 = 3600;
/// After a pass failed as a whole (the store was unreadable), try again this soon.
const PASS_RETRY: i64 = 60;

pub(super) async fn run(certs: Certs, shutdown: CancellationToken) {
    let mut account: Option<Account> = None;
    loop {
        let next = match pass(&certs, &mut account, &shutdown).await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "certificate renewal pass failed; retrying in a minute");
                Timestamp(Timestamp::now().0 + PASS_RETRY)
            }
        };
        let wait = Duration::from_secs(u64::try_from(next.0 - Timestamp::now().0).unwrap_or(0));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = certs.inner.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass over every managed hostname; returns when the next one is due.
async fn pass(
    certs: &Certs,
    account: &mut Option<Account>,
    shutdown: &CancellationToken,
) -> Result<Timestamp, CertsError> {
    let now = Timestamp::now();
    let facts = certs.facts().await?;
    let desired = plan::desired_acme(&facts, &certs.policy(), now);
    sync_rows(certs, &facts, &desired).await?;
    let rows = certs.inner.store.read(|db| db.acme_certs()).await?;
    let mut next = Timestamp(now.0 + IDLE_PASS);
    for row in rows {
        if shutdown.is_cancelled() {
            break;
        }
        let current = {
            let cache = certs.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&CertFile::Acme(row.hostname.clone()))
                .map(|l| l.summary.clone())
        };
        let at = match plan::due(&row, current.as_ref(), Timestamp::now()) {
            Due::At(at) => at,
            Due::Now => attempt(certs, account, &row, &facts, shutdown).await?,
        };
        next = next.min(at);
    }
    Ok(next)
}

/// Starts managing new hostnames; stops managing (and deletes the files of) names no app
/// has any more, and removes files no row explains. A name that moved to another app
/// starts over: the certificate ordered for its former app is deleted, never shown or
/// served as the new app's.
async fn sync_rows(
    certs: &Certs,
    facts: &Facts,
    desired: &BTreeMap<String, Option<i64>>,
) -> Result<(), CertsError> {
    let stale: Vec<String> = facts
        .acme
        .iter()
        .filter(|row| !desired.contains_key(&row.hostname))
        .map(|row| row.hostname.clone())
        .collect();
    let to_add: Vec<(String, Option<i64>)> = desired
        .iter()
        .filter(|(host, app)| {
            !facts
                .acme
                .iter()
                .any(|row| &row.hostname == *host && row.app_id == **app)
        })
        .map(|(host, app)| (host.clone(), *app))
        .collect();
    let moved: Vec<String> = to_add
        .iter()
        .filter(|(host, _)| facts.acme.iter().any(|row| &row.hostname == host))
        .map(|(host, _)| host.clone())
        .collect();
    if !stale.is_empty() || !to_add.is_empty() {
        let stale = stale.clone();
        certs
            .inner
            .store
            .write(move |db| {
                for host in &stale {
                    db.delete_acme_cert(host)?;
                }
                for (host, app) in &to_add {
                    db.ensure_acme_cert(host, *app)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    let files = certs.inner.files.clone();
    let keep: Vec<String> = desired
        .keys()
        .filter(|host| !moved.contains(host))
        .cloned()
        .collect();
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = Vec::new();
        for host in files.acme_hostnames().unwrap_or_default() {
            if !keep.contains(&host) && files.remove(&CertFile::Acme(host.clone())).is_ok() {
                removed.push(host);
            }
        }
        removed
    })
    .await
    .map_err(|e| CertsError::Task(e.to_string()))?;
    if !removed.is_empty() {
        for host in removed {
            tracing::info!(host, "certificate of a removed domain deleted");
            certs.remember(CertFile::Acme(host), None);
        }
        certs.rebuild().await?;
    }
    Ok(())
}

/// Orders a certificate for `row`, stores it, and records the outcome; returns when the
/// hostname is due next.
async fn attempt(
    certs: &Certs,
    account: &mut Option<Account>,
    row: &AcmeCertRow,
    facts: &Facts,
    shutdown: &CancellationToken,
) -> Result<Timestamp, CertsError> {
    let host = &row.hostname;
    tracing::info!(host, "ordering a certificate");
    let ordered = tokio::select! {
        () = shutdown.cancelled() => return Ok(Timestamp::now()),
        ordered = tokio::time::timeout(ORDER_TIMEOUT, order(certs, account, host)) => ordered,
    };
    let outcome = match ordered {
        Ok(Ok(issued)) => store_certificate(certs, host, issued).await,
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "the CA did not finish within {}s; it will be asked again",
            ORDER_TIMEOUT.as_secs()
        )),
    };
    let now = Timestamp::now();
    match outcome {
        Ok(loaded) => {
            let issuer = loaded.summary.issuer.clone();
            let not_after = loaded.summary.not_after;
            certs
                .inner
                .store
                .write({
                    let host = host.clone();
                    let issuer = issuer.clone();
                    move |db| {
                        db.record_acme_outcome(
                            &host,
                            &AcmeOutcome {
                                state: CertState::Valid,
                                reason: None,
                                issuer: Some(&issuer),
                                not_after: Some(not_after),
                                failures: 0,
                                next_attempt_at: Timestamp(0),
                            },
                        )
                    }
                })
                .await?;
            let renew_at = plan::renewal_time(&loaded.summary);
            certs.remember(CertFile::Acme(host.clone()), Some(loaded));
            certs.rebuild().await?;
            certs.report(
                row.app_id,
                facts,
                &format!("certificate for {host} issued by {issuer}, valid until {not_after}"),
                false,
            );
            Ok(renew_at)
        }
        Err(reason) => {
            let failures = row.failures.saturating_add(1);
            let next = Timestamp(now.0 + plan::retry_delay(failures));
            certs
                .inner
                .store
                .write({
                    let host = host.clone();
                    let reason = reason.clone();
                    move |db| {
                        db.record_acme_outcome(
                            &host,
                            &AcmeOutcome {
                                state: CertState::Failed,
                                reason: Some(&reason),
                                issuer: None,
                                not_after: None,
                                failures,
                                next_attempt_at: next,
                            },
                        )
                    }
                })
                .await?;
            certs.report(
                row.app_id,
                facts,
                &format!("certificate for {host} failed: {reason}; next attempt at {next}"),
                true,
            );
            Ok(next)
        }
    }
}

async fn order(
    certs: &Certs,
    account: &mut Option<Account>,
    host: &str,
) -> Result<Issued, AcmeError> {
    let tls = &certs.inner.config.tls;
    let current = match account {
        Some(account) => account.clone(),
        None => {
            let made = acme::account(tls, &certs.inner.files).await?;
            *account = Some(made.clone());
            made
        }
    };
    acme::issue(&current, host, tls.acme_challenge, &certs.inner.challenges).await
}

/// Checks the issued chain against its key and writes both (0600).
async fn store_certificate(
    certs: &Certs,
    host: &str,
    issued: Issued,
) -> Result<material::Loaded, String> {
    let loaded = material::load(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())
        .map_err(|e| format!("the issued certificate is unusable: {e}"))?;
    let files = certs.inner.files.clone();
    let file = CertFile::Acme(host.to_owned());
    tokio::task::spawn_blocking(move || {
        files.write(
            &file,
            issued.chain_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| {
        format!(
            "cannot store the certificate under {}: {e}",
            certs.inner.files.root().display()
        )
    })?;
    Ok(loaded)
}
