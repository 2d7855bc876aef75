//! Heroku's release descriptions for the changes that are not config changes (those are
//! described by `ConfigChange::description`).

pub struct Description;

impl Description {
    pub fn deploy(commit: &str) -> String {
        format!("Deploy {}", short_sha(commit))
    }

    pub fn rollback(version: i64) -> String {
        format!("Rollback to v{version}")
    }

    pub fn initial() -> String {
        "Initial release".to_owned()
    }
}

pub fn short_sha(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_match_heroku_wording() {
        assert_eq!(
            Description::deploy("1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"),
            "Deploy 1a2b3c4"
        );
        assert_eq!(Description::rollback(3), "Rollback to v3");
        assert_eq!(Description::deploy("abc"), "Deploy abc");
    }
}
