//! Add-ons end to end: real Postgres and Redis containers made from Debian's packages, a
//! real app writing and reading them through DATABASE_URL and REDIS_URL, backups, sharing,
//! and what an app or a member must not reach.

mod common;

use std::time::Duration;

use common::{Server, docker, eventually};

fn config_of(server: &Server, app: &str, key: &str) -> String {
    server
        .cli(&["config:get", key, "-a", app])
        .stdout
        .trim()
        .to_owned()
}

#[test]
fn an_apps_data_survives_restarts_redeploys_an_addon_restart_and_a_killed_server() {
    let server = Server::start();
    let repo = server.deploy("addon-app", "shop");
    // app.json asked for Redis: the first deploy made and attached it.
    let redis = server.addon_of("shop", "redis");
    assert!(config_of(&server, "shop", "REDIS_URL").starts_with("redis://"));

    let created = server.cli(&["addons:create", "postgres", "-a", "shop"]);
    let out = created.ok();
    assert!(out.contains("attached as DATABASE"), "{out}");
    let postgres = server.addon_of("shop", "postgres");
    let url = config_of(&server, "shop", "DATABASE_URL");
    assert!(url.starts_with("postgres://paas:"), "{url}");
    assert!(url.contains(&format!("@{postgres}:5432/")), "{url}");

    assert_eq!(server.answer("shop", "/write?v=apple"), "written");
    assert_eq!(server.answer("shop", "/count"), "count: 1");
    assert_eq!(server.answer("shop", "/count"), "count: 2");

    let listed = server.cli(&["addons", "-a", "shop"]);
    let table = listed.ok();
    for name in [&postgres, &redis] {
        let row = table
            .lines()
            .find(|l| l.contains(name.as_str()))
            .unwrap_or_default();
        assert!(row.contains(" up "), "{name} is up: {table}");
    }

    server.cli(&["ps:restart", "-a", "shop"]).ok();
    assert_eq!(server.answer("shop", "/read"), "items: apple");
    assert_eq!(server.answer("shop", "/count"), "count: 3");

    server
        .git(repo.path(), &["commit", "--allow-empty", "-qm", "again"])
        .ok();
    server.push(repo.path()).ok();
    assert_eq!(server.answer("shop", "/read"), "items: apple");

    let container = format!("paas-{}-addon-{postgres}", server.instance());
    docker(&["restart", &container]).ok();
    assert_eq!(server.answer("shop", "/read"), "items: apple");

    let mut server = server;
    server.kill9();
    let running = docker(&["inspect", "-f", "{{.State.Running}}", &container]);
    assert_eq!(
        running.stdout.trim(),
        "true",
        "an add-on outlives the server"
    );
    let server = server.restart();
    assert_eq!(server.answer("shop", "/read"), "items: apple");
    assert_eq!(server.answer("shop", "/count"), "count: 4");
    let info = server.cli(&["addons:info", &postgres, "-a", "shop"]);
    assert!(info.ok().contains("up"), "{}", info.stdout);
    // Its own lines reach the app's log, as `addon[NAME]` lines.
    docker(&["restart", &container]).ok();
    eventually(
        "the add-on's lines in the app's log",
        Duration::from_secs(60),
        || {
            let logs = server.cli(&["logs", "-a", "shop", "--source", "addon", "-n", "500"]);
            logs.stdout.contains(&format!("addon[{postgres}]"))
        },
    );

    // The password is in the app's config only: never in events or the server's log.
    let password = url
        .trim_start_matches("postgres://paas:")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    assert!(password.len() >= 32, "{password}");
    let events = server.cli(&["events", "-a", "shop"]);
    assert!(!events.ok().contains(&password));
    assert!(events.stdout.contains("addon.create"), "{}", events.stdout);
    assert!(!server.log_text().contains(&password));
}

