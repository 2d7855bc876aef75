//! `Hostname`: a custom domain an app answers on, exact or a `*.example.com` wildcard.

use std::fmt;

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    /// Lowercases, drops one trailing dot, and checks each DNS label.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = || {
            Invalid::new(format!(
                "invalid domain \"{raw}\": use a DNS name like www.example.com or *.example.com"
            ))
        };
        if name.is_empty() || name.len() > 253 {
            return Err(bad());
        }
        let body = name.strip_prefix("*.").unwrap_or(&name);
        let labels: Vec<&str> = body.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(bad());
        }
        if name.starts_with("*.") && labels.len() < 2 {
            return Err(Invalid::new(format!(
                "wildcard \"{raw}\" is too broad: name at least two labels, like *.example.com"
            )));
        }
        Ok(Hostname(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_trailing_dot() {
        assert_eq!(
            Hostname::parse("WWW.Example.COM.").unwrap().as_str(),
            "www.example.com"
        );
    }

    #[test]
    fn accepts_wildcards_of_two_labels_or_more() {
        assert!(Hostname::parse("*.example.com").unwrap().is_wildcard());
        assert!(Hostname::parse("*.com").is_err());
        assert!(Hostname::parse("a.*.com").is_err());
    }

    #[test]
    fn refuses_names_that_are_not_dns() {
        for bad in [
            "",
            "exa mple.com",
            "-a.com",
            "a..com",
            "a_b.com",
            "http://x.com",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad}");
        }
    }
}
