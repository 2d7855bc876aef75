//! Reading a blob of a push in pieces, so a file of gigabytes (a small pack of zeros
//! inflates to any size) never sits whole in the server's memory.
//!
//! libgit2 streams only loose objects (`Odb::reader`); a packed object it inflates whole.
//! Pushed objects are packed, so for a large blob stored whole in a pack (git never deltas
//! files above `core.bigFileThreshold`, and rarely large unlike ones) this module finds its
//! offset in the pack's `.idx` (version 2) and inflates the entry with flate2 as it is read.
//! A deltified blob is rebuilt by libgit2 in memory: the callers cap every file's size
//! (from its header, read without inflating) before reading it.
//!
//! Blocking file I/O: call from `spawn_blocking`.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use git2::{Odb, Oid};

use super::quarantine::PushedObjects;

/// Blobs up to this size are read whole: a pack lookup costs more than it saves.
const STREAM_ABOVE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {oid}: {source}")]
    Git { oid: Oid, source: git2::Error },
    #[error("blob {oid}: {source}")]
    Io { oid: Oid, source: io::Error },
}

/// An open blob: its size, and its content as a reader of exactly that many bytes.
pub struct BlobReader<'odb> {
    pub size: u64,
    pub content: Box<dyn Read + 'odb>,
}

impl PushedObjects {
    /// The pack directories that may hold the push's objects: the quarantine's, then the
    /// repository's.
    fn pack_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.quarantine_dir.iter().map(|d| d.join("pack")).collect();
        dirs.push(self.repo_path.join("objects/pack"));
        dirs
    }

    /// Opens blob `oid` of `odb` (the odb of [`PushedObjects::open_repository`]) for reading
    /// in pieces where its storage allows.
    pub fn open_blob<'odb>(
        &self,
        odb: &'odb Odb<'_>,
        oid: Oid,
    ) -> Result<BlobReader<'odb>, BlobError> {
        let git = |source| BlobError::Git { oid, source };
        let (size, _) = odb.read_header(oid).map_err(git)?;
        let size = size as u64;
        if size > STREAM_ABOVE {
            if let Ok((reader, _, _)) = odb.reader(oid) {
                return Ok(BlobReader {
                    size,
                    content: Box::new(reader.take(size)),
                });
            }
            for dir in self.pack_dirs() {
                let found =
                    packed_whole(&dir, oid).map_err(|source| BlobError::Io { oid, source })?;
                if let Some(content) = found {
                    return Ok(BlobReader {
                        size,
                        content: Box::new(content.take(size)),
                    });
                }
            }
        }
        let object = odb.read(oid).map_err(git)?;
        Ok(BlobReader {
            size,
            content: Box::new(Cursor::new(object.data().to_vec())),
        })
    }
}

/// The inflating reader of `oid` if a pack in `dir` holds it undeltified.
fn packed_whole(dir: &Path, oid: Oid) -> io::Result<Option<impl Read + use<>>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let idx = entry.path();
        if idx.extension().is_none_or(|x| x != "idx") {
            continue;
        }
        let Some(offset) = find_in_index(&mut File::open(&idx)?, oid.as_bytes())? else {
            continue;
        };
        let mut pack = BufReader::new(File::open(idx.with_extension("pack"))?);
        pack.seek(SeekFrom::Start(offset))?;
        // Types 1-4 are whole objects (commit, tree, blob, tag); 6 and 7 are deltas.
        let kind = entry_type(&mut pack)?;
        if !(1..=4).contains(&kind) {
            return Ok(None);
        }
        return Ok(Some(flate2::bufread::ZlibDecoder::new(pack)));
    }
    Ok(None)
}

/// Reads a pack entry's header (type and size, a varint) and returns the type.
fn entry_type(pack: &mut impl Read) -> io::Result<u8> {
    let mut byte = [0u8; 1];
    pack.read_exact(&mut byte)?;
    let kind = (byte[0] >> 4) & 0x7;
    while byte[0] & 0x80 != 0 {
        pack.read_exact(&mut byte)?;
    }
    Ok(kind)
}

