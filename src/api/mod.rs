//! The JSON API under `/api/v1`, one file per topic, each handler a thin call into `ops`.

mod access;
mod addons;
mod apps;
mod autosleep;
mod builds;
mod certs;
mod config;
mod cron;
mod domains;
pub mod error;
mod events;
pub mod extract;
pub mod git;
mod logs;
mod metrics;
mod nodes;
mod pg;
mod ps;
mod releases;
mod reviewapps;
mod run;
mod tokens;
mod users;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::ops::Platform;

pub fn routes() -> Router<Platform> {
    let app = Router::new()
        .route(
            "/",
            get(apps::info).patch(apps::update).delete(apps::destroy),
        )
        .route("/config", get(config::get).patch(config::update))
        .route("/releases", get(releases::list))
        .route("/releases/{version}", get(releases::info))
        .route("/rollback", post(releases::rollback))
        .route("/formation", get(ps::formation).patch(ps::scale))
        .route("/ps", get(ps::processes))
        .route("/ps/restart", post(ps::restart))
        .route("/autosleep", get(autosleep::show).patch(autosleep::set))
        .route(
            "/reviewapps",
            get(reviewapps::list)
                .put(reviewapps::enable)
                .delete(reviewapps::disable),
        )
        .route("/builds", get(builds::list))
        .route("/builds/{id}", get(builds::info))
        .route("/builds/cancel", post(builds::cancel))
        .route("/logs", get(logs::stream))
        .route("/metrics", get(metrics::of_app))
        .route("/run", post(run::start))
        .route("/run/attach", get(run::attach))
        .route("/cron", get(cron::list))
        .route("/cron/{id}/run", post(cron::run))
        .route("/domains", get(domains::list).post(domains::add))
        .route("/domains/{hostname}", delete(domains::remove))
        .route("/certs", get(certs::list).post(certs::add))
        .route("/certs/{target}", delete(certs::remove))
        .route("/https", get(certs::https).put(certs::set_https))
        .route("/members", get(access::list).post(access::add))
        .route("/members/{user}", delete(access::remove))
        .route("/owner", put(access::transfer))
        .route("/events", get(events::of_app))
        .route("/addons", get(addons::list).post(addons::create))
        .route("/addons/{addon}", get(addons::info).delete(addons::destroy))
        .route(
            "/addons/{addon}/attachments",
            post(addons::attach).delete(addons::detach),
        )
        .route("/addons/{addon}/restart", post(addons::restart))
        .route(
            "/addons/{addon}/backups",
            get(addons::backups).post(addons::capture),
        )
        .route("/addons/{addon}/backups/schedule", put(addons::schedule))
        .route(
            "/addons/{addon}/backups/upload",
            post(addons::restore_upload),
        )
        .route("/addons/{addon}/backups/{id}", get(addons::download))
        .route(
            "/addons/{addon}/backups/{id}/restore",
            post(addons::restore),
        )
        .route("/addons/{addon}/pg", get(pg::info))
        .route("/addons/{addon}/pg/ps", get(pg::processes))
        .route("/addons/{addon}/pg/ps/{pid}", delete(pg::kill));
    let v1 = Router::new()
        .route("/login", post(users::login))
        .route("/whoami", get(users::whoami))
        .route("/apps", get(apps::list).post(apps::create))
        .nest("/apps/{app}", app)
        .route(
            "/config",
            get(config::get_global).patch(config::update_global),
        )
        .route("/users", get(users::list).post(users::create))
        .route("/users/{name}", delete(users::destroy))
        .route("/users/{name}/password", post(users::set_password))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/events", get(events::list))
        .route("/swarm", post(nodes::init))
        .route("/nodes", get(nodes::list))
        .route("/nodes/join", get(nodes::join))
        .route("/nodes/{node}", delete(nodes::remove))
        .route("/nodes/{node}/drain", post(nodes::drain))
        .route("/nodes/{node}/activate", post(nodes::activate))
        .fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "no such API endpoint; see README.md for the API",
            )
        });
    Router::new().nest("/api/v1", v1)
}
