//! The pushed commit as build input: a few files read from its tree, and the whole tree
//! streamed as a tar (no work tree on disk; files owned by the `app` user).

use std::io::Write;

use bytes::Bytes;
use futures_util::stream::Stream;
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use tokio::sync::mpsc;

use crate::git::quarantine::PushedObjects;

use super::BuildError;

/// The uid and gid of the stack's `app` user.
pub const APP_UID: u64 = 1000;

/// Files of the commit the build decides things by.
#[derive(Debug, Default)]
pub struct SourceInfo {
    pub has_dockerfile: bool,
    pub app_json: Option<String>,
    pub procfile: Option<String>,
    pub buildpacks_file: Option<String>,
}

pub async fn inspect(objects: &PushedObjects, commit: &str) -> Result<SourceInfo, BuildError> {
    let (objects, commit) = (objects.clone(), commit.to_owned());
    tokio::task::spawn_blocking(move || {
        let repo = objects
            .open_repository()
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let tree = commit_tree(&repo, &commit)?;
        let read = |name: &str| -> Option<String> {
            let entry = tree.get_name(name)?;
            let blob = entry.to_object(&repo).ok()?.peel_to_blob().ok()?;
            Some(String::from_utf8_lossy(blob.content()).into_owned())
        };
        Ok(SourceInfo {
            has_dockerfile: tree.get_name("Dockerfile").is_some(),
            app_json: read("app.json"),
            procfile: read("Procfile"),
            buildpacks_file: read(".buildpacks"),
        })
    })
    .await
    .map_err(|e| BuildError::Source(e.to_string()))?
}

fn commit_tree<'r>(repo: &'r Repository, commit: &str) -> Result<git2::Tree<'r>, BuildError> {
    let oid = Oid::from_str(commit)
        .map_err(|e| BuildError::Source(format!("bad commit id {commit}: {e}")))?;
    repo.find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| BuildError::Source(format!("commit {commit} cannot be read: {e}")))
}

/// A tar of the commit's tree, produced while it is read.
pub fn tar_stream(
    objects: PushedObjects,
    commit: String,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_tree_tar(&objects, &commit, sink) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    channel_stream(rx)
}

fn write_tree_tar(
    objects: &PushedObjects,
    commit: &str,
    sink: ChannelWriter,
) -> Result<(), BuildError> {
    let repo = objects
        .open_repository()
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let tree = commit_tree(&repo, commit)?;
    let mut tar = tar::Builder::new(sink);
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Skip;
        };
        let path = format!("{dir}{name}");
        let result = match entry.kind() {
            Some(ObjectType::Tree) => {
                append(&mut tar, &path, tar::EntryType::Directory, 0o755, &[], None)
            }
            Some(ObjectType::Blob) => match repo.find_blob(entry.id()) {
                Ok(blob) => {
                    let mode = entry.filemode();
                    if mode == 0o120000 {
                        let target = String::from_utf8_lossy(blob.content()).into_owned();
                        append(
                            &mut tar,
                            &path,
                            tar::EntryType::Symlink,
                            0o777,
                            &[],
                            Some(&target),
                        )
                    } else {
                        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                        append(
                            &mut tar,
                            &path,
                            tar::EntryType::Regular,
                            perm,
                            blob.content(),
                            None,
                        )
                    }
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
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
    .map_err(|e| BuildError::Source(e.to_string()))?;
    if let Some(e) = failure {
        return Err(BuildError::Source(format!(
            "writing the source archive: {e}"
        )));
    }
    tar.into_inner()
        .and_then(|mut sink| sink.flush())
        .map_err(|e| BuildError::Source(format!("writing the source archive: {e}")))
}

pub(crate) fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(APP_UID);
    header.set_gid(APP_UID);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
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
        append(&mut tar, path, tar::EntryType::Regular, 0o644, data, None)?;
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
