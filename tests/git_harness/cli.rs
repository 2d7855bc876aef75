//! Driving the real `git` client from tests: an isolated HOME and config, so git's defaults
//! (http.postBuffer 1 MiB, gzip of small bodies, thin packs) are what is exercised.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

fn command(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("GIT_AUTHOR_NAME", "Pusher")
        .env("GIT_AUTHOR_EMAIL", "pusher@example.com")
        .env("GIT_COMMITTER_NAME", "Pusher")
        .env("GIT_COMMITTER_EMAIL", "pusher@example.com")
        .kill_on_drop(true);
    cmd
}

/// A client-side working repository on branch `main`.
pub struct Workdir {
    pub dir: TempDir,
    home: TempDir,
}

impl Workdir {
    pub async fn new() -> Workdir {
        let work = Workdir {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        work.ok(&["init", "-q", "-b", "main"]).await;
        work
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub async fn git(&self, args: &[&str]) -> Output {
        command(self.home.path())
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .await
            .expect("run git")
    }

    /// Runs git and fails the test with its stderr unless it succeeds; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.git(args).await;
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, path: &str, bytes: &[u8]) {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }

    /// Commits everything; returns the new commit id.
    pub async fn commit_all(&self, message: &str) -> String {
        self.ok(&["add", "-A"]).await;
        self.ok(&["commit", "-q", "--allow-empty", "-m", message])
            .await;
        self.ok(&["rev-parse", "HEAD"]).await
    }

    pub fn home(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }
}

/// Runs git against a bare repository (`--git-dir`).
pub async fn bare(repo: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    command(home.path())
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .await
        .expect("run git")
}

/// Asserts `git fsck --strict` finds nothing wrong in `repo`.
pub async fn assert_fsck_clean(repo: &Path) {
    let out = bare(repo, &["fsck", "--strict", "--no-dangling"]).await;
    // An unborn HEAD is reported as a notice, not a problem.
    let problems = String::from_utf8_lossy(&out.stderr)
        .lines()
        .any(|line| !line.starts_with("notice:"));
    assert!(
        out.status.success() && !problems,
        "fsck of {} failed:\n{}{}",
        repo.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The id `refname` points to in `repo`, if it exists.
pub async fn ref_of(repo: &Path, refname: &str) -> Option<String> {
    let out = bare(repo, &["rev-parse", "--verify", "-q", refname]).await;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Incompressible bytes from a seeded xorshift, so sizes on the wire are predictable.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The pack git would send for `revs` (one rev-list argument per line, e.g. `HEAD` or
/// `HEAD\n^HEAD~1` for a thin update).
pub async fn pack_of(work: &Workdir, revs: &str, thin: bool) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = command(&work.home());
    cmd.current_dir(work.path())
        .args(["pack-objects", "--stdout", "--revs", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    if thin {
        cmd.arg("--thin");
    }
    let mut child = cmd.spawn().expect("run git pack-objects");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{revs}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    out.stdout
}
