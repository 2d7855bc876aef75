//! `access`, `access:add`, `access:remove`, `apps:transfer`.

use anyhow::Result;
use reqwest::Method;

use crate::wire::MemberRequest;

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let users: Vec<String> = ctx
        .client
        .get(&format!("{}/members", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&users);
    }
    output::heading(&format!("{app} Access"));
    for (i, user) in users.iter().enumerate() {
        let role = if i == 0 { "owner" } else { "member" };
        println!("{user}  {role}");
    }
    Ok(())
}

pub async fn add(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Giving {user} access to {app}"));
    ctx.client
        .call(
            Method::POST,
            &format!("{}/members", app_path(&app)),
            Some(&MemberRequest {
                user: user.to_owned(),
            }),
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

pub async fn remove(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Removing {user}'s access to {app}"));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!("{}/members/{user}", app_path(&app)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

pub async fn transfer(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Transferring {app} to {user}"));
    ctx.client
        .call(
            Method::PUT,
            &format!("{}/owner", app_path(&app)),
            Some(&MemberRequest {
                user: user.to_owned(),
            }),
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
