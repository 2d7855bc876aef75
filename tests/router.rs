//! Integration tests of the router: a real listener on 127.0.0.1:0 in front of small
//! backends started by each test.

#[path = "router/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use paas::router::{AppSpec, AppState, RouterSettings, UnavailableReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use support::*;

fn settings() -> RouterSettings {
    RouterSettings::new("localhost")
}

#[tokio::test]
async fn requests_route_by_default_host_and_custom_domain() {
    let router = start_router(settings()).await;
    let blog = echo_backend("blog").await;
    let shop = echo_backend("shop").await;
    router.publish(vec![
        serving("blog", &["www.example.com"], &[blog]),
        serving("shop", &[], &[shop]),
    ]);
    assert_eq!(
        get(&router, "blog.localhost", "/").await.echoed("backend"),
        Some("blog")
    );
    assert_eq!(
        get(&router, "SHOP.localhost:8080", "/")
            .await
            .echoed("backend"),
        Some("shop")
    );
    assert_eq!(
        get(&router, "www.example.com.", "/a?b=c")
            .await
            .echoed("path"),
        Some("/a?b=c")
    );
}

#[tokio::test]
async fn a_wildcard_domain_routes_subdomains_one_label_deep() {
    let router = start_router(settings()).await;
    let tenant = echo_backend("tenant").await;
    let admin = echo_backend("admin").await;
    router.publish(vec![
        serving("tenant", &["*.example.com"], &[tenant]),
        serving("admin", &["admin.example.com"], &[admin]),
    ]);
    assert_eq!(
        get(&router, "acme.example.com", "/")
            .await
            .echoed("backend"),
        Some("tenant")
    );
    assert_eq!(
        get(&router, "admin.example.com", "/")
            .await
            .echoed("backend"),
        Some("admin")
    );
    assert_eq!(
        get(&router, "a.b.example.com", "/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_unknown_host_gets_a_404_naming_the_host_and_the_fix() {
    let router = start_router(settings()).await;
    let text = get(&router, "nope.example.org", "/").await;
    assert_eq!(text.status, StatusCode::NOT_FOUND);
    assert!(
        text.body
            .contains("paas domains:add nope.example.org -a APP"),
        "{}",
        text.body
    );
    assert!(
        text.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let html = get_with(&router, "nope.example.org", "/", &[("accept", "text/html")]).await;
    assert!(html.body.starts_with("<!DOCTYPE html>"), "{}", html.body);
    assert!(html.body.contains("nope.example.org"));
    let line = router.lines().pop().unwrap().to_string();
    assert!(line.starts_with("at=error code=NOAPP"), "{line}");
}

#[tokio::test]
async fn an_app_without_endpoints_gets_a_503_with_its_reason() {
    let router = start_router(settings()).await;
    router.publish(vec![
        AppSpec {
            name: "idle".to_owned(),
            domains: vec![],
            state: AppState::Unavailable(UnavailableReason::ScaledToZero),
        },
        AppSpec {
            name: "fresh".to_owned(),
            domains: vec![],
            state: AppState::Unavailable(UnavailableReason::NeverDeployed),
        },
        serving("empty", &[], &[]),
    ]);
    let idle = get(&router, "idle.localhost", "/").await;
    assert_eq!(idle.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        idle.body.contains("paas ps:scale web=1 -a idle"),
        "{}",
        idle.body
    );
    let fresh = get(&router, "fresh.localhost", "/").await;
    assert!(fresh.body.contains("git push paas main"), "{}", fresh.body);
    let empty = get(&router, "empty.localhost", "/").await;
    assert_eq!(empty.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        empty.body.contains("no healthy web process"),
        "{}",
        empty.body
    );
    assert!(
        router
            .lines()
            .iter()
            .all(|l| l.to_string().contains("code=H14"))
    );
}

#[tokio::test]
async fn control_hosts_reach_the_control_plane() {
    let router = start_router(settings()).await;
    for host in ["localhost", "127.0.0.1", "LOCALHOST:9"] {
        assert_eq!(
            get(&router, host, "/").await.body,
            "control plane",
            "{host}"
        );
    }
    assert!(
        router.lines().is_empty(),
        "the control plane is not in the access log"
    );
}

#[tokio::test]
async fn forwarded_headers_and_the_request_id_reach_the_app_and_the_client() {
    let router = start_router(settings()).await;
    router.publish(vec![serving("api", &[], &[echo_backend("api").await])]);
    let host = format!("api.localhost:{}", router.addr.port());
    let answer = get_with(&router, &host, "/", &[("x-forwarded-for", "6.6.6.6")]).await;
    assert_eq!(answer.echoed("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(answer.echoed("x-forwarded-proto"), Some("http"));
    assert_eq!(answer.echoed("x-forwarded-host"), Some(host.as_str()));
    assert_eq!(
        answer.echoed("x-forwarded-port"),
        Some(router.addr.port().to_string().as_str())
    );
    assert_eq!(
        answer.echoed("host"),
        Some(host.as_str()),
        "the original Host is kept"
    );
    let generated = answer.headers["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36);
    assert_eq!(answer.echoed("x-request-id"), Some(generated));

    let kept = get_with(&router, &host, "/", &[("x-request-id", "client-chosen-id")]).await;
    assert_eq!(kept.echoed("x-request-id"), Some("client-chosen-id"));
    assert_eq!(kept.headers["x-request-id"], "client-chosen-id");
    let replaced = get_with(&router, &host, "/", &[("x-request-id", "bad id")]).await;
    assert_ne!(replaced.echoed("x-request-id"), Some("bad id"));
}

#[tokio::test]
async fn trusted_proxies_have_the_client_address_appended() {
    let router = start_router(RouterSettings {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..settings()
    })
    .await;
    router.publish(vec![serving("api", &[], &[echo_backend("api").await])]);
    let headers = [
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
    ];
    let answer = get_with(&router, "api.localhost", "/", &headers).await;
    assert_eq!(
        answer.echoed("x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(answer.echoed("x-forwarded-proto"), Some("https"));
    let line = router.lines().pop().unwrap().to_string();
    assert!(line.contains("fwd=198.51.100.7 "), "{line}");
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_reach_the_app() {
    let router = start_router(settings()).await;
    router.publish(vec![serving("api", &[], &[echo_backend("api").await])]);
    let answer = get_with(
        &router,
        "api.localhost",
        "/",
        &[("connection", "x-hop"), ("x-hop", "1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.echoed("x-hop"), None);
    assert_eq!(answer.echoed("connection"), None);
}

#[tokio::test]
async fn oversized_or_too_many_request_headers_get_431() {
    let router = start_router(RouterSettings {
        max_header_bytes: 16 * 1024,
        max_headers: 20,
        ..settings()
    })
    .await;
    router.publish(vec![serving("api", &[], &[echo_backend("api").await])]);
    let big = "x".repeat(20 * 1024);
    let answer = get_with(&router, "api.localhost", "/", &[("x-big", &big)]).await;
    assert_eq!(answer.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let names: Vec<String> = (0..25).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let answer = get_with(&router, "api.localhost", "/", &many).await;
    assert_eq!(answer.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        get(&router, "api.localhost", "/").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_websocket_echoes_through_the_router() {
    let router = start_router(settings()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if message.is_text() || message.is_binary() {
                socket.send(message).await.unwrap();
            }
        }
    });
    router.publish(vec![serving("chat", &[], &[backend])]);
    let stream = TcpStream::connect(router.addr).await.unwrap();
    let (mut socket, response) =
        tokio_tungstenite::client_async("ws://chat.localhost/socket", stream)
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "world"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = socket.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    let endpoint = router
        .router
        .snapshot()
        .endpoint("chat", backend)
        .cloned()
        .unwrap();
    assert_eq!(
        endpoint.in_flight(),
        1,
        "an open tunnel counts as in flight"
    );
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    drop(socket);
    assert!(endpoint.wait_drained(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one() {
    let router = start_router(settings()).await;
    let backend = backend(|_| async {
        let events = futures_util::stream::unfold(0, |i| async move {
            if i == 3 {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let frame = Frame::data(Bytes::from(format!("data: {i}\n\n")));
            Some((Ok::<_, BoxError>(frame), i + 1))
        });
        let mut response = Response::new(BodyExt::boxed(StreamBody::new(events)));
        response
            .headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        response
    })
    .await;
    router.publish(vec![serving("feed", &[], &[backend])]);
    let started = Instant::now();
    let request = Request::get(router.url("/events")).header("host", "feed.localhost");
    let response = client()
        .request(request.body(full("")).unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            arrivals.push((started.elapsed(), String::from_utf8(data.to_vec()).unwrap()));
        }
    }
    let texts: Vec<&str> = arrivals.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["data: 0\n\n", "data: 1\n\n", "data: 2\n\n"]);
    assert!(
        arrivals[0].0 < Duration::from_millis(250),
        "first event held back: {arrivals:?}"
    );
    assert!(
        arrivals[1].0 < Duration::from_millis(550),
        "second event held back: {arrivals:?}"
    );
    assert!(arrivals[2].0 >= Duration::from_millis(550), "{arrivals:?}");
}

static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
const STREAMED: u64 = 200 * 1024 * 1024;

fn chunks(total: u64) -> TestBody {
    let count = total / CHUNK.len() as u64;
    let stream = futures_util::stream::iter(0..count)
        .map(|_| Ok::<_, BoxError>(Frame::data(Bytes::from_static(&CHUNK))));
    BodyExt::boxed(StreamBody::new(stream))
}

#[tokio::test]
async fn streaming_200_mib_both_ways_does_not_grow_memory() {
    let router = start_router(settings()).await;
    let backend = backend(|request: Request<hyper::body::Incoming>| async move {
        if request.method() == hyper::Method::POST {
            let mut body = request.into_body();
            let mut received = 0u64;
            while let Some(frame) = body.frame().await {
                received += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
            }
            return Response::new(full(received.to_string()));
        }
        Response::new(chunks(STREAMED))
    })
    .await;
    router.publish(vec![serving("bulk", &[], &[backend])]);

    let baseline = memory_kib("VmRSS");
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(memory_kib("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });

    let download = Request::get(router.url("/download")).header("host", "bulk.localhost");
    let response = client()
        .request(download.body(full("")).unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut downloaded = 0u64;
    while let Some(frame) = body.frame().await {
        downloaded += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(downloaded, STREAMED);

    let upload = Request::post(router.url("/upload")).header("host", "bulk.localhost");
    let response = client()
        .request(upload.body(chunks(STREAMED)).unwrap())
        .await
        .unwrap();
    let received = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(received, STREAMED.to_string());

    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let grown_mib = (peak.load(Ordering::Relaxed).saturating_sub(baseline)) / 1024;
    eprintln!(
        "streaming 2 x 200 MiB grew RSS by {grown_mib} MiB (baseline {} MiB)",
        baseline / 1024
    );
    assert!(
        grown_mib < 64,
        "RSS grew by {grown_mib} MiB while streaming 2 x 200 MiB"
    );
}

/// A backend that reads a request head, then does `then` with the socket.
async fn raw_backend(then: &'static [u8], close: bool) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = stream.write_all(then).await;
            if !close {
                held.push(stream);
            }
        }
    });
    addr
}

#[tokio::test]
async fn an_app_closing_without_a_response_gives_502() {
    let router = start_router(settings()).await;
    router.publish(vec![serving("flaky", &[], &[raw_backend(b"", true).await])]);
    let answer = get(&router, "flaky.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.body.contains("closed the connection"),
        "{}",
        answer.body
    );
    assert!(
        router
            .lines()
            .pop()
            .unwrap()
            .to_string()
            .contains("code=H13")
    );
}

#[tokio::test]
async fn an_app_closing_mid_body_cuts_the_client_off_and_logs_h18() {
    let router = start_router(settings()).await;
    let partial = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello";
    router.publish(vec![serving(
        "flaky",
        &[],
        &[raw_backend(partial, true).await],
    )]);
    let request = Request::get(router.url("/")).header("host", "flaky.localhost");
    // Depending on timing the client sees the 200 head and a truncated body, or a
    // connection closed before the head: either way it cannot mistake it for a whole body.
    if let Ok(response) = client().request(request.body(full("")).unwrap()).await {
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await;
        assert!(body.is_err(), "a truncated body must not look complete");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let line = router.lines().pop().unwrap().to_string();
    assert!(
        line.contains("code=H18") && line.contains("status=200"),
        "{line}"
    );
}

#[tokio::test]
async fn a_hanging_app_gives_504_after_the_response_timeout() {
    let router = start_router(RouterSettings {
        response_header_timeout: Duration::from_millis(300),
        ..settings()
    })
    .await;
    router.publish(vec![serving("slow", &[], &[raw_backend(b"", false).await])]);
    let started = Instant::now();
    let answer = get(&router, "slow.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        router
            .lines()
            .pop()
            .unwrap()
            .to_string()
            .contains("code=H12")
    );
}
