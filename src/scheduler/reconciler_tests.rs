//! The reconciler's ordering, against the in-memory runtime and a real store and router:
//! healthy, then one route swap, then drain and stop; a failing release leaves the old one
//! serving; a release queued behind a newer one is superseded; a crash during a rollout;
//! a new server adopting a half-finished rollout; startup, readiness and liveness checks;
//! sleeping and waking; and, on a runtime that behaves as a swarm does, a scale-down that
//! stops other processes than asked and a crashed process that comes back as a new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{AppJson, AppName, BuildState, ReleaseState};
use crate::logs::AppLogs;
use crate::router::{Router, RouterSettings};
use crate::runtime::{ProcessKind, ProcessSpec, Runtime};
use crate::store::{AppRow, BuildOutcome, NewBuild, NewRelease, ReleaseRow, Store};

use super::memory_runtime::{CRASH, GOOD, MemoryRuntime, SLOW};
use super::{Change, Done, Scheduler, SchedulerSettings};

struct World {
    scheduler: Scheduler,
    store: Store,
    runtime: Arc<MemoryRuntime>,
    router: Router,
    logs: AppLogs,
    shutdown: CancellationToken,
    app: AppRow,
    _dir: tempfile::TempDir,
}

fn settings() -> SchedulerSettings {
    SchedulerSettings {
        boot_timeout: Duration::from_secs(3),
        stop_grace: Duration::ZERO,
        default_memory_mb: 64,
        domain: "localhost".into(),
    }
}

async fn world() -> World {
    world_with(MemoryRuntime::new).await
}

async fn world_with(runtime: fn(Router) -> Arc<MemoryRuntime>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("paas.db")).unwrap();
    let shutdown = CancellationToken::new();
    let (logs, _writer) = AppLogs::start(dir.path().join("logs"), shutdown.clone());
    let router = Router::new(RouterSettings::new("localhost".to_owned()), |_| {});
    let runtime = runtime(router.clone());
    let app = store
        .write(|tx| {
            let owner = tx.insert_user("owner", None, true)?;
            tx.insert_app(&AppName::parse("app").unwrap(), &owner)
        })
        .await
        .unwrap();
    let scheduler = Scheduler::start(
        runtime.clone(),
        store.clone(),
        logs.clone(),
        router.clone(),
        settings(),
        shutdown.clone(),
    )
    .await;
    World {
        scheduler,
        store,
        runtime,
        router,
        logs,
        shutdown,
        app,
        _dir: dir,
    }
}

impl World {
    /// A pending release of a build whose processes behave like `image`.
    async fn release(&self, image: &'static str) -> ReleaseRow {
        self.release_with(image, AppJson::default()).await
    }

    async fn release_with(&self, image: &'static str, app_json: AppJson) -> ReleaseRow {
        let app_id = self.app.id;
        self.store
            .write(move |tx| {
                let build = tx.insert_build(NewBuild {
                    app_id,
                    commit_sha: "0123456789abcdef0123456789abcdef01234567",
                    author: "owner",
                })?;
                tx.finish_build(
                    build.id,
                    BuildOutcome {
                        state: BuildState::Succeeded,
                        detail: None,
                        image: Some(image),
                        image_size: Some(1),
                        process_types: &BTreeMap::from([("web".to_owned(), "serve".to_owned())]),
                        buildpack: Some("test"),
                        app_json: &app_json,
                    },
                )?;
                let config = tx.insert_config_version(app_id, &Default::default())?;
                tx.insert_release(NewRelease {
                    app_id,
                    build_id: Some(build.id),
                    config_version_id: config.id,
                    description: "Deploy 0123456",
                    author: "owner",
                    state: ReleaseState::Pending,
                })
            })
            .await
            .unwrap()
    }

    /// A release of `image`, rolled out to its end.
    async fn deploy(&self, image: &'static str) -> Done {
        self.deploy_with(image, AppJson::default()).await
    }

    /// A release of `image` with this app.json, rolled out to its end.
    async fn deploy_with(&self, image: &'static str, app_json: AppJson) -> Done {
        let release = self.release_with(image, app_json).await;
        self.scheduler
            .submit(&self.app, Change::Release(release))
            .wait()
            .await
            .unwrap()
    }

