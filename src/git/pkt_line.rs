//! The pkt-line framing of git's wire protocol (gitprotocol-common): a four-digit hex length
//! that counts itself, then the payload; `0000` flush, `0001` delim, `0002` response-end.
//!
//! Owns encoding and decoding of single frames, from a byte slice or a blocking reader.
//! It must not interpret payloads (commands, capabilities, side-band bands live elsewhere),
//! and the reader never reads past the frame it returns, so a pack that follows the last
//! frame stays in the underlying reader.

use std::io::{self, Read};

use bytes::{BufMut, BytesMut};

/// Largest frame git sends or accepts, length header included.
pub const MAX_PKT_LEN: usize = 65520;
/// Largest payload of one data frame.
pub const MAX_PAYLOAD_LEN: usize = MAX_PKT_LEN - HEADER_LEN;
const HEADER_LEN: usize = 4;

/// `0000`: ends a list (commands, push options, an advertisement, a report).
pub const FLUSH: &[u8] = b"0000";

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<P> {
    Flush,
    Delim,
    ResponseEnd,
    Data(P),
}

impl<P> Packet<P> {
    /// Maps the payload, keeping the frame kind.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> Packet<Q> {
        match self {
            Packet::Flush => Packet::Flush,
            Packet::Delim => Packet::Delim,
            Packet::ResponseEnd => Packet::ResponseEnd,
            Packet::Data(payload) => Packet::Data(f(payload)),
        }
    }

    /// Borrows the payload as bytes.
    pub fn as_bytes(&self) -> Packet<&[u8]>
    where
        P: AsRef<[u8]>,
    {
        match self {
            Packet::Flush => Packet::Flush,
            Packet::Delim => Packet::Delim,
            Packet::ResponseEnd => Packet::ResponseEnd,
            Packet::Data(payload) => Packet::Data(payload.as_ref()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PktLineError {
    #[error("pkt-line length header {0:?} is not four hex digits")]
    BadHeader([u8; 4]),
    #[error("pkt-line length {0} is reserved and never valid")]
    ReservedLength(usize),
    #[error("pkt-line payload of {0} bytes exceeds the {MAX_PAYLOAD_LEN}-byte limit")]
    TooLong(usize),
    #[error("request ended in the middle of a pkt-line")]
    Truncated,
    #[error("request ended where a pkt-line was expected")]
    UnexpectedEof,
    #[error("reading a pkt-line failed: {0}")]
    Io(#[source] io::Error),
}

/// Appends one data frame carrying `payload`.
pub fn encode_data(payload: &[u8], out: &mut BytesMut) -> Result<(), PktLineError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(PktLineError::TooLong(payload.len()));
    }
    out.reserve(HEADER_LEN + payload.len());
    out.put_slice(&length_header(HEADER_LEN + payload.len()));
    out.put_slice(payload);
    Ok(())
}

/// Appends a data frame holding `text`; lines longer than a frame are cut, which only
/// shortens human-readable messages.
pub fn encode_text(text: &str, out: &mut BytesMut) {
    let bytes = text.as_bytes();
    let cut = bytes.len().min(MAX_PAYLOAD_LEN);
    out.put_slice(&length_header(HEADER_LEN + cut));
    out.put_slice(&bytes[..cut]);
}

/// Appends a frame of any kind.
pub fn encode(packet: &Packet<&[u8]>, out: &mut BytesMut) -> Result<(), PktLineError> {
    match packet {
        Packet::Flush => out.put_slice(FLUSH),
        Packet::Delim => out.put_slice(b"0001"),
        Packet::ResponseEnd => out.put_slice(b"0002"),
        Packet::Data(payload) => encode_data(payload, out)?,
    }
    Ok(())
}

fn length_header(len: usize) -> [u8; 4] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        HEX[(len >> 12) & 0xf],
        HEX[(len >> 8) & 0xf],
        HEX[(len >> 4) & 0xf],
        HEX[len & 0xf],
    ]
}

/// What a length header announces.
enum Header {
    Special(Packet<()>),
    Data { payload_len: usize },
}

fn parse_header(header: [u8; 4]) -> Result<Header, PktLineError> {
    let mut len = 0usize;
    for byte in header {
        let digit = (byte as char)
            .to_digit(16)
            .ok_or(PktLineError::BadHeader(header))?;
        len = (len << 4) | digit as usize;
    }
    match len {
        0 => Ok(Header::Special(Packet::Flush)),
        1 => Ok(Header::Special(Packet::Delim)),
        2 => Ok(Header::Special(Packet::ResponseEnd)),
        3 => Err(PktLineError::ReservedLength(3)),
        _ if len > MAX_PKT_LEN => Err(PktLineError::TooLong(len - HEADER_LEN)),
        _ => Ok(Header::Data {
            payload_len: len - HEADER_LEN,
        }),
    }
}

/// A decoded frame and how many input bytes it used.
pub type Decoded<'a> = (Packet<&'a [u8]>, usize);

/// Decodes the first frame of `input`: `Ok(None)` when more bytes are needed, otherwise the
/// frame and how many bytes it used.
pub fn decode(input: &[u8]) -> Result<Option<Decoded<'_>>, PktLineError> {
    let Some(header) = input.first_chunk::<4>() else {
        return Ok(None);
    };
    match parse_header(*header)? {
        Header::Special(packet) => Ok(Some((packet.map(|()| &input[..0]), HEADER_LEN))),
        Header::Data { payload_len } => {
            let end = HEADER_LEN + payload_len;
            Ok(input
                .get(HEADER_LEN..end)
                .map(|payload| (Packet::Data(payload), end)))
        }
    }
}

