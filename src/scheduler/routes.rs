//! Publishing: turns the registry (healthy, routed web processes) and the store's facts
//! of each app (domains, formation, maintenance) into one route snapshot and swaps it
//! into the router. A publish re-reads only the app that changed.

use std::sync::Arc;

use crate::router::{
    AppSpec, AppState, Endpoint, EndpointSpec, RouteSnapshotBuilder, UnavailableReason,
};
use crate::store::StoreError;

use super::Inner;
use super::instances::{ProcState, Tracked};

/// What the store says about one app, for routing.
#[derive(Clone)]
pub(super) struct AppFacts {
    name: String,
    domains: Vec<String>,
    deployed: bool,
    maintenance: bool,
    /// Sleeping (or crashed on its last wake): the router holds requests and wakes it.
    asleep: bool,
    web_quantity: u32,
}

/// The store's facts of every app as last read, so a publish re-reads only the app that
/// changed. Only `publish_all` (at start) reads every app.
#[derive(Default)]
pub(super) struct RouteFacts {
    apps: std::sync::Mutex<std::collections::HashMap<String, AppFacts>>,
}

/// Re-reads `app`'s facts (its domains, formation, maintenance; gone once destroyed) and
/// swaps in a table where only that app's entry changed.
pub async fn publish(s: &Inner, app: &str) {
    let _guard = s.publish_lock.lock().await;
    let name = app.to_owned();
    match s.store.read(move |db| load_app(db, &name)).await {
        Ok(Some(facts)) => {
            s.route_facts.lock().insert(app.to_owned(), facts);
        }
        Ok(None) => {
            s.route_facts.lock().remove(app);
        }
        Err(e) => {
            let e: StoreError = e;
            tracing::error!(app, error = %e, "cannot read the app to publish its routes");
            return;
        }
    }
    swap(s);
}

/// Reads every app's facts and publishes the whole table (at start).
pub async fn publish_all(s: &Inner) {
    let _guard = s.publish_lock.lock().await;
    match s.store.read(load_facts).await {
        Ok(facts) => {
            *s.route_facts.lock() = facts.into_iter().map(|f| (f.name.clone(), f)).collect();
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read apps to publish routes");
            return;
        }
    }
    swap(s);
}

impl RouteFacts {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, AppFacts>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Builds the table from the facts and the registry (in memory) and swaps it in; the
/// caller holds the publish lock, so a slower publish never overwrites a newer one.
fn swap(s: &Inner) {
    let facts: Vec<AppFacts> = s.route_facts.lock().values().cloned().collect();
    let mut builder = RouteSnapshotBuilder::reusing(&s.router.snapshot());
    for app in facts {
        let procs = s.registry.of_app(&app.name);
        let endpoints: Vec<EndpointSpec> = procs
            .iter()
            .filter(|t| t.serves())
            .filter_map(|t| {
                t.endpoint.map(|addr| EndpointSpec {
                    addr,
                    dyno: t.dyno(),
                })
            })
            .collect();
        let state = if app.maintenance {
            AppState::Unavailable(UnavailableReason::Maintenance)
        } else if !endpoints.is_empty() {
            AppState::Serving(endpoints)
        } else if app.asleep && app.deployed && app.web_quantity > 0 {
            AppState::Unavailable(UnavailableReason::Sleeping)
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
        let names = domains
            .iter()
            .filter(|d| d.app_id == app.id)
            .map(|d| d.hostname.to_string())
            .collect();
        out.push(facts_of(db, &app, names)?);
    }
    Ok(out)
}

fn load_app(db: &crate::store::Db<'_>, name: &str) -> Result<Option<AppFacts>, StoreError> {
    let Ok(name) = crate::domain::AppName::parse(name) else {
        return Ok(None);
    };
    let Some(app) = db.app(&name)? else {
        return Ok(None);
    };
    let domains = db
        .domains(app.id)?
        .iter()
        .map(|d| d.hostname.to_string())
        .collect();
    facts_of(db, &app, domains).map(Some)
}

fn facts_of(
    db: &crate::store::Db<'_>,
    app: &crate::store::AppRow,
    domains: Vec<String>,
) -> Result<AppFacts, StoreError> {
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
    Ok(AppFacts {
        domains,
        name: app.name.to_string(),
        deployed: build.is_some(),
        maintenance: app.maintenance,
        asleep: db.sleep(app.id)?.state.is_asleep(),
        web_quantity,
    })
}

/// The router's live endpoints of these processes, to wait on their in-flight requests
/// once they are out of the table.
pub fn endpoints_of(s: &Inner, app: &str, procs: &[Tracked]) -> Vec<Arc<Endpoint>> {
    let snapshot = s.router.snapshot();
    procs
        .iter()
        .filter_map(|t| t.endpoint)
        .filter_map(|addr| snapshot.endpoint(app, addr).cloned())
        .collect()
}