    async fn state_of(&self, version: i64) -> ReleaseState {
        let app_id = self.app.id;
        self.store
            .read(move |db| db.release(app_id, version))
            .await
            .unwrap()
            .unwrap()
            .state
    }

    /// Sets the web quantity and waits for the reconciler to converge to it.
    async fn scale(&self, web: u32) {
        let app_id = self.app.id;
        self.store
            .write(move |tx| tx.set_quantity(app_id, "web", web))
            .await
            .unwrap();
        self.scheduler
            .submit(&self.app, Change::Scale)
            .wait()
            .await
            .unwrap();
    }

    /// `ps`'s dynos and states, as `web.3 up`.
    fn ps(&self) -> Vec<String> {
        self.scheduler
            .processes("app")
            .iter()
            .map(|p| format!("{} {}", p.dyno, p.state))
            .collect()
    }

    fn serving(&self) -> bool {
        matches!(
            self.router.snapshot().app("app").map(|e| e.route()),
            Some(crate::router::AppRoute::Serving(e)) if !e.is_empty()
        )
    }
}

#[tokio::test]
async fn a_rollout_is_healthy_then_one_route_swap_then_the_old_process_stops() {
    let w = world().await;
    assert_eq!(w.deploy(GOOD).await, Done::Finished);
    assert_eq!(w.deploy(SLOW).await, Done::Finished);
    assert_eq!(
        w.runtime.journal(),
        [
            "start v1 web.1",
            "start v2 web.1",
            // v1 stops only once the router serves v2 alone.
            "stop v1 web.1 (routed: v2 web.1)",
        ]
    );
    assert_eq!(w.state_of(2).await, ReleaseState::Succeeded);
    assert_eq!(w.runtime.running(), ["v2 web.1"]);
}

#[tokio::test]
async fn a_failing_release_leaves_the_old_one_serving() {
    let w = world().await;
    w.deploy(GOOD).await;
    let v2 = w.release(CRASH).await;
    let failed = w.scheduler.submit(&w.app, Change::Release(v2)).wait().await;
    assert!(
        failed
            .unwrap_err()
            .to_string()
            .contains("exited with code 1")
    );
    assert_eq!(w.state_of(2).await, ReleaseState::Failed);
    assert_eq!(w.runtime.running(), ["v1 web.1"]);
    assert!(w.serving());
    assert!(
        !w.runtime.journal().iter().any(|l| l.starts_with("stop v1")),
        "{:?}",
        w.runtime.journal()
    );
}

#[tokio::test]
async fn a_release_queued_behind_a_newer_one_is_superseded() {
    let w = world().await;
    let v1 = w.release(SLOW).await;
    let v2 = w.release(GOOD).await;
    let v3 = w.release(GOOD).await;
    let first = w.scheduler.submit(&w.app, Change::Release(v1));
    // v1 is rolling out (its process takes half a second to listen) when v2 and v3 come.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = w.scheduler.submit(&w.app, Change::Release(v2));
    let third = w.scheduler.submit(&w.app, Change::Release(v3));
    assert_eq!(first.wait().await.unwrap(), Done::Finished);
    assert_eq!(second.wait().await.unwrap(), Done::Superseded { by: 3 });
    assert_eq!(third.wait().await.unwrap(), Done::Finished);
    assert_eq!(w.state_of(2).await, ReleaseState::Superseded);
    assert_eq!(w.state_of(3).await, ReleaseState::Succeeded);
    assert!(
        !w.runtime.journal().iter().any(|l| l.contains("v2 ")),
        "no process of the superseded release ever started: {:?}",
        w.runtime.journal()
    );
    assert_eq!(w.runtime.running(), ["v3 web.1"]);
}

