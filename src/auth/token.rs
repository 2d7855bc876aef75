//! API tokens: 32 random bytes, shown once as `paas_<hex>`, kept only as SHA-256.
//!
//! A fast hash is right here (unlike passwords): the token has 256 bits of entropy, so
//! nothing is gained by slowing down each authenticated request.

use std::fmt;

use rand::RngExt;
use sha2::{Digest, Sha256};

const PREFIX: &str = "paas_";

/// A freshly made token; its `Display` is the secret, so it is never logged.
pub struct ApiToken(String);

impl ApiToken {
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::rng().random();
        ApiToken(format!("{PREFIX}{}", hex::encode(bytes)))
    }

    /// Takes an operator-chosen token (`PAAS_ADMIN_TOKEN`) as it is.
    pub fn from_operator(value: String) -> Self {
        ApiToken(value)
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> Vec<u8> {
        hash_token(&self.0)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// `bytes` random bytes as hex: session ids, CSRF tokens.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_unique_and_hash_stably() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert!(a.secret().starts_with("paas_"));
        assert_eq!(a.secret().len(), 5 + 64);
        assert_ne!(a.secret(), b.secret());
        assert_eq!(a.hash(), hash_token(a.secret()));
        assert_eq!(format!("{a:?}"), "ApiToken(..)");
    }
}
