//! Publishing: turns the registry (healthy, routed web processes) and the store (apps,
//! domains, formation) into one route snapshot and swaps it into the router.

use std::sync::Arc;

use crate::router::{
    AppSpec, AppState, Endpoint, EndpointSpec, RouteSnapshotBuilder, UnavailableReason,
};
use crate::store::StoreError;

use super::Inner;
use super::instances::{ProcState, Tracked};
use super::plan::PORT;

/// What the store says about one app, for routing.
struct AppFacts {
    name: String,
    domains: Vec<String>,
    deployed: bool,
    maintenance: bool,
    web_quantity: u32,
}

/// Rebuilds the whole table and swaps it in. Serialised, so a slower publish can never
/// overwrite a newer one.
pub async fn publish(s: &Inner) {
    let _guard = s.publish_lock.lock().await;
    let facts = match s.store.read(load_facts).await {
        Ok(facts) => facts,
        Err(e) => {
            tracing::error!(error = %e, "cannot read apps to publish routes");
            return;
        }
    };
    let mut builder = RouteSnapshotBuilder::reusing(&s.router.snapshot());
    for app in facts {
        let procs = s.registry.of_app(&app.name);
        let endpoints: Vec<EndpointSpec> = procs
            .iter()
            .filter(|t| t.is_web() && t.routed && t.state == ProcState::Up)
            .filter_map(|t| {
                t.ip.map(|ip| EndpointSpec {
                    addr: std::net::SocketAddr::new(ip, PORT),
                    dyno: t.dyno(),
                })
            })
            .collect();
        let state = if app.maintenance {
            AppState::Unavailable(UnavailableReason::Maintenance)
        } else if !endpoints.is_empty() {
            AppState::Serving(endpoints)
        } else {
            AppState::Unavailable(reason(&app, &procs))
        };
        builder = builder.app(AppSpec {
            name: app.name,
            domains: app.domains,
            state,
        });
    }
    match builder.build() {
        Ok(snapshot) => s.router.publish(snapshot),
        Err(e) => tracing::error!(error = %e, "route table not published"),
    }
}

fn reason(app: &AppFacts, procs: &[Tracked]) -> UnavailableReason {
    if !app.deployed {
        UnavailableReason::NeverDeployed
    } else if app.web_quantity == 0 {
        UnavailableReason::ScaledToZero
    } else if procs
        .iter()
        .any(|t| t.is_web() && matches!(t.state, ProcState::Crashed { .. }))
    {
        UnavailableReason::Crashed
    } else {
        UnavailableReason::Unhealthy
    }
}

fn load_facts(db: &crate::store::Db<'_>) -> Result<Vec<AppFacts>, StoreError> {
    let domains = db.all_domains()?;
    let mut out = Vec::new();
    for app in db.all_apps()? {
        let current = db.current_release(app.id)?;
        let build = match current.as_ref().and_then(|r| r.build_id) {
            Some(id) => db.build(id)?,
            None => None,
        };
        let declares_web = build
            .as_ref()
            .is_some_and(|b| b.process_types.contains_key("web"));
        let web_quantity = if declares_web {
            db.formation(app.id)?
                .iter()
                .find(|f| f.process_type == "web")
                .map_or(1, |f| f.quantity)
        } else {
            0
        };
        out.push(AppFacts {
            domains: domains
                .iter()
                .filter(|d| d.app_id == app.id)
                .map(|d| d.hostname.to_string())
                .collect(),
            name: app.name.to_string(),
            deployed: build.is_some(),
            maintenance: app.maintenance,
            web_quantity,
        });
    }
    Ok(out)
}

/// The router's live endpoints of these processes, to wait on their in-flight requests
/// once they are out of the table.
pub fn endpoints_of(s: &Inner, app: &str, procs: &[Tracked]) -> Vec<Arc<Endpoint>> {
    let snapshot = s.router.snapshot();
    procs
        .iter()
        .filter_map(|t| t.ip)
        .filter_map(|ip| {
            snapshot
                .endpoint(app, std::net::SocketAddr::new(ip, PORT))
                .cloned()
        })
        .collect()
}
