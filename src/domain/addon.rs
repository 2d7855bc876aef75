//! Add-ons: the kinds paas runs (`postgres`, `redis`), an add-on's name
//! (`postgres-fluffy-1234`) and the name it is attached as (`DATABASE` -> `DATABASE_URL`).

use std::fmt;

use super::Invalid;

/// Where an add-on's image keeps its data: its named volume is mounted there.
pub const ADDON_DATA_DIR: &str = "/var/lib/paas-addon";
/// The environment variable an add-on's container gets its password in.
pub const ADDON_PASSWORD_ENV: &str = "PAAS_ADDON_PASSWORD";

/// A backing service paas runs itself, from an image made of Debian's packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddonKind {
    Postgres,
    Redis,
}

impl AddonKind {
    pub const ALL: [AddonKind; 2] = [AddonKind::Postgres, AddonKind::Redis];

    /// `postgres`, `redis`; Heroku's `heroku-postgresql` and `heroku-redis` (with or
    /// without a `:plan`) are accepted so app.json files written for Heroku work.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let service = raw.split_once(':').map_or(raw, |(service, _plan)| service);
        match service {
            "postgres" | "postgresql" | "heroku-postgresql" => Ok(AddonKind::Postgres),
            "redis" | "heroku-redis" => Ok(AddonKind::Redis),
            _ => Err(Invalid::new(format!(
                "unknown add-on kind \"{raw}\": paas runs postgres and redis"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AddonKind::Postgres => "postgres",
            AddonKind::Redis => "redis",
        }
    }

    /// The major version the image carries (Debian bookworm's).
    pub fn version(self) -> &'static str {
        match self {
            AddonKind::Postgres => "15",
            AddonKind::Redis => "7",
        }
    }

    /// The name an app sees it as when `--as` is not given (Heroku's).
    pub fn default_attachment(self) -> AttachmentName {
        AttachmentName(
            match self {
                AddonKind::Postgres => "DATABASE",
                AddonKind::Redis => "REDIS",
            }
            .to_owned(),
        )
    }

    /// The TCP port the service listens on inside its container.
    pub fn port(self) -> u16 {
        match self {
            AddonKind::Postgres => 5432,
            AddonKind::Redis => 6379,
        }
    }

    /// The URL an attached app gets, for the add-on reachable at `host`.
    pub fn url(self, host: &str, password: &str) -> String {
        match self {
            AddonKind::Postgres => {
                format!("postgres://paas:{password}@{host}:5432/paas")
            }
            AddonKind::Redis => format!("redis://:{password}@{host}:6379"),
        }
    }
}

impl fmt::Display for AddonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `KIND-WORD-NNNN`, e.g. `postgres-fluffy-1234`: unique on the server, a DNS label, and
/// the add-on's host name on the networks of the apps it is attached to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AddonName(String);

impl AddonName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if starts_with_letter && rest_ok && raw.len() <= 40 && !raw.ends_with('-') {
            Ok(AddonName(raw.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "invalid add-on name \"{raw}\": see the names with paas addons"
            )))
        }
    }

    /// A fresh name for a `kind` add-on, from a word and a number picked by `pick`.
    pub fn generate(kind: AddonKind, pick: impl FnOnce(usize) -> (usize, u16)) -> Self {
        const WORDS: [&str; 24] = [
            "fluffy", "amber", "brisk", "calm", "dapper", "eager", "fuzzy", "gentle", "happy",
            "jolly", "keen", "lively", "mellow", "nimble", "plucky", "quiet", "rosy", "sunny",
            "tidy", "vivid", "witty", "zesty", "bold", "cozy",
        ];
        let (word, number) = pick(WORDS.len());
        AddonName(format!(
            "{kind}-{}-{}",
            WORDS[word % WORDS.len()],
            1000 + number % 9000
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AddonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an app calls an attached add-on: `DATABASE` gives it `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AttachmentName(String);

impl AttachmentName {
    /// Upper case letters, digits and underscores, starting with a letter; a trailing
    /// `_URL` is taken off (`--as REPORTS_URL` means `REPORTS`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let upper = raw.trim().to_ascii_uppercase();
        let name = upper.strip_suffix("_URL").unwrap_or(&upper);
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if starts_with_letter && rest_ok && name.len() <= 60 {
            Ok(AttachmentName(name.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "invalid attachment name \"{raw}\": use letters, digits and underscores, starting with a letter (e.g. --as REPORTS)"
            )))
        }
    }

    /// The config var the app reads the add-on's URL from.
    pub fn config_key(&self) -> String {
        format!("{}_URL", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttachmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kinds_accept_heroku_names_and_refuse_others_saying_what_exists() {
        assert_eq!(AddonKind::parse("postgres"), Ok(AddonKind::Postgres));
        assert_eq!(
            AddonKind::parse("heroku-postgresql:essential-0"),
            Ok(AddonKind::Postgres)
        );
        assert_eq!(AddonKind::parse("heroku-redis"), Ok(AddonKind::Redis));
        let e = AddonKind::parse("mysql").unwrap_err();
        assert!(e.0.contains("postgres and redis"), "{e}");
    }

    #[test]
    fn attachment_names_are_upper_case_and_lose_a_url_suffix() {
        let name = AttachmentName::parse("reports_url").unwrap();
        assert_eq!(name.as_str(), "REPORTS");
        assert_eq!(name.config_key(), "REPORTS_URL");
        for bad in ["", "1DB", "MY-DB", "A B", "_URL"] {
            assert!(AttachmentName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_names_parse_and_carry_their_kind() {
        let name = AddonName::generate(AddonKind::Redis, |_| (3, 42));
        assert_eq!(name.as_str(), "redis-calm-1042");
        assert_eq!(AddonName::parse(name.as_str()), Ok(name));
    }

    proptest! {
        #[test]
        fn a_parsed_attachment_name_is_a_safe_config_key(raw in ".{0,70}") {
            if let Ok(name) = AttachmentName::parse(&raw) {
                let key = name.config_key();
                prop_assert!(crate::domain::ConfigKey::parse(&key).is_ok(), "{}", key);
            }
        }

        #[test]
        fn a_parsed_addon_name_is_a_dns_label(raw in ".{0,50}") {
            if let Ok(name) = AddonName::parse(&raw) {
                prop_assert!(name.as_str().len() <= 63);
                prop_assert!(name.as_str().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            }
        }
    }
}
