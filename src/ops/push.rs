//! A `git push`: which ref updates are allowed (the deploy branch, review apps' branches),
//! one deploy per app at a time, and the pipeline of a deploy (build the pushed commit,
//! release it with the app's current config, roll it out). The branch moves only when the
//! pipeline succeeds.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::build::BuildPolicy;
use crate::domain::{
    ConfigVars, EnvPlan, Invalid, ProcessType, ReleaseState, ScaleRequest, review_app_name,
};
use crate::git::push::Push;
use crate::git::quarantine::PushedObjects;
use crate::git::request::{RefUpdate, RefUpdateKind};
use crate::release::Description;
use crate::store::{AppRow, BuildRow, NewEvent, NewRelease, ReleaseRow};
use crate::wire::ReleaseInfo;

use super::deploys::DeployGuard;
use super::ps::set_quantities;
use super::releases::hand_over;
use super::{Actor, OpsError, Platform, Progress, reviewapps};

/// Decides every command of a received push and runs the deploy pipeline for the deploy
/// branch or a review app's branch (`reviewapps/`); the deploy lock it returns is to be
/// held until the refs have moved (ops/git.rs moves them and reports to the pusher).
pub(super) async fn decide(
    p: &Platform,
    actor: &Actor,
    app: &AppRow,
    push: &mut Push,
    progress: &Progress,
) -> Option<DeployGuard> {
    let branches = match reviewapps::Branches::of(p, app).await {
        Ok(branches) => branches,
        Err(e) => {
            push.reject_pending(&one_line(&e.to_string()));
            return None;
        }
    };
    let (deploy, deletes) = sort_commands(app, &branches, push);
    for (refname, branch) in deletes {
        if let Err(e) = reviewapps::destroy_for_branch(p, actor, app, &branch, progress).await {
            progress.line(format!(" !     {e}"));
            push.reject(&refname, one_line(&e.to_string()));
        }
    }
    let (command, target) = deploy?;
    let lock_name = match &target {
        Target::App => app.name.clone(),
        Target::ReviewApp(branch) => match review_app_name(&app.name, branch) {
            Ok(name) => name,
            Err(e) => {
                push.reject(&command.refname, one_line(&e.to_string()));
                return None;
            }
        },
    };
    let wait = Duration::from_secs(p.settings.deploy_wait);
    let guard = match p.deploys.acquire(lock_name.as_str(), progress, wait).await {
        Ok(guard) => guard,
        Err(e) => {
            push.reject(&command.refname, one_line(&e.to_string()));
            return None;
        }
    };
    if push.is_stale(&command).await {
        let branch = command.refname.trim_start_matches("refs/heads/");
        push.reject(
            &command.refname,
            format!("{branch} changed while this push waited; fetch, merge and push again"),
        );
        return None;
    }
    let commit = command.new.to_string();
    let options = push.request.options.clone();
    let objects = push.objects();
    let deployed = async {
        let target_app = match &target {
            Target::App => app.clone(),
            Target::ReviewApp(branch) => {
                let pushed = (commit.as_str(), &objects);
                let settings = branches.settings();
                reviewapps::for_branch(p, actor, app, branch, settings, pushed, progress).await?
            }
        };
        let pushed = Pushed {
            commit: &commit,
            objects: &objects,
            options: &options,
        };
        let released = deploy_commit(p, actor, &target_app, pushed, &guard, progress).await;
        if matches!(target, Target::ReviewApp(_)) {
            reviewapps::pushed(p, &target_app).await?;
        }
        released
    };
    if let Err(e) = deployed.await {
        progress.line(format!(" !     {e}"));
        push.reject(&command.refname, one_line(&e.to_string()));
    }
    Some(guard)
}

/// Where a push's one deploy goes.
enum Target {
    /// The deploy branch: the app itself.
    App,
    /// Another branch: its review app (made on its first push).
    ReviewApp(String),
}

/// The command a push deploys, and where.
type Deploy = (RefUpdate, Target);

