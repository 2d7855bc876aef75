//! paas: a self-hosted Heroku in one binary.
//!
//! # Layout
//!
//! The modules follow the pipeline a push travels (see ARCHITECTURE.md):
//!
//! ```text
//! domain/    types and validation of the platform's vocabulary; no I/O
//! wire.rs    the HTTP API's JSON shapes, shared by api/, web/ and cli/
//! settings   PAAS_* server settings
//! progress   the bounded line stream long operations report to (below every layer)
//! store/     rusqlite: migrations and every SQL statement
//! auth/      argon2 passwords, API tokens
//! release/   config layering and release descriptions (pure)
//! runtime/   the Docker engine (bollard): containers, images, logs, events
//! git/       bare repositories and the smart-HTTP receive-pack
//! build/     stack images, buildpack and Dockerfile builds -> image
//! scheduler/ desired vs actual: rollouts, scaling, crash restarts; publishes routes
//! router/    hostname -> healthy endpoints, the public listener, the proxy
//! addons/    add-on services: Postgres and Redis containers, health, backups
//! certs/     HTTPS: the TLS listener with SNI, user and ACME certificates, renewal
//! logs/      per-app log streams: history on disk, live followers
//! ops/       use cases per topic, calling store, build and the scheduler in order
//! api/       axum JSON API, one file per topic
//! web/       the admin UI: askama pages and plain forms, one file per topic
//! cli/       clap + HTTP client, one file per topic
//! server.rs  wiring and graceful shutdown
//! ```

#![deny(clippy::unwrap_used)]

pub mod addons;
pub mod api;
pub mod auth;
pub mod build;
pub mod certs;
pub mod cli;
pub mod domain;
pub mod git;
pub mod logs;
pub mod ops;
pub mod progress;
pub mod registry;
pub mod release;
pub mod router;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod settings;
pub mod store;
pub mod web;
pub mod wire;
