//! Test support for tests/router.rs: a router on 127.0.0.1:0 with an axum control plane and
//! a recorded access log, small hyper backends, and a client.

#![allow(dead_code)] // each test binary uses a different part of it

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use paas::router::{
    self, AccessLine, AppSpec, AppState, EndpointSpec, RouteSnapshot, Router, RouterError,
    RouterSettings,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = BoxBody<Bytes, BoxError>;

pub fn full(text: impl Into<Bytes>) -> TestBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

pub struct TestRouter {
    pub addr: SocketAddr,
    pub router: Router,
    pub lines: Arc<Mutex<Vec<AccessLine>>>,
    pub shutdown: CancellationToken,
    pub served: JoinHandle<Result<(), RouterError>>,
}

impl TestRouter {
    pub fn publish(&self, apps: Vec<AppSpec>) {
        let mut builder = RouteSnapshot::builder();
        for app in apps {
            builder = builder.app(app);
        }
        self.router.publish(builder.build().unwrap());
    }

    pub fn lines(&self) -> Vec<AccessLine> {
        self.lines.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A router serving on 127.0.0.1:0, with `localhost` as the control host and the domain.
/// `PAAS_TEST_ROUTER_PATH=hyper` turns the fast path off, so the same tests cover hyper's.
pub async fn start_router(mut settings: RouterSettings) -> TestRouter {
    if std::env::var("PAAS_TEST_ROUTER_PATH").as_deref() == Ok("hyper") {
        settings.fast_path = false;
    }
    let lines = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new(settings, {
        let lines = Arc::clone(&lines);
        move |line| lines.lock().unwrap().push(line)
    });
    let control = axum::Router::new().route("/", axum::routing::get(|| async { "control plane" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(router::serve(
        listener,
        router.clone(),
        control,
        shutdown.clone(),
    ));
    TestRouter {
        addr,
        router,
        lines,
        shutdown,
        served,
    }
}

pub fn serving(name: &str, domains: &[&str], endpoints: &[SocketAddr]) -> AppSpec {
    AppSpec {
        name: name.to_owned(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        state: AppState::Serving(
            endpoints
                .iter()
                .enumerate()
                .map(|(i, addr)| EndpointSpec {
                    addr: *addr,
                    dyno: format!("web.{}", i + 1),
                })
                .collect(),
        ),
    }
}

/// An HTTP/1.1 backend on 127.0.0.1:0 answering every request with `handler`.
pub async fn backend<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// A backend that answers `backend=NAME` plus the request's path and interesting headers.
pub async fn echo_backend(name: &'static str) -> SocketAddr {
    backend(move |request: Request<Incoming>| async move {
        let mut text = format!("backend={name}\npath={}\n", request.uri());
        for header in [
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-request-id",
            "connection",
            "x-hop",
        ] {
            if let Some(value) = request.headers().get(header) {
                text.push_str(&format!("{header}={}\n", value.to_str().unwrap()));
            }
        }
        Response::new(full(text))
    })
    .await
}

pub fn client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The value of `key=` in an echo backend's answer.
    pub fn echoed(&self, key: &str) -> Option<&str> {
        self.body
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    }
}

pub async fn get(router: &TestRouter, host: &str, path: &str) -> Answer {
    get_with(router, host, path, &[]).await
}

pub async fn get_with(
    router: &TestRouter,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::get(router.url(path)).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client()
        .request(request.body(full("")).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A field of /proc/self/status in KiB, e.g. `VmRSS` or `VmHWM`.
pub fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
