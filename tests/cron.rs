//! app.json's cron jobs, as Dokku runs them (issue 14): each job runs on its schedule as a
//! one-off of the current release, never twice at once, even across a server restart;
//! `paas cron` shows the runs, `paas logs` their output as `cron[ID]`, `cron:run` runs one
//! now; a bad schedule refuses the push.

mod common;
mod web_support;

use std::time::{Duration, Instant};

use common::{Server, docker};
use serde_json::Value;

const APP: &str = "crony";

fn jobs(server: &Server) -> Vec<Value> {
    let out = server.cli(&["cron", "-a", APP, "--json"]);
    serde_json::from_str(out.ok()).expect("cron --json prints JSON")
}

fn job<'a>(jobs: &'a [Value], id: &str) -> &'a Value {
    jobs.iter()
        .find(|j| j["id"] == id)
        .expect("the job is listed")
}

fn logs(server: &Server) -> String {
    server
        .cli(&["logs", "-a", APP, "-n", "2000"])
        .ok()
        .to_owned()
}

/// Running containers of the `sleep 75` job, counted from the engine.
fn long_containers(server: &Server) -> usize {
    docker(&[
        "ps",
        "--no-trunc",
        "--filter",
        &format!("label=paas.managed={}", server.instance()),
        "--filter",
        &format!("label=paas.app={APP}"),
        "--filter",
        "label=paas.process=cron",
        "--format",
        "{{.Command}}",
    ])
    .stdout
    .lines()
    .filter(|l| l.contains("sleep 75"))
    .count()
}

