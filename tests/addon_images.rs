//! The add-on images on the real engine: `paas stack:build` makes `paas/postgres:15` and
//! `paas/redis:7` from Debian packages (when missing), then each runs hardened as the
//! add-on runtime runs it (all capabilities dropped, no-new-privileges, docker-init, a
//! memory limit, a fresh named volume, the password in `PAAS_ADDON_PASSWORD`) and is
//! reached from one-off containers of the same image, as the runtime's clients will be.
//! Everything made here carries a label of this run and is removed by a Drop guard.

mod common;

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{Run, eventually, paas_bin};

/// The exact names `paas stack:build` reported.
struct Images {
    postgres: String,
    redis: String,
}

/// Built once per test binary, through the real binary, as scripts/test does (same data
/// dir, so its base tree and package caches are reused).
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let data_dir = std::env::var_os("PAAS_STACK_DATA_DIR").unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            std::path::Path::new(&home)
                .join(".cache/paas-stack-data")
                .into_os_string()
        });
        let built = Run::from(
            Command::new(paas_bin())
                .arg("stack:build")
                .env("PAAS_DATA_DIR", &data_dir)
                .output()
                .expect("paas stack:build runs"),
        );
        let out = built.ok();
        let named = |kind: &str| {
            out.lines()
                .find_map(|line| {
                    let (what, image) = line.trim().split_once(char::is_whitespace)?;
                    (what == kind).then(|| image.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("stack:build names the {kind} image:\n{out}"))
        };
        let images = Images {
            postgres: named("postgres"),
            redis: named("redis"),
        };
        assert!(images.postgres.starts_with("paas/postgres:15-"), "{out}");
        assert!(images.redis.starts_with("paas/redis:7-"), "{out}");
        images
    })
}

/// What one test made in the engine, removed when it ends (passed or failed).
struct Made {
    label: String,
    name: String,
}

impl Made {
    fn new(test: &str) -> Made {
        let name = format!("paas-test-addon-{}-{test}", std::process::id());
        Made {
            label: format!("paas.test.addon-images={name}"),
            name,
        }
    }

    fn volume(&self) -> String {
        docker(
            &["volume", "create", "--label", &self.label, &self.name],
            &[],
        )
        .ok();
        self.name.clone()
    }

    /// The add-on's container, started detached as the runtime starts it.
    fn service(&self, image: &str, volume: &str, password: &str) -> String {
        let mut args = vec!["run", "-d", "--name", &self.name, "-v"];
        let mount = format!("{volume}:/var/lib/paas-addon");
        args.push(&mount);
        args.extend(["-e", "PAAS_ADDON_PASSWORD", image]);
        let id = self.hardened(&args, &[("PAAS_ADDON_PASSWORD", password)]);
        id.ok().trim().to_owned()
    }

    /// A one-off container of `image` running `command`, removed when it ends.
    fn one_off(&self, image: &str, env: &[(&str, &str)], command: &[&str]) -> Run {
        let mut args = vec!["run", "--rm"];
        for (key, _) in env {
            args.extend(["-e", key]);
        }
        args.push(image);
        args.extend(command);
        self.hardened(&args, env)
    }

    /// `docker ARGS` with this test's label and the runtime's hardening (the value of each
    /// variable in `env` goes through the docker CLI's environment, never its arguments).
    fn hardened(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let (command, rest) = args.split_at(1);
        let mut full = command.to_vec();
        full.extend([
            "--label",
            &self.label,
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--init",
            "-m",
            "256m",
            "--memory-swap",
            "256m",
        ]);
        full.extend(rest);
        docker(&full, env)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        let filter = format!("label={}", self.label);
        let containers = docker(&["ps", "-aq", "--filter", &filter], &[]);
        let ids: Vec<&str> = containers.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["rm", "-f", "-v"][..], &ids[..]].concat(), &[]);
        }
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter], &[]);
        let names: Vec<&str> = volumes.stdout.split_whitespace().collect();
        if !names.is_empty() {
            docker(&[&["volume", "rm", "-f"][..], &names[..]].concat(), &[]);
        }
    }
}

fn docker(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new("docker");
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    Run::from(command.output().expect("docker CLI runs"))
}

/// A password unique to this run, with characters that need quoting; `marker` is a part
/// of it that survives any escaping (JSON, shell), to look for in output.
fn password(kind: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let marker = format!("{kind}secret{}x{nanos:x}", std::process::id());
    (format!("{marker} \"quoted\" \\back $HOME"), marker)
}

