//! `BranchName`: a branch an app deploys from, valid as `refs/heads/NAME` for any git.

use std::fmt;

use super::Invalid;

/// A subset of `git check-ref-format --branch`: letters, digits and `._/-`, in
/// slash-separated parts that are neither empty nor start with `.` nor end in `.lock`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct BranchName(String);

impl BranchName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars_ok = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
        let parts_ok = raw
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"));
        let ok = chars_ok
            && parts_ok
            && raw.len() <= 100
            && !raw.starts_with('-')
            && !raw.ends_with('.')
            && !raw.contains("..");
        if ok {
            Ok(BranchName(raw.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "invalid branch name \"{raw}\": use letters, digits and ._/- as git allows, e.g. main or production"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for BranchName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        BranchName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_branch_names() {
        for ok in [
            "main",
            "master",
            "production",
            "release/v1.2",
            "feature_x-2",
        ] {
            assert_eq!(BranchName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_what_git_refuses_or_a_shell_would_mangle() {
        for bad in [
            "",
            "-main",
            "a..b",
            "a/",
            "/a",
            "a//b",
            ".hidden",
            "a/.b",
            "x.lock",
            "end.",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "@{u}",
            "ünïcode",
        ] {
            let err = BranchName::parse(bad).unwrap_err();
            assert!(err.0.contains("invalid branch name"), "{bad}: {err}");
        }
    }
}
