//! Test harness: a real `paas server` process on a free port with its own data dir, and
//! the real `paas` binary as the client.
#![allow(dead_code)]

pub mod cluster;
pub mod load;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "paas_test_admin_token_0123456789abcdef";

pub fn paas_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_paas"))
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    /// Port of the HTTPS listener.
    pub https_port: u16,
    pub data_dir: tempfile::TempDir,
    /// HOME for CLI and git calls, so nothing touches the real user's config.
    pub home: tempfile::TempDir,
    pub log: Arc<Mutex<Vec<String>>>,
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let home = tempfile::tempdir().expect("temp home");
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Server::launch(data_dir, home, env)
    }

    fn launch(
        data_dir: tempfile::TempDir,
        home: tempfile::TempDir,
        env: Vec<(String, String)>,
    ) -> Server {
        let mut cmd = Command::new(paas_bin());
        cmd.arg("server")
            .env("PAAS_HTTP_ADDR", "127.0.0.1:0")
            .env("PAAS_HTTPS_ADDR", "127.0.0.1:0")
            .env("PAAS_DATA_DIR", data_dir.path())
            .env("PAAS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PAAS_LOG_FORMAT", "json")
            .env("HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // As scripts/test does: stack images made on this host trust its extra CAs, and a
        // server computing other stack inputs would rebuild them.
        if std::env::var_os("PAAS_EXTRA_CA_CERTS").is_none() && has_extra_cas() {
            cmd.env("PAAS_EXTRA_CA_CERTS", EXTRA_CA_DIR);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("paas server starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let (addr, https_addr) = addr;
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let https_port = https_addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            port,
            https_port,
            data_dir,
            home,
            log,
            env,
        }
    }

    /// Stops the server (SIGTERM, as an operator would) and starts it again on the same
    /// data dir.
    pub fn restart(mut self) -> Server {
        self.terminate();
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        let home = std::mem::replace(&mut self.home, tempfile::tempdir().unwrap());
        Server::launch(data_dir, home, self.env.clone())
    }

    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe_kill(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The CLI as the admin.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_with_token(ADMIN_TOKEN, args)
    }

    pub fn cli_with_token(&self, token: &str, args: &[&str]) -> Run {
        self.cli_in(self.home.path(), token, args)
    }

    pub fn cli_in(&self, cwd: &Path, token: &str, args: &[&str]) -> Run {
        let output = self
            .command(paas_bin())
            .current_dir(cwd)
            .env("PAAS_TOKEN", token)
            .args(args)
            .output()
            .expect("paas runs");
        Run::from(output)
    }

    /// A command with this server's HOME and URL in its environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("HOME", self.home.path())
            .env("PAAS_URL", &self.url)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("PAAS_TOKEN")
            .env_remove("XDG_CONFIG_HOME");
        cmd
    }

    pub fn http(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// `paas users:create NAME` as the admin: the generated password it printed.
    pub fn create_user(&self, name: &str) -> String {
        let created = self.cli(&["users:create", name]);
        created
            .ok()
            .lines()
            .find_map(|l| l.strip_prefix("Password: "))
            .and_then(|l| l.split_whitespace().next())
            .expect("generated password printed")
            .to_owned()
    }

    /// A member user and a token of theirs.
    pub fn create_member(&self, name: &str) -> String {
        let password = self.create_user(name);
        let output = Command::new("curl")
            .args([
                "-sf",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
            ])
            .arg(format!(r#"{{"user":"{name}","password":"{password}"}}"#))
            .arg(self.api("/login"))
            .output()
            .expect("curl runs");
        let body: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("login answers JSON");
        body["token"]
            .as_str()
            .expect("token in login answer")
            .to_owned()
    }
}

impl Drop for Server {
    /// Kills the server, then removes what it started in the engine (its containers carry
    /// its instance id), so tests leave nothing running behind.
    fn drop(&mut self) {
        self.kill9();
        let Ok(id) = std::fs::read_to_string(self.data_dir.path().join("instance-id")) else {
            return;
        };
        let label = format!("label=paas.managed={}", id.trim());
        let containers = docker(&["ps", "-aq", "--filter", &label]);
        let ids: Vec<&str> = containers.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["rm", "-f", "-v"][..], &ids[..]].concat());
        }
        let networks = docker(&["network", "ls", "-q", "--filter", &label]);
        let ids: Vec<&str> = networks.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["network", "rm"][..], &ids[..]].concat());
        }
        let volumes = docker(&["volume", "ls", "-q", "--filter", &label]);
        let names: Vec<&str> = volumes.stdout.split_whitespace().collect();
        if !names.is_empty() {
            docker(&[&["volume", "rm", "-f"][..], &names[..]].concat());
        }
        let images = docker(&["images", "-q", "--filter", &label]);
        let mut ids: Vec<&str> = images.stdout.split_whitespace().collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            docker(&[&["rmi", "-f"][..], &ids[..]].concat());
        }
    }
}

const EXTRA_CA_DIR: &str = "/usr/local/share/ca-certificates";

