//! Custom domains: which hostnames route to an app besides `APP.PAAS_DOMAIN`. The control
//! plane's own names (`localhost`, IP literals, `PAAS_CONTROL_HOST` and wildcards over it)
//! are nobody's to add.

use crate::domain::{AppName, Hostname, Invalid};
use crate::store::{DomainRow, NewEvent};
use crate::wire::DomainInfo;

use super::{Actor, OpsError, Platform, visible_app};

pub async fn list(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
) -> Result<Vec<DomainInfo>, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let rows = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>(db.domains(app.id)?)
        })
        .await?;
    Ok(rows.into_iter().map(|d| to_info(p, d)).collect())
}

pub async fn add(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    hostname: &str,
) -> Result<DomainInfo, OpsError> {
    let hostname = Hostname::parse(hostname)?;
    if names_the_control_plane(&hostname, p.settings.control_host.as_deref()) {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "{hostname} names this paas's control plane, not an app; add a domain of your own, like www.example.com"
        ))));
    }
    if p.settings.is_platform_host(&hostname) {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "{hostname} is on the platform domain {}; apps get APP.{} without adding it",
            p.settings.domain, p.settings.domain
        ))));
    }
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let row = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            if let Some(existing) = tx.domain(&hostname)? {
                let whose = if existing.app_id == app.id {
                    "this app".to_owned()
                } else {
                    "another app".to_owned()
                };
                return Err(OpsError::Conflict(format!(
                    "domain {hostname} is already added to {whose}; remove it there first with paas domains:remove {hostname}"
                )));
            }
            tx.insert_domain(app.id, &hostname)?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "domain.add",
                detail: &format!("added domain {hostname}"),
            })?;
            tx.domain(&hostname)?
                .ok_or_else(|| OpsError::Internal(format!("domain {hostname} vanished")))
        })
        .await?;
    p.scheduler.routes_changed(name.as_str()).await;
    super::certs::hosts_changed(p).await;
    Ok(to_info(p, row))
}

pub async fn remove(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    hostname: &str,
) -> Result<(), OpsError> {
    let hostname = Hostname::parse(hostname)?;
    let (actor_in, name_in) = (actor.clone(), name.clone());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            if !tx.delete_domain(app.id, &hostname)? {
                return Err(OpsError::NotFound(format!(
                    "{} has no domain {hostname}; see paas domains -a {}",
                    app.name, app.name
                )));
            }
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "domain.remove",
                detail: &format!("removed domain {hostname}"),
            })?;
            Ok(())
        })
        .await?;
    p.scheduler.routes_changed(name.as_str()).await;
    super::certs::hosts_changed(p).await;
    Ok(())
}

fn to_info(p: &Platform, d: DomainRow) -> DomainInfo {
    let target = format!("{}.{}", d.app_name, p.settings.domain);
    DomainInfo {
        dns_hint: format!("point a CNAME record for {} at {target}", d.hostname),
        hostname: d.hostname.to_string(),
        app: d.app_name,
        created_at: d.created_at.rfc3339(),
    }
}

/// `localhost`, an IPv4 literal (no top-level domain is all digits), the control host, or
/// a wildcard that would cover it.
fn names_the_control_plane(host: &Hostname, control_host: Option<&str>) -> bool {
    let name = host.as_str();
    let last_label = name.rsplit('.').next().unwrap_or(name);
    if name == "localhost" || last_label.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    control_host.is_some_and(|control| {
        let control = control.trim().trim_end_matches('.').to_ascii_lowercase();
        let control = control
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(control.as_str(), |(host, _)| host);
        crate::certs::x509::name_covers(name, control)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Hostname {
        Hostname::parse(name).unwrap()
    }

    #[test]
    fn the_control_planes_names_are_nobodys_custom_domain() {
        let control = Some("Admin.Example.com.");
        for name in [
            "localhost",
            "127.0.0.1",
            "10.1.2.3",
            "admin.example.com",
            "*.example.com",
        ] {
            assert!(names_the_control_plane(&host(name), control), "{name}");
        }
        for name in [
            "www.example.com",
            "*.shop.example.com",
            "app.localhost",
            "x1.example.com",
        ] {
            assert!(!names_the_control_plane(&host(name), control), "{name}");
        }
        assert!(names_the_control_plane(
            &host("paas.example.org"),
            Some("paas.example.org:8443")
        ));
    }
}
