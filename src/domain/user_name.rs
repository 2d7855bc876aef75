//! `UserName`: how a person is named in paas.

use super::Invalid;

pub struct UserName;

impl UserName {
    /// `[a-z][a-z0-9._-]{0,31}`: safe in URLs and log lines.
    pub fn check(raw: &str) -> Result<&str, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-'
        });
        if first_ok && rest_ok && raw.len() <= 32 {
            Ok(raw)
        } else {
            Err(Invalid::new(format!(
                "invalid user name \"{raw}\": use up to 32 lowercase letters, digits, '.', '_' and '-', starting with a letter"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_lowercase_identifiers() {
        assert!(UserName::check("alice").is_ok());
        assert!(UserName::check("a.b-c_1").is_ok());
        assert!(UserName::check("Alice").is_err());
        assert!(UserName::check("").is_err());
        assert!(UserName::check("al ice").is_err());
    }
}
