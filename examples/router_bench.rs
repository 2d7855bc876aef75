//! Benchmark helper for scripts/bench-router. Modes:
//!
//! - `router LISTEN BACKEND`: the paas router on LISTEN, routing `bench.localhost` (and every
//!   other `*.localhost` name is unknown) to BACKEND, access lines built and dropped.
//! - `router-logged LISTEN BACKEND LOGDIR`: the same, with every access line written to
//!   the app's log in LOGDIR as `paas server` does (its default).
//! - `legacy LISTEN BACKEND`: a bare proxy on hyper-util's legacy pooled `Client`, to compare
//!   that pool with the router's own (no routing, headers or logging: a lower bound).
//! - `table APPS`: route-table build and swap time and memory for APPS apps.
//!
//! Not part of the router: it exists to measure it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use paas::logs::AppLogs;
use paas::router::{
    self, AccessLine, AppSpec, AppState, EndpointSpec, RouteSnapshot, RouteSnapshotBuilder, Router,
    RouterSettings,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Counts live heap bytes while `COUNTING` is on (table mode only), to measure table memory.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["router", listen, backend] => {
            runtime.block_on(run_router(parse(listen), parse(backend), None, true))
        }
        ["router-hyper", listen, backend] => {
            runtime.block_on(run_router(parse(listen), parse(backend), None, false))
        }
        ["router-logged", listen, backend, dir] => runtime.block_on(run_router(
            parse(listen),
            parse(backend),
            Some(std::path::PathBuf::from(dir)),
            true,
        )),
        ["legacy", listen, backend] => runtime.block_on(run_legacy(parse(listen), parse(backend))),
        ["table", apps] => runtime.block_on(table(apps.parse().expect("a number of apps"))),
        _ => {
            eprintln!(
                "usage: router_bench router|router-hyper|legacy LISTEN BACKEND | router-logged LISTEN BACKEND LOGDIR | table APPS"
            );
            std::process::exit(2);
        }
    }
}

fn parse(addr: &str) -> SocketAddr {
    addr.parse().expect("an address like 127.0.0.1:8080")
}

async fn run_router(
    listen: SocketAddr,
    backend: SocketAddr,
    log_dir: Option<std::path::PathBuf>,
    fast_path: bool,
) {
    let settings = RouterSettings {
        fast_path,
        ..RouterSettings::new("localhost")
    };
    let router = match log_dir {
        None => Router::new(settings, drop),
        Some(dir) => {
            let (logs, _writer) = AppLogs::start(dir, CancellationToken::new());
            Router::new(settings, move |line: AccessLine| {
                if let Some(app) = &line.app {
                    let mut text = String::with_capacity(AccessLine::CAPACITY);
                    line.write_to(&mut text);
                    logs.platform(app, "router", text);
                }
            })
        }
    };
    let snapshot = RouteSnapshot::builder()
        .app(AppSpec {
            name: "bench".to_owned(),
            domains: vec![],
            state: AppState::Serving(vec![EndpointSpec {
                addr: backend,
                dyno: "web.1".to_owned(),
            }]),
        })
        .build()
        .expect("a valid table");
    router.publish(snapshot);
    if std::env::var_os("ROUTER_BENCH_COUNT_ALLOCATIONS").is_some() {
        // Allocations per request = the printed count / requests served meanwhile.
        COUNTING.store(true, Ordering::SeqCst);
        tokio::spawn(async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                eprintln!(
                    "allocations so far: {}",
                    ALLOCATIONS.load(Ordering::Relaxed)
                );
            }
        });
    }
    let control = axum::Router::new();
    let listener = TcpListener::bind(listen)
        .await
        .expect("the listen address is free");
    eprintln!("router listening on {listen}");
    router::serve(listener, router, control, CancellationToken::new())
        .await
        .expect("the router serves");
}

