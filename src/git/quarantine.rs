//! The quarantine of a push: a temporary object directory `objects/incoming-XXXXXX/` inside
//! the bare repo (git's GIT_QUARANTINE_PATH), where the received pack is indexed before
//! anyone decided to keep it.
//!
//! Owns creating it, showing its objects next to the repo's (an odb alternate), promoting
//! its packs into `objects/pack`, and deleting it when dropped. Must not touch refs: a
//! promoted pack is only reachable once `refs` moves a ref to it.
//!
//! Every method here does file I/O or git2 work: call it from `spawn_blocking`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use git2::Repository;
use tempfile::TempDir;

/// Prefix of quarantine directories inside `objects/`, shared with the stale-sweep in `repo`.
pub(crate) const QUARANTINE_PREFIX: &str = "incoming-";

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error(
        "cannot create a quarantine directory in {path}: {source}; check the disk and permissions"
    )]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot open repository {path}: {source}")]
    Open { path: PathBuf, source: git2::Error },
    #[error("cannot add the quarantine {path} as an object alternate: {source}")]
    Alternate { path: PathBuf, source: git2::Error },
    #[error("cannot move pack {file} into the repository: {source}; check free disk space")]
    Promote { file: PathBuf, source: io::Error },
}

/// The repository as a push's pipeline must see it: its objects plus the quarantined ones.
/// Cheap to clone and `'static`, to move into `spawn_blocking`; it reads the quarantine
/// only while the `Quarantine` (or the `Push` holding it) is alive.
#[derive(Debug, Clone)]
pub struct PushedObjects {
    pub(crate) repo_path: PathBuf,
    pub(crate) quarantine_dir: Option<PathBuf>,
}

impl PushedObjects {
    /// Opens the bare repository with the quarantine added as an odb alternate. Read only.
    pub fn open_repository(&self) -> Result<Repository, QuarantineError> {
        let repo =
            Repository::open_bare(&self.repo_path).map_err(|source| QuarantineError::Open {
                path: self.repo_path.clone(),
                source,
            })?;
        let Some(dir) = &self.quarantine_dir else {
            return Ok(repo);
        };
        let alternate = |source| QuarantineError::Alternate {
            path: dir.clone(),
            source,
        };
        let objects = dir
            .to_str()
            .ok_or_else(|| alternate(git2::Error::from_str("path is not utf-8")))?;
        repo.odb()
            .and_then(|odb| odb.add_disk_alternate(objects))
            .map_err(alternate)?;
        Ok(repo)
    }

    /// Environment that lets a `git` child process see the pushed objects, as git's
    /// receive-pack sets it for its hooks.
    pub fn git_env(&self) -> Vec<(&'static str, OsString)> {
        let mut env = vec![("GIT_DIR", self.repo_path.clone().into_os_string())];
        if let Some(dir) = &self.quarantine_dir {
            env.extend([
                ("GIT_OBJECT_DIRECTORY", dir.clone().into_os_string()),
                (
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                    self.repo_path.join("objects").into_os_string(),
                ),
                ("GIT_QUARANTINE_PATH", dir.clone().into_os_string()),
            ]);
        }
        env
    }
}

/// A directory of received objects that the repository does not see yet.
/// Dropping it deletes it and everything in it.
#[derive(Debug)]
pub struct Quarantine {
    repo_path: PathBuf,
    dir: TempDir,
}

impl Quarantine {
    /// Creates `objects/incoming-XXXXXX/pack/` inside the bare repo at `repo_path`.
    pub fn create(repo_path: &Path) -> Result<Self, QuarantineError> {
        let objects = repo_path.join("objects");
        let dir = tempfile::Builder::new()
            .prefix(QUARANTINE_PREFIX)
            .tempdir_in(&objects)
            .map_err(|source| QuarantineError::Create {
                path: objects.clone(),
                source,
            })?;
        let quarantine = Self {
            repo_path: repo_path.to_path_buf(),
            dir,
        };
        fs::create_dir(quarantine.pack_dir()).map_err(|source| QuarantineError::Create {
            path: quarantine.pack_dir(),
            source,
        })?;
        Ok(quarantine)
    }

    /// The quarantine's object directory (it has loose-object and `pack/` layout).
    pub fn objects_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the indexer writes `pack-<hash>.pack` and `.idx`.
    pub fn pack_dir(&self) -> PathBuf {
        self.dir.path().join("pack")
    }

