//! Finds where a chunked body ends without decoding it: the fast path passes an app's chunks
//! to the client byte for byte and only needs to know when the last chunk and the trailers
//! are through, so the connection can take the next request. Pure.

/// Why the bytes are not valid chunked coding (RFC 9112 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the app sent malformed chunked coding")]
pub(crate) struct ChunkedError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size; `digits` seen so far.
    Size {
        digits: u8,
    },
    /// Whitespace or a `;extension` after the size, up to CR.
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// Tracks a chunked body across reads.
#[derive(Debug)]
pub(crate) struct ChunkedScanner {
    state: State,
    remaining: u64,
}

impl Default for ChunkedScanner {
    fn default() -> Self {
        Self {
            state: State::Size { digits: 0 },
            remaining: 0,
        }
    }
}

impl ChunkedScanner {
    /// Scans the next bytes of the body; `Some(n)` when the body ends after `n` of them.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ChunkedError> {
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Data {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - i);
                i += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(bytes[i])?;
            i += 1;
            if self.state == State::Done {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match (self.state, byte) {
            (State::Size { digits }, b) if b.is_ascii_hexdigit() => {
                if digits == 15 {
                    return Err(ChunkedError);
                }
                let digit = (b as char).to_digit(16).ok_or(ChunkedError)?;
                self.remaining = self.remaining * 16 + u64::from(digit);
                State::Size { digits: digits + 1 }
            }
            (State::Size { digits }, b';' | b' ' | b'\t') if digits > 0 => State::Extension,
            (State::Size { digits }, b'\r') if digits > 0 => State::SizeLf,
            (State::Extension, b'\r') => State::SizeLf,
            (State::Extension, b'\n') => return Err(ChunkedError),
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') if self.remaining == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data,
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { digits: 0 },
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart, b'\n') => return Err(ChunkedError),
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::Trailer, _) => State::Trailer,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::FinalLf, b'\n') => State::Done,
            _ => return Err(ChunkedError),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn end_of(body: &[u8]) -> Result<Option<usize>, ChunkedError> {
        ChunkedScanner::default().feed(body)
    }

    #[test]
    fn the_end_is_found_after_the_last_chunk_and_trailers() {
        assert_eq!(end_of(b"5\r\nhello\r\n0\r\n\r\nNEXT"), Ok(Some(15)));
        assert_eq!(
            end_of(b"5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
            Ok(Some(29))
        );
        assert_eq!(end_of(b"A\r\n0123456789\r\n"), Ok(None));
        assert_eq!(end_of(b"0\r\n\r\n"), Ok(Some(5)));
    }

    #[test]
    fn malformed_coding_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"\r\n",
            b"ffffffffffffffff\r\n",
            b"0\r\n\n",
        ] {
            assert_eq!(
                end_of(bad),
                Err(ChunkedError),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        body
    }

    proptest! {
        #[test]
        fn any_split_of_a_valid_body_ends_at_its_last_byte(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let body = encode(&chunks);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len())).collect();
            points.push(body.len());
            points.sort_unstable();
            let mut scanner = ChunkedScanner::default();
            let mut start = 0;
            let mut end = None;
            for point in points {
                if let Some(n) = scanner.feed(&body[start..point]).unwrap() {
                    end = Some(start + n);
                    break;
                }
                start = point;
            }
            prop_assert_eq!(end, Some(body.len()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ChunkedScanner::default().feed(&raw);
        }
    }
}
