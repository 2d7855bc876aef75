//! The `paas` git remote: which app the current directory deploys to, and adding it.

use std::process::Command;

use anyhow::{Context, Result, bail};

pub const REMOTE: &str = "paas";

/// The app named by the `paas` remote of the repository around the current directory.
pub fn app_from_remote() -> Option<String> {
    let output = Command::new("git")
        .args(["remote", "get-url", REMOTE])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    app_from_url(String::from_utf8_lossy(&output.stdout).trim())
}

/// `http://host:8080/myapp.git` -> `myapp`.
pub fn app_from_url(url: &str) -> Option<String> {
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    let name = last.strip_suffix(".git").unwrap_or(last);
    (!name.is_empty()).then(|| name.to_owned())
}

pub fn in_git_repo() -> bool {
    Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn remote_url(server: &str, app: &str) -> String {
    format!("{server}/{app}.git")
}

/// Adds the `paas` remote, or points an existing one at `url`.
pub fn set_remote(url: &str) -> Result<()> {
    let exists = Command::new("git")
        .args(["remote", "get-url", REMOTE])
        .output()
        .is_ok_and(|o| o.status.success());
    let args: &[&str] = if exists {
        &["remote", "set-url", REMOTE, url]
    } else {
        &["remote", "add", REMOTE, url]
    };
    let status = Command::new("git")
        .args(args)
        .status()
        .context("cannot run git; is it installed?")?;
    if !status.success() {
        bail!(
            "git remote {} failed; run it yourself: git {}",
            REMOTE,
            args.join(" ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_the_last_path_segment_without_dot_git() {
        assert_eq!(
            app_from_url("http://localhost:8080/myapp.git").as_deref(),
            Some("myapp")
        );
        assert_eq!(
            app_from_url("https://paas.example.com/x/").as_deref(),
            Some("x")
        );
        assert_eq!(app_from_url("").as_deref(), None);
    }
}