/// Reads frames one at a time from a blocking reader, never past the frame it returns.
pub struct PktReader<'r, R> {
    inner: &'r mut R,
    payload: Vec<u8>,
}

impl<'r, R: Read> PktReader<'r, R> {
    pub fn new(inner: &'r mut R) -> Self {
        Self {
            inner,
            payload: Vec::new(),
        }
    }

    /// The next frame; `Ok(None)` when the input ends cleanly before a frame starts.
    pub fn read(&mut self) -> Result<Option<Packet<&[u8]>>, PktLineError> {
        let mut header = [0u8; 4];
        match read_full(self.inner, &mut header)? {
            0 => return Ok(None),
            HEADER_LEN => {}
            _ => return Err(PktLineError::Truncated),
        }
        match parse_header(header)? {
            Header::Special(packet) => Ok(Some(packet.map(|()| &self.payload[..0]))),
            Header::Data { payload_len } => {
                self.payload.resize(payload_len, 0);
                if read_full(self.inner, &mut self.payload)? != payload_len {
                    return Err(PktLineError::Truncated);
                }
                Ok(Some(Packet::Data(&self.payload)))
            }
        }
    }

    /// Like [`PktReader::read`], but the end of input is an error.
    pub fn read_required(&mut self) -> Result<Packet<&[u8]>, PktLineError> {
        self.read()?.ok_or(PktLineError::UnexpectedEof)
    }
}

/// Fills `buf` unless the input ends first; returns how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, PktLineError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PktLineError::Io(e)),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet_strategy() -> impl Strategy<Value = Packet<Vec<u8>>> {
        prop_oneof![
            Just(Packet::Flush),
            Just(Packet::Delim),
            Just(Packet::ResponseEnd),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Packet::Data),
        ]
    }

    fn encode_all(packets: &[Packet<Vec<u8>>]) -> BytesMut {
        let mut out = BytesMut::new();
        for packet in packets {
            encode(&packet.as_bytes(), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn data_frame_counts_its_own_header() {
        let mut out = BytesMut::new();
        encode_data(b"a\n", &mut out).unwrap();
        assert_eq!(&out[..], b"0006a\n");
    }

    #[test]
    fn largest_payload_fits_and_one_more_byte_does_not() {
        let mut out = BytesMut::new();
        encode_data(&vec![b'x'; MAX_PAYLOAD_LEN], &mut out).unwrap();
        assert_eq!(&out[..4], b"fff0");
        assert!(matches!(
            encode_data(&vec![b'x'; MAX_PAYLOAD_LEN + 1], &mut out),
            Err(PktLineError::TooLong(_))
        ));
    }

    #[test]
    fn special_frames_decode_without_payload() {
        assert_eq!(decode(b"0000").unwrap(), Some((Packet::Flush, 4)));
        assert_eq!(decode(b"0001").unwrap(), Some((Packet::Delim, 4)));
        assert_eq!(decode(b"0002").unwrap(), Some((Packet::ResponseEnd, 4)));
        assert!(matches!(
            decode(b"0003"),
            Err(PktLineError::ReservedLength(3))
        ));
    }

    #[test]
    fn uppercase_hex_is_accepted_like_git_does() {
        assert_eq!(
            decode(b"000Aabcdef").unwrap(),
            Some((Packet::Data(&b"abcdef"[..]), 10))
        );
    }

    #[test]
    fn partial_frames_ask_for_more_input() {
        assert_eq!(decode(b"00").unwrap(), None);
        assert_eq!(decode(b"0009abc").unwrap(), None);
    }

    #[test]
    fn reader_stops_exactly_after_the_flush() {
        let mut input: &[u8] = b"0008abcd0000PACKrest";
        let mut reader = PktReader::new(&mut input);
        assert_eq!(reader.read().unwrap(), Some(Packet::Data(&b"abcd"[..])));
        assert_eq!(reader.read().unwrap(), Some(Packet::Flush));
        assert_eq!(input, b"PACKrest");
    }

    #[test]
    fn reader_reports_a_frame_cut_short() {
        let mut input: &[u8] = b"0010abc";
        let mut reader = PktReader::new(&mut input);
        assert!(matches!(reader.read(), Err(PktLineError::Truncated)));
        let mut header_only: &[u8] = b"00";
        let mut reader = PktReader::new(&mut header_only);
        assert!(matches!(reader.read(), Err(PktLineError::Truncated)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut rest = &input[..];
            while let Ok(Some((_, used))) = decode(rest) {
                prop_assert!(used >= 4 && used <= rest.len());
                rest = &rest[used..];
            }
            let mut cursor = &input[..];
            let mut reader = PktReader::new(&mut cursor);
            while let Ok(Some(_)) = reader.read() {}
        }

        #[test]
        fn valid_frames_round_trip(packets in proptest::collection::vec(packet_strategy(), 0..20)) {
            let encoded = encode_all(&packets);
            let mut decoded = Vec::new();
            let mut rest = &encoded[..];
            while let Some((packet, used)) = decode(rest).unwrap() {
                decoded.push(packet.map(|p| p.to_vec()));
                rest = &rest[used..];
            }
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&decoded, &packets);

            let mut cursor = &encoded[..];
            let mut reader = PktReader::new(&mut cursor);
            let mut read_back = Vec::new();
            while let Some(packet) = reader.read().unwrap() {
                read_back.push(packet.map(|p| p.to_vec()));
            }
            prop_assert_eq!(read_back, packets);
        }
    }
}
