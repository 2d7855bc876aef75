//! `certs`, `certs:add`, `certs:remove` and `domains:https-only`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use reqwest::Method;

use crate::wire::{AddCert, CertInfo, HttpsInfo};

use super::{Ctx, app_path, output};

/// A year: the HSTS max-age browsers' preload lists ask for.
const HSTS_DEFAULT: &str = "31536000";

#[derive(Subcommand)]
pub enum CertsCommand {
    /// List each domain's certificate: source, state (pending, valid, failed and why),
    /// issuer and expiry
    Certs,
    /// Install a certificate you bring (a wildcard, an internal CA's): PEM chain and key
    #[command(name = "certs:add")]
    CertsAdd {
        /// PEM file with the certificate, then its intermediates
        certificate: PathBuf,
        /// PEM file with the private key
        key: PathBuf,
    },
    /// Remove a certificate you added, by its id or a hostname it serves
    #[command(name = "certs:remove")]
    CertsRemove { target: String },
    /// Redirect plain HTTP to HTTPS with a 308 (on/off; without either, show the setting)
    #[command(name = "domains:https-only")]
    HttpsOnly {
        state: Option<OnOff>,
        /// Also send Strict-Transport-Security with this max-age [default: a year]
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = HSTS_DEFAULT)]
        hsts: Option<u32>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

pub async fn run(ctx: &Ctx, command: CertsCommand) -> Result<()> {
    match command {
        CertsCommand::Certs => list(ctx).await,
        CertsCommand::CertsAdd { certificate, key } => add(ctx, &certificate, &key).await,
        CertsCommand::CertsRemove { target } => remove(ctx, &target).await,
        CertsCommand::HttpsOnly { state, hsts } => https_only(ctx, state, hsts).await,
    }
}

async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let certs: Vec<CertInfo> = ctx.client.get(&format!("{}/certs", app_path(&app))).await?;
    if ctx.json {
        return output::json(&certs);
    }
    output::heading(&format!("{app} Certificates"));
    print_table(&certs);
    Ok(())
}

fn print_table(certs: &[CertInfo]) {
    let rows: Vec<Vec<String>> = certs
        .iter()
        .map(|c| {
            let source = match c.id {
                Some(id) => format!("{} #{id}", c.source),
                None => c.source.clone(),
            };
            vec![
                c.hostname.clone(),
                source,
                c.state.clone(),
                c.issuer.clone().unwrap_or_default(),
                c.expires_at.clone().unwrap_or_default(),
                c.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &["DOMAIN", "SOURCE", "STATE", "ISSUER", "EXPIRES", "REASON"],
        &rows,
    );
}

async fn add(ctx: &Ctx, certificate: &Path, key: &Path) -> Result<()> {
    let app = ctx.app()?;
    let request = AddCert {
        certificate: std::fs::read_to_string(certificate).with_context(|| {
            format!("cannot read the certificate file {}", certificate.display())
        })?,
        key: std::fs::read_to_string(key)
            .with_context(|| format!("cannot read the key file {}", key.display()))?,
    };
    output::begin(&format!("Adding a certificate to {app}"));
    let certs: Vec<CertInfo> = ctx
        .client
        .post(&format!("{}/certs", app_path(&app)), &request)
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    print_table(&certs);
    Ok(())
}

async fn remove(ctx: &Ctx, target: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Removing the certificate for {target} from {app}"));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!("{}/certs/{target}", app_path(&app)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

async fn https_only(ctx: &Ctx, state: Option<OnOff>, hsts: Option<u32>) -> Result<()> {
    let app = ctx.app()?;
    let path = format!("{}/https", app_path(&app));
    let current: HttpsInfo = match state {
        None => ctx.client.get(&path).await?,
        Some(state) => {
            let change = HttpsInfo {
                https_only: state == OnOff::On,
                hsts_max_age: hsts.filter(|age| *age > 0 && state == OnOff::On),
            };
            let answer = ctx
                .client
                .request(Method::PUT, &path, Some(&change))
                .await?;
            answer
                .json()
                .await
                .context("unexpected answer from the server")?
        }
    };
    if ctx.json {
        return output::json(&current);
    }
    let only = if current.https_only { "on" } else { "off" };
    let hsts = current
        .hsts_max_age
        .map_or("off".to_owned(), |age| format!("max-age={age}"));
    output::key_values([("https-only", only), ("HSTS", hsts.as_str())]);
    Ok(())
}
