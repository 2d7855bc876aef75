//! The head of a receive-pack request (gitprotocol-pack, "Reference Update Request"): the
//! command list with the client's capabilities, then the push options, each ended by a flush.
//!
//! Owns parsing and validating that head into a [`PushRequest`]; must not read the pack that
//! follows, nor decide which updates are allowed (that is the caller's policy).

use std::io::Read;

use git2::Oid;

use super::capabilities::{CapabilityError, ClientCapabilities};
use super::pkt_line::{Packet, PktLineError, PktReader};

/// One command of the push: move `refname` from `old` to `new` (zero = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: Oid,
    pub new: Oid,
    pub refname: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefUpdateKind {
    Create,
    Update,
    Delete,
}

impl RefUpdate {
    pub fn kind(&self) -> RefUpdateKind {
        if self.new.is_zero() {
            RefUpdateKind::Delete
        } else if self.old.is_zero() {
            RefUpdateKind::Create
        } else {
            RefUpdateKind::Update
        }
    }
}

/// What the client asked for, before any object arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    pub commands: Vec<RefUpdate>,
    /// `git push -o VALUE`, in the order given.
    pub options: Vec<String>,
    pub capabilities: ClientCapabilities,
}

impl PushRequest {
    /// A pack follows unless every command is a delete.
    pub fn expects_pack(&self) -> bool {
        self.commands
            .iter()
            .any(|command| command.kind() != RefUpdateKind::Delete)
    }
}

