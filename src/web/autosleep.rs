//! The Scale page's autosleep switch: on (with its idle time and the types kept awake) or
//! off, through the same `ops::autosleep::set` as the API.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::ops::{self, Platform};
use crate::wire::AutosleepPatch;

use super::apps::parse_name;
use super::error::WebError;
use super::extract::Posted;
use super::flash::Flash;

#[derive(Deserialize)]
pub struct AutosleepForm {
    /// The checkbox: present when ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    after: String,
    #[serde(default)]
    keep: String,
}

pub async fn set(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AutosleepForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let after = Some(form.after.trim().to_owned()).filter(|a| !a.is_empty());
    let patch = AutosleepPatch {
        enabled: form.enabled.is_some(),
        after,
        keep: vec![form.keep],
    };
    let result = ops::autosleep::set(&p, ctx.actor(), &name, patch)
        .await
        .map(|info| {
            Flash::notice(match info.after {
                Some(after) => format!("{name} sleeps after {after} without a request"),
                None => format!("autosleep is off: {name} stays awake"),
            })
        });
    ctx.finish(&format!("/apps/{name}/scale"), result)
}
