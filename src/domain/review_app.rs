//! Review apps' vocabulary: the branch pattern of `reviewapps:enable --pattern`, the name
//! of a branch's review app (`PARENT-BRANCHSLUG`), and when one has expired.

use sha2::{Digest, Sha256};

use super::{AppName, Invalid};

/// Heroku's default: a review app without a push for five days is destroyed.
pub const DEFAULT_EXPIRE_DAYS: u32 = 5;

/// A glob on branch names: `*` matches any run of characters (`/` included), `?` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPattern(String);

impl BranchPattern {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let printable = raw.chars().all(|c| c.is_ascii_graphic());
        if raw.is_empty() || raw.len() > 200 || !printable {
            return Err(Invalid::new(format!(
                "invalid branch pattern {raw:?}: give a glob like 'feature/*' (* matches any characters)"
            )));
        }
        Ok(BranchPattern(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, branch: &str) -> bool {
        glob(self.0.as_bytes(), branch.as_bytes())
    }
}

impl Default for BranchPattern {
    fn default() -> Self {
        BranchPattern("*".to_owned())
    }
}

/// Iterative glob match with one backtrack point (linear in practice, no recursion).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `PARENT-SLUG`: the branch lowercased, every run of other characters than letters and
/// digits one `-`; cut to fit [`AppName`]'s 30 characters with a 6-digit hash of the
/// branch when it does not (so two long branches do not share a name).
pub fn review_app_name(parent: &AppName, branch: &str) -> Result<AppName, Invalid> {
    let mut slug = String::new();
    for c in branch.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let full = format!("{parent}-{slug}");
    let name = if !slug.is_empty() && full.len() <= MAX_NAME {
        full
    } else {
        let hash = hex::encode(Sha256::digest(branch.as_bytes()));
        let keep = MAX_NAME - 1 - HASH_LEN;
        let cut: String = full.chars().take(keep).collect();
        format!("{}-{}", cut.trim_end_matches('-'), &hash[..HASH_LEN])
    };
    // Letters, digits and dashes after the parent's name: always an app name.
    AppName::parse(&name)
}

const MAX_NAME: usize = 30;
const HASH_LEN: usize = 6;

/// Whether a review app last pushed at `last_push` (unix seconds) has gone `expire_days`
/// without a push at `now`.
pub fn is_expired(last_push: i64, expire_days: u32, now: i64) -> bool {
    now.saturating_sub(last_push) >= i64::from(expire_days) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(parent: &str, branch: &str) -> String {
        review_app_name(&AppName::parse(parent).unwrap(), branch)
            .unwrap()
            .to_string()
    }

    #[test]
    fn branch_slugs_are_lowercase_dashes_and_fit_the_name_limit() {
        assert_eq!(name("shop", "feature/x"), "shop-feature-x");
        assert_eq!(name("shop", "Fix__Login--Bug/"), "shop-fix-login-bug");
        let long = name("shop", "feature/a-very-long-branch-name-indeed");
        assert_eq!(long.len(), 30, "{long}");
        assert!(long.starts_with("shop-feature-a-very-l"), "{long}");
        let other = name("shop", "feature/a-very-long-branch-name-as-well");
        assert_ne!(long, other, "a hash keeps long branches apart");
        let symbols = name("shop", "___");
        assert!(
            symbols.starts_with("shop-") && symbols.len() == 11,
            "{symbols}"
        );
        assert_eq!(name("abcdefghijabcdefghijabcdefghij", "x").len(), 30);
    }

    #[test]
    fn patterns_match_as_globs() {
        let feature = BranchPattern::parse("feature/*").unwrap();
        assert!(feature.matches("feature/x"));
        assert!(feature.matches("feature/a/b"));
        assert!(!feature.matches("features/x"));
        assert!(!feature.matches("main"));
        assert!(BranchPattern::default().matches("anything/at/all"));
        let q = BranchPattern::parse("v?-*-rc").unwrap();
        assert!(q.matches("v1-beta-rc"));
        assert!(!q.matches("v10-beta-rc-1"));
        assert!(BranchPattern::parse("").is_err());
        assert!(BranchPattern::parse("a b").is_err());
    }

    #[test]
    fn a_review_app_expires_after_its_days_without_a_push() {
        let day = 86_400;
        assert!(!is_expired(1_000, 5, 1_000 + 5 * day - 1));
        assert!(is_expired(1_000, 5, 1_000 + 5 * day));
        assert!(
            !is_expired(1_000, 1, 0),
            "a clock going back expires nothing"
        );
    }

    proptest! {
        #[test]
        fn every_branch_gives_a_valid_name_of_its_parent(branch in "\\PC{0,80}") {
            let parent = AppName::parse("parent-app").unwrap();
            let name = review_app_name(&parent, &branch).unwrap();
            prop_assert!(name.as_str().starts_with("parent-app-"));
            prop_assert!(name.as_str().len() <= 30);
        }

        #[test]
        fn glob_star_matches_everything(text in "\\PC{0,40}") {
            prop_assert!(BranchPattern::default().matches(&text));
        }
    }
}