#[tokio::test]
async fn a_crash_of_the_old_process_during_a_rollout_leaves_only_the_new_one() {
    let w = world().await;
    w.deploy(GOOD).await;
    let v2 = w.release(SLOW).await;
    let rolling = w.scheduler.submit(&w.app, Change::Release(v2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.runtime.crash("v1 web.1");
    assert_eq!(rolling.wait().await.unwrap(), Done::Finished);
    // The crash restart (at once, then with backoff) may race the stop: either way the
    // old process ends gone and the new one serves alone.
    for _ in 0..50 {
        if w.runtime.running() == ["v2 web.1"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.runtime.running(), ["v2 web.1"]);
    assert!(w.serving());
}

#[tokio::test]
async fn a_new_server_finishes_a_rollout_a_dead_one_left_half_done() {
    let w = world().await;
    w.deploy(GOOD).await;
    // The old server made v2 and started one of its processes, then died.
    let v2 = w.release(GOOD).await;
    w.shutdown.cancel();
    w.scheduler.join().await;
    let half = ProcessSpec {
        app: "app".into(),
        release: v2.version,
        process_type: "web".into(),
        index: 1,
        kind: ProcessKind::Formation,
        image: GOOD.into(),
        argv: None,
        user: None,
        env: Default::default(),
        memory_mb: 64,
        interactive: false,
        tty: false,
    };
    Runtime::start(w.runtime.as_ref(), half).await.unwrap();
    assert_eq!(w.runtime.running(), ["v1 web.1", "v2 web.1"]);

    let scheduler = Scheduler::start(
        w.runtime.clone(),
        w.store.clone(),
        w.logs.clone(),
        w.router.clone(),
        settings(),
        CancellationToken::new(),
    )
    .await;
    for _ in 0..50 {
        if w.state_of(2).await != ReleaseState::Pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.state_of(2).await, ReleaseState::Succeeded);
    assert_eq!(w.runtime.running(), ["v2 web.1"]);
    assert!(w.serving());
    drop(scheduler);
}

#[tokio::test]
async fn a_release_handed_over_after_a_newer_one_serves_is_superseded() {
    let w = world().await;
    // Two requests made v1 and v2; the second handed its release over first.
    let v1 = w.release(GOOD).await;
    assert_eq!(w.deploy(GOOD).await, Done::Finished);
    let late = w.scheduler.submit(&w.app, Change::Release(v1)).wait().await;
    assert_eq!(late.unwrap(), Done::Superseded { by: 2 });
    assert_eq!(w.state_of(1).await, ReleaseState::Superseded);
    assert_eq!(w.runtime.running(), ["v2 web.1"]);
}

/// app.json with one web check; its processes listen on 5000 only, so port 5001 fails.
fn web_check(check: &str) -> AppJson {
    AppJson::parse(&format!(r#"{{"healthchecks":{{"web":[{check}]}}}}"#)).unwrap()
}

async fn within_5s(done: impl FnMut() -> bool) -> bool {
    within(Duration::from_secs(5), done).await
}

async fn within(time: Duration, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..time.as_millis() / 100 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[tokio::test]
async fn a_failing_startup_check_fails_the_release_after_its_attempts() {
    let w = world().await;
    w.deploy(GOOD).await;
    let check =
        web_check(r#"{"name":"other port","listening":true,"port":5001,"attempts":2,"wait":1}"#);
    let v2 = w.release_with(GOOD, check).await;
    let failed = w.scheduler.submit(&w.app, Change::Release(v2)).wait().await;
    let message = failed.unwrap_err().to_string();
    assert!(
        message.contains("web.1 failed its startup check \"other port\" (nothing accepts connections on port 5001"),
        "{message}"
    );
    assert!(message.contains("; 2 attempts)"), "{message}");
    assert_eq!(w.runtime.running(), ["v1 web.1"]);
    assert!(w.serving());
}

#[tokio::test]
async fn a_failing_readiness_check_takes_the_process_out_of_the_routes_without_a_restart() {
    let w = world().await;
    let check =
        web_check(r#"{"type":"readiness","listening":true,"port":5001,"attempts":1,"wait":1}"#);
    assert_eq!(w.deploy_with(GOOD, check).await, Done::Finished);
    assert!(
        within_5s(|| !w.serving()).await,
        "the unready process is not routed"
    );
    let ps = w.scheduler.processes("app");
    assert_eq!((ps[0].state.as_str(), ps[0].restarts), ("unready", 0));
    assert_eq!(w.runtime.running(), ["v1 web.1"]);
}

#[tokio::test]
async fn a_failing_liveness_check_restarts_the_process() {
    let w = world().await;
    let check =
        web_check(r#"{"type":"liveness","listening":true,"port":5001,"attempts":2,"wait":1}"#);
    assert_eq!(w.deploy_with(GOOD, check).await, Done::Finished);
    let restarted = || w.runtime.journal().iter().any(|l| l == "restart v1 web.1");
    assert!(within_5s(restarted).await, "{:?}", w.runtime.journal());
    assert!(within_5s(|| w.scheduler.processes("app")[0].restarts >= 1).await);
}

#[tokio::test]
async fn an_app_sleeps_wakes_and_a_rollout_wakes_it_too() {
    use crate::domain::SleepState;
    use crate::router::{AppRoute, UnavailableReason};
    let w = world().await;
    w.deploy(GOOD).await;
    let app_id = w.app.id;
    let autosleep = crate::domain::Autosleep {
        idle: Duration::from_secs(60),
        keep: Default::default(),
    };
    w.store
        .write(move |db| db.set_autosleep(app_id, Some(&autosleep)))
        .await
        .unwrap();
    let state = || async {
        w.store
            .read(move |db| db.sleep(app_id))
            .await
            .unwrap()
            .state
    };

    w.scheduler
        .submit(&w.app, Change::Sleep)
        .wait()
        .await
        .unwrap();
    assert_eq!(state().await, SleepState::Asleep);
    assert!(w.runtime.running().is_empty(), "{:?}", w.runtime.running());
    assert!(matches!(
        w.router.snapshot().app("app").map(|e| e.route()),
        Some(AppRoute::Unavailable(UnavailableReason::Sleeping))
    ));
    // A sleeping app restarted by hand stays asleep: nothing starts.
    w.scheduler
        .submit(&w.app, Change::Scale)
        .wait()
        .await
        .unwrap();
    assert!(w.runtime.running().is_empty());

    w.scheduler
        .submit(&w.app, Change::Wake)
        .wait()
        .await
        .unwrap();
    assert_eq!(state().await, SleepState::Awake);
    assert_eq!(w.runtime.running(), ["v1 web.1"]);
    assert!(w.serving());

    w.scheduler
        .submit(&w.app, Change::Sleep)
        .wait()
        .await
        .unwrap();
    assert_eq!(w.deploy(GOOD).await, Done::Finished);
    assert_eq!(state().await, SleepState::Awake, "a deploy wakes the app");
    assert_eq!(w.runtime.running(), ["v2 web.1"]);
    assert!(w.serving());
    assert_eq!(
        w.runtime.journal(),
        [
            "start v1 web.1",
            "stop v1 web.1 (routed: nothing)",
            "start v1 web.1",
            "stop v1 web.1 (routed: nothing)",
            "start v2 web.1",
        ]
    );
}

#[tokio::test]
async fn on_a_swarm_a_scale_down_that_stops_other_processes_ends_with_the_kept_ones_serving() {
    let w = world_with(MemoryRuntime::swarm_like).await;
    w.deploy(GOOD).await;
    w.scale(3).await;
    assert_eq!(w.runtime.running(), ["v1 web.1", "v1 web.2", "v1 web.3"]);
    // The reconciler stops web.3 then web.2; the swarm removes web.1 and web.2 instead.
    w.scale(1).await;
    assert_eq!(w.runtime.running(), ["v1 web.3"]);
    let settled = || w.ps() == ["web.3 up"] && w.runtime.routed_now("app") == "v1 web.3";
    assert!(
        within(Duration::from_secs(8), settled).await,
        "{:?} routed {}",
        w.ps(),
        w.runtime.routed_now("app")
    );
}

#[tokio::test]
async fn on_a_swarm_a_crashed_process_is_followed_to_the_one_that_replaced_it() {
    let w = world_with(MemoryRuntime::swarm_like).await;
    w.deploy(GOOD).await;
    let before = w.scheduler.processes("app");
    w.runtime.crash("v1 web.1");
    let replaced = || {
        let now = w.scheduler.processes("app");
        now.len() == 1
            && now[0].state == "up"
            && now[0].restarts == 1
            && w.runtime.routed_now("app") == "v1 web.1"
    };
    assert!(within_5s(replaced).await, "{:?}", w.ps());
    assert!(w.runtime.journal().contains(&"replace v1 web.1".to_owned()));
    assert_ne!(before[0].started_at, None);
    assert!(w.serving());
}
