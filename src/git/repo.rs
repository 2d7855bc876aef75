//! The bare repository of an app, `DATA/repos/NAME.git`: its path, creation, deletion, and
//! the sweep of quarantines a crash left behind.
//!
//! Must not validate app names beyond keeping paths inside the repos directory (that is
//! `domain`'s job) nor touch refs of existing repos.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::{Repository, RepositoryInitOptions};

use super::quarantine::QUARANTINE_PREFIX;

/// Branch that HEAD of a new repository names.
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("app name {0:?} cannot name a repository; use lowercase letters, digits and dashes")]
    BadName(String),
    #[error("repository {0} already exists; pick another app name or destroy the app first")]
    AlreadyExists(PathBuf),
    #[error("cannot create repository {path}: {source}")]
    Init { path: PathBuf, source: git2::Error },
    #[error("cannot remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot delete {refname}: {message}")]
    Branch { refname: String, message: String },
    #[error("the repository task failed: {0}")]
    Task(String),
}

/// `repos_dir/NAME.git`, refusing names that would leave `repos_dir`.
pub fn repo_path(repos_dir: &Path, app: &str) -> Result<PathBuf, RepoError> {
    let safe = !app.is_empty()
        && !app.starts_with(['.', '-'])
        && app
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !safe {
        return Err(RepoError::BadName(app.to_owned()));
    }
    Ok(repos_dir.join(format!("{app}.git")))
}

/// Creates the bare repository of a new app, with HEAD on [`DEFAULT_BRANCH`].
pub async fn init(repos_dir: &Path, app: &str) -> Result<PathBuf, RepoError> {
    let path = repo_path(repos_dir, app)?;
    let target = path.clone();
    run_blocking(move || {
        if target.exists() {
            return Err(RepoError::AlreadyExists(target));
        }
        let mut options = RepositoryInitOptions::new();
        options
            .bare(true)
            .no_reinit(true)
            .mkpath(true)
            .initial_head(DEFAULT_BRANCH);
        Repository::init_opts(&target, &options)
            .map(drop)
            .map_err(|source| RepoError::Init {
                path: target.clone(),
                source,
            })
    })
    .await?;
    Ok(path)
}

/// Removes the repository of a destroyed app; a missing one is already gone.
pub async fn delete(repos_dir: &Path, app: &str) -> Result<(), RepoError> {
    let path = repo_path(repos_dir, app)?;
    run_blocking(move || match std::fs::remove_dir_all(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RepoError::Remove { path, source: e }),
        _ => Ok(()),
    })
    .await
}

/// Deletes `objects/incoming-*` quarantines older than `older_than`: a crash mid-push
/// leaves them behind, a live push keeps its own fresh. Returns how many were removed.
pub async fn sweep_quarantines(repo_path: &Path, older_than: Duration) -> Result<usize, RepoError> {
    let objects = repo_path.join("objects");
    run_blocking(move || {
        let entries = match std::fs::read_dir(&objects) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(RepoError::Remove {
                    path: objects,
                    source,
                });
            }
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|modified| now.duration_since(modified).unwrap_or_default() >= older_than)
                .unwrap_or(false);
            let is_quarantine = entry
                .file_name()
                .to_string_lossy()
                .starts_with(QUARANTINE_PREFIX);
            if is_quarantine && stale {
                let path = entry.path();
                std::fs::remove_dir_all(&path)
                    .map_err(|source| RepoError::Remove { path, source })?;
                removed += 1;
            }
        }
        Ok(removed)
    })
    .await
}

/// The apps' repositories: `DATA/repos`, handed around as one value.
#[derive(Debug, Clone)]
pub struct Repos {
    root: PathBuf,
}

impl Repos {
    pub fn new(root: PathBuf) -> Self {
        Repos { root }
    }

    pub fn path(&self, app: &crate::domain::AppName) -> PathBuf {
        self.root.join(format!("{app}.git"))
    }

    pub async fn init(&self, app: &crate::domain::AppName) -> Result<PathBuf, RepoError> {
        init(&self.root, app.as_str()).await
    }

    pub async fn remove(&self, app: &crate::domain::AppName) -> Result<(), RepoError> {
        delete(&self.root, app.as_str()).await
    }

    /// Deletes `refs/heads/BRANCH` of the app's repository (an expired review app's);
    /// a branch already gone is fine.
    pub async fn delete_branch(
        &self,
        app: &crate::domain::AppName,
        branch: &str,
    ) -> Result<(), RepoError> {
        let (path, refname) = (self.path(app), format!("refs/heads/{branch}"));
        run_blocking(move || {
            let failed = |e: git2::Error| RepoError::Branch {
                refname: refname.clone(),
                message: e.message().to_owned(),
            };
            let repo = git2::Repository::open_bare(&path).map_err(failed)?;
            match repo.find_reference(&refname) {
                Ok(mut reference) => reference.delete().map_err(failed),
                Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
                Err(e) => Err(failed(e)),
            }
        })
        .await
    }

    /// Removes quarantines a crash left behind in any app's repository.
    pub async fn sweep_all(&self, older_than: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            removed += sweep_quarantines(&entry.path(), older_than)
                .await
                .unwrap_or(0);
        }
        removed
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RepoError> + Send + 'static,
) -> Result<T, RepoError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| RepoError::Task(join.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn init_creates_a_bare_repository_on_main_and_refuses_to_reinit() {
        let dir = tempfile::tempdir().unwrap();
        let path = init(dir.path(), "shop").await.unwrap();
        assert_eq!(path, dir.path().join("shop.git"));
        let repo = Repository::open_bare(&path).unwrap();
        assert!(repo.is_bare());
        assert_eq!(
            repo.find_reference("HEAD")
                .unwrap()
                .symbolic_target()
                .unwrap(),
            Some("refs/heads/main")
        );
        assert!(matches!(
            init(dir.path(), "shop").await,
            Err(RepoError::AlreadyExists(_))
        ));
        delete(dir.path(), "shop").await.unwrap();
        assert!(!path.exists());
        delete(dir.path(), "shop").await.unwrap();
    }

    #[test]
    fn names_that_escape_the_repos_directory_are_refused() {
        for name in ["", "../etc", "a/b", ".hidden", "UPPER", "-x"] {
            assert!(repo_path(Path::new("/data/repos"), name).is_err(), "{name}");
        }
    }

    #[tokio::test]
    async fn sweep_removes_only_old_quarantines() {
        let dir = tempfile::tempdir().unwrap();
        let path = init(dir.path(), "app").await.unwrap();
        std::fs::create_dir(path.join("objects/incoming-old")).unwrap();
        assert_eq!(
            sweep_quarantines(&path, Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(sweep_quarantines(&path, Duration::ZERO).await.unwrap(), 1);
        assert!(!path.join("objects/incoming-old").exists());
        assert!(path.join("objects/pack").exists());
    }
}
