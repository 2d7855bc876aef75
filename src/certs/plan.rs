//! The decisions, as pure functions over what the store says: which hostnames ACME manages,
//! which certificate serves a hostname, when a certificate is due (30 days before expiry,
//! or after the backoff of its last failure), and what `paas certs` shows for a domain.
//! No I/O, so every rule is unit-tested here.

use std::collections::BTreeMap;

use super::x509::{CertSummary, name_covers};
use crate::domain::{CertState, Timestamp};
use crate::store::{AcmeCertRow, AppHttpsRow, UserCertRow};

/// Renewal starts this long before expiry (or at a third of the lifetime left, for
/// certificates that live less than 90 days).
pub const RENEW_BEFORE_SECS: i64 = 30 * 24 * 3600;
/// The first retry after a failure waits this long; each further failure doubles it.
pub const FIRST_RETRY_SECS: i64 = 5 * 60;
pub const MAX_RETRY_SECS: i64 = 12 * 3600;

/// One app and every hostname it answers on (its default host first).
#[derive(Clone, Debug)]
pub struct AppHosts {
    pub id: i64,
    pub name: String,
    pub hosts: Vec<String>,
}

/// The store's view of certificates, read in one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub apps: Vec<AppHosts>,
    pub user_certs: Vec<UserCertRow>,
    pub acme: Vec<AcmeCertRow>,
    pub https: Vec<(i64, AppHttpsRow)>,
}

/// The server's settings that bear on certificates.
#[derive(Clone, Debug)]
pub struct Policy {
    pub control_host: Option<String>,
    pub acme: bool,
}

/// Names no public CA validates: localhost, mDNS, IP literals, single labels, wildcards.
pub fn acme_eligible(host: &str) -> bool {
    !is_local(host)
        && !host.starts_with("*.")
        && host.contains('.')
        && host.parse::<std::net::IpAddr>().is_err()
}

/// Development names, served with the self-signed certificate.
pub fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".local")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok()
}

/// The certificate the user brought for `host` of app `app_id`: unexpired, covering the
/// host, the one that lasts longest.
pub fn user_cert_for<'a>(
    app_id: i64,
    host: &str,
    certs: &'a [UserCertRow],
    now: Timestamp,
) -> Option<&'a UserCertRow> {
    certs
        .iter()
        .filter(|c| c.app_id == app_id && c.not_after > now)
        .filter(|c| c.names.iter().any(|name| name_covers(name, host)))
        .max_by_key(|c| (c.not_after, c.id))
}

/// Hostnames ACME should manage now, with their app (`None`: the control host).
pub fn desired_acme(
    facts: &Facts,
    policy: &Policy,
    now: Timestamp,
) -> BTreeMap<String, Option<i64>> {
    let mut desired = BTreeMap::new();
    if !policy.acme {
        return desired;
    }
    for app in &facts.apps {
        for host in &app.hosts {
            if acme_eligible(host) && user_cert_for(app.id, host, &facts.user_certs, now).is_none()
            {
                desired.insert(host.clone(), Some(app.id));
            }
        }
    }
    if let Some(control) = &policy.control_host
        && acme_eligible(control)
    {
        desired.entry(control.clone()).or_insert(None);
    }
    desired
}

/// When a managed hostname needs an ACME order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Now,
    At(Timestamp),
}

/// `current` is the ACME certificate on disk for the row's hostname, if any.
pub fn due(row: &AcmeCertRow, current: Option<&CertSummary>, now: Timestamp) -> Due {
    if let Some(cert) = current {
        let renew_at = renewal_time(cert);
        if renew_at > now {
            return Due::At(renew_at);
        }
    }
    if row.next_attempt_at <= now {
        Due::Now
    } else {
        Due::At(row.next_attempt_at)
    }
}

pub fn renewal_time(cert: &CertSummary) -> Timestamp {
    let lifetime = (cert.not_after.0 - cert.not_before.0).max(0);
    Timestamp(cert.not_after.0 - RENEW_BEFORE_SECS.min(lifetime / 3))
}

/// Seconds to wait after the `failures`-th failure in a row.
pub fn retry_delay(failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_RETRY_SECS << doublings).min(MAX_RETRY_SECS)
}

/// Which certificate serves a hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serving {
    User(i64),
    Acme(String),
    Default,
}

/// Serving choice: the user's certificate, else the ACME one on disk, else the default.
pub fn serving(
    app_id: Option<i64>,
    host: &str,
    facts: &Facts,
    has_acme: impl Fn(&str) -> bool,
    now: Timestamp,
) -> Serving {
    if let Some(app_id) = app_id
        && let Some(cert) = user_cert_for(app_id, host, &facts.user_certs, now)
    {
        return Serving::User(cert.id);
    }
    if has_acme(host) {
        Serving::Acme(host.to_owned())
    } else {
        Serving::Default
    }
}

