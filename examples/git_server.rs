//! Serves the test harness's receive-pack endpoints (with its fake pipeline) on 127.0.0.1
//! for `scripts/bench-git-push`: `git_server REPOS_DIR [BIND]` creates the app `bench` if
//! missing and prints `listening on http://ADDR` once it accepts pushes.

#[path = "../tests/git_harness/mod.rs"]
mod support;

use std::io::Write;
use std::path::PathBuf;

use paas::git::body::ReceiveLimits;
use paas::git::repo;

fn main() {
    // SAFETY: first thing in main, before the runtime starts: no other thread uses git2.
    if let Err(e) = unsafe { paas::git::libgit2::limit_mapped_memory() } {
        eprintln!("cannot configure libgit2: {e}");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve());
}

async fn serve() {
    let mut args = std::env::args().skip(1);
    let Some(repos_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: git_server REPOS_DIR [BIND]");
        std::process::exit(2);
    };
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    if !repos_dir.join("bench.git").exists()
        && let Err(e) = repo::init(&repos_dir, "bench").await
    {
        eprintln!("cannot create the bench repository: {e}");
        std::process::exit(1);
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let server =
        support::TestServer::serve(scratch, repos_dir, ReceiveLimits::default(), &bind).await;
    println!("listening on http://{}", server.addr);
    let _ = std::io::stdout().flush();
    server.wait().await;
}
