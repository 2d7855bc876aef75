//! Where the CLI keeps its logins: `~/.config/paas/credentials.json`, mode 0600, one token
//! per server URL. `PAAS_URL` and `PAAS_TOKEN` override it (for CI).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The server used when PAAS_URL is not set: the last one logged in to.
    pub default_url: Option<String>,
    pub servers: BTreeMap<String, Login>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub user: String,
    pub token: String,
}

/// A server and the token to use with it.
pub struct Target {
    pub url: String,
    pub token: Option<String>,
}

pub fn path() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set; set HOME")?;
    Ok(base.join("paas").join("credentials.json"))
}

impl Credentials {
    pub fn load() -> Result<Credentials> {
        let path = path()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is unreadable; delete it and run paas login",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file whole, created with mode 0600 so no other user can read a token.
    pub fn save(&self) -> Result<()> {
        let path = path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// PAAS_URL / PAAS_TOKEN first, then the stored default login.
    pub fn target(&self) -> Result<Target> {
        let url = match std::env::var("PAAS_URL") {
            Ok(url) if !url.is_empty() => normalize_url(&url)?,
            _ => match &self.default_url {
                Some(url) => url.clone(),
                None => bail!("not logged in; run paas login http://SERVER:8080"),
            },
        };
        let token = match std::env::var("PAAS_TOKEN") {
            Ok(token) if !token.is_empty() => Some(token),
            _ => self.servers.get(&url).map(|l| l.token.clone()),
        };
        Ok(Target { url, token })
    }
}

/// `localhost:8080/` -> `http://localhost:8080`.
pub fn normalize_url(raw: &str) -> Result<String> {
    let raw = raw.trim().trim_end_matches('/');
    let url = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        bail!("invalid server URL \"{raw}\": write it like http://localhost:8080");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_get_a_scheme_and_lose_the_trailing_slash() {
        assert_eq!(
            normalize_url("localhost:8080/").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            normalize_url("https://paas.example.com").unwrap(),
            "https://paas.example.com"
        );
        assert!(normalize_url("ftp://x.example.com").is_err());
    }
}
