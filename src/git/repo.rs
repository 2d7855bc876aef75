//! The apps' bare repositories under `DATA/repos/NAME.git`.

use std::path::{Path, PathBuf};

use crate::domain::AppName;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("git repository {path}: {source}")]
    Git { path: PathBuf, source: git2::Error },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("repository task stopped: {0}")]
    Task(String),
}

#[derive(Debug, Clone)]
pub struct Repos {
    root: PathBuf,
}

impl Repos {
    pub fn new(root: PathBuf) -> Self {
        Repos { root }
    }

    pub fn path(&self, app: &AppName) -> PathBuf {
        self.root.join(format!("{app}.git"))
    }

    /// Creates the app's empty bare repository, its HEAD pointing at `main`.
    pub async fn init(&self, app: &AppName) -> Result<(), RepoError> {
        let path = self.path(app);
        tokio::task::spawn_blocking(move || init_bare(&path))
            .await
            .map_err(|e| RepoError::Task(e.to_string()))?
    }

    pub async fn remove(&self, app: &AppName) -> Result<(), RepoError> {
        let path = self.path(app);
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RepoError::Io { path, source }),
        }
    }
}

fn init_bare(path: &Path) -> Result<(), RepoError> {
    let git = |source| RepoError::Git {
        path: path.to_owned(),
        source,
    };
    let mut options = git2::RepositoryInitOptions::new();
    options.bare(true).initial_head("main").mkpath(true);
    git2::Repository::init_opts(path, &options).map_err(git)?;
    Ok(())
}
