//! The add-ons tab of an app: each attached add-on (kind, version, state with the reason,
//! the `NAME_URL` it is attached as, masked until revealed, size, memory), and the forms
//! over `ops::addons` and `ops::backups`: create, attach, detach, restart, destroy, and a
//! Postgres add-on's backups (capture, download, restore, daily schedule).
//!
//! The URLs hold the add-on's password, so unlike the config page they are not even
//! put into the page until `?reveal=1` asks for them.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::{AddonKind, AppName, Invalid};
use crate::ops::{self, OpsError, Platform, Progress};
use crate::wire::{AddonChanged, AddonInfo, AttachAddon, BackupInfo, CreateAddon};

use super::apps::{AppHead, load, parse_name};
use super::error::WebError;
use super::extract::{Ctx, Posted};
use super::flash::Flash;
use super::view::{Badge, Layout, Nav, When};

struct Card {
    name: String,
    kind: String,
    version: String,
    state: Badge,
    reason: Option<String>,
    /// `DATABASE`, and the var the app reads: `DATABASE_URL`.
    attached_as: String,
    config_var: String,
    /// The var's value, only when the page was asked to reveal it.
    url: Option<String>,
    /// Made for this app: it can be destroyed here (others' add-ons are detached).
    owned: bool,
    owner: String,
    /// Other apps it is attached to: `other-app as CACHE`.
    shared_with: Vec<String>,
    size: String,
    created: When,
    memory_mb: u32,
    restarts: i64,
    postgres: bool,
    backup_at: Option<String>,
    backups: Vec<Backup>,
}

struct Backup {
    id: i64,
    /// `b003`.
    label: String,
    created: When,
    size: String,
    trigger: String,
    state: Badge,
    reason: Option<String>,
    good: bool,
}

#[derive(Template)]
#[template(path = "app_addons.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    cards: Vec<Card>,
    /// Backups of add-ons no longer attached (a destroyed database's final backup).
    orphans: Vec<Backup>,
    /// The app has a Postgres add-on an orphan backup can be restored into.
    has_postgres: bool,
    revealed: bool,
    kinds: Vec<&'static str>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    reveal: Option<String>,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Query(q): Query<PageQuery>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "addons").await?;
    let revealed = q.reveal.is_some_and(|r| r == "1");
    let addons = ops::addons::list(&p, &actor, &name).await?;
    let config = if revealed {
        ops::config::get(&p, &actor, &name).await?
    } else {
        Default::default()
    };
    let mut backups = ops::backups::list(&p, &actor, &name).await?;
    let cards = addons
        .into_iter()
        .map(|a| card(&name, a, &config, &mut backups))
        .collect::<Vec<_>>();
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · add-ons")),
        app: head,
        has_postgres: cards.iter().any(|c| c.postgres),
        cards,
        orphans: backups.into_iter().map(backup).collect(),
        revealed,
        kinds: AddonKind::ALL.iter().map(|k| k.as_str()).collect(),
    };
    Ok(ctx.page(page))
}

/// The card of one add-on; its backups are taken out of `backups`.
fn card(
    app: &AppName,
    a: AddonInfo,
    config: &std::collections::BTreeMap<String, String>,
    backups: &mut Vec<BackupInfo>,
) -> Card {
    let here = a.attachments.iter().find(|at| at.app == app.as_str());
    let (attached_as, config_var) = here
        .map(|at| (at.name.clone(), at.config_var.clone()))
        .unwrap_or_default();
    let shared_with = a
        .attachments
        .iter()
        .filter(|at| at.app != app.as_str())
        .map(|at| format!("{} as {}", at.app, at.name))
        .collect();
    let (mine, rest): (Vec<BackupInfo>, Vec<BackupInfo>) = std::mem::take(backups)
        .into_iter()
        .partition(|b| b.addon == a.name);
    *backups = rest;
    Card {
        url: config.get(&config_var).cloned(),
        state: Badge::state(&a.state),
        reason: a.reason.filter(|_| a.state != "up"),
        owned: a.app == app.as_str(),
        postgres: a.kind == AddonKind::Postgres.as_str(),
        size: a.bytes.map_or_else(|| "unknown".to_owned(), size),
        created: When::parse(&a.created_at),
        backups: mine.into_iter().map(backup).collect(),
        name: a.name,
        kind: a.kind,
        version: a.version,
        attached_as,
        config_var,
        owner: a.app,
        shared_with,
        memory_mb: a.memory_mb,
        restarts: a.restarts,
        backup_at: a.backup_at,
    }
}