#[test]
fn bad_addon_requests_are_refused_with_what_to_do_and_change_nothing() {
    let server = Server::start();
    server.cli(&["apps:create", "plain"]).ok();
    let unknown = server.cli(&["addons:create", "mysql", "-a", "plain"]);
    assert!(
        unknown.fails().contains("paas runs postgres and redis"),
        "{}",
        unknown.stderr
    );

    server
        .cli(&["config:set", "CACHE_URL=redis://mine", "-a", "plain"])
        .ok();
    let taken = server.cli(&["addons:create", "redis", "--as", "CACHE", "-a", "plain"]);
    assert!(
        taken.fails().contains("CACHE_URL is already set on plain"),
        "{}",
        taken.stderr
    );
    let bad_name = server.cli(&["addons:create", "redis", "--as", "my-cache", "-a", "plain"]);
    assert!(
        bad_name.fails().contains("invalid attachment name"),
        "{}",
        bad_name.stderr
    );

    server.cli(&["addons:create", "redis", "-a", "plain"]).ok();
    let twice = server.cli(&["addons:create", "redis", "-a", "plain"]);
    assert!(
        twice
            .fails()
            .contains("already has an add-on attached as REDIS"),
        "{}",
        twice.stderr
    );
    let addons = server.cli(&["addons", "-a", "plain", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(addons.ok()).unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "nothing was made by the refusals"
    );
    assert_eq!(config_of(&server, "plain", "CACHE_URL"), "redis://mine");

    let missing = server.cli(&["addons:info", "postgres-nope-1234", "-a", "plain"]);
    assert!(missing.fails().contains("not found"), "{}", missing.stderr);
    let no_backup = server.cli(&["pg:backups:capture", "-a", "plain"]);
    assert!(
        no_backup.fails().contains("has no postgres add-on"),
        "{}",
        no_backup.stderr
    );

    // Destroying the app takes its add-ons, their containers and data with it.
    let redis = server.addon_of("plain", "redis");
    let container = format!("paas-{}-addon-{redis}", server.instance());
    server
        .cli(&["apps:destroy", "plain", "--confirm", "plain"])
        .ok();
    assert_ne!(
        docker(&["inspect", &container]).code,
        0,
        "its container is gone"
    );
    let volumes = docker(&["volume", "ls", "-q"]);
    assert!(!volumes.stdout.contains(&container), "its volume is gone");
}

#[test]
fn backups_are_captured_restored_downloaded_and_scheduled() {
    let server = Server::start_with(&[("PAAS_BACKUP_CHECK_SECS", "2")]);
    server.deploy("addon-app", "books");
    server
        .cli(&["addons:create", "postgres", "-a", "books"])
        .ok();
    assert_eq!(server.answer("books", "/write?v=one"), "written");

    let captured = server.cli(&["pg:backups:capture", "-a", "books"]);
    assert!(captured.ok().contains("done, b"), "{}", captured.stdout);
    let backups: serde_json::Value =
        serde_json::from_str(server.cli(&["pg:backups", "-a", "books", "--json"]).ok()).unwrap();
    let first = &backups[0];
    assert_eq!(first["state"], "succeeded", "{backups}");
    assert!(first["size"].as_i64().unwrap() > 0);
    let id = format!("b{:03}", first["id"].as_i64().unwrap());

    // Piped SQL through pg:psql drops the table; the app sees it gone.
    let dir = tempfile::tempdir().unwrap();
    let dropped = server
        .command(common::paas_bin())
        .args(["pg:psql", "-a", "books"])
        .env("PAAS_TOKEN", common::ADMIN_TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"DROP TABLE items;\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        String::from_utf8_lossy(&dropped.stdout).contains("DROP TABLE"),
        "{dropped:?}"
    );
    assert!(server.answer("books", "/read").starts_with("no table"));

    let unconfirmed = server.cli(&["pg:backups:restore", &id, "-a", "books"]);
    assert!(
        unconfirmed.fails().contains("--confirm books"),
        "{}",
        unconfirmed.stderr
    );
    let restored = server.cli(&[
        "pg:backups:restore",
        &id,
        "-a",
        "books",
        "--confirm",
        "books",
    ]);
    assert!(restored.ok().contains("restored"), "{}", restored.stdout);
    assert_eq!(server.answer("books", "/read"), "items: one");

    // The download is a dump pg_restore reads (run with the add-on's own image).
    let file = dir.path().join("books.dump");
    server
        .cli(&[
            "pg:backups:download",
            &id,
            "-a",
            "books",
            "-o",
            file.to_str().unwrap(),
        ])
        .ok();
    let image = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        &format!(
            "paas-{}-addon-{}",
            server.instance(),
            server.addon_of("books", "postgres")
        ),
    ]);
    let listing = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/dump.pgc:ro", file.display()),
        image.stdout.trim(),
        "pg_restore",
        "-l",
        "/dump.pgc",
    ]);
    assert!(
        listing.ok().contains("TABLE public items"),
        "{}",
        listing.stdout
    );

    // A dump file of one's own restores too (uploaded, not kept).
    piped(&server, &["pg:psql", "-a", "books"], "DROP TABLE items;\n");
    let uploaded = server.cli(&[
        "pg:backups:restore",
        file.to_str().unwrap(),
        "-a",
        "books",
        "--confirm",
        "books",
    ]);
    assert!(uploaded.ok().contains("done"), "{}", uploaded.stdout);
    assert_eq!(server.answer("books", "/read"), "items: one");

    // Another app's backups are not this app's to restore.
    server.cli(&["apps:create", "other"]).ok();
    server
        .cli(&["addons:create", "postgres", "-a", "other"])
        .ok();
    let foreign = server.cli(&[
        "pg:backups:restore",
        &id,
        "-a",
        "other",
        "--confirm",
        "other",
    ]);
    assert!(
        foreign.fails().contains("has no backup"),
        "{}",
        foreign.stderr
    );

    // A daily schedule at the current minute: its time today has come and no scheduled
    // backup was taken since, so the next check (every 2 s here) takes one. (Not in the
    // last seconds of a UTC day: that minute's time would be tomorrow's by the check.)
    let into_day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 86_400;
    if into_day > 86_400 - 15 {
        std::thread::sleep(Duration::from_secs(86_400 - into_day + 1));
    }
    let now = time_in(0);
    server
        .cli(&["pg:backups:schedule", "--at", &now, "-a", "books"])
        .ok();
    eventually("a scheduled backup", Duration::from_secs(60), || {
        let listed = server.cli(&["pg:backups", "-a", "books", "--json"]);
        let backups: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap_or_default();
        backups.as_array().is_some_and(|all| {
            all.iter()
                .any(|b| b["trigger"] == "scheduled" && b["state"] == "succeeded")
        })
    });
}

