//! The ref advertisement of `GET /{app}.git/info/refs?service=git-receive-pack` (smart HTTP,
//! gitprotocol-http): the `# service=git-receive-pack` line and a flush, then every ref with
//! the capabilities on the first line, or `capabilities^{}` for an empty repository.
//!
//! Owns reading the refs and encoding them. Must not know HTTP types: the handler sets
//! [`ADVERTISEMENT_CONTENT_TYPE`] and [`NO_CACHE_HEADERS`] itself.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use git2::{Oid, Repository};

use super::capabilities;
use super::pkt_line::{self, FLUSH};

pub const ADVERTISEMENT_CONTENT_TYPE: &str = "application/x-git-receive-pack-advertisement";
/// Headers git's http-backend sends so no proxy caches ref lists or push results.
pub const NO_CACHE_HEADERS: [(&str, &str); 3] = [
    ("Cache-Control", "no-cache, max-age=0, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Expires", "Fri, 01 Jan 1980 00:00:00 GMT"),
];
/// The only `service=` value this server answers.
pub const RECEIVE_PACK_SERVICE: &str = "git-receive-pack";

#[derive(Debug, thiserror::Error)]
pub enum AdvertisementError {
    #[error("repository {0} does not exist; create the app first")]
    NotFound(PathBuf),
    #[error("cannot read the refs of {path}: {source}")]
    Git { path: PathBuf, source: git2::Error },
    #[error("the ref listing task failed: {0}")]
    Task(String),
}

/// The full response body for the receive-pack ref advertisement of `repo_path`.
pub async fn advertise_receive_pack(repo_path: PathBuf) -> Result<Bytes, AdvertisementError> {
    tokio::task::spawn_blocking(move || {
        list_refs(&repo_path).map(|refs| encode_advertisement(&refs))
    })
    .await
    .map_err(|join| AdvertisementError::Task(join.to_string()))?
}

/// Every ref under `refs/` with the id it points to (symbolic refs resolved, dangling ones
/// skipped), sorted by name as git sends them.
pub fn list_refs(repo_path: &Path) -> Result<Vec<(Oid, String)>, AdvertisementError> {
    let git_error = |source| AdvertisementError::Git {
        path: repo_path.to_path_buf(),
        source,
    };
    let repo = Repository::open_bare(repo_path).map_err(|source| {
        if source.code() == git2::ErrorCode::NotFound {
            AdvertisementError::NotFound(repo_path.to_path_buf())
        } else {
            git_error(source)
        }
    })?;
    let mut refs = Vec::new();
    for reference in repo.references().map_err(git_error)? {
        let reference = reference.map_err(git_error)?;
        let Some(name) = reference.name().ok().filter(|n| n.starts_with("refs/")) else {
            continue;
        };
        let name = name.to_owned();
        if let Some(id) = reference.resolve().ok().and_then(|r| r.target()) {
            refs.push((id, name));
        }
    }
    refs.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(refs)
}

/// Encodes the advertisement, service header included.
pub fn encode_advertisement(refs: &[(Oid, String)]) -> Bytes {
    let mut out = BytesMut::new();
    pkt_line::encode_text(&format!("# service={RECEIVE_PACK_SERVICE}\n"), &mut out);
    out.extend_from_slice(FLUSH);
    let caps = capabilities::advertised();
    match refs.split_first() {
        None => {
            let line = format!("{} capabilities^{{}}\0{caps}\n", Oid::ZERO_SHA1);
            pkt_line::encode_text(&line, &mut out);
        }
        Some(((first_id, first_name), rest)) => {
            pkt_line::encode_text(&format!("{first_id} {first_name}\0{caps}\n"), &mut out);
            for (id, name) in rest {
                pkt_line::encode_text(&format!("{id} {name}\n"), &mut out);
            }
        }
    }
    out.extend_from_slice(FLUSH);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::pkt_line::{Packet, PktReader};

    fn packets(bytes: &[u8]) -> Vec<Packet<Vec<u8>>> {
        let mut cursor = bytes;
        let mut reader = PktReader::new(&mut cursor);
        let mut out = Vec::new();
        while let Some(packet) = reader.read().unwrap() {
            out.push(packet.map(|p| p.to_vec()));
        }
        out
    }

    #[test]
    fn an_empty_repository_advertises_capabilities_on_the_zero_id() {
        let all = packets(&encode_advertisement(&[]));
        assert_eq!(
            all[0],
            Packet::Data(b"# service=git-receive-pack\n".to_vec())
        );
        assert_eq!(all[1], Packet::Flush);
        let Packet::Data(line) = &all[2] else {
            panic!("expected the capabilities line")
        };
        let line = String::from_utf8_lossy(line);
        assert!(line.starts_with("0000000000000000000000000000000000000000 capabilities^{}\0"));
        assert!(line.contains("report-status") && line.ends_with('\n'));
        assert_eq!(all[3], Packet::Flush);
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn capabilities_ride_on_the_first_ref_only() {
        let id = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let refs = [
            (id, "refs/heads/dev".to_owned()),
            (id, "refs/heads/main".to_owned()),
        ];
        let all = packets(&encode_advertisement(&refs));
        assert!(
            matches!(&all[2], Packet::Data(l) if l.starts_with(b"1111111111111111111111111111111111111111 refs/heads/dev\0"))
        );
        assert_eq!(
            all[3],
            Packet::Data(b"1111111111111111111111111111111111111111 refs/heads/main\n".to_vec())
        );
    }

    #[test]
    fn a_missing_repository_is_reported_as_not_found() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            list_refs(&dir.path().join("nope.git")),
            Err(AdvertisementError::NotFound(_))
        ));
    }
}
