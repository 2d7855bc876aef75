//! Requests no git client sends, over raw TCP: garbage, truncation, bad gzip, stalls and
//! disconnects. Each must end in a 4xx or `unpack <error>`, never a panic, with the
//! repository unchanged (refs, packs, no quarantine left, `git fsck` clean).

#[path = "git_harness/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use paas::git::body::ReceiveLimits;
use support::cli::{Workdir, assert_fsck_clean, pack_of, random_bytes, ref_of};
use support::http::{self, ZERO, push_body};
use support::{TestServer, pack_files, quarantines};

const REQUEST_TYPE: (&str, &str) = ("Content-Type", "application/x-git-receive-pack-request");

/// A client repo with one commit, and the pack that carries it.
async fn one_commit() -> (Workdir, String, Vec<u8>) {
    let work = Workdir::new().await;
    work.write("app.bin", &random_bytes(300_000, 5));
    let head = work.commit_all("one").await;
    let pack = pack_of(&work, "HEAD", false).await;
    (work, head, pack)
}

async fn post(server: &TestServer, body: &[u8], extra: &[(&str, &str)]) -> http::RawResponse {
    let mut headers = vec![REQUEST_TYPE];
    headers.extend_from_slice(extra);
    http::request(
        server.addr,
        "POST",
        "/app.git/git-receive-pack",
        &headers,
        body,
    )
    .await
}