/// Polls every two seconds until `done` holds, counting the long job's containers each
/// time; returns the most seen at once.
fn watch_until(
    server: &Server,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> usize {
    let deadline = Instant::now() + timeout;
    let mut most = 0;
    loop {
        most = most.max(long_containers(server));
        if done() {
            return most;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn cron_jobs_run_on_their_schedule_one_at_a_time_and_survive_a_restart() {
    let server = Server::start();
    let repo = server.deploy("cron-app", APP);

    let listed = jobs(&server);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let id_of = |prefix: &str| {
        listed
            .iter()
            .find(|j| j["command"].as_str().unwrap().starts_with(prefix))
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (quick, long) = (id_of("echo cron-marker"), id_of("sleep 75"));
    let suspended = id_of("echo never");
    for j in &listed {
        assert_eq!(j["schedule"], "* * * * *");
        assert_eq!(j["next_run"].is_string(), j["id"] != suspended, "{j}");
    }

    // At the next minute both jobs start. A restart while the long one runs, soon after
    // its time (within the catch-up window): the new server follows that run to its end
    // and records its exit code, and never starts that time a second time.
    let mut most = watch_until(
        &server,
        "the long job running",
        Duration::from_secs(150),
        || job(&jobs(&server), &long)["running"] == true,
    );
    // cron:run refuses the job that is running, and the one in maintenance.
    let refused = server.cli(&["cron:run", &long, "-a", APP]);
    assert!(
        refused.fails().contains("is already running"),
        "{}",
        refused.stderr
    );
    let maintenance = server.cli(&["cron:run", &suspended, "-a", APP]);
    assert!(
        maintenance.fails().contains("in maintenance"),
        "{}",
        maintenance.stderr
    );
    let last_run = job(&jobs(&server), &long)["last_run"].clone();
    let running = last_run["id"].clone();
    let again = format!(
        "due at {}",
        last_run["scheduled_for"].as_str().expect("a scheduled run")
    );
    let server = server.restart();
    most = most.max(watch_until(
        &server,
        "the adopted run followed",
        Duration::from_secs(30),
        || logs(&server).contains("still runs after a server restart"),
    ));

    // The quick job ran; the long one is still running at the minute after, so that run
    // is skipped with a platform line (for that minute: the adopted run's own time is
    // never claimed again).
    let skipped = format!("cron[{long}] is still running");
    most = most.max(watch_until(
        &server,
        "a quick run and a skipped long one",
        Duration::from_secs(90),
        || {
            let listed = jobs(&server);
            job(&listed, &quick)["last_run"]["exit_code"] == 0
                && logs(&server)
                    .lines()
                    .any(|l| l.contains(&skipped) && !l.contains(&again))
        },
    ));
    let text = logs(&server);
    assert!(!text.contains(&again), "{text}");
    assert!(
        text.contains(&format!("cron[{quick}]: cron-marker ran for {APP}")),
        "{text}"
    );
    assert!(text.contains("skipped its run due at"), "{text}");
    let table = server.cli(&["cron", "-a", APP]).ok().to_owned();
    let row = table
        .lines()
        .find(|l| l.starts_with(&quick))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(cells.contains(&"0"), "the exit code column: {table}");
    assert!(row.contains("echo cron-marker"), "{table}");

    // cron:run runs the other job now.
    server.cli(&["cron:run", &quick, "-a", APP]).ok();
    most = most.max(watch_until(
        &server,
        "the manual run",
        Duration::from_secs(60),
        || {
            job(&jobs(&server), &quick)["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["trigger"] == "manual" && r["exit_code"] == 0)
        },
    ));

    // The web UI lists the jobs on the app's overview, with how their last run ended.
    let page = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let browser = web_support::Browser::new(&server);
        let name = web_support::admin_name(&server).await;
        let signed_in = browser
            .login(&name, &web_support::admin_password(&server))
            .await;
        assert_eq!(signed_in.status, 200, "{}", signed_in.body);
        browser.get(&format!("/apps/{APP}")).await
    });
    assert_eq!(page.status, 200);
    for expected in [
        "Cron jobs",
        &quick,
        &long,
        "exit 0",
        "echo cron-marker ran for $PAAS_APP",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }

    // Another app's member sees no such app, through the CLI and the API.
    let token = server.create_member("mallory");
    let hidden = server.cli_with_token(&token, &["cron", "-a", APP]);
    assert!(hidden.fails().contains("not found"), "{}", hidden.stderr);
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(server.api(&format!("/apps/{APP}/cron/{quick}/run")))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "404");

    // A bad schedule refuses the push; the release before it keeps serving, and its jobs.
    // (The restarted server listens on another port: point the clone's remote at it.)
    server
        .cli_in(repo.path(), common::ADMIN_TOKEN, &["git:remote", "-a", APP])
        .ok();
    let manifest = repo.path().join("app.json");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, good.replacen("* * * * *", "61 * * * *", 1)).unwrap();
    server.commit_all(repo.path(), "a minute that does not exist");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push must fail");
    assert!(
        pushed
            .stderr
            .contains("app.json cron[0]: schedule \"61 * * * *\": minute must be 0-59"),
        "{}",
        pushed.stderr
    );
    assert_eq!(server.get(APP, "/"), (200, "cron app\n".to_owned()));
    let ids: Vec<Value> = jobs(&server).iter().map(|j| j["id"].clone()).collect();
    assert!(ids.contains(&Value::from(quick.clone())) && ids.contains(&Value::from(long.clone())));

    // The adopted run ends and its exit code is recorded.
    most = most.max(watch_until(
        &server,
        "the adopted run's end",
        Duration::from_secs(120),
        || {
            job(&jobs(&server), &long)["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == running && r["exit_code"] == 0)
        },
    ));
    assert!(
        !logs(&server).contains(&again),
        "that time was never claimed again"
    );

    assert_eq!(most, 1, "the long job never runs twice at once");
    let listed = jobs(&server);
    assert_eq!(
        job(&listed, &suspended)["runs"],
        serde_json::json!([]),
        "a job in maintenance never runs"
    );
    let mut runs: Vec<&Value> = job(&listed, &long)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    runs.reverse();
    let mut times: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["scheduled_for"].as_str())
        .collect();
    let all = times.len();
    times.dedup();
    assert_eq!(
        times.len(),
        all,
        "no time of the schedule ran twice: {runs:?}"
    );
    for pair in runs.windows(2) {
        let ended = pair[0]["finished_at"]
            .as_str()
            .expect("an earlier run ended");
        assert!(
            ended <= pair[1]["started_at"].as_str().unwrap(),
            "runs overlap: {pair:?}"
        );
    }
}