    /// The bare repository this push goes to.
    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// A handle on the pushed objects that can be sent to a blocking task.
    pub fn objects(&self) -> PushedObjects {
        PushedObjects {
            repo_path: self.repo_path.clone(),
            quarantine_dir: Some(self.objects_dir().to_path_buf()),
        }
    }

    /// Opens the repository with the quarantined objects visible, for the pipeline to read
    /// the pushed tree. Read only: writes through this handle land in the repository.
    pub fn open_repository(&self) -> Result<Repository, QuarantineError> {
        self.objects().open_repository()
    }

    /// Names of the packs (without extension) indexed into this quarantine.
    pub fn pack_names(&self) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(self.pack_dir())?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_suffix(".pack").map(str::to_owned)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Moves every pack into `objects/pack` (data first, index last, so no reader sees an
    /// index without its pack), syncs them to disk, then deletes the quarantine.
    pub fn promote(self) -> Result<(), QuarantineError> {
        let target = self.repo_path.join("objects").join("pack");
        let names = self
            .pack_names()
            .map_err(|source| QuarantineError::Promote {
                file: self.pack_dir(),
                source,
            })?;
        for name in names {
            for extension in ["pack", "rev", "idx"] {
                let from = self.pack_dir().join(format!("{name}.{extension}"));
                let to = target.join(format!("{name}.{extension}"));
                move_synced(&from, &to)
                    .map_err(|source| QuarantineError::Promote { file: from, source })?;
            }
        }
        sync_dir(&target).map_err(|source| QuarantineError::Promote {
            file: target.clone(),
            source,
        })?;
        Ok(())
    }
}

/// Renames `from` over `to` after syncing it. A pack name is the hash of its content, so an
/// existing `to` already holds the same bytes and is kept.
fn move_synced(from: &Path, to: &Path) -> io::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if to.exists() {
        return Ok(());
    }
    File::open(from)?.sync_all()?;
    fs::rename(from, to)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare_repo() -> (TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.git");
        Repository::init_bare(&path).unwrap();
        (dir, path)
    }

    #[test]
    fn dropping_a_quarantine_deletes_its_directory() {
        let (_dir, repo) = bare_repo();
        let quarantine = Quarantine::create(&repo).unwrap();
        let path = quarantine.objects_dir().to_path_buf();
        assert!(path.starts_with(repo.join("objects")));
        assert!(path.join("pack").is_dir());
        drop(quarantine);
        assert!(!path.exists());
    }

    #[test]
    fn objects_written_to_the_quarantine_are_seen_only_through_it_until_promoted() {
        let (_dir, repo_path) = bare_repo();
        let quarantine = Quarantine::create(&repo_path).unwrap();
        // A loose object stands in for a pack: the alternate covers both layouts.
        let (_other_dir, other_path) = bare_repo();
        let oid = Repository::open_bare(&other_path)
            .unwrap()
            .blob(b"hello")
            .unwrap();
        let hex = oid.to_string();
        let loose = |root: &Path| root.join(&hex[..2]).join(&hex[2..]);
        fs::create_dir_all(loose(quarantine.objects_dir()).parent().unwrap()).unwrap();
        fs::copy(
            loose(&other_path.join("objects")),
            loose(quarantine.objects_dir()),
        )
        .unwrap();

        let plain = Repository::open_bare(&repo_path).unwrap();
        assert!(!plain.odb().unwrap().exists(oid));
        let with_quarantine = quarantine.open_repository().unwrap();
        assert!(with_quarantine.odb().unwrap().exists(oid));
    }

    #[test]
    fn promote_moves_packs_into_the_repository_and_removes_the_quarantine() {
        let (_dir, repo_path) = bare_repo();
        let quarantine = Quarantine::create(&repo_path).unwrap();
        fs::write(quarantine.pack_dir().join("pack-abc.pack"), b"p").unwrap();
        fs::write(quarantine.pack_dir().join("pack-abc.idx"), b"i").unwrap();
        let dir = quarantine.objects_dir().to_path_buf();
        assert_eq!(quarantine.pack_names().unwrap(), ["pack-abc"]);
        quarantine.promote().unwrap();
        let pack_dir = repo_path.join("objects/pack");
        assert_eq!(fs::read(pack_dir.join("pack-abc.pack")).unwrap(), b"p");
        assert_eq!(fs::read(pack_dir.join("pack-abc.idx")).unwrap(), b"i");
        assert!(!dir.exists());
    }
}
