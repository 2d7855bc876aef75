//! The pushed commit as build input: a few files read from its tree, and the whole tree
//! streamed as a tar (no work tree on disk; files owned by the `app` user). What a push
//! inflates into is capped (`SourceLimits`), file by file and in all, before anything is
//! read, and files stream into the tar in pieces (`git::blob`): a small pack of a huge
//! file of zeros never becomes that file in the server's memory.

use std::io::{Read, Write};

use bytes::Bytes;
use futures_util::stream::Stream;
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use tokio::sync::mpsc;

use crate::git::quarantine::PushedObjects;

use super::BuildError;

/// The uid and gid of the stack's `app` user.
pub const APP_UID: u64 = 1000;

/// Caps on what a push may inflate into: its pack is small, a file of zeros in it is not.
#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    /// `PAAS_MAX_SOURCE_BYTES`: all files of the tree together.
    pub max_source_bytes: u64,
    /// `PAAS_MAX_FILE_BYTES`: any one file.
    pub max_file_bytes: u64,
}

/// The files paas reads whole (Procfile, app.json, .buildpacks, CHECKS, Dockerfile,
/// heroku.yml...), and symlink targets, are at most this large.
const MAX_READ_BYTES: u64 = 1 << 20;

/// Files of the commit the build decides things by.
#[derive(Debug, Default)]
pub struct SourceInfo {
    pub dockerfile: Option<String>,
    pub app_json: Option<String>,
    pub procfile: Option<String>,
    pub buildpacks_file: Option<String>,
    /// True when `buildpacks_file` is app.json's `buildpacks`, not a file of the tree: the
    /// build writes it as `.buildpacks` for the stack to read.
    pub buildpacks_from_app_json: bool,
    /// Dokku's `DOKKU_SCALE`.
    pub dokku_scale: Option<String>,
    /// Heroku's manifest for Docker builds.
    pub heroku_yml: Option<String>,
    /// Dokku's `CHECKS` file, read when app.json lists no web checks.
    pub checks_file: Option<String>,
}

/// Checks the tree against `limits` (from object headers: nothing is inflated), when
/// given, and reads the files the build decides by. Without limits only those files are
/// read: the build that follows walks the tree and checks it.
pub async fn inspect(
    objects: &PushedObjects,
    commit: &str,
    limits: Option<SourceLimits>,
) -> Result<SourceInfo, BuildError> {
    let (objects, commit) = (objects.clone(), commit.to_owned());
    tokio::task::spawn_blocking(move || {
        let repo = objects
            .open_repository()
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let tree = commit_tree(&repo, &commit)?;
        if let Some(limits) = limits {
            check_sizes(&repo, &tree, limits)?;
        }
        let read = |name: &str| read_small(&repo, &tree, name);
        Ok(SourceInfo {
            dockerfile: read("Dockerfile")?,
            app_json: read("app.json")?,
            procfile: read("Procfile")?,
            buildpacks_file: read(".buildpacks")?,
            buildpacks_from_app_json: false,
            dokku_scale: read("DOKKU_SCALE")?,
            heroku_yml: read("heroku.yml")?,
            checks_file: read("CHECKS")?,
        })
    })
    .await
    .map_err(|e| BuildError::Source(e.to_string()))?
}

/// A file of the pushed commit at `path` (like `docker/web.Dockerfile`), read whole.
pub(super) async fn read_path(
    input: &super::BuildInput<'_>,
    path: &str,
) -> Result<Option<String>, BuildError> {
    let (objects, commit, path) = (
        input.objects.clone(),
        input.commit.to_owned(),
        path.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let repo = objects
            .open_repository()
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let tree = commit_tree(&repo, &commit)?;
        read_small(&repo, &tree, &path)
    })
    .await
    .map_err(|e| BuildError::Source(e.to_string()))?
}

