//! Unit and property tests of head.rs.

use super::*;
use proptest::prelude::*;

fn parse(raw: &[u8]) -> Result<(RequestHead<'_>, usize), Handover> {
    let storage = Box::leak(Box::new([httparse::EMPTY_HEADER; MAX_HEADERS]));
    match parse_request(raw, storage, 100) {
        Parsed::Complete(head) => {
            let len = head.len;
            Ok((head, len))
        }
        Parsed::Partial => Err(Handover::Unparsed),
        Parsed::Handover(h) => Err(h),
    }
}

fn upstream(raw: &[u8]) -> String {
    let (head, _) = parse(raw).unwrap_or_else(|h| panic!("{h:?}"));
    let mut out = Vec::new();
    let fwd = Forwarded {
        client_ip: b"203.0.113.7",
        proto: b"http",
        port: b"8080",
        request_id: b"rid",
    };
    head.write_upstream(&fwd, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn a_plain_get_is_forwarded_with_forwarding_headers_replaced() {
    let text = upstream(
        b"GET /a?b=1 HTTP/1.1\r\nHost: App.localhost:8080\r\nConnection: keep-alive, x-secret\r\n\
          x-secret: 1\r\nX-Forwarded-For: 1.1.1.1\r\nforwarded: for=1.1.1.1\r\nX-Real-IP: 1.1.1.1\r\n\
          X-Request-Id: client\r\nTE: trailers\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(
        text,
        "GET /a?b=1 HTTP/1.1\r\nHost: App.localhost:8080\r\nAccept: */*\r\n\
         x-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: http\r\nx-forwarded-port: 8080\r\n\
         x-forwarded-host: App.localhost:8080\r\nx-request-id: rid\r\n\r\n"
    );
}

#[test]
fn a_post_keeps_its_length() {
    let text = upstream(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    assert!(text.contains("content-length: 3\r\n"), "{text}");
    let (head, len) = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    assert_eq!((head.content_length, len), (3, 47));
}

#[test]
fn unusual_requests_go_to_hyper() {
    let cases: [(&[u8], Handover); 9] = [
        (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", Handover::Http10),
        (b"GET / HTTP/1.1\r\n\r\n", Handover::Unusual),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            Handover::Unusual,
        ),
        (
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            Handover::Unusual,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            Handover::Unusual,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Handover::Unusual,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            Handover::Unusual,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
            Handover::LongBody,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            Handover::Unusual,
        ),
    ];
    for (raw, expected) in cases {
        assert_eq!(
            parse(raw).err(),
            Some(expected),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(parse(b"GARBAGE\r\n\r\n").err(), Some(Handover::Unparsed));
}

fn response(raw: &[u8], head_request: bool) -> Result<(Framing, bool, String), ResponseError> {
    let storage = Box::leak(Box::new([httparse::EMPTY_HEADER; MAX_HEADERS]));
    let head = parse_response(raw, storage, head_request)?.expect("complete");
    let mut out = Vec::new();
    head.write_client(b"rid", None, false, &mut out);
    Ok((head.framing, head.reusable, String::from_utf8(out).unwrap()))
}

#[test]
fn response_framing_follows_rfc_9112() {
    let ok = |raw: &[u8]| response(raw, false).unwrap();
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").0,
        Framing::Length(5)
    );
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n").0,
        Framing::Chunked
    );
    assert_eq!(ok(b"HTTP/1.1 204 No Content\r\n\r\n").0, Framing::Empty);
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\n\r\n"),
        (
            Framing::UntilClose,
            false,
            "HTTP/1.1 200 OK\r\nx-request-id: rid\r\n\r\n".into()
        )
    );
    assert_eq!(
        response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .0,
        Framing::Empty
    );
    assert!(!ok(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").1);
    assert!(!ok(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").1);
    assert!(ok(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").1);
    assert_eq!(
        response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).err(),
        Some(ResponseError::BadLength)
    );
}

#[test]
fn the_client_gets_no_hop_by_hop_headers_and_our_request_id() {
    let (_, _, text) = response(
        b"HTTP/1.1 201 \r\nConnection: keep-alive, x-internal\r\nx-internal: 1\r\nKeep-Alive: timeout=5\r\n\
          X-Request-Id: app\r\nContent-Length: 0\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nx-request-id: rid\r\n\r\n"
    );
}

proptest! {
    #[test]
    fn any_bytes_parse_or_are_refused_without_panic(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&raw);
        let storage = Box::leak(Box::new([httparse::EMPTY_HEADER; MAX_HEADERS]));
        let _ = parse_response(&raw, storage, false);
    }

    #[test]
    fn forwarded_heads_never_carry_client_forwarding_headers(
        value in "[ -~]{0,40}",
        name in prop::sample::select(vec!["X-Forwarded-For", "x-forwarded-host", "Forwarded", "X-Request-Id", "Connection", "Keep-Alive"]),
    ) {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: {value}\r\n\r\n");
        if let Ok((head, _)) = parse(raw.as_bytes()) {
            let mut out = Vec::new();
            let fwd = Forwarded { client_ip: b"ip", proto: b"http", port: b"80", request_id: b"rid" };
            head.write_upstream(&fwd, &mut out);
            let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
            prop_assert_eq!(text.matches(&format!("{}:", name.to_ascii_lowercase())).count(),
                usize::from(name.starts_with("X-") || name.starts_with("x-")));
        }
    }
}