/// The deploy of a push (at most one: the deploy branch or one review app's branch) and
/// the review app branches it deletes (refname, branch); every other command is rejected.
fn sort_commands(
    app: &AppRow,
    branches: &reviewapps::Branches,
    push: &mut Push,
) -> (Option<Deploy>, Vec<(String, String)>) {
    let branch = app
        .deploy_branch
        .clone()
        .unwrap_or_else(|| "main".to_owned());
    let mut deploy_refs = vec![format!("refs/heads/{branch}")];
    if app.deploy_branch.is_none() {
        // Heroku's old default; accepted while the app never chose a branch.
        deploy_refs.push("refs/heads/master".to_owned());
    }
    let mut deploy: Option<Deploy> = None;
    let mut deletes = Vec::new();
    let pending: Vec<RefUpdate> = push.pending().cloned().collect();
    for command in pending {
        let delete = command.kind() == RefUpdateKind::Delete;
        let target = if deploy_refs.contains(&command.refname) {
            if delete {
                push.reject(
                    &command.refname,
                    format!("deleting the deploy branch is refused; to remove the app run paas apps:destroy {}", app.name),
                );
                continue;
            }
            Target::App
        } else {
            match command.refname.strip_prefix("refs/heads/") {
                // Only the deploy branch and review apps' branches are ever stored here,
                // so this deletes a review app's branch (or a leftover of an expired one).
                Some(other) if delete => {
                    deletes.push((command.refname.clone(), other.to_owned()));
                    continue;
                }
                Some(other) if branches.deploys(other) => Target::ReviewApp(other.to_owned()),
                _ => {
                    push.reject(
                        &command.refname,
                        format!(
                            "only {branch} deploys: git push paas HEAD:{branch}{}",
                            branches.hint()
                        ),
                    );
                    continue;
                }
            }
        };
        if deploy.is_some() {
            push.reject(&command.refname, "push one branch at a time".to_owned());
        } else {
            deploy = Some((command, target));
        }
    }
    (deploy, deletes)
}

/// A `[remote rejected]` reason is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The deploy branch's new commit, as received.
struct Pushed<'a> {
    commit: &'a str,
    objects: &'a PushedObjects,
    options: &'a [String],
}

/// Builds, releases and rolls out a pushed commit, under the app's deploy lock.
async fn deploy_commit(
    p: &Platform,
    actor: &Actor,
    app: &AppRow,
    pushed: Pushed<'_>,
    guard: &DeployGuard,
    progress: &Progress,
) -> Result<ReleaseInfo, OpsError> {
    let Pushed {
        commit,
        objects,
        options: push_options,
    } = pushed;
    let app_id = app.id;
    let config = p
        .store
        .read(move |db| {
            let mut env = db.global_config()?;
            env.extend(
                db.latest_config(app_id)?
                    .map(|c| c.vars)
                    .unwrap_or_default(),
            );
            Ok::<_, OpsError>(env)
        })
        .await?;
    if !push_options.is_empty() {
        progress.step(format!("Push options: {}", push_options.join(", ")));
    }
    let first_deploy = is_first_deploy(p, app_id).await?;
    let env = plan_env(p, (commit, objects), &config, first_deploy, progress).await?;
    let mut config = config;
    config.extend(env.set.clone());
    // What the pusher may name in the build (server buildpacks, base images) is theirs.
    let policy = BuildPolicy {
        admin: actor.is_admin(),
    };
    let building = guard.building();
    let build = p
        .builder
        .build(
            app,
            commit,
            objects,
            &config,
            (actor.name(), policy),
            progress,
            building.token(),
        )
        .await
        .map_err(|e| OpsError::Build(e.to_string()))?;
    drop(building);
    if first_deploy {
        provision_addons(p, actor, app, &build.app_json, progress).await?;
    }

    let description = Description::deploy(commit);
    let release = record_release(p, actor, app_id, build, env, description).await?;
    progress.step(format!("Releasing v{}", release.version));
    let released = hand_over(p, app, release, true, progress)
        .await
        .map_err(|e| match e {
            OpsError::Deploy(d) => OpsError::DeployFailed(d),
            other => other,
        })?;
    progress.step(format!("Deployed to {}", p.web_url(&app.name)));
    Ok(released)
}