/// `HH:MM` UTC, `secs` from now.
fn time_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    format!("{:02}:{:02}", now / 3600 % 24, now / 60 % 60)
}

#[test]
fn apps_share_a_database_by_attach_and_cannot_reach_each_others_addons() {
    let server = Server::start();
    server.deploy("addon-app", "alpha");
    server
        .cli(&["addons:create", "postgres", "-a", "alpha"])
        .ok();
    server.deploy("addon-app", "beta");
    let alpha_pg = server.addon_of("alpha", "postgres");
    let alpha_redis = server.addon_of("alpha", "redis");
    assert_eq!(server.answer("alpha", "/write?v=shared"), "written");

    // beta cannot reach alpha's Redis, by name or by address.
    let reach = server.answer("beta", &format!("/reach?host={alpha_redis}&port=6379"));
    assert!(reach.starts_with("unreachable"), "{reach}");
    let address = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        &format!("paas-{}-addon-{alpha_redis}", server.instance()),
    ]);
    let ip = address.ok().split_whitespace().next().unwrap().to_owned();
    let reach = server.answer("beta", &format!("/reach?host={ip}&port=6379"));
    assert!(reach.starts_with("unreachable"), "{reach}");
    assert!(
        server
            .answer("alpha", &format!("/reach?host={alpha_redis}&port=6379"))
            .starts_with("reached")
    );

    // A member of beta alone does not learn that alpha's add-ons exist.
    let member = server.create_member("bob");
    server.cli(&["access:add", "bob", "-a", "beta"]).ok();
    for attempt in [
        vec!["addons:attach", alpha_pg.as_str(), "-a", "beta"],
        vec!["addons:info", alpha_redis.as_str(), "-a", "beta"],
        vec![
            "addons:destroy",
            alpha_pg.as_str(),
            "--confirm",
            "alpha",
            "-a",
            "beta",
        ],
    ] {
        let refused = server.cli_with_token(&member, &attempt);
        assert!(
            refused.fails().contains("not found"),
            "{attempt:?}: {}",
            refused.stderr
        );
    }

    let attached = server.cli(&["addons:attach", &alpha_pg, "-a", "beta"]);
    assert!(
        attached.ok().contains("DATABASE_URL set"),
        "{}",
        attached.stdout
    );
    assert_eq!(server.answer("beta", "/read"), "items: shared");

    let refused = server.cli(&[
        "addons:destroy",
        &alpha_pg,
        "--confirm",
        "alpha",
        "-a",
        "alpha",
    ]);
    assert!(
        refused.fails().contains("still attached to beta"),
        "{}",
        refused.stderr
    );
    server.cli(&["addons:detach", &alpha_pg, "-a", "beta"]).ok();
    assert_eq!(config_of(&server, "beta", "DATABASE_URL"), "");

    let before_destroy: serde_json::Value =
        serde_json::from_str(server.cli(&["releases", "-a", "alpha", "--json"]).ok()).unwrap();
    let with_db = before_destroy[0]["version"].as_i64().unwrap();
    server
        .cli(&[
            "addons:destroy",
            &alpha_pg,
            "--confirm",
            "alpha",
            "-a",
            "alpha",
        ])
        .ok();
    let backups: serde_json::Value =
        serde_json::from_str(server.cli(&["pg:backups", "-a", "alpha", "--json"]).ok()).unwrap();
    assert_eq!(backups[0]["trigger"], "destroy", "{backups}");
    assert_eq!(backups[0]["state"], "succeeded", "{backups}");
    assert!(
        docker(&["volume", "ls", "-q"])
            .stdout
            .lines()
            .all(|v| !v.ends_with(&alpha_pg)),
        "its data is gone"
    );

    // Rolling back to a release that had the database does not bring it back, and says so.
    let rolled = server.cli(&["rollback", &format!("v{with_db}"), "-a", "alpha"]);
    let said = format!("{}{}", rolled.ok(), rolled.stderr);
    assert!(said.contains("not brought back"), "{said}");
    assert_eq!(config_of(&server, "alpha", "DATABASE_URL"), "");
    assert!(config_of(&server, "alpha", "REDIS_URL").starts_with("redis://"));
}

