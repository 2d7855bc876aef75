//! `tokens`, `tokens:create`, `tokens:revoke`.

use anyhow::Result;
use reqwest::Method;

use crate::wire::{CreateToken, CreatedToken, TokenInfo};

use super::{Ctx, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let tokens: Vec<TokenInfo> = ctx.client.get("/api/v1/tokens").await?;
    if ctx.json {
        return output::json(&tokens);
    }
    let rows: Vec<Vec<String>> = tokens
        .into_iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.name,
                t.user,
                t.created_at,
                t.last_used_at.unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    output::table(&["ID", "NAME", "USER", "CREATED", "LAST USED"], &rows);
    Ok(())
}

pub async fn create(ctx: &Ctx, name: &str) -> Result<()> {
    let created: CreatedToken = ctx
        .client
        .post(
            "/api/v1/tokens",
            &CreateToken {
                name: name.to_owned(),
            },
        )
        .await?;
    if ctx.json {
        return output::json(&created);
    }
    println!(
        "Created token {} \"{}\" (shown only now):",
        created.id, created.name
    );
    println!("{}", created.token);
    Ok(())
}

pub async fn revoke(ctx: &Ctx, id: i64) -> Result<()> {
    output::begin(&format!("Revoking token {id}"));
    ctx.client
        .call::<()>(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