/// What `paas certs` shows for one hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainStatus {
    pub hostname: String,
    /// `acme`, `user`, `self-signed` or `none`.
    pub source: &'static str,
    pub state: CertState,
    pub reason: Option<String>,
    pub issuer: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// Of a user certificate, for `paas certs:remove`.
    pub cert_id: Option<i64>,
}

/// The status of `host` of app `app`. `acme_current` is the ACME certificate on disk,
/// `default` the self-signed one.
#[allow(clippy::too_many_arguments)]
pub fn status(
    app: &AppHosts,
    host: &str,
    facts: &Facts,
    policy: &Policy,
    acme_current: Option<&CertSummary>,
    default: &CertSummary,
    now: Timestamp,
) -> DomainStatus {
    let mut status = DomainStatus {
        hostname: host.to_owned(),
        source: "none",
        state: CertState::Failed,
        reason: None,
        issuer: None,
        expires_at: None,
        cert_id: None,
    };
    if let Some(cert) = user_cert_for(app.id, host, &facts.user_certs, now) {
        status.source = "user";
        status.state = CertState::Valid;
        status.issuer = Some(cert.issuer.clone());
        status.expires_at = Some(cert.not_after);
        status.cert_id = Some(cert.id);
        return status;
    }
    if is_local(host) {
        status.source = "self-signed";
        status.state = CertState::Valid;
        status.issuer = Some(default.issuer.clone());
        status.expires_at = Some(default.not_after);
        return status;
    }
    let add_hint = format!(
        "add a certificate with paas certs:add -a {} CERT KEY",
        app.name
    );
    if host.starts_with("*.") {
        status.reason = Some(format!(
            "ACME cannot validate a wildcard over HTTP or TLS; {add_hint}"
        ));
        return status;
    }
    if !acme_eligible(host) {
        status.reason = Some(format!("no CA validates {host}; {add_hint}"));
        return status;
    }
    if !policy.acme {
        status.reason = Some(format!(
            "no certificate: set PAAS_ACME_EMAIL on the server for automatic ones, or {add_hint}"
        ));
        return status;
    }
    status.source = "acme";
    let row = facts.acme.iter().find(|r| r.hostname == host);
    status.state = row.map_or(CertState::Pending, |r| r.state);
    status.reason = row.and_then(|r| r.reason.clone());
    match acme_current {
        Some(cert) => {
            status.issuer = Some(cert.issuer.clone());
            status.expires_at = Some(cert.not_after);
        }
        None => {
            status.issuer = row.and_then(|r| r.issuer.clone());
            status.expires_at = row.and_then(|r| r.not_after);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    fn now() -> Timestamp {
        Timestamp(1_800_000_000)
    }

    fn user_cert(id: i64, app_id: i64, names: &[&str], days_left: i64) -> UserCertRow {
        UserCertRow {
            id,
            app_id,
            names: names.iter().map(|n| n.to_string()).collect(),
            issuer: "Corp CA".to_owned(),
            not_after: Timestamp(now().0 + days_left * DAY),
            created_at: Timestamp(0),
        }
    }

    fn row(host: &str, next_attempt_at: i64) -> AcmeCertRow {
        AcmeCertRow {
            hostname: host.to_owned(),
            app_id: Some(1),
            state: CertState::Pending,
            reason: None,
            issuer: None,
            not_after: None,
            failures: 0,
            next_attempt_at: Timestamp(next_attempt_at),
            updated_at: Timestamp(0),
        }
    }

    fn summary(days_before: i64, days_left: i64) -> CertSummary {
        CertSummary {
            names: vec!["www.example.com".to_owned()],
            issuer: "Test CA".to_owned(),
            not_before: Timestamp(now().0 - days_before * DAY),
            not_after: Timestamp(now().0 + days_left * DAY),
        }
    }

    fn facts() -> Facts {
        Facts {
            apps: vec![
                AppHosts {
                    id: 1,
                    name: "blog".to_owned(),
                    hosts: vec![
                        "blog.apps.example.com".to_owned(),
                        "www.blog.com".to_owned(),
                        "*.blog.com".to_owned(),
                    ],
                },
                AppHosts {
                    id: 2,
                    name: "dev".to_owned(),
                    hosts: vec!["dev.localhost".to_owned(), "shop.example.org".to_owned()],
                },
            ],
            user_certs: vec![user_cert(9, 2, &["shop.example.org"], 60)],
            ..Facts::default()
        }
    }

    fn acme_policy() -> Policy {
        Policy {
            control_host: Some("paas.example.com".to_owned()),
            acme: true,
        }
    }

    #[test]
    fn acme_manages_public_names_without_a_user_certificate_and_the_control_host() {
        let desired = desired_acme(&facts(), &acme_policy(), now());
        let hosts: Vec<(&str, Option<i64>)> =
            desired.iter().map(|(h, a)| (h.as_str(), *a)).collect();
        assert_eq!(
            hosts,
            vec![
                ("blog.apps.example.com", Some(1)),
                ("paas.example.com", None),
                ("www.blog.com", Some(1)),
            ]
        );
        let off = Policy {
            acme: false,
            ..acme_policy()
        };
        assert!(desired_acme(&facts(), &off, now()).is_empty());
    }

    #[test]
    fn localhost_names_ip_literals_and_wildcards_get_no_acme_attempt() {
        for host in [
            "localhost",
            "app.localhost",
            "printer.local",
            "127.0.0.1",
            "[::1]",
            "intranet",
            "*.example.com",
        ] {
            assert!(!acme_eligible(host), "{host}");
        }
        assert!(acme_eligible("www.example.com"));
    }

    #[test]
    fn an_expired_user_certificate_hands_the_name_back_to_acme() {
        let mut facts = facts();
        facts.user_certs = vec![user_cert(9, 2, &["shop.example.org"], -1)];
        let desired = desired_acme(&facts, &acme_policy(), now());
        assert_eq!(desired.get("shop.example.org"), Some(&Some(2)));
    }

    #[test]
    fn a_user_certificate_serves_only_its_own_apps_names() {
        let mut facts = facts();
        facts
            .user_certs
            .push(user_cert(10, 2, &["www.blog.com"], 60));
        let serving_of =
            |app, host: &str| serving(app, host, &facts, |h| h == "www.blog.com", now());
        assert_eq!(
            serving_of(Some(1), "www.blog.com"),
            Serving::Acme("www.blog.com".to_owned())
        );
        assert_eq!(serving_of(Some(2), "shop.example.org"), Serving::User(9));
        assert_eq!(
            serving_of(Some(1), "blog.apps.example.com"),
            Serving::Default
        );
    }

    #[test]
    fn the_longest_lasting_covering_certificate_wins() {
        let certs = vec![
            user_cert(1, 1, &["*.blog.com"], 10),
            user_cert(2, 1, &["*.blog.com", "blog.com"], 300),
            user_cert(3, 1, &["other.com"], 900),
        ];
        assert_eq!(
            user_cert_for(1, "www.blog.com", &certs, now()).map(|c| c.id),
            Some(2)
        );
        assert_eq!(user_cert_for(1, "a.b.blog.com", &certs, now()), None);
    }

    #[test]
    fn renewal_is_due_thirty_days_before_expiry() {
        let row = row("www.example.com", 0);
        assert_eq!(due(&row, None, now()), Due::Now);
        assert_eq!(
            due(&row, Some(&summary(30, 60)), now()),
            Due::At(Timestamp(now().0 + 30 * DAY))
        );
        assert_eq!(
            due(&row, Some(&summary(400, 60)), now()),
            Due::At(Timestamp(now().0 + 30 * DAY))
        );
        assert_eq!(due(&row, Some(&summary(61, 29)), now()), Due::Now);
        assert_eq!(due(&row, Some(&summary(400, -1)), now()), Due::Now);
    }

    #[test]
    fn short_lived_certificates_renew_at_a_third_of_their_life() {
        let row = row("www.example.com", 0);
        assert_eq!(
            due(&row, Some(&summary(0, 6)), now()),
            Due::At(Timestamp(now().0 + 4 * DAY))
        );
    }

    #[test]
    fn failures_wait_for_their_backoff() {
        let later = now().0 + 600;
        assert_eq!(
            due(&row("a.example.com", later), None, now()),
            Due::At(Timestamp(later))
        );
        assert_eq!(retry_delay(1), 300);
        assert_eq!(retry_delay(2), 600);
        assert_eq!(retry_delay(3), 1200);
        assert_eq!(retry_delay(40), MAX_RETRY_SECS);
    }

    #[test]
    fn statuses_say_why_a_name_has_no_certificate() {
        let facts = facts();
        let default = summary(0, 365);
        let blog = &facts.apps[0];
        let status_of = |policy: &Policy, app: &AppHosts, host: &str| {
            status(app, host, &facts, policy, None, &default, now())
        };
        let off = Policy {
            acme: false,
            ..acme_policy()
        };
        let none = status_of(&off, blog, "www.blog.com");
        assert_eq!((none.source, none.state), ("none", CertState::Failed));
        assert!(none.reason.unwrap().contains("PAAS_ACME_EMAIL"));
        let wildcard = status_of(&acme_policy(), blog, "*.blog.com");
        assert!(wildcard.reason.unwrap().contains("paas certs:add -a blog"));
        let pending = status_of(&acme_policy(), blog, "www.blog.com");
        assert_eq!(
            (pending.source, pending.state),
            ("acme", CertState::Pending)
        );
        let dev = &facts.apps[1];
        let local = status_of(&off, dev, "dev.localhost");
        assert_eq!(
            (local.source, local.state),
            ("self-signed", CertState::Valid)
        );
        let user = status_of(&off, dev, "shop.example.org");
        assert_eq!((user.source, user.cert_id), ("user", Some(9)));
    }
}