#[test]
fn a_django_project_migrates_its_postgres_database_in_the_release_phase() {
    let server = Server::start();
    let (_repo, pushed) = server.push_new_app("django-postgres", "blog");
    let said = format!("{}{}", pushed.stdout, pushed.stderr);
    assert_eq!(pushed.code, 0, "{said}");
    assert!(
        said.contains("Creating postgres-"),
        "app.json's add-on: {said}"
    );
    assert_eq!(server.answer("blog", "/"), "django ok users=0");
    let shown = server.cli(&["run", "-a", "blog", "python manage.py showmigrations auth"]);
    assert!(shown.ok().contains("[X] 0001_initial"), "{}", shown.stdout);
}

/// Pipes `input` into `paas ARGS` (pg:psql, redis:cli): its stdout.
fn piped(server: &Server, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = server
        .command(common::paas_bin())
        .args(args)
        .env("PAAS_TOKEN", common::ADMIN_TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn clients_and_pg_commands_work_and_a_backup_cut_by_kill_9_is_failed_on_restart() {
    let mut server = Server::start();
    server.cli(&["apps:create", "data"]).ok();
    server
        .cli(&["addons:create", "postgres", "-a", "data"])
        .ok();
    server.cli(&["addons:create", "redis", "-a", "data"]).ok();
    assert!(piped(&server, &["redis:cli", "-a", "data"], "PING\n").contains("PONG"));

    // About 150 MB of rows: pg_dump takes a few seconds, long enough to be cut.
    let made = piped(
        &server,
        &["pg:psql", "-a", "data"],
        "CREATE TABLE big AS SELECT g, md5(g::text) || repeat('x', 100) AS pad FROM generate_series(1, 1000000) g;\n",
    );
    assert!(made.contains("SELECT 1000000"), "{made}");
    let info = server.cli(&["pg:info", "-a", "data", "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.ok()).unwrap();
    assert_eq!(info["tables"], 1, "{info}");
    assert!(
        info["database_bytes"].as_i64().unwrap() > 100_000_000,
        "{info}"
    );

    // A query that runs shows in pg:ps, and pg:kill ends it.
    let sleeper = server
        .command(common::paas_bin())
        .args(["pg:psql", "-a", "data"])
        .env("PAAS_TOKEN", common::ADMIN_TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"SELECT pg_sleep(600);\n")?;
            Ok(child)
        })
        .unwrap();
    let mut pid = String::new();
    eventually(
        "the sleeping query in pg:ps",
        Duration::from_secs(30),
        || {
            let ps = server.cli(&["pg:ps", "-a", "data", "--json"]);
            let running: serde_json::Value = serde_json::from_str(&ps.stdout).unwrap_or_default();
            let found = running.as_array().and_then(|all| {
                all.iter()
                    .find(|q| q["query"].as_str().is_some_and(|t| t.contains("pg_sleep")))
                    .map(|q| q["pid"].to_string())
            });
            pid = found.unwrap_or_default();
            !pid.is_empty()
        },
    );
    server.cli(&["pg:kill", &pid, "-a", "data"]).ok();
    let ended = sleeper.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&ended.stderr).contains("terminat"),
        "{ended:?}"
    );
    let bad_pid = server.cli(&["pg:kill", "1; DROP TABLE big", "-a", "data"]);
    assert!(
        bad_pid.fails().contains("invalid pid"),
        "{}",
        bad_pid.stderr
    );

    let capture = server
        .command(common::paas_bin())
        .args(["pg:backups:capture", "-a", "data"])
        .env("PAAS_TOKEN", common::ADMIN_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = server.data_dir.path().join("backups/data");
    eventually("the backup being written", Duration::from_secs(30), || {
        std::fs::read_dir(&partial)
            .map(|mut files| {
                files.any(|f| f.is_ok_and(|f| f.path().to_string_lossy().ends_with(".partial")))
            })
            .unwrap_or(false)
    });
    server.kill9();
    let _ = { capture }.wait();
    let server = server.restart();
    let backups: serde_json::Value =
        serde_json::from_str(server.cli(&["pg:backups", "-a", "data", "--json"]).ok()).unwrap();
    assert_eq!(backups[0]["state"], "failed", "{backups}");
    assert!(
        backups[0]["reason"]
            .as_str()
            .unwrap()
            .contains("server stopped"),
        "{backups}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&partial).unwrap().flatten().collect();
    assert!(
        leftovers.is_empty(),
        "half-written files are removed: {leftovers:?}"
    );
    let counted = piped(
        &server,
        &["pg:psql", "-a", "data"],
        "SELECT count(*) FROM big;\n",
    );
    assert!(
        counted.contains("1000000"),
        "the database is intact: {counted}"
    );
    // The next capture works.
    server.cli(&["pg:backups:capture", "-a", "data"]).ok();

    // A full disk fails the backup with what to do, and keeps the good one.
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&partial)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "a small tmpfs for the backups (the tests run as root)"
    );
    let full = server.cli(&["pg:backups:capture", "-a", "data"]);
    let _ = std::process::Command::new("umount").arg(&partial).status();
    assert!(
        full.fails().contains("is the disk full?"),
        "{}",
        full.stderr
    );
    let backups: serde_json::Value =
        serde_json::from_str(server.cli(&["pg:backups", "-a", "data", "--json"]).ok()).unwrap();
    assert_eq!(backups[0]["state"], "failed", "{backups}");
    assert_eq!(backups[1]["state"], "succeeded", "{backups}");
    let good = server.cli(&["pg:backups:download", "-a", "data", "-o", "-"]);
    assert!(
        good.ok().starts_with("PGDMP"),
        "the good backup is still there"
    );
}
