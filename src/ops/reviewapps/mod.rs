//! Review apps: a branch pushed to the parent's repository becomes its own app
//! (`PARENT-BRANCHSLUG`), deleting the branch destroys it, a review app without a push for
//! its parent's `expire_days` expires. Here: `reviewapps:enable`/`disable`, the list, which
//! branches of a push go to a review app (for `ops/push.rs`), destroying and expiry;
//! making one (config, add-ons copied from the parent's backup) is `create.rs`.

mod create;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{AppName, BranchPattern, DEFAULT_EXPIRE_DAYS, Invalid, Timestamp, is_expired};
use crate::store::{AppRow, NewEvent, ReviewAppRow, ReviewSettingsRow};
use crate::wire::{ReviewAppInfo, ReviewAppSettings, ReviewApps};

pub(crate) use create::for_branch;

use super::{Actor, OpsError, Platform, Progress, visible_app};

/// `paas reviewapps:enable [--pattern P] [--copy-addons] [--expire-days N]`.
pub async fn enable(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    wanted: ReviewAppSettings,
) -> Result<ReviewApps, OpsError> {
    let pattern = match wanted.pattern.as_deref() {
        Some(raw) => BranchPattern::parse(raw)?,
        None => BranchPattern::default(),
    };
    let expire_days = wanted.expire_days.unwrap_or(DEFAULT_EXPIRE_DAYS);
    if !(1..=365).contains(&expire_days) {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "--expire-days {expire_days}: give 1 to 365 days"
        ))));
    }
    let (copy_addons, enabled) = (wanted.copy_addons, wanted.enabled);
    let detail = if enabled {
        format!(
            "review apps on for branches matching {}{}, expiring after {expire_days} days without a push",
            pattern.as_str(),
            if copy_addons { ", add-ons copied" } else { "" }
        )
    } else {
        "review apps off (existing ones stay)".to_owned()
    };
    let action = if enabled {
        "reviewapps.enable"
    } else {
        "reviewapps.disable"
    };
    let (actor_in, name_in) = (actor.clone(), name.clone());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            if tx.review_app(app.id)?.is_some() {
                return Err(OpsError::Invalid(Invalid::new(format!(
                    "{} is a review app; enable review apps on its parent",
                    app.name
                ))));
            }
            tx.set_review_settings(&ReviewSettingsRow {
                app_id: app.id,
                enabled,
                pattern,
                copy_addons,
                expire_days,
            })?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action,
                detail: &detail,
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    list(p, actor, name).await
}

/// `paas reviewapps:disable`: no new review apps; existing ones stay until their branch
/// is deleted or they expire.
pub async fn disable(p: &Platform, actor: &Actor, name: &AppName) -> Result<ReviewApps, OpsError> {
    let current = list(p, actor, name).await?.settings;
    let off = ReviewAppSettings {
        enabled: false,
        ..current.unwrap_or(ReviewAppSettings {
            enabled: false,
            pattern: None,
            copy_addons: false,
            expire_days: None,
        })
    };
    enable(p, actor, name, off).await
}

/// `paas reviewapps`: the setting and the review apps of the app.
pub async fn list(p: &Platform, actor: &Actor, name: &AppName) -> Result<ReviewApps, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let (settings, apps) = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>((db.review_settings(app.id)?, db.review_apps_of(app.id)?))
        })
        .await?;
    Ok(ReviewApps {
        settings: settings.map(|s| ReviewAppSettings {
            enabled: s.enabled,
            pattern: Some(s.pattern.as_str().to_owned()),
            copy_addons: s.copy_addons,
            expire_days: Some(s.expire_days),
        }),
        apps: apps
            .into_iter()
            .map(|r| ReviewAppInfo {
                web_url: p.web_url(&r.name),
                name: r.name.to_string(),
                branch: r.branch,
                last_push_at: r.last_push_at.rfc3339(),
            })
            .collect(),
    })
}

/// What a push to a parent's repository may do with its branches other than the deploy
/// branch, read once per push.
pub(crate) struct Branches {
    settings: Option<ReviewSettingsRow>,
    apps: Vec<ReviewAppRow>,
}

impl Branches {
    pub(crate) async fn of(p: &Platform, parent: &AppRow) -> Result<Branches, OpsError> {
        let id = parent.id;
        p.store
            .read(move |db| {
                Ok::<_, OpsError>(Branches {
                    settings: db.review_settings(id)?,
                    apps: db.review_apps_of(id)?,
                })
            })
            .await
    }

    /// A push of `branch` deploys a review app: it has one, or review apps are on and the
    /// branch matches.
    pub(crate) fn deploys(&self, branch: &str) -> bool {
        self.apps.iter().any(|a| a.branch == branch)
            || self
                .settings
                .as_ref()
                .is_some_and(|s| s.enabled && s.pattern.matches(branch))
    }

    pub(crate) fn settings(&self) -> Option<&ReviewSettingsRow> {
        self.settings.as_ref()
    }

    /// What the refusal of another branch adds when review apps are on.
    pub(crate) fn hint(&self) -> String {
        match &self.settings {
            Some(s) if s.enabled => format!(
                "; review apps deploy branches matching {} (paas reviewapps)",
                s.pattern.as_str()
            ),
            _ => String::new(),
        }
    }
}

/// A push reached the review app: its expiry starts over.
pub(crate) async fn pushed(p: &Platform, review: &AppRow) -> Result<(), OpsError> {
    let id = review.id;
    Ok(p.store.write(move |tx| tx.touch_review_app(id)).await?)
}