async fn assert_untouched(repo: &Path, packs_before: &[String]) {
    assert_eq!(ref_of(repo, "refs/heads/main").await, None);
    assert_eq!(pack_files(repo), packs_before);
    assert!(quarantines(repo).is_empty(), "{:?}", quarantines(repo));
    assert_fsck_clean(repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advertisement_of_an_empty_repo_has_the_capabilities_line_and_no_cache_headers() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let path = "/app.git/info/refs?service=git-receive-pack";
    let response = http::request(server.addr, "GET", path, &[], b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-git-receive-pack-advertisement")
    );
    assert_eq!(
        response.header("cache-control"),
        Some("no-cache, max-age=0, must-revalidate")
    );
    let text = response.text();
    assert!(
        text.starts_with("001f# service=git-receive-pack\n0000"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{ZERO} capabilities^{{}}\0report-status")),
        "{text}"
    );
    assert!(text.ends_with("\n0000"));

    let upload = "/app.git/info/refs?service=git-upload-pack";
    let refused = http::request(server.addr, "GET", upload, &[], b"").await;
    assert_eq!(refused.status, 403);
    let missing = "/nope.git/info/refs?service=git-receive-pack";
    assert_eq!(
        http::request(server.addr, "GET", missing, &[], b"")
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_body_gets_an_empty_200() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let response = post(&server, b"0000", &[]).await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(server.count(|c| &c.probes), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_bodies_cut_inside_the_command_list_are_400s_that_change_nothing() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let repo = server.repo("app");
    let command = push_body(
        &[(ZERO, &"1".repeat(40), "refs/heads/main")],
        "report-status",
        &[],
        b"",
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random_bytes(5000, 9)),
        ("empty body", Vec::new()),
        ("bad pkt length", b"zzzz0000".to_vec()),
        ("command cut mid-line", command[..30].to_vec()),
        (
            "no flush after commands",
            command[..command.len() - 4].to_vec(),
        ),
        (
            "invalid ref name",
            push_body(
                &[(ZERO, &"1".repeat(40), "HEAD")],
                "report-status",
                &[],
                b"",
            ),
        ),
    ];
    for (name, body) in cases {
        let response = post(&server, &body, &[]).await;
        assert_eq!(response.status, 400, "{name}: {}", response.text());
        assert!(
            response.text().starts_with("bad receive-pack request"),
            "{name}"
        );
    }
    assert_untouched(&repo, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_or_garbage_pack_is_an_unpack_error_that_changes_nothing() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let repo = server.repo("app");
    let (_work, head, pack) = one_commit().await;
    let command = [(ZERO, head.as_str(), "refs/heads/main")];
    let mut corrupted = pack.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0xff;
    let cases = [
        ("half a pack", pack[..pack.len() / 2].to_vec()),
        ("pack without trailer", pack[..pack.len() - 20].to_vec()),
        ("flipped byte", corrupted),
        ("not a pack", random_bytes(10_000, 4)),
        ("no pack at all", Vec::new()),
    ];
    for (name, pack) in cases {
        let body = push_body(&command, "report-status", &[], &pack);
        let response = post(&server, &body, &[]).await;
        let text = response.text();
        assert_eq!(response.status, 200, "{name}: {text}");
        assert!(
            text.contains("unpack ") && !text.contains("unpack ok"),
            "{name}: {text}"
        );
        assert!(
            text.contains("ng refs/heads/main unpacker error"),
            "{name}: {text}"
        );
    }
    assert_eq!(server.count(|c| &c.pipeline_runs), 0);
    assert_untouched(&repo, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_that_lacks_the_pushed_commit_is_refused_for_that_ref() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let (_work, _head, pack) = one_commit().await;
    let elsewhere = "2".repeat(40);
    let body = push_body(
        &[(ZERO, &elsewhere, "refs/heads/main")],
        "report-status",
        &[],
        &pack,
    );
    let text = post(&server, &body, &[]).await.text();
    assert!(text.contains("unpack ok"), "{text}");
    assert!(
        text.contains("ng refs/heads/main missing necessary objects"),
        "{text}"
    );
    assert_untouched(&server.repo("app"), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_are_accepted_and_bad_gzip_is_a_400() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let repo = server.repo("app");
    let (_work, head, pack) = one_commit().await;
    let body = push_body(
        &[(ZERO, &head, "refs/heads/main")],
        "report-status",
        &[],
        &pack,
    );

    let bad = post(&server, &body, &[("Content-Encoding", "gzip")]).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_untouched(&repo, &[]).await;

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let gzipped = gz.finish().unwrap();
    let response = post(&server, &gzipped, &[("Content-Encoding", "gzip")]).await;
    let text = response.text();
    assert!(
        text.contains("unpack ok") && text.contains("ok refs/heads/main"),
        "{text}"
    );
    assert_eq!(ref_of(&repo, "refs/heads/main").await, Some(head));
    assert_fsck_clean(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_after_a_delete_only_command_list_is_a_400() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let old = "1".repeat(40);
    let body = push_body(
        &[(&old, ZERO, "refs/heads/x")],
        "report-status delete-refs",
        &[],
        b"PACK",
    );
    assert_eq!(post(&server, &body, &[]).await.status, 400);
}

/// Waits until the server has cleaned up after a push it is still handling.
async fn eventually_no_quarantine(repo: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !quarantines(repo).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_disconnecting_mid_pack_leaves_nothing_behind() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    let repo = server.repo("app");
    let (_work, head, pack) = one_commit().await;
    let body = push_body(
        &[(ZERO, &head, "refs/heads/main")],
        "report-status side-band-64k",
        &[],
        &pack,
    );

    let stream = http::open_chunked_post(
        server.addr,
        "/app.git/git-receive-pack",
        &body[..body.len() / 2],
    )
    .await;
    // Let the server create the quarantine and index part of the pack.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while quarantines(&repo).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        quarantines(&repo).len(),
        1,
        "the pack never reached a quarantine"
    );
    drop(stream);

    eventually_no_quarantine(&repo).await;
    assert_eq!(server.count(|c| &c.pipeline_runs), 0);
    assert_untouched(&repo, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_runs_into_the_receive_timeout() {
    let limits = ReceiveLimits {
        receive_timeout: Duration::from_secs(1),
        ..ReceiveLimits::default()
    };
    let server = TestServer::start(limits).await;
    let repo = server.repo("app");
    let (_work, head, pack) = one_commit().await;
    let body = push_body(
        &[(ZERO, &head, "refs/heads/main")],
        "report-status",
        &[],
        &pack,
    );

    let mut stream = http::open_chunked_post(
        server.addr,
        "/app.git/git-receive-pack",
        &body[..body.len() / 2],
    )
    .await;
    let pieces = http::read_timed(&mut stream).await;
    let raw: Vec<u8> = pieces.into_iter().flat_map(|(_, bytes)| bytes).collect();
    let text = http::parse_response(&raw).text();
    assert!(
        text.contains("unpack receiving the pack took longer than 1s"),
        "{text}"
    );
    drop(stream);
    eventually_no_quarantine(&repo).await;
    assert_untouched(&repo, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reaches_the_client_while_the_pipeline_is_still_running() {
    let server = TestServer::start(ReceiveLimits::default()).await;
    server
        .state
        .pipeline_pause_ms
        .store(1500, std::sync::atomic::Ordering::SeqCst);
    let (_work, head, pack) = one_commit().await;
    let body = push_body(
        &[(ZERO, &head, "refs/heads/main")],
        "report-status-v2 side-band-64k",
        &[],
        &pack,
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head_text = format!(
        "POST /app.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    use tokio::io::AsyncWriteExt;
    stream.write_all(head_text.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();

    let pieces = http::read_timed(&mut stream).await;
    let arrival = |needle: &[u8]| {
        pieces
            .iter()
            .find(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("{} never arrived", String::from_utf8_lossy(needle)))
    };
    let building = arrival(b"\x02-----> Building main");
    let report = arrival(b"unpack ok");
    assert!(
        report.duration_since(building) >= Duration::from_millis(1000),
        "progress was held back until the end"
    );
    assert_eq!(
        ref_of(&server.repo("app"), "refs/heads/main").await,
        Some(head)
    );
}
