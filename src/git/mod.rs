//! Git: the apps' bare repositories and the smart-HTTP receive-pack protocol.

mod repo;

pub use repo::{RepoError, Repos};