/// `git push paas :BRANCH`: runs app.json's `scripts.pr-predestroy` as a one-off of the
/// branch's review app, then destroys it (its add-ons too, no final backup). A branch
/// without a review app has nothing to destroy. The ref is the caller's to delete.
pub(crate) async fn destroy_for_branch(
    p: &Platform,
    actor: &Actor,
    parent: &AppRow,
    branch: &str,
    progress: &Progress,
) -> Result<(), OpsError> {
    let (id, branch_in) = (parent.id, branch.to_owned());
    let review = p
        .store
        .read(move |db| db.review_app_of_branch(id, &branch_in))
        .await?;
    let Some(review) = review else {
        return Ok(());
    };
    let wait = Duration::from_secs(p.settings.deploy_wait);
    let _guard = p
        .deploys
        .acquire(review.name.as_str(), progress, wait)
        .await?;
    destroy(p, actor.name(), &review, progress).await
}

/// Destroys every review app of `parent` (before `apps:destroy` of the parent).
pub(crate) async fn destroy_all_of(
    p: &Platform,
    actor: &str,
    parent: &AppRow,
) -> Result<(), OpsError> {
    let id = parent.id;
    let reviews = p.store.read(move |db| db.review_apps_of(id)).await?;
    for review in reviews {
        destroy(p, actor, &review, &Progress::silent()).await?;
    }
    Ok(())
}

/// pr-predestroy (its failure is reported, the destroy goes on), then the app is gone.
async fn destroy(
    p: &Platform,
    actor: &str,
    review: &ReviewAppRow,
    progress: &Progress,
) -> Result<(), OpsError> {
    let id = review.app_id;
    let (app, script) = p
        .store
        .read(move |db| {
            let app = db.app_by_id(id)?;
            let build = match db.latest_live_release(id)?.and_then(|r| r.build_id) {
                Some(build) => db.build(build)?,
                None => None,
            };
            let script = build.and_then(|b| b.app_json.scripts.pr_predestroy);
            Ok::<_, OpsError>((app, script))
        })
        .await?;
    let Some(app) = app else {
        return Ok(());
    };
    if let Some(script) = script {
        progress.step(format!("Running pr-predestroy: {script}"));
        let lines = progress.clone();
        let output: crate::scheduler::OneOffOutput = Box::new(move |line| lines.detail(line));
        match p.scheduler.run(&app, &script, Some(output)).await {
            Ok((_, Some(0))) => {}
            Ok((dyno, code)) => progress.detail(format!(
                "{dyno} exited with {}; destroying anyway",
                code.map_or("no exit code".into(), |c| c.to_string())
            )),
            Err(e) => progress.detail(format!("pr-predestroy did not run: {e}; destroying anyway")),
        }
    }
    progress.step(format!("Destroying review app {}", app.name));
    super::apps::remove(p, actor, &app).await?;
    let (actor, parent, detail) = (
        actor.to_owned(),
        review.parent.to_string(),
        format!("destroyed review app {} of {}", app.name, review.branch),
    );
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor,
                app_name: Some(&parent),
                action: "reviewapp.destroy",
                detail: &detail,
            })
        })
        .await?;
    Ok(())
}

/// Destroys review apps without a push for their parent's `expire_days` (and their
/// branch in the parent's repository), every `PAAS_REVIEW_APPS_CHECK_SECS`, until
/// `shutdown`.
pub async fn run_expiry(p: Platform, shutdown: CancellationToken) {
    let every = Duration::from_secs(p.settings.review_apps_check_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = expire(&p).await {
            tracing::warn!(error = %e, "review app expiry");
        }
    }
}

async fn expire(p: &Platform) -> Result<(), OpsError> {
    let now = Timestamp::now().0;
    let all = p.store.read(|db| db.review_apps_with_expiry()).await?;
    for review in expired(all, now) {
        let progress = Progress::silent();
        let Ok(_guard) = p
            .deploys
            .acquire(review.name.as_str(), &progress, Duration::ZERO)
            .await
        else {
            continue; // a deploy is running: it is being pushed to
        };
        if let Err(e) = destroy(p, "paas", &review, &progress).await {
            tracing::warn!(app = %review.name, error = %e, "an expired review app stays");
            continue;
        }
        p.logs.platform(
            review.parent.as_str(),
            "reviewapps",
            format!("review app {} expired and was destroyed", review.name),
        );
        if let Err(e) = p.repos.delete_branch(&review.parent, &review.branch).await {
            tracing::warn!(app = %review.parent, error = %e, "the branch of an expired review app stays");
        }
    }
    Ok(())
}

/// The review apps whose last push is `expire_days` or more before `now`.
fn expired(all: Vec<(ReviewAppRow, u32)>, now: i64) -> Vec<ReviewAppRow> {
    all.into_iter()
        .filter(|(r, days)| is_expired(r.last_push_at.0, *days, now))
        .map(|(r, _)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, last_push: i64) -> ReviewAppRow {
        ReviewAppRow {
            app_id: 1,
            name: AppName::parse(name).unwrap(),
            parent_id: 2,
            parent: AppName::parse("shop").unwrap(),
            branch: name.to_owned(),
            last_push_at: Timestamp(last_push),
        }
    }

    #[test]
    fn only_review_apps_past_their_parents_days_expire() {
        let now = 100 * 86_400;
        let all = vec![
            (row("shop-old", now - 5 * 86_400), 5),
            (row("shop-fresh", now - 4 * 86_400), 5),
            (row("shop-short", now - 86_400), 1),
        ];
        let names: Vec<String> = expired(all, now)
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["shop-old", "shop-short"]);
    }
}
