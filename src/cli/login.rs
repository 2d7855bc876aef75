//! `login`, `logout`, `whoami`, and the git credential helper that lets a plain
//! `git push paas main` send the stored token (HTTP Basic, password = token).

use std::io::{BufRead, Write};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::wire::{CreatedToken, LoginRequest, WhoAmI};

use super::Ctx;
use super::client::Client;
use super::credentials::{Credentials, Login, Target, normalize_url};

pub async fn login(url: Option<String>, token: Option<String>, user: Option<String>) -> Result<()> {
    let mut creds = Credentials::load()?;
    let url = match url
        .or_else(|| std::env::var("PAAS_URL").ok())
        .or(creds.default_url.clone())
    {
        Some(url) => normalize_url(&url)?,
        None => bail!("which server? run paas login http://SERVER:8080"),
    };
    let token = match token {
        Some(token) => token,
        None => login_with_password(&url, user).await?,
    };
    let client = Client::new(Target {
        url: url.clone(),
        token: Some(token.clone()),
    })?;
    let me: WhoAmI = client.get("/api/v1/whoami").await?;
    creds.servers.insert(
        url.clone(),
        Login {
            user: me.name.clone(),
            token,
        },
    );
    creds.default_url = Some(url.clone());
    creds.save()?;
    setup_git_credentials(&url)?;
    println!("Logged in to {url} as {}", me.name);
    Ok(())
}

async fn login_with_password(url: &str, user: Option<String>) -> Result<String> {
    let user = match user {
        Some(user) => user,
        None => {
            eprint!("User: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let password = rpassword::prompt_password("Password: ")
        .context("cannot read the password; pass --token TOKEN instead")?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "cli".into());
    let client = Client::new(Target {
        url: url.to_owned(),
        token: None,
    })?;
    let created: CreatedToken = client
        .post(
            "/api/v1/login",
            &LoginRequest {
                user,
                password,
                token_name: Some(format!("paas login on {host}")),
            },
        )
        .await?;
    Ok(created.token)
}

/// Makes git ask `paas git:credential` for this server's URL, and only this one. An empty
/// helper first resets any general helper, so ours is the one git asks.
fn setup_git_credentials(url: &str) -> Result<()> {
    let exe = std::env::current_exe().context("cannot locate the paas binary")?;
    let key = format!("credential.{url}.helper");
    let helper = format!("!'{}' git:credential", exe.display());
    let run = |args: &[&str]| -> Result<()> {
        let status = Command::new("git")
            .args(["config", "--global"])
            .args(args)
            .status()
            .context("cannot run git to set up its credentials; is git installed?")?;
        if !status.success() {
            bail!("git config --global {} failed", args.join(" "));
        }
        Ok(())
    };
    let _ = Command::new("git")
        .args(["config", "--global", "--unset-all", &key])
        .status();
    run(&["--add", &key, ""])?;
    run(&["--add", &key, &helper])
}

pub fn logout() -> Result<()> {
    let mut creds = Credentials::load()?;
    let target = creds.target()?;
    creds.servers.remove(&target.url);
    if creds.default_url.as_deref() == Some(&target.url) {
        creds.default_url = None;
    }
    creds.save()?;
    let key = format!("credential.{}.helper", target.url);
    let _ = Command::new("git")
        .args(["config", "--global", "--unset-all", &key])
        .status();
    println!("Logged out of {}", target.url);
    Ok(())
}

pub async fn whoami(ctx: &Ctx) -> Result<()> {
    let me: WhoAmI = ctx.client.get("/api/v1/whoami").await?;
    if ctx.json {
        return super::output::json(&me);
    }
    let role = if me.admin { " (admin)" } else { "" };
    println!("{}{role} on {}", me.name, ctx.client.url());
    Ok(())
}

/// git's credential protocol: `get` reads `key=value` lines and answers with the token
/// of the server they name; `store` and `erase` have nothing to do.
pub fn git_credential(operation: &str) -> Result<()> {
    if operation != "get" {
        return Ok(());
    }
    let mut protocol = String::new();
    let mut host = String::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            match key {
                "protocol" => protocol = value.to_owned(),
                "host" => host = value.to_owned(),
                _ => {}
            }
        }
    }
    let url = format!("{protocol}://{host}");
    let token = std::env::var("PAAS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            Credentials::load()
                .ok()
                .and_then(|c| c.servers.get(&url).map(|l| l.token.clone()))
        });
    if let Some(token) = token {
        println!("username=paas\npassword={token}");
    }
    Ok(())
}