/// A body is either git's authentication probe (just a flush) or a real push.
#[derive(Debug)]
pub enum RequestHead {
    Probe,
    Push(PushRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the receive-pack request body is empty; run git push")]
    EmptyBody,
    #[error(transparent)]
    PktLine(#[from] PktLineError),
    #[error("the receive-pack request has a {0} where a command was expected")]
    UnexpectedPacket(&'static str),
    #[error("malformed push command {0:?}; expected \"<old-oid> <new-oid> <refname>\"")]
    BadCommand(String),
    #[error("ref name {0:?} is not a valid git ref under refs/")]
    InvalidRefname(String),
    #[error("the push names {0} twice; push each ref once")]
    DuplicateRef(String),
    #[error("the push updates {0} from and to the zero id")]
    DeleteOfAbsentRef(String),
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    #[error("pushing from a shallow clone is not supported; run git fetch --unshallow first")]
    Shallow,
    #[error("push option {0:?} is not valid utf-8 text without newlines")]
    BadPushOption(String),
    #[error("the request has data after a delete-only command list")]
    UnexpectedPack,
}

/// Reads the command list and push options; leaves `reader` at the first pack byte.
pub fn read_request_head<R: Read>(reader: &mut R) -> Result<RequestHead, ProtocolError> {
    let mut pkt = PktReader::new(reader);
    let mut commands = Vec::new();
    let mut capabilities = None;
    loop {
        let payload = match pkt.read()? {
            None if commands.is_empty() => return Err(ProtocolError::EmptyBody),
            None => return Err(PktLineError::UnexpectedEof.into()),
            Some(Packet::Flush) => break,
            Some(Packet::Delim) => return Err(ProtocolError::UnexpectedPacket("delim-pkt")),
            Some(Packet::ResponseEnd) => {
                return Err(ProtocolError::UnexpectedPacket("response-end-pkt"));
            }
            Some(Packet::Data(payload)) => payload,
        };
        let line = strip_newline(payload);
        if line.starts_with(b"shallow ") {
            return Err(ProtocolError::Shallow);
        }
        let (command, caps) = match line.iter().position(|&b| b == 0) {
            Some(nul) => (&line[..nul], Some(&line[nul + 1..])),
            None => (line, None),
        };
        if capabilities.is_none() {
            let list = String::from_utf8_lossy(caps.unwrap_or_default());
            capabilities = Some(ClientCapabilities::parse(&list)?);
        }
        let update = parse_command(command)?;
        if commands
            .iter()
            .any(|known: &RefUpdate| known.refname == update.refname)
        {
            return Err(ProtocolError::DuplicateRef(update.refname));
        }
        commands.push(update);
    }
    let Some(capabilities) = capabilities else {
        return Ok(RequestHead::Probe);
    };
    let options = if capabilities.push_options {
        read_push_options(&mut pkt)?
    } else {
        Vec::new()
    };
    Ok(RequestHead::Push(PushRequest {
        commands,
        options,
        capabilities,
    }))
}

fn read_push_options<R: Read>(pkt: &mut PktReader<'_, R>) -> Result<Vec<String>, ProtocolError> {
    let mut options = Vec::new();
    loop {
        match pkt.read_required()? {
            Packet::Flush => return Ok(options),
            Packet::Data(payload) => {
                let text = std::str::from_utf8(strip_newline(payload))
                    .ok()
                    .filter(|text| !text.contains(['\n', '\0']))
                    .ok_or_else(|| {
                        ProtocolError::BadPushOption(String::from_utf8_lossy(payload).into_owned())
                    })?;
                options.push(text.to_owned());
            }
            Packet::Delim | Packet::ResponseEnd => {
                return Err(ProtocolError::UnexpectedPacket("special packet"));
            }
        }
    }
}

fn strip_newline(payload: &[u8]) -> &[u8] {
    payload.strip_suffix(b"\n").unwrap_or(payload)
}

fn parse_command(command: &[u8]) -> Result<RefUpdate, ProtocolError> {
    let bad = || ProtocolError::BadCommand(String::from_utf8_lossy(command).into_owned());
    let text = std::str::from_utf8(command).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ' ');
    let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let old = parse_oid(old).ok_or_else(bad)?;
    let new = parse_oid(new).ok_or_else(bad)?;
    if !refname.starts_with("refs/") || !git2::Reference::is_valid_name(refname) {
        return Err(ProtocolError::InvalidRefname(refname.to_owned()));
    }
    if old.is_zero() && new.is_zero() {
        return Err(ProtocolError::DeleteOfAbsentRef(refname.to_owned()));
    }
    Ok(RefUpdate {
        old,
        new,
        refname: refname.to_owned(),
    })
}

/// A full 40-digit hex id; git2's parser would accept and zero-pad shorter ones.
fn parse_oid(hex: &str) -> Option<Oid> {
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Oid::from_str(hex).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::pkt_line::{FLUSH, encode_data};
    use bytes::BytesMut;
    use proptest::prelude::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    fn body(lines: &[&[u8]], tail: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for line in lines {
            if line.is_empty() {
                out.extend_from_slice(FLUSH);
            } else {
                encode_data(line, &mut out).unwrap();
            }
        }
        out.extend_from_slice(tail);
        out.to_vec()
    }

    fn head(bytes: &[u8]) -> Result<RequestHead, ProtocolError> {
        let mut cursor = bytes;
        read_request_head(&mut cursor)
    }

    #[test]
    fn a_lone_flush_is_the_authentication_probe() {
        assert!(matches!(head(FLUSH).unwrap(), RequestHead::Probe));
    }

    #[test]
    fn commands_capabilities_and_push_options_are_parsed_and_the_pack_is_left_unread() {
        let first =
            format!("{ZERO} {A} refs/heads/main\0report-status-v2 side-band-64k push-options");
        let second = format!("{B} {ZERO} refs/heads/old");
        let bytes = body(
            &[
                first.as_bytes(),
                second.as_bytes(),
                b"",
                b"ci.skip",
                b"env=prod",
                b"",
            ],
            b"PACK",
        );
        let mut cursor = &bytes[..];
        let RequestHead::Push(request) = read_request_head(&mut cursor).unwrap() else {
            panic!("expected a push");
        };
        assert_eq!(cursor, b"PACK");
        assert_eq!(request.commands.len(), 2);
        assert_eq!(request.commands[0].kind(), RefUpdateKind::Create);
        assert_eq!(request.commands[1].kind(), RefUpdateKind::Delete);
        assert_eq!(request.options, ["ci.skip", "env=prod"]);
        assert!(request.capabilities.side_band_64k);
        assert!(request.expects_pack());
    }

    #[test]
    fn delete_only_pushes_expect_no_pack() {
        let line = format!("{A} {ZERO} refs/heads/gone\0report-status delete-refs");
        let RequestHead::Push(request) = head(&body(&[line.as_bytes(), b""], b"")).unwrap() else {
            panic!("expected a push");
        };
        assert!(!request.expects_pack());
    }

    #[test]
    fn refnames_outside_refs_or_invalid_are_refused() {
        for name in ["HEAD", "refs/heads/a..b", "refs/heads/x.lock", "main"] {
            let line = format!("{ZERO} {A} {name}\0report-status");
            assert!(
                matches!(
                    head(&body(&[line.as_bytes(), b""], b"")),
                    Err(ProtocolError::InvalidRefname(_))
                ),
                "{name} was accepted"
            );
        }
    }

    #[test]
    fn short_or_non_hex_ids_are_malformed_commands() {
        for line in [
            format!("{} {A} refs/heads/main\0", &B[..39]),
            format!("{A} {}g refs/heads/main\0", &B[..39]),
            format!("{A} {B}\0"),
        ] {
            assert!(matches!(
                head(&body(&[line.as_bytes(), b""], b"")),
                Err(ProtocolError::BadCommand(_))
            ));
        }
    }

    #[test]
    fn duplicate_refs_and_shallow_lines_are_refused() {
        let first = format!("{ZERO} {A} refs/heads/main\0report-status");
        let again = format!("{ZERO} {B} refs/heads/main");
        assert!(matches!(
            head(&body(&[first.as_bytes(), again.as_bytes(), b""], b"")),
            Err(ProtocolError::DuplicateRef(_))
        ));
        let shallow = format!("shallow {A}");
        assert!(matches!(
            head(&body(&[shallow.as_bytes(), b""], b"")),
            Err(ProtocolError::Shallow)
        ));
    }

    #[test]
    fn a_body_cut_inside_the_command_list_is_an_error() {
        let line = format!("{ZERO} {A} refs/heads/main\0report-status");
        let bytes = body(&[line.as_bytes()], b"");
        assert!(matches!(
            head(&bytes),
            Err(ProtocolError::PktLine(PktLineError::UnexpectedEof))
        ));
        assert!(matches!(
            head(&bytes[..20]),
            Err(ProtocolError::PktLine(PktLineError::Truncated))
        ));
        assert!(matches!(head(b""), Err(ProtocolError::EmptyBody)));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = head(&bytes);
        }

        #[test]
        fn arbitrary_command_payloads_never_panic_the_parser(payload in proptest::collection::vec(any::<u8>(), 1..200)) {
            let _ = head(&body(&[&payload, b""], b""));
        }
    }
}
