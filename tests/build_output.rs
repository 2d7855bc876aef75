//! What a push costs the server and what a build leaves: files are capped by their inflated
//! size and streamed (the server's peak memory does not grow with them), logs are private
//! files, and a build failing on a TLS certificate names the setting that fixes it.

mod common;

use std::path::Path;

use common::{ADMIN_TOKEN, Server};

/// The server process's peak resident memory (VmHWM), in KiB.
fn peak_memory_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

fn zero_file(repo: &Path, name: &str, bytes: u64) {
    let path = repo.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

#[test]
fn a_file_over_the_file_limit_is_refused_by_name_and_the_log_is_a_private_file() {
    let server = Server::start_with(&[("PAAS_MAX_FILE_BYTES", "1048576")]);
    let repo = server.fixture_repo("procfile-shell");
    zero_file(repo.path(), "data/big.bin", 5 << 20);
    server.commit_all(repo.path(), "a big file");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "capped"])
        .ok();
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    let refusal = "file data/big.bin is 5.0 MiB, over PAAS_MAX_FILE_BYTES (1.0 MiB)";
    assert!(pushed.stderr.contains(refusal), "{}", pushed.stderr);
    let bare = server.data_dir.path().join("repos/capped.git");
    let main = server.git(&bare, &["rev-parse", "--verify", "-q", "refs/heads/main"]);
    assert_ne!(main.code, 0, "the repo is unchanged");

    // The log of the refused build: a 0600 file, served by builds:info.
    let log = server.data_dir.path().join("builds/1.log");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&log).unwrap().contains(refusal));
    let info = server.cli(&["builds:info", "-a", "capped"]);
    assert!(info.ok().contains(refusal), "{}", info.stdout);
}

#[test]
fn a_large_file_of_zeros_streams_through_the_build_without_filling_server_memory() {
    let server = Server::start();
    let repo = server.fixture_repo("procfile-shell");
    // 200 MiB of zeros: a pack of a few hundred KiB, inflated only in the build container.
    zero_file(repo.path(), "zeros.bin", 200 << 20);
    std::fs::write(repo.path().join(".slugignore"), "zeros.bin\n").unwrap();
    server.commit_all(repo.path(), "zeros");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "zeros"])
        .ok();
    let before = peak_memory_kib(&server);
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let grown = peak_memory_kib(&server).saturating_sub(before);
    assert!(
        grown < 100 << 10,
        "the server's peak memory grew by {} MiB for a 200 MiB file",
        grown >> 10
    );
    let (status, body) = server.get("zeros", "/");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_build_failing_on_a_certificate_error_names_the_setting_that_fixes_it() {
    use std::os::unix::fs::PermissionsExt;
    let buildpacks = tempfile::tempdir().unwrap();
    let bin = buildpacks.path().join("tls/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("detect", "#!/usr/bin/env bash\necho Tls\n"),
        (
            "compile",
            "#!/usr/bin/env bash\necho 'curl: (60) SSL certificate problem: unable to get local issuer certificate'\nexit 1\n",
        ),
    ];
    for (name, text) in scripts {
        std::fs::write(bin.join(name), text).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = buildpacks.path().display().to_string();
    let server = Server::start_with(&[("PAAS_BUILDPACKS_DIR", &root)]);
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "proxied"])
        .ok();
    server
        .cli(&[
            "config:set",
            &format!("BUILDPACK_URL={root}/tls"),
            "-a",
            "proxied",
        ])
        .ok();
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(
        pushed
            .stderr
            .contains("set PAAS_EXTRA_CA_CERTS to its directory, then run paas stack:build"),
        "{}",
        pushed.stderr
    );
}
