//! `X-Request-Id`: keeps a client's id when it is sane, else makes a random UUID v4.
//! Pure; the headers are set by headers.rs.

use hyper::HeaderMap;
use hyper::header::HeaderValue;
use rand::RngExt;

use super::headers::X_REQUEST_ID;

/// Longest client-sent id kept (Heroku's limit).
const MAX_LEN: usize = 200;

/// The request's id: the client's `X-Request-Id` if sane, else a fresh one.
pub(crate) fn from_headers_or_new(headers: &HeaderMap) -> HeaderValue {
    match headers.get(&X_REQUEST_ID) {
        Some(id) if is_sane(id.as_bytes()) => id.clone(),
        _ => generate(),
    }
}

/// The same from the raw header value (the fast path's).
pub(crate) fn from_value_or_new(id: Option<&[u8]>) -> HeaderValue {
    id.filter(|id| is_sane(id))
        .and_then(|id| HeaderValue::from_bytes(id).ok())
        .unwrap_or_else(generate)
}

/// 1 to 200 characters of letters, digits and `-_.:+/=`: enough for UUIDs, base64 and
/// trace ids, nothing that could break a log line or a header.
fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
}

fn generate() -> HeaderValue {
    let random: u128 = rand::rng().random();
    // Version 4, variant 1, as RFC 9562 lays out.
    let uuid = (random & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut text = [0u8; 36];
    let mut nibble = 32;
    for (i, slot) in text.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
            continue;
        }
        nibble -= 1;
        *slot = b"0123456789abcdef"[((uuid >> (nibble * 4)) & 0xf) as usize];
    }
    // Hex digits and dashes are always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static(id));
        headers
    }

    #[test]
    fn a_sane_client_id_is_kept() {
        let id = from_headers_or_new(&with_id("trace-42:abc/DEF+=="));
        assert_eq!(id, "trace-42:abc/DEF+==");
    }

    #[test]
    fn a_missing_or_insane_client_id_is_replaced_by_a_uuid() {
        let long = Box::leak("a".repeat(201).into_boxed_str());
        for headers in [
            HeaderMap::new(),
            with_id("has space"),
            with_id("quote\""),
            with_id(long),
        ] {
            let id = from_headers_or_new(&headers);
            let id = id.to_str().unwrap();
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "{id}");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
            assert_eq!(id.matches('-').count(), 4, "{id}");
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(generate(), generate());
    }
}
