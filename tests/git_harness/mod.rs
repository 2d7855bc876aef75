//! Test harness: an axum 0.8 server with the two smart-HTTP endpoints wired to the `git`
//! module the way the lead's `api/git.rs` will be, plus a fake deploy pipeline that prints
//! progress, reads the pushed tree through the quarantine, can be told to fail, and records
//! push options. Shared by the integration tests and `examples/git_server.rs`.
#![allow(dead_code)]

pub mod cli;
pub mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paas::git::advertisement::{self, AdvertisementError};
use paas::git::body::{ContentEncoding, ReceiveLimits};
use paas::git::push::Push;
use paas::git::receive_pack::{self, Received};
use paas::git::repo;
use paas::git::report::Reporter;
use paas::git::request::RefUpdateKind;

/// The branch whose pushes run the pipeline.
pub const DEPLOY_REF: &str = "refs/heads/main";

#[derive(Debug, Default)]
pub struct Counters {
    pub probes: AtomicUsize,
    pub gzip_posts: AtomicUsize,
    pub chunked_posts: AtomicUsize,
    pub pipeline_runs: AtomicUsize,
    pub reports_sent: AtomicUsize,
}

#[derive(Debug)]
pub struct HarnessState {
    pub repos_dir: PathBuf,
    pub limits: ReceiveLimits,
    pub fail_pipeline: AtomicBool,
    /// Milliseconds the fake build takes after its first progress line.
    pub pipeline_pause_ms: AtomicU64,
    pub options_seen: Mutex<Vec<Vec<String>>>,
    pub counters: Counters,
}

pub fn router(state: Arc<HarnessState>) -> Router {
    Router::new()
        .route("/{repo}/info/refs", get(info_refs))
        .route("/{repo}/git-receive-pack", post(receive))
        .with_state(state)
}

fn repo_path(state: &HarnessState, repo: &str) -> Option<PathBuf> {
    let app = repo.strip_suffix(".git")?;
    repo::repo_path(&state.repos_dir, app).ok()
}

fn plain(status: StatusCode, message: String) -> Response {
    (status, format!("{message}\n")).into_response()
}