/// The pack offset of `oid` in a version-2 `.idx`, by binary search over its sorted names.
fn find_in_index(idx: &mut (impl Read + Seek), oid: &[u8]) -> io::Result<Option<u64>> {
    const HEADER: u64 = 8;
    const FANOUT: u64 = 256 * 4;
    let mut head = [0u8; 8];
    idx.read_exact(&mut head)?;
    if head != [0xff, b't', b'O', b'c', 0, 0, 0, 2] || oid.len() != 20 {
        return Ok(None);
    }
    let first = oid[0] as u64;
    let lo_end = if first == 0 {
        0
    } else {
        read_u32(idx, HEADER + (first - 1) * 4)? as u64
    };
    let hi_end = read_u32(idx, HEADER + first * 4)? as u64;
    let total = read_u32(idx, HEADER + 255 * 4)? as u64;
    let names = HEADER + FANOUT;
    let (mut lo, mut hi) = (lo_end, hi_end);
    let mut name = [0u8; 20];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        idx.seek(SeekFrom::Start(names + mid * 20))?;
        idx.read_exact(&mut name)?;
        match name.as_slice().cmp(oid) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let offsets = names + total * 24;
                let small = read_u32(idx, offsets + mid * 4)?;
                if small & 0x8000_0000 == 0 {
                    return Ok(Some(small as u64));
                }
                let large = offsets + total * 4 + u64::from(small & 0x7fff_ffff) * 8;
                let mut bytes = [0u8; 8];
                idx.seek(SeekFrom::Start(large))?;
                idx.read_exact(&mut bytes)?;
                return Ok(Some(u64::from_be_bytes(bytes)));
            }
        }
    }
    Ok(None)
}

fn read_u32(idx: &mut (impl Read + Seek), at: u64) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    idx.seek(SeekFrom::Start(at))?;
    idx.read_exact(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository holding one packed 3 MiB blob (and a small one), made by git.
    fn packed_repo() -> (tempfile::TempDir, Oid, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let content: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(work.join("big"), &content).unwrap();
        std::fs::write(work.join("small"), "small").unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .current_dir(&work)
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        git(&["init", "-q"]);
        git(&["add", "big", "small"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        git(&["repack", "-adq"]);
        let oid = git(&["rev-parse", "HEAD:big"]);
        (dir, Oid::from_str(&oid).unwrap(), content)
    }

    #[test]
    fn a_large_packed_blob_is_inflated_from_its_pack_entry() {
        let (dir, oid, content) = packed_repo();
        let objects = PushedObjects {
            repo_path: dir.path().join("work/.git"),
            quarantine_dir: None,
        };
        let pack_dir = objects.repo_path.join("objects/pack");
        let mut streamed = packed_whole(&pack_dir, oid)
            .unwrap()
            .expect("found in the pack");
        let mut bytes = Vec::new();
        streamed.read_to_end(&mut bytes).unwrap();
        assert!(bytes == content, "the pack entry inflates to the blob");

        let repo = objects.open_repository().unwrap();
        let odb = repo.odb().unwrap();
        let mut blob = objects.open_blob(&odb, oid).unwrap();
        assert_eq!(blob.size, content.len() as u64);
        let mut bytes = Vec::new();
        blob.content.read_to_end(&mut bytes).unwrap();
        assert!(bytes == content);
        let missing = Oid::from_str("0123456789012345678901234567890123456789").unwrap();
        assert!(packed_whole(&pack_dir, missing).unwrap().is_none());
        assert!(objects.open_blob(&odb, missing).is_err());
    }

    #[test]
    fn an_index_that_is_not_version_2_finds_nothing() {
        let mut idx = Cursor::new(vec![0u8; 2048]);
        assert_eq!(find_in_index(&mut idx, &[0u8; 20]).unwrap(), None);
    }
}