fn backup(b: BackupInfo) -> Backup {
    Backup {
        label: format!("b{:03}", b.id),
        id: b.id,
        created: When::parse(&b.created_at),
        size: b
            .size
            .map_or_else(|| "-".to_owned(), |s| size(u64::try_from(s).unwrap_or(0))),
        good: b.state == "succeeded",
        state: Badge::state(&b.state),
        reason: b.reason,
        trigger: b.trigger,
    }
}

/// `12.3 MB`, as `paas addons` writes it.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.0} kB", b as f64 / 1e3),
    }
}

fn back(name: &AppName) -> String {
    format!("/apps/{name}/addons")
}

/// An optional text field: empty means not given.
fn given(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_owned())
}

/// `released v5` of what attaching or detaching did, or nothing.
fn released(changed: &AddonChanged) -> String {
    changed
        .release
        .as_ref()
        .map(|r| format!("; released v{}", r.version))
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    kind: String,
    #[serde(default, rename = "as")]
    attach_as: String,
}

pub async fn create(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<CreateForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let request = CreateAddon {
        kind: form.kind.trim().to_owned(),
        attach_as: given(&form.attach_as),
    };
    let result = ops::addons::create(&p, ctx.actor(), &name, request, &Progress::silent())
        .await
        .map(|changed| {
            let var = changed
                .addon
                .attachments
                .iter()
                .find(|a| a.app == name.as_str())
                .map(|a| format!(", attached as {} ({} set)", a.name, a.config_var))
                .unwrap_or_default();
            Flash::notice(format!(
                "created {} ({} {}){var}{}",
                changed.addon.name,
                changed.addon.kind,
                changed.addon.version,
                released(&changed)
            ))
        });
    ctx.finish(&back(&name), result)
}

#[derive(Deserialize)]
pub struct AttachForm {
    #[serde(default)]
    addon: String,
    #[serde(default, rename = "as")]
    attach_as: String,
}

pub async fn attach(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AttachForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim().to_owned();
    let request = AttachAddon {
        attach_as: given(&form.attach_as),
    };
    // An app the user cannot see is not found before any add-on is looked up.
    let result = match ops::apps::find(&p, ctx.actor(), &name).await {
        Ok(_) => {
            ops::addons::attach(&p, ctx.actor(), &name, &addon, request, &Progress::silent()).await
        }
        Err(e) => Err(e),
    }
    .map(|changed| {
        let var = changed
            .addon
            .attachments
            .iter()
            .find(|a| a.app == name.as_str())
            .map(|a| format!(" as {} ({} set)", a.name, a.config_var))
            .unwrap_or_default();
        Flash::notice(format!(
            "attached {}{var} to {name}{}",
            changed.addon.name,
            released(&changed)
        ))
    });
    ctx.finish(&back(&name), result)
}

/// A form naming one add-on of the app.
#[derive(Deserialize)]
pub struct AddonForm {
    #[serde(default)]
    addon: String,
}