async fn info_refs(
    State(state): State<Arc<HarnessState>>,
    UrlPath(repo): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let wanted = format!("service={}", advertisement::RECEIVE_PACK_SERVICE);
    if !query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == wanted)
    {
        return plain(
            StatusCode::FORBIDDEN,
            "only git push (service=git-receive-pack) is served here".into(),
        );
    }
    let Some(path) = repo_path(&state, &repo) else {
        return plain(StatusCode::NOT_FOUND, format!("no app named {repo}"));
    };
    match advertisement::advertise_receive_pack(path).await {
        Ok(bytes) => {
            let mut response = (
                [(
                    header::CONTENT_TYPE,
                    advertisement::ADVERTISEMENT_CONTENT_TYPE,
                )],
                bytes,
            )
                .into_response();
            for (name, value) in advertisement::NO_CACHE_HEADERS {
                if let Ok(value) = value.parse() {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(e @ AdvertisementError::NotFound(_)) => plain(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn receive(
    State(state): State<Arc<HarnessState>>,
    UrlPath(repo): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(path) = repo_path(&state, &repo) else {
        return plain(StatusCode::NOT_FOUND, format!("no app named {repo}"));
    };
    let encoding_header = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = match ContentEncoding::from_header(encoding_header) {
        Ok(encoding) => encoding,
        Err(e) => return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
    };
    if encoding == ContentEncoding::Gzip {
        state.counters.gzip_posts.fetch_add(1, Ordering::SeqCst);
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        state.counters.chunked_posts.fetch_add(1, Ordering::SeqCst);
    }
    let result = receive_pack::receive(path, body.into_data_stream(), encoding, state.limits).await;
    let result_type = [(header::CONTENT_TYPE, receive_pack::RESULT_CONTENT_TYPE)];
    match result {
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            plain(status, e.to_string())
        }
        Ok(Received::Probe) => {
            state.counters.probes.fetch_add(1, Ordering::SeqCst);
            (result_type, Body::empty()).into_response()
        }
        Ok(Received::Push(push)) => {
            let (reporter, body) = Reporter::new(&push.request.capabilities);
            tokio::spawn(deploy(state, push, reporter));
            (result_type, Body::from_stream(body)).into_response()
        }
    }
}

/// The lead's `ops::deploy` in miniature: policy, pipeline, apply, report.
async fn deploy(state: Arc<HarnessState>, mut push: Push, reporter: Reporter) {
    let progress = reporter.progress();
    state
        .options_seen
        .lock()
        .unwrap()
        .push(push.request.options.clone());
    if let Some(command) = push.pending_for(DEPLOY_REF).cloned() {
        if command.kind() == RefUpdateKind::Delete {
            push.reject(
                DEPLOY_REF,
                "deleting the deploy branch main is refused; destroy the app instead",
            );
        } else {
            state.counters.pipeline_runs.fetch_add(1, Ordering::SeqCst);
            let _ = progress.line("-----> Building main").await;
            let pause = state.pipeline_pause_ms.load(Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            for option in &push.request.options {
                let _ = progress.line(&format!("       push option {option}")).await;
            }
            let objects = push.objects();
            let entries = tokio::task::spawn_blocking(move || -> Result<usize, String> {
                let repo = objects.open_repository().map_err(|e| e.to_string())?;
                let commit = repo.find_commit(command.new).map_err(|e| e.to_string())?;
                let tree = commit.tree().map_err(|e| e.to_string())?;
                Ok(tree.len())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match entries {
                Ok(count) => {
                    let _ = progress
                        .line(&format!("       tree has {count} entries"))
                        .await;
                }
                Err(e) => {
                    push.reject(
                        DEPLOY_REF,
                        format!("build failed: cannot read the tree: {e}"),
                    );
                }
            }
            if state.fail_pipeline.load(Ordering::SeqCst) {
                let _ = progress
                    .line("-----> compile step exited with status 1")
                    .await;
                push.reject(
                    DEPLOY_REF,
                    "build failed: compile step exited with status 1; see the build log",
                );
            } else {
                let _ = progress.line("-----> Released v1").await;
            }
        }
    }
    push.apply().await;
    state.counters.reports_sent.fetch_add(1, Ordering::SeqCst);
    let _ = reporter.finish(&push).await;
}

/// A running harness with one app, `app`, whose repo is empty.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<HarnessState>,
    pub data: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(limits: ReceiveLimits) -> TestServer {
        let data = tempfile::tempdir().expect("temp dir");
        let repos_dir = data.path().join("repos");
        repo::init(&repos_dir, "app").await.expect("init app repo");
        Self::serve(data, repos_dir, limits, "127.0.0.1:0").await
    }

    /// Serves `repos_dir` on `bind`; `data` is kept alive with the server.
    pub async fn serve(
        data: tempfile::TempDir,
        repos_dir: PathBuf,
        limits: ReceiveLimits,
        bind: &str,
    ) -> TestServer {
        let state = Arc::new(HarnessState {
            repos_dir,
            limits,
            fail_pipeline: AtomicBool::new(false),
            pipeline_pause_ms: AtomicU64::new(0),
            options_seen: Mutex::new(Vec::new()),
            counters: Counters::default(),
        });
        let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            addr,
            state,
            data,
            task,
        }
    }

    pub fn url(&self, app: &str) -> String {
        format!("http://{}/{app}.git", self.addr)
    }

    pub fn repo(&self, app: &str) -> PathBuf {
        self.state.repos_dir.join(format!("{app}.git"))
    }

    pub fn count(&self, counter: impl Fn(&Counters) -> &AtomicUsize) -> usize {
        counter(&self.state.counters).load(Ordering::SeqCst)
    }

    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `objects/incoming-*` directories left in a repo.
pub fn quarantines(repo: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(repo.join("objects"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("incoming-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sorted file names in `objects/pack`.
pub fn pack_files(repo: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.join("objects/pack"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
