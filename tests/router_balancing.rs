//! Integration tests of the router's table swaps, balancing, retries, shutdown, access log
//! and metrics, against backends on 127.0.0.1:0 started by each test.

#[path = "router/support.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Request, Response, StatusCode};
use paas::router::RouterSettings;
use tokio::net::TcpStream;

use support::*;

fn settings() -> RouterSettings {
    RouterSettings::new("localhost")
}

/// A backend that waits `delay` before answering `backend=NAME`.
async fn slow_backend(name: &'static str, delay: Duration) -> std::net::SocketAddr {
    backend(move |_| async move {
        tokio::time::sleep(delay).await;
        Response::new(full(format!("backend={name}\n")))
    })
    .await
}

#[tokio::test]
async fn swapping_the_table_under_concurrent_requests_fails_none() {
    let router = Arc::new(start_router(settings()).await);
    let a = echo_backend("a").await;
    let b = echo_backend("b").await;
    router.publish(vec![serving("app", &[], &[a])]);
    let swapper = tokio::spawn({
        let router = Arc::clone(&router);
        async move {
            for round in 0.. {
                let endpoints = match round % 3 {
                    0 => vec![a],
                    1 => vec![b],
                    _ => vec![a, b],
                };
                router.publish(vec![serving("app", &[], &endpoints)]);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut workers = Vec::new();
    for _ in 0..8 {
        let router = Arc::clone(&router);
        workers.push(tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..100 {
                let answer = get(&router, "app.localhost", "/").await;
                if answer.status != StatusCode::OK {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for worker in workers {
        failures += worker.await.unwrap();
    }
    swapper.abort();
    assert_eq!(failures, 0);
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_the_old_endpoint_after_a_swap() {
    let router = start_router(settings()).await;
    let old = slow_backend("old", Duration::from_millis(400)).await;
    let new = echo_backend("new").await;
    router.publish(vec![serving("app", &[], &[old])]);
    let in_flight = tokio::spawn({
        let url = router.url("/");
        async move {
            let request = Request::get(url).header("host", "app.localhost");
            let response = client()
                .request(request.body(full("")).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap();
            (status, body.to_bytes())
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let old_endpoint = router
        .router
        .snapshot()
        .endpoint("app", old)
        .cloned()
        .unwrap();
    assert_eq!(old_endpoint.in_flight(), 1);
    router.publish(vec![serving("app", &[], &[new])]);
    assert_eq!(
        get(&router, "app.localhost", "/").await.echoed("backend"),
        Some("new")
    );
    assert!(!old_endpoint.wait_drained(Duration::from_millis(10)).await);
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "backend=old\n");
    assert!(old_endpoint.wait_drained(Duration::from_secs(2)).await);
    assert_eq!(old_endpoint.in_flight(), 0);
}

#[tokio::test]
async fn load_spreads_across_three_endpoints() {
    let router = start_router(settings()).await;
    let backends = [
        echo_backend("one").await,
        echo_backend("two").await,
        echo_backend("three").await,
    ];
    router.publish(vec![serving("app", &[], &backends)]);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        let answer = get(&router, "app.localhost", "/").await;
        *counts
            .entry(answer.echoed("backend").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.values().all(|&n| (70..=130).contains(&n)),
        "{counts:?}"
    );
}

#[tokio::test]
async fn concurrent_load_goes_to_the_least_busy_endpoint() {
    let router = Arc::new(start_router(settings()).await);
    let slow = slow_backend("slow", Duration::from_millis(300)).await;
    let fast = slow_backend("fast", Duration::from_millis(5)).await;
    router.publish(vec![serving("app", &[], &[slow, fast])]);
    let mut requests = Vec::new();
    for _ in 0..20 {
        let router = Arc::clone(&router);
        requests.push(tokio::spawn(async move {
            get(&router, "app.localhost", "/")
                .await
                .echoed("backend")
                .unwrap()
                .to_owned()
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut slow_count = 0;
    for request in requests {
        slow_count += usize::from(request.await.unwrap() == "slow");
    }
    assert!(
        slow_count <= 3,
        "{slow_count} of 20 went to the busy endpoint"
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_ejected_and_its_requests_retried_elsewhere() {
    let router = start_router(settings()).await;
    let dead = closed_port().await;
    let alive = echo_backend("alive").await;
    router.publish(vec![serving("app", &[], &[dead, alive])]);
    for _ in 0..20 {
        let answer = get(&router, "app.localhost", "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.echoed("backend"), Some("alive"));
    }
    let endpoint = router
        .router
        .snapshot()
        .endpoint("app", dead)
        .cloned()
        .unwrap();
    assert!(endpoint.is_ejected());
    let metrics = router.router.metrics_text();
    assert!(
        metrics
            .contains("paas_router_upstream_errors_total{app=\"app\",kind=\"connect_refused\"} 1"),
        "one refusal ejects the endpoint for the next requests:\n{metrics}"
    );
    assert!(
        router
            .lines()
            .iter()
            .all(|l| l.error.is_none() && l.dyno.as_deref() == Some("web.2"))
    );
}

#[tokio::test]
async fn an_app_whose_only_endpoint_is_dead_gets_a_502() {
    let router = start_router(settings()).await;
    router.publish(vec![serving("app", &[], &[closed_port().await])]);
    let answer = get(&router, "app.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.body.contains("refused the connection"),
        "{}",
        answer.body
    );
    assert!(
        router
            .lines()
            .pop()
            .unwrap()
            .to_string()
            .contains("code=H21")
    );
}

#[tokio::test]
async fn access_lines_and_metrics_describe_each_request() {
    let router = start_router(settings()).await;
    router.publish(vec![serving("api", &[], &[echo_backend("api").await])]);
    let answer = get_with(
        &router,
        "api.localhost",
        "/items?page=2",
        &[("x-request-id", "rid-7")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let line = router.lines().pop().unwrap();
    assert_eq!(line.app.as_deref(), Some("api"));
    let text = line.to_string();
    for expected in [
        "at=info method=GET path=\"/items?page=2\" host=api.localhost request_id=rid-7 fwd=127.0.0.1 dyno=web.1 ",
        "status=200 ",
        &format!("bytes={} ", answer.body.len()),
        "protocol=http",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    let metrics = router.router.metrics_text();
    for expected in [
        "paas_router_requests_total{app=\"api\",class=\"2xx\"} 1",
        "paas_router_response_seconds_count{app=\"api\"} 1",
        "paas_router_in_flight{app=\"api\",dyno=\"web.1\"} 0",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let router = start_router(settings()).await;
    router.publish(vec![serving(
        "app",
        &[],
        &[slow_backend("slow", Duration::from_millis(300)).await],
    )]);
    let in_flight = tokio::spawn({
        let url = router.url("/");
        async move {
            let request = Request::get(url).header("host", "app.localhost");
            client()
                .request(request.body(full("")).unwrap())
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    router.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(router.addr).await.is_err(),
        "the listener is closed"
    );
    assert_eq!(in_flight.await.unwrap(), StatusCode::OK);
    let served = tokio::time::timeout(Duration::from_secs(5), router.served).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
}

#[tokio::test]
async fn shutdown_cuts_requests_still_running_after_the_grace_period() {
    let router = start_router(RouterSettings {
        drain_grace: Duration::from_millis(200),
        ..settings()
    })
    .await;
    router.publish(vec![serving(
        "app",
        &[],
        &[slow_backend("stuck", Duration::from_secs(30)).await],
    )]);
    let in_flight = tokio::spawn({
        let url = router.url("/");
        async move {
            let request = Request::get(url).header("host", "app.localhost");
            client().request(request.body(full("")).unwrap()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    router.shutdown.cancel();
    let served = tokio::time::timeout(Duration::from_secs(3), router.served).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "shutdown took too long: {served:?}"
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the stuck request is cut"
    );
}

/// Reads until the router closes the connection; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_and_trickling_heads_are_closed() {
    use tokio::io::AsyncWriteExt;
    let router = start_router(RouterSettings {
        idle_timeout: Duration::from_millis(200),
        request_header_timeout: Duration::from_millis(200),
        ..settings()
    })
    .await;
    router.publish(vec![serving("app", &[], &[echo_backend("app").await])]);

    let mut idle = TcpStream::connect(router.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nhost: app.localhost\r\n\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(3), read_until_closed(&mut idle))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"));
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Trickling a byte every 50 ms keeps the connection from being idle: only the
    // request-header timeout can cut it.
    let slow = TcpStream::connect(router.addr).await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let started = std::time::Instant::now();
    let trickle = tokio::spawn(async move {
        writer
            .write_all(b"GET / HTTP/1.1\r\nhost: app.localhost\r\nx-slow: ")
            .await
            .unwrap();
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 64];
    let read = tokio::io::AsyncReadExt::read(&mut reader, &mut buf);
    let closed = tokio::time::timeout(Duration::from_secs(2), read).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    trickle.abort();
}