fn has_extra_cas() -> bool {
    std::fs::read_dir(EXTRA_CA_DIR)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "crt"))
        })
        .unwrap_or(false)
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// (HTTP address, HTTPS address) from the "paas server listening" line.
fn listening_addr(line: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "paas server listening" {
        return None;
    }
    Some((
        fields.get("addr")?.as_str()?.to_owned(),
        fields.get("https_addr")?.as_str()?.to_owned(),
    ))
}

/// A finished command's output, as text.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts a one-line error with exit code 1 and returns it.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "expected failure:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line, got: {}",
            self.stderr
        );
        assert!(lines[0].starts_with("error: "), "{}", self.stderr);
        lines[0]
    }
}

/// Waits until `check` passes or the time is up.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Apps, repos and pushes.
impl Server {
    /// `paas login` with the admin token: stores it and sets up git's credential helper.
    pub fn login(&self) {
        let out = self
            .command(paas_bin())
            .args(["login", &self.url, "--token", ADMIN_TOKEN])
            .output()
            .expect("paas login runs");
        assert!(
            out.status.success(),
            "login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A git repository holding a copy of `tests/fixtures/NAME`, committed on main.
    pub fn fixture_repo(&self, fixture: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp repo");
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        copy_dir(&source, dir.path());
        self.git(dir.path(), &["init", "-q", "-b", "main"]).ok();
        self.commit_all(dir.path(), "initial commit");
        dir
    }

    pub fn commit_all(&self, dir: &Path, message: &str) {
        self.git(dir, &["add", "-A"]).ok();
        self.git(dir, &["commit", "-q", "--allow-empty", "-m", message])
            .ok();
    }

    pub fn git(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from(
            self.command("git")
                .current_dir(dir)
                .args(args)
                .output()
                .expect("git runs"),
        )
    }

    /// A repo of `fixture`, `paas apps:create APP` inside it (which adds the `paas`
    /// remote), then `git push paas main`: the repo and the push's outcome.
    pub fn push_new_app(&self, fixture: &str, app: &str) -> (tempfile::TempDir, Run) {
        let repo = self.fixture_repo(fixture);
        self.cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", app])
            .ok();
        let pushed = self.push(repo.path());
        (repo, pushed)
    }

    /// `push_new_app`, asserting that the deploy succeeded.
    pub fn deploy(&self, fixture: &str, app: &str) -> tempfile::TempDir {
        let (repo, pushed) = self.push_new_app(fixture, app);
        assert_eq!(
            pushed.code, 0,
            "push of {fixture} failed:\n{}",
            pushed.stderr
        );
        repo
    }

    /// `git push paas main` with the credentials `login` set up.
    pub fn push(&self, dir: &Path) -> Run {
        self.login();
        self.git(dir, &["push", "paas", "main"])
    }

    /// This server's instance id (the value of the `paas.managed` label it puts on
    /// everything it starts in the engine).
    pub fn instance(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("instance-id"))
            .map(|id| id.trim().to_owned())
            .unwrap_or_default()
    }

    /// Names of this server's running containers of `app`'s processes.
    pub fn app_containers(&self, app: &str) -> Vec<String> {
        docker(&[
            "ps",
            "--filter",
            &format!("label=paas.managed={}", self.instance()),
            "--filter",
            &format!("label=paas.app={app}"),
            "--filter",
            "label=paas.kind=process",
            "--format",
            "{{.Names}}",
        ])
        .stdout
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// GET through the router with `Host: APP.localhost`: (status, body).
    pub fn get(&self, app: &str, path: &str) -> (u16, String) {
        self.get_within(app, path, Duration::from_secs(10))
    }

    /// The name of `app`'s add-on of `kind` (`postgres`, `redis`), from `paas addons --json`.
    pub fn addon_of(&self, app: &str, kind: &str) -> String {
        let listed = self.cli(&["addons", "-a", app, "--json"]);
        let addons: serde_json::Value = serde_json::from_str(listed.ok()).expect("addons --json");
        addons
            .as_array()
            .expect("a list")
            .iter()
            .find(|a| a["kind"] == kind)
            .and_then(|a| a["name"].as_str())
            .unwrap_or_else(|| panic!("{app} has no {kind} add-on: {}", listed.stdout))
            .to_owned()
    }

    /// The body of GET `path` once it answers 200 (within a minute), trimmed: an app that
    /// is still starting or reconnecting after a restart.
    pub fn answer(&self, app: &str, path: &str) -> String {
        let mut body = String::new();
        eventually(
            &format!("{app}{path} answering"),
            Duration::from_secs(60),
            || {
                let (status, text) = self.get(app, path);
                body = text;
                status == 200
            },
        );
        body.trim().to_owned()
    }

    /// `get`, giving up after `timeout`.
    pub fn get_within(&self, app: &str, path: &str, timeout: Duration) -> (u16, String) {
        let out = Command::new("curl")
            .args([
                "-s",
                "-m",
                &timeout.as_secs().to_string(),
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-H",
            ])
            .arg(format!("Host: {app}.localhost:{}", self.port))
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("fixture exists") {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Docker, for checks from outside paas (`docker kill`, counting containers).
pub fn docker(args: &[&str]) -> Run {
    Run::from(
        Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI runs"),
    )
}