fn ip(container: &str) -> String {
    let ip = docker(
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", container],
        &[],
    );
    let ip = ip.ok().trim().to_owned();
    assert!(!ip.is_empty(), "{container} has an address on the bridge");
    ip
}

/// The password is in no log line and on no command line: the container's own
/// (`docker inspect`) nor any process's in it (`/proc/*/cmdline`).
#[track_caller]
fn assert_password_never_shown(container: &str, marker: &str, process: &str) {
    let logs = docker(&["logs", container], &[]);
    assert!(
        !logs.stdout.contains(marker) && !logs.stderr.contains(marker),
        "the password is in the logs:\n{}{}",
        logs.stdout,
        logs.stderr
    );
    let inspected = docker(
        &[
            "inspect",
            "-f",
            "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}",
            container,
        ],
        &[],
    );
    assert!(!inspected.ok().contains(marker), "{}", inspected.stdout);
    let cmdlines = docker(
        &["exec", container, "sh", "-c", "cat /proc/[0-9]*/cmdline"],
        &[],
    );
    let cmdlines = cmdlines.ok().replace('\0', " ");
    assert!(cmdlines.contains(process), "read the processes: {cmdlines}");
    assert!(!cmdlines.contains(marker), "{cmdlines}");
}

fn exec(container: &str, command: &[&str]) -> String {
    let args = [&["exec", container][..], command].concat();
    docker(&args, &[]).ok().trim().to_owned()
}

