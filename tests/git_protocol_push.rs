//! The real git client (git 2.47) pushing to the harness over smart HTTP on 127.0.0.1.

#[path = "git_harness/mod.rs"]
mod support;

use std::sync::atomic::Ordering;

use paas::git::body::ReceiveLimits;
use support::TestServer;
use support::cli::{self, Workdir, assert_fsck_clean, random_bytes, ref_of};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn started() -> (TestServer, Workdir) {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let work = Workdir::new().await;
    work.ok(&["remote", "add", "paas", &server.url("app")])
        .await;
    (server, work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_push_to_an_empty_repo_creates_main_and_shows_progress_live() {
    let (server, work) = started().await;
    work.write("Procfile", b"web: ./serve\n");
    work.write("src/app.txt", &random_bytes(4096, 11));
    let head = work.commit_all("first").await;

    let out = work.git(&["push", "paas", "main"]).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("remote: -----> Building main"), "{err}");
    assert!(err.contains("remote:        tree has 2 entries"), "{err}");
    assert!(err.contains("remote: -----> Released v1"), "{err}");
    assert!(err.contains("* [new branch]      main -> main"), "{err}");

    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(head));
    assert!(support::quarantines(&repo).is_empty());
    assert_fsck_clean(&repo).await;
    // git push never gzips (only fetch does); gzip bodies are covered in git_bad_requests.
    assert_eq!(server.count(|c| &c.gzip_posts), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_push_sends_a_thin_pack_that_the_server_completes() {
    let (server, work) = started().await;
    let text: String = (0..4000).map(|i| format!("line {i} of a file\n")).collect();
    work.write("big.txt", text.as_bytes());
    work.commit_all("first").await;
    work.ok(&["push", "-q", "paas", "main"]).await;

    work.write("big.txt", format!("{text}one more line\n").as_bytes());
    let head = work.commit_all("second").await;
    let out = work.git(&["push", "--thin", "paas", "main"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(head.clone()));
    let show = cli::bare(&repo, &["cat-file", "-p", &format!("{head}:big.txt")]).await;
    assert!(String::from_utf8_lossy(&show.stdout).ends_with("one more line\n"));
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_push_moves_main_to_a_commit_that_does_not_descend_from_it() {
    let (server, work) = started().await;
    work.write("a", b"1");
    work.commit_all("one").await;
    work.write("a", b"2");
    work.commit_all("two").await;
    work.ok(&["push", "-q", "paas", "main"]).await;

    work.ok(&["reset", "-q", "--hard", "HEAD~1"]).await;
    work.write("a", b"3");
    let rewritten = work.commit_all("three").await;
    let refused = work.git(&["push", "paas", "main"]).await;
    assert!(!refused.status.success(), "a non-fast-forward went through");

    let out = work.git(&["push", "--force", "paas", "main"]).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("(forced update)"), "{err}");
    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(rewritten));
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_larger_than_the_post_buffer_goes_through_the_probe_and_a_chunked_body() {
    let (server, work) = started().await;
    work.write("blob-a.bin", &random_bytes(3 << 20, 1));
    work.write("blob-b.bin", &random_bytes(3 << 20, 2));
    let head = work.commit_all("six MiB of noise").await;

    // No http.postBuffer set: git's 1 MiB default applies.
    let config = work.git(&["config", "--get", "http.postBuffer"]).await;
    assert!(!config.status.success());
    let out = work.git(&["push", "paas", "main"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    assert!(server.count(|c| &c.probes) >= 1, "git sent no probe");
    assert!(
        server.count(|c| &c.chunked_posts) >= 1,
        "the pack was not chunked"
    );
    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(head));
    assert!(support::quarantines(&repo).is_empty());
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_push_moves_every_ref_or_none() {
    let (server, work) = started().await;
    work.write("a", b"1");
    let first = work.commit_all("one").await;
    work.ok(&["branch", "feature"]).await;
    server.state.fail_pipeline.store(true, Ordering::SeqCst);

    let out = work
        .git(&["push", "--atomic", "paas", "main", "feature"])
        .await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("feature -> feature (atomic push failure)"),
        "{err}"
    );
    assert!(err.contains("main -> main (build failed:"), "{err}");
    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, None);
    assert_eq!(ref_of(&repo, "refs/heads/feature").await, None);
    assert!(support::pack_files(&repo).is_empty());

    server.state.fail_pipeline.store(false, Ordering::SeqCst);
    let out = work
        .git(&["push", "--atomic", "paas", "main", "feature"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(first.clone()));
    assert_eq!(ref_of(&repo, "refs/heads/feature").await, Some(first));
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_options_reach_the_pipeline() {
    let (server, work) = started().await;
    work.commit_all("empty").await;
    let out = work
        .git(&["push", "-o", "ci.skip", "-o", "env=prod", "paas", "main"])
        .await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("remote:        push option env=prod"), "{err}");
    let seen = server.state.options_seen.lock().unwrap().clone();
    assert_eq!(seen, [vec!["ci.skip".to_owned(), "env=prod".to_owned()]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_branch_needs_no_pack_and_the_deploy_branch_is_protected_by_policy() {
    let (server, work) = started().await;
    work.write("a", b"1");
    let head = work.commit_all("one").await;
    work.ok(&["push", "-q", "paas", "main", "main:refs/heads/feature"])
        .await;
    let repo = server.repo("app");
    let packs_before = support::pack_files(&repo);

    let out = work.git(&["push", "paas", "--delete", "feature"]).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("[deleted]"), "{err}");
    assert_eq!(ref_of(&repo, "refs/heads/feature").await, None);
    assert_eq!(support::pack_files(&repo), packs_before);

    let out = work.git(&["push", "paas", "--delete", "main"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("(deleting the deploy branch main is refused"),
        "{err}"
    );
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(head));
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_leaves_the_ref_and_the_objects_as_they_were() {
    let (server, work) = started().await;
    work.write("a", b"1");
    let deployed = work.commit_all("one").await;
    work.ok(&["push", "-q", "paas", "main"]).await;
    let repo = server.repo("app");
    let packs_before = support::pack_files(&repo);

    server.state.fail_pipeline.store(true, Ordering::SeqCst);
    work.write("b", &random_bytes(200_000, 7));
    work.commit_all("two").await;
    let out = work.git(&["push", "paas", "main"]).await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("remote: -----> compile step exited with status 1"),
        "{err}"
    );
    assert!(
        err.contains("! [remote rejected] main -> main (build failed: compile step exited"),
        "{err}"
    );
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(deployed));
    assert_eq!(support::pack_files(&repo), packs_before);
    assert!(support::quarantines(&repo).is_empty());
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_the_size_limit_is_refused_with_the_limit_in_the_message() {
    let limits = ReceiveLimits {
        max_push_bytes: 1 << 20,
        ..ReceiveLimits::default()
    };
    let server = TestServer::start(limits).await;
    let work = Workdir::new().await;
    work.write("noise.bin", &random_bytes(3 << 20, 3));
    work.commit_all("too big").await;

    let out = work.git(&["push", &server.url("app"), "main"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("pack exceeds the 1 MiB push limit; raise PAAS_MAX_PUSH_BYTES"),
        "{err}"
    );
    let repo = server.repo("app");
    assert_eq!(ref_of(&repo, "refs/heads/main").await, None);
    assert!(support::pack_files(&repo).is_empty());
    assert!(support::quarantines(&repo).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_push_still_succeeds_and_reports_nothing_but_errors() {
    let (server, work) = started().await;
    let head = work.commit_all("one").await;
    let out = work.git(&["push", "-q", "paas", "main"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("[new branch]"));
    assert_eq!(
        ref_of(&server.repo("app"), "refs/heads/main").await,
        Some(head)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_branch_at_a_known_commit_sends_an_empty_pack_and_adds_no_pack_file() {
    let (server, work) = started().await;
    work.write("a", b"1");
    let head = work.commit_all("one").await;
    work.ok(&["push", "-q", "paas", "main"]).await;
    let repo = server.repo("app");
    let packs_before = support::pack_files(&repo);

    let out = work.git(&["push", "paas", "main:refs/heads/copy"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ref_of(&repo, "refs/heads/copy").await, Some(head));
    assert_eq!(support::pack_files(&repo), packs_before);
    assert!(support::quarantines(&repo).is_empty());
}