/// A file of the tree paas reads itself, refused above [`MAX_READ_BYTES`].
fn read_small(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    name: &str,
) -> Result<Option<String>, BuildError> {
    let Ok(entry) = tree.get_path(std::path::Path::new(name)) else {
        return Ok(None);
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let odb = repo.odb().map_err(|e| BuildError::Source(e.to_string()))?;
    let (size, _) = odb
        .read_header(entry.id())
        .map_err(|e| BuildError::Source(format!("{name}: {e}")))?;
    if size as u64 > MAX_READ_BYTES {
        return Err(BuildError::SourceLimit(format!(
            "{name} is {}, paas reads at most {}; make it smaller",
            human(size as u64),
            human(MAX_READ_BYTES)
        )));
    }
    let blob = repo
        .find_blob(entry.id())
        .map_err(|e| BuildError::Source(format!("{name}: {e}")))?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}

/// Sizes of the tree's files from their object headers: each under the file limit, all
/// together under the source limit.
fn check_sizes(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    limits: SourceLimits,
) -> Result<(), BuildError> {
    let odb = repo.odb().map_err(|e| BuildError::Source(e.to_string()))?;
    let mut tally = Tally::new(limits);
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
        let checked = odb
            .read_header(entry.id())
            .map_err(|e| BuildError::Source(format!("{path}: {e}")))
            .and_then(|(size, _)| tally.add(&path, size as u64, entry.filemode() == 0o120000));
        match checked {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e);
                TreeWalkResult::Abort
            }
        }
    })
    .map_err(|e| failure.take().unwrap_or(BuildError::Source(e.to_string())))?;
    failure.map_or(Ok(()), Err)
}

/// The inflated bytes counted so far against the limits.
struct Tally {
    limits: SourceLimits,
    total: u64,
}

impl Tally {
    fn new(limits: SourceLimits) -> Self {
        Tally { limits, total: 0 }
    }

    fn add(&mut self, path: &str, size: u64, symlink: bool) -> Result<(), BuildError> {
        if symlink && size > MAX_READ_BYTES {
            return Err(BuildError::SourceLimit(format!(
                "symlink {path} has a target of {}; a symlink's target is a path",
                human(size)
            )));
        }
        if size > self.limits.max_file_bytes {
            return Err(BuildError::SourceLimit(format!(
                "file {path} is {}, over PAAS_MAX_FILE_BYTES ({}); remove it from the repository or ask an admin to raise the limit",
                human(size),
                human(self.limits.max_file_bytes)
            )));
        }
        self.total += size;
        if self.total > self.limits.max_source_bytes {
            return Err(BuildError::SourceLimit(format!(
                "the pushed files add up to more than PAAS_MAX_SOURCE_BYTES ({}) at {path}; remove large files from the repository or ask an admin to raise the limit",
                human(self.limits.max_source_bytes)
            )));
        }
        Ok(())
    }
}

/// `5.0 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn commit_tree<'r>(repo: &'r Repository, commit: &str) -> Result<git2::Tree<'r>, BuildError> {
    let oid = Oid::from_str(commit)
        .map_err(|e| BuildError::Source(format!("bad commit id {commit}: {e}")))?;
    repo.find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| BuildError::Source(format!("commit {commit} cannot be read: {e}")))
}

/// A tar of the commit's tree, produced while it is read: each file streams from its
/// object into the tar, so memory holds a chunk, not a file.
pub fn tar_stream(
    objects: PushedObjects,
    commit: String,
    limits: SourceLimits,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_tree_tar(&objects, &commit, limits, sink) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    channel_stream(rx)
}

fn write_tree_tar(
    objects: &PushedObjects,
    commit: &str,
    limits: SourceLimits,
    sink: ChannelWriter,
) -> Result<(), BuildError> {
    let repo = objects
        .open_repository()
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let odb = repo.odb().map_err(|e| BuildError::Source(e.to_string()))?;
    let tree = commit_tree(&repo, commit)?;
    let mut tar = tar::Builder::new(sink);
    let mut tally = Tally::new(limits);
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Skip;
        };
        let path = format!("{dir}{name}");
        let result = match entry.kind() {
            Some(ObjectType::Tree) => append(
                &mut tar,
                &path,
                tar::EntryType::Directory,
                0o755,
                std::io::empty(),
                0,
                None,
            )
            .map_err(|e| BuildError::Source(format!("writing the source archive: {e}"))),
            Some(ObjectType::Blob) => {
                append_blob(&mut tar, objects, &odb, &mut tally, &path, entry)
            }
            // Submodules (commits) are not fetched: Heroku skips them too.
            _ => Ok(()),
        };
        match result {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e);
                TreeWalkResult::Abort
            }
        }
    })
    .map_err(|e| failure.take().unwrap_or(BuildError::Source(e.to_string())))?;
    if let Some(e) = failure {
        return Err(e);
    }
    tar.into_inner()
        .and_then(|mut sink| sink.flush())
        .map_err(|e| BuildError::Source(format!("writing the source archive: {e}")))
}

