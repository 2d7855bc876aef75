//! `RouterError`: what the router's public API can fail with (bad settings, a route table
//! that contradicts itself, a listener that cannot start). Failures of a single proxied
//! request never surface here: they become error pages and access lines.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RouterError {
    #[error(
        "invalid trusted proxy `{0}`: write an address like 10.0.0.1 or a network like 10.0.0.0/8"
    )]
    InvalidCidr(String),

    #[error("invalid domain `{domain}` for app {app}: {reason}")]
    InvalidDomain {
        app: String,
        domain: String,
        reason: &'static str,
    },

    #[error(
        "domain `{domain}` is claimed by both {first} and {second}: remove it from one with `paas domains:remove {domain} -a APP`"
    )]
    DomainConflict {
        domain: String,
        first: String,
        second: String,
    },

    #[error("app {0} appears twice in the route table: give each app one entry")]
    DuplicateApp(String),

    #[error("could not read the listener's local address: {0}")]
    LocalAddr(#[source] std::io::Error),
}
