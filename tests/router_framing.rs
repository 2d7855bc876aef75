//! The router's message framing seen from raw sockets on both sides: pipelined requests,
//! chunked and close-delimited responses, HEAD, request bodies, an app closing pooled
//! connections, and a connection that moves from plain requests to ones hyper serves. These
//! are the cases where the fast path (router/fast/) does its own framing; set
//! `PAAS_TEST_ROUTER_PATH=hyper` to run them against hyper's path instead.

#[path = "router/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::*;

fn settings() -> paas::router::RouterSettings {
    paas::router::RouterSettings::new("localhost")
}

/// An app answering each request head it reads with `answer(path, body)`; counts the
/// connections it accepted. With `close_after`, it closes each connection after that many
/// requests (an app with a short keep-alive).
async fn app(
    answer: fn(&str, &[u8]) -> Vec<u8>,
    close_after: Option<usize>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut served = 0;
                loop {
                    let Some((path, body, used)) = next_request(&mut stream, &mut buf).await else {
                        return;
                    };
                    buf.drain(..used);
                    if stream.write_all(&answer(&path, &body)).await.is_err() {
                        return;
                    }
                    served += 1;
                    if close_after == Some(served) {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Reads one request (head and Content-Length body) from the app's side.
async fn next_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>, usize)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let body = buf[end + 4..end + 4 + length].to_vec();
                return Some((path, body, end + 4 + length));
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn length_answer(path: &str, body: &[u8]) -> Vec<u8> {
    let text = format!("path={path} body={}", String::from_utf8_lossy(body));
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

fn chunked_answer(path: &str, _: &[u8]) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n{:x}\r\n{path}\r\n0\r\n\r\n",
        path.len()
    )
    .into_bytes()
}

/// Reads from the router until `done` says the bytes so far are complete (or EOF).
async fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer in 5 s; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_app_connection() {
    let router = start_router(settings()).await;
    let (addr, accepted) = app(length_answer, None).await;
    router.publish(vec![serving("pipe", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    client
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: pipe.localhost\r\n\r\n\
              POST /two HTTP/1.1\r\nHost: pipe.localhost\r\nContent-Length: 5\r\n\r\nhello\
              GET /three HTTP/1.1\r\nHost: pipe.localhost\r\n\r\n",
        )
        .await
        .unwrap();
    let text = read_until(&mut client, |t| t.contains("path=/three")).await;
    let one = text.find("path=/one body=").unwrap();
    let two = text.find("path=/two body=hello").unwrap();
    let three = text.find("path=/three").unwrap();
    assert!(one < two && two < three, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one pooled app connection"
    );
}

#[tokio::test]
async fn a_chunked_response_passes_through_and_the_connection_is_reused() {
    let router = start_router(settings()).await;
    let (addr, accepted) = app(chunked_answer, None).await;
    router.publish(vec![serving("chunky", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    for path in ["/first", "/second"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: chunky.localhost\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let text = read_until(&mut client, |t| t.ends_with("0\r\n\r\n")).await;
        assert!(
            text.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{text}"
        );
        assert!(
            text.contains(&format!("5\r\nhello\r\n{:x}\r\n{path}\r\n", path.len())),
            "{text}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let lines = router.lines();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|l| l.status == 200 && l.error.is_none()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_response_without_length_ends_with_the_connection() {
    let router = start_router(settings()).await;
    let (addr, _) = app(|_, _| b"HTTP/1.1 200 OK\r\n\r\nall of it".to_vec(), Some(1)).await;
    router.publish(vec![serving("eof", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: eof.localhost\r\n\r\n")
        .await
        .unwrap();
    // The fast path passes it on and closes; hyper re-frames it as chunked.
    let text = read_until(&mut client, |t| {
        t.contains("all of it") && !t.ends_with("it\r\n")
    })
    .await;
    let lower = text.to_ascii_lowercase();
    let closed = lower.contains("connection: close") && text.ends_with("\r\n\r\nall of it");
    let chunked = lower.contains("transfer-encoding: chunked") && text.ends_with("0\r\n\r\n");
    assert!(closed || chunked, "{text}");
}

#[tokio::test]
async fn head_answers_carry_no_body_and_keep_the_connection() {
    let router = start_router(settings()).await;
    let (addr, _) = app(length_answer, None).await;
    router.publish(vec![serving("head", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    client
        .write_all(b"HEAD /h HTTP/1.1\r\nHost: head.localhost\r\n\r\n")
        .await
        .unwrap();
    // The app (wrongly) sends a body after its HEAD answer; the client must not see it.
    let text = read_until(&mut client, |t| t.ends_with("\r\n\r\n")).await;
    assert!(text.contains("content-length:"), "{text}");
    client
        .write_all(b"GET /g HTTP/1.1\r\nHost: head.localhost\r\n\r\n")
        .await
        .unwrap();
    let text = read_until(&mut client, |t| t.contains("path=/g")).await;
    assert!(!text.contains("path=/h"), "the HEAD body leaked: {text}");
}

#[tokio::test]
async fn an_app_closing_kept_alive_connections_costs_no_request() {
    let router = start_router(settings()).await;
    let (addr, accepted) = app(length_answer, Some(1)).await;
    router.publish(vec![serving("short", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    for i in 0..5 {
        let request = format!("GET /{i} HTTP/1.1\r\nHost: short.localhost\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let text = read_until(&mut client, |t| t.contains(&format!("path=/{i} "))).await;
        assert!(text.starts_with("HTTP/1.1 200"), "request {i}: {text}");
        // Give the app's close time to arrive, so the next request meets a dead stream.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
    assert!(router.lines().iter().all(|l| l.error.is_none()));
}

#[tokio::test]
async fn a_connection_moves_on_to_the_control_plane_and_errors_mid_stream() {
    let router = start_router(settings()).await;
    let (addr, _) = app(length_answer, None).await;
    router.publish(vec![serving("mixed", &[], &[addr])]);
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    client
        .write_all(
            b"GET /app HTTP/1.1\r\nHost: mixed.localhost\r\n\r\n\
              GET / HTTP/1.1\r\nHost: localhost\r\n\r\n\
              GET /again HTTP/1.1\r\nHost: mixed.localhost\r\n\r\n\
              GET / HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n",
        )
        .await
        .unwrap();
    let text = read_until(&mut client, |t| t.contains("nobody.localhost")).await;
    let app = text.find("path=/app").unwrap();
    let control = text.find("control plane").unwrap();
    let again = text.find("path=/again").unwrap();
    let unknown = text.find("404 Not Found").unwrap();
    assert!(
        app < control && control < again && again < unknown,
        "{text}"
    );
}
