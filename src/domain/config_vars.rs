//! Config vars: key rules, the size cap, and how a change is applied and described.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::Invalid;

/// An app's config may hold at most this many bytes of keys and values together.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

pub type ConfigVars = BTreeMap<String, String>;

/// A key a user may set: `[A-Za-z_][A-Za-z0-9_]*`, not `PORT`, not `PAAS_*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigKey(String);

impl ConfigKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid::new(format!(
                "invalid config key \"{raw}\": use letters, digits and underscores, not starting with a digit"
            )));
        }
        if raw == "PORT" || raw.starts_with("PAAS_") {
            return Err(Invalid::new(format!(
                "config key \"{raw}\" is reserved: the platform sets PORT and PAAS_* itself; pick another name"
            )));
        }
        Ok(ConfigKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value given base64-encoded (Dokku's `config:set --encoded`, for values with newlines
/// or quotes from scripts), decoded; standard or URL-safe alphabet, padded or not.
pub fn decode_encoded_value(key: &str, encoded: &str) -> Result<String, Invalid> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let trimmed = encoded.trim();
    let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(trimmed).ok())
        .ok_or_else(|| {
            Invalid::new(format!(
                "{key}: the value is not base64; with --encoded give each value as `base64 -w0` prints it"
            ))
        })?;
    String::from_utf8(bytes)
        .map_err(|_| Invalid::new(format!("{key}: the decoded value is not UTF-8 text")))
}

/// One `config:set` or `config:unset`: keys to set and keys to remove, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    pub set: BTreeMap<ConfigKey, String>,
    pub unset: BTreeSet<ConfigKey>,
}

impl ConfigChange {
    /// Builds a change from the API's shape: a value sets the key, `None` removes it.
    pub fn from_patch(patch: BTreeMap<String, Option<String>>) -> Result<Self, Invalid> {
        let mut change = ConfigChange::default();
        for (key, value) in patch {
            let key = ConfigKey::parse(&key)?;
            match value {
                Some(value) => {
                    change.set.insert(key, value);
                }
                None => {
                    change.unset.insert(key);
                }
            }
        }
        if change.set.is_empty() && change.unset.is_empty() {
            return Err(Invalid::new(
                "no config vars given: use paas config:set KEY=VALUE or paas config:unset KEY",
            ));
        }
        Ok(change)
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }

    /// The vars after this change, refused when they would outgrow `MAX_CONFIG_BYTES`.
    pub fn apply(&self, current: &ConfigVars) -> Result<ConfigVars, Invalid> {
        let mut next = current.clone();
        for key in &self.unset {
            next.remove(key.as_str());
        }
        for (key, value) in &self.set {
            next.insert(key.as_str().to_owned(), value.clone());
        }
        let size: usize = next.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_CONFIG_BYTES {
            return Err(Invalid::new(format!(
                "config would be {size} bytes, over the {MAX_CONFIG_BYTES}-byte limit; keep large files out of config vars"
            )));
        }
        Ok(next)
    }

    /// Heroku's release description: "Set A, B config vars", "Remove A config var".
    pub fn description(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(describe("Set", self.set.keys()));
        }
        if !self.unset.is_empty() {
            let verb = if parts.is_empty() { "Remove" } else { "remove" };
            parts.push(describe(verb, self.unset.iter()));
        }
        parts.join(" and ")
    }
}

fn describe<'a>(verb: &str, keys: impl ExactSizeIterator<Item = &'a ConfigKey>) -> String {
    let count = keys.len();
    let names: Vec<&str> = keys.map(ConfigKey::as_str).collect();
    let noun = if count == 1 {
        "config var"
    } else {
        "config vars"
    };
    format!("{verb} {} {noun}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_values_decode_to_their_text() {
        assert_eq!(
            decode_encoded_value("K", "bGluZSAxCmxpbmUgIjIi").unwrap(),
            "line 1\nline \"2\""
        );
        assert_eq!(decode_encoded_value("K", "YQ").unwrap(), "a");
        let err = decode_encoded_value("KEY", "not base64!").unwrap_err();
        assert!(err.0.starts_with("KEY: "), "{err}");
        assert!(decode_encoded_value("K", "/w==").is_err(), "not UTF-8");
    }

    fn patch(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn keys_follow_the_shell_identifier_rule() {
        assert!(ConfigKey::parse("DEBUG").is_ok());
        assert!(ConfigKey::parse("_x9").is_ok());
        assert!(ConfigKey::parse("9x").is_err());
        assert!(ConfigKey::parse("A-B").is_err());
        assert!(ConfigKey::parse("").is_err());
    }

    #[test]
    fn port_and_paas_prefix_are_reserved() {
        let err = ConfigKey::parse("PORT").unwrap_err();
        assert!(err.0.contains("reserved"));
        assert!(
            ConfigKey::parse("PAAS_APP")
                .unwrap_err()
                .0
                .contains("reserved")
        );
        assert!(ConfigKey::parse("PAASX").is_ok());
    }

    #[test]
    fn describes_changes_like_heroku() {
        let set =
            ConfigChange::from_patch(patch(&[("DEBUG", Some("0")), ("SECRET_KEY", Some("a"))]))
                .unwrap();
        assert_eq!(set.description(), "Set DEBUG, SECRET_KEY config vars");
        let unset = ConfigChange::from_patch(patch(&[("DEBUG", None)])).unwrap();
        assert_eq!(unset.description(), "Remove DEBUG config var");
        let both = ConfigChange::from_patch(patch(&[("A", Some("1")), ("B", None)])).unwrap();
        assert_eq!(
            both.description(),
            "Set A config var and remove B config var"
        );
    }

    #[test]
    fn applying_sets_and_removes_and_keeps_values_verbatim() {
        let mut current = ConfigVars::new();
        current.insert("OLD".into(), "x".into());
        current.insert("KEEP".into(), "y".into());
        let change =
            ConfigChange::from_patch(patch(&[("OLD", None), ("NEW", Some("multi\nline é"))]))
                .unwrap();
        let next = change.apply(&current).unwrap();
        assert_eq!(next.get("NEW").map(String::as_str), Some("multi\nline é"));
        assert_eq!(next.get("KEEP").map(String::as_str), Some("y"));
        assert!(!next.contains_key("OLD"));
    }

    #[test]
    fn refuses_config_over_64_kib() {
        let big = "x".repeat(MAX_CONFIG_BYTES);
        let change = ConfigChange::from_patch(patch(&[("BIG", Some(&big))])).unwrap();
        let err = change.apply(&ConfigVars::new()).unwrap_err();
        assert!(err.0.contains("limit"), "{err}");
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(ConfigChange::from_patch(BTreeMap::new()).is_err());
    }
}
