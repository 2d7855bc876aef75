//! Certificates and HTTPS choices of an app: list each domain's certificate, install one
//! the user brings (checked: it parses, its key matches, it has not expired, and it covers
//! a domain of the app), remove it, and turn https-only redirects and HSTS on or off.
//! Keys are written 0600 by `certs::files` and never appear in events, errors or logs.

use crate::certs::{CertFile, CertsError, DomainStatus, material, plan};
use crate::domain::{AppName, Invalid, Timestamp};
use crate::store::{AppHttpsRow, NewEvent};
use crate::wire::{CertInfo, HttpsInfo};

use super::{Actor, OpsError, Platform, visible_app};

impl From<CertsError> for OpsError {
    fn from(e: CertsError) -> Self {
        match e {
            CertsError::Store(e) => OpsError::Store(e),
            other => OpsError::Internal(other.to_string()),
        }
    }
}

/// Each hostname of the app (its default host first) and the certificate serving it.
pub async fn list(p: &Platform, actor: &Actor, name: &AppName) -> Result<Vec<CertInfo>, OpsError> {
    let app_id = app_id(p, actor, name).await?;
    let facts = p.certs.facts().await?;
    let app = facts
        .apps
        .iter()
        .find(|a| a.id == app_id)
        .ok_or_else(|| OpsError::AppNotFound(name.to_string()))?;
    Ok(p.certs
        .statuses(app, &facts)
        .into_iter()
        .map(to_info)
        .collect())
}

/// Installs a certificate for the app's domains it covers; it is served at once.
pub async fn add(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    certificate_pem: &str,
    key_pem: &str,
) -> Result<Vec<CertInfo>, OpsError> {
    let loaded = material::load(certificate_pem.as_bytes(), key_pem.as_bytes())
        .map_err(|e| OpsError::Invalid(Invalid::new(e.to_string())))?;
    let summary = loaded.summary.clone();
    if summary.not_after <= Timestamp::now() {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "the certificate for {} expired at {}; renew it with its CA first",
            summary.names.join(", "),
            summary.not_after
        ))));
    }
    let app_id = app_id(p, actor, name).await?;
    let facts = p.certs.facts().await?;
    let hosts = facts
        .apps
        .iter()
        .find(|a| a.id == app_id)
        .map(|a| a.hosts.clone())
        .unwrap_or_default();
    if !hosts.iter().any(|host| summary.covers(host)) {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "the certificate is for {} but {name} answers on {}; add the domain first with paas domains:add HOSTNAME -a {name}",
            summary.names.join(", "),
            hosts.join(", ")
        ))));
    }
    let files = p.certs.files().clone();
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let (chain, key) = (certificate_pem.to_owned(), key_pem.to_owned());
    let id = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            let id =
                tx.insert_user_cert(app.id, &summary.names, &summary.issuer, summary.not_after)?;
            // Written inside the transaction: a failed write leaves no row behind.
            files
                .write(&CertFile::User(id), chain.as_bytes(), key.as_bytes())
                .map_err(|e| {
                    OpsError::Internal(format!(
                        "cannot store the certificate in {}: {e}",
                        files.root().display()
                    ))
                })?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "cert.add",
                detail: &format!(
                    "added certificate {id} for {} from {}, valid until {}",
                    summary.names.join(", "),
                    summary.issuer,
                    summary.not_after
                ),
            })?;
            Ok::<_, OpsError>(id)
        })
        .await?;
    p.certs.remember(CertFile::User(id), Some(loaded));
    p.certs.refresh().await?;
    list(p, actor, name).await
}

/// Removes a certificate the user added, by its id or by a hostname it serves; ACME (or
/// the self-signed certificate) takes the hostnames over.
pub async fn remove(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    target: &str,
) -> Result<(), OpsError> {
    let (actor_in, name_in, target_in) = (
        actor.clone(),
        name.clone(),
        target.trim().to_ascii_lowercase(),
    );
    let id = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            let certs = tx.user_certs_of(app.id)?;
            let chosen = match target_in.parse::<i64>() {
                Ok(id) => certs.iter().find(|c| c.id == id),
                Err(_) => plan::user_cert_for(app.id, &target_in, &certs, Timestamp::now())
                    .or_else(|| {
                        certs.iter().find(|c| {
                            c.names
                                .iter()
                                .any(|n| crate::certs::x509::name_covers(n, &target_in))
                        })
                    }),
            };
            let Some(cert) = chosen else {
                return Err(OpsError::NotFound(format!(
                    "{} has no certificate you added for {target_in}; see paas certs -a {}",
                    app.name, app.name
                )));
            };
            tx.delete_user_cert(app.id, cert.id)?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "cert.remove",
                detail: &format!(
                    "removed certificate {} for {}",
                    cert.id,
                    cert.names.join(", ")
                ),
            })?;
            Ok(cert.id)
        })
        .await?;
    let files = p.certs.files().clone();
    let removed = tokio::task::spawn_blocking(move || files.remove(&CertFile::User(id)))
        .await
        .map_err(|e| OpsError::Internal(e.to_string()))?;
    if let Err(error) = removed {
        // The row is gone, so the files are never served again; say so and go on.
        tracing::warn!(id, %error, "the files of a removed certificate could not be deleted");
    }
    p.certs.remember(CertFile::User(id), None);
    p.certs.refresh().await?;
    Ok(())
}

pub async fn https(p: &Platform, actor: &Actor, name: &AppName) -> Result<HttpsInfo, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let row = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>(db.app_https(app.id)?)
        })
        .await?;
    Ok(HttpsInfo {
        https_only: row.https_only,
        hsts_max_age: row.hsts_max_age,
    })
}

/// Sets https-only and HSTS; the router applies them to the next request.
pub async fn set_https(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    change: HttpsInfo,
) -> Result<HttpsInfo, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            tx.set_app_https(
                app.id,
                AppHttpsRow {
                    https_only: change.https_only,
                    hsts_max_age: change.hsts_max_age,
                },
            )?;
            let hsts = change
                .hsts_max_age
                .map_or("no HSTS".to_owned(), |age| format!("HSTS max-age={age}"));
            let only = if change.https_only { "on" } else { "off" };
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "https.set",
                detail: &format!("https-only {only}, {hsts}"),
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    p.certs.refresh().await?;
    https(p, actor, name).await
}

async fn app_id(p: &Platform, actor: &Actor, name: &AppName) -> Result<i64, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    p.store
        .read(move |db| Ok::<_, OpsError>(visible_app(db, &actor, &name)?.id))
        .await
}

fn to_info(status: DomainStatus) -> CertInfo {
    CertInfo {
        hostname: status.hostname,
        source: status.source.to_owned(),
        state: status.state.to_string(),
        reason: status.reason,
        issuer: status.issuer,
        expires_at: status.expires_at.map(Timestamp::rfc3339),
        id: status.cert_id,
    }
}

/// An app or domain came or went: the SNI table follows at once and ACME looks for new
/// names. A failure here fails nothing: the renewal task's next pass catches up.
pub(crate) async fn hosts_changed(p: &Platform) {
    if let Err(error) = p.certs.refresh().await {
        tracing::warn!(%error, "certificates not refreshed after a domain change");
    }
}
