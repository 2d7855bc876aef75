//! `AppName`: the one spelling of an app's name that every layer accepts.

use std::fmt;

use super::Invalid;

/// `[a-z][a-z0-9-]{0,29}`: safe as a DNS label, a directory name and a Docker name part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AppName(String);

impl AppName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if starts_with_letter && rest_ok && raw.len() <= 30 && !raw.ends_with('-') {
            Ok(AppName(raw.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "invalid app name \"{raw}\": use 1 to 30 lowercase letters, digits and dashes, starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AppName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        AppName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_names_with_digits_and_dashes() {
        for ok in ["a", "myapp", "my-app-2", "abcdefghijabcdefghijabcdefghij"] {
            assert!(AppName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_names_that_are_not_dns_labels() {
        for bad in [
            "",
            "1app",
            "-app",
            "app-",
            "My",
            "my_app",
            "my.app",
            "abcdefghijabcdefghijabcdefghijk",
        ] {
            let err = AppName::parse(bad).unwrap_err();
            assert!(err.0.contains("invalid app name"), "{bad}: {err}");
        }
    }
}