/// One file of the tree into the tar, read from its object in pieces.
fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    objects: &PushedObjects,
    odb: &git2::Odb<'_>,
    tally: &mut Tally,
    path: &str,
    entry: &git2::TreeEntry<'_>,
) -> Result<(), BuildError> {
    let blob = objects
        .open_blob(odb, entry.id())
        .map_err(|e| BuildError::Source(format!("{path}: {e}")))?;
    let mode = entry.filemode();
    tally.add(path, blob.size, mode == 0o120000)?;
    let written = if mode == 0o120000 {
        let mut target = Vec::new();
        blob.content
            .take(MAX_READ_BYTES)
            .read_to_end(&mut target)
            .and_then(|_| {
                let target = String::from_utf8_lossy(&target).into_owned();
                append(
                    tar,
                    path,
                    tar::EntryType::Symlink,
                    0o777,
                    std::io::empty(),
                    0,
                    Some(&target),
                )
            })
    } else {
        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        append(
            tar,
            path,
            tar::EntryType::Regular,
            perm,
            blob.content,
            blob.size,
            None,
        )
    };
    written.map_err(|e| BuildError::Source(format!("writing {path} into the source archive: {e}")))
}

pub(crate) fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: impl Read,
    size: u64,
    link: Option<&str>,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(APP_UID);
    header.set_gid(APP_UID);
    header.set_mtime(0);
    header.set_size(size);
    if let Some(target) = link {
        tar.append_link(&mut header, path, target)
    } else {
        tar.append_data(&mut header, path, data)
    }
}

/// A tar of files given in memory (`ENV_DIR`, the image Dockerfile).
pub fn memory_tar(files: &[(&str, &[u8])]) -> Result<Vec<u8>, std::io::Error> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let size = data.len() as u64;
        append(
            &mut tar,
            path,
            tar::EntryType::Regular,
            0o644,
            *data,
            size,
            None,
        )?;
    }
    tar.into_inner()
}

const CHUNK: usize = 256 * 1024;

/// Blocking writer side of a stream: filled in `spawn_blocking`, read by the engine upload.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })
    }
}

pub fn channel_stream<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_name_the_file_and_the_setting() {
        let limits = SourceLimits {
            max_source_bytes: 10 << 20,
            max_file_bytes: 4 << 20,
        };
        let mut tally = Tally::new(limits);
        tally.add("a", 4 << 20, false).unwrap();
        let big = tally
            .add("data/big.bin", 5 << 20, false)
            .unwrap_err()
            .to_string();
        assert!(
            big.starts_with("file data/big.bin is 5.0 MiB, over PAAS_MAX_FILE_BYTES (4.0 MiB)"),
            "{big}"
        );
        tally.add("b", 4 << 20, false).unwrap();
        let all = tally.add("c", 3 << 20, false).unwrap_err().to_string();
        assert!(
            all.contains("PAAS_MAX_SOURCE_BYTES (10.0 MiB) at c"),
            "{all}"
        );
        let link = Tally::new(limits)
            .add("l", 2 << 20, true)
            .unwrap_err()
            .to_string();
        assert!(link.starts_with("symlink l"), "{link}");
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn memory_tars_hold_files_owned_by_the_app_user() {
        let bytes = memory_tar(&[("DEBUG", b"0"), ("MULTI", b"a\nb")]).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [("DEBUG".to_owned(), 1000), ("MULTI".to_owned(), 1000)]
        );
    }
}