pub async fn detach(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AddonForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim();
    let result = match ops::addons::check_attached(&p, ctx.actor(), &name, addon).await {
        Ok(()) => ops::addons::detach(&p, ctx.actor(), &name, addon, &Progress::silent())
            .await
            .map(|changed| {
                Flash::notice(format!(
                    "detached {} from {name}{}",
                    changed.addon.name,
                    released(&changed)
                ))
            }),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

pub async fn restart(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AddonForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim();
    let result = match ops::addons::check_attached(&p, ctx.actor(), &name, addon).await {
        Ok(()) => ops::addons::restart(&p, ctx.actor(), addon)
            .await
            .map(|info| Flash::notice(format!("restarted {}; it is {}", info.name, info.state))),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

#[derive(Deserialize)]
pub struct DestroyForm {
    #[serde(default)]
    addon: String,
    #[serde(default)]
    confirm: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    no_backup: Option<String>,
}

pub async fn destroy(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<DestroyForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim();
    let result = match ops::addons::check_attached(&p, ctx.actor(), &name, addon).await {
        Ok(()) => ops::addons::destroy(
            &p,
            ctx.actor(),
            addon,
            form.confirm.trim(),
            form.no_backup.is_some(),
            &Progress::silent(),
        )
        .await
        .map(|()| Flash::notice(format!("destroyed {addon} and its data"))),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

pub async fn capture(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<AddonForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim();
    let result = match ops::addons::check_attached(&p, ctx.actor(), &name, addon).await {
        Ok(()) => ops::backups::capture(&p, ctx.actor(), &name, Some(addon), &Progress::silent())
            .await
            .map(|b| {
                Flash::notice(format!(
                    "captured b{:03} of {addon} ({})",
                    b.id,
                    size(b.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
                ))
            }),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

/// The dump file, streamed as the API's download does.
pub async fn download(
    State(p): State<Platform>,
    Path((app, id)): Path<(String, String)>,
    ctx: Ctx,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let found = match backup_id(&id) {
        Ok(id) => ops::backups::file(&p, ctx.actor(), &name, Some(id)).await,
        Err(e) => Err(OpsError::Invalid(e)),
    };
    let (backup, path) = match found {
        Ok(found) => found,
        Err(e) => return ctx.finish(&back(&name), Err(e)),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            let e = OpsError::Internal(format!("cannot read backup b{:03}: {e}", backup.id));
            return ctx.finish(&back(&name), Err(e));
        }
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-b{:03}.dump\"", backup.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    if let Some(size) = backup.size.filter(|s| *s > 0)
        && let Ok(value) = HeaderValue::from_str(&size.to_string())
    {
        response.headers_mut().insert(header::CONTENT_LENGTH, value);
    }
    if let Some(sha) = backup.sha256.as_deref()
        && let Ok(value) = HeaderValue::from_str(sha)
    {
        response.headers_mut().insert("x-paas-sha256", value);
    }
    Ok(response)
}

/// `b003` or `3`.
fn backup_id(raw: &str) -> Result<i64, Invalid> {
    raw.trim()
        .trim_start_matches('b')
        .parse()
        .map_err(|_| Invalid::new(format!("invalid backup \"{raw}\": write it as b003")))
}

#[derive(Deserialize)]
pub struct RestoreForm {
    #[serde(default)]
    id: String,
    /// The add-on to restore into; empty: the app's Postgres add-on.
    #[serde(default)]
    addon: String,
    #[serde(default)]
    confirm: String,
}

pub async fn restore(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<RestoreForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = given(&form.addon);
    let checked = match (&addon, backup_id(&form.id)) {
        (_, Err(e)) => Err(OpsError::Invalid(e)),
        (Some(addon), Ok(id)) => ops::addons::check_attached(&p, ctx.actor(), &name, addon)
            .await
            .map(|()| id),
        (None, Ok(id)) => Ok(id),
    };
    let result = match checked {
        Ok(id) => ops::backups::restore(
            &p,
            ctx.actor(),
            &name,
            Some(id),
            addon.as_deref(),
            form.confirm.trim(),
            &Progress::silent(),
        )
        .await
        .map(|b| {
            Flash::notice(format!(
                "restored b{:03} into {}",
                b.id,
                addon.as_deref().unwrap_or("the app's database")
            ))
        }),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    addon: String,
    /// `HH:MM` UTC; empty or `off` stops scheduled backups.
    #[serde(default)]
    at: String,
}

pub async fn schedule(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Posted(ctx, form): Posted<ScheduleForm>,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let addon = form.addon.trim();
    let at = given(&form.at).filter(|at| !at.eq_ignore_ascii_case("off"));
    let result = match ops::addons::check_attached(&p, ctx.actor(), &name, addon).await {
        Ok(()) => ops::backups::schedule(&p, ctx.actor(), &name, Some(addon), at.as_deref())
            .await
            .map(|at| {
                Flash::notice(match at {
                    Some(at) => format!("{addon} is backed up daily at {at} UTC"),
                    None => format!("no more scheduled backups of {addon}"),
                })
            }),
        Err(e) => Err(e),
    };
    ctx.finish(&back(&name), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_ids_are_written_as_b003_or_3() {
        assert_eq!(backup_id("b003").ok(), Some(3));
        assert_eq!(backup_id("12").ok(), Some(12));
        assert!(backup_id("latest").is_err());
        assert!(backup_id("b").is_err());
    }

    #[test]
    fn sizes_read_like_the_cli() {
        assert_eq!(size(512), "1 kB");
        assert_eq!(size(7_654_321), "7.7 MB");
        assert_eq!(size(2_500_000_000), "2.5 GB");
    }
}