async fn run_legacy(listen: SocketAddr, backend: SocketAddr) {
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build_http();
    let listener = TcpListener::bind(listen)
        .await
        .expect("the listen address is free");
    eprintln!("legacy proxy listening on {listen}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut request: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
                    let uri: Uri = format!("http://{backend}{path}").parse().expect("a uri");
                    *request.uri_mut() = uri;
                    let response = match client.request(request).await {
                        Ok(response) => response.map(http_body_util::Either::Left),
                        Err(_) => hyper::Response::builder()
                            .status(502)
                            .body(http_body_util::Either::Right(http_body_util::Empty::new()))
                            .expect("a response"),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn apps(mut builder: RouteSnapshotBuilder, count: usize, generation: u16) -> RouteSnapshotBuilder {
    for i in 0..count {
        builder = builder.app(AppSpec {
            name: format!("app-{i}"),
            domains: vec![format!("www.app-{i}.example.com")],
            state: AppState::Serving(
                (0..2)
                    .map(|d| EndpointSpec {
                        addr: SocketAddr::from((
                            [172, 18, (i / 250) as u8, (i % 250) as u8],
                            5000 + d + generation,
                        )),
                        dyno: format!("web.{}", d + 1),
                    })
                    .collect(),
            ),
        });
    }
    builder
}

async fn table(count: usize) {
    let router = Router::new(RouterSettings::new("localhost"), drop);
    router.publish(
        apps(RouteSnapshot::builder(), count, 0)
            .build()
            .expect("a valid table"),
    );

    COUNTING.store(true, Ordering::SeqCst);
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    let snapshot = apps(RouteSnapshot::builder(), count, 1)
        .build()
        .expect("a valid table");
    let table_bytes = LIVE_BYTES.load(Ordering::SeqCst) - before;
    COUNTING.store(false, Ordering::SeqCst);
    drop(snapshot);

    let mut builds = Vec::new();
    let mut swaps = Vec::new();
    let mut frees = Vec::new();
    for round in 0..50u16 {
        let started = Instant::now();
        // As the scheduler would: start from the live table so endpoints are reused.
        let builder = RouteSnapshotBuilder::reusing(&router.snapshot());
        let snapshot = apps(builder, count, round % 2)
            .build()
            .expect("a valid table");
        builds.push(started.elapsed());
        // Held so that freeing the old table is timed apart from the swap.
        let old = router.snapshot();
        let started = Instant::now();
        router.publish(snapshot);
        swaps.push(started.elapsed());
        let started = Instant::now();
        drop(old);
        frees.push(started.elapsed());
    }
    let snapshot = router.snapshot();
    let started = Instant::now();
    let default_host = format!("app-{}.localhost", count / 2);
    let lookups = 1_000_000;
    let mut found = 0;
    for i in 0..lookups {
        let host = if i % 2 == 0 {
            default_host.as_str()
        } else {
            "www.app-7.example.com"
        };
        found += usize::from(snapshot.route_host(host, "localhost").is_some());
    }
    let per_lookup = started.elapsed() / lookups;
    assert_eq!(found, lookups as usize);
    builds.sort();
    swaps.sort();
    frees.sort();
    println!(
        "apps={count} routes={} (1 default host + 1 custom domain + 2 endpoints each)",
        count * 2
    );
    println!(
        "table memory: {} bytes total, {:.0} bytes per app, {:.2} MiB per 1000 apps",
        table_bytes,
        table_bytes as f64 / count as f64,
        table_bytes as f64 * 1000.0 / count as f64 / 1048576.0
    );
    println!(
        "build (plain data -> snapshot): median {:?}, max {:?}",
        builds[builds.len() / 2],
        builds[builds.len() - 1]
    );
    println!(
        "publish (attach metrics + atomic swap): median {:?}, max {:?}; freeing the old table: median {:?}",
        swaps[swaps.len() / 2],
        swaps[swaps.len() - 1],
        frees[frees.len() / 2]
    );
    println!("host lookup (normalise host and domain + resolve): {per_lookup:?}");
}
