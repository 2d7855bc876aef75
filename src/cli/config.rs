//! `config`, `config:get`, `config:set`, `config:unset` (per app, or `--global`).

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::domain::decode_encoded_value;
use crate::wire::{ConfigPatch, ConfigUpdated};

use super::{Ctx, app_path, output};

fn config_path(ctx: &Ctx, global: bool) -> Result<String> {
    Ok(if global {
        "/api/v1/config".to_owned()
    } else {
        format!("{}/config", app_path(&ctx.app()?))
    })
}

pub async fn show(ctx: &Ctx, global: bool, shell: bool) -> Result<()> {
    let vars: BTreeMap<String, String> = ctx.client.get(&config_path(ctx, global)?).await?;
    if ctx.json {
        return output::json(&vars);
    }
    if shell {
        for (key, value) in &vars {
            println!("{key}={}", shell_quote(value));
        }
        return Ok(());
    }
    let title = if global {
        "Platform-wide".to_owned()
    } else {
        ctx.app()?
    };
    output::heading(&format!("{title} Config Vars"));
    output::key_values(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(())
}

pub async fn get(ctx: &Ctx, key: &str, global: bool) -> Result<()> {
    let vars: BTreeMap<String, String> = ctx.client.get(&config_path(ctx, global)?).await?;
    if ctx.json {
        return output::json(&vars.get(key));
    }
    println!("{}", vars.get(key).map(String::as_str).unwrap_or(""));
    Ok(())
}

pub async fn set(
    ctx: &Ctx,
    pairs: &[String],
    global: bool,
    encoded: bool,
    no_wait: bool,
) -> Result<()> {
    let mut patch = ConfigPatch::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("cannot read \"{pair}\": write KEY=VALUE, e.g. paas config:set DEBUG=0");
        };
        let value = if encoded {
            decode_encoded_value(key, value)?
        } else {
            value.to_owned()
        };
        patch.insert(key.to_owned(), Some(value));
    }
    let keys: Vec<&str> = patch.keys().map(String::as_str).collect();
    let action = format!("Setting {}", keys.join(", "));
    let updated = apply(ctx, &action, global, no_wait, &patch).await?;
    if !ctx.json {
        output::key_values(
            updated
                .vars
                .iter()
                .filter(|(k, _)| patch.contains_key(*k))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    Ok(())
}

pub async fn unset(ctx: &Ctx, keys: &[String], global: bool, no_wait: bool) -> Result<()> {
    let patch: ConfigPatch = keys.iter().map(|k| (k.clone(), None)).collect();
    let action = format!("Unsetting {}", keys.join(", "));
    apply(ctx, &action, global, no_wait, &patch).await?;
    Ok(())
}

/// Sends the patch and prints Heroku's one line: `Setting A and restarting app... done, v2`.
async fn apply(
    ctx: &Ctx,
    action: &str,
    global: bool,
    no_wait: bool,
    patch: &ConfigPatch,
) -> Result<ConfigUpdated> {
    let mut path = config_path(ctx, global)?;
    if no_wait {
        path.push_str("?wait=false");
    }
    let what = if global {
        format!("{action} globally")
    } else {
        format!("{action} and restarting {}", ctx.app()?)
    };
    if !ctx.json {
        output::begin(&what);
    }
    let updated: ConfigUpdated = match ctx.client.patch(&path, patch).await {
        Ok(updated) => updated,
        Err(e) => {
            if !ctx.json {
                println!("failed");
            }
            return Err(e);
        }
    };
    if ctx.json {
        output::json(&updated)?;
    } else {
        match &updated.release {
            Some(release) => println!("{}", output::release_outcome(release)),
            None => println!("done"),
        }
    }
    Ok(updated)
}

/// Single quotes, with embedded ones closed and escaped, so `eval` reads the value back.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
