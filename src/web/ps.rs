//! Scaling: the quantity of every process type in one form, applied with one submit;
//! restarting processes; the Scale page's autosleep card (its form posts to autosleep.rs).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::{DEFAULT_IDLE, Invalid, ProcessType, ScaleRequest, format_idle};
use crate::ops::{self, OpsError, Platform};
use crate::wire::{AutosleepInfo, FormationEntry};

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Layout, Nav};

/// Form fields of the scale form are named `q.TYPE`.
const QUANTITY_PREFIX: &str = "q.";

struct Row {
    process_type: String,
    command: Option<String>,
    quantity: u32,
    memory_mb: u32,
    up: usize,
}

#[derive(Template)]
#[template(path = "app_scale.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    rows: Vec<Row>,
    /// No build has declared process types yet.
    undeclared: bool,
    sleep: AutosleepInfo,
    /// The idle time field's value (the current one, else the default).
    sleep_after: String,
    sleep_keep: String,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "scale").await?;
    let mut formation = ops::ps::formation(&p, &actor, &name).await?;
    let processes = ops::ps::processes(&p, &actor, &name).await?;
    let undeclared = formation.iter().all(|f| f.command.is_none());
    if formation.is_empty() {
        // Before the first deploy, offer what the first deploy will start.
        formation.push(FormationEntry {
            process_type: "web".into(),
            quantity: 1,
            memory_mb: p.settings.default_memory_mb,
            command: None,
        });
    }
    let rows = formation
        .into_iter()
        .map(|f| Row {
            up: processes
                .iter()
                .filter(|p| p.process_type == f.process_type && p.state == "up")
                .count(),
            process_type: f.process_type,
            command: f.command,
            quantity: f.quantity,
            memory_mb: f.memory_mb,
        })
        .collect();
    let sleep = ops::autosleep::show(&p, &actor, &name).await?;
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · scale")),
        app: head,
        rows,
        undeclared,
        sleep_after: sleep
            .after
            .clone()
            .unwrap_or_else(|| format_idle(DEFAULT_IDLE)),
        sleep_keep: sleep.keep.join(","),
        sleep,
    };
    Ok(ctx.page(page))
}

pub async fn scale(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let back = format!("/apps/{name}/scale");
    let result = match scale_request(&form) {
        Ok(request) => ops::ps::scale(&p, ctx.actor(), &name, request, true)
            .await
            .map(|formation| {
                let summary: Vec<String> = formation
                    .iter()
                    .map(|f| format!("{}={}", f.process_type, f.quantity))
                    .collect();
                Flash::notice(format!("scaled {name} to {}", summary.join(", ")))
            }),
        Err(e) => Err(OpsError::Invalid(e)),
    };
    ctx.finish(&back, result)
}

/// `q.web=2&q.worker=0` -> the validated request.
fn scale_request(form: &BTreeMap<String, String>) -> Result<ScaleRequest, Invalid> {
    let mut quantities = BTreeMap::new();
    for (field, value) in form {
        let Some(process_type) = field.strip_prefix(QUANTITY_PREFIX) else {
            continue;
        };
        let value = value.trim();
        let quantity = value.parse().map_err(|_| {
            Invalid::new(format!(
                "\"{value}\" is not a number of {process_type} instances; enter a whole number like 2"
            ))
        })?;
        quantities.insert(ProcessType::parse(process_type)?, quantity);
    }
    ScaleRequest::new(quantities)
}

#[derive(Deserialize)]
pub struct RestartForm {
    #[serde(default)]
    process_type: String,
}

pub async fn restart(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<RestartForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let which = Some(form.process_type.trim()).filter(|t| !t.is_empty());
    let result = ops::ps::restart(&p, ctx.actor(), &name, which, true)
        .await
        .map(|()| {
            Flash::notice(match which {
                Some(t) => format!("restarted the {t} processes of {name}, one at a time"),
                None => format!("restarted every process of {name}, one at a time"),
            })
        });
    ctx.finish(&format!("/apps/{name}"), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_fields_become_one_request_and_other_fields_are_ignored() {
        let form = BTreeMap::from([
            ("csrf".to_owned(), "x".to_owned()),
            ("q.web".to_owned(), " 2 ".to_owned()),
            ("q.worker".to_owned(), "0".to_owned()),
        ]);
        let request = scale_request(&form).unwrap();
        assert_eq!(
            request,
            ScaleRequest::parse_args(&["web=2", "worker=0"]).unwrap()
        );
    }

    #[test]
    fn a_quantity_that_is_not_a_number_says_what_to_enter() {
        let form = BTreeMap::from([("q.web".to_owned(), "two".to_owned())]);
        let err = scale_request(&form).unwrap_err();
        assert!(err.0.contains("whole number"), "{err:?}");
        assert!(scale_request(&BTreeMap::new()).is_err());
    }
}
