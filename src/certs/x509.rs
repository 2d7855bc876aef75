//! Just enough X.509 to describe a certificate: its DNS names, issuer and validity, read
//! from DER with a small TLV reader (no parser crate for four fields). It checks nothing
//! cryptographic: rustls verifies certificates, this only reports on them. Input may be
//! anything a user uploads, so every read is bounds-checked and returns `None` on garbage.

use crate::domain::Timestamp;

/// What `paas certs` shows about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// DNS names of the subject alternative name extension (or the subject CN without
    /// one), lowercase; wildcards keep their `*.`.
    pub names: Vec<String>,
    /// `Organisation (Common Name)` of the issuer, or whichever of the two it has.
    pub issuer: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

impl CertSummary {
    /// Whether a client asking for `host` accepts this certificate: an exact name, or a
    /// `*.parent` wildcard one label above it (and a wildcard host needs the same wildcard).
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|name| name_covers(name, host))
    }
}

/// RFC 6125 matching as browsers do it: a wildcard stands for exactly one whole label.
pub fn name_covers(name: &str, host: &str) -> bool {
    if name.eq_ignore_ascii_case(host) {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(parent), Some((label, rest))) => {
            !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(parent)
        }
        _ => false,
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;
const EXTENSIONS_TAG: u8 = 0xa3;
const DNS_NAME_TAG: u8 = 0x82;

const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANISATION: &[u8] = &[0x55, 0x04, 0x0a];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// Describes a DER certificate, or `None` when it is not one.
pub fn summarise(der: &[u8]) -> Option<CertSummary> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION_TAG) {
        rest = read(rest)?.2;
    }
    let (_serial, rest) = skip(rest)?;
    let (_signature, rest) = skip(rest)?;
    let (issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, rest) = expect(rest, SEQUENCE)?;
    let (_key, mut rest) = skip(rest)?;
    let (not_before, validity) = read_time(validity)?;
    let (not_after, _) = read_time(validity)?;
    let mut names = Vec::new();
    while !rest.is_empty() {
        let (tag, content, next) = read(rest)?;
        if tag == EXTENSIONS_TAG {
            names = alt_names(content)?;
        }
        rest = next;
    }
    if names.is_empty()
        && let Some(cn) = attribute(subject, OID_COMMON_NAME)?
    {
        names.push(cn.to_ascii_lowercase());
    }
    let issuer = match (
        attribute(issuer, OID_ORGANISATION)?,
        attribute(issuer, OID_COMMON_NAME)?,
    ) {
        (Some(org), Some(cn)) if org != cn => format!("{org} ({cn})"),
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => "unknown issuer".to_owned(),
    };
    Some(CertSummary {
        names,
        issuer,
        not_before,
        not_after,
    })
}

/// One TLV: (tag, content, what follows). Single-byte tags, definite lengths only (DER).
fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = read(input)?;
    (found == tag).then_some((content, rest))
}

fn skip(input: &[u8]) -> Option<(&[u8], &[u8])> {
    read(input).map(|(_, content, rest)| (content, rest))
}

/// The first value of attribute `oid` in a Name, as text (any of the string types).
fn attribute(name: &[u8], oid: &[u8]) -> Option<Option<String>> {
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, next) = expect(rdns, SET)?;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (pair, more) = expect(attributes, SEQUENCE)?;
            let (id, value) = expect(pair, OID)?;
            if id == oid {
                let (_, text, _) = read(value)?;
                return Some(Some(String::from_utf8_lossy(text).into_owned()));
            }
            attributes = more;
        }
        rdns = next;
    }
    Some(None)
}

/// The dNSNames of the subjectAltName extension, if the certificate has one.
fn alt_names(extensions: &[u8]) -> Option<Vec<String>> {
    let (mut list, _) = expect(extensions, SEQUENCE)?;
    while !list.is_empty() {
        let (extension, next) = expect(list, SEQUENCE)?;
        let (id, mut rest) = expect(extension, OID)?;
        if rest.first() == Some(&BOOLEAN) {
            rest = skip(rest)?.1;
        }
        if id == OID_SUBJECT_ALT_NAME {
            let (value, _) = expect(rest, OCTET_STRING)?;
            let (mut general_names, _) = expect(value, SEQUENCE)?;
            let mut names = Vec::new();
            while !general_names.is_empty() {
                let (tag, content, more) = read(general_names)?;
                if tag == DNS_NAME_TAG {
                    names.push(String::from_utf8_lossy(content).to_ascii_lowercase());
                }
                general_names = more;
            }
            return Some(names);
        }
        list = next;
    }
    Some(Vec::new())
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn read_time(input: &[u8]) -> Option<(Timestamp, &[u8])> {
    let (tag, content, rest) = read(input)?;
    let text = std::str::from_utf8(content).ok()?;
    let text = text.strip_suffix('Z')?;
    let (year, digits) = match tag {
        UTC_TIME if text.len() == 12 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (text.get(..4)?.parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| digits.get(i..i + 2)?.parse::<u8>().ok();
    let month = time::Month::try_from(field(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, field(2)?).ok()?;
    let clock = time::Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
    let at = time::PrimitiveDateTime::new(date, clock).assume_utc();
    Some((Timestamp(at.unix_timestamp()), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn certificate(
        names: &[&str],
        issuer: Option<(&str, &str)>,
        days: (i64, i64),
    ) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        if let Some((org, cn)) = issuer {
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, org);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params.self_signed(&key).unwrap()
    }

    #[test]
    fn names_issuer_and_validity_are_read_from_a_certificate() {
        let cert = certificate(
            &["www.example.com", "*.Example.org"],
            Some(("Example Corp", "Example CA 1")),
            (-1, 89),
        );
        let summary = summarise(cert.der()).unwrap();
        assert_eq!(summary.names, vec!["www.example.com", "*.example.org"]);
        assert_eq!(summary.issuer, "Example Corp (Example CA 1)");
        let now = Timestamp::now().0;
        assert!((summary.not_before.0 - (now - 86_400)).abs() < 5);
        assert!((summary.not_after.0 - (now + 89 * 86_400)).abs() < 5);
    }

    #[test]
    fn dates_past_2049_use_generalized_time() {
        let cert = certificate(&["a.example.com"], None, (0, 365 * 40));
        let summary = summarise(cert.der()).unwrap();
        assert!(summary.not_after.0 > 2_524_608_000, "{summary:?}");
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(name_covers("*.example.com", "www.example.com"));
        assert!(name_covers("*.example.com", "WWW.EXAMPLE.COM"));
        assert!(name_covers("*.example.com", "*.example.com"));
        assert!(!name_covers("*.example.com", "example.com"));
        assert!(!name_covers("*.example.com", "a.b.example.com"));
        assert!(!name_covers("www.example.com", "*.example.com"));
        assert!(name_covers("www.example.com", "www.example.com"));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(summarise(b""), None);
        assert_eq!(summarise(b"-----BEGIN CERTIFICATE-----"), None);
        assert_eq!(summarise(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = summarise(&bytes);
        }

        #[test]
        fn truncated_certificates_are_refused_without_panicking(cut in 0usize..400) {
            let cert = certificate(&["www.example.com"], None, (0, 30));
            let der = cert.der();
            let cut = cut.min(der.len().saturating_sub(1));
            prop_assert_eq!(summarise(&der[..cut]), None);
        }
    }
}
