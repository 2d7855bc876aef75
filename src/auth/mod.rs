//! Credentials: argon2id passwords and random API tokens stored as hashes.
//!
//! Who may see which app is decided in the store's visibility query; here is only how a
//! secret is made, hashed and checked.

mod password;
mod token;

pub use password::{hash_password, verify_password};
pub use token::{ApiToken, hash_token};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("password must be at least 8 characters")]
    WeakPassword,
}