/// The deploy's release, in one transaction: on the first deploy app.json's formation
/// (quantities within the limits of ps:scale, sizes as memory limits), the variables
/// app.json's `env` sets as a new config version, then the release and its events.
async fn record_release(
    p: &Platform,
    actor: &Actor,
    app_id: i64,
    build: BuildRow,
    env: EnvPlan,
    description: String,
) -> Result<ReleaseRow, OpsError> {
    let max_total = p.settings.max_app_processes;
    let actor_name = actor.name().to_owned();
    let release = p
        .store
        .write(move |tx| {
            // app.json's formation counts only on the first deploy, before any scaling,
            // and within the same limits as ps:scale.
            if tx.formation(app_id)?.is_empty() {
                for (process_type, memory) in build.app_json.formation_memory() {
                    tx.set_memory(app_id, &process_type, Some(memory))?;
                }
                let quantities = build
                    .app_json
                    .formation
                    .iter()
                    .filter_map(|(t, d)| d.quantity.map(|q| (t, q)))
                    .map(|(t, q)| Ok((ProcessType::parse(t)?, q)))
                    .collect::<Result<BTreeMap<_, _>, Invalid>>()
                    .map_err(|e| app_json_error(&e))?;
                if !quantities.is_empty() {
                    let request = ScaleRequest::new(quantities).map_err(|e| app_json_error(&e))?;
                    let app = tx.app_by_id(app_id)?.ok_or_else(|| {
                        OpsError::Internal(format!("app {app_id} vanished during a deploy"))
                    })?;
                    set_quantities(tx, &app, &[], &request, max_total).map_err(|e| match e {
                        OpsError::Invalid(e) => app_json_error(&e),
                        other => other,
                    })?;
                }
            }
            if !env.is_empty() {
                let names: Vec<&str> = env.set.keys().map(String::as_str).collect();
                tx.insert_event(NewEvent {
                    actor: &actor_name,
                    app_name: Some(&app_name_of(tx, app_id)?),
                    action: "config.set",
                    detail: &format!("set {} from app.json", names.join(", ")),
                })?;
            }
            let config = match tx.latest_config(app_id)? {
                Some(config) if env.is_empty() => config,
                latest => {
                    let mut vars = latest.map(|c| c.vars).unwrap_or_default();
                    vars.extend(env.set);
                    tx.insert_config_version(app_id, &vars)?
                }
            };
            let release = tx.insert_release(NewRelease {
                app_id,
                build_id: Some(build.id),
                config_version_id: config.id,
                description: &description,
                author: &actor_name,
                state: ReleaseState::Pending,
            })?;
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_name_of(tx, app_id)?),
                action: "release.deploy",
                detail: &format!("{description} (v{})", release.version),
            })?;
            Ok::<_, OpsError>(release)
        })
        .await?;
    Ok(release)
}

/// What app.json's `env` sets on this deploy, planned before the build so the build sees
/// it; a required variable without a value refuses the deploy here.
async fn plan_env(
    p: &Platform,
    (commit, objects): (&str, &PushedObjects),
    config: &ConfigVars,
    first_deploy: bool,
    progress: &Progress,
) -> Result<EnvPlan, OpsError> {
    let Ok(manifest) = p.builder.app_json(objects, commit, config).await else {
        // A tree over the limits or a bad manifest: the build reads the same commit and
        // fails with the same error, and keeps it in its record and log.
        return Ok(EnvPlan::default());
    };
    let env = manifest.env_plan(config, first_deploy, || {
        hex::encode(rand::random::<[u8; 32]>())
    })?;
    if !env.is_empty() {
        let names: Vec<&str> = env.set.keys().map(String::as_str).collect();
        progress.step(format!("Setting {} from app.json", names.join(", ")));
        if !env.generated.is_empty() {
            progress.detail(format!(
                "generated secret values for {}",
                env.generated.join(", ")
            ));
        }
    }
    Ok(env)
}

/// True until the app has a live release of a build: app.json's `env`, formation and
/// add-ons count on the first deploy only.
async fn is_first_deploy(p: &Platform, app_id: i64) -> Result<bool, OpsError> {
    p.store
        .read(move |db| {
            let deployed = db
                .latest_live_release(app_id)?
                .and_then(|r| r.build_id)
                .is_some();
            Ok::<_, OpsError>(!deployed)
        })
        .await
}

/// On an app's first deploy, app.json's add-ons are created and attached (as Heroku
/// does), so the release phase finds its `DATABASE_URL`.
async fn provision_addons(
    p: &Platform,
    actor: &Actor,
    app: &AppRow,
    app_json: &crate::domain::AppJson,
    progress: &Progress,
) -> Result<(), OpsError> {
    if app_json.addons.is_empty() {
        return Ok(());
    }
    let app_id = app.id;
    let attached = p
        .store
        .read(move |db| Ok::<_, OpsError>(db.attachments_of_app(app_id)?))
        .await?;
    for entry in &app_json.addons {
        let (plan, attach_as) = entry.parts();
        let kind = crate::domain::AddonKind::parse(plan)
            .map_err(|e| OpsError::Invalid(Invalid::new(format!("app.json addons: {e}"))))?;
        let name = match attach_as {
            Some(raw) => crate::domain::AttachmentName::parse(raw)?,
            None => kind.default_attachment(),
        };
        if attached.iter().any(|a| a.name == name) {
            continue;
        }
        let request = crate::wire::CreateAddon {
            kind: kind.to_string(),
            attach_as: Some(name.to_string()),
        };
        super::addons::create(p, actor, &app.name, request, progress).await?;
    }
    Ok(())
}

fn app_json_error(e: &Invalid) -> OpsError {
    OpsError::Invalid(Invalid::new(format!("app.json formation: {e}")))
}

fn app_name_of(db: &crate::store::Db<'_>, app_id: i64) -> Result<String, OpsError> {
    db.app_by_id(app_id)?
        .map(|a| a.name.to_string())
        .ok_or_else(|| OpsError::Internal(format!("app {app_id} vanished during a deploy")))
}
