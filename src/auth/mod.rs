//! Credentials: argon2id passwords and random API tokens stored as hashes.
//!
//! Who may see which app is decided in the store's visibility query; here is only how a
//! secret is made, hashed and checked.

mod password;
mod rate_limit;
mod token;

pub use password::{hash_password, verify_password, verify_password_or_decoy};
pub use rate_limit::{Attempt, LoginLimiter, Refusal};
pub use token::{ApiToken, hash_token, random_hex};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("password must be at least 8 characters")]
    WeakPassword,
}
