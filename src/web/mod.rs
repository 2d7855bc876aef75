//! The web admin UI on the control host: askama pages, one file per topic (the same
//! names as `api/` and `ops/`), each handler a thin call into `ops` and never the store.
//!
//! Every action is a plain HTML form: POST (with the session's CSRF token), then a
//! redirect carrying a one-line flash message, then GET. The little JavaScript in
//! `static/paas.js` only adds live logs, copy buttons and revealing config values.
//!
//! ```text
//! GET  /                       apps dashboard            POST /apps            create an app
//! GET  /login  POST /login     sign in                   POST /logout          sign out
//! GET  /apps/{app}             overview                  POST .../restart      restart processes
//! GET  /apps/{app}/releases    releases                  POST .../rollback     roll back
//! GET  /apps/{app}/config      config vars               POST .../config[/unset]
//! GET  /apps/{app}/scale       formation, autosleep      POST .../scale, .../autosleep
//! GET  /apps/{app}/domains     custom domains            POST .../domains[/remove]
//! GET  /apps/{app}/https       certificates, https-only  POST .../https, .../https/certs, .../https/remove
//! GET  /apps/{app}/addons      add-ons, their backups    POST .../addons, .../addons/attach|detach|restart|destroy,
//!                                                        .../addons/backups[/restore], .../addons/schedule
//! GET  /apps/{app}/addons/backups/{id}  a backup's dump file (download)
//! GET  /apps/{app}/builds[/N]  builds and their logs     POST .../builds/cancel
//! GET  /apps/{app}/logs        recent lines              GET  .../logs/stream  server-sent events
//! GET  /apps/{app}/metrics     requests, response times, memory, CPU (inline SVG charts)
//! GET  /apps/{app}/activity    the app's events
//! GET  /apps/{app}/settings    members, danger zone      POST .../members[/remove], .../destroy,
//!                                                        .../maintenance, .../deploy-branch, .../transfer
//! GET  /activity               everything you may see
//! GET  /users                  users (admins)            POST /users, /users/{name}/password|destroy, /users/access
//! GET  /tokens                 API tokens, your password POST /tokens, /tokens/{id}/revoke, /account/password
//! GET  /static/{file}          CSS, JS, icon (embedded)
//! ```
//!
//! askama lives here and nowhere else.

mod access;
mod addons;
mod apps;
mod assets;
mod autosleep;
mod builds;
mod certs;
mod config;
mod cookies;
mod domains;
mod error;
mod events;
mod extract;
mod flash;
mod headers;
mod logs;
mod metrics;
mod ps;
mod releases;
mod session;
mod tokens;
mod users;
mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::ops::Platform;

pub use error::WebError;

/// The pages and form actions, to be merged into the control plane's router.
pub fn routes() -> Router<Platform> {
    let app = Router::new()
        .route("/", get(apps::overview))
        .route("/restart", post(ps::restart))
        .route("/releases", get(releases::page))
        .route("/rollback", post(releases::rollback))
        .route("/config", get(config::page).post(config::set))
        .route("/config/unset", post(config::unset))
        .route("/scale", get(ps::page).post(ps::scale))
        .route("/autosleep", post(autosleep::set))
        .route("/domains", get(domains::page).post(domains::add))
        .route("/domains/remove", post(domains::remove))
        .route("/https", get(certs::page).post(certs::set_https))
        .route("/https/certs", post(certs::add))
        .route("/https/remove", post(certs::remove))
        .route("/addons", get(addons::page).post(addons::create))
        .route("/addons/attach", post(addons::attach))
        .route("/addons/detach", post(addons::detach))
        .route("/addons/restart", post(addons::restart))
        .route("/addons/destroy", post(addons::destroy))
        .route("/addons/backups", post(addons::capture))
        .route("/addons/backups/restore", post(addons::restore))
        .route("/addons/backups/{id}", get(addons::download))
        .route("/addons/schedule", post(addons::schedule))
        .route("/builds", get(builds::page))
        .route("/builds/{id}", get(builds::show))
        .route("/builds/cancel", post(builds::cancel))
        .route("/logs", get(logs::page))
        .route("/logs/stream", get(logs::stream))
        .route("/metrics", get(metrics::page))
        .route("/activity", get(events::of_app))
        .route("/settings", get(apps::settings))
        .route("/maintenance", post(apps::maintenance))
        .route("/deploy-branch", post(apps::deploy_branch))
        .route("/members", post(access::add))
        .route("/members/remove", post(access::remove))
        .route("/transfer", post(access::transfer))
        .route("/destroy", post(apps::destroy));
    Router::new()
        .route("/", get(apps::dashboard))
        .route("/apps", get(apps::to_dashboard).post(apps::create))
        .nest("/apps/{app}", app)
        .route("/login", get(session::page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/activity", get(events::all))
        .route("/users", get(users::page).post(users::create))
        .route("/users/access", post(access::add_from_users))
        .route("/users/{name}/password", post(users::reset_password))
        .route("/users/{name}/destroy", post(users::destroy))
        .route("/tokens", get(tokens::page).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/account/password", post(users::change_own_password))
        .route("/static/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(headers::security_headers))
}
