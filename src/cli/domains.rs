//! `domains`, `domains:add`, `domains:remove`.

use anyhow::Result;
use reqwest::Method;

use crate::wire::{AddDomain, DomainInfo};

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let domains: Vec<DomainInfo> = ctx
        .client
        .get(&format!("{}/domains", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&domains);
    }
    output::heading(&format!("{app} Domains"));
    let rows: Vec<Vec<String>> = domains
        .into_iter()
        .map(|d| vec![d.hostname, d.dns_hint])
        .collect();
    output::table(&["DOMAIN", "DNS"], &rows);
    Ok(())
}

pub async fn add(ctx: &Ctx, hostname: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Adding {hostname} to {app}"));
    let domain: DomainInfo = ctx
        .client
        .post(
            &format!("{}/domains", app_path(&app)),
            &AddDomain {
                hostname: hostname.to_owned(),
            },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    println!("To finish, {}", domain.dns_hint);
    Ok(())
}

pub async fn remove(ctx: &Ctx, hostname: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Removing {hostname} from {app}"));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!("{}/domains/{hostname}", app_path(&app)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
