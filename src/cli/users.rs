//! `users`, `users:create`, `users:passwd`, `users:destroy`.

use anyhow::{Context, Result, bail};
use reqwest::Method;

use crate::wire::{CreateUser, CreatedUser, SetPassword, UserInfo, WhoAmI};

use super::{Ctx, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let users: Vec<UserInfo> = ctx.client.get("/api/v1/users").await?;
    if ctx.json {
        return output::json(&users);
    }
    let rows: Vec<Vec<String>> = users
        .into_iter()
        .map(|u| {
            let role = if u.admin { "admin" } else { "member" };
            vec![u.name, role.to_owned(), u.created_at]
        })
        .collect();
    output::table(&["NAME", "ROLE", "CREATED"], &rows);
    Ok(())
}

pub async fn create(ctx: &Ctx, name: &str, admin: bool, ask_password: bool) -> Result<()> {
    let password = if ask_password {
        Some(
            rpassword::prompt_password(format!("Password for {name}: "))
                .context("cannot read the password")?,
        )
    } else {
        None
    };
    output::begin(&format!("Creating user {name}"));
    let created: CreatedUser = ctx
        .client
        .post(
            "/api/v1/users",
            &CreateUser {
                name: name.to_owned(),
                password,
                admin,
            },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    if let Some(password) = created.generated_password {
        println!("Password: {password}   (shown only now; they log in with paas login)");
    }
    Ok(())
}

pub async fn passwd(ctx: &Ctx, name: Option<String>, revoke_tokens: bool) -> Result<()> {
    let me = ctx.client.get::<WhoAmI>("/api/v1/whoami").await?.name;
    let name = name.unwrap_or_else(|| me.clone());
    // One's own password changes only with the current one (a stolen token is not enough).
    let current_password = if name == me {
        Some(
            rpassword::prompt_password("Current password: ")
                .context("cannot read the current password")?,
        )
    } else {
        None
    };
    let password = rpassword::prompt_password(format!("New password for {name}: "))
        .context("cannot read the password")?;
    output::begin(&format!("Setting {name}'s password"));
    ctx.client
        .call(
            Method::POST,
            &format!("/api/v1/users/{name}/password"),
            Some(&SetPassword {
                password,
                current_password,
                revoke_tokens,
            }),
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    if revoke_tokens {
        println!("Every token of {name} was revoked; log in again with paas login");
    }
    Ok(())
}

pub async fn destroy(ctx: &Ctx, name: &str, confirm: Option<String>) -> Result<()> {
    let Some(confirm) = confirm else {
        bail!(
            "this removes {name} and their tokens; to proceed run paas users:destroy {name} --confirm {name}"
        );
    };
    output::begin(&format!("Removing {name}"));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!("/api/v1/users/{name}?confirm={confirm}"),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