#[test]
fn postgres_runs_hardened_keeps_its_rows_in_its_volume_and_never_shows_its_password() {
    let images = images();
    let made = Made::new("postgres");
    let (password, marker) = password("pg");
    let volume = made.volume();
    let started = std::time::Instant::now();
    let server = made.service(&images.postgres, &volume, &password);
    let ready = || {
        docker(
            &[
                "exec",
                &server,
                "pg_isready",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
            ],
            &[],
        )
        .code
            == 0
    };
    eventually(
        "postgres to answer pg_isready",
        Duration::from_secs(90),
        ready,
    );
    println!(
        "postgres: first start (initdb) ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Over TCP from another container, as an app or the runtime's clients reach it.
    let psql = |password: Option<&str>, sql: &str| {
        let host = ip(&server);
        let env: Vec<(&str, &str)> = password.map(|p| ("PGPASSWORD", p)).into_iter().collect();
        let command = [
            "psql",
            "-w",
            "-h",
            &host,
            "-U",
            "paas",
            "-d",
            "paas",
            "-v",
            "ON_ERROR_STOP=1",
            "-tA",
            "-c",
            sql,
        ];
        made.one_off(&images.postgres, &env, &command)
    };

    psql(
        Some(&password),
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('across restarts')",
    )
    .ok();
    assert_eq!(
        psql(Some(&password), "SELECT v FROM kept").ok().trim(),
        "across restarts"
    );
    let whoami = "SELECT current_user, rolsuper, pg_get_userbyid(datdba) \
                  FROM pg_roles, pg_database WHERE rolname = current_user AND datname = 'paas'";
    assert_eq!(psql(Some(&password), whoami).ok().trim(), "paas|t|paas");

    let wrong = psql(Some("not-the-password"), "SELECT 1");
    assert_ne!(wrong.code, 0);
    assert!(
        wrong
            .stderr
            .contains("password authentication failed for user \"paas\""),
        "{}",
        wrong.stderr
    );
    let none = psql(None, "SELECT 1");
    assert_ne!(none.code, 0);
    assert!(
        none.stderr.contains("no password supplied"),
        "{}",
        none.stderr
    );

    // The clients the add-on runtime uses, in a one-off of the same image.
    let host = ip(&server);
    let dump = made.one_off(
        &images.postgres,
        &[("PGPASSWORD", &password)],
        &[
            "sh",
            "-c",
            &format!("pg_dump -Fc -h {host} -U paas -f /tmp/paas.dump paas && pg_restore -l /tmp/paas.dump"),
        ],
    );
    assert!(
        dump.ok().contains("TABLE DATA public kept paas"),
        "{}",
        dump.stdout
    );

    // The service's user owns the volume (copied up from the image), with no capabilities.
    assert_eq!(exec(&server, &["id", "-un"]), "postgres");
    assert_eq!(
        exec(&server, &["stat", "-c", "%U %a", "/var/lib/paas-addon"]),
        "postgres 700"
    );
    assert!(
        exec(&server, &["grep", "CapEff", "/proc/1/status"]).ends_with("0000000000000000"),
        "no capabilities"
    );
    let tmp = exec(&server, &["ls", "-A", "/tmp"]);
    assert!(
        !tmp.contains("paas-pwfile"),
        "the password file is removed: {tmp}"
    );

    // docker stop sends SIGINT (the image's STOPSIGNAL) through docker-init: a fast
    // shutdown; the rows are in the volume afterwards.
    let restarted = std::time::Instant::now();
    docker(&["restart", &server], &[]).ok();
    eventually(
        "postgres to answer after a restart",
        Duration::from_secs(60),
        ready,
    );
    println!(
        "postgres: restart ready in {:.1}s",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(
        psql(Some(&password), "SELECT v FROM kept").ok().trim(),
        "across restarts"
    );
    let logs = docker(&["logs", &server], &[]);
    assert!(
        logs.stderr.contains("received fast shutdown request"),
        "{}",
        logs.stderr
    );
    assert_password_never_shown(&server, &marker, "postgres -D /var/lib/paas-addon/pgdata");
}

#[test]
fn redis_runs_hardened_keeps_its_keys_in_an_append_only_file_and_never_shows_its_password() {
    let images = images();
    let made = Made::new("redis");
    let (password, marker) = password("redis");
    let volume = made.volume();
    let server = made.service(&images.redis, &volume, &password);
    let cli = |args: &[&str]| {
        let host = ip(&server);
        let command = [&["redis-cli", "-h", &host][..], args].concat();
        made.one_off(&images.redis, &[("REDISCLI_AUTH", &password)], &command)
    };
    eventually("redis to answer", Duration::from_secs(60), || {
        cli(&["PING"]).stdout.trim() == "PONG"
    });
    // As the runtime's clients may call it: the password as an argument (of the client).
    let host = ip(&server);
    let ping = made.one_off(
        &images.redis,
        &[],
        &[
            "redis-cli",
            "-h",
            &host,
            "-a",
            &password,
            "--no-auth-warning",
            "PING",
        ],
    );
    assert_eq!(ping.ok().trim(), "PONG");
    let anonymous = made.one_off(&images.redis, &[], &["redis-cli", "-h", &host, "PING"]);
    assert!(
        anonymous.stdout.contains("NOAUTH"),
        "{}{}",
        anonymous.stdout,
        anonymous.stderr
    );
    let wrong = made.one_off(
        &images.redis,
        &[("REDISCLI_AUTH", "not-the-password")],
        &["redis-cli", "-h", &host, "PING"],
    );
    assert!(
        wrong.stderr.contains("WRONGPASS") && !wrong.stdout.contains("PONG"),
        "a wrong password is refused: {}{}",
        wrong.stdout,
        wrong.stderr
    );

    assert_eq!(cli(&["INCR", "visits"]).ok().trim(), "1");
    assert_eq!(
        cli(&["CONFIG", "GET", "appendonly"]).ok().trim(),
        "appendonly\nyes"
    );
    assert_eq!(
        cli(&["CONFIG", "GET", "maxmemory"]).ok().trim(),
        format!("maxmemory\n{}", 128 * 1024 * 1024),
        "half the memory limit"
    );
    assert_eq!(exec(&server, &["id", "-un"]), "redis");
    assert_eq!(
        exec(&server, &["stat", "-c", "%U %a", "/var/lib/paas-addon"]),
        "redis 700"
    );
    assert_eq!(
        exec(
            &server,
            &["stat", "-c", "%U %a", "/var/lib/paas-addon/redis.conf"]
        ),
        "redis 600"
    );

    let ready = || cli(&["PING"]).stdout.trim() == "PONG";
    docker(&["restart", &server], &[]).ok();
    eventually(
        "redis to answer after a restart",
        Duration::from_secs(60),
        ready,
    );
    assert_eq!(cli(&["INCR", "visits"]).ok().trim(), "2");
    // Killed, with no shutdown save: the append-only file alone keeps the key.
    docker(&["kill", &server], &[]).ok();
    docker(&["start", &server], &[]).ok();
    eventually(
        "redis to answer after a kill",
        Duration::from_secs(60),
        ready,
    );
    assert_eq!(cli(&["INCR", "visits"]).ok().trim(), "3");
    assert_password_never_shown(&server, &marker, "redis-server 0.0.0.0:6379");
}

#[test]
fn an_addon_container_without_its_password_exits_with_one_line_saying_so() {
    let images = images();
    let made = Made::new("nopassword");
    for image in [&images.postgres, &images.redis] {
        let run = made.one_off(image, &[], &[]);
        assert_eq!(run.code, 1, "{image}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "", "{image}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{image}: {}", run.stderr);
        assert!(
            lines[0].contains("PAAS_ADDON_PASSWORD is not set"),
            "{image}: {}",
            lines[0]
        );
    }
}
